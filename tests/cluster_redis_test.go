package signalr_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/backplane"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
	"github.com/gosignalr/signalr/internal/redistest"
)

// redisBackplanes connects every hub of every node to the Redis server at
// url with a client of its own, as separate processes would.
func redisBackplanes(t *testing.T, url string) func(string) backplane.Backplane {
	return func(string) backplane.Backplane {
		bp, err := redisbp.Connect(url, redisbp.WithPrefix("test"))
		require.NoError(t, err)
		t.Cleanup(func() { bp.Close() })
		return bp
	}
}

// TestOfficialClientClusterRedis is TestOfficialClientCluster over a real
// Redis server.
func TestOfficialClientClusterRedis(t *testing.T) {
	nodetest.Require(t)
	redistest.Require(t)
	for _, tc := range []struct{ Transport, Protocol string }{
		{"WebSockets", "json"},
		{"ServerSentEvents", "json"},
		{"LongPolling", "messagepack"},
	} {
		t.Run(tc.Transport+"/"+tc.Protocol, func(t *testing.T) {
			srv := redistest.Start(t, 0)
			url := hubtest.InteropCluster(t, 3, redisBackplanes(t, srv.URL()))
			passed, _ := hubtest.RunScenarios(t, url, tc.Transport, tc.Protocol)
			require.GreaterOrEqual(t, passed, 9)
			passed, _ = hubtest.RunNodeFile(t, "streaming.test.mjs", url, tc.Transport, tc.Protocol)
			require.Positive(t, passed)
		})
	}
}

// TestRedisOutage kills the Redis server mid-traffic: local delivery goes
// on, cross-node sends report errors, and after a restart on the same port
// cross-node delivery resumes without any action from the application.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, 0)
	o := newOutageCluster(t, func() backplane.Backplane {
		bp, err := redisbp.Connect(srv.URL(), redisbp.WithPrefix("outage"))
		require.NoError(t, err)
		return bp
	})
	hubs, b, bID := o.hubs, o.b, o.bID
	ctx := context.Background()

	srv.Stop()
	o.sendsFail()
	// A cross-node request (b's connection from a's node) fails too,
	// promptly, instead of waiting for a reply that cannot come.
	start := time.Now()
	reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := hubs[0].Groups().Add(reqCtx, bID, "g")
	require.Error(t, err, "a cross-node group change during the outage")
	require.Less(t, time.Since(start), 5*time.Second, "the group change waited for its deadline")
	t.Logf("group change across nodes during the outage: %v", err)

	redistest.Start(t, srv.Port)
	o.resumes()
	// Cross-node requests work again too.
	require.Eventually(t, func() bool {
		return hubs[0].Groups().Add(reqCtx, bID, "g") == nil
	}, 10*time.Second, 50*time.Millisecond, "cross-node group change after the restart")
	require.NoError(t, hubs[0].Clients().Group("g").Send(ctx, "receive", "group"))
	for {
		got, _ := b.Invocation("receive")[0].(string)
		if got == "group" {
			break
		}
		require.True(t, strings.HasPrefix(got, "after-"), "b received %q, want the group message", got)
	}
}
