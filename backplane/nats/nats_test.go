package nats_test

import (
	"context"
	"errors"
	"net"
	"strconv"
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

func connect(t *testing.T, url string, opts ...nats.Option) *nats.Backplane {
	t.Helper()
	b, err := nats.Connect(url, opts...)
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
				opts := nats.WithPrefix(prefix)
				na := connect(t, ns.ClientURL(), opts)
				nb := nats.New(dial(t, ns.ClientURL()), opts)
				t.Cleanup(func() { _ = nb.Close() })
				return na, nb
			})
		})
	}
}

// TestPrefixes: Backplanes with different prefixes on one server are
// separate buses; those with the same prefix are one.
func TestPrefixes(t *testing.T) {
	ns, _ := startServer(t, -1)
	backplanetest.RunPrefixes(t, func(t *testing.T, prefix string) backplane.Backplane {
		b := nats.New(dial(t, ns.ClientURL()), nats.WithPrefix(prefix))
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// TestWireSubject: on the wire, the subject is the prefix, a dot, and the
// subject, and the data is sent as is.
func TestWireSubject(t *testing.T) {
	ns, _ := startServer(t, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := dial(t, ns.ClientURL())
	wire := make(chan *natsgo.Msg, 2)
	if _, err := raw.ChanSubscribe("signalr.g.room", wire); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ChanSubscribe("tenant-1.hub.g.room", wire); err != nil {
		t.Fatal(err)
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ prefix, subject string }{{"", "signalr.g.room"}, {"tenant-1.hub", "tenant-1.hub.g.room"}} {
		b := nats.New(dial(t, ns.ClientURL()), nats.WithPrefix(tc.prefix))
		t.Cleanup(func() { _ = b.Close() })
		if err := b.Publish(ctx, "g.room", []byte("hi")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-wire:
			if m.Subject != tc.subject || string(m.Data) != "hi" {
				t.Fatalf("prefix %q: wire message %q on %q, want %q on %q", tc.prefix, m.Data, m.Subject, "hi", tc.subject)
			}
		case <-ctx.Done():
			t.Fatalf("prefix %q: nothing on %s", tc.prefix, tc.subject)
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

// TestInvalidPrefix: a prefix that breaks the subject rule is refused by
// Connect and New (subjects themselves are checked by the conformance
// suite).
func TestInvalidPrefix(t *testing.T) {
	ns, _ := startServer(t, -1)
	for _, prefix := range []string{"a.*", "a b", ">", "a..b", "é"} {
		if b, err := nats.Connect(ns.ClientURL(), nats.WithPrefix(prefix)); err == nil {
			_ = b.Close()
			t.Errorf("Connect with prefix %q succeeded", prefix)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with prefix %q did not panic", prefix)
				}
			}()
			nats.New(dial(t, ns.ClientURL()), nats.WithPrefix(prefix))
		}()
	}
}

func TestConnOwnership(t *testing.T) {
	ns, _ := startServer(t, -1)

	nc := dial(t, ns.ClientURL())
	lent := nats.New(nc)
	if err := lent.Close(); err != nil {
		t.Fatal(err)
	}
	if nc.IsClosed() {
		t.Fatal("Close closed a connection given to New without OwnConn")
	}

	owned := nats.New(dial(t, ns.ClientURL()), nats.WithOwnConn())
	if err := owned.Close(); err != nil {
		t.Fatal(err)
	}
	if !owned.Conn().IsClosed() {
		t.Fatal("Close left an owned connection open")
	}

	dialled, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := dialled.Close(); err != nil {
		t.Fatal(err)
	}
	if !dialled.Conn().IsClosed() {
		t.Fatal("Close left the connection made by Connect open")
	}

}

// TestConnClosedUnderneath: a connection closed by its owner under the
// Backplane makes it fail with ErrClosed.
func TestConnClosedUnderneath(t *testing.T) {
	ns, _ := startServer(t, -1)
	for _, subscribed := range []bool{false, true} {
		name := "Unused"
		if subscribed {
			name = "WithSubscriptions"
		}
		t.Run(name, func(t *testing.T) {
			backplanetest.RunConnClosed(t, func(t *testing.T) backplane.Backplane {
				nc := dial(t, ns.ClientURL())
				b := nats.New(nc)
				t.Cleanup(func() { _ = b.Close() })
				if subscribed {
					if _, err := b.Subscribe("before", func(*backplane.Message) {}); err != nil {
						t.Fatal(err)
					}
				}
				nc.Close()
				return b
			})
		})
	}
}

// waitUntil polls cond for up to 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutage runs the outage suite on an embedded server that is shut
// down and started again on the same port. Beyond the suite: Publish
// fails with natsgo.ErrConnectionReconnecting, OnError hears of the
// disconnection, and OnReconnect of every return, not of a first
// connection made at once.
func TestOutage(t *testing.T) {
	backplanetest.RunOutage(t, func(t *testing.T) backplanetest.Server {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		url := "nats://127.0.0.1:" + strconv.Itoa(port)
		var stop func()
		var nodes []*backplanetest.Events
		return backplanetest.Server{
			Start: func(t *testing.T) { _, stop = startServer(t, port) },
			Stop:  func(*testing.T) { stop() },
			NewNode: func(t *testing.T) backplane.Backplane {
				cb := &backplanetest.Events{}
				nodes = append(nodes, cb)
				return connect(t, url, nats.WithErrorHandler(cb.OnError), nats.WithReconnectHandler(cb.OnReconnect))
			},
			Down: func(t *testing.T, first bool, err error) {
				if !errors.Is(err, natsgo.ErrConnectionReconnecting) {
					t.Errorf("Publish with the server down: %v, want natsgo.ErrConnectionReconnecting", err)
				}
				for i, cb := range nodes {
					if n := cb.Reconnects(); n != 0 {
						t.Errorf("node %d: OnReconnect called %d times before any reconnection", i, n)
					}
					if !first {
						waitUntil(t, "OnError for the disconnection", func() bool { return cb.Heard("disconnected") })
					}
				}
			},
			Up: func(t *testing.T, first bool) {
				for i, cb := range nodes {
					waitUntil(t, "OnReconnect on node "+strconv.Itoa(i), func() bool { return cb.Reconnects() > 0 })
				}
			},
		}
	})
}
