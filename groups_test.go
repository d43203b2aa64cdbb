package signalr_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// disconnectEvent is one OnDisconnected call.
type disconnectEvent struct {
	id  string
	err error
}

// lifecycleHub acts on its hooks as the connecting request's query asks:
// ?join=<group> joins the group and tells the caller, ?refuse=<text>
// refuses with a HubError, ?fail=1 refuses with a plain error.
type lifecycleHub struct {
	disconnected chan disconnectEvent
}

func newLifecycleHub() *lifecycleHub {
	return &lifecycleHub{disconnected: make(chan disconnectEvent, 64)}
}

func (h *lifecycleHub) OnConnected(c *signalr.Context) error {
	q := c.Request().URL.Query()
	if g := q.Get("join"); g != "" {
		if err := c.Groups().Add(c, c.ConnectionID(), g); err != nil {
			return err
		}
		if err := c.Clients().Caller().Send(c, "joined", g, c.ConnectionID()); err != nil {
			return err
		}
	}
	if text := q.Get("refuse"); text != "" {
		return signalr.NewHubError("%s", text)
	}
	if q.Get("fail") != "" {
		return errors.New("secret reason")
	}
	return nil
}

func (h *lifecycleHub) OnDisconnected(c *signalr.Context, err error) {
	select {
	case h.disconnected <- disconnectEvent{c.ConnectionID(), err}:
	default:
	}
}

func (h *lifecycleHub) ID(c *signalr.Context) string { return c.ConnectionID() }
func (h *lifecycleHub) Add(a, b int) int             { return a + b }

// waitDisconnect waits for OnDisconnected of connection id.
func (h *lifecycleHub) waitDisconnect(t *testing.T, id string) error {
	t.Helper()
	for {
		d := waitFor(t, h.disconnected, "OnDisconnected of "+id)
		if d.id == id {
			return d.err
		}
	}
}

// connectMember connects and returns the client with its connection id. The
// round trip also guarantees that the hub can reach the connection.
func connectMember(t *testing.T, url, query string) (*hubtest.JSONClient, string) {
	t.Helper()
	c := hubtest.ConnectJSONQuery(t, url, query)
	id, ok := c.Result("ID").(string)
	require.True(t, ok)
	return c, id
}

func TestGroupsFromOutsideAHubMethod(t *testing.T) {
	h, url := hubtest.StartHub(t, newLifecycleHub())
	a, idA := connectMember(t, url, "")
	b, _ := connectMember(t, url, "")
	ctx := context.Background()

	require.NoError(t, h.Groups().Add(ctx, idA, "g"))
	require.NoError(t, h.Groups().Add(ctx, idA, "g"), "adding twice is adding once")
	require.NoError(t, h.Clients().Group("g").Send(ctx, "news", "one", 1))
	assert.Equal(t, []any{"one", 1.0}, a.Invocation("news"))
	a.Sync() // delivered once
	b.Sync() // not a member

	require.NoError(t, h.Groups().Remove(ctx, idA, "g"))
	require.NoError(t, h.Groups().Remove(ctx, idA, "g"), "removing a non-member does nothing")
	require.NoError(t, h.Clients().Group("g").Send(ctx, "news", "two", 2))
	a.Sync()
	b.Sync()

	require.NoError(t, h.Clients().Group("nobody").Send(ctx, "news", "three"), "an empty group is not an error")
}

func TestGroupsFromAnHTTPHandler(t *testing.T) {
	h, url := hubtest.StartHub(t, newLifecycleHub())
	a, idA := connectMember(t, url, "")
	b, idB := connectMember(t, url, "")

	// An ordinary handler of the application, on another server.
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := h.Groups().Add(r.Context(), q.Get("id"), q.Get("group")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err := h.Clients().Group(q.Get("group")).Send(r.Context(), "welcome", q.Get("id")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer admin.Close()

	resp, body := hubtest.DoHTTP(t, http.MethodPost, admin.URL+"/?group=ops&id="+idA)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, body)
	assert.Equal(t, []any{idA}, a.Invocation("welcome"))
	b.Sync()

	resp, body = hubtest.DoHTTP(t, http.MethodPost, admin.URL+"/?group=ops&id="+idB)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, body)
	assert.Equal(t, []any{idB}, a.Invocation("welcome"))
	assert.Equal(t, []any{idB}, b.Invocation("welcome"))

	resp, body = hubtest.DoHTTP(t, http.MethodPost, admin.URL+"/?group=ops&id=unknown")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, body, signalr.ErrConnectionNotFound.Error())
	a.Sync()
	b.Sync()
}

