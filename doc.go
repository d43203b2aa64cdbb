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
// A middleware in front of the hub that wraps the http.ResponseWriter
// must implement Unwrap() http.ResponseWriter (as http.ResponseController
// expects): WebSockets hijack the connection and Server-Sent Events flush
// each event. Without it those two transports are answered 500 and the
// reason is logged at Warn; long polling still works.
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
// come and go. [Context.CloseConnection] and, by connection id from
// anywhere (any node), [Hub.CloseConnection] close a connection with a
// reason the client receives; OnDisconnected then sees [ErrClosedByHub].
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
// [ClientProxy.Send] encodes the message once per protocol in use and
// appends the same bytes to each recipient's outbound queue. A small pool
// of writer goroutines, shared by the hub's connections, drains each queue
// that has something in it and packs everything waiting into one frame
// (see [WithWriteCoalescing]); a write to a client that stopped reading
// never holds up the others. Messages sent by one goroutine reach each
// connection in the order they were sent. A broadcast never waits for a
// client; a send to one connection may wait for room (see Flow control).
// Hub, Clients, Groups and ClientProxy values are safe for concurrent use.
//
// An idle WebSocket connection holds one goroutine, parked on a small
// stack, and no read or write buffer beyond a few hundred bytes: a few KiB
// in all (BENCHMARKS.md has the figures). An idle long-polling connection
// holds no goroutine of its own: only its pending poll, in net/http.
//
// The context a method receives is cancelled when its connection closes.
// [Hub.Shutdown] sends every client a Close message, then waits for
// connections to end and methods to return. A WebSocket closed by the
// server keeps its socket open until the client answers the close frame,
// for at most [WithCloseTimeout] (5 s by default); Shutdown waits for
// those answers too, within its context.
//
// # Flow control
//
// A connection holds the bytes sent to it until its client has taken them:
// those queued and those of the frame being written. [WithMaxOutboundBuffer]
// (default 1 MiB) is the soft limit on them, and four times it (4 MiB) the
// hard cap.
//
// A connection over the soft limit is behind, as any client is for a
// moment after a burst. Behind, it still receives everything, in order:
//   - A broadcast (All, AllExcept, Others, Clients, Group, Groups,
//     GroupExcept, OthersInGroup, User, Users, and sends that arrive from
//     other nodes) never waits: it queues, up to the hard cap.
//   - A send to one connection of this node ([CallerClients.Caller],
//     [Clients.Client], [SingleClientProxy.Invoke]) and each item of a
//     stream the server sends wait until the connection is back under the
//     soft limit, or their context is done (Send then returns the
//     context's error and nothing was queued). A stream whose client stops
//     reading thus stops pulling items from its channel or iterator.
//
// A slow consumer is a connection that makes no progress: a write to it
// (one frame, up to everything that was queued) does not finish within
// [WithWriteTimeout] (default 10 s); or it stays behind while no write
// finishes for that long; or, behind, it would pass the hard cap. It is
// closed: what is queued is dropped, and a Close message that says why
// ("The client did not read its messages fast enough: ...") follows the
// frame being written, so a client that reads again sees it. The reason
// [Disconnecter] receives wraps [ErrSlowConsumer]; test it with
// errors.Is. The signalr.server.slow_consumers metric counts them. A
// connection waiting for a stateful reconnect, or for its first message
// after one, is not stalled while it waits; the hard cap still applies.
//
// A connection therefore never holds more than the hard cap (but for the
// Close message of a slow consumer), with one exception: a connection that
// is not behind takes any one message whole, so a single message larger
// than the soft limit goes out, and may take the connection to the soft
// limit plus that message. The bytes of one
// broadcast are shared by all its recipients, not copied.
//
// # Scaling
//
// One process needs nothing else. To serve one hub from several processes,
// give every node the same [backplane.Backplane] with [WithBackplane] (and
// the same hub name: by default the hub type's, see [WithHubName]):
// [backplane.Memory] joins hubs of one process, backplane/nats joins
// processes over NATS and backplane/redis over Redis pub/sub. Every Clients target, group changes and client
// results then work whichever node holds the connection: a send is
// delivered to local connections directly and published once, encoded for
// every protocol, and each other node hands the bytes to its own
// connections; no connection receives a message twice. Group changes and
// client results for a connection on another node are requests to that
// node, and report ErrConnectionNotFound when no node holds it.
// The NATS and Redis backplanes are modules of their own
// (go get github.com/gosignalr/signalr/backplane/nats, or .../redis), so
// that only the programs that use a bus depend on its client library.
//
// Messages sent by one goroutine reach each connection in the order they
// were sent across nodes too, whatever the targets (a backplane hands a
// node the messages in the order they reached it, across subjects; see
// [backplane.Backplane]). A group change for a connection on another node
// returns once that node subscribed to the group, so a send to the group
// after it reaches the connection. Subscriptions are never made or
// ended under the hub's locks or on the goroutine that dispatches inbound
// messages: a bus slow to confirm them delays only what waits for them.
//
// No sticky sessions are needed: a connection token names the node that
// negotiated it, so the WebSocket, SSE stream or first long poll may reach
// any node, which takes the connection over; sends, polls and stops that
// reach another node are forwarded to it over the backplane, within the
// bus's size limit ([backplane.PayloadLimiter]; 1 MiB on a default NATS
// server): a forwarded POST larger than that is refused with 413, and a
// forwarded poll answers with what fits, leaving the rest queued for the
// next poll (a single message that can never fit closes the connection
// with a reason). A send larger than the limit returns the bus's error
// once local recipients are served. A load
// balancer only has to pass WebSocket upgrades through and not buffer
// Server-Sent Events.
//
// [Hub.ConnectionCount], [Hub.OnlineUsers], [Hub.IsUserOnline] and
// [Hub.GroupMembers] answer for the whole cluster. Nodes announce
// themselves every [WithPresenceInterval] (2 s); a node that stops
// without Shutdown drops out of the answers within three intervals. A
// query waits for every node it has heard from, for at most one interval,
// then up to 50 ms more for nodes that joined a moment ago; during its
// first interval a node waits out that interval, as it may not have heard
// of every other node yet. The context bounds all of it.
//
// Backplane subjects have a bounded length whatever names clients choose:
// a group name, user id or hub name appears in a subject only as a
// 22-character hash (128 bits of SHA-256, base64url), and a connection id
// or node id only once it has the form the library gives it (22 and 11
// characters of base64url). A message to a group or user carries the
// names it is for, and a node delivers it only to those, so names that
// hash alike never receive each other's messages. Each node's share of a
// presence answer may take up to 512 KiB encoded (some 9,500 group
// members with 25-byte user ids, or 13,000 user ids of 37 bytes, on one
// node); a larger share, or one the bus refuses, makes the query fail
// with [ErrPresenceTooLarge] or an error naming the node's failure, never
// a partial answer returned as complete.
//
// When the backplane is down, local delivery goes on, and sends that must
// reach other nodes return the backplane's error (the local recipients
// have been served). What is lost: messages for other nodes sent during
// the outage, group changes and client results for connections on other
// nodes, and presence answers from other nodes. Subscriptions come back by
// themselves when the bus does. A forwarded long poll whose answer cannot
// be written to the client closes its connection with a reason, as a
// failed poll write on the connection's own node does.
//
// A bus outage never goes unnoticed. With the NATS and Redis backplanes
// (which implement [backplane.HealthReporter]):
//
//   - A send that returns nil was accepted by the bus: NATS confirms each
//     publish with a round trip to the server (shared by concurrent
//     sends), Redis answers each PUBLISH. A send whose message the bus
//     may not have taken returns an error, after at most the backplane's
//     publish timeout (2 s by default) or when its context ends. After
//     such a timeout the bus is taken to be stalled (a path that drops
//     everything looks connected until pings fail): sends that must cross
//     nodes fail at once with an error matching [ErrBackplaneInterrupted],
//     local recipients still served, until a probe publish (every 100 ms)
//     gets through, so that local delivery never waits on a dead bus.
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
//   - [Hub.BackplaneErr] is non-nil while the link is down or stalled, and the
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
//	signalr.server.slow_consumers            Counter        {connection}  -
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
// included. Slow consumers count connections closed with
// [ErrSlowConsumer] (see Flow control). The backplane's publish metrics
// cover every publish (sends to other nodes, presence, heartbeats). The
// connected gauge is 1 while the node is connected to its backplane and 0
// while it is not; it is reported only for a backplane that implements
// [backplane.HealthReporter]. Interruptions count the times messages from
// other nodes may have been lost (see Scaling). No
// attribute carries a connection id, user id, group name or anything else
// unbounded. Message and byte counters stop being reported when the hub
// shuts down.
//
// # Logging
//
// A hub logs through the *slog.Logger given to [WithLogger], always with a
// context: a connection's records carry the context of the HTTP request
// that opened it (the WebSocket upgrade, the event stream or the first
// poll), a request's records that request's, so values a middleware put
// in the request's context (a request id, a trace) reach a custom
// slog.Handler; records of backplane events and heartbeats carry a
// background context. Every record has the attribute component=signalr; a
// connection's records also have connection (its id, or for a version 0
// connection a stand-in, see Security), transport, protocol once the
// handshake chose it, and user when known. Levels: Debug for what a
// client did wrong and is told about (an unknown method, bad arguments, a
// call a policy refused, a [*HubError]) and for connections ending; Info
// for connections refused or closed (bad input, a client timeout, expired
// credentials, OnConnected's refusal, a close the application asked for)
// and for a hub method that failed because its client refused a client
// result or went away; Warn for slow consumers, the hub-wide limit of
// pending negotiations and backplane trouble; Error only for what the
// operator must act on: a hub method's own error or panic, a result that
// cannot be encoded, a panicking OnDisconnected, a refused backplane
// subscription. No record holds a connection token.
//
// # Options
//
// [New] takes functional options, applied in order; an option given twice
// sets its value twice and the later wins, except those that add to a
// list (policies, filters, method lists). Every duration and size option
// follows one rule: zero means the default below. A setting that can be
// turned off is turned off with [Disabled] (any negative value: marked
// "off: Disabled" below); for the others a negative value makes New return
// an error naming the option.
//
//	Option                                Default
//	WithLogger                            slog.Default()
//	WithKeepAliveInterval                 15 s (off: Disabled)
//	WithClientTimeout                     30 s, from the client's first Ping (off: Disabled)
//	WithHandshakeTimeout                  15 s
//	WithMaxReceiveMessageSize             32 KiB (off: Disabled)
//	WithMaxParallelInvocations            1 (in order)
//	WithMaxOutboundBuffer                 1 MiB soft limit, 4 MiB hard cap
//	WithWriteTimeout                      10 s
//	WithCloseTimeout                      5 s, for the client's WebSocket close frame (off: Disabled)
//	WithWriteCoalescing                   on
//	WithNegotiateTimeout                  15 s
//	WithMaxPendingNegotiations            10,000
//	WithMaxPendingNegotiationsPerAddress  a tenth of WithMaxPendingNegotiations, at least 1
//	WithClientAddressFunc                 the request's remote IP (IPv6 by /64)
//	WithMinimumProtocolVersion            1
//	WithDetailedErrors                    off
//	WithProtocols                         JSON, MessagePack
//	WithTransports                        WebSockets, ServerSentEvents, LongPolling
//	WithLongPollTimeouts                  poll 90 s, disconnect 15 s
//	WithMaxRequestBodySize                1 MiB
//	WithStatefulReconnect                 off; buffer 100,000 bytes when on
//	WithMaxStreams                        32
//	WithStreamBufferCapacity              10 items (off: Disabled, no buffer)
//	WithUserIDFunc                        none: no user, unless the authenticator names one
//	WithAuthenticator                     none: every request is anonymous
//	WithCloseOnAuthExpiration             off
//	WithAuthChallenge                     Bearer when the request carried a bearer token
//	WithHubPolicy                         none
//	WithMethodPolicy                      none
//	WithMaxConnectionsPerUser             no cap (Disabled is the same)
//	WithCheckOrigin                       same origin (wins over WithAllowedOrigins for WebSockets)
//	WithAllowedOrigins                    none: no CORS
//	WithInvocationFilter                  none
//	WithConnectionFilter                  none
//	WithMethods                           every exported method, less standard interfaces
//	WithHiddenMethods                     none
//	WithMaxGroupNameLength                1,024 bytes
//	WithMaxUserIDLength                   1,024 bytes
//	WithMaxGroupsPerConnection            1,000
//	WithBackplane                         none: one node
//	WithHubName                           the hub type's package path and name
//	WithPresenceInterval                  2 s
//	WithBackplaneInterruptionClose        on
//	WithMeterProvider                     none: no metrics
//
// The defaults are also exported as constants (DefaultKeepAliveInterval,
// DefaultClientTimeout, ...) where they are numbers.
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
//     open streams, outbound queue, connections per user (off by default;
//     counted from negotiate, not from the handshake), pending negotiations
//     (capped, a share per client address, expiring after 15 s), handshake
//     deadline, write deadline (on every transport: a client that stops
//     reading is disconnected).
//   - Names: group names ([WithMaxGroupNameLength]) and user ids
//     ([WithMaxUserIDLength]) up to 1,024 bytes by default. Group changes,
//     sends and presence queries with a longer name fail with
//     [ErrNameTooLong] before anything reaches another connection or the
//     backplane (from a hub method, the client gets an error completion);
//     a request whose user id, from the authenticator or [WithUserIDFunc],
//     is longer is answered 403 and opens no connection. A connection may
//     be in up to 1,000 groups at once ([WithMaxGroupsPerConnection]);
//     Groups.Add past that fails with [ErrTooManyGroups], on its node or
//     from another. A connection id that is not of the form the library
//     issues is nobody: sends to it reach no one, and Groups.Add, Remove
//     and client results report [ErrConnectionNotFound]. No name a client
//     chooses reaches the backplane as a subject (see Scaling).
//   - The WebSocket Origin: same origin only unless [WithAllowedOrigins]
//     or [WithCheckOrigin] say otherwise; CORS is off by default.
//   - Ids and tokens come from crypto/rand (128 bits). Connection ids are
//     public; tokens are secrets, looked up by a hash so that timing
//     reveals nothing, never logged and never put on the backplane.
//   - Negotiate version 0 is refused by default
//     ([WithMinimumProtocolVersion]). A version 0 client has no token: it
//     names its connection by the connection id on every request, so the
//     id is the secret, and whoever learns it can receive the connection's
//     messages, invoke methods as its user and end it (with an
//     authenticator, only while presenting the same user). With version 0
//     allowed, such ids travel on the backplane in subjects, reach hub code
//     as [Context.ConnectionID] and presence answers, and must be kept
//     from other clients; the library's logs show them only as a hashed
//     stand-in.
//   - Bad input closes only the connection that sent it, with a Close
//     message that says why, or is answered with an HTTP status and a
//     message; it never panics the process. Hub method panics become error
//     completions. JSON text with invalid UTF-8 is refused as ASP.NET Core
//     refuses it: in an argument the call fails, anywhere else in the
//     message the connection is closed.
//   - Which methods clients may call: methods of standard interfaces
//     (String, Error, Format, MarshalJSON, MarshalText, Close, ...) are not
//     hub methods unless listed with [WithMethods]; [WithHiddenMethods]
//     hides others. A hub passed by value whose methods need a pointer is
//     refused by New.
//   - A hub policy's [Context] has no connection: calls that need one
//     return [ErrNoConnection] and Abort does nothing.
//
// What the application must do: decide who a user is and what each user
// may call; validate arguments (the library checks only their types);
// keep secrets out of the text of errors it returns as [*HubError] and of
// [WithDetailedErrors] output; serve over TLS; and pick allowed origins
// with care, since the official browser client sends credentials.
package signalr
