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
// WebSockets, Server-Sent Events or long polling (see [WithTransports]).
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
// One process needs nothing else. To serve one hub from several processes,
// give every node the same [backplane.Backplane] with [WithBackplane]:
// [backplane.Memory] joins hubs of one process, backplane/nats joins
// processes over NATS and backplane/redis over Redis pub/sub. Every Clients target, group changes and client
// results then work whichever node holds the connection: a send is
// delivered to local connections directly and published once, encoded for
// every protocol, and each other node hands the bytes to its own
// connections; no connection receives a message twice. Group changes and
// client results for a connection on another node are requests to that
// node, and report ErrConnectionNotFound when no node holds it.
//
// No sticky sessions are needed: a connection token names the node that
// negotiated it, so the WebSocket, SSE stream or first long poll may reach
// any node, which takes the connection over; sends, polls and stops that
// reach another node are forwarded to it over the backplane. A load
// balancer only has to pass WebSocket upgrades through and not buffer
// Server-Sent Events.
//
// [Hub.ConnectionCount], [Hub.OnlineUsers], [Hub.IsUserOnline] and
// [Hub.GroupMembers] answer for the whole cluster. Nodes announce
// themselves every [WithPresenceInterval] (2 s); a node that stops
// without Shutdown drops out of the answers within three intervals.
//
// When the backplane is down, local delivery goes on, and sends that must
// reach other nodes return the backplane's error (the local recipients
// have been served). What is lost: messages for other nodes sent during
// the outage (and those accepted in the moment before the bus noticed
// it), group changes and client results for connections on other nodes,
// and presence answers from other nodes. Subscriptions come back by
// themselves when the bus does. Forwarded long polls that the client
// abandons may lose the messages they carried.
//
// # Security
//
// What the library checks:
//   - Authentication, when [WithAuthenticator] is set, on every request of
//     a connection: negotiate, the WebSocket upgrade or event stream, and
//     each send, poll and stop (forwarded ones too). Refusals are 401;
//     a request of another user than the connection's is 403. Tokens are
//     read from the Authorization header or, for browsers' WebSockets and
//     event streams, the access_token query parameter ([BearerToken]).
//   - Authorization: [WithHubPolicy] at negotiate and connect,
//     [WithMethodPolicy] before each call (a refused call never runs), and
//     filters ([WithInvocationFilter]) for anything else.
//   - Limits, each with a default: message size ([WithMaxReceiveMessageSize],
//     32 KiB, enforced while reading, so a huge frame or a huge declared
//     length is never buffered), request body size, parallel invocations,
//     open streams, outbound queue, connections per user (off by default),
//     pending negotiations (capped, expiring after 15 s), handshake
//     deadline, write deadline.
//   - The WebSocket Origin: same origin only unless [WithAllowedOrigins]
//     or [WithCheckOrigin] say otherwise; CORS is off by default.
//   - Ids and tokens come from crypto/rand (128 bits). Connection ids are
//     public; tokens are secrets, looked up by a hash so that timing
//     reveals nothing, never logged and never put on the backplane.
//   - Bad input closes only the connection that sent it, with a Close
//     message that says why, or is answered with an HTTP status and a
//     message; it never panics the process. Hub method panics become error
//     completions.
//
// What the application must do: decide who a user is and what each user
// may call; validate arguments (the library checks only their types);
// keep secrets out of the text of errors it returns as [*HubError] and of
// [WithDetailedErrors] output; serve over TLS; and pick allowed origins
// with care, since the official browser client sends credentials.
package signalr
