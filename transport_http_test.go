package signalr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/protocol"
)

// These tests drive the Server-Sent Events and long-polling transports by
// hand with a plain http.Client, byte for byte, as the official client
// does (docs/protocol.md §2 and §8).

const (
	htJSONHandshake    = `{"protocol":"json","version":1}` + "\x1e"
	htMsgpackHandshake = `{"protocol":"messagepack","version":1}` + "\x1e"
	htPing             = `{"type":6}` + "\x1e"
	// htWait bounds every wait for something that must happen.
	htWait = 5 * time.Second
)

// htHub is the hub of the HTTP transport tests.
type htHub struct {
	sent    chan struct{} // Burst reports here when it has queued everything
	entered chan struct{} // Block reports here when it starts
	gate    chan struct{} // Block waits for this to close
}

func newHTHub() *htHub {
	return &htHub{sent: make(chan struct{}, 16), entered: make(chan struct{}, 1), gate: make(chan struct{})}
}

// Block waits until gate is closed or the connection ends.
func (h *htHub) Block(ctx context.Context) {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	select {
	case <-h.gate:
	case <-ctx.Done():
	}
}

func (*htHub) Add(a, b int) int     { return a + b }
func (*htHub) Echo(s string) string { return s }

func (*htHub) SendToCaller(c *signalr.Context, msg string) error {
	return c.Clients().Caller().Send(c, "receive", msg)
}

// Burst sends the caller a message of big bytes (if big > 0), then n
// messages "item", i, pausing pauseMs after the first; then it reports on
// sent that all of them are queued.
func (h *htHub) Burst(c *signalr.Context, n, big, pauseMs int) error {
	if big > 0 {
		if err := c.Clients().Caller().Send(c, "big", strings.Repeat("x", big)); err != nil {
			return err
		}
	}
	for i := range n {
		if err := c.Clients().Caller().Send(c, "item", i); err != nil {
			return err
		}
		if i == 0 && pauseMs > 0 {
			time.Sleep(time.Duration(pauseMs) * time.Millisecond)
		}
	}
	h.sent <- struct{}{}
	return nil
}

// Pretty returns JSON with line breaks in it, written to the wire as is.
func (*htHub) Pretty() protocol.Raw {
	return protocol.Raw("{\n  \"a\": 1,\r\n  \"b\": [2,\r3]\n}")
}

// htServer is a hub on a loopback server and an HTTP client to drive it.
type htServer struct {
	t      *testing.T
	hub    *signalr.Hub
	url    string // base URL; the hub is at url+"/hub"
	client *http.Client
}

type htConfig struct {
	// smallBuffers shrinks the send buffers of the server's TCP connections
	// and the receive buffers of the client's, so that a large response
	// write blocks until the client reads.
	smallBuffers bool
}

func startHTTPHub(t *testing.T, hub any, opts ...signalr.Option) *htServer {
	t.Helper()
	return startHTTPHubWith(t, htConfig{}, hub, opts...)
}

func startHTTPHubWith(t *testing.T, cfg htConfig, hub any, opts ...signalr.Option) *htServer {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := signalr.New(hub, append([]signalr.Option{signalr.WithLogger(logger)}, opts...)...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	srv := httptest.NewUnstartedServer(mux)
	if cfg.smallBuffers {
		srv.Listener = htSmallBufListener{srv.Listener}
	}
	srv.Start()

	dialer := &net.Dialer{Timeout: htWait}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil && cfg.smallBuffers {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetReadBuffer(32 << 10)
				}
			}
			return c, err
		},
		MaxIdleConnsPerHost:   8,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), htWait)
		defer cancel()
		assert.NoError(t, h.Shutdown(ctx))
		srv.Close()
		tr.CloseIdleConnections()
	})
	return &htServer{t: t, hub: h, url: srv.URL, client: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
}

type htSmallBufListener struct{ net.Listener }

