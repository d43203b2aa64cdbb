package signalr

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrHubClosed is returned by sends and client results once
	// Hub.Shutdown has begun, and is the reason OnDisconnected receives
	// for the connections Shutdown closes.
	ErrHubClosed = errors.New("signalr: hub closed")
	// ErrConnectionNotFound is returned by group operations on a connection
	// id the hub does not hold.
	ErrConnectionNotFound = errors.New("signalr: connection not found")
	// ErrConnectionClosed ends work tied to a connection that has closed.
	ErrConnectionClosed = errors.New("signalr: connection closed")
)

// ErrNoConnection is returned by calls that need the calling connection
// when there is none: from a hub policy, which runs before the connection
// exists.
var ErrNoConnection = errors.New("signalr: no connection: a hub policy runs before the connection exists")

// ErrClosedByHub is the reason OnDisconnected receives (compare with
// errors.Is) for a connection closed by [Context.CloseConnection] or
// [Hub.CloseConnection]; its text includes the reason given.
var ErrClosedByHub = errors.New("signalr: connection closed by the hub")

// Limit errors. Compare with errors.Is; the error's text names the limit.
var (
	// ErrNameTooLong is returned for a group name or user id longer than
	// [WithMaxGroupNameLength] or [WithMaxUserIDLength] allow.
	ErrNameTooLong = errors.New("signalr: name too long")
	// ErrTooManyGroups is returned by Groups.Add for a connection already
	// in [WithMaxGroupsPerConnection] groups.
	ErrTooManyGroups = errors.New("signalr: too many groups for one connection")
	// ErrPresenceTooLarge is returned by presence queries when a node's
	// share of the answer is too large to cross the backplane (see the
	// package documentation's Scaling section).
	ErrPresenceTooLarge = errors.New("signalr: presence answer too large")
)

// Flow control.
var (
	// ErrSlowConsumer is why a connection is closed when its client does
	// not read its messages: a write to it took longer than
	// [WithWriteTimeout], or it stayed behind ([WithMaxOutboundBuffer])
	// without progress for as long, or it fell past the hard cap. The
	// reason [Disconnecter] receives wraps it: test with errors.Is.
	ErrSlowConsumer = errors.New("signalr: slow consumer")
)

// ErrBackplaneInterrupted is the reason, given to OnDisconnected, of a
// connection closed because the node's link to the backplane was
// interrupted, so that messages from other nodes may have been lost. See
// the package documentation's Scaling section.
var ErrBackplaneInterrupted = errors.New("signalr: backplane interrupted, messages from other servers may have been lost")

// HubError is an error whose message is meant for the client. When a hub
// method returns a *HubError (possibly wrapped), the client receives
//
//	An unexpected error occurred invoking '<method>' on the server. HubException: <message>
//
// whatever the detailed-errors setting, as ASP.NET Core SignalR does for its
// HubException. Other errors reach the client without their text unless
// detailed errors are enabled with [WithDetailedErrors].
type HubError struct {
	Message string
}

// NewHubError returns a *HubError with a formatted message.
func NewHubError(format string, args ...any) *HubError {
	return &HubError{Message: fmt.Sprintf(format, args...)}
}

// Error returns Message, the text the client sees.
func (e *HubError) Error() string { return e.Message }

// SignatureError reports a hub type whose methods cannot be served. New
// returns it.
type SignatureError struct {
	Method string
	Reason string
}

// Error names the method and why it cannot be served.
func (e *SignatureError) Error() string {
	return fmt.Sprintf("signalr: hub method %s: %s", e.Method, e.Reason)
}

// AuthError refuses a request with its Message, which the client sees.
type AuthError struct {
	Message string
}

// Error returns Message.
func (e *AuthError) Error() string { return e.Message }

// ErrUnauthenticated is a generic refusal for an Authenticator to return.
var ErrUnauthenticated = &AuthError{Message: "Unauthorized"}

// ClientError is a client's answer to [SingleClientProxy.Invoke] when its
// handler failed or gave no result; Message is the client's text, such as
// "Client didn't provide a result.".
type ClientError struct {
	Message string
}

// Error returns the client's Message with a prefix.
func (e *ClientError) Error() string { return "signalr: client error: " + e.Message }

// StreamError is the error a client ended its upload with, as seen by an
// iter.Seq2[T, error] parameter.
type StreamError struct {
	Message string
}

// Error returns Message.
func (e *StreamError) Error() string { return e.Message }

// Why a connection closed. Besides [ErrSlowConsumer], [ErrClosedByHub],
// [ErrHubClosed] (the hub shut down) and [ErrBackplaneInterrupted], the
// reason a [Disconnecter]'s OnDisconnected receives wraps one of these
// when it applies; test with errors.Is. The reason is nil when the client
// closed the connection itself (a Close message, a WebSocket close, a
// DELETE, the event stream's request ending); any other reason is the
// transport's error (a connection lost without a close).
//
// OnDisconnected runs only for connections that OnConnected accepted, so
// a handshake reason is seen only in the "connection closed" debug log
// record (its reason attribute) and in the connection metrics.
var (
	// ErrClientTimeout: the client sent nothing, not even a ping, within
	// [WithClientTimeout]; on long polling, it sent no poll within the
	// disconnect timeout ([WithLongPollTimeouts]); with stateful
	// reconnect, it did not resume a lost transport within that timeout.
	ErrClientTimeout = errors.New("signalr: client timeout")
	// ErrAuthExpired: the credentials ended ([Identity.ExpiresAt]) with
	// [WithCloseOnAuthExpiration] on.
	ErrAuthExpired = errors.New("signalr: credentials expired")
	// ErrProtocolViolation: the client sent something the protocol does
	// not allow (a malformed or oversized message, a message split across
	// frames); the client's Close message names it.
	ErrProtocolViolation = errors.New("signalr: protocol violation")
	// ErrHandshakeTimeout: no complete handshake request arrived within
	// [WithHandshakeTimeout].
	ErrHandshakeTimeout = errors.New("signalr: handshake timed out")
	// ErrHandshakeFailed: the handshake request was malformed or asked for
	// a protocol, version or transfer format the hub does not serve.
	ErrHandshakeFailed = errors.New("signalr: handshake failed")
)

// Is makes a connection closed for bad input match ErrProtocolViolation.
func (e *protocolError) Is(target error) bool { return target == ErrProtocolViolation }
