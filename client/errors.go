package client

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrNotConnected is returned by Send, Invoke and Stream when the
	// client is not in the Connected state (before Start, while
	// reconnecting, after Stop).
	ErrNotConnected = errors.New("signalr client: not connected")
	// ErrConnectionClosed ends calls and streams still waiting when their
	// connection ends; the cause, if any, is wrapped beside it.
	ErrConnectionClosed = errors.New("signalr client: connection closed")
	// ErrNotDisconnected is returned by Start when the client is not in
	// the Disconnected state.
	ErrNotDisconnected = errors.New("signalr client: Start needs the Disconnected state")
	// ErrStopped is returned by a Start that Stop interrupted.
	ErrStopped = errors.New("signalr client: stopped")
	// ErrServerTimeout ends a connection on which nothing was received for
	// the server timeout.
	ErrServerTimeout = errors.New("signalr client: server timeout elapsed without receiving a message from the server")
	// ErrReconnectFailed is given to OnClosed when the reconnect policy
	// gave up; the last attempt's error is wrapped beside it.
	ErrReconnectFailed = errors.New("signalr client: reconnect attempts exhausted")
)

// ServerError is the error of an invocation or stream that the server
// completed with an error; Message is the server's text.
type ServerError struct {
	Message string
}

// Error returns Message, the server's text.
func (e *ServerError) Error() string { return e.Message }

// CloseError reports a Close message from the server; Message is its
// error, empty for a close without one. With AllowReconnect, automatic
// reconnect applies.
type CloseError struct {
	Message        string
	AllowReconnect bool
}

// Error returns Message with a prefix.
func (e *CloseError) Error() string {
	if e.Message == "" {
		return "signalr client: the server closed the connection"
	}
	return "signalr client: server returned an error on close: " + e.Message
}

// HandshakeError is the server's refusal of the handshake, such as an
// unsupported protocol.
type HandshakeError struct {
	Message string
}

// Error returns Message with a prefix.
func (e *HandshakeError) Error() string {
	return "signalr client: server returned handshake error: " + e.Message
}

// NegotiateError is an error reported by the server in a negotiate
// response ({"error": "..."}).
type NegotiateError struct {
	Message string
}

// Error returns Message with a prefix.
func (e *NegotiateError) Error() string { return "signalr client: negotiate: " + e.Message }

// StatusError is an HTTP response with an unexpected status: a refused
// negotiate, WebSocket upgrade, send or poll. Body holds the start of the
// response body, which servers fill with a reason.
type StatusError struct {
	Op         string // "negotiate", "WebSocket", "send", "poll", ...
	StatusCode int
	Body       string
}

// Error names the operation, the status and the start of the body.
func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("signalr client: %s: unexpected status %d", e.Op, e.StatusCode)
	}
	return fmt.Sprintf("signalr client: %s: unexpected status %d: %s", e.Op, e.StatusCode, e.Body)
}

// TransportError collects why each transport failed to open when none
// could. errors.Is and errors.As look through it.
type TransportError struct {
	Errs []error
}

// Error joins the errors of the transports tried.
func (e *TransportError) Error() string {
	if len(e.Errs) == 0 {
		return "signalr client: none of the transports the client allows are offered by the server"
	}
	return "signalr client: unable to connect with any of the available transports: " + errors.Join(e.Errs...).Error()
}

// Unwrap returns the errors of the transports tried.
func (e *TransportError) Unwrap() []error { return e.Errs }

// closedError is the error of calls pending when their connection ended.
func closedError(cause error) error {
	if cause == nil || errors.Is(cause, ErrConnectionClosed) {
		if cause == nil {
			return ErrConnectionClosed
		}
		return cause
	}
	return fmt.Errorf("%w: %w", ErrConnectionClosed, cause)
}