func (l htSmallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

// withT returns s for use in the subtest t.
func (s *htServer) withT(t *testing.T) *htServer {
	c := *s
	c.t = t
	return &c
}

// htResp is an HTTP response read in full.
type htResp struct {
	status int
	header http.Header
	body   string
}

func (s *htServer) do(method, target string, hdr http.Header, body io.Reader) htResp {
	s.t.Helper()
	r, err := s.doErr(context.Background(), method, target, hdr, body)
	require.NoError(s.t, err, "%s %s", method, target)
	return r
}

func (s *htServer) doErr(ctx context.Context, method, target string, hdr http.Header, body io.Reader) (htResp, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.url+target, body)
	if err != nil {
		return htResp{}, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return htResp{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return htResp{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// negotiate returns a fresh connection token and connection id.
func (s *htServer) negotiate() (token, id string) {
	s.t.Helper()
	r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion=1", nil, nil)
	require.Equal(s.t, http.StatusOK, r.status, r.body)
	var n struct {
		ConnectionID    string `json:"connectionId"`
		ConnectionToken string `json:"connectionToken"`
	}
	require.NoError(s.t, json.Unmarshal([]byte(r.body), &n), r.body)
	require.NotEmpty(s.t, n.ConnectionToken)
	return n.ConnectionToken, n.ConnectionID
}

var htPollSeq atomic.Int64

// poll is one long poll, with the cache-busting parameter the official
// client adds.
func (s *htServer) poll(token string) htResp {
	s.t.Helper()
	return s.do(http.MethodGet, "/hub?id="+token+"&_="+strconv.FormatInt(htPollSeq.Add(1), 10), nil, nil)
}

// pollAsync starts a long poll and delivers its response on the channel.
func (s *htServer) pollAsync(token string) <-chan htResp {
	ch := make(chan htResp, 1)
	go func() {
		r, err := s.doErr(context.Background(), http.MethodGet, "/hub?id="+token+"&_="+strconv.FormatInt(htPollSeq.Add(1), 10), nil, nil)
		if err != nil {
			r = htResp{status: -1, body: err.Error()}
		}
		ch <- r
	}()
	return ch
}

func htRecv(t *testing.T, ch <-chan htResp, what string) htResp {
	t.Helper()
	select {
	case r := <-ch:
		require.NotEqual(t, -1, r.status, "%s failed: %s", what, r.body)
		return r
	case <-time.After(htWait):
		require.FailNow(t, what+" was not answered")
		return htResp{}
	}
}

// heldPoll opens a poll and returns it once the hub is known to hold it:
// of two concurrent polls the hub holds one and refuses the other with 409,
// whichever comes first. The connection must have nothing to send.
func (s *htServer) heldPoll(token string) <-chan htResp {
	s.t.Helper()
	a, b := s.pollAsync(token), s.pollAsync(token)
	select {
	case r := <-a:
		require.Equal(s.t, http.StatusConflict, r.status, "one of two concurrent polls is refused: %s", r.body)
		return b
	case r := <-b:
		require.Equal(s.t, http.StatusConflict, r.status, "one of two concurrent polls is refused: %s", r.body)
		return a
	case <-time.After(htWait):
		require.FailNow(s.t, "neither of two concurrent polls was refused")
		return nil
	}
}

// post sends body as the official client does for JSON.
func (s *htServer) post(token, body string) htResp {
	s.t.Helper()
	return s.do(http.MethodPost, "/hub?id="+token, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, strings.NewReader(body))
}

// postBinary sends body as the official client does for MessagePack.
func (s *htServer) postBinary(token string, body []byte) htResp {
	s.t.Helper()
	return s.do(http.MethodPost, "/hub?id="+token, http.Header{"Content-Type": {"application/octet-stream"}}, bytes.NewReader(body))
}

func (s *htServer) del(token string) htResp {
	s.t.Helper()
	return s.do(http.MethodDelete, "/hub?id="+token, nil, nil)
}

// lpConnect negotiates, opens a long-polling connection and completes the
// handshake with the given request. The connection is stopped (DELETE)
// when the test ends.
func (s *htServer) lpConnect(handshake string) (token, id string) {
	s.t.Helper()
	token, id = s.negotiate()
	first := s.poll(token)
	require.Equal(s.t, http.StatusOK, first.status, first.body)
	require.Empty(s.t, first.body)
	s.t.Cleanup(func() {
		// Ends the connection unless it already has; any answer will do.
		_, _ = s.doErr(context.Background(), http.MethodDelete, "/hub?id="+token, nil, nil)
	})
	// The official client keeps polling while it sends the handshake (the
	// hub answers the POST only once a poll has taken the reply, see
	// TestLongPollHandshakePostWithoutOpenPoll).
	hs := make(chan htResp, 1)
	go func() {
		r, err := s.doErr(context.Background(), http.MethodPost, "/hub?id="+token, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, strings.NewReader(handshake))
		if err != nil {
			r = htResp{status: -1, body: err.Error()}
		}
		hs <- r
	}()
	deadline := time.Now().Add(htWait)
	for {
		r := s.poll(token)
		require.Equal(s.t, http.StatusOK, r.status, r.body)
		if r.body != "" { // an empty body is a poll timeout
			require.Equal(s.t, "{}\x1e", r.body)
			break
		}
		require.True(s.t, time.Now().Before(deadline), "no handshake reply")
	}
	r := htRecv(s.t, hs, "the handshake POST")
	require.Equal(s.t, http.StatusOK, r.status, r.body)
	return token, id
}

// lpCollect polls until n non-Ping messages have arrived and returns them.
func (s *htServer) lpCollect(token string, n int) (msgs []map[string]any) {
	s.t.Helper()
	deadline := time.Now().Add(htWait)
	for len(msgs) < n {
		require.True(s.t, time.Now().Before(deadline), "only %d of %d messages arrived: %v", len(msgs), n, msgs)
		r := s.poll(token)
		require.Equal(s.t, http.StatusOK, r.status, r.body)
		if r.body == "" {
			continue
		}
		for _, m := range hubtest.SplitRecords(s.t, r.body) {
			if m["type"] != float64(6) {
				msgs = append(msgs, m)
			}
		}
	}
	return msgs
}

// sseStream reads an event stream on demand: nothing is read from the
// connection unless a test asks for it.
type sseStream struct {
	t       *testing.T
	resp    *http.Response
	cancel  context.CancelFunc
	req     chan struct{}
	res     chan sseRead
	done    chan struct{}
	pending bool
	err     error // the stream's read error (io.EOF at its end)
	buf     []byte
	closed  bool
}

type sseRead struct {
	b   []byte
	err error
}

// openSSE starts an event stream for token and requires that it opens:
// 200, the event-stream headers, and ":\r\n" before anything is sent.
// The stream is closed when the test ends.
func (s *htServer) openSSE(token string, hdr http.Header) *sseStream {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/hub?id="+token, nil)
	require.NoError(s.t, err)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		require.NoError(s.t, err)
	}
	st := &sseStream{
		t: s.t, resp: resp, cancel: cancel,
		req: make(chan struct{}, 1), res: make(chan sseRead, 1), done: make(chan struct{}),
	}
	go st.reader()
	s.t.Cleanup(st.close)
	require.Equal(s.t, http.StatusOK, resp.StatusCode)
	require.Equal(s.t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(s.t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(s.t, ":\r\n", string(st.readN(3)), "the stream must open with a comment line at once")
	return st
}

func (st *sseStream) reader() {
	defer close(st.done)
	buf := make([]byte, 64<<10)
	for range st.req {
		n, err := st.resp.Body.Read(buf)
		st.res <- sseRead{b: bytes.Clone(buf[:n]), err: err}
		if err != nil {
			return
		}
	}
}

// fill reads once more from the stream; it fails the test after htWait.
func (st *sseStream) fill() {
	st.t.Helper()
	require.NoError(st.t, st.err, "the stream ended; unread: %q", st.buf)
	if !st.pending {
		st.req <- struct{}{}
		st.pending = true
	}
	select {
	case r := <-st.res:
		st.pending = false
		st.buf = append(st.buf, r.b...)
		st.err = r.err
	case <-time.After(htWait):
		require.FailNow(st.t, "nothing arrived on the stream", "unread: %q", st.buf)
	}
}

// readN returns exactly the next n bytes of the stream.
func (st *sseStream) readN(n int) []byte {
	st.t.Helper()
	for len(st.buf) < n {
		st.fill()
	}
	b := st.buf[:n:n]
	st.buf = st.buf[n:]
	return b
}

// nextEvent returns the next event, raw, blank line included.
func (st *sseStream) nextEvent() string {
	st.t.Helper()
	for {
		if i := bytes.Index(st.buf, []byte("\r\n\r\n")); i >= 0 {
			ev := string(st.buf[:i+4])
			st.buf = st.buf[i+4:]
			return ev
		}
		st.fill()
	}
}

// nextData returns the data of the next event as EventSource does: the
// "data: " lines joined with "\n". Each line must be a data line.
func (st *sseStream) nextData() string {
	st.t.Helper()
	ev := st.nextEvent()
	lines := strings.Split(strings.TrimSuffix(ev, "\r\n\r\n"), "\r\n")
	for i, l := range lines {
		require.True(st.t, strings.HasPrefix(l, "data: "), "line %d of event %q is not a data line", i, ev)
		lines[i] = strings.TrimPrefix(l, "data: ")
	}
	return strings.Join(lines, "\n")
}

// nextMessages returns the messages of the next event that holds anything
// but Pings.
func (st *sseStream) nextMessages() []map[string]any {
	st.t.Helper()
	for {
		var out []map[string]any
		for _, m := range hubtest.SplitRecords(st.t, st.nextData()) {
			if m["type"] != float64(6) {
				out = append(out, m)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
}

// expectEnd reads until the server ends the stream and returns the
// non-Ping messages that came before the end.
func (st *sseStream) expectEnd() []map[string]any {
	st.t.Helper()
	for st.err == nil {
		st.fill()
	}
	require.ErrorIs(st.t, st.err, io.EOF, "the stream must end cleanly")
	var out []map[string]any
	rest := string(st.buf)
	st.buf = nil
	for _, ev := range strings.SplitAfter(rest, "\r\n\r\n") {
		if ev == "" {
			continue
		}
		require.True(st.t, strings.HasPrefix(ev, "data: ") && strings.HasSuffix(ev, "\r\n\r\n"), "bad event %q", ev)
		for _, m := range hubtest.SplitRecords(st.t, strings.TrimSuffix(strings.TrimPrefix(ev, "data: "), "\r\n\r\n")) {
			if m["type"] != float64(6) {
				out = append(out, m)
			}
		}
	}
	return out
}

// close aborts the stream, as a browser closing its EventSource does.
func (st *sseStream) close() {
	if st.closed {
		return
	}
	st.closed = true
	st.cancel()
	st.resp.Body.Close()
	close(st.req)
	<-st.done
}

// postWith is post with extra request headers.
func (s *htServer) postWith(token, body string, extra http.Header) htResp {
	s.t.Helper()
	hdr := http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}
	for k, vs := range extra {
		hdr[k] = vs
	}
	return s.do(http.MethodPost, "/hub?id="+token, hdr, strings.NewReader(body))
}

// sseConnect negotiates, opens an event stream and completes a JSON
// handshake.
func (s *htServer) sseConnect() (*sseStream, string) {
	s.t.Helper()
	token, _ := s.negotiate()
	st := s.openSSE(token, nil)
	r := s.post(token, htJSONHandshake) // right away, as the official client does
	require.Equal(s.t, http.StatusOK, r.status, r.body)
	require.Equal(s.t, "data: {}\x1e\r\n\r\n", st.nextEvent())
	return st, token
}

// settleSSE proves with a round trip that the hub is done with the
// handshake of the connection (its reply written, the connection
// registered) before a test shuts the hub down.
func (s *htServer) settleSSE(st *sseStream, token string) {
	s.t.Helper()
	require.Equal(s.t, http.StatusOK, s.post(token, hubtest.InvocationJSON("settle", "Add", 1, 1)).status)
	require.Equal(s.t, []map[string]any{{"type": float64(3), "invocationId": "settle", "result": float64(2)}}, st.nextMessages())
}

// settleLP is settleSSE for long polling.
func (s *htServer) settleLP(token string) {
	s.t.Helper()
	next := s.pollAsync(token)
	require.Equal(s.t, http.StatusOK, s.post(token, hubtest.InvocationJSON("settle", "Add", 1, 1)).status)
	r := htRecv(s.t, next, "the settling poll")
	require.Equal(s.t, `{"type":3,"invocationId":"settle","result":2}`+"\x1e", r.body)
}

// htSettleWS is settleSSE for a raw WebSocket client.
func htSettleWS(t *testing.T, c *hubtest.RawClient) {
	t.Helper()
	c.SendText(hubtest.InvocationJSON("settle", "Add", 1, 1))
	m := c.ReadMessage()
	require.Equal(t, "settle", m["invocationId"], "%v", m)
}

// htEventually calls f until it reports true or htWait passes.
func htEventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(htWait)
	for !f() {
		require.True(t, time.Now().Before(deadline), "timed out waiting: %s", what)
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- Server-Sent Events ----

func TestSSEStreamOpensAtOnce(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.negotiate()
	// openSSE requires the headers and ":\r\n" before the client sends
	// anything: the official client waits for onopen to send its handshake.
	st := s.openSSE(token, nil)
	assert.Empty(t, st.resp.Header.Get("Content-Length"))
	assert.Empty(t, st.resp.Header.Get("Content-Encoding"))
}

func TestSSEPostRightAfterOpen(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	// The official client sends its handshake as soon as EventSource fires
	// onopen, that is as soon as the first bytes arrive: the connection must
	// be findable by then, not 409 "The connection is starting." (fixed in
	// ef16cdf; this failed within a few hundred attempts before).
	for i := range 200 {
		token, _ := s.negotiate()
		st := s.openSSE(token, nil)
		r := s.post(token, htJSONHandshake)
		require.Equal(t, http.StatusOK, r.status, "attempt %d: the handshake POST right after the stream opened got %d %q", i, r.status, r.body)
		require.Equal(t, "data: {}\x1e\r\n\r\n", st.nextEvent())
		st.close()
	}
}

func TestSSEHandshakeAndInvoke(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	st, token := s.sseConnect() // requires "data: {}\x1e\r\n\r\n"

	r := s.post(token, hubtest.InvocationJSON("1", "Add", 40, 2))
	require.Equal(t, http.StatusOK, r.status, r.body)
	ev := st.nextEvent()
	require.True(t, strings.HasPrefix(ev, "data: "), ev)
	require.True(t, strings.HasSuffix(ev, "\x1e\r\n\r\n"), ev)
	msgs := hubtest.SplitRecords(t, strings.TrimSuffix(strings.TrimPrefix(ev, "data: "), "\r\n\r\n"))
	require.Len(t, msgs, 1)
	assert.Equal(t, map[string]any{"type": float64(3), "invocationId": "1", "result": float64(42)}, msgs[0])
}

func TestSSESeveralMessagesInOnePost(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	st, token := s.sseConnect()

	body := hubtest.InvocationJSON("a", "Add", 1, 2) + hubtest.InvocationJSON("b", "SendToCaller", "x") +
		hubtest.InvocationJSON("c", "SendToCaller", "y") + hubtest.InvocationJSON("d", "Echo", "z")
	r := s.post(token, body)
	require.Equal(t, http.StatusOK, r.status, r.body)

	// Invocations of one connection run one at a time, in order, so the
	// messages come in this order whatever events carry them.
	var got []string
	for len(got) < 6 {
		for _, m := range st.nextMessages() { // every event: "data: ...\x1e\r\n\r\n"
			switch m["type"] {
			case float64(1):
				got = append(got, fmt.Sprintf("%v%v", m["target"], m["arguments"]))
			case float64(3):
				require.NotContains(t, m, "error")
				got = append(got, fmt.Sprintf("%v=%v", m["invocationId"], m["result"]))
			default:
				t.Fatalf("unexpected message %v", m)
			}
		}
	}
	assert.Equal(t, []string{"a=3", "receive[x]", "b=<nil>", "receive[y]", "c=<nil>", "d=z"}, got)
}

func TestSSEQueuedMessagesShareOneEvent(t *testing.T) {
	hub := newHTHub()
	s := startHTTPHubWith(t, htConfig{smallBuffers: true}, hub)
	st, token := s.sseConnect()

	// Burst queues a 768 KiB message, which the writer cannot finish while
	// the client reads nothing, then three small ones behind it. The stream
	// is read only once all four are queued, so the small ones cannot each
	// get an event of their own: at most two events carry the four.
	const big = 768 << 10
	r := s.post(token, hubtest.InvocationJSON("", "Burst", 3, big, 0))
	require.Equal(t, http.StatusOK, r.status, r.body)
	select {
	case <-hub.sent:
	case <-time.After(htWait):
		t.Fatal("Burst did not finish")
	}

	var events [][]map[string]any
	var targets []string
	for len(targets) < 4 {
		data := st.nextData()
		msgs := hubtest.SplitRecords(t, data) // records separated and ended by 0x1E
		events = append(events, msgs)
		for _, m := range msgs {
			require.Equal(t, float64(1), m["type"], "%v", m)
			args := m["arguments"].([]any)
			if m["target"] == "big" {
				require.Len(t, args[0], big)
				targets = append(targets, "big")
			} else {
				targets = append(targets, fmt.Sprintf("%v%v", m["target"], args[0]))
			}
		}
	}
	assert.Equal(t, []string{"big", "item0", "item1", "item2"}, targets)
	assert.LessOrEqual(t, len(events), 2, "messages queued together must share an event")
}

func TestSSEMultilinePayloadBecomesSeveralDataLines(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	st, token := s.sseConnect()

	r := s.post(token, hubtest.InvocationJSON("p", "Pretty"))
	require.Equal(t, http.StatusOK, r.status, r.body)
	ev := st.nextEvent()
	assert.Equal(t,
		"data: {\"type\":3,\"invocationId\":\"p\",\"result\":{\r\ndata:   \"a\": 1,\r\ndata: \r\ndata:   \"b\": [2,\r\ndata: 3]\r\ndata: }}\x1e\r\n\r\n",
		ev, "each line of the payload is a data line")
	// EventSource joins the lines with "\n": still the same JSON.
	lines := strings.Split(strings.TrimSuffix(ev, "\r\n\r\n"), "\r\n")
	for i := range lines {
		lines[i] = strings.TrimPrefix(lines[i], "data: ")
	}
	msgs := hubtest.SplitRecords(t, strings.Join(lines, "\n"))
	require.Len(t, msgs, 1)
	assert.Equal(t, map[string]any{"a": float64(1), "b": []any{float64(2), float64(3)}}, msgs[0]["result"])
}

func TestSSEMessagePackIsRefused(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.negotiate()
	st := s.openSSE(token, nil)
	r := s.post(token, htMsgpackHandshake)
	require.Equal(t, http.StatusOK, r.status, r.body)
	data := st.nextData()
	msgs := hubtest.SplitRecords(t, data)
	require.Len(t, msgs, 1)
	assert.Equal(t, map[string]any{"error": "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."}, msgs[0])
	assert.Empty(t, st.expectEnd(), "the stream ends after the handshake error")
	htEventually(t, "the connection is gone", func() bool { return s.post(token, htPing).status == http.StatusNotFound })
}

func TestSSERequestErrors(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	sse := http.Header{"Accept": {"text/event-stream"}}

	r := s.do(http.MethodGet, "/hub", sse, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "no id: %s", r.body)
	r = s.do(http.MethodGet, "/hub?id=", sse, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "empty id: %s", r.body)
	r = s.do(http.MethodGet, "/hub?id=nosuchconnection", sse, nil)
	assert.Equal(t, http.StatusNotFound, r.status, "unknown id: %s", r.body)

	_, token := s.sseConnect()
	r = s.do(http.MethodGet, "/hub?id="+token, sse, nil)
	assert.Equal(t, http.StatusConflict, r.status, "second stream: %s", r.body)
	// The first stream still works.
	assert.Equal(t, http.StatusOK, s.post(token, htPing).status)
}

func TestSSEClientAbortEndsConnection(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	st, token := s.sseConnect()
	st.close() // cancels the request, as closing an EventSource does
	htEventually(t, "a POST after the stream was aborted gets 404", func() bool {
		r := s.post(token, htPing)
		require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, r.status, r.body)
		return r.status == http.StatusNotFound
	})
	// The token cannot open a new stream either.
	r := s.do(http.MethodGet, "/hub?id="+token, http.Header{"Accept": {"text/event-stream"}}, nil)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
}

func TestSSEKeepAlivePings(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithKeepAliveInterval(50*time.Millisecond))
	st, _ := s.sseConnect()
	assert.Equal(t, "data: {\"type\":6}\x1e\r\n\r\n", st.nextEvent(), "an idle event stream gets Pings")
}

func TestSSEShutdownSendsClose(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	st, token := s.sseConnect()
	s.settleSSE(st, token)
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx))
	assert.Equal(t, []map[string]any{{"type": float64(7), "allowReconnect": true}}, st.expectEnd())
}

// ---- Long polling ----

func TestLongPollConnectAndInvoke(t *testing.T) {
	s := startHTTPHub(t, newHTHub()) // default poll timeout: 90 s
	token, _ := s.negotiate()

	start := time.Now()
	first := s.poll(token)
	assert.Equal(t, http.StatusOK, first.status)
	assert.Empty(t, first.body)
	assert.Less(t, time.Since(start), 2*time.Second, "the first poll is answered at once")

	next := s.pollAsync(token)
	hs := s.post(token, htJSONHandshake)
	require.Equal(t, http.StatusOK, hs.status, hs.body)
	r := htRecv(t, next, "the poll after the handshake")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "{}\x1e", r.body)

	next = s.pollAsync(token)
	require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("1", "Add", 40, 2)).status)
	r = htRecv(t, next, "the poll after the invocation")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, `{"type":3,"invocationId":"1","result":42}`+"\x1e", r.body)

	require.Equal(t, http.StatusAccepted, s.del(token).status)
}

