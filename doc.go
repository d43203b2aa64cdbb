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
// # Typed hubs
//
// On the wire, a client method is a name and a list of values, so a typo
// or an argument of the wrong type shows only when a client misbehaves.
// Package github.com/gosignalr/signalr/contract declares the client
// methods once, with their parameter types, and the compiler checks every
// call:
//
//	type ChatClient struct {
//		Message contract.Method2[string, string] // from, text
//		AskName contract.Func0[string]           // answered by the client
//	}
//
//	var Client = contract.MustDeclare[ChatClient]()
//
//	func (Chat) Send(c *signalr.Context, text string) error {
//		return Client.Message.Send(c, c.Clients().Others(), c.UserID(), text)
//	}
//
// Every target, inside a hub method or anywhere else in the program, is a
// contract.Sender, and a [SingleClientProxy] is also a contract.Invoker
// for client results:
//
//	name, err := Client.AskName.Invoke(ctx, hub.Clients().Client(id))
//
// A Go client registers typed handlers with the same descriptors
// (Client.Message.On(conn, func(from, text string) { ... })), and may
// declare the hub's methods the same way to call them. examples/typed is
// an auction written like this.
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
// outbound queue. A small pool of writer goroutines, shared by the hub's
// connections, drains each queue that has something in it and packs
// everything waiting into one frame (see [WithWriteCoalescing]); a
// write to a client that stopped reading never holds up the others.
// Messages sent by one goroutine reach each connection in the order they
// were sent. A
// connection whose queue grows past [WithMaxOutboundBuffer] is closed with a
// reason instead of slowing anyone down. Hub, Clients, Groups and
// ClientProxy values are safe for concurrent use.
//
// An idle WebSocket connection holds one goroutine, parked on a small
// stack, and no read or write buffer beyond a few hundred bytes: a few KiB
// in all (BENCHMARKS.md has the figures).
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
// the outage, group changes and client results for connections on other
// nodes, and presence answers from other nodes. Subscriptions come back by
// themselves when the bus does. Forwarded long polls that the client
// abandons may lose the messages they carried.
//
// A bus outage never goes unnoticed. With the NATS and Redis backplanes
// (which implement [backplane.HealthReporter]):
//
//   - A send that returns nil was accepted by the bus: NATS confirms each
//     publish with a round trip to the server (shared by concurrent
//     sends), Redis answers each PUBLISH. A send whose message the bus
//     may not have taken returns an error, after at most the backplane's
//     publish timeout (2 s by default) or when its context ends.
//   - The backplane restores its link by itself, however long the outage:
//     it reconnects without limit, and dials a new connection when the
//     client library closes its own for good (a protocol error, a
//     reconnect budget set too low).
//   - When the node's link goes down, comes back, or drops messages (a
//     subscription too slow to keep up), messages from other nodes may
//     have been missed. The node then closes the connections that may
//     have missed them (for a loss on one connection's subject, that
//     connection; otherwise every local connection) with a Close message
//     that allows the client to reconnect, and OnDisconnected receives an
//     error matching [ErrBackplaneInterrupted]. Connections opened while
//     the link is down are served locally and closed likewise when it
//     comes back. [WithBackplaneInterruptionClose](false) keeps
//     connections open instead.
//   - [Hub.BackplaneErr] is non-nil while the link is down, and the
//     signalr.backplane.connected gauge is 0 (see Metrics).
//
// So each message a node sends to another node's connection is delivered
// in order, or its send returned an error, or that connection was closed
// with ErrBackplaneInterrupted.
//
// # Metrics
//
// With [WithMeterProvider], a hub records OpenTelemetry metrics under the
// meter [MeterName]; without it, it records nothing and the measuring
// code costs a nil check. The first two instruments are ASP.NET Core
// SignalR's, with its names, attributes and values, so dashboards made
// for it work unchanged; the others are this library's:
//
//	Name                                     Type           Unit          Attributes
//	signalr.server.active_connections        UpDownCounter  {connection}  signalr.transport
//	signalr.server.connection.duration       Histogram      s             signalr.transport, signalr.connection.status
//	signalr.server.received.messages         Counter        {message}     -
//	signalr.server.sent.messages             Counter        {message}     -
//	signalr.server.received.bytes            Counter        By            -
//	signalr.server.sent.bytes                Counter        By            -
//	signalr.server.invocation.duration       Histogram      s             rpc.method, signalr.invocation.status
//	signalr.server.invocation.errors         Counter        {invocation}  rpc.method, error.type
//	signalr.server.outbound_queue.overflows  Counter        {connection}  -
//	signalr.backplane.publish.duration       Histogram      s             -
//	signalr.backplane.publish.errors         Counter        {message}     -
//	signalr.backplane.connected              Gauge          1             -
//	signalr.backplane.interruptions          Counter        {interruption} -
//
// Attribute values:
//   - signalr.transport: web_sockets, server_sent_events, long_polling.
//   - signalr.connection.status: timeout (the client timeout, a long poll
//     that did not come within the disconnect timeout, no handshake within
//     the handshake timeout, a write deadline, a stateful reconnect that
//     did not come), app_shutdown ([Hub.Shutdown]), else normal_closure.
//   - rpc.method: the hub method as declared in Go, whatever case the
//     client used; never a name the hub does not have.
//   - signalr.invocation.status: ok, or error when the method returned an
//     error or panicked.
//   - error.type: unknown_method (no rpc.method then), invalid_invocation
//     (arguments that do not fit, a streaming method called without
//     streaming), unauthorized ([WithMethodPolicy]), hub_error (a
//     [*HubError]), panic, error (any other error).
//
// A connection is active from the moment its transport opens (before the
// handshake) until it has ended and OnDisconnected has returned; its
// duration counts from its creation. Messages and bytes are SignalR
// messages, handshake, pings and Close messages included, as read from
// and written to the transport (bytes without WebSocket, SSE or HTTP
// framing); a message is counted as sent once the transport accepted it.
// Invocation metrics cover hub methods called by Invocation messages,
// not streaming invocations; the duration is the method's run, filters
// included. Overflows count connections closed because their outbound
// queue passed [WithMaxOutboundBuffer]. The backplane's publish metrics
// cover every publish (sends to other nodes, presence, heartbeats). The
// connected gauge is 1 while the node is connected to its backplane and 0
// while it is not; it is reported only for a backplane that implements
// [backplane.HealthReporter]. Interruptions count the times messages from
// other nodes may have been lost (see Scaling). No
// attribute carries a connection id, user id, group name or anything else
// unbounded. Message and byte counters stop being reported when the hub
// shuts down.
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
