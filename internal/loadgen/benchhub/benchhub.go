// Package benchhub is the hub that gosignalr's load tests run against:
// Echo for request/response, Publish and Join for broadcasts and groups,
// and a stats endpoint (see loadgen.Stats) that reports the process's
// memory, goroutines, CPU time, open connections and the reasons the
// server gave for the connections it closed.
package benchhub

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/loadgen"
)

// Hub is the bench hub. Its methods are called by the loadgen SignalR
// driver; it counts connections and the errors they ended with.
type Hub struct {
	conns       atomic.Int64
	mu          sync.Mutex
	disconnects map[string]int64
}

// Echo returns its argument.
func (*Hub) Echo(payload string) string { return payload }

// Publish sends payload to the client method loadgen.BroadcastTarget of
// every connection in group, or of every connection when group is empty.
func (*Hub) Publish(c *signalr.Context, group, payload string) error {
	if group == "" {
		return c.Clients().All().Send(c, loadgen.BroadcastTarget, payload)
	}
	return c.Clients().Group(group).Send(c, loadgen.BroadcastTarget, payload)
}

// Join adds the caller to group.
func (*Hub) Join(c *signalr.Context, group string) error {
	return c.Groups().Add(c, c.ConnectionID(), group)
}

// OnConnected counts the connection.
func (h *Hub) OnConnected(*signalr.Context) error {
	h.conns.Add(1)
	return nil
}

// OnDisconnected counts the connection out, and the error it ended with.
func (h *Hub) OnDisconnected(_ *signalr.Context, err error) {
	h.conns.Add(-1)
	if err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disconnects == nil {
		h.disconnects = make(map[string]int64)
	}
	h.disconnects[err.Error()]++
}

// FillStats adds the open connections and disconnect reasons to s.
func (h *Hub) FillStats(s *loadgen.Stats) {
	s.Conns = h.conns.Load()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.disconnects) > 0 {
		s.Disconnects = maps.Clone(h.disconnects)
	}
}

// Path is where Server mounts the hub; its stats are at StatsPath.
const (
	Path      = "/hub"
	StatsPath = "/debug/stats"
)

// Options configures a Server.
type Options struct {
	// Hub holds the signalr options (backplane, limits, logger, ...).
	Hub []signalr.Option
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
}

// Server is a bench hub mounted with its stats endpoint.
type Server struct {
	Hub     *signalr.Hub
	Bench   *Hub
	Handler http.Handler
}

// New returns a Server; mount Handler at the root of an HTTP server.
func New(opts Options) (*Server, error) {
	bench := &Hub{}
	hubOpts := append([]signalr.Option{signalr.WithLogger(slog.New(slog.DiscardHandler))}, opts.Hub...)
	h, err := signalr.New(bench, hubOpts...)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	mux.Handle(Path+"/", h)
	mux.Handle("GET "+StatsPath, loadgen.StatsHandler(bench.FillStats))
	if opts.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &Server{Hub: h, Bench: bench, Handler: mux}, nil
}

// Shutdown stops the hub (see signalr.Hub.Shutdown).
func (s *Server) Shutdown(ctx context.Context) error { return s.Hub.Shutdown(ctx) }
