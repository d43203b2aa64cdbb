package hubtest

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
	"github.com/gosignalr/signalr"
	"github.com/stretchr/testify/require"
)

// StartHub serves hub at /hub on a fresh loopback server and shuts both
// down when the test ends.
func StartHub(t *testing.T, hub any, opts ...signalr.Option) (*signalr.Hub, string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := signalr.New(hub, append([]signalr.Option{signalr.WithLogger(logger), signalr.WithUserIDFunc(UserFromQuery)}, opts...)...)
	require.NoError(t, err)
	return h, ServeHub(t, h)
}

// ServeHub serves h at /hub on a fresh loopback server and returns its URL.
// When the test ends it shuts h down, then the server, then closes each of
// closers (the hub's backplane).
func ServeHub(t *testing.T, h *signalr.Hub, closers ...io.Closer) string {
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

// RawClient speaks the JSON protocol over a bare WebSocket, so tests can
// send exactly the bytes they mean, malformed ones included.
type RawClient struct {
	T  *testing.T      // the test the client reports to
	WS *websocket.Conn // the bare WebSocket, for tests that misbehave on purpose
}

// DialRaw opens a WebSocket to baseURL+"/hub"+query without a handshake.
func DialRaw(t *testing.T, baseURL, query string) *RawClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/hub" + query
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	c := &RawClient{T: t, WS: ws}
	t.Cleanup(func() { ws.Close() })
	return c
}

// HandshakeRaw dials and completes a JSON handshake.
func HandshakeRaw(t *testing.T, baseURL string) *RawClient {
	c := DialRaw(t, baseURL, "")
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.ReadText())
	return c
}

// SendText sends s in one text frame.
func (c *RawClient) SendText(s string) {
	c.T.Helper()
	require.NoError(c.T, c.WS.WriteMessage(websocket.TextMessage, []byte(s)))
}

// ReadFrame reads one frame, waiting at most 5 seconds.
func (c *RawClient) ReadFrame() (int, []byte, error) {
	_ = c.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c.WS.ReadMessage()
}

// ReadText reads one frame and requires it to be text.
func (c *RawClient) ReadText() string {
	c.T.Helper()
	typ, b, err := c.ReadFrame()
	require.NoError(c.T, err)
	require.Equal(c.T, websocket.TextMessage, typ)
	return string(b)
}

// ReadMessages reads frames until one holds a non-Ping message and returns
// the messages of that frame, decoded.
func (c *RawClient) ReadMessages() []map[string]any {
	c.T.Helper()
	for {
		frame := c.ReadText()
		var out []map[string]any
		for _, rec := range strings.Split(strings.TrimSuffix(frame, "\x1e"), "\x1e") {
			var m map[string]any
			require.NoError(c.T, json.Unmarshal([]byte(rec), &m), "record %q", rec)
			if m["type"] != float64(6) {
				out = append(out, m)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
}

// ReadMessage requires the next frame with a non-Ping message to hold
// exactly one, and returns it.
func (c *RawClient) ReadMessage() map[string]any {
	c.T.Helper()
	ms := c.ReadMessages()
	require.Len(c.T, ms, 1)
	return ms[0]
}

// ExpectClosed reads until the server ends the socket. It returns the
// Close message the server sent first (nil if none) and the WebSocket close
// error.
func (c *RawClient) ExpectClosed() (closeMsg map[string]any, closeErr error) {
	c.T.Helper()
	for {
		_, b, err := c.ReadFrame()
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

// SendBinary sends b in one binary frame.
func (c *RawClient) SendBinary(b []byte) {
	c.T.Helper()
	require.NoError(c.T, c.WS.WriteMessage(websocket.BinaryMessage, b))
}

// ExpectCloseReason reads until the socket closes and returns the error
// text of the Close message the server sent (JSON or msgpack).
func (c *RawClient) ExpectCloseReason() string {
	c.T.Helper()
	var last []byte
	for {
		_, b, err := c.ReadFrame()
		if err != nil {
			return string(last)
		}
		last = b
	}
}
