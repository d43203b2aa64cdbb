package signalr_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
)

// negotiation is a decoded negotiate response.
type negotiation struct {
	ConnectionID        string `json:"connectionId"`
	ConnectionToken     string `json:"connectionToken"`
	NegotiateVersion    int    `json:"negotiateVersion"`
	AvailableTransports []struct {
		Transport       string   `json:"transport"`
		TransferFormats []string `json:"transferFormats"`
	} `json:"availableTransports"`
	raw map[string]any
}

// doHTTP sends a request without a body and returns the status and body.
func doHTTP(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// negotiateOK POSTs {base}/hub/negotiate{query} and requires a 200.
func negotiateOK(t *testing.T, baseURL, query string) negotiation {
	t.Helper()
	resp, body := doHTTP(t, http.MethodPost, baseURL+"/hub/negotiate"+query)
	require.Equal(t, http.StatusOK, resp.StatusCode, "negotiate: %s", body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var n negotiation
	require.NoError(t, json.Unmarshal([]byte(body), &n), body)
	require.NoError(t, json.Unmarshal([]byte(body), &n.raw), body)
	return n
}

// negotiateStatus POSTs a negotiate request and returns its status.
func negotiateStatus(t *testing.T, baseURL string) (int, string) {
	t.Helper()
	resp, body := doHTTP(t, http.MethodPost, baseURL+"/hub/negotiate?negotiateVersion=1")
	return resp.StatusCode, body
}

// dialStatus tries a WebSocket connection that must be refused and returns
// the HTTP status and body of the refusal.
func dialStatus(t *testing.T, baseURL, query string) (int, string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/hub" + query
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil {
		ws.Close()
		require.FailNow(t, "the WebSocket connection was accepted", "query %s", query)
	}
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.NotNil(t, resp)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var negotiatedIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestNegotiateVersion1(t *testing.T) {
	_, url := startHub(t, interopHub{})
	n := negotiateOK(t, url, "?negotiateVersion=1")
	assert.Regexp(t, negotiatedIDPattern, n.ConnectionID)
	assert.Regexp(t, negotiatedIDPattern, n.ConnectionToken)
	assert.NotEqual(t, n.ConnectionID, n.ConnectionToken)
	assert.Equal(t, 1, n.NegotiateVersion)
	var ws []string
	for _, tr := range n.AvailableTransports {
		if tr.Transport == "WebSockets" {
			ws = tr.TransferFormats
		}
	}
	assert.Equal(t, []string{"Text", "Binary"}, ws, "WebSockets must be offered with both formats: %v", n.raw)
	assert.NotContains(t, n.raw, "useStatefulReconnect", "never offered unasked")

	// The token is the transport id.
	c := connectJSONQuery(t, url, "?id="+n.ConnectionToken)
	assert.Equal(t, n.ConnectionID, c.result("GetConnectionId"), "the hub sees the public id, not the token")
}

func TestNegotiateVersion0IsRefusedByDefault(t *testing.T) {
	_, url := startHub(t, interopHub{}, signalr.WithMaxPendingNegotiations(1))
	for _, query := range []string{"", "?negotiateVersion=0", "?negotiateVersion=x", "?negotiateVersion=-1"} {
		resp, body := doHTTP(t, http.MethodPost, url+"/hub/negotiate"+query)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, query)
		assert.Equal(t, "The client requested version '0', but the server does not support this version.", body, query)
	}
	// Version 1 is still accepted: the refused requests took no pending
	// place.
	negotiateOK(t, url, "?negotiateVersion=1")
}

func TestNegotiateVersion0(t *testing.T) {
	_, url := startHub(t, interopHub{}, signalr.WithMinimumProtocolVersion(0))
	for _, query := range []string{"", "?negotiateVersion=0", "?negotiateVersion=x", "?negotiateVersion=-1"} {
		t.Run(query, func(t *testing.T) {
			n := negotiateOK(t, url, query)
			assert.Regexp(t, negotiatedIDPattern, n.ConnectionID)
			assert.Equal(t, 0, n.NegotiateVersion)
			assert.Contains(t, n.raw, "negotiateVersion")
			assert.NotContains(t, n.raw, "connectionToken")

			// Without a token, the client uses the connectionId as the id.
			c := connectJSONQuery(t, url, "?id="+n.ConnectionID)
			assert.Equal(t, n.ConnectionID, c.result("GetConnectionId"))
		})
	}
}

func TestNegotiateVersionAboveMaximumIsAnswered1(t *testing.T) {
	_, url := startHub(t, interopHub{})
	n := negotiateOK(t, url, "?negotiateVersion=5")
	assert.Equal(t, 1, n.NegotiateVersion)
	assert.Regexp(t, negotiatedIDPattern, n.ConnectionToken)
}

func TestNegotiateRequiresPost(t *testing.T) {
	_, url := startHub(t, interopHub{})
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		resp, body := doHTTP(t, method, url+"/hub/negotiate?negotiateVersion=1")
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
		assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"), method)
		assert.NotEmpty(t, body, method)
	}
}

func TestConnectionTokenIsUsedOnce(t *testing.T) {
	_, url := startHub(t, interopHub{})
	n := negotiateOK(t, url, "?negotiateVersion=1")
	c := connectJSONQuery(t, url, "?id="+n.ConnectionToken)

	status, body := dialStatus(t, url, "?id="+n.ConnectionToken)
	assert.Equal(t, http.StatusConflict, status, body)
	assert.NotEmpty(t, body)
	// The refused second socket did not disturb the first.
	assert.Equal(t, float64(3), c.result("Add", 1, 2))

	// The public id is not a token.
	status, _ = dialStatus(t, url, "?id="+n.ConnectionID)
	assert.Equal(t, http.StatusNotFound, status)

	// Once the connection is over, its token is dead.
	c.sendText(`{"type":7}` + "\x1e")
	_, err := c.expectClosed()
	require.Error(t, err)
	// The server releases the token once its side of the connection is
	// over, which may be just after the client sees the socket close.
	for deadline := time.Now().Add(5 * time.Second); ; {
		status, body := dialStatus(t, url, "?id="+n.ConnectionToken)
		if status == http.StatusNotFound {
			break
		}
		require.Equal(t, http.StatusConflict, status, body)
		require.True(t, time.Now().Before(deadline), "the token of a closed connection is still live")
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnknownConnectionID(t *testing.T) {
	_, url := startHub(t, interopHub{})
	status, body := dialStatus(t, url, "?id=AAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, http.StatusNotFound, status)
	assert.NotEmpty(t, body)
}

func TestUnusedTokenExpires(t *testing.T) {
	_, url := startHub(t, interopHub{}, signalr.WithNegotiateTimeout(100*time.Millisecond))
	n := negotiateOK(t, url, "?negotiateVersion=1")
	fresh := negotiateOK(t, url, "?negotiateVersion=1")
	// Used in time: fine. The round trip makes sure the server is done
	// writing the handshake reply before the test's Shutdown.
	used := connectJSONQuery(t, url, "?id="+fresh.ConnectionToken)
	used.sync()
	// Let the unused token expire.
	time.Sleep(300 * time.Millisecond)
	status, body := dialStatus(t, url, "?id="+n.ConnectionToken)
	assert.Equal(t, http.StatusNotFound, status, body)
}

func TestMaxPendingNegotiations(t *testing.T) {
	_, url := startHub(t, interopHub{}, signalr.WithMaxPendingNegotiations(2), signalr.WithMaxPendingNegotiationsPerAddress(2))
	first := negotiateOK(t, url, "?negotiateVersion=1")
	negotiateOK(t, url, "?negotiateVersion=1")
	status, body := negotiateStatus(t, url)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.NotEmpty(t, body)

	// Using a token frees its place.
	c := connectJSONQuery(t, url, "?id="+first.ConnectionToken)
	c.sync() // a round trip: the handshake reply write is over before Shutdown
	negotiateOK(t, url, "?negotiateVersion=1")
	status, _ = negotiateStatus(t, url)
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

func TestNegotiateAfterShutdown(t *testing.T) {
	h, url := startHub(t, interopHub{})
	pending := negotiateOK(t, url, "?negotiateVersion=1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx))

	status, body := negotiateStatus(t, url)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.NotEmpty(t, body)
	status, _ = dialStatus(t, url, "?id="+pending.ConnectionToken)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	status, _ = dialStatus(t, url, "")
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

func TestPlainGetOfHubIsRefused(t *testing.T) {
	_, url := startHub(t, interopHub{})
	resp, body := doHTTP(t, http.MethodGet, url+"/hub")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.NotEmpty(t, strings.TrimSpace(body))
}

func TestNegotiatedIDsAreUnique(t *testing.T) {
	_, url := startHub(t, interopHub{})
	seen := make(map[string]bool)
	for range 300 {
		n := negotiateOK(t, url, "?negotiateVersion=1")
		for _, id := range []string{n.ConnectionID, n.ConnectionToken} {
			require.Regexp(t, negotiatedIDPattern, id)
			require.False(t, seen[id], "duplicate id %s", id)
			seen[id] = true
		}
	}
}