func TestGroupsUnknownConnection(t *testing.T) {
	h, _ := hubtest.StartHub(t, newLifecycleHub())
	ctx := context.Background()
	assert.ErrorIs(t, h.Groups().Add(ctx, "no-such-connection", "g"), signalr.ErrConnectionNotFound)
	assert.ErrorIs(t, h.Groups().Remove(ctx, "no-such-connection", "g"), signalr.ErrConnectionNotFound)
	assert.ErrorIs(t, h.Groups().Add(ctx, "", "g"), signalr.ErrConnectionNotFound)
}

func TestGroupMembershipEndsWithTheConnection(t *testing.T) {
	hub := newLifecycleHub()
	h, url := hubtest.StartHub(t, hub)
	a, idA := connectMember(t, url, "")
	b, idB := connectMember(t, url, "")
	ctx := context.Background()
	require.NoError(t, h.Groups().Add(ctx, idA, "g"))
	require.NoError(t, h.Groups().Add(ctx, idB, "g"))

	a.SendText(`{"type":7}` + "\x1e")
	_, err := a.ExpectClosed()
	require.Error(t, err)
	require.NoError(t, hub.waitDisconnect(t, idA))

	assert.ErrorIs(t, h.Groups().Add(ctx, idA, "g"), signalr.ErrConnectionNotFound)
	assert.ErrorIs(t, h.Groups().Remove(ctx, idA, "g"), signalr.ErrConnectionNotFound)
	require.NoError(t, h.Clients().Group("g").Send(ctx, "news", "after"))
	assert.Equal(t, []any{"after"}, b.Invocation("news"))
	b.Sync()
}

func TestSendToSeveralGroupsDeliversOnce(t *testing.T) {
	h, url := hubtest.StartHub(t, newLifecycleHub())
	both, idBoth := connectMember(t, url, "")
	onlyY, idY := connectMember(t, url, "")
	none, _ := connectMember(t, url, "")
	ctx := context.Background()
	require.NoError(t, h.Groups().Add(ctx, idBoth, "x"))
	require.NoError(t, h.Groups().Add(ctx, idBoth, "y"))
	require.NoError(t, h.Groups().Add(ctx, idY, "y"))

	require.NoError(t, h.Clients().Groups("x", "y", "x").Send(ctx, "news", "n"))
	assert.Equal(t, []any{"n"}, both.Invocation("news"))
	assert.Equal(t, []any{"n"}, onlyY.Invocation("news"))
	both.Sync()
	onlyY.Sync()
	none.Sync()

	require.NoError(t, h.Clients().GroupExcept("y", idBoth).Send(ctx, "news", "except"))
	assert.Equal(t, []any{"except"}, onlyY.Invocation("news"))
	both.Sync()
	onlyY.Sync()
}

func TestSendToUser(t *testing.T) {
	h, url := hubtest.StartHub(t, newLifecycleHub()) // hubtest.StartHub names users by ?user=
	alice1, _ := connectMember(t, url, "?user=alice")
	alice2, _ := connectMember(t, url, "?user=alice")
	bob, _ := connectMember(t, url, "?user=bob")
	anon, _ := connectMember(t, url, "")
	ctx := context.Background()

	require.NoError(t, h.Clients().User("alice").Send(ctx, "dm", "hi alice"))
	assert.Equal(t, []any{"hi alice"}, alice1.Invocation("dm"))
	assert.Equal(t, []any{"hi alice"}, alice2.Invocation("dm"))
	bob.Sync()
	anon.Sync()

	require.NoError(t, h.Clients().Users("alice", "bob", "alice").Send(ctx, "dm", "all"))
	for _, c := range []*hubtest.JSONClient{alice1, alice2, bob} {
		assert.Equal(t, []any{"all"}, c.Invocation("dm"))
		c.Sync()
	}
	anon.Sync()

	require.NoError(t, h.Clients().User("").Send(ctx, "dm", "nobody"), "the empty user id is no user")
	anon.Sync()
	require.NoError(t, h.Clients().User("carol").Send(ctx, "dm", "nobody"))
}

