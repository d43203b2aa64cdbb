package signalr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/nodetest"
)

// Kitchen exercises every kind of argument the interop suite sends.
type Kitchen struct {
	Name   string         `json:"name"`
	Count  int64          `json:"count"`
	Ratio  float64        `json:"ratio"`
	Ok     bool           `json:"ok"`
	Tags   []string       `json:"tags"`
	Attrs  map[string]int `json:"attrs"`
	Inner  *Inner         `json:"inner"`
	Nested []Inner        `json:"nested"`
}

// Inner is nested in Kitchen.
type Inner struct {
	Label  string `json:"label"`
	Values []int  `json:"values"`
}

// interopHub is the hub the official client talks to in the interop suite.
type interopHub struct{}

func (interopHub) Add(a, b int) int                          { return a + b }
func (interopHub) Echo(s string) string                      { return s }
func (interopHub) EchoKitchen(k Kitchen) Kitchen             { return k }
func (interopHub) IsNil(p *Inner) bool                       { return p == nil }
func (interopHub) GetConnectionId(c *signalr.Context) string { return c.ConnectionID() }
func (interopHub) GetUser(c *signalr.Context) string         { return c.UserID() }

func (interopHub) Sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func (interopHub) Describe(kind string, v signalr.RawArgument) (string, error) {
	switch kind {
	case "int":
		var n int
		err := v.Decode(&n)
		return fmt.Sprintf("int:%d", n), err
	case "string":
		var s string
		err := v.Decode(&s)
		return "string:" + s, err
	case "list":
		var l []int
		err := v.Decode(&l)
		return fmt.Sprintf("list:%v", l), err
	}
	return "", signalr.NewHubError("unknown kind %q", kind)
}

func (interopHub) Notify(c *signalr.Context, msg string) error {
	return c.Clients().Caller().Send(c, "notified", msg)
}

func (interopHub) SendToCaller(c *signalr.Context, msg string) error {
	return c.Clients().Caller().Send(c, "receive", msg)
}

func (interopHub) SendToAll(c *signalr.Context, msg string) error {
	return c.Clients().All().Send(c, "receive", msg)
}

func (interopHub) SendToOthers(c *signalr.Context, msg string) error {
	return c.Clients().Others().Send(c, "receive", msg)
}

func (interopHub) SendToClient(c *signalr.Context, id, msg string) error {
	return c.Clients().Client(id).Send(c, "receive", msg)
}

func (interopHub) SendToClients(c *signalr.Context, ids []string, msg string) error {
	return c.Clients().Clients(ids...).Send(c, "receive", msg)
}

func (interopHub) SendToAllExcept(c *signalr.Context, ids []string, msg string) error {
	return c.Clients().AllExcept(ids...).Send(c, "receive", msg)
}

func (interopHub) SendToGroup(c *signalr.Context, group, msg string) error {
	return c.Clients().Group(group).Send(c, "receive", msg)
}

func (interopHub) SendToGroups(c *signalr.Context, groups []string, msg string) error {
	return c.Clients().Groups(groups...).Send(c, "receive", msg)
}

func (interopHub) SendToGroupExcept(c *signalr.Context, group string, ids []string, msg string) error {
	return c.Clients().GroupExcept(group, ids...).Send(c, "receive", msg)
}

func (interopHub) SendToOthersInGroup(c *signalr.Context, group, msg string) error {
	return c.Clients().OthersInGroup(group).Send(c, "receive", msg)
}

func (interopHub) SendToUser(c *signalr.Context, user, msg string) error {
	return c.Clients().User(user).Send(c, "receive", msg)
}

func (interopHub) SendToUsers(c *signalr.Context, users []string, msg string) error {
	return c.Clients().Users(users...).Send(c, "receive", msg)
}

func (interopHub) JoinGroup(c *signalr.Context, group string) error {
	return c.Groups().Add(c, c.ConnectionID(), group)
}

func (interopHub) LeaveGroup(c *signalr.Context, group string) error {
	return c.Groups().Remove(c, c.ConnectionID(), group)
}

