package transport

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// LongPoll is the long-polling transport: the client polls with GETs
// and sends by POST.
type LongPoll struct {
	httpInbound
	mu                sync.Mutex
	cur               *poll         // the poll waiting for data, if any
	ready             chan struct{} // signalled when a poll starts waiting
	polling           atomic.Bool
	pollTimeout       time.Duration
	disconnectTimeout time.Duration
	idle              *time.Timer
	timedOut          atomic.Bool
}

type poll struct {
	w    http.ResponseWriter
	done chan error
}

// LongPollingOptions configures long polling. The zero value is usable.
type LongPollingOptions struct {
	// PollTimeout is how long a poll is held without data before it is
	// answered 200 with an empty body (default 90 s).
	PollTimeout time.Duration
	// DisconnectTimeout is how long a connection may go without a poll
	// before it is closed (default 15 s).
	DisconnectTimeout time.Duration
	// WriteTimeout bounds the writing of one poll response (default
	// 10 s). A client that does not take a response in that time fails
	// the write, which ends the connection.
	WriteTimeout time.Duration
}

// NewLongPoll returns the transport of a new long-polling connection.
// Answer the client's first poll with FirstPoll.
func NewLongPoll(opts LongPollingOptions) *LongPoll {
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 90 * time.Second
	}
	if opts.DisconnectTimeout <= 0 {
		opts.DisconnectTimeout = 15 * time.Second
	}
	t := &LongPoll{
		httpInbound:       newHTTPInbound(opts.WriteTimeout),
		ready:             make(chan struct{}, 1),
		pollTimeout:       opts.PollTimeout,
		disconnectTimeout: opts.DisconnectTimeout,
	}
	t.idle = time.AfterFunc(opts.DisconnectTimeout, func() {
		t.timedOut.Store(true)
		t.close() // not Close: it reads t.idle, which this goroutine may not see yet
	})
	return t
}

// TimedOut reports whether the connection ended because the client sent no
// poll within the disconnect timeout.
func (t *LongPoll) TimedOut() bool { return t.timedOut.Load() }

// Name implements Conn.
func (t *LongPoll) Name() string { return LongPolling }

// Capabilities implements Capable: a write waits for a poll, and the
// client's polls are its sign of life.
func (t *LongPoll) Capabilities() Capabilities {
	return Capabilities{Binary: true, WaitsForPoll: true, Requests: true}
}

// NextReader implements Conn; frames are POST bodies.
func (t *LongPoll) NextReader() (bool, io.Reader, error) {
	r, err := t.next(nil)
	return false, r, err
}

// FirstPoll answers the poll that opens the connection: at once, 200 with
// an empty body, as the official client expects.
func (t *LongPoll) FirstPoll(w http.ResponseWriter) {
	t.idle.Reset(t.disconnectTimeout)
	t.deadline(w)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
}

// Poll holds a poll until there is data (200 with every queued byte), the
// poll timeout passes (200, empty), or the connection ends (204). A second
// concurrent poll gets 409.
func (t *LongPoll) Poll(w http.ResponseWriter, r *http.Request) {
	if t.isClosed() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !t.polling.CompareAndSwap(false, true) {
		Error(w, http.StatusConflict, "A poll is already in progress for this connection.")
		return
	}
	defer t.polling.Store(false)
	t.idle.Stop()
	defer t.idle.Reset(t.disconnectTimeout)
	w.Header().Set("Content-Type", "application/octet-stream")
	p := &poll{w: w, done: make(chan error, 1)}
	t.mu.Lock()
	t.cur = p
	t.mu.Unlock()
	select {
	case t.ready <- struct{}{}:
	default:
	}
	timer := time.NewTimer(t.pollTimeout)
	defer timer.Stop()
	status := 0
	select {
	case <-p.done:
		return
	case <-timer.C:
		status = http.StatusOK
	case <-t.closed:
		status = http.StatusNoContent
	case <-r.Context().Done():
	}
	// Take the poll back unless a writer already has it.
	t.mu.Lock()
	mine := t.cur == p
	if mine {
		t.cur = nil
	}
	t.mu.Unlock()
	if !mine {
		<-p.done
		return
	}
	if status != 0 {
		t.deadline(w)
		w.WriteHeader(status)
	}
}

// takePoll waits for a poll to answer. Waiting before the writer takes its
// batch means that everything queued by the time a poll arrives goes into
// that poll's response. It fails when no poll comes within the disconnect
// timeout.
func (t *LongPoll) takePoll() (*poll, error) {
	timer := time.NewTimer(t.disconnectTimeout)
	defer timer.Stop()
	for {
		t.mu.Lock()
		p := t.cur
		t.cur = nil
		t.mu.Unlock()
		if p != nil {
			return p, nil
		}
		select {
		case <-t.ready:
		case <-t.closed:
			return nil, ErrClosed
		case <-timer.C:
			t.timedOut.Store(true)
			t.Close()
			return nil, errors.New("transport: no poll within the disconnect timeout")
		}
	}
}

// WaitWritable blocks until a poll is waiting, so that the caller can
// gather everything queued into one response. It implements Waiter.
func (t *LongPoll) WaitWritable() error {
	p, err := t.takePoll()
	if err != nil {
		return err
	}
	t.mu.Lock()
	if t.cur == nil {
		t.cur = p // put it back for WriteFrame
	} else {
		t.mu.Unlock()
		t.deadline(p.w)
		p.w.WriteHeader(http.StatusOK) // a newer poll replaced it; answer empty
		p.done <- nil
		return nil
	}
	t.mu.Unlock()
	return nil
}

// WriteFrame answers a poll with parts, waiting for one if none is open.
func (t *LongPoll) WriteFrame(_ bool, parts ...[]byte) error {
	p, err := t.takePoll()
	if err != nil {
		return err
	}
	// The client may have sent its poll and stopped reading: the write
	// fails at the deadline instead of holding the connection forever.
	rc := t.deadline(p.w)
	p.w.WriteHeader(http.StatusOK)
	for _, b := range parts {
		if _, err = p.w.Write(b); err != nil {
			break
		}
	}
	if err == nil {
		// Flush, so that a failure is seen here, by the writer, and not
		// after the handler returns, where nobody would hear of it.
		if err = rc.Flush(); errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
	}
	p.done <- err
	return err
}

// Stop answers the client's DELETE: 202, and the connection ends (an open
// poll is answered 204).
func (t *LongPoll) Stop(w http.ResponseWriter) {
	t.Close()
	w.WriteHeader(http.StatusAccepted)
}

// Close ends the connection.
func (t *LongPoll) Close() error {
	if t.close() {
		t.idle.Stop()
	}
	return nil
}