func TestSendErrors(t *testing.T) {
	h, url := hubtest.StartHub(t, newLifecycleHub())
	c, id := connectMember(t, url, "")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, h.Clients().All().Send(ctx, "m"), context.Canceled)
	assert.ErrorIs(t, h.Clients().Client(id).Send(ctx, "m"), context.Canceled)
	assert.ErrorIs(t, h.Groups().Add(ctx, id, "g"), context.Canceled)

	err := h.Clients().Client(id).Send(context.Background(), "m", make(chan int))
	assert.Error(t, err, "a channel cannot be encoded")
	err = h.Clients().All().Send(context.Background(), "m", "fine", func() {})
	assert.Error(t, err, "a func cannot be encoded")
	// Nothing was sent, and the connection is unharmed.
	c.Sync()
}

func TestSendUnencodableToNobody(t *testing.T) {
	h, _ := hubtest.StartHub(t, newLifecycleHub())
	err := h.Clients().Group("empty").Send(context.Background(), "m", make(chan int))
	assert.Error(t, err)
}

func TestSendAfterShutdown(t *testing.T) {
	h, url := hubtest.StartHub(t, newLifecycleHub())
	c, id := connectMember(t, url, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The client reads meanwhile, and so answers the close frame that
	// Shutdown waits for.
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(ctx) }()

	msg, err := c.ExpectClosed()
	require.Error(t, err)
	require.NotNil(t, msg, "Shutdown sends a Close message")
	require.NoError(t, <-shut)
	assert.Equal(t, true, msg["allowReconnect"])

	assert.ErrorIs(t, h.Clients().All().Send(ctx, "m"), signalr.ErrHubClosed)
	assert.ErrorIs(t, h.Clients().Client(id).Send(ctx, "m"), signalr.ErrHubClosed)
	assert.ErrorIs(t, h.Clients().Group("g").Send(ctx, "m"), signalr.ErrHubClosed)
	assert.ErrorIs(t, h.Clients().User("u").Send(ctx, "m"), signalr.ErrHubClosed)
}

func TestOnConnectedJoinsAndSendsToCaller(t *testing.T) {
	h, url := hubtest.StartHub(t, newLifecycleHub())
	c := hubtest.ConnectJSONQuery(t, url, "?join=room")
	// Right after the handshake reply, before anything else.
	args := c.Invocation("joined")
	require.Len(t, args, 2)
	assert.Equal(t, "room", args[0])
	id := args[1].(string)
	assert.Equal(t, id, c.Result("ID"))

	other, _ := connectMember(t, url, "")
	require.NoError(t, h.Clients().Group("room").Send(context.Background(), "news", "in room"))
	assert.Equal(t, []any{"in room"}, c.Invocation("news"))
	other.Sync()
}

func TestOnConnectedRefusesTheConnection(t *testing.T) {
	hub := newLifecycleHub()
	_, url := hubtest.StartHub(t, hub)
	healthy, _ := connectMember(t, url, "")

	c := hubtest.DialRaw(t, url, "?refuse=go%20away")
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	assert.Equal(t, "{}\x1e", c.ReadText(), "the handshake itself succeeds")
	assert.Equal(t, "Connection closed with an error. HubException: go away", expectCloseMessage(t, c))

	// Other errors are not shown to the client.
	c = hubtest.DialRaw(t, url, "?fail=1")
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	assert.Equal(t, "{}\x1e", c.ReadText())
	assert.Equal(t, "Connection closed with an error.", expectCloseMessage(t, c))

	stillHealthy(t, healthy)
}

func TestOnDisconnectedError(t *testing.T) {
	hub := newLifecycleHub()
	_, url := hubtest.StartHub(t, hub)

	t.Run("client Close message", func(t *testing.T) {
		c, id := connectMember(t, url, "")
		c.SendText(`{"type":7}` + "\x1e")
		_, err := c.ExpectClosed()
		require.Error(t, err)
		assert.NoError(t, hub.waitDisconnect(t, id))
	})
	t.Run("close frame without a status, as the JS client sends", func(t *testing.T) {
		c, id := connectMember(t, url, "")
		require.NoError(t, c.WS.WriteControl(websocket.CloseMessage, nil, time.Now().Add(time.Second)))
		_, err := c.ExpectClosed()
		require.Error(t, err)
		assert.NoError(t, hub.waitDisconnect(t, id))
	})
	t.Run("bad input", func(t *testing.T) {
		c, id := connectMember(t, url, "")
		c.SendText("garbage\x1e")
		expectConnectionError(t, c.RawClient)
		assert.Error(t, hub.waitDisconnect(t, id))
	})
	t.Run("socket dropped", func(t *testing.T) {
		c, id := connectMember(t, url, "")
		require.NoError(t, c.WS.UnderlyingConn().Close())
		assert.Error(t, hub.waitDisconnect(t, id))
	})
}
