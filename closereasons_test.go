package signalr_test

import (
	"context"
	"errors"
	"log/slog"
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

// Why a connection closed, as OnDisconnected sees it: each reason the
// package exports arrives wrapped, so that errors.Is finds it, and a close
// the client asked for arrives as nil. ErrSlowConsumer is covered by
// TestWriteTimeoutIsSlowConsumer and TestBurstDoesNotCutOffReader,
// ErrBackplaneInterrupted by the backplane interruption tests.

// reasonHub reports the reason of every connection that ends.
type reasonHub struct{ gone chan error }

func newReasonHub() *reasonHub { return &reasonHub{gone: make(chan error, 4)} }

func (h *reasonHub) OnDisconnected(_ *signalr.Context, err error) { h.gone <- err }

func (*reasonHub) Echo(s string) string { return s }

func (*reasonHub) CloseMe(c *signalr.Context, reason string) error {
	return c.CloseConnection(reason, false)
}

func (*reasonHub) AbortMe(c *signalr.Context) { c.Abort() }

// reason waits for the connection to end and returns OnDisconnected's
// error.
func (h *reasonHub) reason(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.gone:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("OnDisconnected did not run")
		return nil
	}
}

func TestCloseReasonClientCloseIsNil(t *testing.T) {
	t.Run("Close message", func(t *testing.T) {
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h)
		c := hubtest.ConnectJSON(t, url)
		c.SendText(`{"type":7}` + "\x1e")
		assert.NoError(t, h.reason(t))
	})
	t.Run("WebSocket close", func(t *testing.T) {
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h)
		c := hubtest.ConnectJSON(t, url)
		require.NoError(t, c.WS.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)))
		assert.NoError(t, h.reason(t))
	})
	t.Run("long polling DELETE", func(t *testing.T) {
		h := newReasonHub()
		s := startHTTPHub(t, h)
		token, _ := s.lpConnect(`{"protocol":"json","version":1}` + "\x1e")
		s.del(token)
		assert.NoError(t, h.reason(t))
	})
}

// TestCloseReasonClientTimeout: a client that pinged once and then went
// silent past the client timeout.
func TestCloseReasonClientTimeout(t *testing.T) {
	h := newReasonHub()
	_, url := hubtest.StartHub(t, h, signalr.WithClientTimeout(300*time.Millisecond))
	c := hubtest.ConnectJSON(t, url)
	c.SendText(`{"type":6}` + "\x1e")
	closeMsg, _ := c.ExpectClosed()
	require.NotNil(t, closeMsg)
	assert.Contains(t, closeMsg["error"], "client timeout")
	err := h.reason(t)
	require.ErrorIs(t, err, signalr.ErrClientTimeout)
}

// TestCloseReasonLongPollDisconnectTimeout: a long-polling client that
// stops polling is a client that timed out, not one that closed.
func TestCloseReasonLongPollDisconnectTimeout(t *testing.T) {
	h := newReasonHub()
	s := startHTTPHub(t, h, signalr.WithLongPollTimeouts(200*time.Millisecond, 300*time.Millisecond))
	s.lpConnect(`{"protocol":"json","version":1}` + "\x1e")
	err := h.reason(t) // no more polls
	require.ErrorIs(t, err, signalr.ErrClientTimeout)
}

func TestCloseReasonShutdown(t *testing.T) {
	h := newReasonHub()
	hub, url := hubtest.StartHub(t, h)
	c := hubtest.ConnectJSON(t, url)
	require.Equal(t, "x", c.Result("Echo", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, hub.Shutdown(ctx))
	require.ErrorIs(t, h.reason(t), signalr.ErrHubClosed)
}

func TestCloseReasonClosedByHub(t *testing.T) {
	t.Run("CloseConnection", func(t *testing.T) {
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h)
		c := hubtest.ConnectJSON(t, url)
		c.Invoke("CloseMe", "bye")
		err := h.reason(t)
		require.ErrorIs(t, err, signalr.ErrClosedByHub)
		assert.Contains(t, err.Error(), "bye")
	})
	t.Run("Abort", func(t *testing.T) {
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h)
		c := hubtest.ConnectJSON(t, url)
		c.Invoke("AbortMe")
		require.ErrorIs(t, h.reason(t), signalr.ErrClosedByHub)
	})
}

