package signalr

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrHubClosed is returned once Shutdown or Close has begun.
	ErrHubClosed = errors.New("signalr: hub closed")
	// ErrConnectionNotFound is returned by group operations on a connection
	// id the hub does not hold.
	ErrConnectionNotFound = errors.New("signalr: connection not found")
	// ErrConnectionClosed ends work tied to a connection that has closed.
	ErrConnectionClosed = errors.New("signalr: connection closed")
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
