// Package transport carries SignalR frames over HTTP: the negotiate
// response, WebSockets (github.com/gorilla/websocket), and the HTTP error
// replies the official clients expect. It knows nothing of hubs; the signalr
// package drives it through the Conn interface.
package transport

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Conn is one client's transport: a duplex of frames. A frame is a WebSocket
// message (and, for the HTTP transports, a POST body or one event or poll
// response) holding one or more whole protocol messages.
//
// One goroutine may call NextReader at a time. WriteFrame and Close are
// safe for concurrent use; Close may be called more than once.
type Conn interface {
	// NextReader returns the next inbound frame. The reader is valid until
	// the next call. binary reports the frame type. A clean close by the peer
	// is reported as io.EOF.
	NextReader() (binary bool, r io.Reader, err error)
	// WriteFrame writes parts, concatenated, as one frame of the given type.
	WriteFrame(binary bool, parts ...[]byte) error
	// Close ends the transport: a WebSocket sends a normal closure (1000)
	// and closes the TCP connection once the peer has answered with its
	// close frame or WebSocketOptions.CloseTimeout has passed, without
	// waiting for that. It unblocks NextReader and WriteFrame.
	Close() error
	// Name is the transport's name as listed in a negotiate response.
	Name() string
}

// Transport names, as used in negotiate responses and client options.
const (
	WebSockets       = "WebSockets"
	ServerSentEvents = "ServerSentEvents"
	LongPolling      = "LongPolling"
)

// ErrIdle is returned by a Conn's NextReader when nothing has arrived for a
// while (see WebSocketOptions.IdleAfter). The connection is fine: the
// caller should call NextReader again, ideally on a new goroutine, whose
// small stack is all a reader that waits needs.
var ErrIdle = errors.New("transport: idle")

// ErrClosed is returned by WriteFrame after Close, and by a WebSocket's
// NextReader once Close has been called.
var ErrClosed = errors.New("transport: closed")

// Error writes an HTTP error reply with a plain-text message, as the
// official server does for transport failures (404 for an unknown id, 409
// for a second socket, ...).
func Error(w http.ResponseWriter, status int, format string, args ...any) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, format, args...)
}
