package signalr

import (
	"sync"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// outMsg is one encoded message waiting for the writer.
type outMsg struct {
	b []byte
	// untracked messages (Ping, Ack, Sequence, Close) are not numbered or
	// kept for replay by stateful reconnect.
	untracked bool
}

// enqueue queues one encoded hub message for the writer. It never blocks on
// the network: a connection that is a slow consumer (see fallBehindLocked)
// is closed instead.
func (c *conn) enqueue(b []byte) bool { return c.enqueueMsg(outMsg{b: b}) }

func (c *conn) enqueueMsg(m outMsg) bool {
	ok, start := c.enqueueDeferred(m)
	if start {
		c.startWriter()
	}
	return ok
}

// enqueueDeferred is enqueueMsg, except that when a writer must be started
// it reports start instead of starting it.
func (c *conn) enqueueDeferred(m outMsg) (ok, start bool) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return false, false
	}
	if c.queued+len(m.b) > c.hub.cfg.maxOutboundBuffer {
		if why := c.fallBehindLocked(len(m.b)); why != "" {
			c.qmu.Unlock()
			c.closeSlow(why)
			return false, false
		}
	}
	c.queue = append(c.queue, m)
	c.queued += len(m.b)
	start = c.startWriterLocked()
	c.qmu.Unlock()
	return true, start
}

// startWriterLocked reports whether the caller must start a writer, and
// marks one as running. qmu must be held.
func (c *conn) startWriterLocked() bool {
	if c.writing || c.suspended || (c.gated && !c.closing) {
		return false
	}
	c.writing = true
	return true
}

// trimQueue lets go of the queue's grown array once the connection has
// gone quiet, so that an idle connection keeps only its small inline one.
// A busy connection keeps its array: taking a new one for each burst would
// cost an allocation per recipient of every broadcast.
func (c *conn) trimQueue() {
	c.qmu.Lock()
	if !c.writing && len(c.queue) == 0 && cap(c.queue) > len(c.qbuf) {
		c.queue = c.qbuf[:0]
	}
	c.qmu.Unlock()
}

// enqueueIfIdle queues a keep-alive ping unless something is already queued
// or being written.
func (c *conn) enqueueIfIdle(b []byte) {
	c.qmu.Lock()
	busy := c.writing || len(c.queue) > 0 || c.suspended
	c.qmu.Unlock()
	if !busy {
		c.enqueueMsg(outMsg{b: b, untracked: true})
	}
}

// closeWith starts closing the connection: msg (if any) is queued after
// what is already waiting, the writer flushes it all and then closes the
// transport. Only the first call has an effect.
func (c *conn) closeWith(msg *protocol.Close, reason error) {
	c.closeQueued(msg, reason, false)
}

// closeQueued is closeWith; with drop, whatever is still queued is thrown
// away first (for a client too slow to ever read it).
func (c *conn) closeQueued(msg *protocol.Close, reason error, drop bool) {
	var b []byte
	if msg != nil && c.state.Load() == stateConnected && c.proto != nil {
		b, _ = c.proto.AppendMessage(nil, msg)
	}
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.closing = true
	c.closeAfterFlush = true
	c.closeReason = reason
	c.hub.metrics.closing(reason)
	c.wakeDrainedLocked()
	// Nothing more reaches the client: running methods and streams stop.
	defer c.cancel(ErrConnectionClosed)
	if c.rs != nil {
		close(c.rs.closingCh)
	}
	if drop {
		for _, m := range c.queue {
			c.queued -= len(m.b) // what stays counted is the frame being written
		}
		clear(c.queue)
		c.queue = c.queue[:0]
	}
	if b != nil {
		c.queue = append(c.queue, outMsg{b: b, untracked: true})
		c.queued += len(b)
	}
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	if start {
		c.startWriter()
	}
}

