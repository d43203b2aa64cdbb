// Command typed is an auction on a strongly typed hub: the methods the
// server calls on its clients, and those the clients call on the hub, are
// declared once in package auction with the contract package, so the hub
// cannot send a bid where a list of lots belongs, or forget an argument,
// without failing to compile.
//
//	go run ./examples/typed
//	go run ./examples/typed -confirm-above 500 -addr localhost:9090
//
// then open http://localhost:8080 in two browser windows, pick a name in
// each, and bid. The log shows every bid; the page shows the targets at
// work: new bids go to the lot's watchers (a group), "outbid" notices to
// every connection of the bidder who lost the lead (a user), and bids of
// -confirm-above or more are confirmed with the bidder first (a client
// result the hub waits for).
//
// Endpoints:
//
//	/auction               the hub: Watch(lot) → best bid, Place(lot, amount) → bid;
//	                       the clients' Lots(bids), NewBid(bid), Outbid(bid) and
//	                       Confirm(bid) → bool handlers (see package auction);
//	                       the bidder's name is the ?name= query parameter
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
	"strings"
	"syscall"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/examples/chathub"
)

// lots is what is for sale.
var lots = []string{"lamp", "bicycle", "clock"}

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	confirmAbove := flag.Int("confirm-above", 100, "bids of this amount or more are confirmed with the bidder first")
	clientJS := flag.String("client-js", "", "serve the SignalR browser client from this file (default: "+chathub.LocalClient+" if present, else a CDN)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		err = run(ctx, ln, NewHouse(*confirmAbove, logger, lots...), *clientJS, logger)
	}
	if err != nil {
		logger.Error("typed", "error", err)
		os.Exit(1)
	}
}

// newHub serves house; a bidder's name is the ?name= query parameter.
func newHub(house *House, logger *slog.Logger) (*signalr.Hub, error) {
	return signalr.New(house,
		signalr.WithLogger(logger),
		signalr.WithUserIDFunc(func(r *http.Request) string {
			return strings.TrimSpace(r.URL.Query().Get("name"))
		}),
	)
}

// run serves house on ln until ctx ends, then shuts the hub and the HTTP
// server down and returns.
func run(ctx context.Context, ln net.Listener, house *House, clientJS string, logger *slog.Logger) error {
	hub, err := newHub(house, logger)
	if err != nil {
		ln.Close()
		return fmt.Errorf("hub: %w", err)
	}
	srv := &http.Server{Handler: newMux(hub, clientJS), ReadHeaderTimeout: 10 * time.Second}
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
	logger.Info("auction listening", "url", "http://"+ln.Addr().String())
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
// the hub at /auction.
func newMux(hub http.Handler, clientJS string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/auction", hub)
	mux.Handle("/auction/", hub) // negotiate
	mux.Handle("GET /{$}", http.FileServerFS(page))
	mux.Handle("GET /signalr.min.js", chathub.ClientScript(clientJS))
	return mux
}
