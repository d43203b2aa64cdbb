package transport

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// readEvent is what one NextReader call returned, and when.
type readEvent struct {
	frame string // "" for ErrIdle
	at    time.Time
}

// idleServer upgrades one connection and reports every NextReader result
// until the connection ends.
func idleServer(t *testing.T, idleAfter time.Duration) (*websocket.Conn, <-chan readEvent) {
	t.Helper()
	events := make(chan readEvent, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(events)
		c, err := UpgradeWebSocket(w, r, WebSocketOptions{IdleAfter: idleAfter})
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for {
			_, rd, err := c.NextReader()
			if errors.Is(err, ErrIdle) {
				events <- readEvent{at: time.Now()}
				continue
			}
			if err != nil {
				return
			}
			b, err := io.ReadAll(rd)
			if err != nil {
				return
			}
			events <- readEvent{frame: string(b), at: time.Now()}
		}
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	return ws, events
}

func nextEvent(t *testing.T, events <-chan readEvent) readEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		require.True(t, ok, "the connection ended")
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no NextReader result within 10 s")
		return readEvent{}
	}
}

// A connection's handshake and first ping, and a lone keep-alive ping that
// wakes an idle connection, are followed by ErrIdle at once (so the reader
// moves to a small stack) rather than after IdleAfter; a connection that
// wakes again within IdleAfter is busy and waits the whole IdleAfter.
func TestWebSocketIdleSoonAfterLoneFrames(t *testing.T) {
	const idleAfter = 2 * time.Second
	ws, events := idleServer(t, idleAfter)
	send := func(s string) time.Time {
		t.Helper()
		require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(s)))
		return time.Now()
	}
	expectFrame := func(want string) time.Time {
		t.Helper()
		e := nextEvent(t, events)
		require.Equal(t, want, e.frame)
		return e.at
	}
	expectIdle := func() time.Time {
		t.Helper()
		e := nextEvent(t, events)
		require.Empty(t, e.frame, "expected ErrIdle")
		return e.at
	}

	// Handshake and ping, sent together: idle right after the ping.
	send("handshake")
	send("ping")
	expectFrame("handshake")
	last := expectFrame("ping")
	require.Less(t, expectIdle().Sub(last), idleAfter/2, "a new connection goes idle right after its handshake and ping")

	// A lone ping after a long quiet: idle again right after it.
	time.Sleep(50 * time.Millisecond)
	send("keep-alive")
	last = expectFrame("keep-alive")
	require.Less(t, expectIdle().Sub(last), idleAfter/2, "a lone ping is followed by ErrIdle at once")

	// Another message soon after: the connection is busy, and keeps its
	// goroutine for IdleAfter after its last frame.
	time.Sleep(50 * time.Millisecond)
	send("invoke")
	last = expectFrame("invoke")
	require.GreaterOrEqual(t, expectIdle().Sub(last), idleAfter-10*time.Millisecond, "a busy connection waits IdleAfter")
}