// TestLongPollPostBeforeFirstPoll: like ASP.NET Core, a negotiated
// connection accepts a send before its first poll (signalrcore posts its
// handshake first); the first poll then carries the handshake reply.
func TestLongPollPostBeforeFirstPoll(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.negotiate()
	hs := s.post(token, htJSONHandshake)
	require.Equal(t, http.StatusOK, hs.status, hs.body)
	r := s.poll(token)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "{}\x1e", r.body)

	next := s.pollAsync(token)
	require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("1", "Add", 40, 2)).status)
	r = htRecv(t, next, "the poll after the invocation")
	assert.Equal(t, `{"type":3,"invocationId":"1","result":42}`+"\x1e", r.body)

	// The connection now is a long-polling one: no event stream for it.
	sse := s.do(http.MethodGet, "/hub?id="+token, http.Header{"Accept": {"text/event-stream"}}, nil)
	assert.Equal(t, http.StatusBadRequest, sse.status, sse.body)
	require.Equal(t, http.StatusAccepted, s.del(token).status)

	// Tokens that were never negotiated, or whose connection ended, still
	// get 404.
	assert.Equal(t, http.StatusNotFound, s.post("no-such-token", htJSONHandshake).status)
	htEventually(t, "a POST after DELETE gets 404", func() bool {
		return s.post(token, htPing).status == http.StatusNotFound
	})
}

