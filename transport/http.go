package transport

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Waiter is implemented by transports that can only write when the client
// asks (long polling): the writer calls WaitWritable before it gathers what
// is queued, so that one response carries all of it.
type Waiter interface {
	WaitWritable() error
}

// Poster is implemented by the transports whose client sends by HTTP POST
// (Server-Sent Events and long polling).
type Poster interface {
	// HandlePost feeds the request body to the reader as one frame and
	// answers when the reader is done with it: 200, 404 once the connection
	// is closed, 413 past maxBody bytes. A POST that arrives while another
	// of the same connection is in progress waits for it, as in ASP.NET
	// Core (the official Java client sends its messages in concurrent
	// POSTs).
	HandlePost(w http.ResponseWriter, r *http.Request, maxBody int64)
}

// httpInbound is the client-to-server half shared by SSE and long polling:
// each POST body becomes one frame for NextReader.
type httpInbound struct {
	posts   chan *postFrame
	cur     *postFrame
	posting chan struct{} // holds a token while a POST is in progress
	closed  chan struct{}
	once    sync.Once

	// writeTimeout bounds each write of a response (see deadline).
	writeTimeout time.Duration
}

type postFrame struct {
	r    io.Reader
	done chan struct{}
}

func newHTTPInbound(writeTimeout time.Duration) httpInbound {
	if writeTimeout <= 0 {
		writeTimeout = 10 * time.Second
	}
	return httpInbound{writeTimeout: writeTimeout, posts: make(chan *postFrame), posting: make(chan struct{}, 1), closed: make(chan struct{})}
}

// deadline bounds the writes to w that follow: a client that sent a
// request but does not read the answer cannot hold the handler (and the
// connection it serves) past the write timeout. net/http clears the
// deadline once the response is over.
func (in *httpInbound) deadline(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(in.writeTimeout))
	return rc
}

// next returns the next POST body; done is an extra channel that ends the
// wait (the SSE request's context), or nil.
func (in *httpInbound) next(done <-chan struct{}) (io.Reader, error) {
	if in.cur != nil {
		close(in.cur.done)
		in.cur = nil
	}
	select {
	case pf := <-in.posts:
		in.cur = pf
		return pf.r, nil
	case <-in.closed:
		return nil, io.EOF
	case <-done:
		return nil, io.EOF
	}
}

// StopReading tells the transport that the reader will not ask for more
// frames: a POST whose body was the last frame is answered at once instead
// of when the connection closes. It must be called by the reader.
func (in *httpInbound) StopReading() {
	if in.cur != nil {
		close(in.cur.done)
		in.cur = nil
	}
}

func (in *httpInbound) close() bool {
	first := false
	in.once.Do(func() { close(in.closed); first = true })
	return first
}

func (in *httpInbound) isClosed() bool {
	select {
	case <-in.closed:
		return true
	default:
		return false
	}
}

// HandlePost implements Poster.
func (in *httpInbound) HandlePost(w http.ResponseWriter, r *http.Request, maxBody int64) {
	// The answer is buffered and sent when the handler returns, which may
	// be long after the request came: the deadline starts then.
	defer in.deadline(w)
	if in.isClosed() {
		Error(w, http.StatusNotFound, "No Connection with that ID.")
		return
	}
	select {
	case in.posting <- struct{}{}:
	case <-in.closed:
		Error(w, http.StatusNotFound, "No Connection with that ID.")
		return
	case <-r.Context().Done():
		return
	}
	defer func() { <-in.posting }()
	body := io.Reader(r.Body)
	var tooLarge atomic.Bool
	if maxBody > 0 {
		body = &limitedBody{r: r.Body, n: maxBody, exceeded: &tooLarge}
	}
	pf := &postFrame{r: body, done: make(chan struct{})}
	select {
	case in.posts <- pf:
	case <-in.closed:
		Error(w, http.StatusNotFound, "No Connection with that ID.")
		return
	case <-r.Context().Done():
		return
	}
	select {
	case <-pf.done:
	case <-in.closed:
	}
	if tooLarge.Load() {
		Error(w, http.StatusRequestEntityTooLarge, "The request body exceeds %d bytes.", maxBody)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ErrBodyTooLarge is the read error of a POST body past its limit.
var ErrBodyTooLarge = errors.New("transport: request body too large")

type limitedBody struct {
	r        io.Reader
	n        int64
	exceeded *atomic.Bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Look one byte further to tell "exactly at the limit" from "over".
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			l.exceeded.Store(true)
			return 0, ErrBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// SSE is the Server-Sent Events transport: the response of one GET is the
// server-to-client stream, and the client sends by POST.
type SSE struct {
	httpInbound
	w            http.ResponseWriter
	rc           *http.ResponseController
	reqDone      <-chan struct{}
	writeTimeout time.Duration
	wmu          sync.Mutex // guards buf and writes to w
	buf          []byte
	werr         error // the first failed write; guarded by wmu
}

// NewSSE returns the event-stream transport of the GET request r. Call
// Open to start the stream.
func NewSSE(w http.ResponseWriter, r *http.Request, writeTimeout time.Duration) *SSE {
	if writeTimeout <= 0 {
		writeTimeout = 10 * time.Second
	}
	return &SSE{
		httpInbound:  newHTTPInbound(writeTimeout),
		w:            w,
		rc:           http.NewResponseController(w),
		reqDone:      r.Context().Done(),
		writeTimeout: writeTimeout,
	}
}

// Open writes the headers and a comment line and flushes them at once: the
// official client sends nothing, not even its handshake, until the stream
// is open, so the connection must be ready for its POSTs before Open. The
// stream lasts until the handler that called it returns.
func (t *SSE) Open() error {
	h := t.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	_ = t.rc.SetWriteDeadline(time.Now().Add(t.writeTimeout))
	t.w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(t.w, ":\r\n"); err != nil {
		return err
	}
	return t.rc.Flush()
}

// Name implements Conn.
func (t *SSE) Name() string { return ServerSentEvents }

// NextReader implements Conn; frames are POST bodies.
func (t *SSE) NextReader() (bool, io.Reader, error) {
	r, err := t.next(t.reqDone)
	if err == io.EOF {
		// A failed write ends the request too (net/http cancels its
		// context): report the write's error, not a clean close. Taking
		// wmu waits for a write still in progress to record it.
		t.wmu.Lock()
		werr := t.werr
		t.wmu.Unlock()
		if werr != nil {
			return false, nil, werr
		}
	}
	return false, r, err
}

// WriteFrame writes parts as one event: a "data:" line per line of
// payload, then a blank line.
func (t *SSE) WriteFrame(_ bool, parts ...[]byte) error {
	if t.isClosed() {
		return ErrClosed
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	b := append(t.buf[:0], "data: "...)
	for _, p := range parts {
		for _, c := range p {
			switch c {
			case '\n', '\r':
				b = append(b, "\r\ndata: "...)
			default:
				b = append(b, c)
			}
		}
	}
	b = append(b, "\r\n\r\n"...)
	_ = t.rc.SetWriteDeadline(time.Now().Add(t.writeTimeout))
	_, err := t.w.Write(b)
	if err == nil {
		err = t.rc.Flush()
	}
	if err != nil && t.werr == nil {
		t.werr = err
	}
	if cap(b) <= 16<<10 {
		t.buf = b[:0]
	} else {
		t.buf = nil
	}
	return err
}

// Close ends the stream; the handler serving it returns.
func (t *SSE) Close() error {
	t.close()
	return nil
}

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
