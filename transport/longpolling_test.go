package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lpStart negotiates token and opens its connection with the first poll.
func lpStart(t *testing.T, host *fakeHost, url, token string) *fakeSession {
	t.Helper()
	host.negotiate(token)
	a := do(t, http.MethodGet, url+"?id="+token, "")
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Equal(t, "application/octet-stream", a.header.Get("Content-Type"))
	require.Empty(t, a.body, "the first poll is answered at once, empty")
	s := host.session(token)
	require.NotNil(t, s)
	t.Cleanup(func() {
		s.tr.Close()
		host.mu.Lock()
		if host.holdLive {
			select {
			case <-s.unhold:
			default:
				close(s.unhold)
			}
		}
		host.mu.Unlock()
		wait(t, s.gone, "the connection to end")
	})
	return s
}

func lpConfig() Config {
	return Config{LongPolling: LongPollingOptions{PollTimeout: 300 * time.Millisecond, DisconnectTimeout: 2 * time.Second}}
}

func TestLongPollingPollCarriesWhatIsWritten(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, lpConfig())
	s := lpStart(t, host, srv.URL, "tok")

	write := make(chan error, 1)
	go func() { write <- s.tr.WriteFrame(false, []byte("one\x1e"), []byte("two\x1e")) }()
	a := do(t, http.MethodGet, srv.URL+"?id=tok", "")
	require.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "application/octet-stream", a.header.Get("Content-Type"))
	assert.Equal(t, "one\x1etwo\x1e", a.body, "the parts of a frame go out in one response")
	require.NoError(t, <-write)

	// Nothing to send: the poll is held for the poll timeout, then 200, empty.
	a = do(t, http.MethodGet, srv.URL+"?id=tok", "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Empty(t, a.body)
}

func TestLongPollingWaitWritableWaitsForAPoll(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, lpConfig())
	s := lpStart(t, host, srv.URL, "tok")
	require.True(t, Caps(s.tr).WaitsForPoll)

	waited := make(chan error, 1)
	go func() { waited <- WaitWritable(s.tr) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitWritable returned %v with no poll open", err)
	case <-time.After(50 * time.Millisecond):
	}
	got := make(chan answer, 1)
	go func() { got <- do(t, http.MethodGet, srv.URL+"?id=tok", "") }()
	select {
	case err := <-waited:
		require.NoError(t, err)
	case <-time.After(testWait):
		t.Fatal("WaitWritable did not return once a poll came")
	}
	require.NoError(t, s.tr.WriteFrame(false, []byte("x")))
	assert.Equal(t, "x", (<-got).body)
}

func TestLongPollingConcurrentPollIsRefused(t *testing.T) {
	host := newFakeHost(t)
	cfg := lpConfig()
	cfg.LongPolling.PollTimeout = 10 * time.Second
	srv := serveHandlers(t, host, cfg)
	s := lpStart(t, host, srv.URL, "tok")

	first := make(chan answer, 1)
	go func() { first <- do(t, http.MethodGet, srv.URL+"?id=tok", "") }()
	// Wait until the first poll holds the connection.
	lp := s.tr.(*LongPoll)
	deadline := time.Now().Add(testWait)
	for !lp.polling.Load() {
		require.True(t, time.Now().Before(deadline), "the first poll never arrived")
		time.Sleep(time.Millisecond)
	}
	a := do(t, http.MethodGet, srv.URL+"?id=tok", "")
	assert.Equal(t, http.StatusConflict, a.status)
	assert.Equal(t, "text/plain; charset=utf-8", a.header.Get("Content-Type"))
	assert.Contains(t, a.body, "A poll is already in progress")

	require.NoError(t, s.tr.WriteFrame(false, []byte("for the first")))
	assert.Equal(t, "for the first", (<-first).body)
}

