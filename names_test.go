package signalr_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/redistest"
)

// namesCluster serves interopHub on two nodes joined by the backplanes
// newBP returns (one per node) and connects a client to each.
type namesCluster struct {
	hubs []*signalr.Hub
	urls []string
	a, b *jsonClient // a on node 0, b on node 1
}

func newNamesCluster(t *testing.T, newBP func() backplane.Backplane, opts ...signalr.Option) *namesCluster {
	t.Helper()
	nc := &namesCluster{}
	for range 2 {
		bp := newBP()
		h, err := signalr.New(interopHub{}, append([]signalr.Option{
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithUserIDFunc(userFromQuery),
			signalr.WithBackplane(bp, "names"),
			signalr.WithPresenceInterval(200 * time.Millisecond),
		}, opts...)...)
		require.NoError(t, err)
		nc.urls, nc.hubs = append(nc.urls, serveHub(t, h, bp)), append(nc.hubs, h)
	}
	nc.a = connectJSON(t, nc.urls[0])
	nc.b = connectJSON(t, nc.urls[1])
	nc.a.id(t)
	nc.b.id(t)
	return nc
}

// crossNodeGroupWorks proves the bus still carries messages both ways: b
// joins a fresh group, a sends to it from the other node, and b gets it.
func (nc *namesCluster) crossNodeGroupWorks(t *testing.T, round string) {
	t.Helper()
	group := "after-" + round
	require.Nil(t, nc.b.call("JoinGroup", group)["error"])
	require.Nil(t, nc.a.call("SendToGroup", group, "via-bus-"+round)["error"])
	require.Equal(t, []any{"via-bus-" + round}, nc.b.invocation("receive"), "cross-node delivery after %s", round)
}

// testLongGroupNames sends group names of 3,100 bytes and 64 KiB through
// hub methods. With the default name limit the hub method gets an error
// (a Completion error for the client); with a raised limit the names work
// across nodes. Either way the bus keeps working afterwards.
func testLongGroupNames(t *testing.T, newBP func() backplane.Backplane) {
	for _, size := range []int{3100, 64 << 10} {
		long := strings.Repeat("g", size)
		t.Run("default-limit/"+strconv.Itoa(size), func(t *testing.T) {
			nc := newNamesCluster(t, newBP, signalr.WithMaxReceiveMessageSize(1<<20))
			msg := nc.a.callError("JoinGroup", long)
			require.Contains(t, msg, "An unexpected error occurred invoking 'JoinGroup'")
			msg = nc.a.callError("SendToGroup", long, "x")
			require.Contains(t, msg, "An unexpected error occurred invoking 'SendToGroup'")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := nc.hubs[0].Groups().Add(ctx, nc.b.id(t), long)
			require.ErrorIs(t, err, signalr.ErrNameTooLong)
			require.ErrorIs(t, nc.hubs[0].Clients().Group(long).Send(ctx, "receive", "x"), signalr.ErrNameTooLong)
			nc.crossNodeGroupWorks(t, "default")
		})
		t.Run("raised-limit/"+strconv.Itoa(size), func(t *testing.T) {
			nc := newNamesCluster(t, newBP, signalr.WithMaxReceiveMessageSize(1<<20), signalr.WithMaxGroupNameLength(128<<10))
			require.Nil(t, nc.b.call("JoinGroup", long)["error"])
			require.Nil(t, nc.a.call("SendToGroup", long, "long")["error"])
			require.Equal(t, []any{"long"}, nc.b.invocation("receive"))
			nc.a.sync()
			nc.crossNodeGroupWorks(t, "raised")
		})
	}
}

func TestLongGroupNamesNATS(t *testing.T) {
	url, _ := startNATS(t, 0)
	testLongGroupNames(t, func() backplane.Backplane {
		bp, err := natsbp.Connect(url, natsbp.Options{Prefix: "names"})
		require.NoError(t, err)
		return bp
	})
}

