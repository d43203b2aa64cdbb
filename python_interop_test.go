package signalr_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
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
// requirements.txt) against the server. A scenario a client cannot run is
// skipped by the program with the reason; everything else must pass.
func TestPythonClients(t *testing.T) {
	pythontest.Require(t)
	for _, tc := range pythonMatrix {
		t.Run(strings.TrimSuffix(tc.program, "_scenarios.py")+"/"+tc.transport+"/"+tc.protocol, func(t *testing.T) {
			t.Parallel()
			url, authURL := interopServer(t), pythonAuthServer(t)
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
	h, err := signalr.New(interopHub{}, signalr.WithAuthenticator(func(r *http.Request) (*signalr.Identity, error) {
		user, ok := strings.CutPrefix(signalr.BearerToken(r), "token-")
		if !ok || user == "" {
			return nil, signalr.ErrUnauthenticated
		}
		return &signalr.Identity{UserID: user}, nil
	}), signalr.WithHubPolicy(signalr.RequireAuthenticated()))
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

// UploadNotify reads an uploaded stream of strings and sends their
// concatenation to the caller as "receive": for clients whose uploads are
// fire-and-forget (no completion to carry a result).
func (interopHub) UploadNotify(c *signalr.Context, parts <-chan string) error {
	var b strings.Builder
	for p := range parts {
		b.WriteString(p)
	}
	return c.Clients().Caller().Send(c, "receive", "upload:"+b.String())
}
