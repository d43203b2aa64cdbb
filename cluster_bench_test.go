package signalr

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/transport"
)

// Bounds of the cross-node benchmark's waits, and its latency sample.
const (
	crossNodeDrainLimit   = 10 * time.Second
	crossNodeLatencySends = 200
)

// firstProbe reports when the first frame was written, after arm, to any
// of the transports that share it. The time is taken in the writing
// goroutine: the publisher may still be fanning out when it is.
type firstProbe struct {
	armed atomic.Bool
	hit   chan time.Time
}

func newFirstProbe() *firstProbe { return &firstProbe{hit: make(chan time.Time, 1)} }

func (p *firstProbe) arm() { p.armed.Store(true) }

// notifyTransport is a discardTransport that signals its probe on each
// frame written while the probe is armed.
type notifyTransport struct {
	*discardTransport
	probe *firstProbe
}

func (n *notifyTransport) WriteFrame(binary bool, parts ...[]byte) error {
	// Signal before counting: once a send has been counted as delivered
	// everywhere, no transport can still be about to signal for it, so a
	// signal after the next arm belongs to the next send.
	if p := n.probe; p.armed.Load() && p.armed.CompareAndSwap(true, false) {
		p.hit <- time.Now()
	}
	return n.discardTransport.WriteFrame(binary, parts...)
}

var _ transport.Conn = (*notifyTransport)(nil)

// attachNotify is attachInMemory with notifyTransports sharing p: it
// registers n handshaken connections and returns their counters.
func attachNotify(tb testing.TB, h *Hub, n int, p *firstProbe) []*discardTransport {
	tb.Helper()
	ds := make([]*discardTransport, n)
	for i := range ds {
		d := newDiscardTransport()
		req := httptest.NewRequest("GET", "/hub", nil)
		c := newConn(h, &notifyTransport{discardTransport: d, probe: p}, newID(), newID(), req, nil)
		c.proto, c.protoIndex = h.protocols[0], 0
		c.state.Store(stateConnected)
		c.handshaken, c.registered = true, true
		if err := h.register(c); err != nil {
			tb.Fatal(err)
		}
		ds[i] = d
		h.mu.Lock()
		h.live[c.token] = c
		h.active++
		h.mu.Unlock()
		go func() {
			c.teardown(c.readLoop())
			h.release(c.token)
		}()
	}
	return ds
}

// crossNodeEnv is one layout of the benchmark: a publishing hub, the
// subscribers (on it or on other hubs), and what to close afterwards.
type crossNodeEnv struct {
	pub     *Hub
	hubs    []*Hub
	subs    []*discardTransport
	probe   *firstProbe
	closers []func() error // after the hubs, last registered first
	bpErr   atomic.Pointer[error]
	once    sync.Once
}

func crossNodeOpts(extra ...Option) []Option {
	return append([]Option{
		WithLogger(slog.New(slog.DiscardHandler)),
		WithKeepAliveInterval(Disabled),
		WithPresenceInterval(time.Hour),
	}, extra...)
}

func newCrossNodeEnv(tb testing.TB) *crossNodeEnv {
	e := &crossNodeEnv{probe: newFirstProbe()}
	tb.Cleanup(func() { e.close(tb) })
	return e
}

func (e *crossNodeEnv) newHub(tb testing.TB, opts ...Option) *Hub {
	tb.Helper()
	h, err := New(benchHub{}, crossNodeOpts(opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	e.hubs = append(e.hubs, h)
	return h
}

// close shuts the hubs down, then closes backplanes and the server.
func (e *crossNodeEnv) close(tb testing.TB) {
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, h := range e.hubs {
			if err := h.Shutdown(ctx); err != nil {
				tb.Errorf("hub shutdown: %v", err)
			}
		}
		for _, c := range slices.Backward(e.closers) {
			if err := c(); err != nil {
				tb.Errorf("close: %v", err)
			}
		}
	})
}

// setupSingleNode: publisher and all n subscribers on one hub.
func setupSingleNode(tb testing.TB, n int) *crossNodeEnv {
	e := newCrossNodeEnv(tb)
	e.pub = e.newHub(tb)
	e.subs = attachNotify(tb, e.pub, n, e.probe)
	return e
}

// setupCluster: publisher hub A without connections, hubs B and C with n/2
// subscribers each, every hub on a backplane from bp.
func setupCluster(tb testing.TB, e *crossNodeEnv, n int, bp func() backplane.Backplane) *crossNodeEnv {
	e.pub = e.newHub(tb, WithBackplane(bp()), WithHubName("bench"))
	for _, k := range []int{n / 2, n - n/2} {
		h := e.newHub(tb, WithBackplane(bp()), WithHubName("bench"))
		e.subs = append(e.subs, attachNotify(tb, h, k, e.probe)...)
	}
	return e
}

