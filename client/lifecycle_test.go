package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// events records the client's callbacks.
type events struct {
	reconnecting chan error
	reconnected  chan string
	closed       chan error
}

func watch(cl *client.Client) *events {
	e := &events{reconnecting: make(chan error, 8), reconnected: make(chan string, 8), closed: make(chan error, 8)}
	cl.OnReconnecting(func(err error) { e.reconnecting <- err })
	cl.OnReconnected(func(id string) { e.reconnected <- id })
	cl.OnClosed(func(err error) { e.closed <- err })
	return e
}

// every is a reconnect policy: every d, for up to n attempts.
func every(d time.Duration, n int) client.Option {
	return client.WithReconnectPolicy(func(rc client.RetryContext) (time.Duration, bool) {
		return d, rc.PreviousRetryCount < n
	})
}

// gate answers negotiate with 503 while down is set, counting refusals.
type gate struct {
	down    atomic.Bool
	refused atomic.Int32
}

func (g *gate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() && strings.HasSuffix(r.URL.Path, "/negotiate") {
			g.refused.Add(1)
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestReconnectAfterServerRestart(t *testing.T) {
	for _, cb := range []combo{combos[0], combos[2], combos[4]} {
		t.Run(cb.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			first := serveOn(t, ln, newTestHub(), nil)

			cl := newClient(t, first.URL, cb, every(20*time.Millisecond, 500))
			ev := watch(cl)
			start(t, cl)
			oldID := cl.ConnectionID()
			require.NoError(t, cl.Invoke(ctxT(t), nil, "Add", 1, 2))

			// The server stops: Shutdown sends a Close that allows
			// reconnecting, then nothing listens.
			first.close()
			err = recv(t, ev.reconnecting, "OnReconnecting")
			require.Error(t, err)
			if cb.transport == transport.WebSockets {
				// Over HTTP transports, the Close races with the end of
				// the server: a long-polling client may be between
				// polls, and a POST still waiting for its answer fails
				// (which ends the connection, as in the .NET client).
				var ce *client.CloseError
				require.ErrorAs(t, err, &ce)
				assert.True(t, ce.AllowReconnect)
			}
			assert.Equal(t, client.Reconnecting, cl.State())
			require.ErrorIs(t, cl.Invoke(ctxT(t), nil, "Add", 1, 2), client.ErrNotConnected)

			// A new server on the same address.
			var ln2 net.Listener
			require.Eventually(t, func() bool {
				ln2, err = net.Listen("tcp", addr)
				return err == nil
			}, wait, 10*time.Millisecond)
			serveOn(t, ln2, newTestHub(), nil)

			newID := recv(t, ev.reconnected, "OnReconnected")
			assert.NotEqual(t, oldID, newID, "a reconnect is a new connection")
			assert.Equal(t, newID, cl.ConnectionID())
			assert.Equal(t, client.Connected, cl.State())
			var sum int
			require.NoError(t, cl.Invoke(ctxT(t), &sum, "Add", 2, 3))
			assert.Equal(t, 5, sum)
			assert.Empty(t, ev.closed)
		})
	}
}

func TestReconnectGivesUp(t *testing.T) {
	g := &gate{}
	srv := startServer(t, newTestHub(), g.wrap)
	proxy := newDropProxy(t, srv.srv.Listener.Addr().String())
	cl := newClient(t, proxy.hubURL(), combos[0], client.WithAutomaticReconnect(time.Millisecond, 5*time.Millisecond, 10*time.Millisecond))
	ev := watch(cl)
	start(t, cl)

	g.down.Store(true)
	proxy.cut() // a lost connection, no Close message
	lost := recv(t, ev.reconnecting, "OnReconnecting")
	require.Error(t, lost)

	err := recv(t, ev.closed, "OnClosed")
	require.ErrorIs(t, err, client.ErrReconnectFailed)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
	assert.Contains(t, se.Body, "down for maintenance")
	assert.Equal(t, int32(3), g.refused.Load(), "one attempt per delay")
	assert.Equal(t, client.Disconnected, cl.State())
	assert.Empty(t, ev.reconnected)

	// A closed client starts again.
	g.down.Store(false)
	start(t, cl)
	assert.Equal(t, client.Connected, cl.State())
}

func TestServerCloseWithoutReconnect(t *testing.T) {
	srv := startServer(t, newTestHub(), nil)
	cl := newClient(t, srv.URL, combos[1], every(time.Millisecond, 100))
	ev := watch(cl)
	start(t, cl)

	require.NoError(t, cl.Send(ctxT(t), "Kick"))
	err := recv(t, ev.closed, "OnClosed")
	var ce *client.CloseError
	require.ErrorAs(t, err, &ce)
	assert.False(t, ce.AllowReconnect)
	assert.Equal(t, "Connection closed with an error.", ce.Message)
	assert.Empty(t, ev.reconnecting, "a Close without allowReconnect ends the client for good")
	assert.Equal(t, client.Disconnected, cl.State())
}

func TestPendingCallsFailOnDisconnect(t *testing.T) {
	for _, cb := range []combo{combos[0], combos[3]} {
		t.Run(cb.String(), func(t *testing.T) {
			h := newTestHub()
			srv := startServer(t, h, nil)
			proxy := newDropProxy(t, srv.srv.Listener.Addr().String())
			cl := newClient(t, proxy.hubURL(), cb)
			ev := watch(cl)
			start(t, cl)
			ctx := ctxT(t)

			invoked := make(chan error, 1)
			go func() { invoked <- cl.Invoke(ctx, nil, "Block") }()
			recv(t, h.started, "Block to run")
			streamed := make(chan error, 1)
			items := make(chan int, 1)
			go func() {
				for n, err := range client.Stream[int](ctx, cl, "Infinite", "cut") {
					if err != nil {
						streamed <- err
						return
					}
					if n == 0 {
						items <- n
					}
				}
				streamed <- nil
			}()
			recv(t, items, "the first item")

			proxy.down()
			require.ErrorIs(t, recv(t, invoked, "Invoke to fail"), client.ErrConnectionClosed)
			require.ErrorIs(t, recv(t, streamed, "the stream to fail"), client.ErrConnectionClosed)
			err := recv(t, ev.closed, "OnClosed")
			require.Error(t, err, "a lost connection is not a clean close")
			assert.Equal(t, client.Disconnected, cl.State())
		})
	}
}

func TestServerTimeout(t *testing.T) {
	srv := startServer(t, newTestHub(), nil, signalr.WithKeepAliveInterval(time.Hour))
	cl := newClient(t, srv.URL, combos[0], client.WithServerTimeout(200*time.Millisecond))
	ev := watch(cl)
	start(t, cl)
	require.ErrorIs(t, recv(t, ev.closed, "OnClosed"), client.ErrServerTimeout)
}

func TestKeepAlive(t *testing.T) {
	// The server drops clients silent for 400 ms; pings every 50 ms keep
	// this one alive through a second of silence.
	srv := startServer(t, newTestHub(), nil, signalr.WithClientTimeout(400*time.Millisecond), signalr.WithKeepAliveInterval(50*time.Millisecond))
	cl := newClient(t, srv.URL, combos[0], client.WithKeepAliveInterval(50*time.Millisecond))
	ev := watch(cl)
	start(t, cl)
	time.Sleep(time.Second)
	var sum int
	require.NoError(t, cl.Invoke(ctxT(t), &sum, "Add", 1, 1))
	assert.Equal(t, 2, sum)
	assert.Empty(t, ev.closed)
}

func TestStopWhileReconnecting(t *testing.T) {
	g := &gate{}
	srv := startServer(t, newTestHub(), g.wrap)
	proxy := newDropProxy(t, srv.srv.Listener.Addr().String())
	cl := newClient(t, proxy.hubURL(), combos[0], every(10*time.Millisecond, 1_000_000))
	ev := watch(cl)
	start(t, cl)
	g.down.Store(true)
	proxy.cut()
	recv(t, ev.reconnecting, "OnReconnecting")
	require.Eventually(t, func() bool { return g.refused.Load() >= 2 }, wait, 5*time.Millisecond)

	require.NoError(t, cl.Stop(ctxT(t)))
	assert.NoError(t, recv(t, ev.closed, "OnClosed"), "Stop closes cleanly")
	assert.Equal(t, client.Disconnected, cl.State())
	assert.Empty(t, ev.reconnected)
}

func TestStopDuringStart(t *testing.T) {
	entered := make(chan struct{})
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	srv := startServer(t, newTestHub(), func(http.Handler) http.Handler { return hang })
	cl := newClient(t, srv.URL, combos[0])
	started := make(chan error, 1)
	go func() { started <- cl.Start(ctxT(t)) }()
	recv(t, entered, "negotiate")
	assert.Equal(t, client.Connecting, cl.State())
	require.NoError(t, cl.Stop(ctxT(t)))
	require.ErrorIs(t, recv(t, started, "Start to return"), client.ErrStopped)
	assert.Equal(t, client.Disconnected, cl.State())
}

func TestStartErrors(t *testing.T) {
	srv := startServer(t, newTestHub(), nil)
	ctx := ctxT(t)

	cl := newClient(t, srv.URL, combos[0])
	require.ErrorIs(t, cl.Send(ctx, "Echo", "x"), client.ErrNotConnected)
	start(t, cl)
	require.ErrorIs(t, cl.Start(ctx), client.ErrNotDisconnected)

	// Not a hub.
	bad := newClient(t, srv.srv.URL+"/nothing", combos[0])
	err := bad.Start(ctx)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusNotFound, se.StatusCode)
	assert.Equal(t, client.Disconnected, bad.State())

	// MessagePack is binary: Server-Sent Events cannot carry it.
	sse := newClient(t, srv.URL, combo{transport.ServerSentEvents, protocol.MessagePack{}})
	var te *client.TransportError
	require.ErrorAs(t, sse.Start(ctx), &te)
	assert.Contains(t, te.Error(), "ServerSentEvents: does not support Binary")

	// A server that offers only long polling, to a WebSocket-only client.
	lpOnly := startServer(t, newTestHub(), nil, signalr.WithTransports(transport.LongPolling))
	ws := newClient(t, lpOnly.URL, combos[0])
	require.ErrorAs(t, ws.Start(ctx), &te)
	assert.Contains(t, te.Error(), "WebSockets: not offered by the server")

	_, err = client.New("ftp://example.com/hub")
	require.Error(t, err)
	_, err = client.New(srv.URL, client.WithTransports("Carrier pigeon"))
	require.Error(t, err)
	_, err = client.New(srv.URL, client.WithSkipNegotiation())
	require.Error(t, err, "skipping negotiation needs WebSockets alone")
}

