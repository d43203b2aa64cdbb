package signalr_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
)

// Browsers send credentials with every SignalR request, so the hub must
// echo the exact origin with Access-Control-Allow-Credentials, answer
// preflights, and do the same on the SSE stream (PROTOCOL.md §8 item 3).

const (
	corsApp   = "http://app.example"
	corsOther = "http://other.example"
	// corsRequestHeaders is what the official browser client asks for.
	corsRequestHeaders = "x-requested-with,x-signalr-user-agent,authorization"
)

func corsHeader(origin string) http.Header { return http.Header{"Origin": {origin}} }

func corsPreflight(origin, method, headers string) http.Header {
	h := http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method}}
	if headers != "" {
		h.Set("Access-Control-Request-Headers", headers)
	}
	return h
}

// assertNoCORS checks that a response grants nothing cross-origin.
func assertNoCORS(t *testing.T, h http.Header, what string) {
	t.Helper()
	for k := range h {
		assert.False(t, strings.HasPrefix(http.CanonicalHeaderKey(k), "Access-Control-"), "%s: unexpected %s: %v", what, k, h[k])
	}
}

// assertCORS checks that a response lets origin read it with credentials.
func assertCORS(t *testing.T, h http.Header, origin, what string) {
	t.Helper()
	assert.Equal(t, []string{origin}, h.Values("Access-Control-Allow-Origin"), "%s: the exact origin, never *", what)
	assert.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"), what)
	assert.Contains(t, corsHeaderList(h, "Vary"), "origin", "%s: Vary: Origin", what)
}

// corsHeaderList splits the comma-separated values of a header, lower-cased.
func corsHeaderList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, strings.ToLower(p))
			}
		}
	}
	return out
}

func TestCORSOffByDefault(t *testing.T) {
	s := startHTTPHub(t, newHTHub())

	r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion=1", corsHeader(corsOther), nil)
	assert.Equal(t, http.StatusOK, r.status)
	assertNoCORS(t, r.header, "negotiate")

	for _, target := range []string{"/hub/negotiate?negotiateVersion=1", "/hub?id=x"} {
		r = s.do(http.MethodOptions, target, corsPreflight(corsOther, http.MethodPost, corsRequestHeaders), nil)
		assert.NotEqual(t, http.StatusNoContent, r.status, "corsPreflight %s answered", target)
		assert.NotEqual(t, http.StatusOK, r.status, "corsPreflight %s answered", target)
		assertNoCORS(t, r.header, "corsPreflight "+target)
	}

	token, _ := s.negotiate()
	st := s.openSSE(token, corsHeader(corsOther))
	assertNoCORS(t, st.resp.Header, "event stream")
}

func TestCORSAllowedOrigin(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithAllowedOrigins(corsApp))

	t.Run("negotiate", func(t *testing.T) {
		s := s.withT(t)
		r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion=1", corsHeader(corsApp), nil)
		assert.Equal(t, http.StatusOK, r.status)
		assertCORS(t, r.header, corsApp, "negotiate")
	})

	t.Run("corsPreflight", func(t *testing.T) {
		s := s.withT(t)
		for _, tc := range []struct{ target, method string }{
			{"/hub/negotiate?negotiateVersion=1", http.MethodPost},
			{"/hub?id=x", http.MethodPost},
			{"/hub?id=x", http.MethodGet},
			{"/hub?id=x", http.MethodDelete},
		} {
			r := s.do(http.MethodOptions, tc.target, corsPreflight(corsApp, tc.method, corsRequestHeaders), nil)
			what := "corsPreflight " + tc.method + " " + tc.target
			assert.Equal(t, http.StatusNoContent, r.status, "%s: %s", what, r.body)
			assertCORS(t, r.header, corsApp, what)
			methods := corsHeaderList(r.header, "Access-Control-Allow-Methods")
			for _, m := range []string{"get", "post", "delete"} {
				assert.Contains(t, methods, m, what)
			}
			assert.Equal(t, corsRequestHeaders, r.header.Get("Access-Control-Allow-Headers"), "%s: the requested headers are allowed", what)
		}
	})

	t.Run("corsPreflight without requested headers", func(t *testing.T) {
		s := s.withT(t)
		r := s.do(http.MethodOptions, "/hub/negotiate?negotiateVersion=1", corsPreflight(corsApp, http.MethodPost, ""), nil)
		assert.Equal(t, http.StatusNoContent, r.status)
		allowed := corsHeaderList(r.header, "Access-Control-Allow-Headers")
		for _, h := range []string{"x-requested-with", "x-signalr-user-agent", "authorization", "content-type"} {
			assert.Contains(t, allowed, h)
		}
	})

	t.Run("other origin", func(t *testing.T) {
		s := s.withT(t)
		r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion=1", corsHeader(corsOther), nil)
		assert.Equal(t, http.StatusOK, r.status)
		assert.Empty(t, r.header.Values("Access-Control-Allow-Origin"))
		assert.Empty(t, r.header.Values("Access-Control-Allow-Credentials"))
		r = s.do(http.MethodOptions, "/hub/negotiate?negotiateVersion=1", corsPreflight(corsOther, http.MethodPost, corsRequestHeaders), nil)
		assert.NotEqual(t, http.StatusNoContent, r.status)
		assert.Empty(t, r.header.Values("Access-Control-Allow-Origin"))
		assert.Empty(t, r.header.Values("Access-Control-Allow-Methods"))
	})

	t.Run("event stream and sends", func(t *testing.T) {
		s := s.withT(t)
		token, _ := s.negotiate()
		st := s.openSSE(token, corsHeader(corsApp))
		assertCORS(t, st.resp.Header, corsApp, "event stream")
		r := s.postWith(token, htJSONHandshake, corsHeader(corsApp))
		assert.Equal(t, http.StatusOK, r.status, r.body)
		assertCORS(t, r.header, corsApp, "POST")
		assert.Equal(t, "data: {}\x1e\r\n\r\n", st.nextEvent())
	})

	t.Run("long polling", func(t *testing.T) {
		s := s.withT(t)
		token, _ := s.negotiate()
		r := s.do(http.MethodGet, "/hub?id="+token, corsHeader(corsApp), nil)
		assert.Equal(t, http.StatusOK, r.status)
		assertCORS(t, r.header, corsApp, "first poll")
		r = s.do(http.MethodDelete, "/hub?id="+token, corsHeader(corsApp), nil)
		assert.Equal(t, http.StatusAccepted, r.status)
		assertCORS(t, r.header, corsApp, "DELETE")
	})

	t.Run("errors", func(t *testing.T) {
		s := s.withT(t)
		// The page must be able to read why a request failed.
		r := s.do(http.MethodPost, "/hub?id=nosuchconnection", corsHeader(corsApp), strings.NewReader(htPing))
		assert.Equal(t, http.StatusNotFound, r.status)
		assertCORS(t, r.header, corsApp, "404")
	})
}

