package signalr_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
)

// countingBackplane counts what crosses the bus, so that a test can tell
// that nodes did talk.
type countingBackplane struct {
	backplane.Backplane
	publishes, requests atomic.Int64
}

func (c *countingBackplane) Publish(ctx context.Context, subject string, data []byte) error {
	c.publishes.Add(1)
	return c.Backplane.Publish(ctx, subject, data)
}

func (c *countingBackplane) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	c.requests.Add(1)
	return c.Backplane.Request(ctx, subject, data)
}

// memoryBackplanes gives each hub name its own in-process bus, shared by
// every node.
func memoryBackplanes(t *testing.T) (func(string) backplane.Backplane, map[string]*countingBackplane) {
	buses := map[string]*countingBackplane{}
	t.Cleanup(func() {
		for _, b := range buses {
			b.Close()
		}
	})
	return func(name string) backplane.Backplane {
		if buses[name] == nil {
			buses[name] = &countingBackplane{Backplane: backplane.NewMemory()}
		}
		return buses[name]
	}, buses
}

// TestOfficialClientCluster runs the whole scenario suite against three
// nodes behind a round-robin proxy, over every transport and protocol:
// negotiate, connect, every send (POST) and every poll may land on a
// different node, so every target, group change and client result
// crosses the backplane, and so do the HTTP transports' requests.
func TestOfficialClientCluster(t *testing.T) {
	nodetest.Require(t)
	for _, tc := range hubtest.InteropMatrix {
		t.Run(tc.Transport+"/"+tc.Protocol, func(t *testing.T) {
			bps, buses := memoryBackplanes(t)
			url := hubtest.InteropCluster(t, 3, bps)
			passed, _ := hubtest.RunScenarios(t, url, tc.Transport, tc.Protocol)
			require.GreaterOrEqual(t, passed, 9)
			passed, _ = hubtest.RunNodeFile(t, "streaming.test.mjs", url, tc.Transport, tc.Protocol)
			require.Positive(t, passed)
			main := buses["main"]
			t.Logf("backplane traffic of the main hub: %d publishes, %d requests", main.publishes.Load(), main.requests.Load())
			require.Positive(t, main.publishes.Load(), "sends crossed nodes")
			require.Positive(t, main.requests.Load(), "tokens, group changes or client results crossed nodes")
		})
	}
}
