package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/nodetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// authScenarios is the number of tests in auth.test.mjs.
const authScenarios = 7

// TestOfficialClient runs the example and drives it with the official
// client over every transport and protocol: logins, refused tokens, user
// targeting, the admin-only method and expiring tokens.
func TestOfficialClient(t *testing.T) {
	nodetest.Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, []byte("test-secret"), time.Hour, "", quiet) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the example did not stop")
		}
	}()
	base := "http://" + ln.Addr().String()
	for _, tc := range []struct{ transport, protocol string }{
		{"WebSockets", "json"},
		{"WebSockets", "messagepack"},
		{"ServerSentEvents", "json"},
		{"LongPolling", "json"},
		{"LongPolling", "messagepack"},
	} {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			if passed, _ := nodetest.Run(t, "auth.test.mjs", base, tc.transport, tc.protocol); passed != authScenarios {
				t.Fatalf("passed %d auth scenarios, want %d", passed, authScenarios)
			}
		})
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestAuthenticator(t *testing.T) {
	secret := []byte("the-secret")
	now := time.Now()
	exp := jwt.NewNumericDate(now.Add(time.Hour))
	std := func(sub string, exp *jwt.NumericDate) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Issuer: issuer, Subject: sub, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: exp}
	}
	valid, _, err := issue(secret, "alice", "admin", now, time.Hour)
	require.NoError(t, err)
	parts := strings.Split(valid, ".")
	for _, tc := range []struct {
		name    string
		header  string // Authorization header
		query   string // access_token query parameter
		want    *signalr.Identity
		anon    bool   // no token: anonymous, no error
		wantErr string // the AuthError message
	}{
		{name: "valid", header: "Bearer " + valid,
			want: &signalr.Identity{UserID: "alice", Claims: map[string]any{"role": "admin"}, ExpiresAt: exp.Time}},
		{name: "valid, lower-case scheme", header: "bearer " + valid,
			want: &signalr.Identity{UserID: "alice", Claims: map[string]any{"role": "admin"}, ExpiresAt: exp.Time}},
		{name: "valid, in the query (browsers on WebSockets and SSE)", query: valid,
			want: &signalr.Identity{UserID: "alice", Claims: map[string]any{"role": "admin"}, ExpiresAt: exp.Time}},
		{name: "no role claim", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims{RegisteredClaims: std("bob", exp)}),
			want: &signalr.Identity{UserID: "bob", Claims: map[string]any{}, ExpiresAt: exp.Time}},
		{name: "no token", anon: true},
		{name: "another scheme", header: "Basic YWxpY2U6c2VjcmV0", anon: true},
		{name: "garbage", header: "Bearer garbage", wantErr: "invalid token"},
		{name: "expired", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			claims{Role: "admin", RegisteredClaims: std("alice", jwt.NewNumericDate(now.Add(-time.Second)))}),
			wantErr: "token expired"},
		{name: "wrong secret", header: "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret"),
			claims{Role: "admin", RegisteredClaims: std("alice", exp)}),
			wantErr: "invalid token"},
		{name: "alg none", header: "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			claims{Role: "admin", RegisteredClaims: std("alice", exp)}),
			wantErr: "invalid token"},
		{name: "other HMAC alg (HS512) with the right secret", header: "Bearer " + sign(t, jwt.SigningMethodHS512, secret,
			claims{Role: "admin", RegisteredClaims: std("alice", exp)}),
			wantErr: "invalid token"},
		{name: "missing sub", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			claims{Role: "admin", RegisteredClaims: std("", exp)}),
			wantErr: "invalid token"},
		{name: "missing exp", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			claims{Role: "admin", RegisteredClaims: std("alice", nil)}),
			wantErr: "invalid token"},
		{name: "another issuer", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			claims{Role: "admin", RegisteredClaims: jwt.RegisteredClaims{Issuer: "someone-else", Subject: "alice", ExpiresAt: exp}}),
			wantErr: "invalid token"},
		{name: "tampered payload", header: "Bearer " + parts[0] + "." +
			strings.Split(sign(t, jwt.SigningMethodHS256, secret, claims{Role: "admin", RegisteredClaims: std("mallory", exp)}), ".")[1] +
			"." + parts[2],
			wantErr: "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "/hub/negotiate"
			if tc.query != "" {
				target += "?access_token=" + url.QueryEscape(tc.query)
			}
			r := httptest.NewRequest(http.MethodPost, target, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			id, err := authenticator(secret, quiet)(r)
			switch {
			case tc.wantErr != "":
				var ae *signalr.AuthError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tc.wantErr, ae.Message)
				assert.Nil(t, id)
			case tc.anon:
				require.NoError(t, err)
				assert.Nil(t, id)
			default:
				require.NoError(t, err)
				require.NotNil(t, id)
				assert.Equal(t, tc.want.UserID, id.UserID)
				assert.Equal(t, tc.want.Claims, id.Claims)
				assert.True(t, tc.want.ExpiresAt.Equal(id.ExpiresAt), "ExpiresAt %v, want %v", id.ExpiresAt, tc.want.ExpiresAt)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	secret := []byte("the-secret")
	mux := newMux(http.NotFoundHandler(), secret, time.Hour, "", quiet)
	post := func(contentType, body string) (int, loginResponse, string) {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		var resp loginResponse
		if w.Code == http.StatusOK {
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		}
		return w.Code, resp, w.Body.String()
	}
	lifetime := func(resp loginResponse) time.Duration {
		t.Helper()
		id, err := verify(secret, resp.Token)
		require.NoError(t, err)
		assert.True(t, id.ExpiresAt.Equal(resp.ExpiresAt))
		return time.Until(id.ExpiresAt)
	}

	status, resp, body := post("application/json", `{"user":"alice","role":"admin"}`)
	require.Equal(t, http.StatusOK, status, body)
	id, err := verify(secret, resp.Token)
	require.NoError(t, err)
	assert.Equal(t, "alice", id.UserID)
	assert.Equal(t, map[string]any{"role": "admin"}, id.Claims)
	assert.InDelta(t, time.Hour.Seconds(), lifetime(resp).Seconds(), 2, "default lifetime: -ttl")

	status, resp, body = post("application/x-www-form-urlencoded", "user=bob&ttl=5")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "user", resp.Role, "default role")
	assert.InDelta(t, 5, lifetime(resp).Seconds(), 1.5, "a shorter ttl")

	status, resp, body = post("application/json; charset=utf-8", `{"user":"cy","ttl":86400}`)
	require.Equal(t, http.StatusOK, status, body)
	assert.InDelta(t, time.Hour.Seconds(), lifetime(resp).Seconds(), 2, "ttl is capped at -ttl")

	for _, bad := range []struct{ contentType, body string }{
		{"application/json", `{"role":"admin"}`},
		{"application/json", `{"user":"   "}`},
		{"application/json", `{"user":"` + strings.Repeat("x", 65) + `"}`},
		{"application/json", `{"user":"dan","role":"root"}`},
		{"application/json", `{"user":"dan","ttl":-1}`},
		{"application/json", `{"user":`},
		{"application/x-www-form-urlencoded", "user=dan&ttl=soon"},
		{"application/json", `{"user":"` + strings.Repeat("x", 5000) + `"}`},
	} {
		status, _, body := post(bad.contentType, bad.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s → %s", bad.body, body)
	}

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
}
