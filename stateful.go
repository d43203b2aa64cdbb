package signalr

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// Stateful reconnect (docs/protocol.md §6). Each side numbers the
// trackable messages (types 1 to 5) it sends, 1, 2, 3, ... for the whole
// life of the connection; the numbers are implicit, the receiver counts.
// Acks free the sender's replay buffer. When the WebSocket is lost, the
// reader waits for the client to reopen it with the same token; the server
// then sends a Sequence with the id of its oldest unacknowledged message
// and replays from there, and skips what it had already processed of the
// client's replay.

var errResumeTimeout = fmt.Errorf("%w: the client did not resume the connection in time", ErrClientTimeout)

// enableStateful turns stateful reconnect on at handshake.
func (c *conn) enableStateful() {
	c.stateful = true
	c.gated = true
	c.rs = &resumeState{
		replayFirst: 1,
		inExpect:    1,
		resumeCh:    make(chan transport.Conn, 1),
		closingCh:   make(chan struct{}),
	}
}

// keepForReplay moves the trackable messages of batch to the replay
// buffer. qmu must be held.
func (c *conn) keepForReplay(batch []outMsg) {
	for _, m := range batch {
		if !m.untracked {
			c.rs.replay = append(c.rs.replay, m.b)
			c.rs.replayBytes += len(m.b)
		}
	}
}

// ack frees the replay buffer up to and including id.
func (c *conn) ack(id uint64) {
	c.qmu.Lock()
	if id >= c.rs.replayFirst {
		n := min(id-c.rs.replayFirst+1, uint64(len(c.rs.replay)))
		for _, b := range c.rs.replay[:n] {
			c.rs.replayBytes -= len(b)
		}
		clear(c.rs.replay[:n])
		c.rs.replay = c.rs.replay[n:]
		c.rs.replayFirst += n
		if len(c.rs.replay) == 0 {
			c.rs.replay = nil
		}
	}
	start := len(c.queue) > 0 && c.startWriterLocked()
	c.qmu.Unlock()
	if start {
		c.startWriter()
	}
}

// ungate lets the writer go once the client has sent its first message
// after the handshake: anything sent before would reach the client before
// it starts counting.
func (c *conn) ungate() {
	c.qmu.Lock()
	c.gated = false
	start := len(c.queue) > 0 && c.startWriterLocked()
	c.qmu.Unlock()
	if start {
		c.startWriter()
	}
}

// trackIncoming numbers an incoming message and reports whether to process
// it: messages before the client's Sequence after a resume, and replayed
// messages already processed, are dropped.
func (c *conn) trackIncoming(msg protocol.Message) bool {
	if c.gated {
		c.ungate()
	}
	if c.awaitSeq {
		if s, ok := msg.(*protocol.Sequence); ok {
			c.rs.inExpect = s.SequenceID
			c.awaitSeq = false
		}
		return false
	}
	switch msg.Type() {
	case protocol.TypeInvocation, protocol.TypeStreamItem, protocol.TypeCompletion,
		protocol.TypeStreamInvocation, protocol.TypeCancelInvocation:
		id := c.rs.inExpect
		c.rs.inExpect++
		if id <= c.rs.inSeq.Load() {
			return false
		}
		c.rs.inSeq.Store(id)
	}
	return true
}

// suspendable reports whether a read error is a lost transport that the
// client may resume, rather than the end of the connection.
func (c *conn) suspendable(err error) bool {
	var pe *protocolError
	return c.stateful && !errors.Is(err, errClientClosed) && !errors.Is(err, io.EOF) && !errors.As(err, &pe)
}

// awaitResume waits, in the reader, for the client to reopen its
// transport. It reports whether the connection goes on.
func (c *conn) awaitResume() bool {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return false
	}
	c.suspended = true
	old := c.t
	c.qmu.Unlock()
	old.Close()
	c.logger().DebugContext(c.ctx, "transport lost, waiting for the client to resume")

	timer := time.NewTimer(c.hub.cfg.disconnectTimeout)
	defer timer.Stop()
	select {
	case t := <-c.rs.resumeCh:
		return c.resumeWith(t)
	case <-timer.C:
		c.closeWith(nil, errResumeTimeout)
		return false
	case <-c.rs.closingCh:
		return false
	}
}

// offerResume hands a reopened transport to the connection. The old
// transport, if still open, is closed so that the reader moves on to the
// new one. It reports false when the connection cannot be resumed.
func (c *conn) offerResume(t transport.Conn) bool {
	c.qmu.Lock()
	if c.closing || c.rs.pending {
		c.qmu.Unlock()
		return false
	}
	c.rs.pending = true
	old := c.t
	c.qmu.Unlock()
	c.rs.resumeCh <- t
	old.Close()
	return true
}

// resumeWith switches to t: it sends the server's Sequence and replays
// every unacknowledged message, then lets queued messages follow. It
// reports false when the connection closed meanwhile.
func (c *conn) resumeWith(t transport.Conn) bool {
	seq, _ := c.proto.AppendMessage(nil, &protocol.Sequence{})
	c.qmu.Lock()
	// A writer still running on the old transport stops at its next step
	// (the connection is suspended); wait for it before taking over.
	for c.writing {
		if c.closing {
			c.qmu.Unlock()
			t.Close()
			return false
		}
		if c.writerIdle == nil {
			c.writerIdle = make(chan struct{})
		}
		idle := c.writerIdle
		c.qmu.Unlock()
		<-idle
		c.qmu.Lock()
	}
	c.t = t
	c.suspended = false
	c.rs.pending = false
	c.writing = true // the reader writes the resume frame itself
	seq, _ = c.proto.AppendMessage(seq[:0], &protocol.Sequence{SequenceID: c.rs.replayFirst})
	parts := append([][]byte{seq}, c.rs.replay...)
	c.qmu.Unlock()

	c.awaitSeq = true
	err := t.WriteFrame(c.binary, parts...)
	c.lastWrite.Store(time.Now().UnixNano())
	c.logger().DebugContext(c.ctx, "connection resumed", "replayed", len(parts)-1)

	c.qmu.Lock()
	c.writerDoneLocked()
	if err != nil {
		c.suspended = true // the reader's next read fails and waits again
	}
	start := len(c.queue) > 0 && c.startWriterLocked()
	c.qmu.Unlock()
	if start {
		c.startWriter()
	}
	return true
}
