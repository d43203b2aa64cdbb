package hubtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Negotiation is a decoded negotiate response.
type Negotiation struct {
	ConnectionID        string `json:"connectionId"`
	ConnectionToken     string `json:"connectionToken"`
	NegotiateVersion    int    `json:"negotiateVersion"`
	AvailableTransports []struct {
		Transport       string   `json:"transport"`
		TransferFormats []string `json:"transferFormats"`
	} `json:"availableTransports"`
	Raw map[string]any `json:"-"` // every field of the response
}

// DoHTTP sends a request without a body and returns the status and body.
func DoHTTP(t *testing.T, method, url string) (*http.Response, string) {
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

// NegotiateOK POSTs {base}/hub/negotiate{query} and requires a 200.
func NegotiateOK(t *testing.T, baseURL, query string) Negotiation {
	t.Helper()
	resp, body := DoHTTP(t, http.MethodPost, baseURL+"/hub/negotiate"+query)
	require.Equal(t, http.StatusOK, resp.StatusCode, "negotiate: %s", body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var n Negotiation
	require.NoError(t, json.Unmarshal([]byte(body), &n), body)
	require.NoError(t, json.Unmarshal([]byte(body), &n.Raw), body)
	return n
}

// DialStatus tries a WebSocket connection that must be refused and returns
// the HTTP status and body of the refusal.
func DialStatus(t *testing.T, baseURL, query string) (int, string) {
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
