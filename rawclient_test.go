package signalr_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
)

// startHub serves hub at /hub on a fresh loopback server and shuts both
// down when the test ends.
func startHub(t *testing.T, hub any, opts ...signalr.Option) (*signalr.Hub, string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := signalr.New(hub, append([]signalr.Option{signalr.WithLogger(logger), signalr.WithUserIDFunc(userFromQuery)}, opts...)...)
	require.NoError(t, err)
	return h, serveHub(t, h)
}

// serveHub serves h at /hub on a fresh loopback server and returns its URL.
// When the test ends it shuts h down, then the server, then closes each of
// closers (the hub's backplane).
func serveHub(t *testing.T, h *signalr.Hub, closers ...io.Closer) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
		srv.Close()
		for _, c := range closers {
			c.Close()
		}
	})
	return srv.URL
}

// rawClient speaks the JSON protocol over a bare WebSocket, so tests can
// send exactly the bytes they mean, malformed ones included.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, baseURL, query string) *rawClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/hub" + query
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	c := &rawClient{t: t, ws: ws}
	t.Cleanup(func() { ws.Close() })
	return c
}

// handshake dials and completes a JSON handshake.
func handshakeRaw(t *testing.T, baseURL string) *rawClient {
	c := dialRaw(t, baseURL, "")
	c.sendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.readText())
	return c
}

func (c *rawClient) sendText(s string) {
	c.t.Helper()
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, []byte(s)))
}

func (c *rawClient) readFrame() (int, []byte, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c.ws.ReadMessage()
}

func (c *rawClient) readText() string {
	c.t.Helper()
	typ, b, err := c.readFrame()
	require.NoError(c.t, err)
	require.Equal(c.t, websocket.TextMessage, typ)
	return string(b)
}

// readMessages reads frames until one holds a non-Ping message and returns
// the messages of that frame, decoded.
func (c *rawClient) readMessages() []map[string]any {
	c.t.Helper()
	for {
		frame := c.readText()
		var out []map[string]any
		for _, rec := range strings.Split(strings.TrimSuffix(frame, "\x1e"), "\x1e") {
			var m map[string]any
			require.NoError(c.t, json.Unmarshal([]byte(rec), &m), "record %q", rec)
			if m["type"] != float64(6) {
				out = append(out, m)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
}

func (c *rawClient) readMessage() map[string]any {
	c.t.Helper()
	ms := c.readMessages()
	require.Len(c.t, ms, 1)
	return ms[0]
}

// expectClosed reads until the server ends the socket. It returns the
// Close message the server sent first (nil if none) and the WebSocket close
// error.
func (c *rawClient) expectClosed() (closeMsg map[string]any, closeErr error) {
	c.t.Helper()
	for {
		_, b, err := c.readFrame()
		if err != nil {
			return closeMsg, err
		}
		for _, rec := range strings.Split(strings.TrimSuffix(string(b), "\x1e"), "\x1e") {
			var m map[string]any
			if json.Unmarshal([]byte(rec), &m) == nil && m["type"] == float64(7) {
				closeMsg = m
			}
		}
	}
}
