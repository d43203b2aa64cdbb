package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gosignalr/signalr/examples/typed/auction"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startExample runs the example on a loopback port until the test ends
// and returns its address.
func startExample(t *testing.T, confirmAbove int) string {
	t.Helper()
	return startExampleWith(t, confirmAbove, "")
}

// startExampleWith is startExample serving the browser client from
// clientJS.
func startExampleWith(t *testing.T, confirmAbove int, clientJS string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, NewHouse(confirmAbove, quiet, lots...), clientJS, quiet) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "run")
		case <-time.After(15 * time.Second):
			t.Error("the example did not stop")
		}
	})
	return ln.Addr().String()
}

// bidder is a minimal SignalR JSON client over a WebSocket: enough to
// watch what the hub sends, call its methods and answer its Confirm.
type bidder struct {
	t       *testing.T
	ws      *websocket.Conn
	pending []map[string]any
	nextID  int
}

func connect(t *testing.T, addr, name string) *bidder {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/auction?name="+name, nil)
	if resp != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	b := &bidder{t: t, ws: ws}
	b.write(map[string]any{"protocol": "json", "version": 1})
	require.Equal(t, map[string]any{}, b.next())
	return b
}

func (b *bidder) write(v any) {
	b.t.Helper()
	data, err := json.Marshal(v)
	require.NoError(b.t, err)
	require.NoError(b.t, b.ws.WriteMessage(websocket.TextMessage, append(data, 0x1e)))
}

