package signalr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// smallPayload is the max_payload of the NATS server of the forwarding
// tests, and forwardRoom what the hub keeps free in a forwarded message
// for the envelope around an HTTP body: the largest body that crosses
// such a bus is smallPayload - forwardRoom.
const (
	smallPayload = 64 << 10
	forwardRoom  = 512
)

// limitedBus is a bus that refuses messages past max bytes, as a NATS
// server does past its max_payload.
type limitedBus struct {
	backplane.Backplane
	max int
}

var errPayloadTooLarge = errors.New("payload too large for the bus")

func (b *limitedBus) MaxPayload() int { return b.max }

func (b *limitedBus) Publish(ctx context.Context, subject string, data []byte) error {
	if len(data) > b.max {
		return errPayloadTooLarge
	}
	return b.Backplane.Publish(ctx, subject, data)
}

func (b *limitedBus) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if len(data) > b.max {
		return nil, errPayloadTooLarge
	}
	return b.Backplane.Request(ctx, subject, data)
}

func (b *limitedBus) Subscribe(subject string, h backplane.Handler) (backplane.Subscription, error) {
	return b.Backplane.Subscribe(subject, func(m *backplane.Message) {
		if reply := m.Reply; reply != nil {
			m.Reply = func(data []byte) error {
				if len(data) > b.max {
					return errPayloadTooLarge
				}
				return reply(data)
			}
		}
		h(m)
	})
}

// forwardPair is two nodes on a bus with a small max payload: owner holds
// the connections, other receives requests for them and forwards them.
func forwardPair(t *testing.T, hub any, opts ...signalr.Option) (owner, other *htServer) {
	t.Helper()
	bus := &limitedBus{Backplane: backplane.NewMemory(), max: smallPayload}
	node := func() *htServer {
		return startHTTPHub(t, hub, append([]signalr.Option{signalr.WithBackplane(bus), signalr.WithHubName("fwd")}, opts...)...)
	}
	return node(), node()
}

// TestForwardedPollCutToBusPayload queues more for a long-polling
// connection than one message on the bus can carry, then polls through
// the node that does not hold the connection: each answer fits, and
// everything arrives, in order, over several polls.
func TestForwardedPollCutToBusPayload(t *testing.T) {
	owner, other := forwardPair(t, newHTHub())
	token, id := owner.lpConnect(htJSONHandshake)
	const n = 60
	item := strings.Repeat("x", 3000) // 60 × 3 KB: about three answers
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	for i := range n {
		require.NoError(t, owner.hub.Clients().Client(id).Send(ctx, "item", i, item))
	}
	var got []float64
	polls := 0
	deadline := time.Now().Add(htWait)
	for len(got) < n {
		require.True(t, time.Now().Before(deadline), "only %d of %d messages arrived", len(got), n)
		r := other.poll(token)
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.LessOrEqual(t, len(r.body), smallPayload-forwardRoom)
		polls++
		for _, m := range hubtest.SplitRecords(t, r.body) {
			if m["type"] == float64(6) {
				continue
			}
			require.Equal(t, "item", m["target"])
			got = append(got, m["arguments"].([]any)[0].(float64))
		}
	}
	for i, x := range got {
		require.Equal(t, float64(i), x, "message #%d out of order", i)
	}
	require.Greater(t, polls, 2, "the messages came in %d polls", polls)
	// The connection lives on, through either node.
	require.NoError(t, owner.hub.Clients().Client(id).Send(ctx, "item", n, "last"))
	msgs := other.lpCollect(token, 1)
	require.Equal(t, float64(n), msgs[0]["arguments"].([]any)[0])
}

// TestForwardedPollMessageTooLargeForBus queues a message that a bus
// message cannot carry, and polls through the other node: the connection
// is closed with a reason that says so, instead of the poll failing and
// the message vanishing.
func TestForwardedPollMessageTooLargeForBus(t *testing.T) {
	owner, other := forwardPair(t, newHTHub())
	token, id := owner.lpConnect(htJSONHandshake)
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, owner.hub.Clients().Client(id).Send(ctx, "big", strings.Repeat("x", smallPayload)))
	var closeMsg map[string]any
	deadline := time.Now().Add(htWait)
	for closeMsg == nil {
		require.True(t, time.Now().Before(deadline), "no Close message")
		r := other.poll(token)
		require.Equal(t, http.StatusOK, r.status, r.body)
		if r.body == "" {
			continue
		}
		for _, m := range hubtest.SplitRecords(t, r.body) {
			require.NotEqual(t, "big", m["target"], "a message too large for the bus crossed it")
			if m["type"] == float64(7) {
				closeMsg = m
			}
		}
	}
	require.Contains(t, closeMsg["error"], "larger than the backplane can carry")
	require.Equal(t, http.StatusNoContent, other.poll(token).status)
}

// jsonInvocationOfSize is a non-blocking JSON invocation of Echo that is
// exactly size bytes long, record separator included.
func jsonInvocationOfSize(t *testing.T, size int) string {
	t.Helper()
	head, tail := `{"type":1,"target":"Echo","arguments":["`, "\"]}\x1e"
	pad := size - len(head) - len(tail)
	require.Positive(t, pad)
	return head + strings.Repeat("y", pad) + tail
}