func TestLongPollingPostIsAFrame(t *testing.T) {
	host := newFakeHost(t)
	cfg := lpConfig()
	cfg.MaxRequestBody = 8
	srv := serveHandlers(t, host, cfg)
	s := lpStart(t, host, srv.URL, "tok")

	a := do(t, http.MethodPost, srv.URL+"?id=tok", "12345678")
	assert.Equal(t, http.StatusOK, a.status, "a body at the limit")
	assert.Equal(t, "12345678", s.frame(t))

	a = do(t, http.MethodPost, srv.URL+"?id=tok", "x", "X-User", "mallory")
	assert.Equal(t, http.StatusForbidden, a.status, "a POST from another user")

	// Past the limit: the reader fails, and the connection ends.
	a = do(t, http.MethodPost, srv.URL+"?id=tok", "123456789")
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.status, "a body past the limit")
	assert.Contains(t, a.body, "exceeds 8 bytes")

	a = do(t, http.MethodPost, srv.URL+"?id=other", "x")
	assert.Equal(t, http.StatusNotFound, a.status, "a POST to an unknown id")
	assert.Equal(t, "No Connection with that ID.", a.body)

	a = do(t, http.MethodPost, srv.URL, "x")
	assert.Equal(t, http.StatusBadRequest, a.status, "a POST without an id")
}

// A client may send before its first poll (signalrcore sends the
// handshake first): the POST starts the connection.
func TestLongPollingPostBeforeFirstPoll(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, lpConfig())
	host.negotiate("tok")
	posted := make(chan answer, 1)
	go func() { posted <- do(t, http.MethodPost, srv.URL+"?id=tok", "hello") }()
	s := host.started(t, "tok")
	assert.Equal(t, "hello", s.frame(t))
	assert.Equal(t, http.StatusOK, (<-posted).status)
	a := do(t, http.MethodGet, srv.URL+"?id=tok", "")
	assert.Equal(t, http.StatusOK, a.status, "the first poll after the POST")
	s.tr.Close()
	wait(t, s.gone, "the connection to end")
}

func TestLongPollingDelete(t *testing.T) {
	host := newFakeHost(t)
	cfg := lpConfig()
	cfg.LongPolling.PollTimeout = 10 * time.Second
	srv := serveHandlers(t, host, cfg)
	s := lpStart(t, host, srv.URL, "tok")

	open := make(chan answer, 1)
	go func() { open <- do(t, http.MethodGet, srv.URL+"?id=tok", "") }()
	lp := s.tr.(*LongPoll)
	deadline := time.Now().Add(testWait)
	for !lp.polling.Load() {
		require.True(t, time.Now().Before(deadline), "the poll never arrived")
		time.Sleep(time.Millisecond)
	}
	a := do(t, http.MethodDelete, srv.URL+"?id=tok", "", "X-User", "mallory")
	assert.Equal(t, http.StatusForbidden, a.status, "another user's DELETE")
	a = do(t, http.MethodDelete, srv.URL+"?id=tok", "")
	assert.Equal(t, http.StatusAccepted, a.status)
	assert.Equal(t, http.StatusNoContent, (<-open).status, "the open poll ends with the connection")
	wait(t, s.done, "the reader to end")
	assert.ErrorIs(t, s.readErr, io.EOF, "a stop is a clean close")

	a = do(t, http.MethodDelete, srv.URL+"?id=unknown", "")
	assert.Equal(t, http.StatusNotFound, a.status)
}

