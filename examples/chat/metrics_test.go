package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMetricsPage scrapes /metrics from the chat's handler while a client
// connects and leaves.
func TestMetricsPage(t *testing.T) {
	defer goleak.VerifyNone(t)
	hub, handler, err := newServer(slog.New(slog.DiscardHandler), "")
	require.NoError(t, err)
	srv := httptest.NewServer(handler)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, hub.Shutdown(ctx))
	}()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// active returns the active WebSocket connections /metrics reports,
	// "" if none is reported.
	// The exporter adds the instrumentation scope's labels.
	const name, label = "signalr_server_active_connections{", `signalr_transport="web_sockets"`
	active := func() string {
		t.Helper()
		resp, err := client.Get(srv.URL + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		// The Prometheus text format (promhttp adds its name-escaping scheme).
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"), resp.Header.Get("Content-Type"))
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Contains(t, string(body), "# TYPE signalr_server_sent_messages_total counter\n")
		for sc := bufio.NewScanner(strings.NewReader(string(body))); sc.Scan(); {
			line := sc.Text()
			if strings.HasPrefix(line, name) && strings.Contains(line, label) {
				return line[strings.LastIndexByte(line, ' ')+1:]
			}
		}
		return ""
	}
	eventually := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for got := active(); got != want; got = active() {
			require.True(t, time.Now().Before(deadline), "active connections: got %q, want %q", got, want)
			time.Sleep(10 * time.Millisecond)
		}
	}
	require.Empty(t, active(), "no connection yet")

	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/chat", nil)
	require.NoError(t, err)
	resp.Body.Close()
	defer ws.Close()
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"json","version":1}`+"\x1e")))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, reply, err := ws.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "{}\x1e", string(reply))
	eventually("1")

	require.NoError(t, ws.Close())
	eventually("0")
}
