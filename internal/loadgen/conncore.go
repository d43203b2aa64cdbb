package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// connCore is what a SignalR client connection does the same on every
// transport: its invocations waiting for completion, the reason the
// server gave for closing it, and its closed and done signals. A
// transport embeds it, calls init before use, and keeps only how it
// sends and receives bytes.
type connCore struct {
	proto Protocol
	opts  DialOptions
	// send builds one message with build and sends it; it is the
	// transport's.
	send func(build func([]byte) []byte) error

	nextID  atomic.Uint64
	pmu     sync.Mutex
	pending map[uint64]*call
	ended   bool  // guarded by pmu: the receiver has stopped
	readErr error // guarded by pmu: why it stopped

	stopped   atomic.Bool
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	done      chan struct{} // closed when the receiver has returned

	reasonMu sync.Mutex
	reason   string
}

// call is an invocation waiting for its completion.
type call struct {
	want []byte // when set, the result must equal it
	ch   chan error
}

func (c *connCore) init(proto Protocol, opts DialOptions, send func(build func([]byte) []byte) error) {
	c.proto = proto
	c.opts = opts
	c.send = send
	c.pending = make(map[uint64]*call)
	c.closed = make(chan struct{})
	c.done = make(chan struct{})
}

// invoke sends an invocation and waits for its completion.
func (c *connCore) invoke(ctx context.Context, target string, want []byte, args ...[]byte) error {
	id := c.nextID.Add(1)
	cl := &call{want: want, ch: make(chan error, 1)}
	c.pmu.Lock()
	if c.ended {
		err := c.readErr
		c.pmu.Unlock()
		return fmt.Errorf("loadgen: %s: %w", target, err)
	}
	c.pending[id] = cl
	c.pmu.Unlock()
	if err := c.send(func(b []byte) []byte { return appendInvocation(b, c.proto, id, target, args...) }); err != nil {
		c.take(id)
		return fmt.Errorf("loadgen: %s: %w", target, err)
	}
	select {
	case err := <-cl.ch:
		if err != nil {
			return fmt.Errorf("loadgen: %s: %w", target, err)
		}
		return nil
	case <-ctx.Done():
		c.take(id)
		return fmt.Errorf("loadgen: %s: %w", target, ctx.Err())
	}
}

// take removes and returns the call waiting for completion id, if any.
func (c *connCore) take(id uint64) *call {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	cl := c.pending[id]
	delete(c.pending, id)
	return cl
}

// ping sends a Ping message.
func (c *connCore) ping() error {
	return c.send(func(b []byte) []byte { return appendPing(b, c.proto) })
}

// Publish implements Conn.
func (c *connCore) Publish(ctx context.Context, group string, payload []byte) error {
	return c.invoke(ctx, "Publish", nil, []byte(group), payload)
}

// Echo implements Conn.
func (c *connCore) Echo(ctx context.Context, payload []byte) error {
	if payload == nil {
		payload = []byte{}
	}
	return c.invoke(ctx, "Echo", payload, payload)
}

// StopReading implements Conn. The receiver finishes the frame it is
// waiting for, if any (a WebSocket message, an event, the poll in
// flight), then receives nothing more until Close. A long-polling
// connection thus sends no more polls, and the hub ends it at its
// disconnect timeout.
func (c *connCore) StopReading() { c.stopped.Store(true) }

// Done implements Conn.
func (c *connCore) Done() <-chan struct{} { return c.done }

// CloseReason implements Conn.
func (c *connCore) CloseReason() string {
	c.reasonMu.Lock()
	defer c.reasonMu.Unlock()
	return c.reason
}

func (c *connCore) setReason(reason string) {
	c.reasonMu.Lock()
	c.reason = reason
	c.reasonMu.Unlock()
}

// closeWith closes c once, running shut (which ends the transport) after
// marking c closed, and waits for the receiver to return.
func (c *connCore) closeWith(shut func()) error {
	c.closeOnce.Do(func() {
		close(c.closed)
		shut()
	})
	<-c.done
	return nil
}

// parked reports whether StopReading was called; if so it first waits
// for Close, after which the receiver returns errConnClosed.
func (c *connCore) parked() bool {
	if !c.stopped.Load() {
		return false
	}
	<-c.closed
	return true
}

// endErr turns a receiving error into the reason the connection ended:
// errConnClosed after Close, the server's reason if it gave one, else err
// after "loadgen: <op>: ".
func (c *connCore) endErr(op string, err error) error {
	select {
	case <-c.closed:
		return errConnClosed
	default:
	}
	if reason := c.CloseReason(); reason != "" {
		return fmt.Errorf("loadgen: closed by the server: %s", reason)
	}
	return fmt.Errorf("loadgen: %s: %w", op, err)
}

// finish records that the receiver has stopped because of err, fails
// every waiting invocation with err and signals Done.
func (c *connCore) finish(err error) {
	c.pmu.Lock()
	c.ended, c.readErr = true, err
	pending := c.pending
	c.pending = nil
	c.pmu.Unlock()
	for _, cl := range pending {
		cl.ch <- err
	}
	close(c.done)
}

// handleFrame dispatches the messages of one frame (a WebSocket message,
// a server-sent event or a poll response).
func (c *connCore) handleFrame(frame []byte, now time.Time, count bool) error {
	if cnt := c.opts.Counters; cnt != nil && count {
		cnt.Frames.Add(1)
	}
	var scratch []byte
	return eachMessage(c.proto, frame, &scratch, func(m *inMsg) {
		dispatch(m, now, &c.opts, c.take, c.setReason)
	})
}

// pingLoop pings the connections in conns, guarded by mu, every interval
// until stop is closed. A failed ping shows as the connection's
// receiving error.
func pingLoop[C interface {
	comparable
	ping() error
}](interval time.Duration, stop <-chan struct{}, mu *sync.Mutex, conns map[C]struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var list []C
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		mu.Lock()
		list = list[:0]
		for c := range conns {
			list = append(list, c)
		}
		mu.Unlock()
		for _, c := range list {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.ping()
		}
		clear(list)
	}
}
