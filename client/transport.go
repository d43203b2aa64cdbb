package client

import (
	"context"
	"errors"
)

// errTransportClosed is what a transport's Receive or Send returns after
// Close.
var errTransportClosed = errors.New("signalr client: transport closed")

// transportConn is one open transport, as the session sees it: frames in,
// frames out. A frame holds one or more whole protocol messages.
//
// One goroutine calls Receive at a time, one calls Send at a time (the
// handshake, then the session's writer); Close may be called from any
// goroutine, more than once, and unblocks both.
type transportConn interface {
	// Receive returns the next frame: a WebSocket message, the data of one
	// event, the body of one poll. The slice is new for every call and
	// belongs to the caller. A clean end of the connection is io.EOF.
	Receive() ([]byte, error)
	// Send writes data, one or more whole messages, as one frame. binary
	// selects a WebSocket binary frame or an application/octet-stream
	// body.
	Send(ctx context.Context, data []byte, binary bool) error
	// Close ends the transport the way the official client does: a close
	// frame, the end of the event stream, or a DELETE for long polling.
	// ctx bounds that last word.
	Close(ctx context.Context) error
	// Name is the transport's name, as in a negotiate response.
	Name() string
}