// After the server ends a connection, one poll gets 204 and later ones
// 404, whether that poll reaches the connection while it closes or after
// it is gone.
func TestLongPollingPollAfterCloseIs204Once(t *testing.T) {
	t.Run("while the connection closes", func(t *testing.T) {
		host := newFakeHost(t)
		host.holdLive = true // the connection stays findable after its transport closed
		srv := serveHandlers(t, host, lpConfig())
		s := lpStart(t, host, srv.URL, "tok")
		s.tr.Close()
		wait(t, s.done, "the reader to end")
		assert.Equal(t, http.StatusNoContent, do(t, http.MethodGet, srv.URL+"?id=tok", "").status)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, srv.URL+"?id=tok", "").status, "a second poll, the connection still closing")
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodDelete, srv.URL+"?id=tok", "").status, "a DELETE, the connection still closing")
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, srv.URL+"?id=tok", "x").status, "a POST, the connection still closing")
		close(s.unhold)
		wait(t, s.gone, "the connection to end")
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, srv.URL+"?id=tok", "").status, "a poll once it is gone")
	})
	t.Run("after it is gone", func(t *testing.T) {
		host := newFakeHost(t)
		srv := serveHandlers(t, host, lpConfig())
		s := lpStart(t, host, srv.URL, "tok")
		s.tr.Close()
		wait(t, s.gone, "the connection to end")
		assert.Equal(t, http.StatusNoContent, do(t, http.MethodGet, srv.URL+"?id=tok", "").status)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, srv.URL+"?id=tok", "").status)
	})
	t.Run("no poll within the disconnect timeout", func(t *testing.T) {
		host := newFakeHost(t)
		cfg := lpConfig()
		cfg.LongPolling.DisconnectTimeout = 100 * time.Millisecond
		srv := serveHandlers(t, host, cfg)
		s := lpStart(t, host, srv.URL, "tok")
		wait(t, s.gone, "the connection to time out")
		assert.True(t, TimedOut(s.tr))
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, srv.URL+"?id=tok", "").status, "the client left: no 204")
	})
}

func TestLongPollingUnknownAndForwarded(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, lpConfig())
	a := do(t, http.MethodGet, srv.URL+"?id=nobody", "")
	assert.Equal(t, http.StatusNotFound, a.status, "a poll for an unknown token")
	a = do(t, http.MethodGet, srv.URL, "")
	assert.Equal(t, http.StatusBadRequest, a.status, "a poll without a token")

	host.mu.Lock()
	host.forward = true
	host.mu.Unlock()
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		a = do(t, m, srv.URL+"?id=elsewhere", "x")
		assert.Equal(t, http.StatusTeapot, a.status, "%s for a connection of another node is forwarded", m)
	}
	assert.Equal(t, 3, host.forwards)

	// A token negotiated here starts here, without asking the cluster.
	host.negotiate("here")
	a = do(t, http.MethodGet, srv.URL+"?id=here", "")
	assert.Equal(t, http.StatusOK, a.status)
	s := host.session("here")
	require.NotNil(t, s)
	s.tr.Close()
	wait(t, s.gone, "the connection to end")
}

// A client that sends a poll and does not read the answer fails the write
// at the write timeout instead of holding the writer.
func TestLongPollingWriteTimeout(t *testing.T) {
	host := newFakeHost(t)
	cfg := lpConfig()
	cfg.LongPolling.PollTimeout = 10 * time.Second
	cfg.LongPolling.WriteTimeout = 100 * time.Millisecond
	srv := serveHandlers(t, host, cfg)
	s := lpStart(t, host, srv.URL, "tok")

	nc, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), testWait)
	require.NoError(t, err)
	defer nc.Close()
	_, err = fmt.Fprintf(nc, "GET /?id=tok HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	lp := s.tr.(*LongPoll)
	deadline := time.Now().Add(testWait)
	for !lp.polling.Load() {
		require.True(t, time.Now().Before(deadline), "the poll never arrived")
		time.Sleep(time.Millisecond)
	}
	big := make([]byte, 64<<20) // more than the socket buffers hold
	done := make(chan error, 1)
	go func() { done <- s.tr.WriteFrame(true, big) }()
	select {
	case err = <-done:
		require.Error(t, err, "a write the client never read")
	case <-time.After(testWait):
		t.Fatal("the write was not bounded by the write timeout")
	}
}

