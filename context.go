package signalr

import (
	"context"
	"net/http"
	"sync"
)

// Context is what a hub method, OnConnected and OnDisconnected learn about
// the connection that called them, and their way to reach other clients.
// It is also the call's context.Context: it is cancelled when the
// connection closes.
//
// A Context is valid for the duration of the call that received it; its
// Clients and Groups may be kept and used from any goroutine afterwards.
type Context struct {
	context.Context
	c *conn
	// noConn: a hub policy's Context, made before the connection exists;
	// c then holds only the hub, the identity and the request.
	noConn bool
}

// ConnectionID is the public id of the calling connection.
func (c *Context) ConnectionID() string { return c.c.id }

// UserID is the user id given to the connection by [WithUserIDFunc], or "".
func (c *Context) UserID() string { return c.c.userID }

// Clients reaches clients of the hub, including Caller and Others relative
// to the calling connection.
func (c *Context) Clients() CallerClients {
	if c.noConn {
		return CallerClients{targets: targets{h: c.c.hub}}
	}
	return CallerClients{targets: targets{h: c.c.hub}, caller: c.c}
}

// Groups adds connections to groups and removes them.
func (c *Context) Groups() Groups { return Groups{h: c.c.hub} }

// Items is storage that lives as long as the connection, shared by all its
// calls. It is safe for concurrent use.
func (c *Context) Items() *sync.Map {
	if m := c.c.items.Load(); m != nil {
		return m
	}
	c.c.items.CompareAndSwap(nil, new(sync.Map))
	return c.c.items.Load()
}

// Request is the HTTP request that opened the connection. Its body has been
// consumed and the WebSocket handshake headers dropped; read only its URL,
// headers and TLS state. Its context is the connection's.
func (c *Context) Request() *http.Request { return c.c.req.request() }

// Abort closes the connection. The client receives a Close message and does
// not reconnect automatically; OnDisconnected receives an error that
// matches [ErrClosedByHub]. In a hub policy, where no connection exists
// yet, it does nothing.
func (c *Context) Abort() {
	if c.noConn {
		return
	}
	c.c.closeWith(&closeMsgAborted, errAborted)
}
