package faultsuite

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gosignalr/signalr/client"
)

// TestProxy checks the fault proxy itself against an echo server: it
// passes data, holds it while blackholed and releases it after, delays
// it, and cuts connections and refuses new ones while cut.
func TestProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-echoDone })
	p := startProxy(t, ln.Addr().String())

	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	echo := func(c net.Conn, s string, within time.Duration) error {
		if _, err := c.Write([]byte(s)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(within))
		buf := make([]byte, len(s))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != s {
			t.Fatalf("echo %q, got %q", s, buf)
		}
		return nil
	}

	c := dial()
	if err := echo(c, "pass", 10*time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	p.Blackhole(true)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var ne net.Error
	if _, err := c.Read(make([]byte, 4)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read through a blackhole: %v, want a timeout", err)
	}
	p.Blackhole(false)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after the blackhole: %q, %v; want what it held", buf, err)
	}

	p.Delay(300 * time.Millisecond)
	start := time.Now()
	if err := echo(c, "slow", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 600*time.Millisecond { // each way
		t.Fatalf("a delayed echo took %v, want at least 600ms", took)
	}
	p.Delay(0)

	p.Cut(true)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read from a cut connection succeeded")
	}
	if err := echo(dial(), "x", 10*time.Second); err == nil {
		t.Fatal("a new connection worked while cut")
	}
	p.Cut(false)
	if err := echo(dial(), "back", 10*time.Second); err != nil {
		t.Fatalf("after the cut: %v", err)
	}
}

// TestLossAccounting checks how a lost message is classified: reported
// only when the connection it was meant for was closed by the server with
// a reason (or its node was killed).
func TestLossAccounting(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	newR := func() *receiver {
		return &receiver{name: "r", got: make(map[string]map[int]delivery), last: make(map[string]int)}
	}
	reason := &client.CloseError{Message: "backplane interrupted", AllowReconnect: true}
	msg := func(seq, ms int) sent { return sent{seq: seq, start: at(ms), to: []int{0}, epochs: []int{-1}} }

	// A connection that stayed open: every loss is silent.
	r := newR()
	r.epochs = []epoch{{id: "a", ready: at(0)}}
	if _, ok := r.reportedLoss(msg(1, 10), 0); ok {
		t.Error("a loss on an open connection counted as reported")
	}

	// Closed without a reason (a dropped transport): silent.
	r.epochs[0].closed, r.epochs[0].closeErr = at(100), io.EOF
	if _, ok := r.reportedLoss(msg(1, 10), 0); ok {
		t.Error("a loss on a connection dropped without a reason counted as reported")
	}

	// Closed by the server with a reason: reported, for what was sent on
	// it and in the gap before the next connection was ready...
	r = newR()
	r.epochs = []epoch{{id: "a", ready: at(0)}}
	r.closeEpoch(reason, false)
	r.epochs[0].closed = at(100)
	r.epochs = append(r.epochs, epoch{id: "b", ready: at(200)})
	for _, ms := range []int{50, 150} {
		if why, ok := r.reportedLoss(msg(5, ms), 0); !ok {
			t.Errorf("a loss at %dms before the close's reach: not reported (%s)", ms, why)
		}
	}
	// ...but not for what was sent once the next one was ready.
	if _, ok := r.reportedLoss(msg(9, 250), 0); ok {
		t.Error("a loss after the new connection was ready counted as reported")
	}
	// The close covers its whole connection, even a message followed by
	// a later one from the same sender (the server may close it once it
	// is back on the bus, after delivering again).
	r.got["s"] = map[int]delivery{6: {at: at(60), epoch: 0}}
	if _, ok := r.reportedLoss(msg(5, 50), 0); !ok {
		t.Error("a gap before a close with a reason not reported")
	}
	// A connection-targeted message names its connection.
	m := msg(7, 250)
	m.epochs = []int{0}
	if _, ok := r.reportedLoss(m, 0); !ok {
		t.Error("a message to the closed connection's id not reported")
	}

	// A killed node reports the loss of the connection open at the kill.
	r = newR()
	r.epochs = []epoch{{id: "a", ready: at(0)}}
	r.closeEpoch(io.EOF, false) // the client noticed first
	r.killed(t0.Add(-time.Second))
	if _, ok := r.reportedLoss(msg(1, 10), 0); !ok {
		t.Error("a loss on a killed node's connection not reported")
	}
}
