package transport_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gosignalr/signalr/transport"
)

type capHidden struct{ http.ResponseWriter }

type capUnwrap struct{ http.ResponseWriter }

func (w capUnwrap) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type capNilUnwrap struct{ http.ResponseWriter }

func (capNilUnwrap) Unwrap() http.ResponseWriter { return nil }

// capBare can neither flush nor hijack, nor unwrap.
type capBare struct{ h http.Header }

func (w capBare) Header() http.Header       { return w.h }
func (capBare) Write(p []byte) (int, error) { return len(p), nil }
func (capBare) WriteHeader(int)             {}

type capHijacker struct{ capBare }

func (capHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, nil }

type capFlushError struct{ capBare }

func (capFlushError) FlushError() error { return nil }

func TestCheckResponseWriter(t *testing.T) {
	rec := httptest.NewRecorder() // flushes, cannot hijack
	bare := capBare{h: http.Header{}}
	for _, tc := range []struct {
		name      string
		w         http.ResponseWriter
		ws, sse   bool // supported
		wantError string
	}{
		{"recorder", rec, false, true, "hijack the connection"},
		{"hidden recorder", capHidden{rec}, false, false, "Unwrap() http.ResponseWriter"},
		{"unwrapped recorder", capUnwrap{rec}, false, true, ""},
		{"two unwraps", capUnwrap{capUnwrap{rec}}, false, true, ""},
		{"hijacker", capHijacker{bare}, true, false, "flush (http.Flusher)"},
		{"hidden hijacker", capHidden{capHijacker{bare}}, false, false, "capHidden"},
		{"unwrapped hijacker", capUnwrap{capHijacker{bare}}, true, false, ""},
		{"FlushError", capFlushError{bare}, false, true, ""},
		{"nil Unwrap", capNilUnwrap{rec}, false, false, "Unwrap returned nil"},
	} {
		ws := transport.CheckResponseWriter(transport.WebSockets, tc.w)
		sse := transport.CheckResponseWriter(transport.ServerSentEvents, tc.w)
		assert.Equal(t, tc.ws, ws == nil, "%s: WebSockets: %v", tc.name, ws)
		assert.Equal(t, tc.sse, sse == nil, "%s: SSE: %v", tc.name, sse)
		if tc.wantError != "" {
			msg := ""
			if ws != nil {
				msg += ws.Error()
			}
			if sse != nil {
				msg += sse.Error()
			}
			assert.Contains(t, msg, tc.wantError, tc.name)
		}
		assert.NoError(t, transport.CheckResponseWriter(transport.LongPolling, tc.w), "%s: long polling needs neither", tc.name)
	}
}
