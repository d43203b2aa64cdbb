package redis_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/redistest"
)

// nextEvent waits for an event with state s on ch.
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

// TestHealth: the Backplane reports its pub/sub connection's loss and
// return to its watchers, both as possible losses of messages, and by
// the time it reports the return, Redis has its subscriptions again.
func TestHealth(t *testing.T) {
	srv := redistest.Start(t, 0)
	b := connect(t, srv.URL(), redis.Options{})
	events := make(chan backplane.Event, 1000)
	stop := b.Watch(func(ev backplane.Event) {
		select {
		case events <- ev:
		default:
		}
	})
	defer stop()
	got := make(chan string, 100)
	if _, err := b.Subscribe("x", func(m *backplane.Message) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "connected", func() bool { s, err := b.Health(); return s == backplane.Connected && err == nil })

	srv.Stop()
	if ev := nextEvent(t, events, backplane.Disconnected); !ev.Lost || ev.Err == nil {
		t.Errorf("event on the outage: %+v, want Lost with a cause", ev)
	}
	if s, err := b.Health(); s != backplane.Disconnected || err == nil {
		t.Errorf("Health during the outage = %v, %v", s, err)
	}

	redistest.Start(t, srv.Port)
	if ev := nextEvent(t, events, backplane.Connected); !ev.Lost || ev.Err != nil {
		t.Errorf("event on the return: %+v, want Lost without an error", ev)
	}
	// Subscribed again already: the first publish after the event arrives.
	pub := connect(t, srv.URL(), redis.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, "x", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if s := recv(t, got); s != "after" {
		t.Fatalf("received %q", s)
	}
}

// TestPublishTimeout: a server that takes connections but never answers
// makes Publish fail after Options.PublishTimeout, while the caller's
// context is still live, instead of waiting for the client's read
// timeout; the hub then treats the bus as stalled.
func TestPublishTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }() // reads, never answers
		}
	}()
	b, err := redis.Connect("redis://"+ln.Addr().String(), redis.Options{PublishTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = b.Publish(ctx, "x", []byte("m"))
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish to a server that never answers: %v (caller's context: %v); want a deadline error before the caller's context ends", err, ctx.Err())
	}
}
