package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// A session is one connection: one ConnectionID, from its handshake to its
// end. Its transport may be replaced once per drop by a stateful resume.
//
// Goroutines: run (the reader, which also resumes and tears down), the
// writer, the dispatcher that runs handlers in arrival order, and one per
// upload. Teardown stops and waits for all of them before done is closed.
type session struct {
	c       *Client
	cfg     *config
	log     *slog.Logger
	logCtx  context.Context // for log records: the values of the context that opened the session
	proto   protocol.HubProtocol
	binary  bool // frames after the handshake are binary
	lp      bool // long polling: no Pings, no server timeout
	id      string
	env     *httpEnv
	connURL string // the transport URL, reused by a stateful resume

	ctx    context.Context // handlers' context; cancelled when the session ends
	cancel context.CancelCauseFunc

	wake       chan struct{} // cap 1: the writer has something to do
	writerStop chan struct{}
	writerDone chan struct{}
	done       chan struct{} // closed when every goroutine has returned

	inbox   *queue[*protocol.Invocation] // for the dispatcher
	timeout *time.Timer                  // server timeout; nil for long polling
	wg      sync.WaitGroup               // dispatcher and uploads

	mu        sync.Mutex
	tr        transportConn
	out       []byte       // encoded messages waiting for the writer
	waiters   []chan error // senders waiting for out to be written
	calls     map[string]*call
	ending    bool  // the session must end; endErr says why
	endErr    error // nil when the user stopped it
	reconnect bool  // automatic reconnect may follow the end
	closed    bool  // torn down: nothing more is accepted
	st        *statefulState
}

