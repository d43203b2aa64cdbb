package signalr_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// TestMaxReceiveMessageSizeDisabled: Disabled removes the limit, and zero
// keeps the default limit (32 KiB) rather than removing it.
func TestMaxReceiveMessageSizeDisabled(t *testing.T) {
	big := strings.Repeat("x", 2*signalr.DefaultMaxReceiveMessageSize)

	h := newReasonHub()
	_, url := hubtest.StartHub(t, h, signalr.WithMaxReceiveMessageSize(signalr.Disabled))
	c := hubtest.ConnectJSON(t, url)
	assert.Equal(t, big, c.Result("Echo", big), "no limit")

	h = newReasonHub()
	_, url = hubtest.StartHub(t, h, signalr.WithMaxReceiveMessageSize(0))
	c = hubtest.ConnectJSON(t, url)
	// The server may close the connection before it has read the whole
	// message, and the write then fails: only the close reason matters.
	_ = c.WS.WriteMessage(websocket.TextMessage, []byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":["`+big+`"]}`+"\x1e"))
	require.ErrorIs(t, h.reason(t), signalr.ErrProtocolViolation, "zero keeps the default limit")
}

// userHub tells a client its user id.
type userHub struct{}

func (userHub) Who(c *signalr.Context) string { return c.UserID() }

// TestAuthenticatorUserIDWinsOverUserIDFunc: with both set, the
// identity's UserID names the user, and WithUserIDFunc only names the
// users of requests the authenticator left without one.
func TestAuthenticatorUserIDWinsOverUserIDFunc(t *testing.T) {
	_, url := hubtest.StartHub(t, userHub{},
		signalr.WithAuthenticator(func(r *http.Request) (*signalr.Identity, error) {
			if r.URL.Query().Get("token") == "alice" {
				return &signalr.Identity{UserID: "alice"}, nil
			}
			return nil, nil // anonymous
		}),
		signalr.WithUserIDFunc(func(*http.Request) string { return "fallback" }))
	assert.Equal(t, "alice", hubtest.ConnectJSONQuery(t, url, "?token=alice").Result("Who"))
	assert.Equal(t, "fallback", hubtest.ConnectJSONQuery(t, url, "").Result("Who"))
}

// TestCheckOriginWithAllowedOrigins: with both set, the function decides
// WebSocket upgrades and the list decides CORS.
func TestCheckOriginWithAllowedOrigins(t *testing.T) {
	s := startHTTPHub(t, newHTHub(),
		signalr.WithAllowedOrigins(corsApp),
		signalr.WithCheckOrigin(func(r *http.Request) bool { return r.Header.Get("Origin") == corsOther }))

	assert.Equal(t, http.StatusSwitchingProtocols, corsDialOrigin(t, s.url, corsOther), "the function accepts the upgrade")
	assert.Equal(t, http.StatusForbidden, corsDialOrigin(t, s.url, corsApp), "the list does not decide upgrades")

	r := s.do(http.MethodOptions, "/hub/negotiate?negotiateVersion=1", corsPreflight(corsApp, http.MethodPost, ""), nil)
	assert.Equal(t, http.StatusNoContent, r.status, r.body)
	assertCORS(t, r.header, corsApp, "the list decides CORS")
	r = s.do(http.MethodOptions, "/hub/negotiate?negotiateVersion=1", corsPreflight(corsOther, http.MethodPost, ""), nil)
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"), "the function does not grant CORS")
}
