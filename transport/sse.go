package transport

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

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
// stream lasts until the handler that called it returns. It is safe to
// call concurrently with WriteFrame.
func (t *SSE) Open() error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
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

// Capabilities implements Capable: text events out, POSTs in.
func (t *SSE) Capabilities() Capabilities {
	return Capabilities{Pings: true, Requests: true}
}

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

// sseHandler serves event streams and the POSTs of their connections.
type sseHandler struct {
	writeTimeout time.Duration
	maxBody      int64
}

func newSSEHandler(cfg Config) *sseHandler {
	return &sseHandler{writeTimeout: cfg.WriteTimeout, maxBody: cfg.MaxRequestBody}
}

func (*sseHandler) Name() string { return ServerSentEvents }

// Binary is false: events are lines of text.
func (*sseHandler) Binary() bool { return false }

// Match takes GETs that accept an event stream, and POSTs to an SSE
// connection.
func (hd *sseHandler) Match(r *http.Request, live Conn) bool {
	switch r.Method {
	case http.MethodGet:
		return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	case http.MethodPost:
		return live != nil && live.Name() == hd.Name()
	}
	return false
}

// Serve opens the event stream of a negotiated connection (a GET), which
// lasts until the connection ends, or takes a send (a POST).
func (hd *sseHandler) Serve(host Host, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		serveLive(host, w, r, hd.ServeConn)
		return
	}
	claim := host.Claim(w, r, ServerSentEvents, false)
	if claim == nil {
		return
	}
	if checkWriter(host, w, r, ServerSentEvents) != nil {
		claim.Release()
		return
	}
	t := NewSSE(w, r, hd.writeTimeout)
	claim.Serve(t, t.Open)
}

// ServeConn takes a POST's body as a frame; it refuses anything else.
func (hd *sseHandler) ServeConn(w http.ResponseWriter, r *http.Request, t Conn) {
	if p, ok := t.(*SSE); ok && r.Method == http.MethodPost {
		p.HandlePost(w, r, hd.maxBody)
		return
	}
	refuse(w, r, t)
}
