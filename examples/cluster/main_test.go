package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gosignalr/signalr/internal/nodetest"
)

// TestChatThroughTheCluster runs the example (embedded NATS, three nodes,
// round-robin proxy) and drives its chat with the official client over
// every transport and protocol.
func TestChatThroughTheCluster(t *testing.T) {
	nodetest.Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, "", 3, "", slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the example did not stop")
		}
	}()
	url := "http://" + ln.Addr().String()
	for _, tc := range []struct{ transport, protocol string }{
		{"WebSockets", "json"},
		{"WebSockets", "messagepack"},
		{"ServerSentEvents", "json"},
		{"LongPolling", "json"},
		{"LongPolling", "messagepack"},
	} {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			if passed, _ := nodetest.Run(t, "chat.test.mjs", url, tc.transport, tc.protocol); passed != 1 {
				t.Fatalf("passed %d chat scenarios, want 1", passed)
			}
		})
	}
}
