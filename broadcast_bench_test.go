package signalr

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// discardTransport is an in-memory transport that throws frames away and
// counts them; reads block until Close.
type discardTransport struct {
	frames, msgs atomic.Int64
	closed       chan struct{}
	once         sync.Once
}

func newDiscardTransport() *discardTransport {
	return &discardTransport{closed: make(chan struct{})}
}

func (d *discardTransport) NextReader() (bool, io.Reader, error) {
	<-d.closed
	return false, nil, io.EOF
}

func (d *discardTransport) WriteFrame(_ bool, parts ...[]byte) error {
	d.frames.Add(1)
	d.msgs.Add(int64(len(parts)))
	return nil
}

func (d *discardTransport) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

func (d *discardTransport) Name() string { return transport.WebSockets }

var _ transport.Conn = (*discardTransport)(nil)

type benchHub struct{}

func (benchHub) Nop() {}

// attachInMemory registers n handshaken connections on discard transports,
// then collects the garbage of setting them up (a request each), so that a
// benchmark's timed loop does not pay for that collection.
func attachInMemory(tb testing.TB, h *Hub, n int) []*discardTransport {
	tb.Helper()
	ts := make([]*discardTransport, n)
	for i := range ts {
		d := newDiscardTransport()
		req := httptest.NewRequest("GET", "/hub", nil)
		c := newConn(h, d, newID(), newID(), req, nil)
		c.proto, c.protoIndex = h.protocols[0], 0
		c.state.Store(stateConnected)
		c.handshaken, c.registered = true, true
		if err := h.register(c); err != nil {
			tb.Fatal(err)
		}
		ts[i] = d
		h.mu.Lock()
		h.live[c.token] = c
		h.active++
		h.mu.Unlock()
		go func() {
			c.teardown(c.readLoop())
			h.release(c.token)
		}()
	}
	runtime.GC()
	return ts
}

// cpuTime returns the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// waitDelivered waits until every transport of ts has been handed n
// messages.
func waitDelivered(tb testing.TB, ts []*discardTransport, n int64) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, t := range ts {
		for t.msgs.Load() < n {
			if time.Now().After(deadline) {
				tb.Fatalf("a connection got %d of %d messages", t.msgs.Load(), n)
			}
			runtime.Gosched()
		}
	}
}

// BenchmarkBroadcast sends one small message to every connection of the
// hub per iteration and reports the cost per recipient. Connections are in
// memory, so this measures the library's fan-out alone: encoding once,
// walking the registry, queueing, and the writer handing frames on.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			h, err := New(benchHub{}, WithLogger(slog.New(slog.DiscardHandler)), WithKeepAliveInterval(Disabled))
			if err != nil {
				b.Fatal(err)
			}
			ts := attachInMemory(b, h, n)
			ctx := context.Background()
			all := h.Clients().All()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := all.Send(ctx, "tick", i, "payload"); err != nil {
					b.Fatal(err)
				}
			}
			// The time counts until every recipient's writer has handed
			// every message on, not just until they are queued.
			waitDelivered(b, ts, int64(b.N))
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
			// CPU time, all goroutines together: steadier than wall time on
			// a shared machine, and what a broadcast costs the server.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/float64(n), "cpu-ns/recipient")
			if err := h.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
			var frames, msgs int64
			for _, t := range ts {
				frames += t.frames.Load()
				msgs += t.msgs.Load()
			}
			if frames > 0 {
				b.ReportMetric(float64(msgs)/float64(frames), "msgs/frame")
			}
		})
	}
}

// BenchmarkEncodeInvocation measures one broadcast's encoding step.
func BenchmarkEncodeInvocation(b *testing.B) {
	p := protocol.JSON{}
	msg := &protocol.Invocation{Target: "tick", Arguments: []any{1, "payload"}}
	b.ReportAllocs()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf, _ = p.AppendMessage(buf[:0], msg)
	}
}
