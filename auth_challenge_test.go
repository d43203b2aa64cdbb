package signalr_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// authCookie accepts the cookie "session=user:<name>" and refuses any other
// session cookie; a request without one is anonymous.
func authCookie(r *http.Request) (*signalr.Identity, error) {
	ck, err := r.Cookie("session")
	if err != nil {
		return nil, nil
	}
	name, ok := strings.CutPrefix(ck.Value, "user:")
	if !ok || name == "" {
		return nil, &signalr.AuthError{Message: "bad session"}
	}
	return &signalr.Identity{UserID: name}, nil
}

// authChallengeOf sends a request to the hub at url and returns the status and
// the WWW-Authenticate header of the answer.
func authChallengeOf(t *testing.T, method, url string, header http.Header) (int, []string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
}

var authWSUpgrade = http.Header{
	"Connection":            {"Upgrade"},
	"Upgrade":               {"websocket"},
	"Sec-Websocket-Version": {"13"},
	"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
}

func authWithHeader(h http.Header, k, v string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	out.Set(k, v)
	return out
}

func TestCookieRefusalsCarryNoBearerChallenge(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithAuthenticator(authCookie),
		signalr.WithHubPolicy(signalr.RequireAuthenticated()))
	badCookie := http.Header{"Cookie": {"session=forged"}}
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
	}{
		{"negotiate, bad cookie", http.MethodPost, "/hub/negotiate?negotiateVersion=1", badCookie},
		{"negotiate, no cookie (policy)", http.MethodPost, "/hub/negotiate?negotiateVersion=1", nil},
		{"WebSocket, bad cookie", http.MethodGet, "/hub", authWithHeader(authWSUpgrade, "Cookie", "session=forged")},
		{"WebSocket, no cookie (policy)", http.MethodGet, "/hub", authWSUpgrade},
		{"event stream, bad cookie", http.MethodGet, "/hub?id=x", authWithHeader(badCookie, "Accept", "text/event-stream")},
	} {
		status, challenge := authChallengeOf(t, tc.method, url+tc.path, tc.header)
		assert.Equal(t, http.StatusUnauthorized, status, tc.name)
		assert.Empty(t, challenge, tc.name)
	}
	status, _ := authChallengeOf(t, http.MethodPost, url+"/hub/negotiate?negotiateVersion=1",
		http.Header{"Cookie": {"session=user:ann"}})
	assert.Equal(t, http.StatusOK, status, "a good cookie")
}

func TestBearerRefusalsCarryBearerChallenge(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithAuthenticator(tokenAuth),
		signalr.WithHubPolicy(signalr.RequireAuthenticated()))
	negotiate := url + "/hub/negotiate?negotiateVersion=1"
	bad := http.Header{"Authorization": {"Bearer garbage"}}
	for _, tc := range []struct {
		name, method, url string
		header            http.Header
	}{
		{"negotiate, bad header token", http.MethodPost, negotiate, bad},
		{"negotiate, bad access_token", http.MethodPost, negotiate + "&access_token=garbage", nil},
		{"WebSocket, bad header token", http.MethodGet, url + "/hub", authWithHeader(authWSUpgrade, "Authorization", "Bearer garbage")},
		{"WebSocket, bad access_token", http.MethodGet, url + "/hub?access_token=garbage", authWSUpgrade},
		{"event stream, bad access_token", http.MethodGet, url + "/hub?id=x&access_token=garbage", http.Header{"Accept": {"text/event-stream"}}},
	} {
		status, challenge := authChallengeOf(t, tc.method, tc.url, tc.header)
		assert.Equal(t, http.StatusUnauthorized, status, tc.name)
		assert.Equal(t, []string{"Bearer"}, challenge, tc.name)
	}
	// Without a token the request is anonymous: the policy refuses it, and
	// nothing says the app uses bearer tokens.
	status, challenge := authChallengeOf(t, http.MethodPost, negotiate, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Empty(t, challenge)
}

func TestWithAuthChallenge(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithAuthenticator(tokenAuth),
		signalr.WithHubPolicy(signalr.RequireAuthenticated()),
		signalr.WithAuthChallenge("Bearer"))
	negotiate := url + "/hub/negotiate?negotiateVersion=1"
	status, challenge := authChallengeOf(t, http.MethodPost, negotiate, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, []string{"Bearer"}, challenge, "a token-less request is challenged too")
	status, challenge = authChallengeOf(t, http.MethodPost, negotiate, http.Header{"Authorization": {"Bearer garbage"}})
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, []string{"Bearer"}, challenge)

	_, url = hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithAuthenticator(tokenAuth),
		signalr.WithAuthChallenge(""))
	status, challenge = authChallengeOf(t, http.MethodPost, url+"/hub/negotiate?negotiateVersion=1",
		http.Header{"Authorization": {"Bearer garbage"}})
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Empty(t, challenge, `WithAuthChallenge("") sends none`)
}