// TestForwardedPostAtBusPayload sends POSTs through the node that does
// not hold the connection, over long polling and SSE: a body at the
// largest size the bus can carry is delivered, a byte more is refused
// with 413 and a message that says why (it used to wait 30 s for a 502).
func TestForwardedPostAtBusPayload(t *testing.T) {
	limit := smallPayload - forwardRoom
	opts := []signalr.Option{signalr.WithMaxReceiveMessageSize(2 * smallPayload), signalr.WithMaxRequestBodySize(2 * smallPayload)}
	check := func(t *testing.T, other *htServer, token string, delivered func()) {
		r := other.post(token, jsonInvocationOfSize(t, limit))
		require.Equal(t, http.StatusOK, r.status, r.body)
		delivered()
		r = other.post(token, jsonInvocationOfSize(t, limit+1))
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status, r.body)
		require.Contains(t, r.body, fmt.Sprintf("larger than the backplane can carry to the server holding this connection (%d bytes)", limit))
		// The connection still works through the other node.
		r = other.post(token, hubtest.InvocationJSON("", "Echo", "small"))
		require.Equal(t, http.StatusOK, r.status, r.body)
	}
	t.Run("LongPolling", func(t *testing.T) {
		owner, other := forwardPair(t, newHTHub(), opts...)
		owner, other = owner.withT(t), other.withT(t)
		token, _ := owner.lpConnect(htJSONHandshake)
		check(t, other, token, func() {})
		// The invocations were non-blocking: a blocking one proves the
		// connection is alive and was not closed by the large ones.
		r := other.post(token, hubtest.InvocationJSON("1", "Add", 2, 3))
		require.Equal(t, http.StatusOK, r.status, r.body)
		msgs := other.lpCollect(token, 1)
		require.Equal(t, float64(5), msgs[0]["result"])
	})
	t.Run("ServerSentEvents", func(t *testing.T) {
		owner, other := forwardPair(t, newHTHub(), opts...)
		owner, other = owner.withT(t), other.withT(t)
		st, token := owner.sseConnect()
		defer st.close()
		check(t, other, token, func() {})
		r := other.post(token, hubtest.InvocationJSON("1", "Add", 2, 3))
		require.Equal(t, http.StatusOK, r.status, r.body)
		msgs := st.nextMessages()
		require.Equal(t, float64(5), msgs[0]["result"])
	})
}

// failReplyBackplane fails, once armed, the next reply that carries more
// than a few bytes: a forwarded poll's answer that the bus does not take.
type failReplyBackplane struct {
	backplane.Backplane
	armed atomic.Bool
}

func (f *failReplyBackplane) Subscribe(subject string, h backplane.Handler) (backplane.Subscription, error) {
	return f.Backplane.Subscribe(subject, func(m *backplane.Message) {
		if reply := m.Reply; reply != nil {
			m.Reply = func(data []byte) error {
				if len(data) > 100 && f.armed.CompareAndSwap(true, false) {
					return errors.New("injected reply failure")
				}
				return reply(data)
			}
		}
		h(m)
	})
}

// TestForwardedPollFailedReplyRequeues makes the owner's answer to a
// forwarded poll fail on the bus: the messages it carried go back to the
// connection's queue and the next poll gets them, in order.
func TestForwardedPollFailedReplyRequeues(t *testing.T) {
	bus := backplane.NewMemory()
	failing := &failReplyBackplane{Backplane: bus}
	owner := startHTTPHub(t, newHTHub(), signalr.WithBackplane(failing), signalr.WithHubName("fwd"))
	other := startHTTPHub(t, newHTHub(), signalr.WithBackplane(bus), signalr.WithHubName("fwd"))
	token, id := owner.lpConnect(htJSONHandshake)
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	const n = 5
	for i := range n {
		require.NoError(t, owner.hub.Clients().Client(id).Send(ctx, "item", i))
	}
	failing.armed.Store(true)
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	r, err := other.doErr(pctx, http.MethodGet, "/hub?id="+token+"&_=lost", nil, nil)
	require.Error(t, err, "the forwarded poll whose answer was lost was answered: %d %q", r.status, r.body)
	require.False(t, failing.armed.Load(), "the owner did not answer the poll")
	msgs := owner.lpCollect(token, n)
	for i, m := range msgs {
		require.Equal(t, float64(i), m["arguments"].([]any)[0], "message #%d", i)
	}
}

// TestSendLargerThanBusPayload: a send larger than the bus carries fails
// once local recipients are served, and says nothing about the bus: the
// sends after it cross nodes as usual.
func TestSendLargerThanBusPayload(t *testing.T) {
	owner, _ := forwardPair(t, newHTHub())
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	all := owner.hub.Clients().All()
	require.Error(t, all.Send(ctx, "big", strings.Repeat("x", smallPayload)), "the bus cannot carry it")
	require.NoError(t, owner.hub.BackplaneErr())
	require.NoError(t, all.Send(ctx, "small", "x"), "the bus is fine")
}
