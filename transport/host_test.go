package transport

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testWait bounds every wait of these tests.
const testWait = 5 * time.Second

// fakeHost is a Host that serves each connection with an echo-less
// reader: every frame the client sends is reported on the session's
// frames channel, and the test writes with the session's transport.
type fakeHost struct {
	t   *testing.T
	log bytes.Buffer // guarded by mu

	mu       sync.Mutex
	pending  map[string]bool
	live     map[string]*fakeSession
	enabled  map[string]bool // nil: every transport
	forwards int             // Forward calls that found a node
	forward  bool            // what Forward reports
	holdLive bool            // a connection stays live after its reader ends, until unhold
	ended    chan string     // tokens of connections whose Start's ended ran
}

type fakeSession struct {
	host    *fakeHost
	token   string
	user    string
	tr      Conn
	frames  chan string
	done    chan struct{} // closed when the reader ended
	gone    chan struct{} // closed when the token is free
	unhold  chan struct{}
	readErr error
}

func newFakeHost(t *testing.T) *fakeHost {
	return &fakeHost{t: t, pending: map[string]bool{}, live: map[string]*fakeSession{}, ended: make(chan string, 16)}
}

func (h *fakeHost) negotiate(token string) {
	h.mu.Lock()
	h.pending[token] = true
	h.mu.Unlock()
}

func (h *fakeHost) session(token string) *fakeSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live[token]
}

// started waits until the connection of token has its transport.
func (h *fakeHost) started(t *testing.T, token string) *fakeSession {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		h.mu.Lock()
		s := h.live[token]
		ok := s != nil && s.tr != nil
		h.mu.Unlock()
		if ok {
			return s
		}
		require.True(t, time.Now().Before(deadline), "the connection %q never started", token)
		time.Sleep(time.Millisecond)
	}
}

func (h *fakeHost) logged() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

func (h *fakeHost) Claim(w http.ResponseWriter, r *http.Request, name string, allowNew bool) Claim {
	token := r.URL.Query().Get("id")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.enabled != nil && !h.enabled[name] {
		Error(w, http.StatusBadRequest, "The %s transport is not enabled on this hub.", name)
		return nil
	}
	if token == "" && allowNew {
		token = "new"
		h.pending[token] = true
	}
	if !h.pending[token] {
		if _, ok := h.live[token]; ok {
			Error(w, http.StatusConflict, "Connection already has a transport.")
			return nil
		}
		Error(w, http.StatusNotFound, "No Connection with that ID.")
		return nil
	}
	delete(h.pending, token)
	s := &fakeSession{host: h, token: token, user: r.Header.Get("X-User"), frames: make(chan string, 16),
		done: make(chan struct{}), gone: make(chan struct{}), unhold: make(chan struct{})}
	h.live[token] = s // reserved; tr is set by Start or Serve
	return &fakeClaim{s: s}
}

func (h *fakeHost) Lookup(token string) (Session, int, string) {
	if token == "" {
		return nil, http.StatusBadRequest, "Connection ID required."
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.live[token]
	switch {
	case ok && s.tr != nil:
		return s, 0, ""
	case ok:
		return nil, http.StatusConflict, "The connection is starting."
	}
	return nil, http.StatusNotFound, "No Connection with that ID."
}

func (h *fakeHost) Pending(token string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pending[token]
}

func (h *fakeHost) Forward(w http.ResponseWriter, r *http.Request, token string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.forward {
		return false
	}
	h.forwards++
	w.WriteHeader(http.StatusTeapot) // what the other node answered
	return true
}

func (h *fakeHost) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{h}, nil))
}

type lockedWriter struct{ h *fakeHost }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	return l.h.log.Write(p)
}

type fakeClaim struct{ s *fakeSession }

func (c *fakeClaim) Release() {
	h := c.s.host
	h.mu.Lock()
	delete(h.live, c.s.token)
	h.mu.Unlock()
	close(c.s.gone)
}

func (c *fakeClaim) begin(t Conn) {
	h := c.s.host
	h.mu.Lock()
	c.s.tr = t
	h.mu.Unlock()
}

// run reads frames until the transport ends, then lets the token go.
func (c *fakeClaim) run(ended func()) {
	s, h := c.s, c.s.host
	for {
		_, r, err := s.tr.NextReader()
		if err == ErrIdle {
			if p, ok := s.tr.(Parker); ok {
				p.Park(func() { c.run(ended) }) // long polling: on the next POST or the end
				return
			}
			continue // a WebSocket with nothing to read; a server moves to a small stack here
		}
		if err != nil {
			s.readErr = err
			break
		}
		b, err := io.ReadAll(r)
		if err != nil {
			s.readErr = err
			break
		}
		s.frames <- string(b)
	}
	StopReading(s.tr)
	s.tr.Close()
	close(s.done)
	h.mu.Lock()
	hold := h.holdLive
	h.mu.Unlock()
	if hold {
		<-s.unhold
	}
	if ended != nil {
		ended()
		h.ended <- s.token
	}
	h.mu.Lock()
	delete(h.live, s.token)
	h.mu.Unlock()
	close(s.gone)
}

func (c *fakeClaim) Start(t Conn, ended func()) {
	c.begin(t)
	go c.run(ended)
}

func (c *fakeClaim) Serve(t Conn, ready func() error) {
	c.begin(t)
	if ready != nil {
		if err := ready(); err != nil {
			t.Close()
		}
	}
	c.run(nil)
}

func (s *fakeSession) Transport() Conn { return s.tr }

func (s *fakeSession) Authorize(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-User") != s.user {
		Error(w, http.StatusForbidden, "The request's user does not own this connection.")
		return false
	}
	return true
}

func (s *fakeSession) CanResume() (int, string) {
	return http.StatusConflict, "Connection already has a transport."
}

func (s *fakeSession) Resume(Conn) bool { return false }

// wait waits for ch to close, failing the test after testWait.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// frame returns the next frame the session's reader got.
func (s *fakeSession) frame(t *testing.T) string {
	t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-time.After(testWait):
		t.Fatal("timed out waiting for a frame")
		return ""
	}
}

// serveHandlers serves the handlers for host as a server does: the first
// handler whose Match takes a request serves it.
func serveHandlers(t *testing.T, host *fakeHost, cfg Config) *httptest.Server {
	hs := Handlers(cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var live Conn
		if s, _, _ := host.Lookup(r.URL.Query().Get("id")); s != nil {
			live = s.Transport()
		}
		for _, hd := range hs {
			if hd.Match(r, live) {
				hd.Serve(host, w, r)
				return
			}
		}
		Error(w, http.StatusMethodNotAllowed, "Method not allowed.")
	}))
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends one request and reads the whole answer.
func do(t *testing.T, method, url, body string, header ...string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
