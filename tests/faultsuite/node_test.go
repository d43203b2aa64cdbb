package faultsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
)

// Environment of a node process, beside nodeEnv (the bus: "nats" or
// "redis").
const (
	busURLEnv = "FAULTSUITE_BUS_URL" // the bus's URL (a proxy in front of it)
	userHdr   = "X-Fault-User"       // the header that names a connection's user
)

// faultHub is the hub every node serves.
type faultHub struct{}

// Join adds the caller to group.
func (faultHub) Join(c *signalr.Context, group string) error {
	return c.Groups().Add(c, c.ConnectionID(), group)
}

// Send sends "msg" (sender, seq) to a target: kind "group", "user" or
// "client" with its name, or "all". Its error, a failed delivery to
// another node included, is the caller's.
func (faultHub) Send(c *signalr.Context, kind, name, sender string, seq int) error {
	switch kind {
	case "group":
		return c.Clients().Group(name).Send(c, "msg", sender, seq)
	case "user":
		return c.Clients().User(name).Send(c, "msg", sender, seq)
	case "client":
		return c.Clients().Client(name).Send(c, "msg", sender, seq)
	case "all":
		return c.Clients().All().Send(c, "msg", sender, seq)
	}
	return fmt.Errorf("unknown target kind %q", kind)
}

// nodeStats is what a node's /stats endpoint answers.
type nodeStats struct {
	Goroutines int    `json:"goroutines"`
	Heap       uint64 `json:"heap"` // live heap bytes after a collection
}

// runNode serves faultHub on 127.0.0.1:0 over the bus named by the
// environment, writes "ADDR host:port" on stdout, and runs until SIGTERM
// (then shuts down cleanly and exits 0) or until stdin ends (the test
// process went away).
func runNode() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "node: "+format+"\n", args...)
		return 1
	}
	var (
		bp  backplane.Backplane
		err error
	)
	url := os.Getenv(busURLEnv)
	switch kind := os.Getenv(nodeEnv); kind {
	case "nats":
		bp, err = natsbp.Connect(url, natsbp.WithPrefix("fault"), natsbp.WithErrorHandler(func(err error) { logger.Warn("bus error", "error", err) }))
	case "redis":
		bp, err = redisbp.Connect(url, redisbp.WithPrefix("fault"), redisbp.WithErrorHandler(func(err error) { logger.Warn("bus error", "error", err) }))
	default:
		return fail("unknown bus %q", kind)
	}
	if err != nil {
		return fail("connecting to the bus: %v", err)
	}
	h, err := signalr.New(faultHub{},
		signalr.WithLogger(logger),
		signalr.WithBackplane(bp), signalr.WithHubName("fault"),
		signalr.WithUserIDFunc(func(r *http.Request) string { return r.Header.Get(userHdr) }))
	if err != nil {
		return fail("hub: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(nodeStats{Goroutines: runtime.NumGoroutine(), Heap: ms.HeapAlloc})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listen: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("ADDR %s\n", ln.Addr())

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	stdinDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinDone)
	}()
	select {
	case <-term:
	case <-stdinDone:
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		return fail("hub shutdown: %v", err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fail("server shutdown: %v", err)
	}
	if err := bp.Close(); err != nil {
		return fail("closing the bus: %v", err)
	}
	return 0
}