// next returns the next message that is not a Ping.
func (b *bidder) next() map[string]any {
	b.t.Helper()
	for {
		for len(b.pending) == 0 {
			require.NoError(b.t, b.ws.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, frame, err := b.ws.ReadMessage()
			require.NoError(b.t, err)
			for _, rec := range strings.Split(strings.TrimSuffix(string(frame), "\x1e"), "\x1e") {
				var m map[string]any
				require.NoError(b.t, json.Unmarshal([]byte(rec), &m), "record %q", rec)
				b.pending = append(b.pending, m)
			}
		}
		m := b.pending[0]
		b.pending = b.pending[1:]
		if m["type"] != float64(6) {
			return m
		}
	}
}

// invoke calls a hub method and returns the invocation id.
func (b *bidder) invoke(method string, args ...any) string {
	b.t.Helper()
	b.nextID++
	id := strconv.Itoa(b.nextID)
	b.write(map[string]any{"type": 1, "invocationId": id, "target": method, "arguments": args})
	return id
}

// completion requires the next message to complete id, and returns its
// result and error.
func (b *bidder) completion(id string) (any, string) {
	b.t.Helper()
	m := b.next()
	require.Equal(b.t, float64(3), m["type"], "want the completion of %s, got %v", id, m)
	require.Equal(b.t, id, m["invocationId"])
	errText, _ := m["error"].(string)
	return m["result"], errText
}

// received requires the next message to be a call of method and returns
// its only argument, decoded into T.
func received[T any](b *bidder, method string) (T, map[string]any) {
	b.t.Helper()
	m := b.next()
	require.Equal(b.t, float64(1), m["type"], "want %s, got %v", method, m)
	require.Equal(b.t, method, m["target"], "want %s, got %v", method, m)
	args, _ := m["arguments"].([]any)
	require.Len(b.t, args, 1)
	return decode[T](b.t, args[0]), m
}

func decode[T any](t *testing.T, v any) T {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

// place bids and returns the accepted bid, or the error text.
func (b *bidder) place(lot string, amount int) (auction.Bid, string) {
	b.t.Helper()
	res, errText := b.completion(b.invoke("Place", lot, amount))
	if errText != "" {
		return auction.Bid{}, errText
	}
	return decode[auction.Bid](b.t, res), ""
}

func TestAuction(t *testing.T) {
	addr := startExample(t, 100)
	unsold := []auction.Bid{{Lot: "lamp"}, {Lot: "bicycle"}, {Lot: "clock"}}

	// alice on two connections, bob on one; all get the lots.
	alice := connect(t, addr, "alice")
	alice2 := connect(t, addr, "alice")
	bob := connect(t, addr, "bob")
	for _, b := range []*bidder{alice, alice2, bob} {
		got, _ := received[[]auction.Bid](b, "Lots")
		assert.Equal(t, unsold, got)
	}
	for _, b := range []*bidder{alice, bob} {
		res, errText := b.completion(b.invoke("Watch", "lamp"))
		require.Empty(t, errText)
		assert.Equal(t, auction.Bid{Lot: "lamp"}, decode[auction.Bid](t, res))
	}

	// A bid reaches the lot's watchers (the group), the bidder first.
	id := alice.invoke("Place", "lamp", 10)
	first := auction.Bid{Lot: "lamp", Bidder: "alice", Amount: 10}
	got, _ := received[auction.Bid](alice, "NewBid")
	assert.Equal(t, first, got)
	res, errText := alice.completion(id)
	require.Empty(t, errText)
	assert.Equal(t, first, decode[auction.Bid](t, res))
	got, _ = received[auction.Bid](bob, "NewBid")
	assert.Equal(t, first, got)

	// bob outbids alice: the watchers hear of it, and every connection of
	// alice (the user) is told, also the one that does not watch.
	second := auction.Bid{Lot: "lamp", Bidder: "bob", Amount: 20}
	id = bob.invoke("Place", "lamp", 20)
	got, _ = received[auction.Bid](bob, "NewBid")
	assert.Equal(t, second, got)
	_, errText = bob.completion(id)
	require.Empty(t, errText)
	got, _ = received[auction.Bid](alice, "NewBid")
	assert.Equal(t, second, got)
	for _, b := range []*bidder{alice, alice2} {
		got, _ = received[auction.Bid](b, "Outbid")
		assert.Equal(t, second, got)
	}

	_, errText = bob.place("lamp", 15)
	assert.Contains(t, errText, "bid at least 21 on lamp")
	_, errText = bob.place("piano", 500)
	assert.Contains(t, errText, `no lot "piano"`)

	// A large bid waits for the bidder's answer: no withdraws it...
	id = alice.invoke("Place", "lamp", 150)
	big := auction.Bid{Lot: "lamp", Bidder: "alice", Amount: 150}
	asked, m := received[auction.Bid](alice, "Confirm")
	assert.Equal(t, big, asked)
	alice.write(map[string]any{"type": 3, "invocationId": m["invocationId"], "result": false})
	_, errText = alice.completion(id)
	assert.Contains(t, errText, "bid withdrawn")

	// ...yes places it.
	id = alice.invoke("Place", "lamp", 150)
	_, m = received[auction.Bid](alice, "Confirm")
	alice.write(map[string]any{"type": 3, "invocationId": m["invocationId"], "result": true})
	got, _ = received[auction.Bid](alice, "NewBid")
	assert.Equal(t, big, got)
	res, errText = alice.completion(id)
	require.Empty(t, errText)
	assert.Equal(t, big, decode[auction.Bid](t, res))
	got, _ = received[auction.Bid](bob, "NewBid")
	assert.Equal(t, big, got)
	got, _ = received[auction.Bid](bob, "Outbid")
	assert.Equal(t, big, got)

	// A newcomer sees the best bids.
	carol := connect(t, addr, "carol")
	lotsNow, _ := received[[]auction.Bid](carol, "Lots")
	assert.Equal(t, []auction.Bid{big, {Lot: "bicycle"}, {Lot: "clock"}}, lotsNow)
}

func TestAuctionRefusesAnonymousBidders(t *testing.T) {
	addr := startExample(t, 100)
	anon := connect(t, addr, "")
	m := anon.next()
	assert.Equal(t, float64(7), m["type"], "want a Close message, got %v", m)
	assert.Contains(t, m["error"], "connect with ?name=")
}

func TestPage(t *testing.T) {
	addr := startExample(t, 100)
	resp, err := http.Get("http://" + addr + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	// The page's handlers and calls use the contract's names.
	for _, name := range []fmt.Stringer{
		auction.Bidder.Lots, auction.Bidder.NewBid, auction.Bidder.Outbid, auction.Bidder.Confirm,
		auction.Hub.Watch, auction.Hub.Place,
	} {
		assert.Contains(t, string(body), strconv.Quote(name.String()))
	}
}