func setupMemoryCluster(tb testing.TB, n int) *crossNodeEnv {
	e := newCrossNodeEnv(tb)
	mem := backplane.NewMemory()
	e.closers = append(e.closers, mem.Close)
	return setupCluster(tb, e, n, func() backplane.Backplane { return mem })
}

func (e *crossNodeEnv) delivered() int64 {
	var sum int64
	for _, d := range e.subs {
		sum += d.msgs.Load()
	}
	return sum
}

// waitDelivered polls until want messages have been delivered or limit
// has passed, and returns how many were. spin polls without sleeping.
func (e *crossNodeEnv) waitDelivered(want int64, limit time.Duration, spin bool) int64 {
	deadline := time.Now().Add(limit)
	for {
		got := e.delivered()
		if got >= want || time.Now().After(deadline) {
			return got
		}
		if spin {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func (e *crossNodeEnv) lastBackplaneErr() error {
	if p := e.bpErr.Load(); p != nil {
		return *p
	}
	return nil
}

// bench floods b.N broadcasts, then waits for all of them to be delivered
// (inside the timed region), then measures the latency of single sends.
func (e *crossNodeEnv) bench(b *testing.B) {
	ctx := context.Background()
	all := e.pub.Clients().All()
	n := int64(len(e.subs))

	base := e.delivered()
	want := base + n*int64(b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := all.Send(ctx, "tick", i); err != nil {
			b.Fatal(err)
		}
	}
	got := e.waitDelivered(want, crossNodeDrainLimit, false)
	b.StopTimer()
	elapsed := b.Elapsed()
	if got != want {
		b.Fatalf("delivered %d of %d messages (%d sends to %d subscribers) within %v of the last send; backplane error: %v",
			got-base, want-base, b.N, n, crossNodeDrainLimit, e.lastBackplaneErr())
	}
	deliveries := float64(want - base)
	b.ReportMetric(deliveries/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/deliveries, "ns/delivery")

	// Latency of lone sends: from Send to the first subscriber's frame
	// (on a remote node, in the cluster layouts), to the last, and until
	// Send returned.
	first := make([]time.Duration, 0, crossNodeLatencySends)
	last := make([]time.Duration, 0, crossNodeLatencySends)
	send := make([]time.Duration, 0, crossNodeLatencySends)
	for i := 0; i < crossNodeLatencySends; i++ {
		base := e.delivered()
		e.probe.arm()
		t0 := time.Now()
		if err := all.Send(ctx, "tick", i); err != nil {
			b.Fatal(err)
		}
		send = append(send, time.Since(t0))
		select {
		case t := <-e.probe.hit:
			first = append(first, t.Sub(t0))
		case <-time.After(crossNodeDrainLimit):
			b.Fatalf("latency send %d: no subscriber received it within %v; backplane error: %v", i, crossNodeDrainLimit, e.lastBackplaneErr())
		}
		if got := e.waitDelivered(base+n, crossNodeDrainLimit, true); got != base+n {
			b.Fatalf("latency send %d: delivered to %d of %d subscribers; backplane error: %v", i, got-base, n, e.lastBackplaneErr())
		}
		last = append(last, time.Since(t0))
	}
	b.ReportMetric(percentileMicros(first, 0.50), "first-p50-µs")
	b.ReportMetric(percentileMicros(first, 0.99), "first-p99-µs")
	b.ReportMetric(percentileMicros(last, 0.50), "all-p50-µs")
	b.ReportMetric(percentileMicros(send, 0.50), "send-p50-µs")
}

// percentileMicros is the nearest-rank p-quantile of ds, in microseconds.
func percentileMicros(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(int(math.Ceil(p*float64(len(s))))-1, 0)
	return float64(s[i].Nanoseconds()) / 1e3
}

// BenchmarkCrossNodeBroadcast broadcasts from one hub to n in-memory
// connections, held by the same hub (single-node) or split between two
// other hubs that reach the publisher over the in-process backplane.Memory
// (memory). The NATS and Redis backplanes live in modules of their own;
// the backplane scenario of bench/cmd/signalr-bench measures NATS with
// real clients, each node a process. Each iteration is
// one Clients().All().Send on the publisher; the timed region ends once
// every message has reached every subscriber, so msgs/s and ns/delivery
// are delivered throughput, including the backplane hop.
// The latency metrics come from 200 lone sends afterwards: first-p50/p99
// is the time from Send to the first subscriber's frame (a remote one in
// the cluster layouts), all-p50 the time until every subscriber had its
// frame (polled), send-p50 the time the publisher spent in Send.
func BenchmarkCrossNodeBroadcast(b *testing.B) {
	layouts := []struct {
		name  string
		setup func(testing.TB, int) *crossNodeEnv
	}{
		{"single-node", setupSingleNode},
		{"memory", setupMemoryCluster},
	}
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			for _, n := range []int{100, 1000} {
				e := l.setup(b, n)
				b.Run(fmt.Sprintf("subs=%d", n), e.bench)
				e.close(b)
			}
		})
	}
}
