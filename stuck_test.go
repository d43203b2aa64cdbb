package signalr_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
)

// These tests open connections whose client sends its requests and then
// never reads: once the socket buffers are full, every write of the server
// blocks. The write timeout must end such a connection, on every
// transport, and Shutdown must not wait on one forever.

// stuckHub reports each connection's start and end.
type stuckHub struct {
	connected chan string
	ended     chan error
}

func newStuckHub() *stuckHub {
	return &stuckHub{connected: make(chan string, 8), ended: make(chan error, 8)}
}

func (h *stuckHub) OnConnected(c *signalr.Context) error {
	h.connected <- c.ConnectionID()
	return nil
}

func (h *stuckHub) OnDisconnected(_ *signalr.Context, err error) { h.ended <- err }

// stuckPayload is far more than the socket buffers of a test connection
// hold (see htConfig.smallBuffers).
var stuckPayload = strings.Repeat("x", 4<<20)

// stuckOptions make the write timeout the only thing that can end a
// stuck connection: the poll and disconnect timeouts are far away.
func stuckOptions() []signalr.Option {
	return []signalr.Option{
		signalr.WithWriteTimeout(300 * time.Millisecond),
		signalr.WithMaxOutboundBuffer(16 << 20),
		signalr.WithLongPollTimeouts(time.Minute, time.Minute),
		signalr.WithKeepAliveInterval(time.Minute),
	}
}

// dialStuck opens a TCP connection to the test server with a small
// receive buffer; the caller writes a request on it and never reads.
func dialStuck(t *testing.T, s *htServer) net.Conn {
	t.Helper()
	nc, err := (&net.Dialer{Timeout: htWait}).Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	require.NoError(t, err)
	_ = nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	t.Cleanup(func() { nc.Close() })
	return nc
}

func writeRaw(t *testing.T, nc net.Conn, req string) {
	t.Helper()
	_ = nc.SetWriteDeadline(time.Now().Add(htWait))
	_, err := nc.Write([]byte(req))
	require.NoError(t, err)
}

func recvConnected(t *testing.T, h *stuckHub) string {
	t.Helper()
	select {
	case id := <-h.connected:
		return id
	case <-time.After(htWait):
		require.FailNow(t, "the connection did not start")
		return ""
	}
}

func recvEnded(t *testing.T, h *stuckHub, what string) error {
	t.Helper()
	select {
	case err := <-h.ended:
		return err
	case <-time.After(htWait):
		require.FailNow(t, what+" did not end")
		return nil
	}
}

// stuckLongPoll returns the id of a long-polling connection whose next
// poll is held by a client that does not read.
func stuckLongPoll(t *testing.T, s *htServer, h *stuckHub) string {
	t.Helper()
	token, _ := s.lpConnect(htJSONHandshake)
	id := recvConnected(t, h)
	nc := dialStuck(t, s)
	writeRaw(t, nc, "GET /hub?id="+token+"&_=1 HTTP/1.1\r\nHost: test\r\n\r\n")
	return id
}

// stuckSSE returns the id of an SSE connection whose stream is not read.
func stuckSSE(t *testing.T, s *htServer, h *stuckHub) string {
	t.Helper()
	token, _ := s.negotiate()
	nc := dialStuck(t, s)
	writeRaw(t, nc, "GET /hub?id="+token+" HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
	htEventually(t, "the handshake POST is taken", func() bool {
		return s.post(token, htJSONHandshake).status == http.StatusOK
	})
	return recvConnected(t, h)
}

// stuckWebSocket returns the id of a WebSocket connection that read its
// handshake reply and nothing after.
func stuckWebSocket(t *testing.T, s *htServer, h *stuckHub) string {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: htWait, NetDial: func(network, addr string) (net.Conn, error) {
		nc, err := net.Dial(network, addr)
		if err == nil {
			_ = nc.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return nc, err
	}}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(s.url, "http")+"/hub", nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(htJSONHandshake)))
	_ = ws.SetReadDeadline(time.Now().Add(htWait))
	_, b, err := ws.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "{}\x1e", string(b))
	return recvConnected(t, h)
}

