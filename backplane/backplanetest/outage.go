package backplanetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosignalr/signalr/backplane"
)

// outageTimeout bounds each wait of the outage suite: for a node to
// notice that its server is gone, and for it to receive again once the
// server is back.
const outageTimeout = 30 * time.Second

// Server is a real bus server that RunOutage stops and starts under
// running Backplanes.
type Server struct {
	// Start starts the server, on the same address every time. The suite
	// calls it only while the server is stopped.
	Start func(t *testing.T)
	// Stop stops the server, as a crash or a shutdown would. The suite
	// calls it only while the server runs; the server must also stop by
	// itself when the test ends.
	Stop func(t *testing.T)
	// NewNode returns a new Backplane on the server and registers its
	// cleanup with t. It must succeed while the server is stopped: the
	// Backplane connects once the server is up.
	NewNode func(t *testing.T) backplane.Backplane

	// Down, if set, is called while the server is stopped, once a
	// Publish on a node has failed with err, for checks that belong to
	// the implementation (the error it returns, callbacks of its
	// options). first tells whether the nodes have never been connected.
	Down func(t *testing.T, first bool, err error)
	// Up, if set, is called once every node receives again after the
	// server started.
	Up func(t *testing.T, first bool)
}

// RunOutage checks, as subtests of t, how Backplanes live through the
// loss of their server: Publish and Request fail while it is gone (they
// never buffer), Subscribe and Unsubscribe go on working, and once the
// server is back every subscription receives again without being made
// again. A Backplane that implements backplane.HealthReporter reports the
// loss and the return. newServer is called at the start of every subtest
// and returns a server that is not running.
func RunOutage(t *testing.T, newServer func(t *testing.T) Server) {
	t.Run("ServerRestart", func(t *testing.T) { testServerRestart(t, newServer(t)) })
	t.Run("FirstConnection", func(t *testing.T) { testFirstConnection(t, newServer(t)) })
}

// events collects what a HealthReporter reports; it is empty for a
// Backplane that does not report its health.
type events struct {
	ch       chan backplane.Event
	reporter backplane.HealthReporter
}

func watchHealth(t *testing.T, b backplane.Backplane) *events {
	t.Helper()
	ev := &events{ch: make(chan backplane.Event, 1000)}
	hr, ok := b.(backplane.HealthReporter)
	if !ok {
		return ev
	}
	ev.reporter = hr
	stop := hr.Watch(func(e backplane.Event) {
		select {
		case ev.ch <- e:
		default:
		}
	})
	t.Cleanup(stop)
	return ev
}

// next waits for an event with state s and returns it; ok is false for a
// Backplane that does not report its health.
func (ev *events) next(t *testing.T, what string, s backplane.State) (e backplane.Event, ok bool) {
	t.Helper()
	if ev.reporter == nil {
		return e, false
	}
	timeout := time.NewTimer(outageTimeout)
	defer timeout.Stop()
	for {
		select {
		case e := <-ev.ch:
			if e.State == s {
				return e, true
			}
		case <-timeout.C:
			t.Fatalf("%s: no %v event within %v", what, s, outageTimeout)
		}
	}
}

