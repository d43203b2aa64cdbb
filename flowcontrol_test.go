package signalr_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// burstHub sends bursts to everyone and reports connections' ends.
type burstHub struct {
	disconnected chan disconnectEvent
	sendErr      chan error // Hold reports here how its sends ended
	queued       chan int   // Burst reports here when it has queued a burst
}

func newBurstHub() *burstHub {
	return &burstHub{disconnected: make(chan disconnectEvent, 16), sendErr: make(chan error, 1), queued: make(chan int, 64)}
}

func (h *burstHub) ID(c *signalr.Context) string { return c.ConnectionID() }

// Burst broadcasts ticks start..start+n-1, each with size bytes of payload,
// as fast as it can, then reports start on queued.
func (h *burstHub) Burst(c *signalr.Context, start, n, size int) error {
	defer func() { h.queued <- start }()
	payload := strings.Repeat("x", size)
	for i := start; i < start+n; i++ {
		if err := c.Clients().All().Send(c, "tick", i, payload); err != nil {
			return err
		}
	}
	return nil
}

// Hold sends size-byte messages to the caller for at most ms milliseconds
// and reports the error that ended it on sendErr.
func (h *burstHub) Hold(c *signalr.Context, ms, size int) {
	ctx, cancel := context.WithTimeout(c, time.Duration(ms)*time.Millisecond)
	defer cancel()
	payload := strings.Repeat("x", size)
	for {
		if err := c.Clients().Caller().Send(ctx, "held", payload); err != nil {
			h.sendErr <- err
			return
		}
	}
}

func (h *burstHub) OnDisconnected(c *signalr.Context, err error) {
	h.disconnected <- disconnectEvent{c.ConnectionID(), err}
}

// waitDisconnect waits up to d for OnDisconnected of connection id.
func (h *burstHub) waitDisconnect(t *testing.T, id string, d time.Duration) error {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-h.disconnected:
			if ev.id == id {
				return ev.err
			}
		case <-deadline:
			require.FailNow(t, "timed out waiting for OnDisconnected of "+id)
		}
	}
}

// TestBurstDoesNotCutOffReader: a hub method broadcasts bursts of 1,000
// messages of 1 KiB, queued far faster than a socket drains, while one
// client reads and another never does. The reader lets two bursts (2 MiB,
// twice the soft limit) pile up before it reads them, 20,000 messages in
// all: it gets every one, in order, and stays connected. The silent client
// is closed with ErrSlowConsumer.
func TestBurstDoesNotCutOffReader(t *testing.T) {
	const bursts, perBurst, size = 20, 1000, 1024
	h := newBurstHub()
	_, url, _ := startTunedHub(t, h, 16<<10, signalr.WithKeepAliveInterval(signalr.Disabled),
		signalr.WithWriteTimeout(5*time.Second))

	// The client that never reads: a bare socket, silent after one call.
	silent := hubtest.ConnectJSON(t, url)
	silentID, _ := silent.Result("ID").(string)

	// The reader's kernel buffers are small and fixed, so that what it has
	// not read stays queued on the server.
	reader := dialSmallBuffers(t, url, 32<<10)
	next := 0
	for b := 0; b < bursts; b += 2 {
		ids := []string{
			reader.Invoke("Burst", b*perBurst, perBurst, size),
			reader.Invoke("Burst", (b+1)*perBurst, perBurst, size),
		}
		waitFor(t, h.queued, "a burst to be queued")
		waitFor(t, h.queued, "a burst to be queued")
		for _, id := range ids {
			for range perBurst {
				args := reader.Invocation("tick")
				require.Equal(t, float64(next), args[0], "ticks out of order")
				require.Len(t, args[1], size)
				next++
			}
			reader.Completion(id)
		}
	}
	require.Equal(t, bursts*perBurst, next)
	reader.Sync()

	err := h.waitDisconnect(t, silentID, 30*time.Second)
	require.ErrorIs(t, err, signalr.ErrSlowConsumer, "the silent client's close reason: %v", err)
}

// dialSmallBuffers connects a JSON client whose socket receive buffer is
// rcvBuf bytes.
func dialSmallBuffers(t *testing.T, baseURL string, rcvBuf int) *hubtest.JSONClient {
	t.Helper()
	d := *websocket.DefaultDialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.(*net.TCPConn).SetReadBuffer(rcvBuf); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/hub", nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	c := &hubtest.JSONClient{RawClient: &hubtest.RawClient{T: t, WS: ws}}
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.ReadText())
	return c
}

// TestSendToCallerWaitsForRoom: a hub method sending to a caller that does
// not read waits once the connection is behind, and returns its context's
// error when the context ends. The connection is not closed: it is behind,
// not yet stalled, and all it was sent arrives once the client reads.
func TestSendToCallerWaitsForRoom(t *testing.T) {
	h := newBurstHub()
	_, url, _ := startTunedHub(t, h, 16<<10, signalr.WithKeepAliveInterval(signalr.Disabled),
		signalr.WithMaxOutboundBuffer(64<<10))
	c := hubtest.ConnectJSON(t, url)
	id := c.Invoke("Hold", 300, 16<<10)
	// Not reading: Hold's sends fill the socket buffers, then the queue.
	err := waitFor(t, h.sendErr, "Hold to end")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Now read: every held message, then Hold's completion; no Close.
	held := 0
	for {
		m := c.Next()
		if m["type"] == float64(1) {
			require.Equal(t, "held", m["target"])
			held++
			continue
		}
		require.Equal(t, float64(3), m["type"], "expected Hold's completion, got %v", m)
		require.Equal(t, id, m["invocationId"])
		require.NotContains(t, m, "error")
		break
	}
	c.Sync()
	t.Logf("held messages delivered: %d (%d KiB)", held, held*16)
}

// TestWriteTimeoutIsSlowConsumer: a client that takes nothing for the
// write timeout is closed with ErrSlowConsumer, and the hub method sending
// to it ends with its connection.
func TestWriteTimeoutIsSlowConsumer(t *testing.T) {
	h := newBurstHub()
	_, url, _ := startTunedHub(t, h, 16<<10, signalr.WithKeepAliveInterval(signalr.Disabled),
		signalr.WithMaxOutboundBuffer(64<<10), signalr.WithWriteTimeout(300*time.Millisecond))
	c := hubtest.ConnectJSON(t, url)
	connID, _ := c.Result("ID").(string)
	c.Invoke("Hold", 60_000, 16<<10)
	err := h.waitDisconnect(t, connID, 20*time.Second)
	require.ErrorIs(t, err, signalr.ErrSlowConsumer, "close reason: %v", err)
	err = waitFor(t, h.sendErr, "Hold to end")
	require.ErrorIs(t, err, context.Canceled, "Hold ends with its connection")
}
