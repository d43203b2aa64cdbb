package signalr_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/transport"
)

// burstHub sends bursts to everyone and reports connections' ends.
type burstHub struct {
	disconnected chan disconnectEvent
	sendErr      chan error // Hold reports here how its sends ended
}

func newBurstHub() *burstHub {
	return &burstHub{disconnected: make(chan disconnectEvent, 16), sendErr: make(chan error, 1)}
}

func (h *burstHub) ID(c *signalr.Context) string { return c.ConnectionID() }

// Burst broadcasts ticks start..start+n-1, each with size bytes of payload,
// as fast as it can.
func (h *burstHub) Burst(c *signalr.Context, start, n, size int) error {
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

// TestBurstDoesNotCutOffReader: a hub method broadcasts 20 bursts of
// 1,000 messages of 1 KiB, each burst more than the 1 MiB soft limit and
// queued far faster than a socket drains, while one client reads (the Go
// client) and another never reads. The reader gets all 20,000 messages in
// order; the other is closed as a slow consumer.
func TestBurstDoesNotCutOffReader(t *testing.T) {
	const bursts, perBurst, size = 20, 1000, 1024
	h := newBurstHub()
	_, url, _ := startTunedHub(t, h, 64<<10, signalr.WithKeepAliveInterval(0),
		signalr.WithWriteTimeout(5*time.Second))

	// The client that never reads: a bare socket, silent after one call.
	silent := connectJSON(t, url)
	silentID, _ := silent.result("ID").(string)

	reader, err := client.New(url+"/hub", client.WithTransports(transport.WebSockets),
		client.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	var got atomic.Int64
	orderErr := make(chan error, 1)
	require.NoError(t, client.On2(reader, "tick", func(i int, payload string) {
		if n := got.Load(); int64(i) != n || len(payload) != size {
			select {
			case orderErr <- fmt.Errorf("tick %d (%d bytes) arrived after %d ticks", i, len(payload), n):
			default:
			}
		}
		got.Add(1)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, reader.Start(ctx))
	t.Cleanup(func() { _ = reader.Stop(context.Background()) })

	for b := range bursts {
		require.NoError(t, reader.Invoke(ctx, nil, "Burst", b*perBurst, perBurst, size), "burst %d", b)
	}
	// Every tick came before the last completion; the handlers may lag.
	require.Eventually(t, func() bool { return got.Load() == bursts*perBurst || len(orderErr) > 0 },
		30*time.Second, 10*time.Millisecond, "the reader got %d of %d ticks", got.Load(), bursts*perBurst)
	select {
	case err := <-orderErr:
		require.NoError(t, err)
	default:
	}
	// The reader is still connected and caught up.
	var id string
	require.NoError(t, reader.Invoke(ctx, &id, "ID"))

	err = h.waitDisconnect(t, silentID, 30*time.Second)
	require.ErrorIs(t, err, signalr.ErrSlowConsumer, "the silent client's close reason: %v", err)
}

// TestSendToCallerWaitsForRoom: a hub method sending to a caller that does
// not read waits once the connection is behind, and returns its context's
// error when the context ends. The connection is not closed: it is behind,
// not yet stalled, and all it was sent arrives once the client reads.
func TestSendToCallerWaitsForRoom(t *testing.T) {
	h := newBurstHub()
	_, url, _ := startTunedHub(t, h, 16<<10, signalr.WithKeepAliveInterval(0),
		signalr.WithMaxOutboundBuffer(64<<10))
	c := connectJSON(t, url)
	id := c.invoke("Hold", 300, 16<<10)
	// Not reading: Hold's sends fill the socket buffers, then the queue.
	err := waitFor(t, h.sendErr, "Hold to end")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Now read: every held message, then Hold's completion; no Close.
	held := 0
	for {
		m := c.next()
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
	c.sync()
	t.Logf("held messages delivered: %d (%d KiB)", held, held*16)
}

// TestWriteTimeoutIsSlowConsumer: a client that takes nothing for the
// write timeout is closed with ErrSlowConsumer, and the hub method sending
// to it ends with its connection.
func TestWriteTimeoutIsSlowConsumer(t *testing.T) {
	h := newBurstHub()
	_, url, _ := startTunedHub(t, h, 16<<10, signalr.WithKeepAliveInterval(0),
		signalr.WithMaxOutboundBuffer(64<<10), signalr.WithWriteTimeout(300*time.Millisecond))
	c := connectJSON(t, url)
	connID, _ := c.result("ID").(string)
	c.invoke("Hold", 60_000, 16<<10)
	err := h.waitDisconnect(t, connID, 20*time.Second)
	require.ErrorIs(t, err, signalr.ErrSlowConsumer, "close reason: %v", err)
	err = waitFor(t, h.sendErr, "Hold to end")
	require.ErrorIs(t, err, context.Canceled, "Hold ends with its connection")
}

// TestOnDisconnectedWithoutOnConnected: a hub that implements Disconnecter
// alone hears about every connection's end.
func TestOnDisconnectedWithoutOnConnected(t *testing.T) {
	h := newBurstHub()
	_, url := startHub(t, h)
	c := connectJSON(t, url)
	id, _ := c.result("ID").(string)
	require.NoError(t, c.ws.Close())
	h.waitDisconnect(t, id, 5*time.Second) // fails the test if never called
}
