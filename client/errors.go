package client

import (
	"errors"
	"fmt"
	"strings"
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
//
// The server's text says why the call failed in words only, so ServerError
// also matches, with errors.Is, the sentinel of the few failures that
// ASP.NET Core SignalR (and a gosignalr hub) report in fixed words:
// [ErrMethodNotFound], [ErrUnauthorized] and [ErrBindingFailed]. Any other
// text (an error the hub method returned, a limit) matches none of them.
//
//	var sum int
//	err := c.Invoke(ctx, &sum, "Add", 1, 2)
//	switch {
//	case errors.Is(err, client.ErrMethodNotFound): // the hub has no Add
//	case errors.Is(err, client.ErrUnauthorized): // a policy refused the call
//	case errors.Is(err, client.ErrBindingFailed): // the arguments do not fit
//	}
type ServerError struct {
	Message string
}

// Error returns Message, the server's text.
func (e *ServerError) Error() string { return e.Message }

// Errors that a *ServerError matches with errors.Is, recognised by the
// server's fixed text (the method name in quotes varies). They are never
// returned on their own.
var (
	// ErrMethodNotFound: the hub has no method of that name.
	//	Failed to invoke '<method>' due to an error on the server. HubException: Method does not exist.
	ErrMethodNotFound = errors.New("signalr client: the hub has no such method")
	// ErrUnauthorized: an authorization policy of the hub method refused
	// the caller; the method did not run.
	//	Failed to invoke '<method>' because user is unauthorized
	ErrUnauthorized = errors.New("signalr client: the user is not authorized to invoke the method")
	// ErrBindingFailed: the arguments do not fit the hub method's
	// parameters (their number or types), or a streaming method was
	// called without streaming or the reverse; the method did not run.
	// The details follow the first text only when the server sends them
	// (a gosignalr hub always, ASP.NET Core with detailed errors).
	//	Failed to invoke '<method>' due to an error on the server.
	//	Failed to invoke '<method>' due to an error on the server. InvalidDataException: ...
	//	The client attempted to invoke the streaming '<method>' method with a non-streaming invocation.
	//	The client attempted to invoke the non-streaming '<method>' method with a streaming invocation.
	ErrBindingFailed = errors.New("signalr client: the arguments do not bind to the hub method")
)

// Is reports whether the server's text is that of ErrMethodNotFound,
// ErrUnauthorized or ErrBindingFailed, whichever target is.
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrMethodNotFound, ErrUnauthorized, ErrBindingFailed:
		return serverErrorKind(e.Message) == target
	}
	return false
}

// serverErrorKind maps ASP.NET Core SignalR's fixed invocation error texts
// (DefaultHubDispatcher) to their sentinels, nil for any other text.
func serverErrorKind(msg string) error {
	const (
		prefix     = "Failed to invoke '"
		notFound   = "' due to an error on the server. HubException: Method does not exist."
		binding    = "' due to an error on the server."
		unauthzEnd = "' because user is unauthorized"
	)
	if rest, ok := strings.CutPrefix(msg, "The client attempted to invoke the "); ok {
		// A streaming method called without streaming, or the reverse.
		if strings.HasSuffix(rest, " method with a non-streaming invocation.") ||
			strings.HasSuffix(rest, " method with a streaming invocation.") {
			return ErrBindingFailed
		}
		return nil
	}
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return nil
	}
	switch {
	case strings.HasSuffix(rest, notFound):
		return ErrMethodNotFound
	case strings.HasSuffix(rest, unauthzEnd):
		return ErrUnauthorized
	}
	// The method's name, then the binding text, then nothing or the
	// exception's type and message.
	if i := strings.Index(rest, binding); i >= 0 {
		if after := rest[i+len(binding):]; after == "" || after[0] == ' ' {
			return ErrBindingFailed
		}
	}
	return nil
}

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