// newSession returns a session over tr, whose handshake is done, and
// starts its goroutines. leftover holds bytes received after the
// handshake response.
func (c *Client) newSession(ctx context.Context, env *httpEnv, tr transportConn, id, connURL string, stateful bool, leftover []byte) *session {
	s := &session{
		c:          c,
		cfg:        &c.cfg,
		log:        c.cfg.logger.With("connection", id, "transport", tr.Name()),
		logCtx:     context.WithoutCancel(ctx),
		proto:      c.cfg.proto,
		binary:     c.cfg.proto.TransferFormat() == protocol.Binary,
		lp:         tr.Name() == transport.LongPolling,
		id:         id,
		env:        env,
		connURL:    connURL,
		wake:       make(chan struct{}, 1),
		writerStop: make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
		inbox:      newQueue[*protocol.Invocation](),
		tr:         tr,
		calls:      map[string]*call{},
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	if stateful {
		s.st = newStatefulState(c.cfg.statefulBufferLen)
	}
	if !s.lp {
		// The official client pings right after the handshake; a server
		// with stateful reconnect waits for it before sending.
		ping, _ := s.proto.AppendMessage(nil, &protocol.Ping{})
		s.out = ping
		s.timeout = time.AfterFunc(s.cfg.serverTimeout, func() {
			s.finish(context.Background(), ErrServerTimeout, true)
		})
	}
	s.wg.Add(1)
	go s.dispatch()
	go s.writeLoop()
	go s.run(leftover)
	s.kick()
	return s
}

func (s *session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// finish ends the session for the first reason given: it cancels the
// session's context and closes the transport (gracefully, within ctx).
// The reader then tears everything down.
func (s *session) finish(ctx context.Context, err error, reconnect bool) {
	s.mu.Lock()
	if !s.ending {
		s.ending, s.endErr, s.reconnect = true, err, reconnect
	}
	tr := s.tr
	s.mu.Unlock()
	if err == nil {
		err = ErrConnectionClosed
	}
	s.cancel(err)
	_ = tr.Close(ctx)
}

// stop ends the session at the user's request: a Close message after
// whatever is queued, then the transport's graceful close.
func (s *session) stop(ctx context.Context) {
	_ = s.send(ctx, &protocol.Close{}, true)
	s.finish(ctx, nil, false)
}

// result is why the session ended and whether a reconnect may follow;
// valid once done is closed.
func (s *session) result() (error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endErr, s.reconnect
}

// send encodes msg and queues it for the writer. With wait it returns
// once the frame holding msg was written (or failed); ctx bounds the wait,
// and msg may still be sent after ctx ends. On a stateful connection a
// trackable message is kept for replay and never waited for; send waits
// instead while the replay buffer is full.
func (s *session) send(ctx context.Context, msg protocol.Message, wait bool) error {
	b, err := s.proto.AppendMessage(nil, msg)
	if err != nil {
		return &encodeError{err: err}
	}
	tracked := s.st != nil && trackable(msg)
	s.mu.Lock()
	for tracked && !s.closed && s.st.full() {
		space := s.st.space
		s.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	if s.closed {
		err := closedError(s.endErr)
		s.mu.Unlock()
		return err
	}
	if tracked {
		s.st.keep(b)
		wait = false
	}
	var ch chan error
	if wait {
		ch = make(chan error, 1)
		s.waiters = append(s.waiters, ch)
	}
	s.out = append(s.out, b...)
	s.mu.Unlock()
	s.kick()
	if ch == nil {
		return nil
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// encodeError is a message that could not be encoded.
type encodeError struct{ err error }

func (e *encodeError) Error() string { return "signalr client: encoding a message: " + e.err.Error() }
func (e *encodeError) Unwrap() error { return e.err }

// writeLoop writes whatever is queued as one frame at a time, and a Ping
// when nothing was written for the keep-alive interval.
func (s *session) writeLoop() {
	defer close(s.writerDone)
	var keepAlive <-chan time.Time
	var ka *time.Timer
	if !s.lp {
		ka = time.NewTimer(s.cfg.keepAlive)
		defer ka.Stop()
		keepAlive = ka.C
	}
	for {
		select {
		case <-s.writerStop:
			return
		case <-s.wake:
		case <-keepAlive:
			ping, _ := s.proto.AppendMessage(nil, &protocol.Ping{})
			s.mu.Lock()
			s.out = append(s.out, ping...)
			s.mu.Unlock()
		}
		s.mu.Lock()
		data, waiters, tr := s.out, s.waiters, s.tr
		s.out, s.waiters = nil, nil
		suspended := s.st != nil && s.st.resuming
		s.mu.Unlock()
		var err error
		if len(data) > 0 && !suspended {
			// While a stateful connection resumes, what is dropped here
			// is either in the replay buffer or not worth resending.
			err = tr.Send(s.ctx, data, s.binary)
		}
		for _, w := range waiters {
			w <- err
		}
		if err != nil {
			s.transportLost(tr, err)
		} else if ka != nil && len(data) > 0 {
			ka.Reset(s.cfg.keepAlive)
		}
	}
}

// transportLost handles a failed write on tr: a stateful connection lets
// the reader resume; any other ends.
func (s *session) transportLost(tr transportConn, err error) {
	s.mu.Lock()
	current := s.tr == tr
	stateful := s.st != nil
	s.mu.Unlock()
	if !current {
		return
	}
	if !stateful {
		s.finish(context.Background(), err, true)
		return
	}
	_ = tr.Close(context.Background())
}

// run reads and handles messages until the session ends, resuming a
// stateful connection once per drop, then tears the session down.
func (s *session) run(buf []byte) {
	defer s.teardown()
	for {
		err := s.readLoop(buf)
		buf = nil
		if err == nil {
			return // a message ended the session
		}
		if s.ctx.Err() == nil && s.st != nil {
			s.log.DebugContext(s.logCtx, "transport lost; resuming", "error", err)
			if s.resume() {
				continue
			}
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("signalr client: the server closed the transport")
		}
		s.finish(context.Background(), err, true)
		return
	}
}

// readLoop parses buf and then every frame of the current transport. It
// returns the transport's error, or nil when a message ended the session.
func (s *session) readLoop(buf []byte) error {
	s.mu.Lock()
	tr := s.tr
	s.mu.Unlock()
	for {
		for len(buf) > 0 {
			msg, n, err := s.proto.ParseMessage(buf, 0)
			if err != nil {
				s.finish(context.Background(), fmt.Errorf("signalr client: invalid message from the server: %w", err), true)
				return nil
			}
			if n == 0 {
				break
			}
			buf = buf[n:]
			if msg != nil && !s.handle(msg) {
				return nil
			}
		}
		data, err := tr.Receive()
		if err != nil {
			return err
		}
		if s.timeout != nil {
			s.timeout.Reset(s.cfg.serverTimeout)
		}
		if len(buf) > 0 {
			// Copy: values handed out alias the old buffer.
			buf = append(buf[:len(buf):len(buf)], data...)
		} else {
			buf = data
		}
	}
}

// handle acts on one message from the server. It returns false when the
// session must end.
func (s *session) handle(msg protocol.Message) bool {
	if s.st != nil && !s.accept(msg) {
		return true
	}
	switch m := msg.(type) {
	case *protocol.Invocation:
		s.inbox.push(m)
	case *protocol.StreamItem:
		s.deliverItem(m)
	case *protocol.Completion:
		s.complete(m)
	case *protocol.Close:
		cerr := &CloseError{Message: m.Error, AllowReconnect: m.AllowReconnect}
		if !m.AllowReconnect {
			// Answer with our own Close, as the official client does.
			ctx, cancel := context.WithTimeout(s.ctx, time.Second)
			_ = s.send(ctx, &protocol.Close{}, true)
			cancel()
		}
		s.finish(context.Background(), cerr, m.AllowReconnect)
		return false
	case *protocol.Ack:
		if s.st != nil {
			s.ack(m.SequenceID)
		}
	case *protocol.Sequence:
		if s.st != nil && !s.resetSequence(m.SequenceID) {
			s.finish(context.Background(), errors.New("signalr client: sequence id greater than the number of messages received"), true)
			return false
		}
	default:
		// Pings need nothing; StreamInvocation and CancelInvocation are
		// for servers. Unknown types were skipped by the parser.
	}
	return true
}

// teardown ends everything the session owns, fails what still waits on it
// and closes done.
func (s *session) teardown() {
	s.finish(context.Background(), ErrConnectionClosed, true)
	if s.timeout != nil {
		s.timeout.Stop()
	}
	close(s.writerStop)
	<-s.writerDone
	s.mu.Lock()
	s.closed = true
	err := closedError(s.endErr)
	waiters, calls := s.waiters, s.calls
	s.waiters, s.calls = nil, nil
	if s.st != nil {
		s.st.close()
	}
	s.mu.Unlock()
	for _, w := range waiters {
		w <- err
	}
	for _, cl := range calls {
		cl.fail(err)
	}
	s.inbox.close(err)
	s.wg.Wait()
	close(s.done)
}

// handshake sends the handshake request on tr and reads the response. It
// returns the bytes received after the response.
func handshake(ctx context.Context, tr transportConn, proto protocol.HubProtocol, version int, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errors.New("signalr client: handshake timed out"))
	defer cancel()
	// Receive has no context: closing the transport ends it.
	stop := context.AfterFunc(ctx, func() { _ = tr.Close(context.Background()) })
	leftover, err := readHandshake(ctx, tr, proto, version)
	if !stop() {
		return nil, fmt.Errorf("signalr client: handshake: %w", context.Cause(ctx))
	}
	return leftover, err
}

func readHandshake(ctx context.Context, tr transportConn, proto protocol.HubProtocol, version int) ([]byte, error) {
	req, err := json.Marshal(protocol.HandshakeRequest{Protocol: proto.Name(), Version: version})
	if err != nil {
		return nil, err
	}
	if err := tr.Send(ctx, append(req, protocol.RecordSeparator), false); err != nil {
		return nil, fmt.Errorf("signalr client: sending the handshake: %w", err)
	}
	var buf []byte
	for {
		data, err := tr.Receive()
		if err != nil {
			return nil, fmt.Errorf("signalr client: reading the handshake response: %w", err)
		}
		buf = append(buf, data...)
		end := bytes.IndexByte(buf, protocol.RecordSeparator)
		if end < 0 {
			if len(buf) > 64<<10 {
				return nil, errors.New("signalr client: handshake response too long")
			}
			continue
		}
		var resp struct {
			Error *string `json:"error"`
			Type  int     `json:"type"`
		}
		if err := json.Unmarshal(buf[:end], &resp); err != nil {
			return nil, fmt.Errorf("signalr client: invalid handshake response: %w", err)
		}
		if resp.Type != 0 {
			return nil, errors.New("signalr client: expected a handshake response from the server")
		}
		if resp.Error != nil {
			return nil, &HandshakeError{Message: *resp.Error}
		}
		return buf[end+1:], nil
	}
}