// waitHealth waits until the Backplane's Health is s.
func (ev *events) waitHealth(t *testing.T, what string, s backplane.State) {
	t.Helper()
	if ev.reporter == nil {
		return
	}
	deadline := time.Now().Add(outageTimeout)
	for {
		got, err := ev.reporter.Health()
		if got == s && (s == backplane.Connected) == (err == nil) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: Health = %v, %v; want %v", what, got, err, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPublishFails publishes on b until Publish fails, and returns the
// error, which must not be ErrClosed.
func waitPublishFails(t *testing.T, ctx context.Context, b backplane.Backplane, subject string) error {
	t.Helper()
	deadline := time.Now().Add(outageTimeout)
	for {
		err := b.Publish(ctx, subject, []byte("during"))
		if err != nil {
			if errors.Is(err, backplane.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Publish with the server gone: %v, want an error of the outage", err)
			}
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish still succeeds %v after the server stopped", outageTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDelivery publishes "after" on subject from pub until ch receives
// it. Messages published in the moment before the publisher noticed the
// outage ("during") may arrive first.
func waitDelivery(t *testing.T, ctx context.Context, pub backplane.Backplane, subject string, ch <-chan string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = pub.Publish(ctx, subject, []byte("after"))
		select {
		case s := <-ch:
			if s == "during" {
				continue
			}
			if s != "after" {
				t.Fatalf("%s: received %q, want %q", subject, s, "after")
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s: no delivery once the server was back", subject)
		}
	}
}

// receiveInto subscribes b to subject, sending what arrives to a channel.
func receiveInto(t *testing.T, b backplane.Backplane, subject string) <-chan string {
	t.Helper()
	ch := make(chan string, 100000)
	subscribe(t, b, subject, func(m *backplane.Message) {
		select {
		case ch <- string(m.Data):
		default:
		}
	})
	return ch
}

func testServerRestart(t *testing.T, srv Server) {
	srv.Start(t)
	sub, pub := srv.NewNode(t), srv.NewNode(t)
	subEv, pubEv := watchHealth(t, sub), watchHealth(t, pub)
	ctx, cancel := context.WithTimeout(context.Background(), 3*outageTimeout)
	defer cancel()

	got := receiveInto(t, sub, "outage")
	subscribe(t, sub, "outage.svc", func(m *backplane.Message) { _ = m.Reply([]byte("pong")) })
	if err := pub.Publish(ctx, "outage", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if s := receive(t, ctx, got); s != "before" {
		t.Fatalf("received %q, want %q", s, "before")
	}
	if reply, err := pub.Request(ctx, "outage.svc", nil); err != nil || string(reply) != "pong" {
		t.Fatalf("Request before the outage = %q, %v", reply, err)
	}
	gone := subscribe(t, sub, "outage.gone", func(m *backplane.Message) { _ = m.Reply(nil) })
	subEv.waitHealth(t, "subscriber before the outage", backplane.Connected)

	// Traffic all along: a publisher that never stops.
	var sent, failed atomic.Int64
	traffic := receiveInto(t, sub, "outage.traffic")
	stopTraffic := make(chan struct{})
	var trafficDone sync.WaitGroup
	trafficDone.Add(1)
	go func() {
		defer trafficDone.Done()
		for {
			select {
			case <-stopTraffic:
				return
			default:
			}
			if err := pub.Publish(ctx, "outage.traffic", []byte("t")); err != nil {
				failed.Add(1)
				time.Sleep(5 * time.Millisecond)
			} else {
				sent.Add(1)
			}
		}
	}()
	defer func() {
		select {
		case <-stopTraffic:
		default:
			close(stopTraffic)
		}
		trafficDone.Wait()
	}()
	waitFor(t, "traffic before the outage", func() bool { return len(traffic) > 0 })

	srv.Stop(t)

	// Publish fails once the node noticed; it never buffers. Request
	// fails without waiting for its context to end.
	pubErr := waitPublishFails(t, ctx, pub, "outage")
	if _, err := pub.Request(ctx, "outage.svc", nil); err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Request during the outage: %v, want an error of the outage", err)
	}
	for name, ev := range map[string]*events{"subscriber": subEv, "publisher": pubEv} {
		if e, ok := ev.next(t, name, backplane.Disconnected); ok && (!e.Lost || e.Err == nil) {
			t.Errorf("%s: event on the outage %+v, want Lost with a cause", name, e)
		}
		ev.waitHealth(t, name+" during the outage", backplane.Disconnected)
	}
	if srv.Down != nil {
		srv.Down(t, false, pubErr)
	}
	// Subscribing during the outage works, and so does unsubscribing:
	// the server learns of both once it is back.
	late := receiveInto(t, sub, "outage.late")
	if err := gone.Unsubscribe(); err != nil {
		t.Fatalf("Unsubscribe during the outage: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // longer than the first attempts to reconnect

	srv.Start(t)

	// When a node reports that it is back, its subscriptions are in
	// place again: the first message published after that arrives.
	if e, ok := subEv.next(t, "subscriber", backplane.Connected); ok {
		if !e.Lost || e.Err != nil {
			t.Errorf("subscriber: event on the return %+v, want Lost without an error", e)
		}
		pubEv.waitHealth(t, "publisher after the outage", backplane.Connected)
		if err := pub.Publish(ctx, "outage", []byte("first")); err != nil {
			t.Fatalf("Publish once both nodes are back: %v", err)
		}
		s := receive(t, ctx, got)
		for s == "during" {
			s = receive(t, ctx, got)
		}
		if s != "first" {
			t.Fatalf("received %q, want %q: the message published first after the return", s, "first")
		}
	}
	waitDelivery(t, ctx, pub, "outage", got)
	waitDelivery(t, ctx, pub, "outage.late", late)
	if reply, err := pub.Request(ctx, "outage.svc", nil); err != nil || string(reply) != "pong" {
		t.Fatalf("Request after the outage = %q, %v", reply, err)
	}
	if _, err := pub.Request(ctx, "outage.gone", nil); !errors.Is(err, backplane.ErrNoResponders) {
		t.Fatalf("Request to a subscription ended during the outage: %v, want ErrNoResponders", err)
	}
	// The continuous publisher saw the outage and got through again.
	before := sent.Load()
	waitFor(t, "traffic after the restart", func() bool { return sent.Load() > before+10 })
	close(stopTraffic)
	trafficDone.Wait()
	if failed.Load() == 0 {
		t.Error("the continuous publisher saw no error during the outage")
	}
	if srv.Up != nil {
		srv.Up(t, false)
	}
}

func testFirstConnection(t *testing.T, srv Server) {
	b := srv.NewNode(t)
	ev := watchHealth(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*outageTimeout)
	defer cancel()
	err := b.Publish(ctx, "early", nil)
	if err == nil || errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Publish with no server: %v, want an error of the outage", err)
	}
	if _, err := b.Request(ctx, "early", nil); err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, backplane.ErrClosed) {
		t.Fatalf("Request with no server: %v, want an error of the outage", err)
	}
	got := receiveInto(t, b, "early")
	ev.waitHealth(t, "before the first connection", backplane.Disconnected)
	if srv.Down != nil {
		srv.Down(t, true, err)
	}

	srv.Start(t)
	waitDelivery(t, ctx, b, "early", got)
	if _, ok := ev.next(t, "first connection", backplane.Connected); ok {
		ev.waitHealth(t, "after the first connection", backplane.Connected)
	}
	if srv.Up != nil {
		srv.Up(t, true)
	}
}

// receive returns the next string on ch, failing t when ctx ends first.
func receive(t *testing.T, ctx context.Context, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-ctx.Done():
		t.Fatal("no message before the test's deadline")
		return ""
	}
}

// waitFor waits until cond holds, for up to outageTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(outageTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", outageTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), waitTimeout)
}
