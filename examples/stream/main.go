// Command stream shows streaming both ways between a hub and the official
// browser client: the server streams the progress of a job, which the page
// shows in a progress bar, and the page uploads a file in chunks as a
// client stream, while the server reports what it has received.
//
//	go run ./examples/stream
//	go run ./examples/stream -step 50ms -addr localhost:9090
//
// then open http://localhost:8080, start a job and upload a file.
//
// Endpoints:
//
//	/jobs                  the hub: Process(steps) streams Progress items (stream());
//	                       Upload(name, chunks) takes a client stream (invoke() with a
//	                       signalR.Subject) and returns the totals, calling the
//	                       client's "received" (chunks, bytes) handler as chunks arrive
//	GET /                  the web page
//	GET /signalr.min.js    the browser client: the -client-js file, else the copy npm ci
//	                       installs under internal/interop/node (when run from the
//	                       repository root), else a redirect to a CDN
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/examples/chathub"
)

func main() {
	var cfg config
	addr := flag.String("addr", "localhost:8080", "listen address")
	flag.StringVar(&cfg.clientJS, "client-js", "", "serve the SignalR browser client from this file (default: "+chathub.LocalClient+" if present, else a CDN)")
	flag.DurationVar(&cfg.stepDelay, "step", 200*time.Millisecond, "how long each step of a job takes")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		err = run(ctx, ln, cfg, logger)
	}
	if err != nil {
		logger.Error("stream", "error", err)
		os.Exit(1)
	}
}

// config is what the command line sets.
type config struct {
	clientJS  string        // the browser client's file; empty: see chathub.ClientScript
	stepDelay time.Duration // Jobs.StepDelay
}

// run serves the example on ln until ctx ends, then shuts the hub and the
// HTTP server down and returns.
func run(ctx context.Context, ln net.Listener, cfg config, logger *slog.Logger) error {
	hub, err := signalr.New(Jobs{StepDelay: cfg.stepDelay}, signalr.WithLogger(logger))
	if err != nil {
		ln.Close()
		return fmt.Errorf("hub: %w", err)
	}
	srv := &http.Server{Handler: newMux(hub, cfg.clientJS), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(shutdownCtx)
		_ = srv.Shutdown(shutdownCtx)
	}()
	logger.Info("stream example listening", "url", "http://"+ln.Addr().String())
	err = srv.Serve(ln)
	cancel() // Serve failed, or the goroutine above is shutting down already
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

//go:embed index.html
var page embed.FS

// newMux serves the page at /, the browser client at /signalr.min.js and
// the hub at /jobs.
func newMux(hub http.Handler, clientJS string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/jobs", hub)
	mux.Handle("/jobs/", hub) // negotiate
	mux.Handle("GET /{$}", http.FileServerFS(page))
	mux.Handle("GET /signalr.min.js", chathub.ClientScript(clientJS))
	return mux
}