// TestLongPollPostBeforeFirstPollThenNoPoll: a connection started by a
// send is closed like any other when no poll comes within the disconnect
// timeout.
func TestLongPollPostBeforeFirstPollThenNoPoll(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithLongPollTimeouts(time.Second, 200*time.Millisecond))
	token, _ := s.negotiate()
	require.Equal(t, http.StatusOK, s.post(token, htJSONHandshake).status)
	htEventually(t, "the unpolled connection is closed", func() bool {
		return s.post(token, htPing).status == http.StatusNotFound
	})
}

func TestLongPollTimeoutIsAnEmpty200(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithLongPollTimeouts(300*time.Millisecond, htWait))
	token, _ := s.lpConnect(htJSONHandshake)
	for range 2 {
		start := time.Now()
		r := s.poll(token)
		elapsed := time.Since(start)
		assert.Equal(t, http.StatusOK, r.status, "never 204: that ends the connection")
		assert.Empty(t, r.body)
		assert.GreaterOrEqual(t, elapsed, 250*time.Millisecond, "the poll is held")
		assert.Less(t, elapsed, 3*time.Second)
	}
	// Still alive.
	next := s.pollAsync(token)
	require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("1", "Echo", "alive")).status)
	r := htRecv(t, next, "the poll")
	assert.Equal(t, `{"type":3,"invocationId":"1","result":"alive"}`+"\x1e", r.body)
}

