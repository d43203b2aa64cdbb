// Package transport carries SignalR frames over HTTP: the negotiate
// response, WebSockets (github.com/gorilla/websocket), Server-Sent Events,
// long polling, and the HTTP error replies the official clients expect.
// Each transport serves its own requests through a Handler (see
// Handlers) and hands its connections, as a Conn that reports its
// Capabilities, to a Host. It knows nothing of hubs; the signalr package
// is the Host.
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

// Capabilities is what a transport can do besides carrying frames. The
// server asks for them with Caps and never looks at a transport's name or
// type to decide how to drive it.
type Capabilities struct {
	// TypedFrames: each frame is one record typed text or binary (a
	// WebSocket message) and can be written the moment it is ready.
	// Without it, frames are stretches of one byte stream (an event, a
	// poll's response, a POST body) that may hold several messages, and
	// the server queues what it writes, the handshake reply included.
	TypedFrames bool
	// Binary: the transport carries the binary transfer format
	// (MessagePack); Server-Sent Events carry text only.
	Binary bool
	// Resumable: a connection that loses this transport may go on over a
	// new one of the same kind (stateful reconnect).
	Resumable bool
	// Pings: the server sends keep-alive pings and closes a connection
	// whose client sends nothing within the client timeout. Long polling
	// has a liveness rule of its own (the disconnect timeout).
	Pings bool
	// WaitsForPoll: the transport writes only when the client asks (a
	// long poll). The writer calls WaitWritable before it gathers a
	// batch, so that one response carries everything queued meanwhile,
	// and it waits on a goroutine of its own.
	WaitsForPoll bool
	// Requests: the client reaches the connection with later HTTP
	// requests (POSTs, polls, DELETE) that name its token; behind a load
	// balancer without sticky sessions they may reach another server.
	Requests bool
}

// Capable is implemented by a Conn that reports its capabilities. A Conn
// that does not is a full-duplex message transport, as a WebSocket is
// (see Caps).
type Capable interface {
	Capabilities() Capabilities
}

// Caps returns what c can do: c's Capabilities, or, for a Conn that does
// not implement Capable, those of a WebSocket.
func Caps(c Conn) Capabilities {
	if cc, ok := c.(Capable); ok {
		return cc.Capabilities()
	}
	return Capabilities{TypedFrames: true, Binary: true, Resumable: true, Pings: true}
}

// WaitWritable blocks until c can take a write (see
// Capabilities.WaitsForPoll). It returns nil at once for a transport that
// can always write.
func WaitWritable(c Conn) error {
	if w, ok := c.(Waiter); ok {
		return w.WaitWritable()
	}
	return nil
}

// StopReading tells c that its reader will ask for no more frames: a
// transport that answers a POST once its body has been read (Server-Sent
// Events, long polling) answers the last one at once instead of when the
// connection closes. Only the reader may call it.
func StopReading(c Conn) {
	if s, ok := c.(interface{ StopReading() }); ok {
		s.StopReading()
	}
}

// TimedOut reports whether c ended for want of the client: a long-polling
// connection whose client sent no poll within the disconnect timeout.
func TimedOut(c Conn) bool {
	t, ok := c.(interface{ TimedOut() bool })
	return ok && t.TimedOut()
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
