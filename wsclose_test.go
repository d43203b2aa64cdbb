//go:build linux

package signalr_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// closeFrameHub reports each OnDisconnected.
type closeFrameHub struct{ disconnected chan error }

func (h closeFrameHub) Echo(s string) string { return s }

func (h closeFrameHub) OnDisconnected(_ *signalr.Context, err error) { h.disconnected <- err }

func newCloseFrameHub() closeFrameHub { return closeFrameHub{disconnected: make(chan error, 8)} }

// disconnected waits for the next OnDisconnected.
func (h closeFrameHub) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.disconnected:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("OnDisconnected did not run")
		return nil
	}
}

// connectedJSON is hubtest.ConnectJSON once the hub has registered the
// connection and run OnConnected (a round trip), so that Shutdown finds it
// and OnDisconnected runs for it.
func connectedJSON(t *testing.T, url string) *hubtest.JSONClient {
	t.Helper()
	c := hubtest.ConnectJSON(t, url)
	require.Equal(t, "x", c.Result("Echo", "x"))
	return c
}

// shutdownAsync runs Shutdown with a context of d and returns its result.
func shutdownAsync(h *signalr.Hub, d time.Duration) <-chan error {
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		res <- h.Shutdown(ctx)
	}()
	return res
}

func shutdownResult(t *testing.T, res <-chan error) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown did not return")
		return nil
	}
}

// readUntilCloseFrame reads the Close message and the close frame without
// answering the latter.
func readUntilCloseFrame(t *testing.T, c *hubtest.RawClient) {
	t.Helper()
	c.WS.SetCloseHandler(func(int, string) error { return nil })
	require.NoError(t, c.WS.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := c.ExpectClosed()
	require.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "%v", err)
}

func answerCloseFrame(t *testing.T, c *hubtest.RawClient) {
	t.Helper()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	require.NoError(t, c.WS.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second)))
}

// expectCleanEOF reads the raw socket until the server's FIN and checks
// that no reset followed (which clients report as "Broken pipe" or
// "Connection reset").
func expectCleanEOF(t *testing.T, c *hubtest.RawClient) {
	t.Helper()
	nc := c.WS.NetConn()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := nc.Read(make([]byte, 64))
	require.ErrorIs(t, err, io.EOF, "the server closes the socket")
	time.Sleep(100 * time.Millisecond) // a reset, if any, has arrived on loopback
	raw, err := nc.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var soErr int
	require.NoError(t, raw.Control(func(fd uintptr) {
		soErr, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	}))
	require.NoError(t, err)
	require.Zero(t, soErr, "the server reset the connection: %v", syscall.Errno(soErr))
}

// expectOpen checks that the server has not closed the socket yet.
func expectOpen(t *testing.T, c *hubtest.RawClient) {
	t.Helper()
	nc := c.WS.NetConn()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err := nc.Read(make([]byte, 64))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the socket closed early: %v", err)
}

// On Shutdown, a client that answers the server's close frame late (after
// the connection's OnDisconnected has run: the wait does not hold it up)
// can still write it, and the server then ends the TCP connection cleanly
// instead of resetting it.
func TestShutdownWebSocketClientAnswersCloseFrameLate(t *testing.T) {
	hub := newCloseFrameHub()
	h, url := hubtest.StartHub(t, hub, signalr.WithCloseTimeout(time.Hour))
	c := connectedJSON(t, url)
	res := shutdownAsync(h, time.Minute)
	readUntilCloseFrame(t, c.RawClient)
	require.ErrorIs(t, hub.next(t), signalr.ErrHubClosed)
	expectOpen(t, c.RawClient)
	answerCloseFrame(t, c.RawClient)
	expectCleanEOF(t, c.RawClient)
	require.NoError(t, shutdownResult(t, res))
}

// Clients that never answer the close frame do not hold Shutdown past its
// context, however long the close timeout: their sockets are closed when
// the context ends, and Shutdown reports success, since every connection
// had ended.
func TestShutdownWebSocketSilentClientsEndWithContext(t *testing.T) {
	hub := newCloseFrameHub()
	h, url := hubtest.StartHub(t, hub, signalr.WithCloseTimeout(time.Hour))
	clients := make([]*hubtest.JSONClient, 3)
	for i := range clients {
		clients[i] = connectedJSON(t, url)
	}
	require.NoError(t, shutdownResult(t, shutdownAsync(h, 300*time.Millisecond)))
	for range clients {
		require.ErrorIs(t, hub.next(t), signalr.ErrHubClosed)
	}
	for _, c := range clients {
		readUntilCloseFrame(t, c.RawClient)
		nc := c.WS.NetConn()
		require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err := nc.Read(make([]byte, 64))
		require.ErrorIs(t, err, io.EOF, "the socket is closed when Shutdown returns")
	}
}

// Silent clients do not hold Shutdown past the close timeout either, when
// its context allows more.
func TestShutdownWebSocketSilentClientsEndWithCloseTimeout(t *testing.T) {
	hub := newCloseFrameHub()
	h, url := hubtest.StartHub(t, hub, signalr.WithCloseTimeout(200*time.Millisecond))
	clients := make([]*hubtest.JSONClient, 3)
	for i := range clients {
		clients[i] = connectedJSON(t, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx))
	require.NoError(t, ctx.Err())
	for _, c := range clients {
		readUntilCloseFrame(t, c.RawClient)
		nc := c.WS.NetConn()
		require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err := nc.Read(make([]byte, 64))
		require.ErrorIs(t, err, io.EOF)
	}
}

// A connection the server closes while the hub runs (here a client
// timeout) waits for the client's close frame too, and closes as soon as
// it comes; one that never answers is closed after the close timeout.
func TestWebSocketServerCloseWaitsForClientCloseFrame(t *testing.T) {
	hub := newCloseFrameHub()
	_, url := hubtest.StartHub(t, hub, signalr.WithClientTimeout(200*time.Millisecond), signalr.WithKeepAliveInterval(0),
		signalr.WithCloseTimeout(500*time.Millisecond))
	c := connectedJSON(t, url)
	c.SendText(`{"type":6}` + "\x1e") // starts the client timeout clock
	readUntilCloseFrame(t, c.RawClient)
	require.Error(t, hub.next(t))
	expectOpen(t, c.RawClient)
	answerCloseFrame(t, c.RawClient)
	expectCleanEOF(t, c.RawClient)

	c2 := connectedJSON(t, url)
	c2.SendText(`{"type":6}` + "\x1e")
	readUntilCloseFrame(t, c2.RawClient)
	require.Error(t, hub.next(t))
	expectOpen(t, c2.RawClient)
	expectCleanEOF(t, c2.RawClient)
}

// WithCloseTimeout(Disabled) closes the socket right after the close frame.
func TestWebSocketNoCloseTimeout(t *testing.T) {
	hub := newCloseFrameHub()
	h, url := hubtest.StartHub(t, hub, signalr.WithCloseTimeout(signalr.Disabled))
	c := connectedJSON(t, url)
	require.NoError(t, shutdownResult(t, shutdownAsync(h, time.Minute)))
	readUntilCloseFrame(t, c.RawClient)
	nc := c.WS.NetConn()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := nc.Read(make([]byte, 64))
	require.ErrorIs(t, err, io.EOF)
}
