package redis_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/backplanetest"
	"github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/redistest"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the outage tests make many.
	goredis.SetLogger(quietLogger{})
	goleak.VerifyTestMain(m)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// dial returns a go-redis client of the test's, closed when the test ends.
func dial(t *testing.T, srv *redistest.Server) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func connect(t *testing.T, url string, opts ...redis.Option) *redis.Backplane {
	t.Helper()
	b, err := redis.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestConformance runs the suite with two nodes on one server: a made by
// Connect (owning its client), b by New over a client of the test's.
func TestConformance(t *testing.T) {
	srv := redistest.Start(t, 0)
	for _, prefix := range []string{"", "tenant-1.hub_a"} {
		name := prefix
		if name == "" {
			name = "DefaultPrefix"
		}
		t.Run(name, func(t *testing.T) {
			backplanetest.Run(t, func(t *testing.T) (a, b backplane.Backplane) {
				opts := redis.WithPrefix(prefix)
				ra := connect(t, srv.URL(), opts)
				rb := redis.New(dial(t, srv), opts)
				t.Cleanup(func() { _ = rb.Close() })
				return ra, rb
			})
		})
	}
}

// TestPrefixes: Backplanes with different prefixes on one server are
// separate buses; those with the same prefix are one.
func TestPrefixes(t *testing.T) {
	srv := redistest.Start(t, 0)
	backplanetest.RunPrefixes(t, func(t *testing.T, prefix string) backplane.Backplane {
		b := redis.New(dial(t, srv), redis.WithPrefix(prefix))
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// TestWireChannel: on the wire, the channel is the prefix, a dot, and
// the subject; the message is framed (kind 1: a published message).
func TestWireChannel(t *testing.T) {
	srv := redistest.Start(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := dial(t, srv).Subscribe(ctx, "signalr.g.room", "tenant-1.hub.g.room")
	t.Cleanup(func() { _ = raw.Close() })
	for range 2 {
		if _, err := raw.Receive(ctx); err != nil { // the confirmations
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ prefix, channel string }{{"", "signalr.g.room"}, {"tenant-1.hub", "tenant-1.hub.g.room"}} {
		b := redis.New(dial(t, srv), redis.WithPrefix(tc.prefix))
		t.Cleanup(func() { _ = b.Close() })
		if err := b.Publish(ctx, "g.room", []byte("hi")); err != nil {
			t.Fatal(err)
		}
		m, err := raw.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("prefix %q: nothing on %s: %v", tc.prefix, tc.channel, err)
		}
		if m.Channel != tc.channel || m.Payload != "\x01hi" {
			t.Fatalf("prefix %q: wire message %q on %q, want %q on %q", tc.prefix, m.Payload, m.Channel, "\x01hi", tc.channel)
		}
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

// TestInvalidPrefix: a prefix that breaks the subject rule, or a URL
// that is not Redis's, is refused by Connect and New (subjects
// themselves are checked by the conformance suite).
func TestInvalidPrefix(t *testing.T) {
	srv := redistest.Start(t, 0)
	for _, prefix := range []string{"a.*", "a b", ">", "a..b", "é", "a:b"} {
		if b, err := redis.Connect(srv.URL(), redis.WithPrefix(prefix)); err == nil {
			_ = b.Close()
			t.Errorf("Connect with prefix %q succeeded", prefix)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with prefix %q did not panic", prefix)
				}
			}()
			redis.New(dial(t, srv), redis.WithPrefix(prefix))
		}()
	}
	if _, err := redis.Connect("http://" + srv.Addr()); err == nil {
		t.Error("Connect with an http URL succeeded")
	}
}

func TestClientOwnership(t *testing.T) {
	srv := redistest.Start(t, 0)
	ctx := context.Background()

	c := dial(t, srv)
	lent := redis.New(c)
	if err := lent.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Close closed a client given to New without OwnClient: %v", err)
	}

	owned := redis.New(dial(t, srv), redis.WithOwnClient())
	if err := owned.Close(); err != nil {
		t.Fatal(err)
	}
	if err := owned.Client().Ping(ctx).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Fatalf("Close left an owned client open: Ping = %v", err)
	}

	dialled, err := redis.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := dialled.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dialled.Client().Ping(ctx).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Fatalf("Close left the client made by Connect open: Ping = %v", err)
	}

}

// TestClientClosedUnderneath: a client closed by its owner under the
// Backplane makes it fail with ErrClosed.
func TestClientClosedUnderneath(t *testing.T) {
	srv := redistest.Start(t, 0)
	for _, connected := range []bool{false, true} {
		name := "AtOnce"
		if connected {
			name = "OnceConnected"
		}
		t.Run(name, func(t *testing.T) {
			backplanetest.RunConnClosed(t, func(t *testing.T) backplane.Backplane {
				c := dial(t, srv)
				b := redis.New(c)
				t.Cleanup(func() { _ = b.Close() })
				if connected {
					waitFor(t, 10*time.Second, "connected", func() bool { s, _ := b.Health(); return s == backplane.Connected })
				}
				_ = c.Close()
				return b
			})
		})
	}
}

// TestOneConnection: every subscription of a Backplane shares its one
// pub/sub connection, and a channel is subscribed once however many local
// subscriptions it has.
func TestOneConnection(t *testing.T) {
	srv := redistest.Start(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := dial(t, srv)
	b := connect(t, srv.URL(), redis.WithPrefix("one"))

	numsub := func(channel string) int64 {
		t.Helper()
		n, err := admin.PubSubNumSub(ctx, channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n[channel]
	}
	var subs []backplane.Subscription
	got := make(chan string, 100)
	for i := range 3 {
		s, err := b.Subscribe("shared", func(m *backplane.Message) { got <- string(m.Data) })
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
		if n := numsub("one.shared"); n != 1 {
			t.Fatalf("after %d local subscriptions, %d pub/sub clients on the channel; want 1", i+1, n)
		}
	}
	for _, subject := range []string{"other.a", "other.b", "other.c"} {
		if _, err := b.Subscribe(subject, func(*backplane.Message) {}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	pubsubConns := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if strings.Contains(line, " sub=") && !strings.Contains(line, " sub=0 ") {
			pubsubConns++
		}
	}
	if pubsubConns != 1 {
		t.Fatalf("%d pub/sub connections for one Backplane with 6 subscriptions on 4 channels; want 1:\n%s", pubsubConns, list)
	}
	if err := b.Publish(ctx, "shared", []byte("m")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		recv(t, got)
	}

	// The channel stays until its last local subscription ends.
	for i, s := range subs {
		if err := s.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
		want := int64(1)
		if i == len(subs)-1 {
			want = 0
		}
		if n := numsub("one.shared"); n != want {
			t.Fatalf("after %d of 3 Unsubscribe calls, %d pub/sub clients on the channel; want %d", i+1, n, want)
		}
	}
}

// TestRequestToEndedSubscription: a request queued for a subscription
// that ends before its handler takes it is answered "no responders" by
// the node, at once rather than at the requester's deadline.
func TestRequestToEndedSubscription(t *testing.T) {
	srv := redistest.Start(t, 0)
	a := connect(t, srv.URL())
	b := connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	sub, err := b.Subscribe("busy", func(m *backplane.Message) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, "busy", []byte("hold")); err != nil {
		t.Fatal(err)
	}
	<-entered
	errc := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx, "busy", []byte("queued"))
		errc <- err
	}()
	// Let the request reach b's queue, then end the subscription while
	// its handler is still busy.
	time.Sleep(200 * time.Millisecond)
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	close(release)
	start := time.Now()
	select {
	case err := <-errc:
		if !errors.Is(err, backplane.ErrNoResponders) {
			t.Fatalf("Request to a subscription that ended: %v, want ErrNoResponders", err)
		}
		t.Logf("answered %v after the subscription ended", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("Request to a subscription that ended waits for its deadline")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1 (the request came after Unsubscribe)", n)
	}
}

// TestOutage runs the outage suite on a redis-server that is killed and
// started again on the same port. Beyond the suite: OnError tells why the
// nodes lost their server ("pub/sub connection lost", or "cannot reach
// Redis" before the first connection), and OnReconnect hears of every
// return, not of a first connection made at once.
func TestOutage(t *testing.T) {
	backplanetest.RunOutage(t, func(t *testing.T) backplanetest.Server {
		// Reserve a port, then leave it free for the server.
		probe := redistest.Start(t, 0)
		probe.Stop()
		var srv *redistest.Server
		var nodes []*backplanetest.Events
		return backplanetest.Server{
			Start: func(t *testing.T) { srv = redistest.Start(t, probe.Port) },
			Stop:  func(*testing.T) { srv.Stop() },
			NewNode: func(t *testing.T) backplane.Backplane {
				cb := &backplanetest.Events{}
				nodes = append(nodes, cb)
				return connect(t, probe.URL(), redis.WithErrorHandler(cb.OnError), redis.WithReconnectHandler(cb.OnReconnect))
			},
			Down: func(t *testing.T, first bool, err error) {
				want := "pub/sub connection lost"
				if first {
					want = "cannot reach Redis"
				}
				for i, cb := range nodes {
					if n := cb.Reconnects(); n != 0 {
						t.Errorf("node %d: OnReconnect called %d times before any reconnection", i, n)
					}
					waitFor(t, 10*time.Second, "OnError: "+want, func() bool { return cb.Heard(want) })
				}
			},
			Up: func(t *testing.T, first bool) {
				for _, cb := range nodes {
					waitFor(t, 10*time.Second, "OnReconnect", func() bool { return cb.Reconnects() > 0 })
				}
			},
		}
	})
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