func TestLongPollQueuedDataKeepsItsOrder(t *testing.T) {
	hub := newHTHub()
	s := startHTTPHub(t, hub)
	token, _ := s.lpConnect(htJSONHandshake)

	// No poll is open while these run.
	body := hubtest.InvocationJSON("1", "Add", 40, 2) + hubtest.InvocationJSON("2", "Add", 1, 2) + hubtest.InvocationJSON("", "Burst", 3, 0, 0)
	require.Equal(t, http.StatusOK, s.post(token, body).status)
	select {
	case <-hub.sent:
	case <-time.After(htWait):
		t.Fatal("Burst did not finish")
	}
	msgs := s.lpCollect(token, 5)
	var got []string
	for _, m := range msgs {
		if m["type"] == float64(3) {
			got = append(got, fmt.Sprintf("%v=%v", m["invocationId"], m["result"]))
		} else {
			got = append(got, fmt.Sprintf("%v%v", m["target"], m["arguments"]))
		}
	}
	assert.Equal(t, []string{"1=42", "2=3", "item[0]", "item[1]", "item[2]"}, got)
}

func TestLongPollQueuedDataComesInOnePoll(t *testing.T) {
	hub := newHTHub()
	s := startHTTPHub(t, hub)
	token, _ := s.lpConnect(htJSONHandshake)

	// Burst queues item 0, waits, and queues items 1 and 2; no poll is open
	// meanwhile. Everything queued must come back in the next poll.
	require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("", "Burst", 3, 0, 100)).status)
	select {
	case <-hub.sent:
	case <-time.After(htWait):
		t.Fatal("Burst did not finish")
	}
	r := s.poll(token)
	require.Equal(t, http.StatusOK, r.status)
	msgs := hubtest.SplitRecords(t, r.body)
	assert.Len(t, msgs, 3, "one poll must return all queued data, got %q", r.body)
}

