package signalr

import (
	"context"
	"errors"

	"github.com/gosignalr/signalr/protocol"
)

// Closing a connection with a reason the client sees. The reason travels in
// the Close message; the official JavaScript client passes it to onclose
// as "Server returned an error on close: <reason>".

// closedByHub is the reason OnDisconnected receives for a connection the
// hub closed with CloseConnection. It matches ErrClosedByHub.
type closedByHub struct{ reason string }

func (e *closedByHub) Error() string {
	if e.reason == "" {
		return ErrClosedByHub.Error()
	}
	return ErrClosedByHub.Error() + ": " + e.reason
}

func (e *closedByHub) Is(target error) bool { return target == ErrClosedByHub }

// errPollLost is the reason of a connection closed because a poll answer
// forwarded through another node could not be written to the client.
var errPollLost = errors.New("signalr: a long-poll answer sent through another server did not reach the client")

// closeByHub closes c with a Close message that carries reason.
func (c *conn) closeByHub(reason string, allowReconnect bool) {
	c.logger().InfoContext(c.ctx, "closing connection at the hub's request", "reason", reason)
	c.closeWith(&protocol.Close{Error: reason, AllowReconnect: allowReconnect}, &closedByHub{reason: reason})
}

// CloseConnection closes the calling connection. The client receives a
// Close message whose error is reason (an empty reason closes without an
// error) and, if allowReconnect is true and it has automatic reconnect
// enabled, reconnects. Messages queued before are still delivered.
// OnDisconnected receives an error that matches [ErrClosedByHub]. Closing a
// connection that is already closing does nothing. In a hub policy, which
// runs before the connection exists, it returns [ErrNoConnection].
func (c *Context) CloseConnection(reason string, allowReconnect bool) error {
	if c.noConn {
		return ErrNoConnection
	}
	c.c.closeByHub(reason, allowReconnect)
	return nil
}

// CloseConnection closes the connection connectionID as
// [Context.CloseConnection] does. With a backplane the connection may be
// on another node. It returns ErrConnectionNotFound when no node holds the
// connection, and ctx's error if ctx ends before the holding node answers.
func (h *Hub) CloseConnection(ctx context.Context, connectionID, reason string, allowReconnect bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c := h.reg.conn(connectionID); c != nil {
		c.closeByHub(reason, allowReconnect)
		return nil
	}
	return h.cluster.closeConn(ctx, connectionID, &closeRequest{Reason: reason, AllowReconnect: allowReconnect})
}

// closeRequest is the body of an opCloseConn envelope.
type closeRequest struct {
	Reason         string `msgpack:"r,omitempty"`
	AllowReconnect bool   `msgpack:"a,omitempty"`
	// Lost, when set, is why a poll answer forwarded through another node
	// could not be written to the client: the connection closes with
	// that error as its reason, as for a failed poll write on this node.
	Lost string `msgpack:"l,omitempty"`
}
