package signalr

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/transport"
)

// blockingTransport is an in-memory transport whose writes block until
// released, like a client that stopped reading.
type blockingTransport struct {
	*discardTransport
	release chan struct{}
	entered atomic.Bool
}

func (b *blockingTransport) WriteFrame(binary bool, parts ...[]byte) error {
	b.entered.Store(true)
	select {
	case <-b.release:
	case <-b.closed:
		return transport.ErrClosed
	}
	return b.discardTransport.WriteFrame(binary, parts...)
}

// attachTransport registers a handshaken connection on t.
func attachTransport(t *testing.T, h *Hub, tr transport.Conn) *conn {
	t.Helper()
	c := newConn(h, tr, newID(), newID(), httptest.NewRequest("GET", "/hub", nil), nil)
	c.proto, c.protoIndex = h.protocols[0], 0
	c.state.Store(stateConnected)
	c.handshaken, c.registered = true, true
	require.NoError(t, h.register(c))
	h.mu.Lock()
	h.live[tokenKey(c.token)] = c
	h.active++
	h.mu.Unlock()
	go func() {
		c.teardown(c.readLoop())
		h.release(c.token)
	}()
	return c
}

// More clients than the pool has workers stop reading; the pool grows
// past its size, and everyone else still gets every message.
func TestWriterPoolSlowClientsDoNotHoldUpOthers(t *testing.T) {
	h, err := New(benchHub{}, WithLogger(slog.New(slog.DiscardHandler)), WithKeepAliveInterval(Disabled))
	require.NoError(t, err)
	release := make(chan struct{})
	var slow []*blockingTransport
	for range 3 * h.writers.max {
		b := &blockingTransport{discardTransport: newDiscardTransport(), release: release}
		attachTransport(t, h, b)
		slow = append(slow, b)
	}
	var fast []*discardTransport
	for range 20 {
		d := newDiscardTransport()
		attachTransport(t, h, d)
		fast = append(fast, d)
	}
	ctx := context.Background()
	const n = 50
	for i := range n {
		require.NoError(t, h.Clients().All().Send(ctx, "tick", i))
	}
	waitDelivered(t, fast, n)
	for _, b := range slow {
		require.Eventually(t, b.entered.Load, 5*time.Second, time.Millisecond, "every slow client's write started")
	}
	close(release)
	waitDelivered(t, append(fast[:0:0], func() []*discardTransport {
		var ds []*discardTransport
		for _, b := range slow {
			ds = append(ds, b.discardTransport)
		}
		return ds
	}()...), n)
	require.NoError(t, h.Shutdown(ctx))
}

// With coalescing off, every message is a frame of its own even when many
// wait; with it on, what waits goes out together.
func TestWriteCoalescing(t *testing.T) {
	for _, on := range []bool{false, true} {
		h, err := New(benchHub{}, WithLogger(slog.New(slog.DiscardHandler)), WithKeepAliveInterval(Disabled), WithWriteCoalescing(on))
		require.NoError(t, err)
		release := make(chan struct{})
		b := &blockingTransport{discardTransport: newDiscardTransport(), release: release}
		attachTransport(t, h, b)
		ctx := context.Background()
		require.NoError(t, h.Clients().All().Send(ctx, "first"))
		require.Eventually(t, b.entered.Load, 5*time.Second, time.Millisecond)
		for i := range 20 {
			require.NoError(t, h.Clients().All().Send(ctx, "tick", i))
		}
		close(release)
		waitDelivered(t, []*discardTransport{b.discardTransport}, 21)
		if on {
			require.Equal(t, int64(2), b.frames.Load(), "the 20 queued messages share one frame")
		} else {
			require.Equal(t, int64(21), b.frames.Load(), "one frame per message")
		}
		require.NoError(t, h.Shutdown(ctx))
	}
}

type echoHub struct{}

func (echoHub) Echo(s string) string { return s }

// A WebSocket connection that goes quiet continues on a fresh goroutine
// (transport.ErrIdle), keeps working, and does not pile up goroutines.
func TestIdleWebSocketContinuesOnFreshGoroutine(t *testing.T) {
	h, err := New(echoHub{}, WithLogger(slog.New(slog.DiscardHandler)), WithKeepAliveInterval(Disabled))
	require.NoError(t, err)
	h.cfg.wsIdleAfter = 20 * time.Millisecond
	srv := httptest.NewServer(h)
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub", nil)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"json","version":1}`+"\x1e")))
	_, p, err := ws.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "{}\x1e", string(p))

	call := func(i int) {
		msg := `{"type":1,"invocationId":"` + string(rune('a'+i)) + `","target":"Echo","arguments":["x` + string(rune('a'+i)) + `"]}` + "\x1e"
		require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(msg)))
		_, p, err := ws.ReadMessage()
		require.NoError(t, err)
		require.Contains(t, string(p), `"result":"x`+string(rune('a'+i))+`"`)
	}
	call(0)
	time.Sleep(60 * time.Millisecond) // idle: the reader has moved on
	base := runtime.NumGoroutine()
	for i := 1; i <= 5; i++ {
		call(i)
		time.Sleep(60 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), base+1, "one reader per connection, however often it idles")
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	require.Contains(t, stacks, "(*conn).continueServing", "the idle reader moved to a fresh goroutine")

	var served sync.WaitGroup
	served.Add(1)
	go func() {
		defer served.Done()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return // the hub closed the connection
			}
		}
	}()
	require.NoError(t, h.Shutdown(context.Background()))
	served.Wait()
}

// The request a connection keeps has its handshake headers dropped and a
// context that lives as long as the connection.
func TestKeptRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/hub?x=1", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Key", "k")
	r.Header.Set("Cookie", "a=b")
	r.RemoteAddr = "127.0.0.9:1234"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := keepRequest(r, ctx)
	kept := k.request()
	require.Same(t, kept, k.request(), "built once")
	require.Equal(t, "a=b", kept.Header.Get("Cookie"))
	require.Empty(t, kept.Header.Get("Upgrade"))
	require.Empty(t, kept.Header.Get("Sec-WebSocket-Key"))
	require.Equal(t, "1", kept.URL.Query().Get("x"))
	require.Equal(t, "GET", kept.Method)
	require.Equal(t, "127.0.0.9:1234", kept.RemoteAddr)
	require.Equal(t, r.Host, kept.Host)
	require.Equal(t, ctx, kept.Context())
	require.Equal(t, "websocket", r.Header.Get("Upgrade"), "the original request is left alone")
}

// Right after the handshake, a quiet connection's reader moves to a fresh
// goroutine at once, without waiting for the idle time (2 s by default):
// the handshake's stack is not kept through a burst of new connections.
func TestReaderLeavesTheHandshakeStackAtOnce(t *testing.T) {
	h, err := New(echoHub{}, WithLogger(slog.New(slog.DiscardHandler)), WithKeepAliveInterval(Disabled))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub", nil)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"json","version":1}`+"\x1e")))
	_, _, err = ws.ReadMessage()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*conn).continueServing")
	}, time.Second, 10*time.Millisecond, "the reader moved to a fresh goroutine well before the idle time")
	ws.Close() // or Shutdown would wait for its answer to the close frame
	require.NoError(t, h.Shutdown(context.Background()))
}