// writeLoop drains the queue, packing everything queued into one frame per
// write, and exits when the queue is empty. When the connection is closing
// it closes the transport after the last write.
func (c *conn) writeLoop() {
	c.qmu.Lock() // held at the top of every iteration
	for {
		if c.writeFailed || c.suspended || len(c.queue) == 0 {
			if c.closeAfterFlush {
				c.qmu.Unlock() // writing stays true: no writer starts again
				c.t.Close()
				close(c.transportClosed)
				return
			}
			c.writerDoneLocked()
			c.qmu.Unlock()
			return
		}
		if !c.closing && c.stateful && (c.gated || c.rs.replayBytes >= c.hub.cfg.statefulBufferSize) {
			c.writerDoneLocked() // gate lifts or acks arrive: they restart the writer
			c.qmu.Unlock()
			return
		}
		if c.waitsForPoll && !c.waited {
			// Wait for the client to ask before gathering the batch, so
			// that everything queued meanwhile goes out together.
			c.qmu.Unlock()
			err := transport.WaitWritable(c.t)
			c.qmu.Lock()
			c.waited = err == nil
			if err != nil {
				c.writeFailed = true
				if !c.closing {
					c.closing, c.closeAfterFlush, c.closeReason = true, true, err
					c.wakeDrainedLocked()
					if c.rs != nil {
						close(c.rs.closingCh)
					}
				}
			}
			continue
		}
		c.waited = false
		if c.hub.cfg.noCoalescing && len(c.queue) > 1 {
			if c.writeOneLocked() { // releases qmu
				return
			}
			c.qmu.Lock()
			continue
		}
		// The queue's array stays with the queue: producers go on
		// appending to it while the frame is written from parts.
		pp := partsPool.Get().(*[][]byte)
		parts := (*pp)[:0]
		n := 0
		for _, m := range c.queue {
			parts = append(parts, m.b)
			n += len(m.b)
		}
		if c.stateful {
			c.keepForReplay(c.queue)
		}
		c.resetQueueLocked() // the n bytes stay counted until written
		c.qmu.Unlock()

		err := c.t.WriteFrame(c.binary, parts...)
		c.hub.metrics.wrote(parts, err)
		c.wrote()
		clear(parts)
		if cap(parts) <= 256 {
			*pp = parts
			partsPool.Put(pp)
		}

		c.qmu.Lock()
		c.progressLocked(n)
		if err != nil && c.writeFailedLocked(err) {
			return
		}
	}
}

// wrote records a finished write. The time is the hub's coarse clock: the
// keep-alive needs no finer, and reading the time for every write of a
// broadcast would cost more than the rest of the write path.
func (c *conn) wrote() {
	c.lastWrite.Store(c.hub.clock.Load())
	c.hub.writers.writes.Add(1)
}

// partsPool lends writers the list of a frame's messages.
var partsPool = sync.Pool{New: func() any { return new([][]byte) }}

// resetQueueLocked empties the queue; the bytes stay counted in queued
// until the caller has written or dropped them. An array of up to 256 messages
// (8 KiB) stays for the next burst until the connection goes quiet (see
// trimQueue); a larger one goes back to the collector and the queue starts
// again in the connection's own small array. qmu must be held.
func (c *conn) resetQueueLocked() {
	clear(c.queue)
	if cap(c.queue) > 256 {
		c.queue = c.qbuf[:0]
	} else {
		c.queue = c.queue[:0]
	}
}

// writeFailedLocked handles a failed write. It reports true when the
// writer must exit; qmu has then been released. qmu must be held.
func (c *conn) writeFailedLocked(err error) (exit bool) {
	if c.stateful && !c.closing {
		// The reader sees the same loss and waits for a resume; what was
		// written is in the replay buffer.
		c.suspended = true
		c.writerDoneLocked()
		t := c.t
		c.qmu.Unlock()
		t.Close()
		return true
	}
	c.writeFailed = true
	c.resetQueueLocked()
	c.queued = 0
	if !c.closing {
		err = slowWriteReason(err)
		c.closing, c.closeAfterFlush, c.closeReason = true, true, err
		c.hub.metrics.closing(err)
		c.wakeDrainedLocked()
		if c.rs != nil {
			close(c.rs.closingCh)
		}
	}
	return false
}

// writeOneLocked writes the first queued message in a frame of its own
// (WithWriteCoalescing(false)). qmu must be held; it is released. It
// reports true when the writer must exit.
func (c *conn) writeOneLocked() (exit bool) {
	m := c.queue[0]
	n := copy(c.queue, c.queue[1:])
	c.queue[n] = outMsg{}
	c.queue = c.queue[:n]
	if c.stateful {
		c.keepForReplay([]outMsg{m})
	}
	c.qmu.Unlock()
	err := c.t.WriteFrame(c.binary, m.b)
	c.hub.metrics.wrote([][]byte{m.b}, err)
	c.wrote()
	c.qmu.Lock()
	c.progressLocked(len(m.b))
	if err != nil && c.writeFailedLocked(err) {
		return true
	}
	c.qmu.Unlock()
	return false
}

// wakeDrainedLocked wakes producers waiting in waitRoom. qmu must be held.
func (c *conn) wakeDrainedLocked() {
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// writerDoneLocked records that the writer goroutine is exiting and wakes a
// reader waiting to take over the transport (stateful resume). qmu must be
// held.
func (c *conn) writerDoneLocked() {
	c.writing = false
	if c.writerIdle != nil {
		close(c.writerIdle)
		c.writerIdle = nil
	}
}
