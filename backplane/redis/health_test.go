package redis_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gosignalr/signalr/backplane/redis"
)

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
	b, err := redis.Connect("redis://"+ln.Addr().String(), redis.WithPublishTimeout(300*time.Millisecond))
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