func TestLongGroupNamesRedis(t *testing.T) {
	srv := redistest.Start(t, 0)
	testLongGroupNames(t, func() backplane.Backplane {
		bp, err := redisbp.Connect(srv.URL(), redisbp.Options{Prefix: "names"})
		require.NoError(t, err)
		return bp
	})
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

// TestConnectionTokenNeverCrossesTheBus negotiates on one node and opens
// the connection on the other, which claims it from the first over the
// bus (a WebSocket, then a long poll whose stop reaches the first node
// and is forwarded): neither the token nor its random part ever appears
// on the bus.
func TestConnectionTokenNeverCrossesTheBus(t *testing.T) {
	bus := &recordingBackplane{Backplane: backplane.NewMemory()}
	nc := newNamesCluster(t, func() backplane.Backplane { return bus })

	n := negotiateOK(t, nc.urls[0], "?negotiateVersion=1")
	ws := connectJSONQuery(t, nc.urls[1], "?id="+neturl.QueryEscape(n.ConnectionToken))
	require.Equal(t, n.ConnectionID, ws.result("GetConnectionId"), "the connection was claimed across nodes")

	lp := negotiateOK(t, nc.urls[0], "?negotiateVersion=1")
	resp, body := doHTTP(t, http.MethodGet, nc.urls[1]+"/hub?id="+neturl.QueryEscape(lp.ConnectionToken))
	require.Equal(t, http.StatusOK, resp.StatusCode, "the first poll claims the connection across nodes: %s", body)
	resp, body = doHTTP(t, http.MethodDelete, nc.urls[0]+"/hub?id="+neturl.QueryEscape(lp.ConnectionToken))
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
	nc := newNamesCluster(t, func() backplane.Backplane { return bus },
		signalr.WithSubjectHash(func(string) string { return "same" }))
	red := connectJSONQuery(t, nc.urls[1], "?user=alice")
	blue := connectJSONQuery(t, nc.urls[1], "?user=bob")
	none := connectJSONQuery(t, nc.urls[1], "?user=carol")
	require.Nil(t, red.call("JoinGroup", "red")["error"])
	require.Nil(t, blue.call("JoinGroup", "blue")["error"])

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	from := nc.hubs[0].Clients() // the other node: every send crosses the bus
	require.NoError(t, from.Group("red").Send(ctx, "receive", "to red"))
	require.NoError(t, from.Group("green").Send(ctx, "receive", "to green"))
	require.NoError(t, from.GroupExcept("blue", blue.id(t)).Send(ctx, "receive", "to blue but bob"))
	require.NoError(t, from.User("bob").Send(ctx, "receive", "to bob"))
	require.NoError(t, from.User("dave").Send(ctx, "receive", "to dave"))
	require.NoError(t, from.Users("alice", "bob", "alice").Send(ctx, "receive", "to alice and bob"))
	require.NoError(t, from.Groups("red", "blue").Send(ctx, "receive", "to red and blue"))

	require.Equal(t, []any{"to red"}, red.invocation("receive"))
	require.Equal(t, []any{"to alice and bob"}, red.invocation("receive"))
	require.Equal(t, []any{"to red and blue"}, red.invocation("receive"))
	require.Equal(t, []any{"to bob"}, blue.invocation("receive"))
	require.Equal(t, []any{"to alice and bob"}, blue.invocation("receive"))
	require.Equal(t, []any{"to red and blue"}, blue.invocation("receive"))
	// A marker from the clients' own node: the in-process bus delivers in
	// the publishing goroutine, so anything else sent to them (a leak, a
	// duplicate) is queued before it.
	for _, c := range []*jsonClient{red, blue, none} {
		require.NoError(t, nc.hubs[1].Clients().Client(c.id(t)).Send(ctx, "receive", "end"))
		require.Equal(t, []any{"end"}, c.invocation("receive"))
	}
}

// TestHostileIDsOverNATS hands ids no connection or node can have (too
// long for a NATS control line, wildcards, dots, empty) to group changes,
// sends, client results and token claims: they are nobody, group changes
// say so, and the node's NATS connection keeps carrying messages.
func TestHostileIDsOverNATS(t *testing.T) {
	url, _ := startNATS(t, 0)
	nc := newNamesCluster(t, func() backplane.Backplane {
		bp, err := natsbp.Connect(url, natsbp.Options{Prefix: "ids"})
		require.NoError(t, err)
		return bp
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	long := strings.Repeat("c", 3100)
	ids := []string{long, strings.Repeat("c", 64<<10), "a.b", "*", ">", "", "c c", nc.b.id(t) + "x", nc.b.id(t)[:21]}
	h := nc.hubs[0]
	for _, id := range ids {
		err := h.Groups().Add(ctx, id, "g")
		require.ErrorIs(t, err, signalr.ErrConnectionNotFound, "Add(%.20q)", id)
		require.Contains(t, err.Error(), "not a connection id")
		require.ErrorIs(t, h.Groups().Remove(ctx, id, "g"), signalr.ErrConnectionNotFound, "Remove(%.20q)", id)
		require.NoError(t, h.Clients().Client(id).Send(ctx, "receive", "nobody"), "Send to %.20q", id)
		require.NoError(t, h.Clients().Clients(id, id).Send(ctx, "receive", "nobody"), "Send to %.20q", id)
		require.ErrorIs(t, h.Clients().Client(id).Invoke(ctx, nil, "anything"), signalr.ErrConnectionNotFound, "Invoke on %.20q", id)
	}
	// The same from a client, through hub methods.
	require.Nil(t, nc.a.call("SendToClient", long, "nobody")["error"])
	require.Nil(t, nc.a.call("SendToClients", []string{long, "a.b"}, "nobody")["error"])
	// Tokens whose node part no node can have: 404, and no bus request.
	for _, tok := range []string{long + ".x", strings.Repeat("n", 11) + "*.x", ">.x", "a b.x"} {
		status, body := dialStatus(t, nc.urls[1], "?id="+neturl.QueryEscape(tok))
		require.Equal(t, http.StatusNotFound, status, body)
	}
	nc.crossNodeGroupWorks(t, "hostile ids")
	// A real id of the other node still works.
	require.NoError(t, h.Groups().Add(ctx, nc.b.id(t), "real"))
	require.NoError(t, h.Clients().Group("real").Send(ctx, "receive", "real"))
	require.Equal(t, []any{"real"}, nc.b.invocation("receive"))
}
