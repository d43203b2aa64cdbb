package signalr_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// negotiateStatus POSTs a negotiate request and returns its status.
func negotiateStatus(t *testing.T, baseURL string) (int, string) {
	t.Helper()
	resp, body := hubtest.DoHTTP(t, http.MethodPost, baseURL+"/hub/negotiate?negotiateVersion=1")
	return resp.StatusCode, body
}

var negotiatedIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestNegotiateVersion1(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	n := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
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
	assert.Equal(t, []string{"Text", "Binary"}, ws, "WebSockets must be offered with both formats: %v", n.Raw)
	assert.NotContains(t, n.Raw, "useStatefulReconnect", "never offered unasked")

	// The token is the transport id.
	c := hubtest.ConnectJSONQuery(t, url, "?id="+n.ConnectionToken)
	assert.Equal(t, n.ConnectionID, c.Result("GetConnectionId"), "the hub sees the public id, not the token")
}

func TestNegotiateVersion0IsRefusedByDefault(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxPendingNegotiations(1))
	for _, query := range []string{"", "?negotiateVersion=0", "?negotiateVersion=x", "?negotiateVersion=-1"} {
		resp, body := hubtest.DoHTTP(t, http.MethodPost, url+"/hub/negotiate"+query)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, query)
		assert.Equal(t, "The client requested version '0', but the server does not support this version.", body, query)
	}
	// Version 1 is still accepted: the refused requests took no pending
	// place.
	hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
}

func TestNegotiateVersion0(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMinimumProtocolVersion(0))
	for _, query := range []string{"", "?negotiateVersion=0", "?negotiateVersion=x", "?negotiateVersion=-1"} {
		t.Run(query, func(t *testing.T) {
			n := hubtest.NegotiateOK(t, url, query)
			assert.Regexp(t, negotiatedIDPattern, n.ConnectionID)
			assert.Equal(t, 0, n.NegotiateVersion)
			assert.Contains(t, n.Raw, "negotiateVersion")
			assert.NotContains(t, n.Raw, "connectionToken")

			// Without a token, the client uses the connectionId as the id.
			c := hubtest.ConnectJSONQuery(t, url, "?id="+n.ConnectionID)
			assert.Equal(t, n.ConnectionID, c.Result("GetConnectionId"))
		})
	}
}

func TestNegotiateVersionAboveMaximumIsAnswered1(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	n := hubtest.NegotiateOK(t, url, "?negotiateVersion=5")
	assert.Equal(t, 1, n.NegotiateVersion)
	assert.Regexp(t, negotiatedIDPattern, n.ConnectionToken)
}

func TestNegotiateRequiresPost(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		resp, body := hubtest.DoHTTP(t, method, url+"/hub/negotiate?negotiateVersion=1")
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
		assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"), method)
		assert.NotEmpty(t, body, method)
	}
}

func TestConnectionTokenIsUsedOnce(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	n := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
	c := hubtest.ConnectJSONQuery(t, url, "?id="+n.ConnectionToken)

	status, body := hubtest.DialStatus(t, url, "?id="+n.ConnectionToken)
	assert.Equal(t, http.StatusConflict, status, body)
	assert.NotEmpty(t, body)
	// The refused second socket did not disturb the first.
	assert.Equal(t, float64(3), c.Result("Add", 1, 2))

	// The public id is not a token.
	status, _ = hubtest.DialStatus(t, url, "?id="+n.ConnectionID)
	assert.Equal(t, http.StatusNotFound, status)

	// Once the connection is over, its token is dead.
	c.SendText(`{"type":7}` + "\x1e")
	_, err := c.ExpectClosed()
	require.Error(t, err)
	// The server releases the token once its side of the connection is
	// over, which may be just after the client sees the socket close.
	for deadline := time.Now().Add(5 * time.Second); ; {
		status, body := hubtest.DialStatus(t, url, "?id="+n.ConnectionToken)
		if status == http.StatusNotFound {
			break
		}
		require.Equal(t, http.StatusConflict, status, body)
		require.True(t, time.Now().Before(deadline), "the token of a closed connection is still live")
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnknownConnectionID(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	status, body := hubtest.DialStatus(t, url, "?id=AAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, http.StatusNotFound, status)
	assert.NotEmpty(t, body)
}

func TestUnusedTokenExpires(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithNegotiateTimeout(100*time.Millisecond))
	n := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
	fresh := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
	// Used in time: fine. The round trip makes sure the server is done
	// writing the handshake reply before the test's Shutdown.
	used := hubtest.ConnectJSONQuery(t, url, "?id="+fresh.ConnectionToken)
	used.Sync()
	// Let the unused token expire.
	time.Sleep(300 * time.Millisecond)
	status, body := hubtest.DialStatus(t, url, "?id="+n.ConnectionToken)
	assert.Equal(t, http.StatusNotFound, status, body)
}

func TestMaxPendingNegotiations(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxPendingNegotiations(2), signalr.WithMaxPendingNegotiationsPerAddress(2))
	first := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
	hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
	status, body := negotiateStatus(t, url)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.NotEmpty(t, body)

	// Using a token frees its place.
	c := hubtest.ConnectJSONQuery(t, url, "?id="+first.ConnectionToken)
	c.Sync() // a round trip: the handshake reply write is over before Shutdown
	hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
	status, _ = negotiateStatus(t, url)
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

func TestNegotiateAfterShutdown(t *testing.T) {
	h, url := hubtest.StartHub(t, hubtest.Hub{})
	pending := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx))

	status, body := negotiateStatus(t, url)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.NotEmpty(t, body)
	status, _ = hubtest.DialStatus(t, url, "?id="+pending.ConnectionToken)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	status, _ = hubtest.DialStatus(t, url, "")
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

func TestPlainGetOfHubIsRefused(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	resp, body := hubtest.DoHTTP(t, http.MethodGet, url+"/hub")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.NotEmpty(t, strings.TrimSpace(body))
}

func TestNegotiatedIDsAreUnique(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	seen := make(map[string]bool)
	for range 300 {
		n := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
		for _, id := range []string{n.ConnectionID, n.ConnectionToken} {
			require.Regexp(t, negotiatedIDPattern, id)
			require.False(t, seen[id], "duplicate id %s", id)
			seen[id] = true
		}
	}
}
