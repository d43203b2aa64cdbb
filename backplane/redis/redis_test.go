package redis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
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

func connect(t *testing.T, url string, opts redis.Options) *redis.Backplane {
	t.Helper()
	b, err := redis.Connect(url, opts)
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
				opts := redis.Options{Prefix: prefix}
				ra := connect(t, srv.URL(), opts)
				rb := redis.New(dial(t, srv), opts)
				t.Cleanup(func() { _ = rb.Close() })
				return ra, rb
			})
		})
	}
}

func TestPrefixesSeparateBuses(t *testing.T) {
	srv := redistest.Start(t, 0)
	one := redis.New(dial(t, srv), redis.Options{Prefix: "one"})
	two := redis.New(dial(t, srv), redis.Options{Prefix: "two"})
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

	// On the wire, the channel is the prefix, a dot, and the subject; the
	// message is framed (kind 1: a published message).
	raw := dial(t, srv).Subscribe(ctx, "signalr.g.room")
	t.Cleanup(func() { _ = raw.Close() })
	if _, err := raw.Receive(ctx); err != nil { // the confirmation
		t.Fatal(err)
	}
	def := redis.New(dial(t, srv), redis.Options{})
	t.Cleanup(func() { _ = def.Close() })
	if err := def.Publish(ctx, "g.room", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := raw.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("default prefix: nothing on signalr.g.room: %v", err)
	}
	if m.Payload != "\x01hi" {
		t.Fatalf("wire message %q, want %q", m.Payload, "\x01hi")
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
	srv := redistest.Start(t, 0)
	b := connect(t, srv.URL(), redis.Options{})
	ctx := context.Background()
	for _, s := range []string{"", "*", ">", "a.*", "a.>", "a..b", ".a", "a.", "a b", "a\tb", "a\r\nPUBLISH x 1", "é", "a/b", "a:b", "a[bc]", "a?"} {
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
	if _, err := redis.Connect(srv.URL(), redis.Options{Prefix: "a.*"}); err == nil {
		t.Error("Connect with prefix a.* succeeded")
	}
	if _, err := redis.Connect("http://"+srv.Addr(), redis.Options{}); err == nil {
		t.Error("Connect with an http URL succeeded")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("New with prefix 'a b' did not panic")
			}
		}()
		redis.New(dial(t, srv), redis.Options{Prefix: "a b"})
	}()
}

