//go:build linux

package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// closingServer upgrades one connection and reads it as the hub does: on
// ErrIdle the reader goes on on a new goroutine, on any other error it
// calls StopReading and stops. Once the reader has read one frame, the
// server closes the connection, or, with closeNow set, when the test
// closes closeNow. The client answers the close frame only when the test
// says so.
func closingServer(t *testing.T, opts WebSocketOptions, closeNow <-chan struct{}) (ws *websocket.Conn, readerDone <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := UpgradeWebSocket(w, r, opts)
		if err != nil {
			t.Error(err)
			done <- err
			return
		}
		first := make(chan struct{})
		signal := first // the reader's to close
		var read func()
		read = func() {
			for {
				_, rd, err := c.NextReader()
				if errors.Is(err, ErrIdle) {
					go read()
					return
				}
				if err != nil {
					c.(interface{ StopReading() }).StopReading()
					done <- err
					return
				}
				if _, err := io.ReadAll(rd); err != nil {
					c.(interface{ StopReading() }).StopReading()
					done <- err
					return
				}
				if signal != nil {
					close(signal)
					signal = nil
				}
			}
		}
		go read()
		<-first
		if closeNow != nil {
			<-closeNow
		} else {
			time.Sleep(20 * time.Millisecond) // let the reader wait in NextReader
		}
		c.Close()
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	ws.SetCloseHandler(func(int, string) error { return nil })
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("hello")))
	return ws, done
}

// expectCloseFrame reads until the server's close frame.
func expectCloseFrame(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			require.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "%v", err)
			return
		}
	}
}

// readerStops waits for the server's reader to stop and returns its error.
func readerStops(t *testing.T, readerDone <-chan error) error {
	t.Helper()
	select {
	case err := <-readerDone:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the reader did not stop after Close")
		return nil
	}
}

// answerClose writes the client's close frame.
func answerClose(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	require.NoError(t, ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second)))
}

// expectEOF reads the raw socket until the server's FIN, and checks that
// no reset followed it.
func expectEOF(t *testing.T, nc net.Conn) {
	t.Helper()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := nc.Read(make([]byte, 64))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF, "the server closes the socket")
	time.Sleep(100 * time.Millisecond) // a reset, if any, has arrived on loopback
	require.NoError(t, socketError(t, nc), "the server reset the connection")
}

// expectStillOpen checks that the server has not closed the socket yet.
func expectStillOpen(t *testing.T, nc net.Conn) {
	t.Helper()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err := nc.Read(make([]byte, 64))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the socket closed early: %v", err)
}

// socketError returns (and clears) the pending error of a TCP socket, such
// as the EPIPE or ECONNRESET that a reset from the peer leaves.
func socketError(t *testing.T, nc net.Conn) error {
	t.Helper()
	raw, err := nc.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var soErr int
	require.NoError(t, raw.Control(func(fd uintptr) {
		soErr, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	}))
	require.NoError(t, err)
	if soErr != 0 {
		return syscall.Errno(soErr)
	}
	return nil
}

// A client that answers the server's close frame late, after the
// server's reader has stopped, still finds the socket open; the server
// closes it (a FIN, not a reset) as soon as the answer arrives, long
// before its close timeout. This holds for a reader waiting with a
// deadline (IdleAfter) and for one waiting idle on the raw socket.
func TestWebSocketCloseWaitsForPeerCloseFrame(t *testing.T) {
	for _, tc := range []struct {
		name      string
		idleAfter time.Duration
	}{
		{"Waiting", 0},
		{"Idle", time.Millisecond},
		{"NoIdle", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lingering Lingering
			ws, readerDone := closingServer(t, WebSocketOptions{CloseTimeout: time.Hour, IdleAfter: tc.idleAfter, Lingering: &lingering}, nil)
			expectCloseFrame(t, ws)
			require.ErrorIs(t, readerStops(t, readerDone), ErrClosed)
			nc := ws.NetConn()
			expectStillOpen(t, nc)
			// Data after the close frame is discarded, not an error.
			require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("late")))
			answerClose(t, ws)
			expectEOF(t, nc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			lingering.Wait(ctx)
			require.NoError(t, ctx.Err(), "the socket was still tracked")
		})
	}
}

// A client that never answers the close frame has its socket closed once
// CloseTimeout has passed, not before.
func TestWebSocketCloseTimeoutWithSilentPeer(t *testing.T) {
	const closeTimeout = 500 * time.Millisecond
	var lingering Lingering
	ws, readerDone := closingServer(t, WebSocketOptions{CloseTimeout: closeTimeout, Lingering: &lingering}, nil)
	expectCloseFrame(t, ws)
	readerStops(t, readerDone)
	nc := ws.NetConn()
	expectStillOpen(t, nc)
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("ignored")))
	expectEOF(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lingering.Wait(ctx)
	require.NoError(t, ctx.Err(), "the socket was still tracked")
}

// A negative CloseTimeout closes the socket right after the close frame.
func TestWebSocketNoCloseTimeout(t *testing.T) {
	ws, readerDone := closingServer(t, WebSocketOptions{CloseTimeout: -1}, nil)
	expectCloseFrame(t, ws)
	readerStops(t, readerDone)
	nc := ws.NetConn()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := nc.Read(make([]byte, 64))
	require.ErrorIs(t, err, io.EOF)
}

// Lingering.Wait closes the sockets still waiting for their peers when its
// context ends, and sockets closed later do not wait at all.
func TestWebSocketLingeringWaitCutsShort(t *testing.T) {
	var lingering Lingering
	ws, readerDone := closingServer(t, WebSocketOptions{CloseTimeout: time.Hour, Lingering: &lingering}, nil)
	expectCloseFrame(t, ws)
	readerStops(t, readerDone)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	lingering.Wait(ctx)
	nc := ws.NetConn()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := nc.Read(make([]byte, 64))
	require.ErrorIs(t, err, io.EOF)

	ws2, readerDone2 := closingServer(t, WebSocketOptions{CloseTimeout: time.Hour, Lingering: &lingering}, nil)
	expectCloseFrame(t, ws2)
	readerStops(t, readerDone2)
	nc2 := ws2.NetConn()
	require.NoError(t, nc2.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = nc2.Read(make([]byte, 64))
	require.ErrorIs(t, err, io.EOF)
}

// Close interrupts a reader stuck inside a frame (the client sent half of
// it) without waiting for the rest; the socket then stays open until the
// client ends its side, and closes cleanly.
func TestWebSocketCloseInterruptsFrameRead(t *testing.T) {
	var lingering Lingering
	closeNow := make(chan struct{})
	ws, readerDone := closingServer(t, WebSocketOptions{CloseTimeout: time.Hour, Lingering: &lingering}, closeNow)
	nc := ws.NetConn()
	// A masked text frame of 10 bytes, of which only 4 are sent.
	_, err := nc.Write([]byte{0x81, 0x80 | 10, 1, 2, 3, 4, 'a', 'b', 'c', 'd'})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // let the reader wait for the rest
	close(closeNow)
	expectCloseFrame(t, ws)
	rerr := readerStops(t, readerDone)
	require.Error(t, rerr)
	expectStillOpen(t, nc)
	require.NoError(t, nc.(*net.TCPConn).CloseWrite())
	expectEOF(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lingering.Wait(ctx)
	require.NoError(t, ctx.Err(), "the socket was still tracked")
}
