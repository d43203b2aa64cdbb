// Command chat is a small chat server: a web page that uses the official
// SignalR browser client, and a hub with rooms.
//
//	go run ./examples/chat
//
// then open http://localhost:8080 in two browser windows. The page loads the
// official browser client from -client-js, or from the copy npm ci installs
// under internal/interop/node when run from the repository root, or else
// from a CDN.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gosignalr/signalr/examples/chathub"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	clientJS := flag.String("client-js", "", "serve the SignalR browser client from this file (default: "+chathub.LocalClient+" if present, else a CDN)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	hub, handler, err := newServer(logger, *clientJS)
	if err != nil {
		logger.Error("hub", "error", err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(shutdownCtx)
		_ = srv.Shutdown(shutdownCtx)
	}()
	logger.Info("chat listening", "url", "http://"+*addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("listen", "error", err)
		os.Exit(1)
	}
}
