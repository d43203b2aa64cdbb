package signalr

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// stuckTransport is an in-memory transport whose writes block until the
// test lets them through, as a client that does not read; reads block
// until Close.
type stuckTransport struct {
	release chan struct{} // closed: writes go through
	closed  chan struct{}
	started chan struct{} // a write began
	once    sync.Once
	rel     sync.Once

	mu     sync.Mutex
	frames [][]byte
}

func newStuckTransport() *stuckTransport {
	return &stuckTransport{release: make(chan struct{}), closed: make(chan struct{}), started: make(chan struct{}, 1)}
}

func (s *stuckTransport) NextReader() (bool, io.Reader, error) {
	<-s.closed
	return false, nil, io.EOF
}

func (s *stuckTransport) WriteFrame(_ bool, parts ...[]byte) error {
	select {
	case s.started <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-s.closed:
		return io.ErrClosedPipe
	}
	s.mu.Lock()
	s.frames = append(s.frames, bytes.Join(parts, nil))
	s.mu.Unlock()
	return nil
}

func (s *stuckTransport) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *stuckTransport) Name() string { return transport.WebSockets }

// unblock lets every write through from now on.
func (s *stuckTransport) unblock() { s.rel.Do(func() { close(s.release) }) }

// written returns everything written so far.
func (s *stuckTransport) written() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(bytes.Join(s.frames, nil))
}

var _ transport.Conn = (*stuckTransport)(nil)

// newFlowHub returns a hub with the given soft limit and write timeout
// that is shut down when the test ends, after its transports are closed.
func newFlowHub(t *testing.T, soft int, writeTimeout time.Duration) *Hub {
	t.Helper()
	h, err := New(benchHub{}, WithLogger(slog.New(slog.DiscardHandler)), WithKeepAliveInterval(Disabled),
		WithMaxOutboundBuffer(soft), WithWriteTimeout(writeTimeout))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
	})
	return h
}

// attachConn registers a handshaken JSON connection on tr and serves it
// until tr is closed, which happens when the test ends.
func attachConn(t *testing.T, h *Hub, tr transport.Conn) *conn {
	t.Helper()
	c := newConn(h, tr, newID(), newID(), httptest.NewRequest("GET", "/hub", nil), nil)
	c.proto, c.protoIndex = h.protocols[0], 0
	c.state.Store(stateConnected)
	c.handshaken, c.registered = true, true
	require.NoError(t, h.register(c))
	h.mu.Lock()
	h.live[c.token] = c
	h.active++
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.teardown(c.readLoop())
		h.release(c.token)
	}()
	t.Cleanup(func() {
		tr.Close()
		<-done
	})
	return c
}

// held returns the bytes c holds and whether it is closing.
func (c *conn) held() (int, bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.queued, c.closing
}

func (c *conn) reason() error {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.closeReason
}

// waitStarted waits until tr's writer has begun a write.
func waitStarted(t *testing.T, tr *stuckTransport) {
	t.Helper()
	select {
	case <-tr.started:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no write began")
	}
}

// TestHardCapAtAndPastLimit: a connection that does not read may hold
// exactly the hard cap (four times the soft limit), the frame being
// written included; one byte more closes it with ErrSlowConsumer, drops
// what is queued and queues a Close message that says why.
func TestHardCapAtAndPastLimit(t *testing.T) {
	const soft, hard = 1000, 4000
	h := newFlowHub(t, soft, time.Minute)
	require.Equal(t, hard, h.cfg.outboundHardCap())
	tr := newStuckTransport()
	c := attachConn(t, h, tr)

	msg := bytes.Repeat([]byte("x"), 100)
	require.True(t, c.enqueue(msg))
	waitStarted(t, tr) // these 100 bytes are being written, and still count
	for n := 100; n < hard; n += len(msg) {
		require.True(t, c.enqueue(msg), "refused at %d bytes", n)
		q, closing := c.held()
		require.LessOrEqual(t, q, hard)
		require.False(t, closing, "closed at %d bytes", q)
	}
	q, closing := c.held()
	require.Equal(t, hard, q, "at the hard cap")
	require.False(t, closing, "a connection at the hard cap stays open")

	require.False(t, c.enqueue([]byte("x")), "one byte past the hard cap is refused")
	q, closing = c.held()
	require.True(t, closing)
	require.ErrorIs(t, c.reason(), ErrSlowConsumer)
	require.LessOrEqual(t, q, hard, "the queue was dropped: the frame being written and the Close message remain")

	// The client reads again: it gets the frame that was being written,
	// then the Close message, and nothing that was dropped.
	tr.unblock()
	select {
	case <-c.transportClosed:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the connection did not close")
	}
	out := tr.written()
	require.True(t, strings.HasPrefix(out, string(msg)), "the frame being written goes out")
	closeMsg := out[len(msg):]
	require.Contains(t, closeMsg, `"type":7`)
	require.Contains(t, closeMsg, "did not read its messages fast enough: more than 4000 bytes were waiting")
}

