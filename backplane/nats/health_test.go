package nats_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/nats"
)

// watch collects b's events until the test ends.
func watch(t *testing.T, b *nats.Backplane) <-chan backplane.Event {
	t.Helper()
	ch := make(chan backplane.Event, 1000)
	stop := b.Watch(func(ev backplane.Event) {
		select {
		case ch <- ev:
		default:
		}
	})
	t.Cleanup(stop)
	return ch
}

// nextEvent waits for an event with state s.
func nextEvent(t *testing.T, ch <-chan backplane.Event, s backplane.State) backplane.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.State == s {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %v event within 30s", s)
		}
	}
}

// waitDelivery publishes "after" on subject from pub until ch receives
// it, for up to 30s.
func waitDelivery(t *testing.T, pub *nats.Backplane, subject string, ch <-chan string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = pub.Publish(ctx, subject, []byte("after"))
		select {
		case s := <-ch:
			if s != "after" {
				t.Fatalf("%s: received %q, want %q", subject, s, "after")
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s: no delivery within 30s", subject)
		}
	}
}

// TestReplacesConnectionClosedByServer: a protocol error makes nats.go
// close its connection for good (here a control line longer than the
// server's 4 KiB limit). The Backplane made by Connect dials a new
// connection, subscribes again, and reports the interruption.
func TestReplacesConnectionClosedByServer(t *testing.T) {
	ns, _ := startServer(t, -1)
	url := ns.ClientURL()
	b := connect(t, url)
	pub := connect(t, url)
	events := watch(t, b)
	if s, err := b.Health(); s != backplane.Connected || err != nil {
		t.Fatalf("Health = %v, %v; want connected", s, err)
	}
	got := make(chan string, 100)
	if _, err := b.Subscribe("x", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}

	old := b.Conn()
	_ = old.Publish(strings.Repeat("a", 5000), nil)
	_ = old.Flush()
	deadline := time.Now().Add(10 * time.Second)
	for !old.IsClosed() {
		if time.Now().After(deadline) {
			t.Fatal("the server's -ERR did not close the connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ev := nextEvent(t, events, backplane.Disconnected); !ev.Lost || ev.Err == nil {
		t.Errorf("event on the closed connection: %+v, want Lost with a cause", ev)
	}

	waitDelivery(t, pub, "x", got)
	if ev := nextEvent(t, events, backplane.Connected); !ev.Lost {
		t.Errorf("event on the new connection: %+v, want Lost", ev)
	}
	if s, err := b.Health(); s != backplane.Connected || err != nil {
		t.Errorf("Health after recovery = %v, %v; want connected", s, err)
	}
	if b.Conn() == old || !b.Conn().IsConnected() {
		t.Error("Conn did not return the new connection")
	}
	// And the node publishes again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "x", []byte("again")); err != nil {
		t.Fatalf("Publish on the new connection: %v", err)
	}
	if s := recv(t, got); s != "again" && s != "after" {
		t.Fatalf("received %q", s)
	}
}

// TestRecoversAfterReconnectBudget: nats.go gives up after its reconnect
// attempts (here overridden to 2, 20ms apart, so that a short outage
// outlasts them; nats.go's own default is 60 attempts 2s apart) and closes
// the connection. The Backplane dials again until the server is back,
// and subscriptions receive again without any action.
func TestRecoversAfterReconnectBudget(t *testing.T) {
	ns, stop := startServer(t, -1)
	url := ns.ClientURL()
	port := ns.Addr().(*net.TCPAddr).Port
	b, err := nats.Connect(url, nats.WithNATSOptions(
		natsgo.MaxReconnects(2),
		natsgo.CustomReconnectDelay(func(int) time.Duration { return 20 * time.Millisecond })))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	events := watch(t, b)
	got := make(chan string, 100)
	if _, err := b.Subscribe("x", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}

	first := b.Conn()
	stop()
	nextEvent(t, events, backplane.Disconnected)
	deadline := time.Now().Add(10 * time.Second)
	for !first.IsClosed() {
		if time.Now().After(deadline) {
			t.Fatal("nats.go did not give up reconnecting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Longer than the budget: every connection made meanwhile gives up
	// too.
	time.Sleep(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "x", nil); err == nil || errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Publish during the outage: %v, want an error that is not ErrClosed", err)
	}
	if s, err := b.Health(); s != backplane.Disconnected || err == nil {
		t.Errorf("Health during the outage = %v, %v; want disconnected with a cause", s, err)
	}

	startServer(t, port)
	pub := connect(t, url)
	waitDelivery(t, pub, "x", got)
	nextEvent(t, events, backplane.Connected)
	if err := b.Publish(ctx, "x", []byte("back")); err != nil {
		t.Fatalf("Publish after the outage: %v", err)
	}
}

// proxy forwards TCP connections to a server until blackhole is called;
// from then on it reads and drops what either side sends, as a network
// that loses everything would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	holed  bool
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *proxy) pipe(from, to net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			from.Close()
			to.Close()
			return
		}
		p.mu.Lock()
		holed := p.holed
		p.mu.Unlock()
		if !holed {
			if _, err := to.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

func (p *proxy) blackhole() {
	p.mu.Lock()
	p.holed = true
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestPublishConfirmed: Publish returns nil only once the server has the
// message. Into a network that drops everything, it returns an error
// (after the publish timeout, or when ctx ends) instead of nil, and
// the subscriber indeed never gets the message.
func TestPublishConfirmed(t *testing.T) {
	ns, _ := startServer(t, -1)
	p := startProxy(t, ns.Addr().String())
	pub := connect(t, p.url(), nats.WithPublishTimeout(300*time.Millisecond))
	sub := connect(t, ns.ClientURL())
	got := make(chan string, 100)
	if _, err := sub.Subscribe("x", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, "x", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got); s != "before" {
		t.Fatalf("received %q", s)
	}

	p.blackhole()
	err := pub.Publish(ctx, "x", []byte("lost"))
	if err == nil || !errors.Is(err, natsgo.ErrTimeout) {
		t.Fatalf("Publish into a blackhole: %v, want an error wrapping natsgo.ErrTimeout", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := pub.Publish(short, "x", []byte("lost too")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish into a blackhole with a short context: %v, want context.DeadlineExceeded", err)
	}
	// Concurrent publishers all fail; none is told its message went out.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pub.Publish(ctx, "x", []byte("lost"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("a concurrent Publish into a blackhole returned nil")
		}
	}
	select {
	case s := <-got:
		t.Fatalf("the subscriber received %q through the blackhole", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestSlowConsumerReported: when handlers fall so far behind that
// nats.go drops messages, watchers hear which subject lost messages.
func TestSlowConsumerReported(t *testing.T) {
	ns, _ := startServer(t, -1)
	b := connect(t, ns.ClientURL())
	events := watch(t, b)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	if _, err := b.Subscribe("slow", func(*backplane.Message) { <-release }); err != nil {
		t.Fatal(err)
	}
	nc := dial(t, ns.ClientURL())
	for range 70000 { // more than the dispatch goroutine queues (65,536)
		if err := nc.Publish(nats.DefaultPrefix+".slow", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Lost && ev.Subject == "slow" && ev.State == backplane.Connected && errors.Is(ev.Err, natsgo.ErrSlowConsumer) {
				once.Do(func() { close(release) })
				return
			}
		case <-timeout:
			t.Fatal("no Lost event for the slow subscription")
		}
	}
}

// TestLongSubjectRefused: a subject too long for the server's protocol
// line is refused by Publish, Subscribe and Request, and the connection
// stays up (the server would close it for such a line).
func TestLongSubjectRefused(t *testing.T) {
	ns, _ := startServer(t, -1)
	b := connect(t, ns.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	atLimit := strings.Repeat("a", nats.MaxSubjectLen-len(nats.DefaultPrefix)-1)
	got := make(chan string, 10)
	if _, err := b.Subscribe(atLimit, func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatalf("Subscribe at the limit: %v", err)
	}
	if err := b.Publish(ctx, atLimit, []byte("ok")); err != nil {
		t.Fatalf("Publish at the limit: %v", err)
	}
	if s := recv(t, got); s != "ok" {
		t.Fatalf("received %q", s)
	}
	long := atLimit + "a"
	if err := b.Publish(ctx, long, nil); err == nil {
		t.Error("Publish past the limit succeeded")
	}
	if _, err := b.Subscribe(long, func(*backplane.Message) {}); err == nil {
		t.Error("Subscribe past the limit succeeded")
	}
	if _, err := b.Request(ctx, strings.Repeat("b", 5000), nil); err == nil {
		t.Error("Request with a 5000-byte subject succeeded")
	}
	if !b.Conn().IsConnected() {
		t.Fatal("the connection did not survive")
	}
	if err := b.Publish(ctx, atLimit, []byte("still")); err != nil {
		t.Fatalf("Publish after the refusals: %v", err)
	}
	if s := recv(t, got); s != "still" {
		t.Fatalf("received %q", s)
	}
}
