package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/examples/typed/auction"
)

// maxName is the longest bidder name.
const maxName = 40

// confirmTimeout bounds how long a bidder may take to confirm a bid.
const confirmTimeout = 30 * time.Second

// House is the auction hub. It reaches clients only through
// auction.Bidder, so every call below is checked by the compiler against
// the contract.
type House struct {
	confirmAbove int // bids of this amount or more are confirmed first
	logger       *slog.Logger

	mu   sync.Mutex
	lots []string
	best map[string]auction.Bid // by lot
}

// NewHouse returns a hub auctioning lots; bids of confirmAbove or more
// need the bidder's confirmation.
func NewHouse(confirmAbove int, logger *slog.Logger, lots ...string) *House {
	h := &House{confirmAbove: confirmAbove, logger: logger, lots: lots, best: make(map[string]auction.Bid, len(lots))}
	for _, lot := range lots {
		h.best[lot] = auction.Bid{Lot: lot}
	}
	return h
}

// OnConnected admits named bidders and sends them the lots.
func (h *House) OnConnected(c *signalr.Context) error {
	if n := len(c.UserID()); n == 0 || n > maxName {
		return signalr.NewHubError("connect with ?name=<your name> (at most %d bytes)", maxName)
	}
	h.logger.Info("bidder connected", "bidder", c.UserID(), "connection", c.ConnectionID())
	return auction.Bidder.Lots.Send(c, c.Clients().Caller(), h.snapshot())
}

// Watch subscribes the caller to a lot's new bids and returns its best bid.
func (h *House) Watch(c *signalr.Context, lot string) (auction.Bid, error) {
	if _, ok := h.bestBid(lot); !ok {
		return auction.Bid{}, signalr.NewHubError("no lot %q", lot)
	}
	if err := c.Groups().Add(c, c.ConnectionID(), lot); err != nil {
		return auction.Bid{}, err
	}
	best, _ := h.bestBid(lot) // read after joining: no bid falls in between
	return best, nil
}

// Place bids amount on lot for the caller. A bid of confirmAbove or more
// is confirmed with the caller first (a client result). The lot's
// watchers hear of the new best bid, and the bidder it beats is told on
// every connection.
func (h *House) Place(c *signalr.Context, lot string, amount int) (auction.Bid, error) {
	bid := auction.Bid{Lot: lot, Bidder: c.UserID(), Amount: amount}
	best, ok := h.bestBid(lot)
	if !ok {
		return auction.Bid{}, signalr.NewHubError("no lot %q", lot)
	}
	if amount <= best.Amount {
		return auction.Bid{}, signalr.NewHubError("bid at least %d on %s", best.Amount+1, lot)
	}
	if amount >= h.confirmAbove {
		if err := h.confirm(c, bid); err != nil {
			return auction.Bid{}, err
		}
	}

	h.mu.Lock()
	best = h.best[lot]
	if amount <= best.Amount {
		h.mu.Unlock()
		return auction.Bid{}, signalr.NewHubError("bid at least %d on %s", best.Amount+1, lot)
	}
	h.best[lot] = bid
	h.mu.Unlock()
	h.logger.Info("bid", "lot", lot, "bidder", bid.Bidder, "amount", amount)

	if err := auction.Bidder.NewBid.Send(c, c.Clients().Group(lot), bid); err != nil {
		return auction.Bid{}, err
	}
	if best.Bidder != "" && best.Bidder != bid.Bidder {
		if err := auction.Bidder.Outbid.Send(c, c.Clients().User(best.Bidder), bid); err != nil {
			return auction.Bid{}, err
		}
	}
	return bid, nil
}

// confirm asks the caller to confirm bid.
func (h *House) confirm(c *signalr.Context, bid auction.Bid) error {
	ctx, cancel := context.WithTimeout(c, confirmTimeout)
	defer cancel()
	ok, err := auction.Bidder.Confirm.Invoke(ctx, c.Clients().Caller(), bid)
	var ce *signalr.ClientError
	switch {
	case errors.As(err, &ce):
		return signalr.NewHubError("bid not confirmed: %s", ce.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return signalr.NewHubError("bid not confirmed in time")
	case err != nil:
		return err
	case !ok:
		h.logger.Info("bid withdrawn", "lot", bid.Lot, "bidder", bid.Bidder, "amount", bid.Amount)
		return signalr.NewHubError("bid withdrawn")
	}
	return nil
}

func (h *House) bestBid(lot string) (auction.Bid, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.best[lot]
	return b, ok
}

func (h *House) snapshot() []auction.Bid {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]auction.Bid, 0, len(h.lots))
	for _, lot := range h.lots {
		out = append(out, h.best[lot])
	}
	return out
}
