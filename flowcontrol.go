package signalr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"time"

	"github.com/gosignalr/signalr/protocol"
)

// Flow control toward clients. Every connection counts the bytes it holds
// for its client: the messages queued plus the frame being written (the
// conn's queued field). Two limits apply to that count:
//
//   - the soft limit, [WithMaxOutboundBuffer]: past it the connection is
//     behind. Senders to that one connection (Caller, Client, client
//     results, stream items) wait for it to drain; broadcasts never wait.
//   - the hard cap, hardCapFactor times the soft limit: a connection that
//     is behind and would pass it is a slow consumer.
//
// A connection that stays behind while no write to it finishes for the
// write timeout ([WithWriteTimeout]) is a slow consumer too, and so is one
// whose write times out. A slow consumer is closed with ErrSlowConsumer:
// what is queued is dropped and a Close message says why.

// hardCapFactor is how many times the soft limit a connection may hold.
const hardCapFactor = 4

// outboundHardCap returns the most bytes a connection that is behind may
// hold.
func (cfg *config) outboundHardCap() int {
	if cfg.maxOutboundBuffer > math.MaxInt/hardCapFactor {
		return math.MaxInt
	}
	return hardCapFactor * cfg.maxOutboundBuffer
}

// slowConsumerText is the start of the Close message a slow consumer gets.
const slowConsumerText = "Connection closed with an error. The client did not read its messages fast enough: "

// fallBehindLocked is called when a message of n bytes would take the
// connection past the soft limit. It reports why the connection is a slow
// consumer, or "" when it may take the message. qmu must be held.
func (c *conn) fallBehindLocked(n int) string {
	soft := c.hub.cfg.maxOutboundBuffer
	if c.queued <= soft {
		// Falling behind now: the stall clock starts. A message larger
		// than the soft limit is taken by a connection that is not behind.
		c.lastWrite.Store(time.Now().UnixNano())
		return ""
	}
	if hard := c.hub.cfg.outboundHardCap(); c.queued > hard-n {
		return fmt.Sprintf("more than %d bytes were waiting", hard)
	}
	return c.stalledLocked(time.Now().UnixNano())
}

// stalledLocked reports a connection that is behind and has finished no
// write for the write timeout (since it fell behind). A connection waiting
// for a stateful reconnect, or for its client's first message, is not
// stalled: its own timeouts apply. qmu must be held.
func (c *conn) stalledLocked(now int64) string {
	stall := c.hub.cfg.writeTimeout
	if c.suspended || c.gated || now-c.lastWrite.Load() < int64(stall) {
		return ""
	}
	return fmt.Sprintf("it took nothing for %v", stall)
}

// progressLocked records that a write of n bytes finished: they no longer
// count, and waiting senders may find room. qmu must be held.
func (c *conn) progressLocked(n int) {
	c.queued -= n
	if c.queued > c.hub.cfg.maxOutboundBuffer {
		// Still behind, but moving: the stall clock starts again. (The
		// writer records the coarse clock; behind, a stall must be timed
		// precisely.)
		c.lastWrite.Store(time.Now().UnixNano())
	}
	c.wakeDrainedLocked()
}

// closeSlow closes a slow consumer for the reason why: what is queued is
// dropped and a Close message that says why follows the frame being
// written, if any.
func (c *conn) closeSlow(why string) {
	c.logger().WarnContext(c.ctx, "closing a slow consumer", "reason", why)
	c.closeQueued(&protocol.Close{Error: slowConsumerText + why + "."},
		fmt.Errorf("%w: %s", ErrSlowConsumer, why), true)
}

// slowWriteReason returns the reason to close a connection whose write
// failed with err: a write that timed out makes the client a slow
// consumer; anything else is err itself.
func slowWriteReason(err error) error {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrSlowConsumer, err)
	}
	return err
}

// waitRoom waits until the connection is not behind (it holds at most the
// soft limit), ctx is done, or the connection closes; it returns nil,
// ctx's error or ErrConnectionClosed. A connection that makes no progress
// meanwhile is closed as a slow consumer when the write timeout has passed.
func (c *conn) waitRoom(ctx context.Context) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.qmu.Lock()
		if c.closing {
			c.qmu.Unlock()
			return ErrConnectionClosed
		}
		if c.queued <= c.hub.cfg.maxOutboundBuffer {
			c.qmu.Unlock()
			return nil
		}
		now := time.Now().UnixNano()
		if why := c.stalledLocked(now); why != "" {
			c.qmu.Unlock()
			c.closeSlow(why)
			return ErrConnectionClosed
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		ch := c.drained
		// Look again when a stall would be due.
		wait := c.hub.cfg.writeTimeout
		if !c.suspended && !c.gated {
			wait = max(time.Duration(c.lastWrite.Load()+int64(wait)-now), time.Millisecond)
		}
		c.qmu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ch:
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
