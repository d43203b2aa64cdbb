package signalr_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/redistest"
)

// redisBackplanes connects every hub of every node to the Redis server at
// url with a client of its own, as separate processes would.
func redisBackplanes(t *testing.T, url string) func(string) backplane.Backplane {
	return func(string) backplane.Backplane {
		bp, err := redisbp.Connect(url, redisbp.Options{Prefix: "test"})
		require.NoError(t, err)
		t.Cleanup(func() { bp.Close() })
		return bp
	}
}

// TestOfficialClientClusterRedis is TestOfficialClientCluster over a real
// Redis server.
func TestOfficialClientClusterRedis(t *testing.T) {
	requireNodeClient(t)
	redistest.Require(t)
	for _, tc := range []struct{ transport, protocol string }{
		{"WebSockets", "json"},
		{"ServerSentEvents", "json"},
		{"LongPolling", "messagepack"},
	} {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			srv := redistest.Start(t, 0)
			url := interopCluster(t, 3, redisBackplanes(t, srv.URL()))
			passed, _ := runScenarios(t, url, tc.transport, tc.protocol)
			require.GreaterOrEqual(t, passed, 9)
			passed, _ = runNodeFile(t, "streaming.test.mjs", url, tc.transport, tc.protocol)
			require.Positive(t, passed)
		})
	}
}

// TestRedisOutage kills the Redis server mid-traffic: local delivery goes
// on, cross-node sends report errors, and after a restart on the same port
// cross-node delivery resumes without any action from the application.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, 0)
	var urls []string
	var hubs []*signalr.Hub
	for range 2 {
		bp, err := redisbp.Connect(srv.URL(), redisbp.Options{Prefix: "outage"})
		require.NoError(t, err)
		h, err := signalr.New(interopHub{},
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithBackplane(bp, "outage"),
			signalr.WithPresenceInterval(200*time.Millisecond))
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/hub", h)
		mux.Handle("/hub/", h)
		hs := httptest.NewServer(mux)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, h.Shutdown(ctx))
			hs.Close()
			bp.Close()
		})
		urls, hubs = append(urls, hs.URL), append(hubs, h)
	}
	a := connectJSON(t, urls[0])
	b := connectJSON(t, urls[1])
	bID := b.id(t)
	ctx := context.Background()
	all := hubs[0].Clients().All()

	require.NoError(t, all.Send(ctx, "receive", "before"))
	require.Equal(t, "before", a.invocation("receive")[0])
	require.Equal(t, "before", b.invocation("receive")[0])

	srv.Stop()
	// Cross-node sends fail once the server is gone; local delivery never
	// stops.
	var sendErr error
	for i := 0; sendErr == nil; i++ {
		require.Less(t, i, 200, "Send never reported the outage")
		sendErr = all.Send(ctx, "receive", "during-"+strconv.Itoa(i))
		require.Equal(t, "during-"+strconv.Itoa(i), a.invocation("receive")[0], "local delivery continues")
		if sendErr == nil {
			time.Sleep(25 * time.Millisecond)
		}
	}
	t.Logf("Send during the outage: %v", sendErr)
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
	// After the restart the nodes resubscribe by themselves; b receives
	// again (messages sent before that may be lost, as documented).
	// Each round: a cross-node send from A, then a marker that b's own node
	// sends it; b reads up to the marker and looks for any "after-" message.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		require.True(t, time.Now().Before(deadline), "cross-node delivery did not resume")
		_ = all.Send(ctx, "receive", "after-"+strconv.Itoa(i))
		time.Sleep(50 * time.Millisecond)
		marker := "mark-" + strconv.Itoa(i)
		require.NoError(t, hubs[1].Clients().Client(bID).Send(ctx, "receive", marker))
		resumed := false
		for {
			got, _ := b.invocation("receive")[0].(string)
			if got == marker {
				break
			}
			resumed = resumed || strings.HasPrefix(got, "after-")
		}
		if resumed {
			break
		}
	}
	// Cross-node requests work again too.
	require.Eventually(t, func() bool {
		return hubs[0].Groups().Add(reqCtx, bID, "g") == nil
	}, 10*time.Second, 50*time.Millisecond, "cross-node group change after the restart")
	require.NoError(t, hubs[0].Clients().Group("g").Send(ctx, "receive", "group"))
	for {
		got, _ := b.invocation("receive")[0].(string)
		if got == "group" {
			break
		}
		require.True(t, strings.HasPrefix(got, "after-"), "b received %q, want the group message", got)
	}
}
