package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/contract"
	"github.com/gosignalr/signalr/examples/typed/auction"
)

// The Go client is every kind of contract target.
var (
	_ contract.Sender    = (*client.Client)(nil)
	_ contract.Invoker   = (*client.Client)(nil)
	_ contract.Registrar = (*client.Client)(nil)
)

// goBidder is a Go client that uses the contract at both ends: typed
// handlers for auction.Bidder and typed calls of auction.Hub.
type goBidder struct {
	*client.Client
	lots            chan []auction.Bid
	newBids, outbid chan auction.Bid
	confirm         chan bool // the answers to Confirm, one per question
}

func startGoBidder(t *testing.T, addr, name string) *goBidder {
	t.Helper()
	c, err := client.New("http://"+addr+"/auction?name="+name, client.WithLogger(quiet))
	require.NoError(t, err)
	b := &goBidder{
		Client:  c,
		lots:    make(chan []auction.Bid, 4),
		newBids: make(chan auction.Bid, 16),
		outbid:  make(chan auction.Bid, 16),
		confirm: make(chan bool, 4),
	}
	require.NoError(t, auction.Bidder.Lots.On(c, func(lots []auction.Bid) { b.lots <- lots }))
	require.NoError(t, auction.Bidder.NewBid.On(c, func(bid auction.Bid) { b.newBids <- bid }))
	require.NoError(t, auction.Bidder.Outbid.On(c, func(bid auction.Bid) { b.outbid <- bid }))
	require.NoError(t, auction.Bidder.Confirm.On(c, func(bid auction.Bid) (bool, error) {
		select {
		case ok := <-b.confirm:
			return ok, nil
		case <-time.After(5 * time.Second):
			return false, nil
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, c.Stop(ctx))
	})
	return b
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

// TestGoClients runs the auction between two Go clients that speak only
// through the contract.
func TestGoClients(t *testing.T) {
	addr := startExample(t, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob := startGoBidder(t, addr, "alice"), startGoBidder(t, addr, "bob")
	for _, b := range []*goBidder{alice, bob} {
		assert.Len(t, waitFor(t, b.lots, "the lots"), len(lots))
		best, err := auction.Hub.Watch.Invoke(ctx, b, "lamp")
		require.NoError(t, err)
		assert.Equal(t, auction.Bid{Lot: "lamp"}, best)
	}

	placed, err := auction.Hub.Place.Invoke(ctx, alice, "lamp", 10)
	require.NoError(t, err)
	assert.Equal(t, auction.Bid{Lot: "lamp", Bidder: "alice", Amount: 10}, placed)
	assert.Equal(t, placed, waitFor(t, bob.newBids, "alice's bid at bob"))
	assert.Equal(t, placed, waitFor(t, alice.newBids, "alice's bid at alice"))

	placed, err = auction.Hub.Place.Invoke(ctx, bob, "lamp", 20)
	require.NoError(t, err)
	assert.Equal(t, placed, waitFor(t, alice.outbid, "alice outbid"))

	_, err = auction.Hub.Place.Invoke(ctx, bob, "lamp", 20)
	var se *client.ServerError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, se.Message, "bid at least 21 on lamp")

	// Confirm is a client result, answered by the typed handler.
	alice.confirm <- false
	_, err = auction.Hub.Place.Invoke(ctx, alice, "lamp", 150)
	require.ErrorAs(t, err, &se)
	assert.Contains(t, se.Message, "bid withdrawn")

	alice.confirm <- true
	placed, err = auction.Hub.Place.Invoke(ctx, alice, "lamp", 150)
	require.NoError(t, err)
	assert.Equal(t, auction.Bid{Lot: "lamp", Bidder: "alice", Amount: 150}, placed)
	assert.Equal(t, placed, waitFor(t, bob.outbid, "bob outbid"))
}
