package signalr_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// tokenAuth accepts "Bearer user:<name>[:role]" and refuses anything else.
func tokenAuth(r *http.Request) (*signalr.Identity, error) {
	tok := signalr.BearerToken(r)
	if tok == "" {
		return nil, nil // anonymous
	}
	parts := strings.Split(tok, ":")
	if len(parts) < 2 || parts[0] != "user" {
		return nil, &signalr.AuthError{Message: "bad token"}
	}
	id := &signalr.Identity{UserID: parts[1], Claims: map[string]any{}}
	if len(parts) > 2 {
		id.Claims["role"] = parts[2]
	}
	return id, nil
}

func negotiateWith(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/hub/negotiate?negotiateVersion=1", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func dialWith(t *testing.T, url, query string, header http.Header) (*hubtest.RawClient, int) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/hub"+query, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		return nil, status
	}
	t.Cleanup(func() { ws.Close() })
	return &hubtest.RawClient{T: t, WS: ws}, http.StatusSwitchingProtocols
}

func TestAuthenticationStatuses(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithAuthenticator(tokenAuth),
		signalr.WithHubPolicy(signalr.RequireAuthenticated()),
		signalr.WithHubPolicy(func(c *signalr.Context) error {
			if c.UserID() == "mallory" {
				return &signalr.AuthError{Message: "mallory is banned"}
			}
			return nil
		}))
	status, _ := negotiateWith(t, url, "")
	assert.Equal(t, http.StatusUnauthorized, status, "anonymous")
	status, body := negotiateWith(t, url, "garbage")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body, "bad token")
	status, body = negotiateWith(t, url, "user:mallory")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, body, "mallory is banned")
	status, _ = negotiateWith(t, url, "user:alice")
	assert.Equal(t, http.StatusOK, status)

	_, status = dialWith(t, url, "", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "WebSocket without a token")
	c, status := dialWith(t, url, "?access_token=user:alice", nil)
	require.Equal(t, http.StatusSwitchingProtocols, status, "browsers put the token in the query")
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.ReadText())
	c.SendText(`{"type":1,"invocationId":"1","target":"GetUser","arguments":[]}` + "\x1e")
	require.Equal(t, "alice", c.ReadMessage()["result"])
}

func TestHTTPTransportRequestsMustCarryTheSameUser(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithAuthenticator(tokenAuth))
	status, body := negotiateWith(t, url, "user:alice")
	require.Equal(t, http.StatusOK, status)
	token := strings.Split(strings.Split(body, `"connectionToken":"`)[1], `"`)[0]
	do := func(method, auth string) int {
		req, err := http.NewRequest(method, url+"/hub?id="+token, strings.NewReader(`{"protocol":"json","version":1}`+"\x1e"))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, do(http.MethodGet, "user:alice"), "first poll")
	assert.Equal(t, http.StatusForbidden, do(http.MethodPost, "user:bob"), "another user's send")
	assert.Equal(t, http.StatusForbidden, do(http.MethodPost, ""), "an anonymous send")
	assert.Equal(t, http.StatusUnauthorized, do(http.MethodPost, "garbage"))
	assert.Equal(t, http.StatusOK, do(http.MethodPost, "user:alice"))
	assert.Equal(t, http.StatusForbidden, do(http.MethodDelete, "user:bob"))
	assert.Equal(t, http.StatusAccepted, do(http.MethodDelete, "user:alice"))
}

