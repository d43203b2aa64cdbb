package signalr_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/javatest"
)

// The official SignalR Java client (internal/interop/java) against the same
// hubs as the Node suite, over every transport the Java client has. It
// fails, never skips, when Java or Maven is missing.

// javaMatrix is every transport and protocol pair the Java client build
// carries: WebSockets and long polling (its TransportEnum has no
// Server-Sent Events); JSON only (see internal/interop/java/README.md for
// MessagePack).
// min is how many scenarios pass there: over long polling the Java client
// has no skipNegotiation and no server timeout, and its uploads are not
// reliable (README.md).
var javaMatrix = []struct {
	transport, protocol string
	min                 int
}{
	{"WebSockets", "json", 17},
	{"LongPolling", "json", 14},
}

// javaAuthServer serves /secure, the interop hub behind a bearer-token
// authenticator (token "tok-NAME" is user NAME; anything else, or none, is
// refused), and /redirect, whose negotiate answers with a redirect to
// /secure and the token "tok-redirected", as Azure SignalR's does.
func javaAuthServer(t *testing.T, redirects *atomic.Int32) string {
	t.Helper()
	auth := func(r *http.Request) (*signalr.Identity, error) {
		tok := signalr.BearerToken(r)
		user, ok := strings.CutPrefix(tok, "tok-")
		if !ok || user == "" {
			return nil, signalr.ErrUnauthenticated
		}
		return &signalr.Identity{UserID: user}, nil
	}
	secure, err := signalr.New(hubtest.Hub{}, signalr.WithAuthenticator(auth))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/secure", secure)
	mux.Handle("/secure/", secure)
	srv := httptest.NewServer(mux)
	mux.HandleFunc("/redirect/negotiate", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		redirects.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"url": srv.URL + "/secure", "accessToken": "tok-redirected"})
	})
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, secure.Shutdown(ctx))
	})
	return srv.URL
}

func TestJavaClientInterop(t *testing.T) {
	javatest.Require(t)
	for _, tc := range javaMatrix {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			url := hubtest.InteropServer(t)
			var redirects atomic.Int32
			authURL := javaAuthServer(t, &redirects)
			results := javatest.Run(t,
				"SIGNALR_URL="+url,
				"SIGNALR_AUTH_URL="+authURL,
				"SIGNALR_TRANSPORT="+tc.transport,
				"SIGNALR_PROTOCOL="+tc.protocol,
			)
			passed := 0
			for _, r := range results {
				if r.Status == "pass" {
					passed++
				}
			}
			t.Logf("%d of %d scenarios passed", passed, len(results))
			require.GreaterOrEqual(t, passed, tc.min, "the Java program ran too few scenarios")
			require.Positive(t, redirects.Load(), "the client asked the redirecting negotiate")
		})
	}
}
