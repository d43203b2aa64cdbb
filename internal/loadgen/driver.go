// Package loadgen drives many real client connections against a real-time
// server over loopback and measures what the server and its clients see.
//
// A Driver speaks one server's wire protocol (SignalR over WebSockets or
// long polling with JSON or MessagePack, or over Server-Sent Events with
// JSON; a peer library's own protocol in the separate bench module). Scenarios are written once against Driver and Conn, so every
// server is measured by the same code.
package loadgen

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// Driver opens connections to one kind of server.
type Driver interface {
	// Name labels result rows ("gosignalr/json", "centrifuge", ...).
	Name() string
	// Dial opens one connection from the local address src (one of
	// 127.0.0.x, so that more than one source address's ephemeral ports can
	// be used), completes the protocol handshake and, when opts.Subscribe is
	// set, joins the broadcast audience opts.Group ("" is everyone) before
	// returning.
	Dial(ctx context.Context, src net.IP, opts DialOptions) (Conn, error)
}

// DialOptions says what a connection listens to and where its traffic is
// counted.
type DialOptions struct {
	// Subscribe joins the broadcast audience Group.
	Subscribe bool
	// Group names the group or channel to join; "" means everyone.
	Group string
	// OnMessage runs on the connection's reading goroutine for every
	// broadcast message it receives, with the payload as the publisher sent
	// it and the time it was read. It must not block, and must not keep
	// payload after it returns: the driver may reuse its memory.
	OnMessage func(payload []byte, received time.Time)
	// Counters, when set, counts frames and messages read.
	Counters *Counters
}

// Conn is one open client connection.
type Conn interface {
	// Publish asks the server to broadcast payload to Group ("" is
	// everyone). It returns once the server has accepted the request (for
	// SignalR: a Completion to an invocation).
	Publish(ctx context.Context, group string, payload []byte) error
	// Echo invokes a method that returns its argument and waits for the
	// result.
	Echo(ctx context.Context, payload []byte) error
	// StopReading makes the connection stop reading from its socket, as a
	// client that hangs would. The connection stays open.
	StopReading()
	// Done is closed when the connection has ended, for whatever reason.
	Done() <-chan struct{}
	// CloseReason is the reason the server gave when it closed the
	// connection, or "" when it gave none (or has not closed it).
	CloseReason() string
	// Close closes the connection.
	Close() error
}

// Counters counts what connections read. It is safe for concurrent use.
type Counters struct {
	Frames   atomic.Uint64 // WebSocket frames, server-sent events or poll responses with data read
	Messages atomic.Uint64 // protocol messages read (several may share a frame)
}
