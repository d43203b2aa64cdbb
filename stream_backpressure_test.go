package signalr_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// floodHub streams 4 KiB items as fast as the connection takes them.
type floodHub struct {
	produced atomic.Int64
	stopped  chan struct{}
}

func (h *floodHub) Flood(ctx context.Context) <-chan string {
	item := strings.Repeat("x", 4096)
	ch := make(chan string)
	go func() {
		defer close(h.stopped)
		defer close(ch)
		for {
			select {
			case ch <- item:
				h.produced.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// TestStreamToClientThatStopsReading: a client that never reads a stream
// blocks its producer (the pump waits while the connection is over the
// outbound soft limit) until the write timeout closes it as a slow
// consumer, which stops the producer. Memory stays bounded throughout.
func TestStreamToClientThatStopsReading(t *testing.T) {
	h := &floodHub{stopped: make(chan struct{})}
	_, url := hubtest.StartHub(t, h,
		signalr.WithMaxOutboundBuffer(64<<10),
		signalr.WithWriteTimeout(300*time.Millisecond))
	c := hubtest.HandshakeRaw(t, url)
	c.SendText(`{"type":4,"invocationId":"1","target":"Flood","arguments":[]}` + "\x1e")
	// Never read again.
	select {
	case <-h.stopped:
	case <-time.After(20 * time.Second):
		t.Fatalf("the producer is still running after %d items", h.produced.Load())
	}
	// Everything produced sat in the bounded queue or in the kernel's socket
	// buffers: far below what an unbounded buffer would have taken in 300 ms.
	require.Less(t, h.produced.Load()*4096, int64(64<<20), "items produced: %d", h.produced.Load())
	t.Logf("items produced before the connection was cut: %d (%d KiB)", h.produced.Load(), h.produced.Load()*4)
}
