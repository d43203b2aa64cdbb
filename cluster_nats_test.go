package signalr_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
)

// startNATS runs a real NATS server on loopback (port 0: any free port)
// until stop or the end of the test.
func startNATS(t *testing.T, port int) (url string, stop func()) {
	t.Helper()
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(5*time.Second), "nats-server did not start")
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	}
	t.Cleanup(stop)
	return "nats://127.0.0.1:" + strconv.Itoa(port), stop
}

// natsBackplanes connects every hub of every node to the NATS server at
// url with a connection of its own, as separate processes would.
func natsBackplanes(t *testing.T, url string) func(string) backplane.Backplane {
	return func(string) backplane.Backplane {
		bp, err := natsbp.Connect(url, natsbp.Options{Prefix: "test"})
		require.NoError(t, err)
		t.Cleanup(func() { bp.Close() })
		return bp
	}
}

// TestOfficialClientClusterNATS is TestOfficialClientCluster over a real
// NATS server.
func TestOfficialClientClusterNATS(t *testing.T) {
	requireNodeClient(t)
	for _, tc := range []struct{ transport, protocol string }{
		{"WebSockets", "json"},
		{"ServerSentEvents", "json"},
		{"LongPolling", "messagepack"},
	} {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			natsURL, _ := startNATS(t, 0)
			url := interopCluster(t, 3, natsBackplanes(t, natsURL))
			passed, _ := runScenarios(t, url, tc.transport, tc.protocol)
			require.GreaterOrEqual(t, passed, 9)
			passed, _ = runNodeFile(t, "streaming.test.mjs", url, tc.transport, tc.protocol)
			require.Positive(t, passed)
		})
	}
}

// TestNATSOutage stops the NATS server mid-traffic: local delivery goes on,
// cross-node sends report errors, and after a restart cross-node delivery
// resumes without any action from the application.
func TestNATSOutage(t *testing.T) {
	natsURL, stop := startNATS(t, 0)
	port, _ := strconv.Atoi(natsURL[len("nats://127.0.0.1:"):])
	var urls []string
	var hubs []*signalr.Hub
	for range 2 {
		bp, err := natsbp.Connect(natsURL, natsbp.Options{Prefix: "outage"})
		require.NoError(t, err)
		h, err := signalr.New(interopHub{},
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithBackplane(bp, "outage"),
			signalr.WithPresenceInterval(200*time.Millisecond))
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/hub", h)
		mux.Handle("/hub/", h)
		srv := httptest.NewServer(mux)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, h.Shutdown(ctx))
			srv.Close()
			bp.Close()
		})
		urls, hubs = append(urls, srv.URL), append(hubs, h)
	}
	a := connectJSON(t, urls[0])
	b := connectJSON(t, urls[1])
	bID := b.id(t)
	ctx := context.Background()
	all := hubs[0].Clients().All()

	require.NoError(t, all.Send(ctx, "receive", "before"))
	require.Equal(t, "before", a.invocation("receive")[0])
	require.Equal(t, "before", b.invocation("receive")[0])

	stop()
	// Cross-node sends fail once the client notices the outage; local
	// delivery never stops.
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

	startNATS(t, port)
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
			return
		}
	}
}

// id returns the connection id of c (cached).
func (c *jsonClient) id(t *testing.T) string {
	if c.connID == "" {
		c.connID, _ = c.result("GetConnectionId").(string)
	}
	return c.connID
}
