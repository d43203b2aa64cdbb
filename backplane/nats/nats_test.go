package nats_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/backplanetest"
	"github.com/gosignalr/signalr/backplane/nats"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs an embedded nats-server on 127.0.0.1:port (-1: any free
// port) until the test ends or the returned stop is called.
func startServer(t testing.TB, port int) (ns *server.Server, stop func()) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready after 5s")
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	}
	t.Cleanup(stop)
	return ns, stop
}

func dial(t *testing.T, url string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func connect(t *testing.T, url string, opts nats.Options) *nats.Backplane {
	t.Helper()
	b, err := nats.Connect(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestConformance runs the suite with two nodes on one server: a made by
// Connect (owning its connection), b by New over a connection of the
// test's.
func TestConformance(t *testing.T) {
	ns, _ := startServer(t, -1)
	for _, prefix := range []string{"", "tenant-1.hub_a"} {
		name := prefix
		if name == "" {
			name = "DefaultPrefix"
		}
		t.Run(name, func(t *testing.T) {
			backplanetest.Run(t, func(t *testing.T) (a, b backplane.Backplane) {
				opts := nats.Options{Prefix: prefix}
				na := connect(t, ns.ClientURL(), opts)
				nb := nats.New(dial(t, ns.ClientURL()), opts)
				t.Cleanup(func() { _ = nb.Close() })
				return na, nb
			})
		})
	}
}

func TestPrefixesSeparateBuses(t *testing.T) {
	ns, _ := startServer(t, -1)
	one := nats.New(dial(t, ns.ClientURL()), nats.Options{Prefix: "one"})
	two := nats.New(dial(t, ns.ClientURL()), nats.Options{Prefix: "two"})
	t.Cleanup(func() { _ = one.Close(); _ = two.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	gotOne := make(chan string, 10)
	gotTwo := make(chan string, 10)
	if _, err := one.Subscribe("x", func(m *backplane.Message) { gotOne <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Subscribe("x", func(m *backplane.Message) {
		gotTwo <- string(m.Data)
		if m.Reply != nil {
			_ = m.Reply([]byte("two"))
		}
	}); err != nil {
		t.Fatal(err)
	}

	if err := one.Publish(ctx, "x", []byte("for-one")); err != nil {
		t.Fatal(err)
	}
	if err := two.Publish(ctx, "x", []byte("for-two")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, gotOne); got != "for-one" {
		t.Fatalf("prefix one received %q", got)
	}
	if got := recv(t, gotTwo); got != "for-two" {
		t.Fatalf("prefix two received %q", got)
	}
	// Both buses have moved past the messages; nothing crossed over.
	if err := one.Publish(ctx, "x", []byte("end")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, gotOne); got != "end" {
		t.Fatalf("prefix one received %q, want %q", got, "end")
	}
	if len(gotTwo) != 0 {
		t.Fatalf("prefix two received %q from prefix one", <-gotTwo)
	}

	if reply, err := two.Request(ctx, "x", nil); err != nil || string(reply) != "two" {
		t.Fatalf("Request on two = %q, %v", reply, err)
	}
	<-gotTwo
	if _, err := one.Request(ctx, "y", nil); !errors.Is(err, backplane.ErrNoResponders) {
		t.Fatalf("Request on one to a subject only two has: %v, want ErrNoResponders", err)
	}

	// On the wire, the subject is the prefix, a dot, and the subject.
	raw := dial(t, ns.ClientURL())
	wire := make(chan *natsgo.Msg, 1)
	if _, err := raw.ChanSubscribe("signalr.g.room", wire); err != nil {
		t.Fatal(err)
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	def := nats.New(dial(t, ns.ClientURL()), nats.Options{})
	if err := def.Publish(ctx, "g.room", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-wire:
		if string(m.Data) != "hi" {
			t.Fatalf("wire message %q", m.Data)
		}
	case <-ctx.Done():
		t.Fatal("default prefix: nothing on signalr.g.room")
	}
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no message after 10s")
		return ""
	}
}

func TestInvalidSubjects(t *testing.T) {
	ns, _ := startServer(t, -1)
	b := connect(t, ns.ClientURL(), nats.Options{})
	ctx := context.Background()
	for _, s := range []string{"", "*", ">", "a.*", "a.>", "a..b", ".a", "a.", "a b", "a\tb", "a\r\nPUB x 1", "é", "a/b"} {
		if err := b.Publish(ctx, s, nil); err == nil || errors.Is(err, backplane.ErrClosed) {
			t.Errorf("Publish(%q): err = %v, want an invalid subject error", s, err)
		}
		if sub, err := b.Subscribe(s, func(*backplane.Message) {}); err == nil {
			_ = sub.Unsubscribe()
			t.Errorf("Subscribe(%q) succeeded", s)
		}
		if _, err := b.Request(ctx, s, nil); err == nil || errors.Is(err, backplane.ErrNoResponders) {
			t.Errorf("Request(%q): err = %v, want an invalid subject error", s, err)
		}
	}
	if _, err := nats.Connect(ns.ClientURL(), nats.Options{Prefix: "a.*"}); err == nil {
		t.Error("Connect with prefix a.* succeeded")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("New with prefix 'a b' did not panic")
			}
		}()
		nats.New(dial(t, ns.ClientURL()), nats.Options{Prefix: "a b"})
	}()
}

func TestConnOwnership(t *testing.T) {
	ns, _ := startServer(t, -1)

	nc := dial(t, ns.ClientURL())
	lent := nats.New(nc, nats.Options{})
	if err := lent.Close(); err != nil {
		t.Fatal(err)
	}
	if nc.IsClosed() {
		t.Fatal("Close closed a connection given to New without OwnConn")
	}

	owned := nats.New(dial(t, ns.ClientURL()), nats.Options{OwnConn: true})
	if err := owned.Close(); err != nil {
		t.Fatal(err)
	}
	if !owned.Conn().IsClosed() {
		t.Fatal("Close left an owned connection open")
	}

	dialled, err := nats.Connect(ns.ClientURL(), nats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dialled.Close(); err != nil {
		t.Fatal(err)
	}
	if !dialled.Conn().IsClosed() {
		t.Fatal("Close left the connection made by Connect open")
	}

	// A connection closed under the Backplane makes it fail with ErrClosed.
	nc2 := dial(t, ns.ClientURL())
	under := nats.New(nc2, nats.Options{})
	nc2.Close()
	ctx := context.Background()
	if err := under.Publish(ctx, "x", nil); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Publish on a closed connection: %v, want ErrClosed", err)
	}
	if _, err := under.Subscribe("x", func(*backplane.Message) {}); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Subscribe on a closed connection: %v, want ErrClosed", err)
	}
	if _, err := under.Request(ctx, "x", nil); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Request on a closed connection: %v, want ErrClosed", err)
	}
	if err := under.Close(); err != nil {
		t.Errorf("Close over a closed connection: %v", err)
	}
}

// TestOutage stops the server under two connected nodes and starts a new
// one on the same port: Publish and Request fail during the outage, and
// the subscriptions, including one made during the outage, receive again
// once the nodes have reconnected, without being made again.
func TestOutage(t *testing.T) {
	ns, stop := startServer(t, -1)
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()

	type events struct {
		errs       chan error
		reconnects atomic.Int32
	}
	node := func() (*nats.Backplane, *events) {
		ev := &events{errs: make(chan error, 100)}
		b := connect(t, url, nats.Options{
			OnError: func(err error) {
				select {
				case ev.errs <- err:
				default:
				}
			},
			OnReconnect: func() { ev.reconnects.Add(1) },
		})
		return b, ev
	}
	sub, subEv := node()
	pub, pubEv := node()

	got := make(chan string, 1000)
	if _, err := sub.Subscribe("outage", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe("outage.svc", func(m *backplane.Message) { _ = m.Reply([]byte("pong")) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, "outage", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got); s != "before" {
		t.Fatalf("received %q", s)
	}

	gone, err := sub.Subscribe("outage.gone", func(m *backplane.Message) { _ = m.Reply(nil) })
	if err != nil {
		t.Fatal(err)
	}
	if n := subEv.reconnects.Load() + pubEv.reconnects.Load(); n != 0 {
		t.Fatalf("OnReconnect called %d times for first connections made at once", n)
	}

	stop()

	// Publish fails once the client has noticed; it never buffers.
	deadline := time.Now().Add(5 * time.Second)
	var pubErr error
	for pubErr == nil {
		if time.Now().After(deadline) {
			t.Fatal("Publish still succeeds 5s after the server stopped")
		}
		pubErr = pub.Publish(ctx, "outage", []byte("during"))
		if pubErr == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !errors.Is(pubErr, natsgo.ErrConnectionReconnecting) || errors.Is(pubErr, backplane.ErrClosed) {
		t.Fatalf("Publish during the outage: %v, want natsgo.ErrConnectionReconnecting", pubErr)
	}
	start := time.Now()
	if _, err := pub.Request(ctx, "outage.svc", nil); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request during the outage: %v, want a prompt error", err)
	} else if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Request during the outage took %v", d)
	}
	for _, ev := range []*events{subEv, pubEv} {
		select {
		case err := <-ev.errs:
			if !strings.Contains(err.Error(), "disconnected") {
				t.Errorf("OnError during the outage: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("OnError not called for the disconnection")
		}
	}
	// Subscribing during the outage works; the server learns of it on
	// reconnection.
	late := make(chan string, 1000)
	if _, err := sub.Subscribe("outage.late", func(m *backplane.Message) { late <- string(m.Data) }); err != nil {
		t.Fatalf("Subscribe during the outage: %v", err)
	}

	if err := gone.Unsubscribe(); err != nil {
		t.Fatalf("Unsubscribe during the outage: %v", err)
	}

	startServer(t, port)

	// Poll until both nodes are back and the old subscription receives.
	waitDelivery(t, pub, "outage", got)
	waitDelivery(t, pub, "outage.late", late)
	if reply, err := pub.Request(ctx, "outage.svc", nil); err != nil || string(reply) != "pong" {
		t.Fatalf("Request after the outage = %q, %v", reply, err)
	}
	if _, err := pub.Request(ctx, "outage.gone", nil); !errors.Is(err, backplane.ErrNoResponders) {
		t.Fatalf("Request to a subscription ended during the outage: %v, want ErrNoResponders", err)
	}
	if subEv.reconnects.Load() == 0 || pubEv.reconnects.Load() == 0 {
		t.Errorf("OnReconnect calls: subscriber %d, publisher %d; want at least 1 each",
			subEv.reconnects.Load(), pubEv.reconnects.Load())
	}
}

// TestConnectRetriesFirstConnection: Connect succeeds with no server yet;
// the Backplane works once one is up.
func TestConnectRetriesFirstConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	var reconnects atomic.Int32
	b := connect(t, "nats://127.0.0.1:"+strconv.Itoa(port), nats.Options{OnReconnect: func() { reconnects.Add(1) }})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "early", nil); err == nil {
		t.Fatal("Publish succeeded with no server")
	}
	got := make(chan string, 100)
	if _, err := b.Subscribe("early", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatalf("Subscribe before the first connection: %v", err)
	}

	startServer(t, port)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = b.Publish(ctx, "early", []byte("up"))
		select {
		case <-got:
			if reconnects.Load() == 0 {
				t.Error("OnReconnect not called for the retried first connection")
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no delivery after the server started")
		}
	}
}
