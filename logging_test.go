package signalr_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/transport"
)

// logTraceKey is the context key a middleware stores an app's trace id
// under, as a router's request-id middleware would.
type logTraceKey struct{}

const logTraceID = "trace-5f2c"

// logRecord is one record as a custom slog.Handler sees it: its level,
// message, the trace id found in its context and its attributes (those
// given to With included).
type logRecord struct {
	level slog.Level
	msg   string
	trace any
	attrs map[string]string
}

// recordingHandler keeps every record, at every level.
type recordingHandler struct {
	mu   *sync.Mutex
	recs *[]logRecord
	pre  []slog.Attr
}

func newRecordingHandler() *recordingHandler {
	return &recordingHandler{mu: &sync.Mutex{}, recs: new([]logRecord)}
}

func (*recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, trace: ctx.Value(logTraceKey{}), attrs: map[string]string{}}
	for _, a := range h.pre {
		rec.attrs[a.Key] = a.Value.Resolve().String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	pre := append(append([]slog.Attr(nil), h.pre...), as...)
	return &recordingHandler{mu: h.mu, recs: h.recs, pre: pre}
}

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

func (h *recordingHandler) records() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRecord(nil), *h.recs...)
}

// find returns the records with message msg.
func (h *recordingHandler) find(msg string) []logRecord {
	var out []logRecord
	for _, r := range h.records() {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// startLoggedHub serves hub behind a middleware that puts logTraceID in
// every request's context, logging to a recordingHandler.
func startLoggedHub(t *testing.T, hub any, opts ...signalr.Option) (*htServer, *recordingHandler) {
	t.Helper()
	rh := newRecordingHandler()
	base := []signalr.Option{signalr.WithLogger(slog.New(rh)), signalr.WithUserIDFunc(func(*http.Request) string { return "alice" })}
	h, err := signalr.New(hub, append(base, opts...)...)
	require.NoError(t, err)
	withTrace := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), logTraceKey{}, logTraceID)))
	})
	mux := http.NewServeMux()
	mux.Handle("/hub", withTrace)
	mux.Handle("/hub/", withTrace)
	srv := httptest.NewServer(mux)
	tr := &http.Transport{ResponseHeaderTimeout: 10 * time.Second}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), htWait)
		defer cancel()
		assert.NoError(t, h.Shutdown(ctx))
		srv.Close()
		tr.CloseIdleConnections()
	})
	return &htServer{t: t, hub: h, url: srv.URL, client: &http.Client{Timeout: 10 * time.Second, Transport: tr}}, rh
}

// A connection's whole life on every transport (negotiate, handshake, an
// unknown method, a bad argument, bad input that closes it) logs only
// records that carry the context value of the request, a component
// attribute, and, for the connection's records, its id, transport,
// protocol and user.
func TestLogRecordsCarryRequestContextAndAttributes(t *testing.T) {
	s, rh := startLoggedHub(t, newHTHub())
	const (
		unknown = `{"type":1,"invocationId":"u","target":"NoSuchMethod","arguments":[]}` + "\x1e"
		badArg  = `{"type":1,"invocationId":"a","target":"Add","arguments":["x",1]}` + "\x1e"
		bad     = `{"type":1,"target":` + "\x1e"
	)
	ids := map[string]string{} // transport -> connection id

	// WebSockets.
	token, id := s.negotiate()
	ids[transport.WebSockets] = id
	ws := hubtest.DialRaw(t, s.url, "?id="+token)
	ws.SendText(htJSONHandshake)
	require.Equal(t, "{}\x1e", ws.ReadText())
	ws.SendText(unknown)
	assert.Contains(t, ws.ReadMessage()["error"], "Method does not exist")
	ws.SendText(badArg)
	assert.Contains(t, ws.ReadMessage()["error"], "Failed to invoke 'Add'")
	ws.SendText(bad)
	closeMsg, _ := ws.ExpectClosed()
	require.NotNil(t, closeMsg)

	// Server-Sent Events.
	token, id = s.negotiate()
	ids[transport.ServerSentEvents] = id
	st := s.openSSE(token, nil)
	require.Equal(t, http.StatusOK, s.post(token, htJSONHandshake).status)
	require.Equal(t, "data: {}\x1e\r\n\r\n", st.nextEvent())
	require.Equal(t, http.StatusOK, s.post(token, unknown).status)
	assert.Contains(t, st.nextMessages()[0]["error"], "Method does not exist")
	require.Equal(t, http.StatusOK, s.post(token, badArg).status)
	assert.Contains(t, st.nextMessages()[0]["error"], "Failed to invoke 'Add'")
	s.post(token, bad)
	st.expectEnd()

	// Long polling.
	token, id = s.negotiate()
	ids[transport.LongPolling] = id
	s.lpOpen(token)
	poll := s.pollAsync(token)
	require.Equal(t, http.StatusOK, s.post(token, unknown).status)
	assert.Contains(t, htRecv(t, poll, "the poll").body, "Method does not exist")
	poll = s.pollAsync(token)
	require.Equal(t, http.StatusOK, s.post(token, badArg).status)
	assert.Contains(t, htRecv(t, poll, "the poll").body, "Failed to invoke 'Add'")
	s.post(token, bad)
	htEventually(t, "the long-polling connection ends", func() bool {
		return s.poll(token).status == http.StatusNotFound
	})

	ctx, cancel := context.WithTimeout(context.Background(), htWait)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx)) // every connection's last record is written

	recs := rh.records()
	require.NotEmpty(t, recs)
	for _, r := range recs {
		assert.Equal(t, logTraceID, r.trace, "record %q lacks the request's context", r.msg)
		assert.Equal(t, "signalr", r.attrs["component"], "record %q lacks the component", r.msg)
		assert.NotContains(t, r.msg, "signalr:", "record %q: the component is an attribute, not a prefix", r.msg)
	}
	for tr, id := range ids {
		var msgs []string
		for _, r := range recs {
			if r.attrs["connection"] != id {
				continue
			}
			msgs = append(msgs, r.msg)
			assert.Equal(t, tr, r.attrs["transport"], "record %q", r.msg)
			assert.Equal(t, "alice", r.attrs["user"], "record %q", r.msg)
			assert.Equal(t, "json", r.attrs["protocol"], "record %q", r.msg)
		}
		for _, want := range []string{"unknown hub method", "invalid arguments", "closing connection after bad input", "connection closed"} {
			assert.Contains(t, msgs, want, "%s: the connection's records", tr)
		}
	}
}

