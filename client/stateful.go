package client

import (
	"context"
	"time"

	"github.com/gosignalr/signalr/protocol"
)

// Stateful reconnect (docs/protocol.md §6). Each side numbers the trackable
// messages (types 1 to 5) it sends, 1, 2, 3, ... for the whole connection;
// no message carries its number. The client keeps what it sent until the
// server acknowledges it, acknowledges what it received a second after
// receiving it, and after a drop reopens the WebSocket once at the same
// token, says where it resumes (Sequence) and sends again what was not
// acknowledged.

// statefulState is a session's bookkeeping, guarded by session.mu.
type statefulState struct {
	limit    int
	buffered int           // bytes in msgs
	msgs     []keptMsg     // sent, not yet acknowledged
	total    uint64        // trackable messages sent
	space    chan struct{} // closed when acks free space (then replaced)
	resuming bool          // the transport is down; writes go to msgs only

	waitSequence bool   // after a drop, ignore all until the server's Sequence
	nextRecv     uint64 // number of the next trackable message received
	latest       uint64 // highest number received and processed
	ackTimer     *time.Timer
}

type keptMsg struct {
	seq  uint64
	data []byte
}

func newStatefulState(limit int) *statefulState {
	return &statefulState{limit: limit, space: make(chan struct{}), nextRecv: 1}
}

// trackable reports whether msg is counted and kept for replay.
func trackable(msg protocol.Message) bool {
	switch msg.Type() {
	case protocol.TypeInvocation, protocol.TypeStreamItem, protocol.TypeCompletion,
		protocol.TypeStreamInvocation, protocol.TypeCancelInvocation:
		return true
	}
	return false
}

func (st *statefulState) full() bool { return st.buffered >= st.limit }

// keep numbers an outgoing trackable message and keeps it for replay.
func (st *statefulState) keep(b []byte) {
	st.total++
	st.msgs = append(st.msgs, keptMsg{seq: st.total, data: b})
	st.buffered += len(b)
}

// close releases senders waiting for space, and stops the ack timer.
func (st *statefulState) close() {
	close(st.space)
	st.space = make(chan struct{})
	if st.ackTimer != nil {
		st.ackTimer.Stop()
		st.ackTimer = nil
	}
}

// accept counts an incoming message and reports whether to process it:
// not while waiting for the server's Sequence, not a duplicate.
func (s *session) accept(msg protocol.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	if st.waitSequence {
		if msg.Type() != protocol.TypeSequence {
			return false
		}
		st.waitSequence = false
		return true
	}
	if !trackable(msg) {
		return true
	}
	cur := st.nextRecv
	st.nextRecv++
	if cur <= st.latest {
		if cur == st.latest {
			s.scheduleAckLocked()
		}
		return false
	}
	st.latest = cur
	s.scheduleAckLocked()
	return true
}

func (s *session) scheduleAckLocked() {
	if s.st.ackTimer == nil && !s.closed {
		s.st.ackTimer = time.AfterFunc(ackDelay, s.sendAck)
	}
}

// sendAck acknowledges every message processed so far.
func (s *session) sendAck() {
	s.mu.Lock()
	st := s.st
	st.ackTimer = nil
	if s.closed || s.ending || st.resuming {
		s.mu.Unlock()
		return
	}
	b, _ := s.proto.AppendMessage(nil, &protocol.Ack{SequenceID: st.latest})
	s.out = append(s.out, b...)
	s.mu.Unlock()
	s.kick()
}

// ack drops kept messages the server has acknowledged.
func (s *session) ack(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	n := 0
	for n < len(st.msgs) && st.msgs[n].seq <= id {
		st.buffered -= len(st.msgs[n].data)
		st.msgs[n] = keptMsg{}
		n++
	}
	if n == 0 {
		return
	}
	st.msgs = st.msgs[n:]
	close(st.space)
	st.space = make(chan struct{})
}

// resetSequence applies the server's Sequence: the next message received
// is number id. It reports false when the server would skip messages.
func (s *session) resetSequence(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id > s.st.nextRecv {
		return false
	}
	s.st.nextRecv = id
	return true
}

// resume reopens the WebSocket at the same token (no negotiate, no
// handshake), then queues Sequence and every unacknowledged message ahead
// of anything else. It reports whether the connection lives on.
func (s *session) resume() bool {
	s.mu.Lock()
	s.st.resuming, s.st.waitSequence = true, true
	old := s.tr
	s.mu.Unlock()
	_ = old.Close(context.Background())
	if s.timeout != nil {
		s.timeout.Stop()
	}

	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.handshakeTimeout)
	tr, err := dialWebSocket(ctx, s.env, s.connURL)
	cancel()
	if err != nil {
		s.log.InfoContext(s.logCtx, "stateful resume failed", "error", err)
		return false
	}

	s.mu.Lock()
	if s.ending || s.closed {
		s.mu.Unlock()
		_ = tr.Close(context.Background())
		return false
	}
	st := s.st
	first := st.total + 1
	if len(st.msgs) > 0 {
		first = st.msgs[0].seq
	}
	out, _ := s.proto.AppendMessage(nil, &protocol.Sequence{SequenceID: first})
	for _, m := range st.msgs {
		out = append(out, m.data...)
	}
	s.tr, s.out, st.resuming = tr, out, false
	s.mu.Unlock()
	if s.timeout != nil {
		s.timeout.Reset(s.cfg.serverTimeout)
	}
	s.kick()
	s.log.InfoContext(s.logCtx, "stateful connection resumed")
	return true
}
