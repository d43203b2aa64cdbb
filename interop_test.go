package signalr_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/nodetest"
)

// TestOfficialClientFallback blocks WebSocket upgrades in front of the hub,
// as some proxies do: the client's default transport list must fall back
// (to Server-Sent Events) and every scenario must still pass.
func TestOfficialClientFallback(t *testing.T) {
	nodetest.Require(t)
	url := hubtest.InteropServer(t)
	var refused, streams atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			refused.Add(1)
			http.Error(w, "WebSockets are blocked here", http.StatusForbidden)
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			streams.Add(1)
		}
		httputil.NewSingleHostReverseProxy(mustParseURL(t, url)).ServeHTTP(w, r)
	}))
	defer proxy.Close()
	passed, _ := hubtest.RunScenarios(t, proxy.URL, "Default", "json")
	require.GreaterOrEqual(t, passed, 9)
	require.Positive(t, refused.Load(), "the client tried WebSockets first")
	require.Positive(t, streams.Load(), "the client fell back to Server-Sent Events")
}

func TestOfficialClientInterop(t *testing.T) {
	nodetest.Require(t)
	for _, tc := range hubtest.InteropMatrix {
		t.Run(tc.Transport+"/"+tc.Protocol, func(t *testing.T) {
			url := hubtest.InteropServer(t)
			passed, skipped := hubtest.RunScenarios(t, url, tc.Transport, tc.Protocol)
			t.Logf("%d scenarios passed, %d skipped", passed, skipped)
			require.GreaterOrEqual(t, passed, 9, "the scenario file ran too few scenarios")
		})
	}
}

func mustParseURL(t *testing.T, s string) *neturl.URL {
	t.Helper()
	u, err := neturl.Parse(s)
	require.NoError(t, err)
	return u
}
