package client_test

import (
	"context"
	"fmt"
	"sync"
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

// statefulHub sends ticks from a goroutine of its own, so that sends go on
// while the client's socket is down, and cuts the client's TCP
// connections on request.
type statefulHub struct {
	hub   atomic.Pointer[signalr.Hub]
	proxy atomic.Pointer[dropProxy]
	drops atomic.Int32
	wg    sync.WaitGroup
}

func (*statefulHub) Echo(s string) string { return s }

func (s *statefulHub) StartTicks(c *signalr.Context, n, intervalMs int) {
	caller := s.hub.Load().Clients().Client(c.ConnectionID())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i := 1; i <= n; i++ {
			if err := caller.Send(context.Background(), "tick", i); err != nil {
				return
			}
			time.Sleep(time.Duration(intervalMs) * time.Millisecond)
		}
	}()
}

func (s *statefulHub) DropConnections() {
	s.drops.Add(1)
	s.proxy.Load().cut()
}

func TestStatefulResume(t *testing.T) {
	for _, proto := range []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}} {
		t.Run(proto.Name(), func(t *testing.T) {
			sh := &statefulHub{}
			srv := startServer(t, sh, nil, signalr.WithStatefulReconnect(0), signalr.WithKeepAliveInterval(200*time.Millisecond))
			proxy := newDropProxy(t, srv.srv.Listener.Addr().String())
			sh.hub.Store(srv.hub)
			sh.proxy.Store(proxy)
			t.Cleanup(sh.wg.Wait)

			cl := newClient(t, proxy.hubURL(), combo{transport.WebSockets, proto}, client.WithStatefulReconnect(0))
			ev := watch(cl)
			ticks := make(chan int, 100)
			require.NoError(t, client.On1(cl, "tick", func(n int) { ticks <- n }))
			start(t, cl)
			id := cl.ConnectionID()
			ctx := ctxT(t)

			const n = 30
			require.NoError(t, cl.Invoke(ctx, nil, "StartTicks", n, 10))
			require.Equal(t, 1, recv(t, ticks, "tick 1"))

			// Calls go on from another goroutine while the socket drops.
			echoes := make(chan error, 1)
			go func() {
				for i := range 20 {
					var s string
					if err := cl.Invoke(ctx, &s, "Echo", fmt.Sprint(i)); err != nil || s != fmt.Sprint(i) {
						echoes <- fmt.Errorf("echo %d: %q, %v", i, s, err)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				echoes <- nil
			}()

			// The server cuts the socket that carries this very call; its
			// completion arrives after the resume.
			require.NoError(t, cl.Invoke(ctx, nil, "DropConnections"))
			require.NoError(t, recv(t, echoes, "the echoes"))

			for want := 2; want <= n; want++ {
				require.Equal(t, want, recv(t, ticks, fmt.Sprintf("tick %d", want)), "every tick once, in order")
			}
			var s string
			require.NoError(t, cl.Invoke(ctx, &s, "Echo", "after"))
			assert.Equal(t, "after", s)
			assert.Empty(t, ticks, "no tick twice")

			assert.Equal(t, id, cl.ConnectionID(), "a resume keeps the connection")
			assert.Equal(t, int32(1), sh.drops.Load(), "the replayed call ran once")
			assert.GreaterOrEqual(t, proxy.connections(), 2, "the socket was reopened")
			assert.Empty(t, ev.reconnecting)
			assert.Empty(t, ev.closed)
		})
	}
}

// Without stateful reconnect on the server, the same drop ends the
// connection and automatic reconnect takes over.
func TestStatefulRefusedByServer(t *testing.T) {
	sh := &statefulHub{}
	srv := startServer(t, sh, nil)
	proxy := newDropProxy(t, srv.srv.Listener.Addr().String())
	sh.hub.Store(srv.hub)
	sh.proxy.Store(proxy)
	cl := newClient(t, proxy.hubURL(), combos[0], client.WithStatefulReconnect(0), every(10*time.Millisecond, 100))
	ev := watch(cl)
	start(t, cl)
	id := cl.ConnectionID()
	err := cl.Invoke(ctxT(t), nil, "DropConnections")
	require.ErrorIs(t, err, client.ErrConnectionClosed)
	recv(t, ev.reconnecting, "OnReconnecting")
	assert.NotEqual(t, id, recv(t, ev.reconnected, "OnReconnected"))
}
