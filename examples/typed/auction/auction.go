// Package auction is the contract between the auction hub of
// examples/typed and its clients, declared once: the server calls bidders
// only through Bidder, and a Go client calls the hub through Hub, so a
// call with the wrong argument types does not compile on either side.
package auction

import "github.com/gosignalr/signalr/contract"

// Bid is a bid on a lot. A Bid with no Bidder is a lot nobody has bid on
// yet.
type Bid struct {
	Lot    string `json:"lot"`
	Bidder string `json:"bidder"`
	Amount int    `json:"amount"`
}

// BidderMethods is what the server calls on a bidder's client.
type BidderMethods struct {
	// Lots lists every lot with its best bid; the server sends it to
	// each connection as it connects.
	Lots contract.Method1[[]Bid]
	// NewBid announces a new best bid to everyone watching its lot.
	NewBid contract.Method1[Bid]
	// Outbid tells every connection of a bidder that another bid has
	// beaten theirs.
	Outbid contract.Method1[Bid]
	// Confirm asks the bidder to confirm a large bid before the hub
	// accepts it; the client answers true to go ahead.
	Confirm contract.Func1[Bid, bool]
}

// HubMethods is what clients call on the hub.
type HubMethods struct {
	// Watch subscribes the caller to a lot's new bids and returns its best
	// bid.
	Watch contract.Func1[string, Bid]
	// Place bids an amount on a lot and returns the accepted bid.
	Place contract.Func2[string, int, Bid]
}

// Bidder and Hub are the two ends of the contract, each method named
// after its field.
var (
	Bidder = contract.MustDeclare[BidderMethods]()
	Hub    = contract.MustDeclare[HubMethods]()
)
