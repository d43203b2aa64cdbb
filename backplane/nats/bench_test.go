package nats_test

import (
	"context"
	"testing"

	"github.com/gosignalr/signalr/backplane/nats"
)

// BenchmarkPublish measures what confirming a publish with the server
// costs: "confirmed" is Backplane.Publish (a publish and a shared round
// trip), "unconfirmed" a bare nats.go publish on the same connection, as
// Publish did before it waited for the server. Sequential runs pay one
// round trip per message; parallel ones share round trips.
func BenchmarkPublish(b *testing.B) {
	ns, _ := startServer(b, -1)
	bp, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer bp.Close()
	data := make([]byte, 256)
	ctx := context.Background()
	b.Run("confirmed", func(b *testing.B) {
		for b.Loop() {
			if err := bp.Publish(ctx, "bench", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unconfirmed", func(b *testing.B) {
		nc := bp.Conn()
		for b.Loop() {
			if err := nc.Publish(nats.DefaultPrefix+".bench", data); err != nil {
				b.Fatal(err)
			}
		}
		_ = nc.Flush()
	})
	b.Run("confirmed-parallel", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := bp.Publish(ctx, "bench", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("unconfirmed-parallel", func(b *testing.B) {
		nc := bp.Conn()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := nc.Publish(nats.DefaultPrefix+".bench", data); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = nc.Flush()
	})
}