// Match routes polls, stops, and sends to long polling or to no live
// connection; it leaves upgrades and event streams alone.
func TestLongPollingMatch(t *testing.T) {
	hd := newLongPollingHandler(Config{})
	req := func(method string, header ...string) *http.Request {
		r, _ := http.NewRequestWithContext(context.Background(), method, "/hub?id=x", nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return r
	}
	sse := &SSE{}
	lp := &LongPoll{}
	assert.True(t, hd.Match(req(http.MethodGet), nil))
	assert.True(t, hd.Match(req(http.MethodDelete), sse), "a DELETE for another transport is refused here")
	assert.True(t, hd.Match(req(http.MethodPost), nil))
	assert.True(t, hd.Match(req(http.MethodPost), lp))
	assert.False(t, hd.Match(req(http.MethodPost), sse))
	assert.False(t, hd.Match(req(http.MethodPut), nil))
}

// flushHook calls after each time the response has been flushed.
type flushHook struct {
	http.ResponseWriter
	after func()
}

func (f *flushHook) FlushError() error {
	err := http.NewResponseController(f.ResponseWriter).Flush()
	f.after()
	return err
}

func (f *flushHook) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// TestLongPollPollAgainBeforeHandlerReturns: a poll's answer carries its
// length, so the client has all of it at the flush and may poll again, on
// another connection, while the first poll's handler has not returned
// yet. That poll is the connection's next one, not a second concurrent
// poll (409), and it gets the next message.
func TestLongPollPollAgainBeforeHandlerReturns(t *testing.T) {
	lp := NewLongPoll(LongPollingOptions{})
	defer lp.Close()
	var polls atomic.Int32
	var secondSeen atomic.Bool
	secondDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) > 1 {
			defer close(secondDone)
			lp.Poll(w, r)
			return
		}
		// Hold the first poll's handler after its flush until the second
		// poll is waiting for data or has been answered.
		lp.Poll(&flushHook{ResponseWriter: w, after: func() {
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				lp.mu.Lock()
				waiting := lp.cur != nil
				lp.mu.Unlock()
				if waiting {
					secondSeen.Store(true)
					return
				}
				select {
				case <-secondDone:
					secondSeen.Store(true)
					return
				case <-time.After(time.Millisecond):
				}
			}
		}}, r)
	}))
	defer srv.Close()

	writeErr := make(chan error, 1)
	go func() {
		for _, m := range []string{"a;", "b;"} {
			if err := lp.WriteFrame(false, []byte(m)); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for _, want := range []string{"a;", "b;"} {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "body %q", body)
		require.Equal(t, want, string(body))
		require.Equal(t, int64(len(want)), resp.ContentLength, "the answer carries its length")
	}
	select {
	case err := <-writeErr:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not finish")
	}
	assert.True(t, secondSeen.Load(), "the first answer was complete only once its handler returned")
}

// TestLongPollParkedReader: a parked reader is resumed by the next POST,
// which it reads, and by the end of the connection; a POST that comes
// between ErrIdle and Park is not missed.
func TestLongPollParkedReader(t *testing.T) {
	lp := NewLongPoll(LongPollingOptions{})
	defer lp.Close()
	lp.ParkWhenIdle()
	_, _, err := lp.NextReader()
	require.ErrorIs(t, err, ErrIdle)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lp.HandlePost(w, r, 0)
	}))
	defer srv.Close()
	posted := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("one"))
		if err != nil {
			posted <- 0
			return
		}
		resp.Body.Close()
		posted <- resp.StatusCode
	}()
	// The POST is waiting before the reader parks: Park resumes it at once.
	require.Eventually(t, func() bool {
		lp.pmu.Lock()
		defer lp.pmu.Unlock()
		return lp.pending == 1
	}, 5*time.Second, time.Millisecond)

	frames := make(chan string, 4)
	var resume func()
	resume = func() {
		for {
			_, r, err := lp.NextReader()
			if errors.Is(err, ErrIdle) {
				lp.Park(resume)
				return
			}
			if err != nil {
				frames <- "EOF"
				return
			}
			b, _ := io.ReadAll(r)
			frames <- string(b)
		}
	}
	lp.Park(resume)
	require.Equal(t, "one", recvString(t, frames))
	require.Equal(t, http.StatusOK, <-posted)

	// Parked again: the next POST resumes it.
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("two"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "two", recvString(t, frames))

	// Parked again: the end of the connection resumes it.
	require.NoError(t, lp.Close())
	require.Equal(t, "EOF", recvString(t, frames))
}

func recvString(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("nothing came")
		return ""
	}
}