func (interopHub) Fail(msg string) error    { return errors.New(msg) }
func (interopHub) FailHub(msg string) error { return signalr.NewHubError("%s", msg) }
func (interopHub) Panic()                   { panic("boom") }

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

func userFromQuery(r *http.Request) string { return r.URL.Query().Get("user") }

// interopServer serves the hubs the Node scenarios expect.
func interopServer(t *testing.T, opts ...signalr.Option) string {
	return interopCluster(t, 1, nil, opts...)
}

// interopCluster serves the hubs the Node scenarios expect on n nodes.
// With n > 1 the nodes share the backplane that bp returns for each hub
// name, and the returned URL is a proxy that sends each request to the
// next node in turn (no sticky sessions).
func interopCluster(t *testing.T, n int, bp func(name string) backplane.Backplane, opts ...signalr.Option) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := append([]signalr.Option{signalr.WithLogger(logger), signalr.WithUserIDFunc(userFromQuery)}, opts...)
	withBP := func(name string, o ...signalr.Option) []signalr.Option {
		o = append(append([]signalr.Option(nil), base...), o...)
		if bp != nil {
			o = append(o, signalr.WithBackplane(bp(name), name))
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
		main, err := signalr.New(interopHub{}, withBP("main", signalr.WithKeepAliveInterval(500*time.Millisecond))...)
		require.NoError(t, err)
		mount("/hub", main)
		quiet, err := signalr.New(interopHub{}, withBP("quiet", signalr.WithKeepAliveInterval(time.Hour))...)
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
	return roundRobin(t, urls)
}

// roundRobin serves a reverse proxy that sends each request (WebSocket
// upgrades included) to the next of urls.
func roundRobin(t *testing.T, urls []string) string {
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

// requireNodeClient fails (never skips) when the official client is not
// installed: the test command installs it with npm ci.
func requireNodeClient(t *testing.T) { nodetest.Require(t) }

// runScenarios runs the main Node scenario file against url and returns
// the number of passed and skipped scenarios; it fails t when any failed.
func runScenarios(t *testing.T, url, transportName, protocolName string) (passed, skipped int) {
	t.Helper()
	return runNodeFile(t, "scenarios.test.mjs", url, transportName, protocolName)
}

// runNodeFile runs one node:test file of internal/interop/node against url.
func runNodeFile(t *testing.T, file, url, transportName, protocolName string) (passed, skipped int) {
	t.Helper()
	return nodetest.Run(t, file, url, transportName, protocolName)
}

// TestOfficialClientFallback blocks WebSocket upgrades in front of the hub,
// as some proxies do: the client's default transport list must fall back
// (to Server-Sent Events) and every scenario must still pass.
func TestOfficialClientFallback(t *testing.T) {
	requireNodeClient(t)
	url := interopServer(t)
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
	passed, _ := runScenarios(t, proxy.URL, "Default", "json")
	require.GreaterOrEqual(t, passed, 9)
	require.Positive(t, refused.Load(), "the client tried WebSockets first")
	require.Positive(t, streams.Load(), "the client fell back to Server-Sent Events")
}

func mustParseURL(t *testing.T, s string) *neturl.URL {
	t.Helper()
	u, err := neturl.Parse(s)
	require.NoError(t, err)
	return u
}

// interopMatrix is every transport and protocol pair the official client
// supports (Server-Sent Events carry text only).
var interopMatrix = []struct{ transport, protocol string }{
	{"WebSockets", "json"},
	{"WebSockets", "messagepack"},
	{"ServerSentEvents", "json"},
	{"LongPolling", "json"},
	{"LongPolling", "messagepack"},
}

func TestOfficialClientInterop(t *testing.T) {
	requireNodeClient(t)
	for _, tc := range interopMatrix {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			url := interopServer(t)
			passed, skipped := runScenarios(t, url, tc.transport, tc.protocol)
			t.Logf("%d scenarios passed, %d skipped", passed, skipped)
			require.GreaterOrEqual(t, passed, 9, "the scenario file ran too few scenarios")
		})
	}
}