func TestLongPollConcurrentPollIsRefused(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.lpConnect(htJSONHandshake)

	held := s.heldPoll(token) // requires a 409 for the other poll

	// The held poll still gets the data.
	require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("1", "Add", 1, 1)).status)
	r := htRecv(t, held, "the held poll")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, `{"type":3,"invocationId":"1","result":2}`+"\x1e", r.body)
}

// TestLongPollConcurrentPostWaits: a POST that arrives while another of the
// same connection is in progress waits for it and is then read, as in
// ASP.NET Core; the official Java client sends each message in its own POST,
// concurrently, and lost the ones a 409 refused.
func TestLongPollConcurrentPostWaits(t *testing.T) {
	hub := newHTHub()
	s := startHTTPHub(t, hub)
	token, _ := s.lpConnect(htJSONHandshake)

	// One POST carries far more invocations of Block than a connection
	// queues: while the first one blocks, the hub cannot finish reading the
	// body, so that POST stays in progress.
	var body strings.Builder
	for range 1000 {
		body.WriteString(hubtest.InvocationJSON("", "Block"))
	}
	first := make(chan htResp, 1)
	go func() {
		r, err := s.doErr(context.Background(), http.MethodPost, "/hub?id="+token, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, strings.NewReader(body.String()))
		if err != nil {
			r = htResp{status: -1, body: err.Error()}
		}
		first <- r
	}()
	released := false
	release := func() {
		if !released {
			released = true
			close(hub.gate)
		}
	}
	defer release()
	select {
	case <-hub.entered:
	case <-time.After(htWait):
		t.Fatal("Block did not start")
	}

	second := make(chan htResp, 1)
	go func() {
		r, err := s.doErr(context.Background(), http.MethodPost, "/hub?id="+token, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, strings.NewReader(hubtest.InvocationJSON("2", "Add", 20, 22)))
		if err != nil {
			r = htResp{status: -1, body: err.Error()}
		}
		second <- r
	}()
	select {
	case r := <-second:
		t.Fatalf("a POST while another is in progress was answered before that one ended: %d %s", r.status, r.body)
	case <-time.After(200 * time.Millisecond):
	}

	release()
	assert.Equal(t, http.StatusOK, htRecv(t, first, "the POST in progress").status)
	assert.Equal(t, http.StatusOK, htRecv(t, second, "the POST that waited").status)
	got := ""
	for !strings.Contains(got, `"invocationId":"2"`) {
		r := htRecv(t, s.pollAsync(token), "a poll")
		require.Equal(t, http.StatusOK, r.status, r.body)
		got += r.body
	}
	assert.Contains(t, got, `{"type":3,"invocationId":"2","result":42}`, "the waiting POST's invocation ran")
	// Sends work again.
	next := s.pollAsync(token)
	require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("1", "Add", 2, 2)).status)
	assert.Equal(t, `{"type":3,"invocationId":"1","result":4}`+"\x1e", htRecv(t, next, "the poll").body)
}

func TestLongPollDelete(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.lpConnect(htJSONHandshake)

	open := s.heldPoll(token)
	d := s.del(token)
	assert.Equal(t, http.StatusAccepted, d.status, d.body)
	r := htRecv(t, open, "the poll open at DELETE")
	assert.Equal(t, http.StatusNoContent, r.status, "the open poll ends the connection cleanly")
	assert.Empty(t, r.body)

	// A POST finds the connection closed at once.
	r = s.post(token, htPing)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	// A poll racing the teardown may still get 204; then 404.
	htEventually(t, "a poll after DELETE gets 404", func() bool {
		r := s.poll(token)
		require.Contains(t, []int{http.StatusNoContent, http.StatusNotFound}, r.status, r.body)
		return r.status == http.StatusNotFound
	})
	r = s.post(token, htPing)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	r = s.del(token)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
}

func TestLongPollDisconnectTimeout(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithLongPollTimeouts(200*time.Millisecond, 300*time.Millisecond))
	token, _ := s.lpConnect(htJSONHandshake)
	start := time.Now()
	// No more polls: the connection must be closed after the disconnect
	// timeout.
	htEventually(t, "the connection without polls is closed", func() bool {
		r := s.post(token, htPing)
		require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, r.status, r.body)
		return r.status == http.StatusNotFound
	})
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "not before the disconnect timeout")
}

func TestLongPollHasNoKeepAlivePings(t *testing.T) {
	s := startHTTPHub(t, newHTHub(),
		signalr.WithKeepAliveInterval(50*time.Millisecond),
		signalr.WithLongPollTimeouts(100*time.Millisecond, htWait))
	token, _ := s.lpConnect(htJSONHandshake)
	// Each poll is held for the 100 ms poll timeout: two keep-alive
	// intervals on a connection that has sent nothing.
	for range 3 {
		r := s.poll(token)
		assert.Equal(t, http.StatusOK, r.status)
		assert.Empty(t, r.body, "no Pings on long polling")
	}
}

func TestLongPollMessagePack(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.lpConnect(htMsgpackHandshake) // the handshake is JSON text

	mp := protocol.MessagePack{}
	req, err := mp.AppendMessage(nil, &protocol.Invocation{InvocationID: "7", Target: "Add", Arguments: []any{40, 2}})
	require.NoError(t, err)
	next := s.pollAsync(token)
	r := s.postBinary(token, req)
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = htRecv(t, next, "the poll")
	require.Equal(t, http.StatusOK, r.status)

	msg, n, err := mp.ParseMessage([]byte(r.body), 1<<20)
	require.NoError(t, err)
	require.Equal(t, len(r.body), n, "one framed message: % x", r.body)
	c, ok := msg.(*protocol.Completion)
	require.True(t, ok, "%#v", msg)
	assert.Equal(t, "7", c.InvocationID)
	assert.Empty(t, c.Error)
	require.True(t, c.HasResult)
	var sum int
	require.NoError(t, mp.Unmarshal(c.Result.(protocol.Raw), &sum))
	assert.Equal(t, 42, sum)
}

