package client_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// wait bounds every wait of the tests: a hang fails instead of stalling.
const wait = 10 * time.Second

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// combo is one transport and protocol the server offers.
type combo struct {
	transport string
	proto     protocol.HubProtocol
}

func (c combo) String() string { return c.transport + "/" + c.proto.Name() }

// combos are every transport × protocol pair: MessagePack is binary, so
// it never travels over Server-Sent Events.
var combos = []combo{
	{transport.WebSockets, protocol.JSON{}},
	{transport.WebSockets, protocol.MessagePack{}},
	{transport.ServerSentEvents, protocol.JSON{}},
	{transport.LongPolling, protocol.JSON{}},
	{transport.LongPolling, protocol.MessagePack{}},
}

// Point travels as a struct argument and result.
type Point struct {
	X    int    `json:"x"`
	Y    int    `json:"y"`
	Name string `json:"name"`
}

// testHub is the hub of most tests.
type testHub struct {
	hub      *signalr.Hub
	canceled chan string // names of Infinite streams whose context ended
	uploads  chan string // how each upload ended
	started  chan struct{}
}

func newTestHub() *testHub {
	return &testHub{canceled: make(chan string, 16), uploads: make(chan string, 16), started: make(chan struct{}, 16)}
}

func (*testHub) Add(a, b int) int                 { return a + b }
func (*testHub) Echo(s string) string             { return s }
func (*testHub) Mirror(p Point) Point             { return Point{X: p.Y, Y: p.X, Name: p.Name} }
func (*testHub) Nothing()                         {}
func (*testHub) ID(c *signalr.Context) string     { return c.ConnectionID() }
func (*testHub) Fail(msg string) error            { return signalr.NewHubError("%s", msg) }
func (*testHub) Kick(c *signalr.Context)          { c.Abort() }
func (*testHub) Header(c *signalr.Context) string { return c.Request().Header.Get("X-Test") }

// Block waits until the connection ends, and tells the test it started.
func (h *testHub) Block(c *signalr.Context) {
	h.started <- struct{}{}
	<-c.Done()
}

func (*testHub) Broadcast(c *signalr.Context, msg string) error {
	return c.Clients().All().Send(c, "receive", msg)
}

func (*testHub) Notify(c *signalr.Context, name string, n int, p Point) error {
	return c.Clients().Caller().Send(c, "notified", name, n, p)
}

func (*testHub) Join(c *signalr.Context, group string) error {
	return c.Groups().Add(c, c.ConnectionID(), group)
}

func (*testHub) SendToGroup(c *signalr.Context, group, from, msg string) error {
	return c.Clients().Group(group).Send(c, "groupMessage", from, msg)
}

// Counter streams 1..n.
func (*testHub) Counter(ctx context.Context, n int) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 1; i <= n; i++ {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// Points streams n Points.
func (*testHub) Points(n int) iter.Seq[Point] {
	return func(yield func(Point) bool) {
		for i := range n {
			if !yield(Point{X: i, Y: -i, Name: "p"}) {
				return
			}
		}
	}
}

// FailAfter streams n items, then fails.
func (*testHub) FailAfter(n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := 1; i <= n; i++ {
			if !yield(i, nil) {
				return
			}
		}
		yield(0, signalr.NewHubError("stream broke after %d", n))
	}
}

