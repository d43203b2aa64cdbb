package signalr

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
)

// metricsModes are a hub without metrics (the default) and one with a
// meter provider, so that every hook builds its attributes and records.
// The provider is the OpenTelemetry API's no-op one: what is measured is
// the library's own work, not an SDK's (the SDK lives outside this
// module; tests/metrics_test.go records through it).
func metricsModes(tb testing.TB) []struct {
	name string
	opts []Option
} {
	mp := noop.NewMeterProvider()
	return []struct {
		name string
		opts []Option
	}{
		{"off", nil},
		{"on", []Option{WithMeterProvider(mp)}},
	}
}

// TestMetricsHooksDoNotAllocate calls every measuring hook of the hot
// paths (reading, writing, invoking, connections coming and going) with
// metrics off and on: neither allocates.
func TestMetricsHooksDoNotAllocate(t *testing.T) {
	for _, mode := range metricsModes(t) {
		t.Run(mode.name, func(t *testing.T) {
			h, err := New(benchHub{}, append(mode.opts, WithLogger(slog.New(slog.DiscardHandler)))...)
			require.NoError(t, err)
			require.Equal(t, mode.opts == nil, h.metrics == nil)
			m := h.metrics
			c := newConn(h, newDiscardTransport(), newID(), newID(), httptest.NewRequest("GET", "/hub", nil), nil)
			nop := h.lookup("Nop")
			batch := [][]byte{make([]byte, 10), make([]byte, 20)}
			allocs := testing.AllocsPerRun(1000, func() {
				m.received(10)
				m.wrote(batch, nil)
				m.wroteFrame(batch[0], nil)
				m.closing(nil)
				m.invoked(nop, m.now(), nil)
				m.connectionStarted(c)
				m.connectionEnded(c, nil)
			})
			require.Zero(t, allocs)
			require.NoError(t, h.Shutdown(context.Background()))
		})
	}
}

// BenchmarkBroadcastMetrics is BenchmarkBroadcast with metrics off and
// on, for comparing the two in one run.
func BenchmarkBroadcastMetrics(b *testing.B) {
	const n = 1000
	for _, mode := range metricsModes(b) {
		b.Run(fmt.Sprintf("metrics=%s/conns=%d", mode.name, n), func(b *testing.B) {
			h, err := New(benchHub{}, append(mode.opts, WithLogger(slog.New(slog.DiscardHandler)), WithKeepAliveInterval(Disabled))...)
			if err != nil {
				b.Fatal(err)
			}
			ts := attachInMemory(b, h, n)
			ctx := context.Background()
			all := h.Clients().All()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := all.Send(ctx, "tick", i, "payload"); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(time.Minute)
			for _, t := range ts {
				for t.msgs.Load() < int64(b.N) {
					if time.Now().After(deadline) {
						b.Fatalf("a connection got %d of %d messages", t.msgs.Load(), b.N)
					}
					runtime.Gosched()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
			if err := h.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
