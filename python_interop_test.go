package signalr_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/pythontest"
)

// pythonMatrix is every client, transport and protocol the Python
// scenario programs run with. pysignalr speaks WebSockets only.
// signalrcore 1.0.2 also offers long polling, but its long-polling client
// cannot be relied on with any SignalR server, so it is not run here: it
// hands on only the first record of a poll response and keeps the rest
// until a later poll brings data (transport/long_polling/long_polling_client.py,
// _append), and it splits MessagePack responses on 0x1E as if they were
// JSON text.
var pythonMatrix = []struct{ program, transport, protocol string }{
	{"pysignalr_scenarios.py", "WebSockets", "json"},
	{"pysignalr_scenarios.py", "WebSockets", "messagepack"},
	{"signalrcore_scenarios.py", "WebSockets", "json"},
	{"signalrcore_scenarios.py", "WebSockets", "messagepack"},
	{"signalrcore_scenarios.py", "ServerSentEvents", "json"},
}

// TestPythonClients runs the scenario programs of the Python clients
// pysignalr and signalrcore (pinned in internal/interop/python/
// requirements.txt) against the server. Both negotiate version 0, so the
// servers allow it (WithMinimumProtocolVersion(0)); a test below checks
// that they are refused by default. A scenario a client cannot run is
// skipped by the program with the reason; everything else must pass.
func TestPythonClients(t *testing.T) {
	pythontest.Require(t)
	for _, tc := range pythonMatrix {
		t.Run(strings.TrimSuffix(tc.program, "_scenarios.py")+"/"+tc.transport+"/"+tc.protocol, func(t *testing.T) {
			t.Parallel()
			// Both clients negotiate without a version (version 0), which
			// the server refuses unless told otherwise.
			url, authURL := hubtest.InteropServer(t, signalr.WithMinimumProtocolVersion(0)), pythonAuthServer(t)
			passed, skipped := pythontest.Run(t, tc.program, url, authURL, tc.transport, tc.protocol)
			t.Logf("%d scenarios passed, %d skipped", passed, skipped)
			require.GreaterOrEqual(t, passed, 7, "the program ran too few scenarios")
		})
	}
}

// pythonAuthServer serves the interop hub at /hub behind a bearer token:
// "token-<user>" authenticates as <user>; a missing or other token is
// refused with 401.
func pythonAuthServer(t *testing.T) string {
	t.Helper()
	h, err := signalr.New(hubtest.Hub{}, signalr.WithAuthenticator(func(r *http.Request) (*signalr.Identity, error) {
		user, ok := strings.CutPrefix(signalr.BearerToken(r), "token-")
		if !ok || user == "" {
			return nil, signalr.ErrUnauthenticated
		}
		return &signalr.Identity{UserID: user}, nil
	}), signalr.WithHubPolicy(signalr.RequireAuthenticated()), signalr.WithMinimumProtocolVersion(0))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
	})
	return srv.URL
}

// TestPythonClientsRefusedByDefault: without WithMinimumProtocolVersion(0)
// a client that negotiates version 0, as both Python clients do, is
// refused with ASP.NET Core's text, not half connected.
func TestPythonClientsRefusedByDefault(t *testing.T) {
	url := hubtest.InteropServer(t)
	resp, err := http.Post(url+"/hub/negotiate", "text/plain", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "does not support this version")
}
