package transport

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LongPoll is the long-polling transport: the client polls with GETs
// and sends by POST.
type LongPoll struct {
	httpInbound
	key               string // tokenKey of the connection's token, when a handler made it
	mu                sync.Mutex
	cur               *poll         // the poll waiting for data, if any
	ready             chan struct{} // signalled when a poll starts waiting
	polling           atomic.Bool
	pollTimeout       time.Duration
	disconnectTimeout time.Duration
	idle              *time.Timer
	timedOut          atomic.Bool
	toldOver          atomic.Bool // a poll was answered 204 after the connection closed
	pollTimer         *time.Timer // the poll in progress's; see poll
}

type poll struct {
	w http.ResponseWriter
	// The writer that takes the poll hands it what to send on parts (nil:
	// an empty answer); the poll's own handler writes it and reports the
	// result on done.
	parts chan [][]byte
	done  chan error
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

// ParkWhenIdle implements Parker: NextReader returns ErrIdle when no POST
// is waiting. Call it before the first NextReader.
func (t *LongPoll) ParkWhenIdle() {
	t.pmu.Lock()
	t.parking = true
	t.pmu.Unlock()
}

// Park implements Parker.
func (t *LongPoll) Park(resume func()) { t.park(resume) }

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
// poll timeout passes (200, empty), or the connection ends (204, once;
// later polls get 404). A second concurrent poll gets 409.
func (t *LongPoll) Poll(w http.ResponseWriter, r *http.Request) { t.poll(w, r) }

// poll is Poll; it reports whether it answered that the connection is
// over (204).
func (t *LongPoll) poll(w http.ResponseWriter, r *http.Request) (over bool) {
	if t.isClosed() {
		if t.toldOver.Swap(true) {
			// The client was told; the connection is as good as gone.
			Error(w, http.StatusNotFound, "No Connection with that ID.")
			return false
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if !t.polling.CompareAndSwap(false, true) {
		Error(w, http.StatusConflict, "A poll is already in progress for this connection.")
		return false
	}
	t.idle.Stop()
	w.Header().Set("Content-Type", "application/octet-stream")
	p := &poll{w: w, parts: make(chan [][]byte, 1), done: make(chan error, 1)}
	t.mu.Lock()
	t.cur = p
	t.mu.Unlock()
	select {
	case t.ready <- struct{}{}:
	default:
	}
	// Polls take turns (polling), so they share one timer: a timer and
	// its channel per poll cost more than the rest of a held poll.
	if t.pollTimer == nil {
		t.pollTimer = time.NewTimer(t.pollTimeout)
	} else {
		t.pollTimer.Reset(t.pollTimeout)
	}
	timer := t.pollTimer
	// The poll is over for the connection before its answer is sent: a
	// client may poll again as soon as it has read the answer, which may
	// be before this handler returns.
	released := false
	release := func() {
		if !released {
			released = true
			timer.Stop()
			t.idle.Reset(t.disconnectTimeout)
			t.polling.Store(false)
		}
	}
	defer release()
	status := 0
	select {
	case parts := <-p.parts:
		release()
		p.done <- t.answer(w, parts)
		return false
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
		parts := <-p.parts
		release()
		p.done <- t.answer(w, parts)
		return false
	}
	if status == http.StatusNoContent {
		t.toldOver.Store(true)
	}
	if status != 0 {
		t.deadline(w)
		w.WriteHeader(status)
	}
	return status == http.StatusNoContent
}

// takePoll waits for a poll to answer. Waiting before the writer takes its
// batch means that everything queued by the time a poll arrives goes into
// that poll's response. It fails when no poll comes within the disconnect
// timeout.
func (t *LongPoll) takePoll() (*poll, error) {
	var timer *time.Timer // only when there is a poll to wait for
	for {
		t.mu.Lock()
		p := t.cur
		t.cur = nil
		t.mu.Unlock()
		if p != nil {
			if timer != nil {
				timer.Stop()
			}
			return p, nil
		}
		if timer == nil {
			timer = time.NewTimer(t.disconnectTimeout)
		}
		select {
		case <-t.ready:
		case <-t.closed:
			timer.Stop()
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
		p.parts <- nil // a newer poll replaced it; answer empty
		<-p.done
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
	p.parts <- parts
	return <-p.done
}

// answer writes a poll's response: 200 with parts. It runs on the poll's
// handler, whose stack is already deep enough for net/http's writes.
func (t *LongPoll) answer(w http.ResponseWriter, parts [][]byte) error {
	// The client may have sent its poll and stopped reading: the write
	// fails at the deadline instead of holding the connection forever.
	rc := t.deadline(w)
	// With its length known, the response goes out in one write at the
	// flush below, instead of as chunks and a last empty chunk after it.
	n := 0
	for _, b := range parts {
		n += len(b)
	}
	w.Header()["Content-Length"] = []string{strconv.Itoa(n)}
	w.WriteHeader(http.StatusOK)
	var err error
	for _, b := range parts {
		if _, err = w.Write(b); err != nil {
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
	return err
}

// Stop answers the client's DELETE: 202, and the connection ends (an open
// poll is answered 204). A connection that is over already gets 404, as
// its POSTs do.
func (t *LongPoll) Stop(w http.ResponseWriter) {
	if t.isClosed() {
		Error(w, http.StatusNotFound, "No Connection with that ID.")
		return
	}
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

// longPollingHandler serves polls, sends and stops of long-polling
// connections.
type longPollingHandler struct {
	opts    LongPollingOptions
	maxBody int64
	ended   endedPolls
}

func newLongPollingHandler(cfg Config) *longPollingHandler {
	opts := cfg.LongPolling
	if opts.DisconnectTimeout <= 0 {
		opts.DisconnectTimeout = 15 * time.Second
	}
	return &longPollingHandler{opts: opts, maxBody: cfg.MaxRequestBody}
}

func (*longPollingHandler) Name() string { return LongPolling }

func (*longPollingHandler) Binary() bool { return true }

// Match takes the GETs that no other transport took (polls), DELETEs,
// and POSTs to a long-polling connection or to none that is live: a
// client may send before its first poll.
func (hd *longPollingHandler) Match(r *http.Request, live Conn) bool {
	switch r.Method {
	case http.MethodGet, http.MethodDelete:
		return true
	case http.MethodPost:
		return live == nil || live.Name() == hd.Name()
	}
	return false
}

// Serve answers a poll (GET; the first one of a negotiated connection
// starts it), a send (POST) or a stop (DELETE).
func (hd *longPollingHandler) Serve(host Host, w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		hd.servePoll(host, w, r)
	case http.MethodPost:
		hd.servePost(host, w, r)
	default:
		serveLive(host, w, r, hd.ServeConn)
	}
}

func (hd *longPollingHandler) servePoll(host Host, w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("id")
	s, status, msg := host.Lookup(token)
	switch {
	case s != nil:
		if s.Authorize(w, r) {
			hd.ServeConn(w, r, s.Transport())
		}
		return
	case status == http.StatusNotFound && hd.ended.take(tokenKey(token), time.Now()):
		w.WriteHeader(http.StatusNoContent) // the connection is over
		return
	case status != http.StatusNotFound:
		Error(w, status, "%s", msg)
		return
	case !host.Pending(token) && host.Forward(w, r, token):
		// A token negotiated here starts here, without a round trip to
		// the other nodes (whose backplane may be down).
		return
	}
	if t := hd.start(host, w, r); t != nil {
		t.FirstPoll(w)
	}
}

func (hd *longPollingHandler) servePost(host Host, w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("id")
	if s, status, _ := host.Lookup(token); s == nil && status == http.StatusNotFound && host.Pending(token) {
		// A send before the first poll. ASP.NET Core accepts it (the data
		// waits for the connection to start), and some long-polling
		// clients (signalrcore) send the handshake first: start the
		// connection, whose first GET then collects the reply.
		if hd.start(host, w, r) == nil {
			return
		}
	}
	serveLive(host, w, r, hd.ServeConn)
}

// start starts the negotiated connection that r names and returns its
// transport, or answers w and returns nil.
func (hd *longPollingHandler) start(host Host, w http.ResponseWriter, r *http.Request) *LongPoll {
	claim := host.Claim(w, r, LongPolling, false)
	if claim == nil {
		return nil
	}
	t := NewLongPoll(hd.opts)
	t.key = tokenKey(r.URL.Query().Get("id"))
	// The reader parks while no POST comes: an idle long-polling
	// connection holds no goroutine of its own.
	t.ParkWhenIdle()
	claim.Start(t, func() {
		if !t.TimedOut() {
			hd.ended.end(t.key, time.Now(), hd.opts.DisconnectTimeout)
		}
	})
	return t
}

// ServeConn answers a poll (GET), a send (POST) or a stop (DELETE) of the
// long-polling connection t.
func (hd *longPollingHandler) ServeConn(w http.ResponseWriter, r *http.Request, t Conn) {
	lp, ok := t.(*LongPoll)
	switch {
	case !ok:
		refuse(w, r, t)
	case r.Method == http.MethodPost:
		lp.HandlePost(w, r, hd.maxBody)
	case r.Method == http.MethodGet:
		if lp.poll(w, r) && lp.key != "" {
			hd.ended.told(lp.key, time.Now(), hd.opts.DisconnectTimeout)
		}
	case r.Method == http.MethodDelete:
		lp.Stop(w)
	default:
		refuse(w, r, t)
	}
}

// Long polling after the server ends a connection. A client polls again as
// soon as a poll is answered, so the poll after the one that carried the
// server's Close message usually arrives when the connection is already
// gone. ASP.NET Core keeps such a connection until that poll and answers it
// 204 (the connection is over, without an error); a 404 there makes the
// official Java client report "Unexpected response code 404." as the
// reason of a clean close. The handler remembers the tokens of the
// long-polling connections the server ended for the disconnect timeout
// and answers the next poll of each 204, once: the poll that the
// connection itself answered 204 while it closed counts as that one.

// endedPolls is the set of those tokens (by tokenKey), oldest first.
type endedPolls struct {
	mu    sync.Mutex
	until map[string]endedPoll
	order []string
}

type endedPoll struct {
	until time.Time
	told  bool // the client was answered 204 already; no poll gets another
}

// end records that the connection of key ended (not for want of polls):
// its next poll gets 204, unless one already got it.
func (e *endedPolls) end(key string, now time.Time, ttl time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire(now)
	if p, ok := e.until[key]; ok && p.told {
		delete(e.until, key)
		return
	}
	e.putLocked(key, endedPoll{until: now.Add(ttl)})
}

// told records that a poll of the connection of key was answered 204.
func (e *endedPolls) told(key string, now time.Time, ttl time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire(now)
	if p, ok := e.until[key]; ok && !p.told {
		delete(e.until, key) // the connection ended first: it is all told
		return
	}
	e.putLocked(key, endedPoll{until: now.Add(ttl), told: true})
}

func (e *endedPolls) putLocked(key string, p endedPoll) {
	if e.until == nil {
		e.until = make(map[string]endedPoll)
	}
	if _, ok := e.until[key]; !ok {
		e.order = append(e.order, key)
	}
	e.until[key] = p
}

// take reports whether the connection of key ended and its client was not
// told yet, and forgets it.
func (e *endedPolls) take(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire(now)
	p, ok := e.until[key]
	if !ok || p.told {
		return false
	}
	delete(e.until, key)
	return true
}

func (e *endedPolls) expire(now time.Time) {
	n := 0
	for _, k := range e.order {
		p, ok := e.until[k]
		if ok && now.Before(p.until) {
			break
		}
		delete(e.until, k)
		n++
	}
	e.order = e.order[n:]
	if len(e.order) == 0 {
		e.order = nil
	}
}