func TestClientOwnership(t *testing.T) {
	srv := redistest.Start(t, 0)
	ctx := context.Background()

	c := dial(t, srv)
	lent := redis.New(c, redis.Options{})
	if err := lent.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Close closed a client given to New without OwnClient: %v", err)
	}

	owned := redis.New(dial(t, srv), redis.Options{OwnClient: true})
	if err := owned.Close(); err != nil {
		t.Fatal(err)
	}
	if err := owned.Client().Ping(ctx).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Fatalf("Close left an owned client open: Ping = %v", err)
	}

	dialled, err := redis.Connect(srv.URL(), redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dialled.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dialled.Client().Ping(ctx).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Fatalf("Close left the client made by Connect open: Ping = %v", err)
	}

	// A client closed under the Backplane makes it fail with ErrClosed.
	c2 := dial(t, srv)
	under := redis.New(c2, redis.Options{})
	_ = c2.Close()
	if err := under.Publish(ctx, "x", nil); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Publish on a closed client: %v, want ErrClosed", err)
	}
	if _, err := under.Request(ctx, "x", nil); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Request on a closed client: %v, want ErrClosed", err)
	}
	if err := under.Close(); err != nil {
		t.Errorf("Close over a closed client: %v", err)
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
	b := connect(t, srv.URL(), redis.Options{Prefix: "one"})

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
	a := connect(t, srv.URL(), redis.Options{})
	b := connect(t, srv.URL(), redis.Options{})
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

// TestOutage kills the server under two connected nodes while one
// publishes continuously, and starts a new one on the same port: Publish
// and Request fail during the outage, and the subscriptions, including
// one made during the outage, receive again once the nodes have
// reconnected, without being made again.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t, 0)
	url := srv.URL()

	type events struct {
		mu         sync.Mutex
		errs       []error
		reconnects atomic.Int32
	}
	node := func() (*redis.Backplane, *events) {
		ev := &events{}
		b := connect(t, url, redis.Options{
			OnError: func(err error) {
				ev.mu.Lock()
				ev.errs = append(ev.errs, err)
				ev.mu.Unlock()
			},
			OnReconnect: func() { ev.reconnects.Add(1) },
		})
		return b, ev
	}
	sub, subEv := node()
	pub, pubEv := node()

	got := make(chan string, 100000)
	if _, err := sub.Subscribe("outage", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe("outage.svc", func(m *backplane.Message) { _ = m.Reply([]byte("pong")) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, "outage", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got); s != "before" {
		t.Fatalf("received %q", s)
	}
	if reply, err := pub.Request(ctx, "outage.svc", nil); err != nil || string(reply) != "pong" {
		t.Fatalf("Request before the outage = %q, %v", reply, err)
	}
	gone, err := sub.Subscribe("outage.gone", func(m *backplane.Message) { _ = m.Reply(nil) })
	if err != nil {
		t.Fatal(err)
	}
	if n := subEv.reconnects.Load() + pubEv.reconnects.Load(); n != 0 {
		t.Fatalf("OnReconnect called %d times for first connections made at once", n)
	}

	// Traffic all along: a publisher that never stops.
	var sent, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	trafficDone := make(chan struct{})
	stopTraffic := make(chan struct{})
	var trafficGot atomic.Int64
	if _, err := sub.Subscribe("outage.traffic", func(m *backplane.Message) { trafficGot.Add(1) }); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(trafficDone)
		for {
			select {
			case <-stopTraffic:
				return
			default:
			}
			if err := pub.Publish(ctx, "outage.traffic", []byte("t")); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, &err)
				time.Sleep(5 * time.Millisecond)
			} else {
				sent.Add(1)
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)

	srv.Stop()
	stoppedAt := time.Now()

	// Publish fails once the server is gone; it never buffers.
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
	if errors.Is(pubErr, backplane.ErrClosed) {
		t.Fatalf("Publish during the outage: %v, want an outage error, not ErrClosed", pubErr)
	}
	t.Logf("Publish during the outage (%v after the kill): %v", time.Since(stoppedAt), pubErr)
	start := time.Now()
	if _, err := pub.Request(ctx, "outage.svc", nil); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request during the outage: %v, want a prompt error", err)
	} else if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Request during the outage took %v", d)
	} else {
		t.Logf("Request during the outage: %v", err)
	}
	for name, ev := range map[string]*events{"subscriber": subEv, "publisher": pubEv} {
		waitFor(t, 5*time.Second, name+": OnError for the lost connection", func() bool {
			ev.mu.Lock()
			defer ev.mu.Unlock()
			for _, err := range ev.errs {
				if strings.Contains(err.Error(), "pub/sub connection lost") {
					return true
				}
			}
			return false
		})
	}
	// Subscribing during the outage works; Redis learns of it on
	// reconnection. So does unsubscribing.
	late := make(chan string, 100000)
	if _, err := sub.Subscribe("outage.late", func(m *backplane.Message) { late <- string(m.Data) }); err != nil {
		t.Fatalf("Subscribe during the outage: %v", err)
	}
	if err := gone.Unsubscribe(); err != nil {
		t.Fatalf("Unsubscribe during the outage: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // an outage longer than the first reconnection attempts

	restarted := redistest.Start(t, srv.Port)
	restartedAt := time.Now()

	// Poll until the old subscription receives.
	waitDelivery := func(subject string, ch <-chan string) {
		t.Helper()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = pub.Publish(ctx, subject, []byte("after"))
			select {
			case s := <-ch:
				if s == "during" {
					continue // accepted in the moment before the client noticed
				}
				if s != "after" {
					t.Fatalf("%s: received %q after the outage, want %q", subject, s, "after")
				}
				return
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%s: no delivery within 30s of the server's restart", subject)
			}
		}
	}
	waitDelivery("outage", got)
	t.Logf("delivery resumed %v after the restart", time.Since(restartedAt))
	waitDelivery("outage.late", late)
	waitFor(t, 10*time.Second, "OnReconnect on both nodes", func() bool {
		return subEv.reconnects.Load() > 0 && pubEv.reconnects.Load() > 0
	})
	if reply, err := pub.Request(ctx, "outage.svc", nil); err != nil || string(reply) != "pong" {
		t.Fatalf("Request after the outage = %q, %v", reply, err)
	}
	if _, err := pub.Request(ctx, "outage.gone", nil); !errors.Is(err, backplane.ErrNoResponders) {
		t.Fatalf("Request to a subscription ended during the outage: %v, want ErrNoResponders", err)
	}
	// The traffic publisher saw the outage and got through again.
	before := sent.Load()
	waitFor(t, 10*time.Second, "traffic after the restart", func() bool { return sent.Load() > before+10 })
	close(stopTraffic)
	<-trafficDone
	if failed.Load() == 0 {
		t.Fatal("the continuous publisher saw no error during the outage")
	}
	t.Logf("continuous publisher: %d published, %d failed (first: %v); subscriber received %d",
		sent.Load(), failed.Load(), *firstErr.Load(), trafficGot.Load())
	restarted.Stop()
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

// TestConnectRetriesFirstConnection: Connect succeeds with no server yet;
// the Backplane works once one is up.
func TestConnectRetriesFirstConnection(t *testing.T) {
	// Reserve a port, then leave it free for the server started later.
	probe := redistest.Start(t, 0)
	port := probe.Port
	probe.Stop()

	var reconnects atomic.Int32
	errs := make(chan error, 10)
	b := connect(t, probe.URL(), redis.Options{
		OnReconnect: func() { reconnects.Add(1) },
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "early", nil); err == nil {
		t.Fatal("Publish succeeded with no server")
	}
	got := make(chan string, 100)
	if _, err := b.Subscribe("early", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatalf("Subscribe before the first connection: %v", err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "cannot reach Redis") {
			t.Errorf("OnError before the first connection: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("OnError not called while Redis is unreachable")
	}

	redistest.Start(t, port)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = b.Publish(ctx, "early", []byte("up"))
		select {
		case <-got:
			waitFor(t, 5*time.Second, "OnReconnect for the retried first connection", func() bool { return reconnects.Load() > 0 })
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no delivery after the server started")
		}
	}
}
