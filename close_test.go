package signalr_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
)

// closeHub closes connections with a reason: its own caller, or another
// connection by id through the Hub.
type closeHub struct {
	hub  *signalr.Hub          // set before serving
	gone chan disconnectRecord // OnDisconnected's reasons, if not nil
}

type disconnectRecord struct {
	id  string
	err error
}

func (h *closeHub) CloseMe(c *signalr.Context, reason string, allowReconnect bool) error {
	if err := c.Clients().Caller().Send(c, "before", reason); err != nil {
		return err
	}
	return c.CloseConnection(reason, allowReconnect)
}

func (h *closeHub) CloseOther(ctx context.Context, id, reason string) (string, error) {
	err := h.hub.CloseConnection(ctx, id, reason, false)
	if errors.Is(err, signalr.ErrConnectionNotFound) {
		return "not found", nil
	}
	return "closed", err
}

func (h *closeHub) ConnectionID(c *signalr.Context) string { return c.ConnectionID() }

func (h *closeHub) OnDisconnected(c *signalr.Context, err error) {
	if h.gone != nil {
		h.gone <- disconnectRecord{c.ConnectionID(), err}
	}
}

// newCloseHubs starts n nodes of closeHub (sharing one in-memory backplane
// when n > 1) mounted at /hub and /close, and returns them with their URLs.
func newCloseHubs(t *testing.T, n int, gone chan disconnectRecord) ([]*signalr.Hub, []string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var bp backplane.Backplane
	if n > 1 {
		bp = backplane.NewMemory()
		t.Cleanup(func() { bp.Close() })
	}
	var hubs []*signalr.Hub
	var urls []string
	for range n {
		ch := &closeHub{gone: gone}
		opts := []signalr.Option{signalr.WithLogger(logger)}
		if bp != nil {
			opts = append(opts, signalr.WithBackplane(bp), signalr.WithHubName("close"))
		}
		h, err := signalr.New(ch, opts...)
		require.NoError(t, err)
		ch.hub = h
		mux := http.NewServeMux()
		for _, p := range []string{"/hub", "/close"} {
			mux.Handle(p, h)
			mux.Handle(p+"/", h)
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, h.Shutdown(ctx))
			srv.Close()
		})
		hubs = append(hubs, h)
		urls = append(urls, srv.URL)
	}
	return hubs, urls
}

func nextDisconnect(t *testing.T, gone chan disconnectRecord) disconnectRecord {
	t.Helper()
	select {
	case d := <-gone:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("OnDisconnected did not run")
		return disconnectRecord{}
	}
}

// A hub method closes its own connection with a reason: what was sent
// before arrives first, the Close message carries the reason and the
// caller's choice of allowReconnect, and OnDisconnected sees
// ErrClosedByHub.
func TestContextCloseConnectionWithReason(t *testing.T) {
	gone := make(chan disconnectRecord, 4)
	_, urls := newCloseHubs(t, 1, gone)
	for _, allow := range []bool{false, true} {
		c := hubtest.ConnectJSON(t, urls[0])
		id := c.Result("ConnectionID").(string)
		c.SendText(`{"type":1,"target":"CloseMe","arguments":["maintenance: back soon",` + map[bool]string{false: "false", true: "true"}[allow] + `]}` + "\x1e")
		require.Equal(t, []any{"maintenance: back soon"}, c.Invocation("before"))
		want := map[string]any{"type": float64(7), "error": "maintenance: back soon"}
		if allow {
			want["allowReconnect"] = true
		}
		require.Equal(t, want, closeMessageOf(c))
		d := nextDisconnect(t, gone)
		require.Equal(t, id, d.id)
		require.ErrorIs(t, d.err, signalr.ErrClosedByHub)
		require.Equal(t, "signalr: connection closed by the hub: maintenance: back soon", d.err.Error())
	}

	// An empty reason is a clean close.
	c := hubtest.ConnectJSON(t, urls[0])
	c.SendText(`{"type":1,"target":"CloseMe","arguments":["",false]}` + "\x1e")
	require.Equal(t, []any{""}, c.Invocation("before"))
	require.Equal(t, map[string]any{"type": float64(7)}, closeMessageOf(c))
	require.ErrorIs(t, nextDisconnect(t, gone).err, signalr.ErrClosedByHub)
}

// Hub.CloseConnection closes a connection by id, on this node or on
// another through the backplane, and reports an id no node holds.
func TestHubCloseConnection(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		gone := make(chan disconnectRecord, 4)
		hubs, urls := newCloseHubs(t, nodes, gone)
		c := hubtest.ConnectJSON(t, urls[nodes-1]) // on the last node
		id := c.Result("ConnectionID").(string)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.ErrorIs(t, hubs[0].CloseConnection(ctx, "no-such-connection", "x", false), signalr.ErrConnectionNotFound)
		require.NoError(t, hubs[0].CloseConnection(ctx, id, "kicked by the admin", false))
		require.Equal(t, map[string]any{"type": float64(7), "error": "kicked by the admin"}, closeMessageOf(c))
		d := nextDisconnect(t, gone)
		require.Equal(t, id, d.id)
		require.ErrorIs(t, d.err, signalr.ErrClosedByHub)
		require.ErrorContains(t, d.err, "kicked by the admin")
		// The connection is gone everywhere now.
		require.Eventually(t, func() bool {
			return errors.Is(hubs[0].CloseConnection(ctx, id, "again", false), signalr.ErrConnectionNotFound)
		}, 10*time.Second, 10*time.Millisecond)
		canceled, cancelNow := context.WithCancel(context.Background())
		cancelNow()
		require.ErrorIs(t, hubs[0].CloseConnection(canceled, id, "x", false), context.Canceled)
	}
}

// The official client's onclose receives the reason, over every transport
// and protocol, from the connection's own node and across nodes.
func TestOfficialClientSeesCloseReason(t *testing.T) {
	nodetest.Require(t)
	for _, nodes := range []int{1, 2} {
		for _, tc := range hubtest.InteropMatrix {
			t.Run(tc.Transport+"/"+tc.Protocol, func(t *testing.T) {
				_, urls := newCloseHubs(t, nodes, nil)
				url := urls[0]
				if nodes > 1 {
					url = hubtest.RoundRobin(t, urls)
				}
				passed, _ := hubtest.RunNodeFile(t, "close.test.mjs", url, tc.Transport, tc.Protocol)
				require.GreaterOrEqual(t, passed, 4)
			})
		}
	}
}

// disconnectOnlyHub implements Disconnecter without Connecter.
type disconnectOnlyHub struct{ gone chan error }

func (h disconnectOnlyHub) Ping() string                                 { return "pong" }
func (h disconnectOnlyHub) OnDisconnected(_ *signalr.Context, err error) { h.gone <- err }

// A hub that implements only OnDisconnected hears about disconnections.
func TestDisconnecterWithoutConnecter(t *testing.T) {
	h := disconnectOnlyHub{gone: make(chan error, 1)}
	_, url := hubtest.StartHub(t, h)
	c := hubtest.ConnectJSON(t, url)
	require.Equal(t, "pong", c.Result("Ping"))
	c.SendText(`{"type":7}` + "\x1e")
	select {
	case err := <-h.gone:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("OnDisconnected did not run")
	}
}
