// Package signalr serves SignalR hubs from Go: the official SignalR clients
// (@microsoft/signalr for browsers and Node, and the .NET and Java clients)
// connect to a Hub unchanged and call its methods, and the server calls
// theirs.
//
// # Overview
//
// A hub is a Go value whose exported methods clients may call. New checks
// the methods once and returns a [Hub], which is an http.Handler:
//
//	type Chat struct{}
//
//	func (Chat) Send(c *signalr.Context, text string) error {
//		return c.Clients().All().Send(c, "message", c.ConnectionID(), text)
//	}
//
//	hub, err := signalr.New(Chat{})
//	mux.Handle("/chat", hub)
//	mux.Handle("/chat/", hub) // negotiate lives below the hub path
//
// A method may take a context.Context and/or a [*Context] first, then any
// parameters the protocols can decode (numbers, strings, bools, structs
// with json tags, slices, maps, pointers, [RawArgument]). It may return
// nothing, an error, a value, or a value and an error. A returned error, a
// panic, an unknown method or arguments that do not fit become an error
// completion for that call; the connection stays up. Only a [*HubError]'s
// text reaches the client unless [WithDetailedErrors] is on.
//
// Hubs reach clients through [Clients] ([Hub.Clients] anywhere in the
// program, [Context.Clients] inside a method, which adds Caller, Others and
// OthersInGroup) and manage membership through [Groups]. A hub value that
// implements [Connecter] or [Disconnecter] hears about connections as they
// come and go.
//
// Clients may speak JSON or MessagePack (see [WithProtocols]) over
// WebSockets.
//
// # Concurrency
//
// One hub value serves every connection, and its methods run concurrently
// for different connections. For one connection, at most
// [WithMaxParallelInvocations] calls run at once (default 1, so calls run in
// the order they arrive).
//
// [ClientProxy.Send] never waits for a client: it encodes the message once
// per protocol in use and appends the same bytes to each recipient's
// outbound queue. Each connection's queue is drained by its own writer,
// which packs everything waiting into one frame. Messages sent by one
// goroutine reach each connection in the order they were sent. A
// connection whose queue grows past [WithMaxOutboundBuffer] is closed with a
// reason instead of slowing anyone down. Hub, Clients, Groups and
// ClientProxy values are safe for concurrent use.
//
// The context a method receives is cancelled when its connection closes.
// [Hub.Shutdown] sends every client a Close message, then waits for
// connections to end and methods to return.
//
// # Scaling
//
// A Hub holds the connections of its own process. Connection ids are
// random (128 bits) and the connection token a transport presents is a
// separate secret, so ids can be shown to other clients.
//
// # Security
//
// The library checks: the size of every message ([WithMaxReceiveMessageSize],
// 32 KiB by default, enforced while reading so a huge frame is never
// buffered), the handshake deadline, the WebSocket Origin (same origin
// unless [WithCheckOrigin] says otherwise), the number of unused negotiated
// tokens and their lifetime, and that a connection token is used by one
// transport at a time. Bad input closes only the connection that sent it,
// with a Close message that says why; it never panics the process.
//
// The application decides who a user is ([WithUserIDFunc]) and what each
// user may call; keep secrets out of error texts you return as [*HubError].
package signalr