func TestLongPollShutdownSendsClose(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.lpConnect(htJSONHandshake)
	s.settleLP(token)

	open := s.heldPoll(token)
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx))
	r := htRecv(t, open, "the open poll")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, `{"type":7,"allowReconnect":true}`+"\x1e", r.body)

	htEventually(t, "a POST after the Close gets 404", func() bool {
		r := s.post(token, htPing)
		require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, r.status, r.body)
		return r.status == http.StatusNotFound
	})
}

func TestLongPollPollAfterShutdown(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.lpConnect(htJSONHandshake)
	s.settleLP(token)

	open := s.heldPoll(token)
	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx))
	r := htRecv(t, open, "the open poll")
	require.Equal(t, `{"type":7,"allowReconnect":true}`+"\x1e", r.body)

	// The official client polls once more before it acts on the Close.
	r = s.poll(token)
	assert.Contains(t, []int{http.StatusNoContent, http.StatusNotFound}, r.status, "a poll after the Close: %d %s", r.status, r.body)
}

// ---- Both HTTP transports ----

func TestHTTPRequestBodyLimit(t *testing.T) {
	const limit = 1024
	// exactly builds a body of n bytes: a non-blocking Echo padded to size.
	exactly := func(t *testing.T, n int) string {
		b := hubtest.InvocationJSON("", "Echo", "")
		b = hubtest.InvocationJSON("", "Echo", strings.Repeat("p", n-len(b)))
		require.Len(t, b, n)
		return b
	}
	t.Run("LongPolling", func(t *testing.T) {
		s := startHTTPHub(t, newHTHub(), signalr.WithMaxRequestBodySize(limit))
		token, _ := s.lpConnect(htJSONHandshake)
		assert.Equal(t, http.StatusOK, s.post(token, exactly(t, limit)).status, "a body at the limit is fine")

		r := s.post(token, hubtest.InvocationJSON("", "Echo", strings.Repeat("x", 4096)))
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, r.body)
		r = s.post(token, htPing)
		assert.Equal(t, http.StatusNotFound, r.status, "the connection ended: %s", r.body)
		r = s.poll(token)
		assert.Contains(t, []int{http.StatusNoContent, http.StatusNotFound}, r.status, r.body)
	})
	t.Run("ServerSentEvents", func(t *testing.T) {
		s := startHTTPHub(t, newHTHub(), signalr.WithMaxRequestBodySize(limit))
		st, token := s.sseConnect()
		assert.Equal(t, http.StatusOK, s.post(token, exactly(t, limit)).status, "a body at the limit is fine")

		r := s.post(token, hubtest.InvocationJSON("", "Echo", strings.Repeat("x", 4096)))
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, r.body)
		st.expectEnd()
		r = s.post(token, htPing)
		assert.Equal(t, http.StatusNotFound, r.status, "the connection ended: %s", r.body)
	})
}

func TestHTTPTransportMismatch(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	sse := http.Header{"Accept": {"text/event-stream"}}

	t.Run("POST on a WebSocket connection", func(t *testing.T) {
		s := s.withT(t)
		token, _ := s.negotiate()
		ws := hubtest.DialRaw(t, s.url, "?id="+token)
		ws.SendText(htJSONHandshake)
		require.Equal(t, "{}\x1e", ws.ReadText())
		htSettleWS(t, ws)
		r := s.post(token, htPing)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status, r.body)
		assert.NotEmpty(t, r.header.Get("Allow"))
		r = s.poll(token)
		assert.Equal(t, http.StatusBadRequest, r.status, "long poll on a WebSocket connection: %s", r.body)
		r = s.del(token)
		assert.Equal(t, http.StatusBadRequest, r.status, "DELETE on a WebSocket connection: %s", r.body)
	})
	t.Run("poll and DELETE on an SSE connection", func(t *testing.T) {
		s := s.withT(t)
		st, token := s.sseConnect()
		r := s.poll(token)
		assert.Equal(t, http.StatusBadRequest, r.status, r.body)
		r = s.del(token)
		assert.Equal(t, http.StatusBadRequest, r.status, r.body)
		// The connection is unharmed.
		require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("1", "Add", 2, 3)).status)
		assert.Equal(t, []map[string]any{{"type": float64(3), "invocationId": "1", "result": float64(5)}}, st.nextMessages())
	})
	t.Run("unknown ids", func(t *testing.T) {
		s := s.withT(t)
		for _, tc := range []struct {
			method string
			hdr    http.Header
		}{{http.MethodGet, nil}, {http.MethodGet, sse}, {http.MethodPost, nil}, {http.MethodDelete, nil}} {
			r := s.do(tc.method, "/hub?id=nosuchconnection", tc.hdr, strings.NewReader(""))
			assert.Equal(t, http.StatusNotFound, r.status, "%s %v: %s", tc.method, tc.hdr, r.body)
		}
	})
	t.Run("no id", func(t *testing.T) {
		s := s.withT(t)
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			r := s.do(m, "/hub", nil, strings.NewReader(""))
			assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", m, r.body)
		}
	})
}

func TestLongPollHandshakePostWithoutOpenPoll(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	token, _ := s.negotiate()
	require.Equal(t, http.StatusOK, s.poll(token).status)
	t.Cleanup(func() { _, _ = s.doErr(context.Background(), http.MethodDelete, "/hub?id="+token, nil, nil) })

	// A POST is answered once its body is read (.NET does not wait for
	// the application either); no poll is open.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := s.doErr(ctx, http.MethodPost, "/hub?id="+token, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, strings.NewReader(htJSONHandshake))
	require.NoError(t, err, "the handshake POST was not answered while no poll was open")
	assert.Equal(t, http.StatusOK, r.status)
	r = s.poll(token)
	assert.Equal(t, "{}\x1e", r.body)
}

