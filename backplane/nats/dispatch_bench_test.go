package nats_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/nats"
)

// BenchmarkBackplaneDispatch publishes b.N messages from one Backplane,
// spread over 64 subjects, to another that subscribes to all of them, and
// waits until every handler call is done: the inbound dispatch's
// throughput, with handlers that return at once (work=0) or hash the
// message a number of times first (work=N; 20 is about a microsecond,
// what a hub spends handing a message to a few local connections).
func BenchmarkBackplaneDispatch(b *testing.B) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(5 * time.Second) {
		b.Fatal("nats-server not ready")
	}
	for _, work := range []int{0, 20} {
		b.Run(fmt.Sprintf("work=%d", work), func(b *testing.B) {
			const subjects = 64
			pub, err := nats.Connect(ns.ClientURL(), nats.WithPrefix("bench"))
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			sub, err := nats.Connect(ns.ClientURL(), nats.WithPrefix("bench"))
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			var handled atomic.Int64
			var sink atomic.Uint32
			for i := range subjects {
				_, err := sub.Subscribe("s."+strconv.Itoa(i), func(m *backplane.Message) {
					for range work {
						h := fnv.New32a()
						_, _ = h.Write(m.Data)
						sink.Add(h.Sum32())
					}
					handled.Add(1)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			data := make([]byte, 64)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := pub.Publish(ctx, "s."+strconv.Itoa(i%subjects), data); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(30 * time.Second)
			for handled.Load() < int64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("handled %d of %d messages", handled.Load(), b.N)
				}
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
