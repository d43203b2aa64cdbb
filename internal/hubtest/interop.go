package hubtest

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/nodetest"
	"github.com/stretchr/testify/require"
)

// shutdownHub shuts its hubs (one per node) down when asked.
type shutdownHub struct {
	hubs []*signalr.Hub
	done chan error
}

func (s *shutdownHub) ShutdownServer() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		for _, h := range s.hubs {
			err = errors.Join(err, h.Shutdown(ctx))
		}
		s.done <- err
	}()
}

// InteropServer serves the hubs the Node scenarios expect.
func InteropServer(t *testing.T, opts ...signalr.Option) string {
	return InteropCluster(t, 1, nil, opts...)
}

// InteropCluster serves the hubs the Node scenarios expect on n nodes.
// With n > 1 the nodes share the backplane that bp returns for each hub
// name, and the returned URL is a proxy that sends each request to the
// next node in turn (no sticky sessions).
func InteropCluster(t *testing.T, n int, bp func(name string) backplane.Backplane, opts ...signalr.Option) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := append([]signalr.Option{signalr.WithLogger(logger), signalr.WithUserIDFunc(UserFromQuery)}, opts...)
	withBP := func(name string, o ...signalr.Option) []signalr.Option {
		o = append(append([]signalr.Option(nil), base...), o...)
		if bp != nil {
			o = append(o, signalr.WithBackplane(bp(name)), signalr.WithHubName(name))
		}
		return o
	}
	sh := &shutdownHub{done: make(chan error, 1)}
	var hubs []*signalr.Hub
	var urls []string
	for range n {
		mux := http.NewServeMux()
		mount := func(path string, h *signalr.Hub) {
			mux.Handle(path, h)
			mux.Handle(path+"/", h)
			hubs = append(hubs, h)
		}
		main, err := signalr.New(Hub{}, withBP("main", signalr.WithKeepAliveInterval(500*time.Millisecond))...)
		require.NoError(t, err)
		mount("/hub", main)
		quiet, err := signalr.New(Hub{}, withBP("quiet", signalr.WithKeepAliveInterval(time.Hour))...)
		require.NoError(t, err)
		mount("/nokeepalive", quiet)
		down, err := signalr.New(sh, withBP("shutdown")...)
		require.NoError(t, err)
		sh.hubs = append(sh.hubs, down)
		mount("/shutdown", down)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, h := range hubs {
			require.NoError(t, h.Shutdown(ctx))
		}
	})
	if n == 1 {
		return urls[0]
	}
	return RoundRobin(t, urls)
}

// RoundRobin serves a reverse proxy that sends each request (WebSocket
// upgrades included) to the next of urls.
func RoundRobin(t *testing.T, urls []string) string {
	t.Helper()
	var next atomic.Uint32
	proxies := make([]*httputil.ReverseProxy, len(urls))
	for i, u := range urls {
		proxies[i] = httputil.NewSingleHostReverseProxy(mustParseURL(t, u))
		proxies[i].FlushInterval = -1
		proxies[i].ErrorLog = log.New(io.Discard, "", 0) // aborted polls are normal
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[int(next.Add(1))%len(proxies)].ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// RunScenarios runs the main Node scenario file against url and returns
// the number of passed and skipped scenarios; it fails t when any failed.
func RunScenarios(t *testing.T, url, transportName, protocolName string) (passed, skipped int) {
	t.Helper()
	return RunNodeFile(t, "scenarios.test.mjs", url, transportName, protocolName)
}

// RunNodeFile runs one node:test file of internal/interop/node against url.
func RunNodeFile(t *testing.T, file, url, transportName, protocolName string) (passed, skipped int) {
	t.Helper()
	return nodetest.Run(t, file, url, transportName, protocolName)
}

// mustParseURL parses s or fails t.
func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// InteropMatrix is every transport and protocol pair the official client
// supports (Server-Sent Events carry text only).
var InteropMatrix = []struct{ Transport, Protocol string }{
	{"WebSockets", "json"},
	{"WebSockets", "messagepack"},
	{"ServerSentEvents", "json"},
	{"LongPolling", "json"},
	{"LongPolling", "messagepack"},
}
