package signalr_test

import (
	"bytes"
	"context"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/stretchr/testify/require"
)

// TestConnectionTokenNeverCrossesTheBus negotiates on one node and opens
// the connection on the other, which claims it from the first over the
// bus (a WebSocket, then a long poll whose stop reaches the first node
// and is forwarded): neither the token nor its random part ever appears
// on the bus.
func TestConnectionTokenNeverCrossesTheBus(t *testing.T) {
	bus := &recordingBackplane{Backplane: backplane.NewMemory()}
	nc := hubtest.NewTwoNodes(t, func() backplane.Backplane { return bus })

	n := hubtest.NegotiateOK(t, nc.URLs[0], "?negotiateVersion=1")
	ws := hubtest.ConnectJSONQuery(t, nc.URLs[1], "?id="+neturl.QueryEscape(n.ConnectionToken))
	require.Equal(t, n.ConnectionID, ws.Result("GetConnectionId"), "the connection was claimed across nodes")

	lp := hubtest.NegotiateOK(t, nc.URLs[0], "?negotiateVersion=1")
	resp, body := hubtest.DoHTTP(t, http.MethodGet, nc.URLs[1]+"/hub?id="+neturl.QueryEscape(lp.ConnectionToken))
	require.Equal(t, http.StatusOK, resp.StatusCode, "the first poll claims the connection across nodes: %s", body)
	resp, body = hubtest.DoHTTP(t, http.MethodDelete, nc.URLs[0]+"/hub?id="+neturl.QueryEscape(lp.ConnectionToken))
	require.Less(t, resp.StatusCode, 300, "the stop is forwarded to the node holding the connection: %s", body)

	for _, tok := range []string{n.ConnectionToken, lp.ConnectionToken} {
		_, random, found := strings.Cut(tok, ".")
		require.True(t, found, "a cluster token names its node: %q", tok)
		require.False(t, bus.contains([]byte(tok)), "the token %q crossed the bus", tok)
		require.False(t, bus.contains([]byte(random)), "the secret part of the token %q crossed the bus", tok)
	}
}

// TestCollidingNamesStayApart gives every name the same subject, as if
// every group name and user id hashed alike: the nodes share subjects, but
// each message reaches only the group or users it names, once.
func TestCollidingNamesStayApart(t *testing.T) {
	bus := backplane.NewMemory()
	nc := hubtest.NewTwoNodes(t, func() backplane.Backplane { return bus },
		signalr.WithSubjectHash(func(string) string { return "same" }))
	red := hubtest.ConnectJSONQuery(t, nc.URLs[1], "?user=alice")
	blue := hubtest.ConnectJSONQuery(t, nc.URLs[1], "?user=bob")
	none := hubtest.ConnectJSONQuery(t, nc.URLs[1], "?user=carol")
	require.Nil(t, red.Call("JoinGroup", "red")["error"])
	require.Nil(t, blue.Call("JoinGroup", "blue")["error"])

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	from := nc.Hubs[0].Clients() // the other node: every send crosses the bus
	require.NoError(t, from.Group("red").Send(ctx, "receive", "to red"))
	require.NoError(t, from.Group("green").Send(ctx, "receive", "to green"))
	require.NoError(t, from.GroupExcept("blue", blue.ID(t)).Send(ctx, "receive", "to blue but bob"))
	require.NoError(t, from.User("bob").Send(ctx, "receive", "to bob"))
	require.NoError(t, from.User("dave").Send(ctx, "receive", "to dave"))
	require.NoError(t, from.Users("alice", "bob", "alice").Send(ctx, "receive", "to alice and bob"))
	require.NoError(t, from.Groups("red", "blue").Send(ctx, "receive", "to red and blue"))

	require.Equal(t, []any{"to red"}, red.Invocation("receive"))
	require.Equal(t, []any{"to alice and bob"}, red.Invocation("receive"))
	require.Equal(t, []any{"to red and blue"}, red.Invocation("receive"))
	require.Equal(t, []any{"to bob"}, blue.Invocation("receive"))
	require.Equal(t, []any{"to alice and bob"}, blue.Invocation("receive"))
	require.Equal(t, []any{"to red and blue"}, blue.Invocation("receive"))
	// A marker from the clients' own node: the in-process bus delivers in
	// the publishing goroutine, so anything else sent to them (a leak, a
	// duplicate) is queued before it.
	for _, c := range []*hubtest.JSONClient{red, blue, none} {
		require.NoError(t, nc.Hubs[1].Clients().Client(c.ID(t)).Send(ctx, "receive", "end"))
		require.Equal(t, []any{"end"}, c.Invocation("receive"))
	}
}

// recordingBackplane keeps every subject and every byte that crosses the
// bus through it: publishes, requests, their replies and deliveries.
type recordingBackplane struct {
	backplane.Backplane
	mu   sync.Mutex
	seen [][]byte
}

func (r *recordingBackplane) record(subject string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, []byte(subject), append([]byte(nil), data...))
}

// contains reports whether b appears in anything recorded.
func (r *recordingBackplane) contains(b []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seen {
		if bytes.Contains(s, b) {
			return true
		}
	}
	return false
}

func (r *recordingBackplane) Publish(ctx context.Context, subject string, data []byte) error {
	r.record(subject, data)
	return r.Backplane.Publish(ctx, subject, data)
}

func (r *recordingBackplane) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	r.record(subject, data)
	reply, err := r.Backplane.Request(ctx, subject, data)
	r.record("", reply)
	return reply, err
}

func (r *recordingBackplane) Subscribe(subject string, h backplane.Handler) (backplane.Subscription, error) {
	r.record(subject, nil)
	return r.Backplane.Subscribe(subject, func(m *backplane.Message) {
		r.record(m.Subject, m.Data)
		if m.Reply != nil {
			reply := m.Reply
			m2 := *m
			m2.Reply = func(b []byte) error {
				r.record("", b)
				return reply(b)
			}
			m = &m2
		}
		h(m)
	})
}