func TestOtherTransportForALiveConnectionIs400(t *testing.T) {
	s := startHTTPHub(t, newHTHub())
	sse := http.Header{"Accept": {"text/event-stream"}}

	lpToken, _ := s.lpConnect(htJSONHandshake)
	r := s.do(http.MethodGet, "/hub?id="+lpToken, sse, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "SSE on a long-polling connection: %s", r.body)
	status, body := htWSDialStatus(t, s.url, "?id="+lpToken)
	assert.Equal(t, http.StatusBadRequest, status, "WebSocket on a long-polling connection: %s", body)

	_, sseToken := s.sseConnect()
	status, body = htWSDialStatus(t, s.url, "?id="+sseToken)
	assert.Equal(t, http.StatusBadRequest, status, "WebSocket on an SSE connection: %s", body)
}

// htWSDialStatus tries a WebSocket that must be refused and returns the
// status and body of the refusal.
func htWSDialStatus(t *testing.T, baseURL, query string) (int, string) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/hub"+query, nil)
	if err == nil {
		ws.Close()
		require.FailNow(t, "the WebSocket was accepted")
	}
	require.NotNil(t, resp, "%v", err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTransportsCanBeSwitchedOff(t *testing.T) {
	s := startHTTPHub(t, newHTHub(), signalr.WithTransports("WebSockets"))
	r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion=1", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]`, htTransportsJSON(t, r.body))

	token, _ := s.negotiate()
	r = s.do(http.MethodGet, "/hub?id="+token, http.Header{"Accept": {"text/event-stream"}}, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "SSE: %s", r.body)
	r = s.poll(token)
	assert.Equal(t, http.StatusBadRequest, r.status, "long polling: %s", r.body)
	// The token still opens a WebSocket.
	ws := hubtest.DialRaw(t, s.url, "?id="+token)
	ws.SendText(htJSONHandshake)
	assert.Equal(t, "{}\x1e", ws.ReadText())
	htSettleWS(t, ws)
}

func htTransportsJSON(t *testing.T, body string) string {
	t.Helper()
	var n struct {
		AvailableTransports json.RawMessage `json:"availableTransports"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &n), body)
	return string(n.AvailableTransports)
}

func TestNegotiateListsTransportsInOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []signalr.Option
		want string
	}{
		{"default", nil, `[
			{"transport":"WebSockets","transferFormats":["Text","Binary"]},
			{"transport":"ServerSentEvents","transferFormats":["Text"]},
			{"transport":"LongPolling","transferFormats":["Text","Binary"]}]`},
		{"JSON only", []signalr.Option{signalr.WithProtocols(protocol.JSON{})}, `[
			{"transport":"WebSockets","transferFormats":["Text"]},
			{"transport":"ServerSentEvents","transferFormats":["Text"]},
			{"transport":"LongPolling","transferFormats":["Text"]}]`},
		{"MessagePack only", []signalr.Option{signalr.WithProtocols(protocol.MessagePack{})}, `[
			{"transport":"WebSockets","transferFormats":["Binary"]},
			{"transport":"LongPolling","transferFormats":["Binary"]}]`},
		{"custom order", []signalr.Option{signalr.WithTransports("LongPolling", "ServerSentEvents")}, `[
			{"transport":"LongPolling","transferFormats":["Text","Binary"]},
			{"transport":"ServerSentEvents","transferFormats":["Text"]}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startHTTPHub(t, newHTHub(), tc.opts...)
			r := s.do(http.MethodPost, "/hub/negotiate?negotiateVersion=1", nil, nil)
			require.Equal(t, http.StatusOK, r.status)
			// Arrays compare in order: the list order is the preference.
			assert.JSONEq(t, tc.want, htTransportsJSON(t, r.body))
		})
	}
}

func TestShutdownDuringWebSocketHandshake(t *testing.T) {
	// Not an HTTP transport, but the same Shutdown path: Shutdown closes
	// every live connection, including one still writing its handshake
	// reply. Before e0510ab the Close message was written at the same time:
	// gorilla panicked "concurrent write to websocket connection" (a process
	// crash), and -race reported races on the connection's protocol fields.
	for range 30 {
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		h, err := signalr.New(newHTHub(), signalr.WithLogger(logger))
		require.NoError(t, err)
		srv := httptest.NewServer(h)
		const clients = 16
		done := make(chan struct{}, clients)
		for range clients {
			go func() {
				defer func() { done <- struct{}{} }()
				ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub", nil)
				if resp != nil && resp.Body != nil {
					resp.Body.Close()
				}
				if err != nil {
					return
				}
				defer ws.Close()
				_ = ws.WriteMessage(websocket.TextMessage, []byte(htJSONHandshake))
				_ = ws.SetReadDeadline(time.Now().Add(htWait))
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), htWait)
		assert.NoError(t, h.Shutdown(ctx))
		cancel()
		for range clients {
			<-done
		}
		srv.Close()
	}
}

type quitHub struct{}

func (quitHub) Quit(c *signalr.Context) { c.Abort() }

// TestLongPollAfterServerClose: the poll after the one that carried the
// server's Close message gets 204 (the connection is over), as in ASP.NET
// Core, not 404, which the official Java client reports as the close
// reason; only once, and never for a connection that timed out.
func TestLongPollAfterServerClose(t *testing.T) {
	s := startHTTPHub(t, quitHub{}, signalr.WithLongPollTimeouts(time.Second, 300*time.Millisecond))
	token, _ := s.lpConnect(htJSONHandshake)
	require.Equal(t, http.StatusOK, s.post(token, hubtest.InvocationJSON("", "Quit")).status)
	got := ""
	for !strings.Contains(got, `"type":7`) {
		r := s.poll(token)
		require.Equal(t, http.StatusOK, r.status, "a poll before the Close message: %s", r.body)
		got += r.body
	}
	r := s.poll(token)
	assert.Equal(t, http.StatusNoContent, r.status, "the poll after the Close message: %s", r.body)
	r = s.poll(token)
	assert.Equal(t, http.StatusNotFound, r.status, "a second poll after the Close message: %s", r.body)

	// A connection the client left (no poll within the disconnect timeout).
	idle, _ := s.lpConnect(htJSONHandshake)
	deadline := time.Now().Add(htWait)
	for {
		r = s.post(idle, htPing)
		if r.status == http.StatusNotFound || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, http.StatusNotFound, r.status, "the idle connection ended")
	r = s.poll(idle)
	assert.Equal(t, http.StatusNotFound, r.status, "a poll of a timed-out connection: %s", r.body)
}
