package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseOpen negotiates token and opens its event stream; it returns the
// session and a reader of the stream.
func sseOpen(t *testing.T, host *fakeHost, url, token string) (*fakeSession, *http.Response, *bufio.Reader) {
	t.Helper()
	host.negotiate(token)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?id="+token, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	s := host.session(token)
	require.NotNil(t, s)
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		wait(t, s.gone, "the stream to end")
	})
	return s, resp, bufio.NewReader(resp.Body)
}

// readLine reads one line of the stream within testWait.
func readLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(testWait):
		t.Fatal("timed out reading the event stream: was it flushed?")
		return ""
	}
}

func TestSSEStreamIsFlushedAtOnce(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, Config{})
	s, resp, br := sseOpen(t, host, srv.URL, "tok")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"))
	// The client sends nothing until the stream is open: its first line
	// must arrive at once.
	assert.Equal(t, ":\r\n", readLine(t, br))

	caps := Caps(s.tr)
	assert.False(t, caps.Binary, "events carry text only")
	assert.True(t, caps.Requests)

	// A frame is one event, a data line per line, flushed as written.
	require.NoError(t, s.tr.WriteFrame(false, []byte("a\nb"), []byte("c\x1e")))
	assert.Equal(t, "data: a\r\n", readLine(t, br))
	assert.Equal(t, "data: bc\x1e\r\n", readLine(t, br))
	assert.Equal(t, "\r\n", readLine(t, br))
}

func TestSSEPostIsAFrame(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, Config{MaxRequestBody: 4})
	s, _, br := sseOpen(t, host, srv.URL, "tok")
	readLine(t, br)

	a := do(t, http.MethodPost, srv.URL+"?id=tok", "abcd")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "abcd", s.frame(t))

	a = do(t, http.MethodPost, srv.URL+"?id=tok", "x", "X-User", "mallory")
	assert.Equal(t, http.StatusForbidden, a.status, "another user's POST")

	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		a = do(t, m, srv.URL+"?id=tok", "")
		assert.Equal(t, http.StatusBadRequest, a.status, "%s of an SSE connection", m)
		assert.Equal(t, "text/plain; charset=utf-8", a.header.Get("Content-Type"))
	}

	a = do(t, http.MethodPost, srv.URL+"?id=tok", "abcde")
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.status, "a body past the limit")
	wait(t, s.done, "the reader to fail")
}

func TestSSEEndsWithTheConnection(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, Config{})
	s, _, br := sseOpen(t, host, srv.URL, "tok")
	readLine(t, br)
	s.tr.Close()
	wait(t, s.gone, "the connection to end")
	got := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(br)
		got <- err
	}()
	select {
	case err := <-got:
		assert.NoError(t, err, "the stream ends cleanly when the handler returns")
	case <-time.After(testWait):
		t.Fatal("the stream did not end")
	}
	assert.ErrorIs(t, s.tr.WriteFrame(false, []byte("late")), ErrClosed)
	a := do(t, http.MethodPost, srv.URL+"?id=tok", "x")
	assert.Equal(t, http.StatusNotFound, a.status, "a POST after the end")
}

func TestSSEOpenRefused(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, Config{})
	a := do(t, http.MethodGet, srv.URL+"?id=nobody", "", "Accept", "text/event-stream")
	assert.Equal(t, http.StatusNotFound, a.status, "a stream for an unknown token")

	host.enabled = map[string]bool{LongPolling: true}
	host.negotiate("tok")
	a = do(t, http.MethodGet, srv.URL+"?id=tok", "", "Accept", "text/event-stream")
	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Contains(t, a.body, "not enabled")
}

// noFlush is a middleware's ResponseWriter that hides http.Flusher.
type noFlush struct{ http.ResponseWriter }

// A ResponseWriter that cannot flush is a server misconfiguration: 500,
// a warning in the log, and the claim is given back.
func TestSSEWithoutFlusher(t *testing.T) {
	host := newFakeHost(t)
	hd := newSSEHandler(Config{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd.Serve(host, noFlush{w}, r)
	}))
	defer srv.Close()
	host.negotiate("tok")
	a := do(t, http.MethodGet, srv.URL+"?id=tok", "", "Accept", "text/event-stream")
	assert.Equal(t, http.StatusInternalServerError, a.status)
	assert.Contains(t, a.body, "middleware")
	assert.Contains(t, host.logged(), "level=WARN")
	assert.Nil(t, host.session("tok"), "the claim was released")
}

// A client that opens the stream and stops reading fails a write at the
// write timeout, and the connection's reader learns of it.
func TestSSEWriteTimeout(t *testing.T) {
	host := newFakeHost(t)
	srv := serveHandlers(t, host, Config{WriteTimeout: 100 * time.Millisecond})
	host.negotiate("tok")
	nc, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), testWait)
	require.NoError(t, err)
	defer nc.Close()
	_, err = fmt.Fprintf(nc, "GET /?id=tok HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	require.NoError(t, err)
	s := host.started(t, "tok")
	big := make([]byte, 64<<20) // more than the socket buffers hold
	done := make(chan error, 1)
	go func() { done <- s.tr.WriteFrame(false, big) }()
	select {
	case err = <-done:
		require.Error(t, err, "a write the client never read")
	case <-time.After(testWait):
		t.Fatal("the write was not bounded by the write timeout")
	}
	wait(t, s.done, "the reader to end")
	assert.Error(t, s.readErr, "the reader reports the failed write, not a clean close")
	assert.NotErrorIs(t, s.readErr, io.EOF)
}

func TestSSEMatch(t *testing.T) {
	hd := newSSEHandler(Config{})
	get := func(accept string) *http.Request {
		r, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/hub?id=x", nil)
		r.Header.Set("Accept", accept)
		return r
	}
	post, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "/hub?id=x", nil)
	assert.True(t, hd.Match(get("text/event-stream"), nil))
	assert.False(t, hd.Match(get("*/*"), nil), "a poll")
	assert.True(t, hd.Match(post, &SSE{}))
	assert.False(t, hd.Match(post, &LongPoll{}))
	assert.False(t, hd.Match(post, nil), "a POST for no live connection is long polling's")
}