func TestStuckLongPollEndsAtWriteTimeout(t *testing.T) {
	h := newStuckHub()
	s := startHTTPHubWith(t, htConfig{smallBuffers: true}, h, stuckOptions()...)
	id := stuckLongPoll(t, s, h)

	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, s.hub.Clients().Client(id).Send(ctx, "big", stuckPayload))
	// Neither the poll timeout nor the disconnect timeout comes within
	// the test's time: only the write deadline ends the connection.
	err := recvEnded(t, h, "the connection of a poll that is never read")
	require.Error(t, err, "OnDisconnected sees why the connection ended")
	t.Logf("reason: %v", err)
}

func TestStuckSSEEndsAtWriteTimeout(t *testing.T) {
	h := newStuckHub()
	s := startHTTPHubWith(t, htConfig{smallBuffers: true}, h, stuckOptions()...)
	id := stuckSSE(t, s, h)

	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, s.hub.Clients().Client(id).Send(ctx, "big", stuckPayload))
	require.Error(t, recvEnded(t, h, "an event stream that is never read"))
}

// Shutdown ends connections whose clients stopped reading on every
// transport at once: their writes fail at the write timeout, and Shutdown
// returns once they are over, well within its context.
func TestShutdownWithStuckConnections(t *testing.T) {
	h := newStuckHub()
	// A long-polling connection with no poll in flight when Shutdown
	// queues its Close message ends at the disconnect timeout, as it
	// should; keep that well inside the context. The write deadline of a
	// stuck poll is TestStuckLongPollEndsAtWriteTimeout's.
	opts := append(stuckOptions(), signalr.WithLongPollTimeouts(time.Minute, 3*time.Second))
	s := startHTTPHubWith(t, htConfig{smallBuffers: true}, h, opts...)
	ids := []string{stuckLongPoll(t, s, h), stuckSSE(t, s, h), stuckWebSocket(t, s, h)}

	ctx, cancel := context.WithTimeout(context.Background(), 4*htWait)
	defer cancel()
	for _, id := range ids {
		require.NoError(t, s.hub.Clients().Client(id).Send(ctx, "big", stuckPayload))
	}
	require.NoError(t, s.hub.Shutdown(ctx), "every connection ended before the context did")
	for range ids {
		assert.Error(t, recvEnded(t, h, "a stuck connection"))
	}
}

// A poll that lands on another node than the connection's is answered by
// that node, and its write is bounded too: the request ends even though
// its client never reads.
func TestStuckForwardedPollEndsAtWriteTimeout(t *testing.T) {
	bus := backplane.NewMemory()
	t.Cleanup(func() { bus.Close() })
	opts := append(stuckOptions(), signalr.WithBackplane(bus), signalr.WithHubName("stuck"))
	h := newStuckHub()
	a := startHTTPHubWith(t, htConfig{smallBuffers: true}, h, opts...)

	// Node b, whose handler reports when a poll's request is over.
	hb, err := signalr.New(newStuckHub(), append([]signalr.Option{signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
	require.NoError(t, err)
	pollDone := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hb.ServeHTTP(w, r)
		if r.Method == http.MethodGet {
			pollDone <- struct{}{}
		}
	}))
	srv.Listener = htSmallBufListener{srv.Listener}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), htWait)
		defer cancel()
		assert.NoError(t, hb.Shutdown(ctx))
		srv.Close()
	})
	b := &htServer{t: t, hub: hb, url: srv.URL, client: a.client}

	token, _ := a.lpConnect(htJSONHandshake)
	id := recvConnected(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, a.hub.Clients().Client(id).Send(ctx, "big", strings.Repeat("x", 512<<10)))

	nc := dialStuck(t, b)
	writeRaw(t, nc, "GET /hub?id="+token+"&_=1 HTTP/1.1\r\nHost: test\r\n\r\n")
	select {
	case <-pollDone:
	case <-time.After(htWait):
		require.FailNow(t, "the forwarded poll of a client that does not read never ended")
	}
	// The owner had handed the poll's messages over: their loss is
	// reported by closing the connection with a reason.
	err = recvEnded(t, h, "the connection whose forwarded poll answer was lost")
	require.Error(t, err, "the connection must close with a reason, not stay open having lost a poll's messages")
}
