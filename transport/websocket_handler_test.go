package transport

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wsDial upgrades to the handlers' server; it returns the socket, or the
// refusal's status and body.
func wsDial(t *testing.T, url, query string) (*websocket.Conn, int, string) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/"+query, nil)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
		return ws, http.StatusSwitchingProtocols, ""
	}
	require.NotNil(t, resp, "dial: %v", err)
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return nil, resp.StatusCode, b.String()
}

func TestWebSocketHandler(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, Config{})

	// Without a token: a new connection (skipNegotiation).
	ws, status, body := wsDial(t, srv.URL, "")
	require.Equal(t, http.StatusSwitchingProtocols, status, body)
	s := host.started(t, "new")
	assert.Equal(t, Capabilities{TypedFrames: true, Binary: true, Resumable: true, Pings: true}, Caps(s.tr))
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, []byte("hi")))
	assert.Equal(t, "hi", s.frame(t))

	// Later requests of a WebSocket connection are refused.
	a := do(t, http.MethodPost, srv.URL+"?id=new", "x")
	assert.Equal(t, http.StatusMethodNotAllowed, a.status)
	assert.Equal(t, "GET", a.header.Get("Allow"))
	a = do(t, http.MethodGet, srv.URL+"?id=new", "")
	assert.Equal(t, http.StatusBadRequest, a.status, "a poll of a WebSocket connection")

	// A second socket for a connection that cannot resume: 409.
	_, status, body = wsDial(t, srv.URL, "?id=new")
	assert.Equal(t, http.StatusConflict, status, body)

	// A socket for a connection of another transport: 400.
	host.negotiate("lp")
	require.Equal(t, http.StatusOK, do(t, http.MethodGet, srv.URL+"?id=lp", "").status)
	_, status, body = wsDial(t, srv.URL, "?id=lp")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "Cannot change transports")

	// An unknown token.
	_, status, _ = wsDial(t, srv.URL, "?id=nobody")
	assert.Equal(t, http.StatusNotFound, status)

	lp := host.session("lp")
	lp.tr.Close()
	wait(t, lp.gone, "the long-polling connection to end")
	ws.Close()
	wait(t, s.gone, "the WebSocket connection to end")
}