// logHub asks its caller for a client result, or waits for its
// connection to end.
type logHub struct{ waiting chan struct{} }

func (*logHub) Ask(c *signalr.Context) (string, error) {
	var s string
	err := c.Clients().Client(c.ConnectionID()).Invoke(c, &s, "ask")
	return s, err
}

func (h *logHub) Wait(ctx context.Context) error {
	close(h.waiting)
	<-ctx.Done()
	return ctx.Err()
}

func (*logHub) Fail() error { return errors.New("the database is down") }

// Failures a client causes (a bad argument, an unknown method, a refused
// client result, a disconnect while a method runs) are logged below
// Error; a hub method's own failure is logged at Error.
func TestClientCausedFailuresLogBelowError(t *testing.T) {
	hub := &logHub{waiting: make(chan struct{})}
	s, rh := startLoggedHub(t, hub)
	ws := hubtest.DialRaw(t, s.url, "")
	ws.SendText(htJSONHandshake)
	require.Equal(t, "{}\x1e", ws.ReadText())

	ws.SendText(`{"type":1,"invocationId":"1","target":"Ask","arguments":[42]}` + "\x1e")
	assert.Contains(t, ws.ReadMessage()["error"], "Failed to invoke 'Ask'")
	ws.SendText(`{"type":1,"invocationId":"2","target":"Nope","arguments":[]}` + "\x1e")
	assert.Contains(t, ws.ReadMessage()["error"], "Method does not exist")

	ws.SendText(`{"type":1,"invocationId":"3","target":"Ask","arguments":[]}` + "\x1e")
	ask := ws.ReadMessage()
	require.Equal(t, "ask", ask["target"], "%v", ask)
	ws.SendText(`{"type":3,"invocationId":"` + ask["invocationId"].(string) + `","error":"Client didn't provide a result."}` + "\x1e")
	assert.Contains(t, ws.ReadMessage()["error"], "An unexpected error occurred invoking 'Ask'")

	ws.SendText(`{"type":1,"invocationId":"4","target":"Fail","arguments":[]}` + "\x1e")
	assert.Contains(t, ws.ReadMessage()["error"], "An unexpected error occurred invoking 'Fail'")

	ws.SendText(`{"type":1,"invocationId":"5","target":"Wait","arguments":[]}` + "\x1e")
	select {
	case <-hub.waiting:
	case <-time.After(htWait):
		t.Fatal("Wait did not start")
	}
	require.NoError(t, ws.WS.Close()) // the client goes away while Wait runs
	htEventually(t, "Wait's failure is logged", func() bool {
		return len(rh.find("hub method failed")) == 3
	})

	for _, r := range rh.records() {
		if r.attrs["method"] == "Fail" {
			assert.Equal(t, slog.LevelError, r.level, "a hub method's own failure is for the operator")
			continue
		}
		assert.Less(t, r.level, slog.LevelError, "record %q (%v) at %v", r.msg, r.attrs, r.level)
	}
	for _, msg := range []string{"invalid arguments", "unknown hub method"} {
		recs := rh.find(msg)
		require.Len(t, recs, 1, msg)
		assert.Equal(t, slog.LevelDebug, recs[0].level, msg)
	}
	levels := map[string]slog.Level{}
	for _, r := range rh.find("hub method failed") {
		levels[r.attrs["method"]+"/"+r.attrs["error"]] = r.level
	}
	assert.Equal(t, map[string]slog.Level{
		"Ask/signalr: client error: Client didn't provide a result.": slog.LevelInfo,
		"Fail/the database is down":                                  slog.LevelError,
		"Wait/context canceled":                                      slog.LevelInfo,
	}, levels)
}