func TestCloseReasonProtocolViolation(t *testing.T) {
	t.Run("malformed message", func(t *testing.T) {
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h)
		c := hubtest.ConnectJSON(t, url)
		c.SendText(`{"type":1,"target":` + "\x1e")
		closeMsg, _ := c.ExpectClosed()
		require.NotNil(t, closeMsg)
		err := h.reason(t)
		require.ErrorIs(t, err, signalr.ErrProtocolViolation)
		assert.NotErrorIs(t, err, signalr.ErrClientTimeout)
	})
	t.Run("message over the size limit", func(t *testing.T) {
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h, signalr.WithMaxReceiveMessageSize(128))
		c := hubtest.ConnectJSON(t, url)
		require.Equal(t, "x", c.Result("Echo", "x")) // under the limit
		c.Invoke("Echo", strings.Repeat("x", 200))
		require.ErrorIs(t, h.reason(t), signalr.ErrProtocolViolation)
	})
}

func TestCloseReasonAuthExpired(t *testing.T) {
	h := newReasonHub()
	_, url := hubtest.StartHub(t, h, signalr.WithCloseOnAuthExpiration(),
		signalr.WithAuthenticator(func(*http.Request) (*signalr.Identity, error) {
			return &signalr.Identity{UserID: "alice", ExpiresAt: time.Now().Add(300 * time.Millisecond)}, nil
		}))
	hubtest.ConnectJSON(t, url)
	require.ErrorIs(t, h.reason(t), signalr.ErrAuthExpired)
}

// closedLog keeps the reason of every "connection closed" log record: a
// connection that never completed its handshake has no OnDisconnected,
// and its reason is seen there.
type closedLog struct {
	mu      sync.Mutex
	reasons []any
}

func (*closedLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *closedLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "connection closed" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			l.mu.Lock()
			l.reasons = append(l.reasons, a.Value.Any())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *closedLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *closedLog) WithGroup(string) slog.Handler      { return l }

// reason waits for the first "connection closed" record.
func (l *closedLog) reason(t *testing.T) error {
	t.Helper()
	var got any
	htEventually(t, "the connection closed record", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.reasons) == 0 {
			return false
		}
		got = l.reasons[0]
		return true
	})
	err, _ := got.(error)
	return err
}

func TestCloseReasonHandshake(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		l := &closedLog{}
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h, signalr.WithLogger(slog.New(l)), signalr.WithHandshakeTimeout(200*time.Millisecond))
		c := hubtest.DialRaw(t, url, "")
		_, b, err := c.ReadFrame()
		require.NoError(t, err)
		assert.Contains(t, string(b), "Handshake was canceled.")
		require.ErrorIs(t, l.reason(t), signalr.ErrHandshakeTimeout)
		assert.Zero(t, len(h.gone), "OnDisconnected ran for a connection that never connected")
	})
	t.Run("unknown protocol", func(t *testing.T) {
		l := &closedLog{}
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h, signalr.WithLogger(slog.New(l)))
		c := hubtest.DialRaw(t, url, "")
		c.SendText(`{"protocol":"nope","version":1}` + "\x1e")
		assert.Contains(t, c.ReadText(), "The protocol 'nope' is not supported.")
		err := l.reason(t)
		require.ErrorIs(t, err, signalr.ErrHandshakeFailed)
		assert.False(t, errors.Is(err, signalr.ErrHandshakeTimeout))
	})
	t.Run("malformed request", func(t *testing.T) {
		l := &closedLog{}
		h := newReasonHub()
		_, url := hubtest.StartHub(t, h, signalr.WithLogger(slog.New(l)))
		c := hubtest.DialRaw(t, url, "")
		c.SendText(`{"protocol":` + "\x1e")
		_, _, _ = c.ReadFrame()
		require.ErrorIs(t, l.reason(t), signalr.ErrHandshakeFailed)
	})
}
