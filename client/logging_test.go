package client_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/client"
)

type traceKey struct{}

// ctxRecord is a log record as a custom slog.Handler sees it.
type ctxRecord struct {
	msg   string
	trace any
	attrs map[string]string
}

// ctxHandler keeps every record with the trace found in its context.
type ctxHandler struct {
	mu   *sync.Mutex
	recs *[]ctxRecord
	pre  []slog.Attr
}

func (*ctxHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := ctxRecord{msg: r.Message, trace: ctx.Value(traceKey{}), attrs: map[string]string{}}
	for _, a := range h.pre {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &ctxHandler{mu: h.mu, recs: h.recs, pre: append(append([]slog.Attr(nil), h.pre...), as...)}
}

func (h *ctxHandler) WithGroup(string) slog.Handler { return h }

func (h *ctxHandler) records() []ctxRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ctxRecord(nil), *h.recs...)
}

// The client's records carry the values of the context given to Start,
// the component attribute, and for a connection's records its id and
// transport: a call of a method the client has no handler for, a
// connection the server closes, the reconnect.
func TestLogRecordsCarryStartContext(t *testing.T) {
	for _, cb := range combos {
		t.Run(cb.String(), func(t *testing.T) {
			srv := startServer(t, kindsHub{}, nil)
			h := &ctxHandler{mu: &sync.Mutex{}, recs: new([]ctxRecord)}
			cl := newClient(t, srv.URL, cb, client.WithLogger(slog.New(h)), client.WithAutomaticReconnect(10*time.Millisecond))
			done := make(chan struct{}, 1)
			require.NoError(t, cl.On("done", func() { done <- struct{}{} }))
			reconnected := make(chan string, 1)
			cl.OnReconnected(func(id string) { reconnected <- id })
			ctx := ctxT(t)
			require.NoError(t, cl.Start(context.WithValue(ctx, traceKey{}, "trace-9")))
			first := cl.ConnectionID()
			require.NoError(t, cl.Invoke(ctx, nil, "Spam", []string{"tick"}))
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatal("no done")
			}
			require.NoError(t, srv.hub.CloseConnection(ctx, first, "bye", true))
			select {
			case <-reconnected:
			case <-ctx.Done():
				t.Fatal("no reconnect")
			}
			require.NoError(t, cl.Stop(ctx))

			msgs := map[string]ctxRecord{}
			for _, r := range h.records() {
				msgs[r.msg] = r
				assert.Equal(t, "trace-9", r.trace, "record %q", r.msg)
				assert.Equal(t, "signalr-client", r.attrs["component"], "record %q", r.msg)
				assert.NotContains(t, r.msg, "signalr client:", "record %q", r.msg)
			}
			require.Contains(t, msgs, "no handler for a client method; later calls of it are logged at Debug")
			rec := msgs["no handler for a client method; later calls of it are logged at Debug"]
			assert.Equal(t, first, rec.attrs["connection"])
			assert.Equal(t, cb.transport, rec.attrs["transport"])
			assert.Contains(t, msgs, "connection lost; reconnecting")
			assert.Contains(t, msgs, "reconnected")
		})
	}
}
