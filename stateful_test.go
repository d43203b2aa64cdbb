package signalr_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
)

// dropProxy forwards loopback TCP connections to a target and can cut all
// of them at once, as a network failure would (no close frames).
type dropProxy struct {
	ln     net.Listener
	target string
	drops  atomic.Int32 // DropConnections calls
	cutN   atomic.Int32 // TCP connections cut by them
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &dropProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *dropProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *dropProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *dropProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut closes every proxied connection.
func (p *dropProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	return n
}

// statefulHub is the hub of the stateful reconnect scenario.
type statefulHub struct {
	// Set after the server starts; atomics because the test's writes and
	// the handlers' reads are ordered only through the network.
	hub   atomic.Pointer[signalr.Hub]
	proxy atomic.Pointer[dropProxy]
	wg    sync.WaitGroup
}

func (*statefulHub) Echo(s string) string                      { return s }
func (*statefulHub) GetConnectionId(c *signalr.Context) string { return c.ConnectionID() }

func (*statefulHub) JoinGroup(c *signalr.Context, group string) error {
	return c.Groups().Add(c, c.ConnectionID(), group)
}

func (*statefulHub) SendToGroup(c *signalr.Context, group, msg string) error {
	return c.Clients().Group(group).Send(c, "receive", msg)
}

// StartTicks sends tick 1..n to the caller, one every interval, from
// another goroutine, so that sends go on while the socket is down.
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

// DropConnections cuts every TCP connection through the proxy.
func (s *statefulHub) DropConnections() {
	p := s.proxy.Load()
	p.drops.Add(1)
	p.cutN.Add(int32(p.cut()))
}

func TestStatefulReconnectOfficialClient(t *testing.T) {
	nodetest.Require(t)
	for _, proto := range []string{"json", "messagepack"} {
		t.Run(proto, func(t *testing.T) {
			sh := &statefulHub{}
			h, url := hubtest.StartHub(t, sh, signalr.WithStatefulReconnect(0), signalr.WithKeepAliveInterval(500*time.Millisecond))
			proxy := newDropProxy(t, strings.TrimPrefix(url, "http://"))
			sh.hub.Store(h)
			sh.proxy.Store(proxy)
			t.Cleanup(sh.wg.Wait)
			passed, _ := hubtest.RunNodeFile(t, "stateful.test.mjs", proxy.URL(), "WebSockets", proto)
			require.Equal(t, 1, passed)
			require.Equal(t, int32(1), proxy.drops.Load(), "the replayed DropConnections call must not run twice")
			require.Positive(t, proxy.cutN.Load(), "the client's socket was cut")
		})
	}
}

func TestNegotiateStatefulReconnect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []signalr.Option
		query  string
		expect bool
	}{
		{"asked and allowed", []signalr.Option{signalr.WithStatefulReconnect(0)}, "&useStatefulReconnect=true", true},
		{"not asked", []signalr.Option{signalr.WithStatefulReconnect(0)}, "", false},
		{"not allowed", nil, "&useStatefulReconnect=true", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := hubtest.StartHub(t, hubtest.Hub{}, tc.opts...)
			resp, err := http.Post(url+"/hub/negotiate?negotiateVersion=1"+tc.query, "", nil)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tc.expect, strings.Contains(string(body), `"useStatefulReconnect":true`), "%s", body)
		})
	}
}