func TestCORSWildcardEchoesTheOrigin(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithAllowedOrigins("*"))
	r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion=1", corsHeader(corsOther), nil)
	assert.Equal(t, http.StatusOK, r.status)
	assertCORS(t, r.header, corsOther, "negotiate")
	r = s.do(http.MethodOptions, "/hub/negotiate", corsPreflight(corsOther, http.MethodPost, corsRequestHeaders), nil)
	assert.Equal(t, http.StatusNoContent, r.status)
	assertCORS(t, r.header, corsOther, "corsPreflight")
}

// corsDialOrigin opens a WebSocket (no hubtest.Negotiation) with the given Origin
// header, none if empty, and returns the HTTP status of the upgrade. An
// accepted socket completes a handshake and is closed.
func corsDialOrigin(t *testing.T, baseURL, origin string) int {
	t.Helper()
	var hdr http.Header
	if origin != "" {
		hdr = corsHeader(origin)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/hub", hdr)
	if err != nil {
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.NotNil(t, resp)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	defer ws.Close()
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(htJSONHandshake)))
	_, b, err := ws.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "{}\x1e", string(b))
	// Stop as the official client does and wait for the server to close.
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"type":7}`+"\x1e")))
	_ = ws.SetReadDeadline(time.Now().Add(htWait))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce, "the server closes the socket")
			break
		}
	}
	return resp.StatusCode
}

func TestWebSocketOriginCheck(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		s := startHTTPHub(t, newHTHub())
		assert.Equal(t, http.StatusSwitchingProtocols, corsDialOrigin(t, s.url, s.url), "same origin")
		assert.Equal(t, http.StatusSwitchingProtocols, corsDialOrigin(t, s.url, ""), "no Origin (Node, Go clients)")
		assert.Equal(t, http.StatusForbidden, corsDialOrigin(t, s.url, corsOther), "foreign origin")
		assert.Equal(t, http.StatusForbidden, corsDialOrigin(t, s.url, "null"), "opaque origin")
	})
	t.Run("allowed origins", func(t *testing.T) {
		s := startHTTPHub(t, newHTHub(), signalr.WithAllowedOrigins(corsApp))
		assert.Equal(t, http.StatusSwitchingProtocols, corsDialOrigin(t, s.url, corsApp), "listed origin")
		assert.Equal(t, http.StatusSwitchingProtocols, corsDialOrigin(t, s.url, s.url), "same origin")
		assert.Equal(t, http.StatusSwitchingProtocols, corsDialOrigin(t, s.url, ""), "no Origin")
		assert.Equal(t, http.StatusForbidden, corsDialOrigin(t, s.url, corsOther), "unlisted origin")
	})
	t.Run("WithCheckOrigin", func(t *testing.T) {
		s := startHTTPHub(t, newHTHub(),
			signalr.WithAllowedOrigins(corsApp),
			signalr.WithCheckOrigin(func(r *http.Request) bool { return r.Header.Get("Origin") == corsOther }))
		assert.Equal(t, http.StatusSwitchingProtocols, corsDialOrigin(t, s.url, corsOther), "the function decides")
		assert.Equal(t, http.StatusForbidden, corsDialOrigin(t, s.url, corsApp), "the function decides, not the list")
		assert.Equal(t, http.StatusForbidden, corsDialOrigin(t, s.url, s.url), "not even same origin")
	})
}
