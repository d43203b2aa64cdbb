// Command chat is a small chat server: a web page that uses the official
// SignalR browser client, and a hub with rooms.
//
//	go run ./examples/chat
//
// then open http://localhost:8080 in two browser windows.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gosignalr/signalr"
)

// Chat is the hub. Clients call Send, Join and Leave; the server calls the
// clients' "message" and "system" handlers.
type Chat struct{}

// Send posts a message to the room, or to everyone when room is empty.
func (Chat) Send(c *signalr.Context, room, name, text string) error {
	name, text = strings.TrimSpace(name), strings.TrimSpace(text)
	if text == "" {
		return signalr.NewHubError("empty message")
	}
	if len(text) > 2000 {
		return signalr.NewHubError("message too long")
	}
	if room == "" {
		return c.Clients().All().Send(c, "message", room, name, text)
	}
	return c.Clients().Group(room).Send(c, "message", room, name, text)
}

// Join adds the caller to a room and tells the room.
func (Chat) Join(c *signalr.Context, room, name string) error {
	if room == "" {
		return signalr.NewHubError("room name required")
	}
	if err := c.Groups().Add(c, c.ConnectionID(), room); err != nil {
		return err
	}
	return c.Clients().Group(room).Send(c, "system", room, name+" joined")
}

// Leave takes the caller out of a room.
func (Chat) Leave(c *signalr.Context, room, name string) error {
	if err := c.Groups().Remove(c, c.ConnectionID(), room); err != nil {
		return err
	}
	return c.Clients().Group(room).Send(c, "system", room, name+" left")
}

//go:embed index.html
var page embed.FS

// cdnClient is where the page's browser client comes from when no local
// copy is given with -client-js.
const cdnClient = "https://cdn.jsdelivr.net/npm/@microsoft/signalr@10.0.11/dist/browser/signalr.min.js"

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	clientJS := flag.String("client-js", "", "serve the SignalR browser client from this file instead of a CDN")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	hub, err := signalr.New(Chat{}, signalr.WithLogger(logger))
	if err != nil {
		logger.Error("hub", "error", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/chat", hub)
	mux.Handle("/chat/", hub)
	mux.Handle("GET /{$}", http.FileServerFS(page))
	mux.HandleFunc("GET /signalr.min.js", func(w http.ResponseWriter, r *http.Request) {
		if *clientJS != "" {
			http.ServeFile(w, r, *clientJS)
			return
		}
		http.Redirect(w, r, cdnClient, http.StatusFound)
	})

	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