// TestBroadcastNeverWaitsAndMemoryIsBounded: broadcasts to a connection
// that does not read and to one that does never wait; the silent one never
// holds more than the hard cap and is closed once past it; the other,
// which keeps up, gets every message.
func TestBroadcastNeverWaitsAndMemoryIsBounded(t *testing.T) {
	const soft = 4 << 10
	h := newFlowHub(t, soft, time.Minute)
	stuck := newStuckTransport()
	silent := attachConn(t, h, stuck)
	healthy := newDiscardTransport()
	attachConn(t, h, healthy)

	const total = 1000 // about 200 KiB: 50 times the hard cap
	done := make(chan error, 1)
	go func() {
		payload := strings.Repeat("y", 200)
		for i := range total {
			if err := h.Clients().All().Send(context.Background(), "tick", i, payload); err != nil {
				done <- err
				return
			}
			if q, _ := silent.held(); q > h.cfg.outboundHardCap() {
				done <- errors.New("past the hard cap")
				return
			}
			// Keep the healthy client within its limit: wait for it (never
			// for the silent one) every 8 messages.
			for i%8 == 7 && healthy.msgs.Load() < int64(i+1) {
				runtime.Gosched()
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		require.FailNow(t, "a broadcast waited for the silent client")
	}
	_, closing := silent.held()
	require.True(t, closing)
	require.ErrorIs(t, silent.reason(), ErrSlowConsumer)
	waitDelivered(t, []*discardTransport{healthy}, total)
}

// TestSoftLimitAtAndPastLimit: a sender to one connection goes on while
// the connection holds up to the soft limit, waits past it, ends with its
// context's error, and goes on once the connection makes progress.
func TestSoftLimitAtAndPastLimit(t *testing.T) {
	const soft = 1000
	h := newFlowHub(t, soft, time.Minute)
	tr := newStuckTransport()
	c := attachConn(t, h, tr)

	require.True(t, c.enqueue(make([]byte, 100)))
	waitStarted(t, tr)
	require.True(t, c.enqueue(make([]byte, soft-100)))
	require.NoError(t, c.waitRoom(context.Background()), "at the soft limit there is room")

	require.True(t, c.enqueue([]byte("x")), "a broadcast goes past the soft limit")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.waitRoom(ctx), context.DeadlineExceeded, "past the soft limit, a sender waits")
	_, closing := c.held()
	require.False(t, closing, "behind is not a slow consumer")

	waited := make(chan error, 1)
	go func() { waited <- c.waitRoom(context.Background()) }()
	tr.unblock()
	select {
	case err := <-waited:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the sender still waits after the connection drained")
	}
}

// TestSendToOneConnectionIsBounded: Caller and Client sends to a
// connection that does not read wait once it is behind, return their
// context's error, and never take it past the soft limit plus one message.
func TestSendToOneConnectionIsBounded(t *testing.T) {
	const soft = 2000
	h := newFlowHub(t, soft, time.Minute)
	tr := newStuckTransport()
	c := attachConn(t, h, tr)
	payload := strings.Repeat("z", 100)
	msgSize := len(h.newOutbound(&protocol.Invocation{Target: "m", Arguments: []any{payload}}).bytes(0))

	for name, p := range map[string]ClientProxy{
		"Caller": CallerClients{targets: targets{h}, caller: c}.Caller().ClientProxy,
		"Client": h.Clients().Client(c.id).ClientProxy,
	} {
		var err error
		for i := 0; i < 10*soft/msgSize && err == nil; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			err = p.Send(ctx, "m", payload)
			cancel()
			q, closing := c.held()
			require.LessOrEqual(t, q, soft+msgSize, "%s: memory grew past the limit", name)
			require.False(t, closing, "%s: the connection was closed", name)
		}
		require.ErrorIs(t, err, context.DeadlineExceeded, "%s: the send never waited", name)
	}
}

// TestStallClosesSlowConsumer: a connection that stays behind while no
// write finishes for the write timeout is closed with ErrSlowConsumer, by
// the next send to it or by a sender waiting for room.
func TestStallClosesSlowConsumer(t *testing.T) {
	const soft = 1000
	h := newFlowHub(t, soft, 100*time.Millisecond)
	behind := func() (*conn, *stuckTransport) {
		tr := newStuckTransport()
		c := attachConn(t, h, tr)
		require.True(t, c.enqueue(make([]byte, 100)))
		waitStarted(t, tr)
		require.True(t, c.enqueue(make([]byte, soft)))
		return c, tr
	}

	t.Run("send", func(t *testing.T) {
		c, _ := behind()
		require.True(t, c.enqueue([]byte("x")), "behind for less than the write timeout")
		time.Sleep(200 * time.Millisecond)
		require.False(t, c.enqueue([]byte("x")), "behind with no progress for the write timeout")
		require.ErrorIs(t, c.reason(), ErrSlowConsumer)
		require.Contains(t, c.reason().Error(), "took nothing")
	})
	t.Run("waiter", func(t *testing.T) {
		c, _ := behind()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.ErrorIs(t, c.waitRoom(ctx), ErrConnectionClosed)
		require.ErrorIs(t, c.reason(), ErrSlowConsumer)
	})
}

// TestStreamStopsProducingForSilentClient: a stream to a connection that
// does not read stops taking items once the connection is behind, and
// ends when its context does.
func TestStreamStopsProducingForSilentClient(t *testing.T) {
	const soft, item = 4096, 1024
	h := newFlowHub(t, soft, time.Minute)
	tr := newStuckTransport()
	c := attachConn(t, h, tr)

	var mu sync.Mutex
	produced := 0
	ch := make(chan string)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer close(ch)
		for {
			select {
			case ch <- strings.Repeat("s", item):
				mu.Lock()
				produced++
				mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	pumped := make(chan error, 1)
	go func() { pumped <- c.pump(ctx, streamChan, "1", reflect.ValueOf((<-chan string)(ch))) }()

	// The pump waits for room once the connection is behind.
	require.Eventually(t, func() bool {
		c.qmu.Lock()
		defer c.qmu.Unlock()
		return c.drained != nil
	}, 10*time.Second, time.Millisecond, "the stream never waited")
	q, _ := c.held()
	mu.Lock()
	n := produced
	mu.Unlock()
	require.LessOrEqual(t, q, soft+item+100)
	// Items queued, plus the one the pump holds.
	require.LessOrEqual(t, n, soft/item+3, "the producer ran ahead: %d items", n)

	cancel()
	select {
	case err := <-pumped:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the stream did not end with its context")
	}
}
