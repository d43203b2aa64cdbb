package chathub_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/examples/chathub"
	"github.com/gosignalr/signalr/internal/nodetest"
)

// TestChat drives the chat example's hub with the official client, and
// checks that the page and the client script are served.
func TestChat(t *testing.T) {
	nodetest.Require(t)
	hub, err := signalr.New(chathub.Chat{}, signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(chathub.Mux(hub, ""))
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "signalR.HubConnectionBuilder") {
		t.Fatalf("page: %d %.200s", resp.StatusCode, body)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = client.Get(srv.URL + "/signalr.min.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != chathub.CDNClient {
		t.Fatalf("client script: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	for _, transport := range []string{"WebSockets", "ServerSentEvents", "LongPolling"} {
		t.Run(transport, func(t *testing.T) {
			if passed, _ := nodetest.Run(t, "chat.test.mjs", srv.URL, transport, "json"); passed != 1 {
				t.Fatalf("passed %d chat scenarios, want 1", passed)
			}
		})
	}
}
