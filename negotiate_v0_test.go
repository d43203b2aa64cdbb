package signalr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// negotiateVersion negotiates with the given negotiateVersion and returns
// what the client names its connection by (the token, or with version 0
// the id) and the connection id.
func (s *htServer) negotiateVersion(version string) (token, id string) {
	s.t.Helper()
	r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion="+version, nil, nil)
	require.Equal(s.t, http.StatusOK, r.status, r.body)
	var n struct {
		ConnectionID    string `json:"connectionId"`
		ConnectionToken string `json:"connectionToken"`
	}
	require.NoError(s.t, json.Unmarshal([]byte(r.body), &n), r.body)
	if version == "0" {
		require.Empty(s.t, n.ConnectionToken)
		return n.ConnectionID, n.ConnectionID
	}
	require.NotEmpty(s.t, n.ConnectionToken)
	return n.ConnectionToken, n.ConnectionID
}

// lpOpen opens a long-polling connection for a negotiated token and
// completes a JSON handshake (see lpConnect).
func (s *htServer) lpOpen(token string) {
	s.t.Helper()
	first := s.poll(token)
	require.Equal(s.t, http.StatusOK, first.status, first.body)
	hs := make(chan htResp, 1)
	go func() {
		r, err := s.doErr(context.Background(), http.MethodPost, "/hub?id="+token, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, strings.NewReader(htJSONHandshake))
		if err != nil {
			r = htResp{status: -1, body: err.Error()}
		}
		hs <- r
	}()
	deadline := time.Now().Add(htWait)
	for {
		r := s.poll(token)
		require.Equal(s.t, http.StatusOK, r.status, r.body)
		if r.body != "" {
			require.Equal(s.t, "{}\x1e", r.body)
			break
		}
		require.True(s.t, time.Now().Before(deadline), "no handshake reply")
	}
	require.Equal(s.t, http.StatusOK, htRecv(s.t, hs, "the handshake POST").status)
}

// With version 0 allowed, the connection id is the only secret of a
// connection: whoever holds it receives the connection's messages,
// invokes methods as it and ends it. This is the protocol's design, and
// why version 0 is refused by default.
func TestNegotiateVersion0IDIsTheToken(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithMinimumProtocolVersion(0))
	token, id := s.negotiateVersion("0")
	require.Equal(t, id, token)
	s.lpOpen(token)

	// Another party that learned only the id: it invokes a method as the
	// connection and takes the answer from the connection's poll.
	poll := s.pollAsync(id)
	require.Equal(t, http.StatusOK, s.post(id, hubtest.InvocationJSON("1", "SendToCaller", "for the victim")).status)
	got := hubtest.SplitRecords(t, htRecv(t, poll, "the other party's poll").body)
	for len(got) < 2 {
		got = append(got, hubtest.SplitRecords(t, s.poll(id).body)...)
	}
	assert.Equal(t, "receive", got[0]["target"])
	assert.Equal(t, []any{"for the victim"}, got[0]["arguments"])
	// And it ends the connection.
	assert.Equal(t, http.StatusAccepted, s.del(id).status)
	assert.Equal(t, http.StatusNotFound, s.post(id, htPing).status)

	// With version 1, the id alone opens nothing.
	token, id = s.negotiateVersion("1")
	s.lpOpen(token)
	assert.Equal(t, http.StatusNotFound, s.post(id, htPing).status)
	assert.Equal(t, http.StatusNotFound, s.poll(id).status)
	assert.Equal(t, http.StatusNotFound, s.del(id).status)
	assert.Equal(t, http.StatusAccepted, s.del(token).status)
}

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// No log record, at any level, holds a connection token, over whole
// connection lifecycles on every transport, with negotiate versions 1 and
// 0 (whose token is the connection id): negotiate, handshake, an unknown
// method (logged at Debug with the connection), bad input (logged at Info
// with the connection), and the end.
func TestNoTokenInLogs(t *testing.T) {
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := startHTTPHub(t, newHTHub(), signalr.WithMinimumProtocolVersion(0), signalr.WithLogger(logger))
	const (
		unknown = `{"type":1,"invocationId":"u","target":"NoSuchMethod","arguments":[]}` + "\x1e"
		bad     = `{"type":1,"target":` + "\x1e"
	)
	var secrets []string
	for _, version := range []string{"1", "0"} {
		// WebSockets.
		token, _ := s.negotiateVersion(version)
		secrets = append(secrets, token)
		ws := hubtest.DialRaw(t, s.url, "?id="+token)
		ws.SendText(htJSONHandshake)
		require.Equal(t, "{}\x1e", ws.ReadText())
		ws.SendText(unknown)
		assert.Contains(t, ws.ReadMessage()["error"], "Method does not exist")
		ws.SendText(bad)
		closeMsg, _ := ws.ExpectClosed()
		require.NotNil(t, closeMsg)

		// Server-Sent Events.
		token, _ = s.negotiateVersion(version)
		secrets = append(secrets, token)
		st := s.openSSE(token, nil)
		require.Equal(t, http.StatusOK, s.post(token, htJSONHandshake).status)
		require.Equal(t, "data: {}\x1e\r\n\r\n", st.nextEvent())
		require.Equal(t, http.StatusOK, s.post(token, unknown).status)
		assert.Contains(t, st.nextMessages()[0]["error"], "Method does not exist")
		s.post(token, bad)
		st.expectEnd()

		// Long polling.
		token, _ = s.negotiateVersion(version)
		secrets = append(secrets, token)
		s.lpOpen(token)
		poll := s.pollAsync(token)
		require.Equal(t, http.StatusOK, s.post(token, unknown).status)
		assert.Contains(t, htRecv(t, poll, "the poll").body, "Method does not exist")
		s.post(token, bad)
		htEventually(t, "the long-polling connection ends", func() bool {
			return s.poll(token).status == http.StatusNotFound
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx)) // every connection's last record is written

	out := logs.String()
	require.Contains(t, out, "closing connection after bad input", "the test logs what it means to")
	require.Contains(t, out, "unknown hub method")
	for _, secret := range secrets {
		assert.False(t, strings.Contains(out, secret), "a log record holds the token %s", secret)
	}
	assert.Contains(t, out, `"connection":"v0-`, "version 0 connections are logged under a stand-in")
}
