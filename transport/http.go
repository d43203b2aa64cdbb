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

	// Parking (see Parker), guarded by pmu.
	pmu     sync.Mutex
	parking bool
	pending int    // POSTs offering their body to the reader
	parked  func() // the reader's continuation while it is parked
}

// Parker is implemented by the transports whose reader need not keep a
// goroutine while no request brings it anything (long polling): after
// ParkWhenIdle, NextReader returns ErrIdle instead of waiting, and the
// reader hands Park the function that goes on reading; Park runs it on a
// new goroutine once there is something to read or the connection ends.
type Parker interface {
	ParkWhenIdle()
	Park(resume func())
}

// park implements Parker.Park.
func (in *httpInbound) park(resume func()) {
	in.pmu.Lock()
	if in.pending == 0 && !in.isClosed() {
		in.parked = resume
		in.pmu.Unlock()
		return
	}
	in.pmu.Unlock()
	go resume()
}

// wake resumes a parked reader.
func (in *httpInbound) wake() {
	in.pmu.Lock()
	resume := in.parked
	in.parked = nil
	in.pmu.Unlock()
	if resume != nil {
		go resume()
	}
}

// addPending counts a POST that offers its body to the reader (d = 1) or
// that gave up (d = -1).
func (in *httpInbound) addPending(d int) {
	in.pmu.Lock()
	in.pending += d
	in.pmu.Unlock()
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
	in.pmu.Lock()
	idle := in.parking && in.pending == 0
	in.pmu.Unlock()
	if idle && !in.isClosed() {
		return nil, ErrIdle
	}
	select {
	case pf := <-in.posts:
		in.addPending(-1)
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
	if first {
		in.wake()
	}
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
	// Counted before the reader is woken: a reader that goes idle now
	// sees it, and Park resumes it at once.
	in.addPending(1)
	in.wake()
	select {
	case in.posts <- pf: // the reader counts it off
	case <-in.closed:
		in.addPending(-1)
		Error(w, http.StatusNotFound, "No Connection with that ID.")
		return
	case <-r.Context().Done():
		in.addPending(-1)
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