func TestMethodPolicy(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithAuthenticator(tokenAuth),
		signalr.WithMethodPolicy("add", signalr.RequireClaim("role", "admin")))
	for _, tc := range []struct{ token, want string }{
		{"user:ann:admin", ""},
		{"user:bo:user", "Failed to invoke 'Add' because user is unauthorized"},
		{"user:cy", "Failed to invoke 'Add' because user is unauthorized"},
	} {
		c, status := dialWith(t, url, "", http.Header{"Authorization": {"Bearer " + tc.token}})
		require.Equal(t, http.StatusSwitchingProtocols, status)
		c.SendText(`{"protocol":"json","version":1}` + "\x1e")
		require.Equal(t, "{}\x1e", c.ReadText())
		c.SendText(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}` + "\x1e")
		m := c.ReadMessage()
		if tc.want == "" {
			assert.Equal(t, float64(3), m["result"], tc.token)
		} else {
			assert.Equal(t, tc.want, m["error"], tc.token)
		}
		// The connection stays usable.
		c.SendText(`{"type":1,"invocationId":"2","target":"Echo","arguments":["ok"]}` + "\x1e")
		assert.Equal(t, "ok", c.ReadMessage()["result"])
	}
}

func TestMethodPolicyForAnUnknownMethodFailsAtNew(t *testing.T) {
	_, err := signalr.New(hubtest.Hub{}, signalr.WithMethodPolicy("NoSuchThing", signalr.RequireAuthenticated()))
	require.ErrorContains(t, err, "nosuchthing") // names match case-insensitively
}

func TestMaxConnectionsPerUser(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithAuthenticator(tokenAuth), signalr.WithMaxConnectionsPerUser(2))
	hdr := http.Header{"Authorization": {"Bearer user:zed"}}
	for range 2 {
		c, status := dialWith(t, url, "", hdr)
		require.Equal(t, http.StatusSwitchingProtocols, status)
		c.SendText(`{"protocol":"json","version":1}` + "\x1e")
		require.Equal(t, "{}\x1e", c.ReadText())
		c.SendText(`{"type":1,"invocationId":"1","target":"Echo","arguments":["x"]}` + "\x1e")
		c.ReadMessage() // registered
	}
	_, status := dialWith(t, url, "", hdr)
	assert.Equal(t, http.StatusTooManyRequests, status)
	_, status = dialWith(t, url, "", http.Header{"Authorization": {"Bearer user:other"}})
	assert.Equal(t, http.StatusSwitchingProtocols, status, "other users are not affected")
}

func TestCloseOnAuthExpiration(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithAuthenticator(func(r *http.Request) (*signalr.Identity, error) {
			return &signalr.Identity{UserID: "eve", ExpiresAt: time.Now().Add(300 * time.Millisecond)}, nil
		}),
		signalr.WithCloseOnAuthExpiration(),
		signalr.WithKeepAliveInterval(100*time.Millisecond))
	c := hubtest.HandshakeRaw(t, url)
	closeMsg, _ := c.ExpectClosed()
	require.NotNil(t, closeMsg)
	assert.Contains(t, closeMsg["error"], "credentials expired")
	assert.Equal(t, true, closeMsg["allowReconnect"])
}

// recorder is an InvocationFilter and ConnectionFilter that logs its calls.
type recordingFilter struct {
	name string
	mu   *sync.Mutex
	log  *[]string
	deny string // a method this filter refuses
}

func (f recordingFilter) add(s string) {
	f.mu.Lock()
	*f.log = append(*f.log, f.name+":"+s)
	f.mu.Unlock()
}

func (f recordingFilter) InvokeMethod(c *signalr.Context, call *signalr.Call, next signalr.Invoker) (any, error) {
	f.add("before " + call.Method)
	if call.Method == f.deny {
		return nil, signalr.NewHubError("refused by %s", f.name)
	}
	res, err := next(c, call)
	f.add("after " + call.Method)
	return res, err
}

func (f recordingFilter) OnConnected(c *signalr.Context, next func(*signalr.Context) error) error {
	f.add("connect")
	return next(c)
}

func (f recordingFilter) OnDisconnected(c *signalr.Context, err error, next func(*signalr.Context, error)) {
	f.add("disconnect")
	next(c, err)
}

func TestFiltersRunInOrderAndCanShortCircuit(t *testing.T) {
	var mu sync.Mutex
	var log []string
	outer := recordingFilter{name: "outer", mu: &mu, log: &log}
	inner := recordingFilter{name: "inner", mu: &mu, log: &log, deny: "Fail"}
	double := signalr.InvocationFilterFunc(func(c *signalr.Context, call *signalr.Call, next signalr.Invoker) (any, error) {
		if call.Method == "Add" {
			call.Args[0] = call.Args[0].(int) * 10 // filters may change arguments
		}
		return next(c, call)
	})
	_, url := hubtest.StartHub(t, hubtest.Hub{},
		signalr.WithInvocationFilter(outer), signalr.WithInvocationFilter(inner), signalr.WithInvocationFilter(double),
		signalr.WithConnectionFilter(outer), signalr.WithConnectionFilter(inner))
	c := hubtest.ConnectJSON(t, url)
	assert.Equal(t, float64(42), c.Result("Add", 4, 2))
	assert.Equal(t, "An unexpected error occurred invoking 'Fail' on the server. HubException: refused by inner", c.CallError("Fail", "never runs"))
	c.WS.Close()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(log) >= 11
	}, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"outer:connect", "inner:connect",
		"outer:before Add", "inner:before Add", "inner:after Add", "outer:after Add",
		"outer:before Fail", "inner:before Fail", "outer:after Fail",
		"outer:disconnect", "inner:disconnect",
	}, log)
}

func TestConnectionFilterCanRefuse(t *testing.T) {
	refuse := refusingFilter{}
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithConnectionFilter(refuse))
	c := hubtest.DialRaw(t, url, "")
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.ReadText())
	closeMsg, _ := c.ExpectClosed()
	require.NotNil(t, closeMsg)
	assert.Contains(t, closeMsg["error"], "HubException: not today")
}

type refusingFilter struct{}

func (refusingFilter) OnConnected(*signalr.Context, func(*signalr.Context) error) error {
	return signalr.NewHubError("not today")
}
func (refusingFilter) OnDisconnected(c *signalr.Context, err error, next func(*signalr.Context, error)) {
	next(c, err)
}

func TestTransportMustBeTheNegotiatingUser(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithAuthenticator(tokenAuth))
	status, body := negotiateWith(t, url, "user:alice")
	require.Equal(t, http.StatusOK, status)
	token := strings.Split(strings.Split(body, `"connectionToken":"`)[1], `"`)[0]
	_, status = dialWith(t, url, "?id="+token, http.Header{"Authorization": {"Bearer user:bob"}})
	assert.Equal(t, http.StatusForbidden, status, "bob cannot take alice's negotiated connection")
	_, status = dialWith(t, url, "?id="+token, http.Header{"Authorization": {"Bearer user:alice"}})
	assert.Equal(t, http.StatusSwitchingProtocols, status)
}
