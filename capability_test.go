package signalr_test

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

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// mwLog collects a logger's output from many goroutines.
type mwLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *mwLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *mwLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mwOpaqueWriter is what a logging or metrics middleware often does: it
// wraps the ResponseWriter and hides everything but Header, Write and
// WriteHeader.
type mwOpaqueWriter struct{ http.ResponseWriter }

// mwUnwrappingWriter is the same wrapper done right.
type mwUnwrappingWriter struct{ http.ResponseWriter }

func (w mwUnwrappingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// mwStartHub serves a hub at /hub behind a middleware that wraps the
// ResponseWriter with wrap, and returns the server's URL and its log.
func mwStartHub(t *testing.T, wrap func(http.ResponseWriter) http.ResponseWriter) (string, *mwLog) {
	t.Helper()
	log := &mwLog{}
	h, err := signalr.New(hubtest.Hub{}, signalr.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	require.NoError(t, err)
	mw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(wrap(w), r) })
	mux := http.NewServeMux()
	mux.Handle("/hub", mw)
	mux.Handle("/hub/", mw)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
		srv.Close()
	})
	return srv.URL, log
}

// mwOpenEventStream negotiates and opens the event stream; it returns the
// status and, for an error, the body.
func mwOpenEventStream(t *testing.T, url string) (int, string) {
	t.Helper()
	status, body := negotiateWith(t, url, "")
	require.Equal(t, http.StatusOK, status)
	token := strings.Split(strings.Split(body, `"connectionToken":"`)[1], `"`)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/hub?id="+token, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	return resp.StatusCode, ""
}

func mwDial(t *testing.T, url string) (int, string) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(url, "http")+"/hub", nil)
	if err == nil {
		ws.Close()
		return http.StatusSwitchingProtocols, ""
	}
	require.NotNil(t, resp, "dial: %v", err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMiddlewareWithoutUnwrap(t *testing.T) {
	url, log := mwStartHub(t, func(w http.ResponseWriter) http.ResponseWriter { return mwOpaqueWriter{w} })

	status, body := mwDial(t, url)
	assert.Equal(t, http.StatusInternalServerError, status, "WebSocket")
	assert.Contains(t, body, "cannot serve WebSockets")
	assert.Regexp(t, `level=WARN .*transport=WebSockets .*hijack the connection.*Unwrap\(\) http.ResponseWriter`, log.String())

	status, body = mwOpenEventStream(t, url)
	assert.Equal(t, http.StatusInternalServerError, status, "event stream")
	assert.Contains(t, body, "cannot serve ServerSentEvents")
	assert.Regexp(t, `level=WARN .*transport=ServerSentEvents .*flush.*Unwrap\(\) http.ResponseWriter`, log.String())

	// Long polling needs neither: a client that falls back still works.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(url + "/hub")
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx), "the client falls back to long polling")
	defer c.Stop(context.Background())
	var sum int
	require.NoError(t, c.Invoke(ctx, &sum, "Add", 40, 2))
	assert.Equal(t, 42, sum)
}

func TestMiddlewareWithUnwrap(t *testing.T) {
	url, log := mwStartHub(t, func(w http.ResponseWriter) http.ResponseWriter { return mwUnwrappingWriter{w} })
	status, body := mwDial(t, url)
	assert.Equal(t, http.StatusSwitchingProtocols, status, body)
	status, body = mwOpenEventStream(t, url)
	assert.Equal(t, http.StatusOK, status, body)
	assert.NotContains(t, log.String(), "level=WARN")
}