// Infinite streams until the client cancels, then reports name.
func (h *testHub) Infinite(ctx context.Context, name string) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		defer func() { h.canceled <- name }()
		for i := 0; ; i++ {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// Sum adds the items of an upload.
func (h *testHub) Sum(items <-chan int) int {
	s := 0
	for n := range items {
		s += n
	}
	return s
}

// Drain reads an upload until it ends or the connection does.
func (h *testHub) Drain(ctx context.Context, items <-chan int) {
	for {
		select {
		case _, ok := <-items:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// Collect gathers an upload that may end with an error.
func (h *testHub) Collect(items iter.Seq2[string, error]) ([]string, error) {
	var out []string
	for s, err := range items {
		if err != nil {
			h.uploads <- "error: " + err.Error()
			return out, nil
		}
		out = append(out, s)
	}
	h.uploads <- "complete"
	return out, nil
}

// Scale multiplies each uploaded item by k and streams it back.
func (*testHub) Scale(ctx context.Context, k int, items <-chan int) <-chan int {
	out := make(chan int)
	go func() {
		defer close(out)
		for n := range items {
			select {
			case out <- n * k:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// AskDouble asks the caller's "double" handler for a client result.
func (*testHub) AskDouble(c *signalr.Context, n int) (int, error) {
	ctx, cancel := context.WithTimeout(c, wait)
	defer cancel()
	var r int
	if err := c.Clients().Caller().Invoke(ctx, &r, "double", n); err != nil {
		return 0, signalr.NewHubError("%v", err)
	}
	return r, nil
}

// AskPoint asks the caller's "point" handler for a struct.
func (*testHub) AskPoint(c *signalr.Context, name string) (Point, error) {
	ctx, cancel := context.WithTimeout(c, wait)
	defer cancel()
	var p Point
	if err := c.Clients().Caller().Invoke(ctx, &p, "point", name); err != nil {
		return Point{}, signalr.NewHubError("%v", err)
	}
	return p, nil
}

// AskMissing asks for a client method the caller does not have.
func (*testHub) AskMissing(c *signalr.Context) (string, error) {
	ctx, cancel := context.WithTimeout(c, wait)
	defer cancel()
	err := c.Clients().Caller().Invoke(ctx, nil, "missing")
	var ce *signalr.ClientError
	if errors.As(err, &ce) {
		return ce.Message, nil
	}
	return "", signalr.NewHubError("unexpected: %v", err)
}

// server is a hub served by httptest.
type server struct {
	hub *signalr.Hub
	srv *httptest.Server
	URL string // the hub's URL
}

// startServer serves hub at /hub. wrap, if not nil, wraps the handler.
func startServer(t *testing.T, hub any, wrap func(http.Handler) http.Handler, opts ...signalr.Option) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return serveOn(t, ln, hub, wrap, opts...)
}

// serveOn serves hub at /hub on ln.
func serveOn(t *testing.T, ln net.Listener, hub any, wrap func(http.Handler) http.Handler, opts ...signalr.Option) *server {
	t.Helper()
	// A long-polling client that vanishes is dropped after a second, not
	// the default 15, so that its goroutines are gone when the test ends.
	h, err := signalr.New(hub, append([]signalr.Option{
		signalr.WithLogger(quiet()),
		signalr.WithLongPollTimeouts(5*time.Second, time.Second),
	}, opts...)...)
	require.NoError(t, err)
	if th, ok := hub.(*testHub); ok {
		th.hub = h
	}
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	var handler http.Handler = mux
	if wrap != nil {
		handler = wrap(mux)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	s := &server{hub: h, srv: srv, URL: srv.URL + "/hub"}
	t.Cleanup(s.close)
	return s
}

// close shuts the hub down and closes the server; it may be called twice.
func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.hub.Shutdown(ctx)
	s.srv.CloseClientConnections()
	s.srv.Close()
	// Wait for connections whose client vanished to time out.
	for ctx.Err() == nil {
		if n, err := s.hub.ConnectionCount(ctx); err != nil || n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newClient returns a client for url over c's transport and protocol,
// stopped when the test ends.
func newClient(t *testing.T, url string, c combo, opts ...client.Option) *client.Client {
	t.Helper()
	cl, err := client.New(url, append([]client.Option{
		client.WithLogger(quiet()),
		client.WithTransports(c.transport),
		client.WithProtocol(c.proto),
	}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, cl.Stop(ctx))
	})
	return cl
}

// start starts cl within the test timeout.
func start(t *testing.T, cl *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, cl.Start(ctx))
}

// ctxT is a context bounded by the test timeout.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// recv takes one value from ch within the test timeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// dropProxy forwards TCP connections to a target and can cut them all at
// once, as a network failure would: no close frames, no Close message.
type dropProxy struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	wg       sync.WaitGroup
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

func (p *dropProxy) Addr() string { return p.ln.Addr().String() }

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
		p.accepted++
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

// cut closes every proxied connection and returns how many there were.
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

// down closes the listener, so that nothing can connect any more, then
// cuts every connection.
func (p *dropProxy) down() {
	p.ln.Close()
	p.cut()
}

// hubURL is the URL of srv's hub through the proxy.
func (p *dropProxy) hubURL() string { return "http://" + p.Addr() + "/hub" }

// connections is how many client connections the proxy has accepted.
func (p *dropProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}