func TestStopIsIdempotent(t *testing.T) {
	srv := startServer(t, newTestHub(), nil)
	cl := newClient(t, srv.URL, combos[0])
	ev := watch(cl)
	require.NoError(t, cl.Stop(ctxT(t)), "stopping a client never started")
	start(t, cl)
	require.NoError(t, cl.Stop(ctxT(t)))
	require.NoError(t, cl.Stop(ctxT(t)))
	require.NoError(t, recv(t, ev.closed, "OnClosed"))
	assert.Empty(t, ev.closed, "OnClosed runs once")
	err := cl.Invoke(ctxT(t), nil, "Add", 1, 2)
	require.True(t, errors.Is(err, client.ErrNotConnected), "%v", err)
}

// clientGoroutines lists the goroutines running code of package client.
func clientGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "gosignalr/signalr/client.") {
			out = append(out, g)
		}
	}
	return out
}

// TestStopLeavesNoGoroutine stops a busy client, with a handler blocked
// on its context, an upload that never ends and a stream being read, and
// checks right away that none of its goroutines is left.
func TestStopLeavesNoGoroutine(t *testing.T) {
	for _, cb := range combos {
		t.Run(cb.String(), func(t *testing.T) {
			h := newTestHub()
			srv := startServer(t, h, nil)
			cl := newClient(t, srv.URL, cb, client.WithStatefulReconnect(0))
			inHandler := make(chan struct{}, 1)
			require.NoError(t, cl.On("receive", func(ctx context.Context, _ string) {
				inHandler <- struct{}{}
				<-ctx.Done()
				time.Sleep(500 * time.Millisecond) // slow to leave: Stop waits for it
			}))
			start(t, cl)
			ctx := ctxT(t)

			require.NoError(t, cl.Send(ctx, "Broadcast", "block"))
			recv(t, inHandler, "the handler")
			// Drain then holds the connection's one invocation slot on
			// the server, until the connection ends.
			require.NoError(t, cl.Send(ctx, "Drain", make(chan int))) // never closed
			items := make(chan int)
			streamDone := make(chan struct{})
			go func() {
				defer close(streamDone)
				for n, err := range client.Stream[int](ctx, cl, "Infinite", "stop") {
					if err != nil {
						return
					}
					if n == 0 {
						items <- n
					}
				}
			}()
			recv(t, items, "a stream item")

			require.NoError(t, cl.Stop(ctx))
			<-streamDone
			// Goroutines that have signalled their end may still be
			// returning; anything Stop did not wait for (the handler
			// above sleeps half a second) would still be there.
			var left []string
			for range 20 {
				if left = clientGoroutines(); len(left) == 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			assert.Empty(t, left)
		})
	}
}
