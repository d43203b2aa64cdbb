// Command cluster runs the chat on three hub nodes joined by NATS, behind
// a round-robin reverse proxy with no sticky sessions: every request,
// negotiate, WebSocket, SSE stream, send and long poll, goes to the next
// node in turn, and the chat works all the same.
//
//	go run ./examples/cluster                       # starts an embedded NATS server
//	go run ./examples/cluster -nats nats://host:4222 # or uses yours
//
// then open http://localhost:8080 in two browser windows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/gosignalr/signalr"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	"github.com/gosignalr/signalr/examples/chathub"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address of the round-robin proxy")
	natsURL := flag.String("nats", "", "NATS server URL (default: start an embedded server on loopback)")
	nodes := flag.Int("nodes", 3, "number of hub nodes")
	clientJS := flag.String("client-js", "", "serve the SignalR browser client from this file instead of a CDN")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		err = run(ctx, ln, *natsURL, *nodes, *clientJS, logger)
	}
	if err != nil {
		logger.Error("cluster", "error", err)
		os.Exit(1)
	}
}

// run serves the cluster's proxy on ln until ctx ends.
func run(ctx context.Context, ln net.Listener, natsURL string, n int, clientJS string, logger *slog.Logger) error {
	if natsURL == "" {
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
		if err != nil {
			return err
		}
		go ns.Start()
		if !ns.ReadyForConnections(5 * time.Second) {
			return errors.New("embedded NATS server did not start")
		}
		defer ns.Shutdown()
		natsURL = ns.ClientURL()
		logger.Info("embedded NATS server", "url", natsURL)
	}

	var targets []*httputil.ReverseProxy
	var hubs []*signalr.Hub
	var servers []*http.Server
	for i := range n {
		bp, err := natsbp.Connect(natsURL, natsbp.WithPrefix("chat-example"))
		if err != nil {
			return err
		}
		defer bp.Close()
		hub, err := signalr.New(chathub.Chat{},
			signalr.WithLogger(logger.With("node", i)),
			signalr.WithBackplane(bp), signalr.WithHubName("chat"))
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: chathub.Mux(hub, clientJS), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		u, _ := url.Parse("http://" + ln.Addr().String())
		proxy := httputil.NewSingleHostReverseProxy(u)
		proxy.FlushInterval = -1 // stream Server-Sent Events at once
		targets = append(targets, proxy)
		hubs = append(hubs, hub)
		servers = append(servers, srv)
		logger.Info("hub node", "node", i, "url", u.String())
	}

	var next atomic.Uint32
	front := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			targets[int(next.Add(1))%len(targets)].ServeHTTP(w, r)
		}),
	}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, h := range hubs {
			_ = h.Shutdown(shutdownCtx)
		}
		for _, s := range servers {
			_ = s.Shutdown(shutdownCtx)
		}
		_ = front.Shutdown(shutdownCtx)
	}()
	logger.Info("chat cluster listening (round robin, no sticky sessions)", "url", fmt.Sprintf("http://%s", ln.Addr()))
	if err := front.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
