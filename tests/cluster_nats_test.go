package signalr_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
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
		bp, err := natsbp.Connect(url, natsbp.WithPrefix("test"))
		require.NoError(t, err)
		t.Cleanup(func() { bp.Close() })
		return bp
	}
}

// TestOfficialClientClusterNATS is TestOfficialClientCluster over a real
// NATS server.
func TestOfficialClientClusterNATS(t *testing.T) {
	nodetest.Require(t)
	for _, tc := range []struct{ Transport, Protocol string }{
		{"WebSockets", "json"},
		{"ServerSentEvents", "json"},
		{"LongPolling", "messagepack"},
	} {
		t.Run(tc.Transport+"/"+tc.Protocol, func(t *testing.T) {
			natsURL, _ := startNATS(t, 0)
			url := hubtest.InteropCluster(t, 3, natsBackplanes(t, natsURL))
			passed, _ := hubtest.RunScenarios(t, url, tc.Transport, tc.Protocol)
			require.GreaterOrEqual(t, passed, 9)
			passed, _ = hubtest.RunNodeFile(t, "streaming.test.mjs", url, tc.Transport, tc.Protocol)
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
	o := newOutageCluster(t, func() backplane.Backplane {
		bp, err := natsbp.Connect(natsURL, natsbp.WithPrefix("outage"))
		require.NoError(t, err)
		return bp
	})
	stop()
	o.sendsFail()
	startNATS(t, port)
	o.resumes()
}
