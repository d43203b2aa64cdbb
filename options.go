package signalr

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// Option configures a Hub. Options are applied in order by New. An option
// given twice sets its value twice, and the later one wins, except those
// that add to a list and say so: [WithHubPolicy], [WithMethodPolicy],
// [WithInvocationFilter], [WithConnectionFilter], [WithHiddenMethods] and
// [WithMethods].
//
// Every duration and size option follows one rule: zero means the
// default, the value documented on the option and listed in the Options
// table of the package documentation. A setting that can be turned off
// (keep-alive pings, the client timeout, the message size limit, the
// upload stream buffer, the per-user connection cap) is turned off with
// [Disabled], or any negative value. For the others a negative value is a
// mistake, and New returns an error that names the option.
type Option func(*config)

// Disabled turns off a setting that can be turned off: pass it to
// [WithKeepAliveInterval], [WithClientTimeout],
// [WithMaxReceiveMessageSize], [WithStreamBufferCapacity] or
// [WithMaxConnectionsPerUser]. It is an untyped constant, so it serves as
// a time.Duration and as an int.
const Disabled = -1

// setPositive applies the option rule to a setting that cannot be turned
// off: zero keeps the default, a negative value makes New fail.
func setPositive[T ~int | ~int64](c *config, dst *T, v T, option string) {
	switch {
	case v > 0:
		*dst = v
	case v < 0 && c.err == nil:
		c.err = fmt.Errorf("signalr: %s(%v): a negative value is not allowed (zero keeps the default)", option, v)
	}
}

// setOrDisable applies the option rule to a setting that can be turned
// off: zero keeps the default, a negative value turns it off (every user
// of such a setting treats a value of zero or less as off).
func setOrDisable[T ~int | ~int64](dst *T, v T) {
	if v != 0 {
		*dst = v
	}
}

// Defaults. They match ASP.NET Core SignalR where it has the same setting.
const (
	DefaultKeepAliveInterval      = 15 * time.Second
	DefaultClientTimeout          = 30 * time.Second
	DefaultHandshakeTimeout       = 15 * time.Second
	DefaultMaxReceiveMessageSize  = 32 * 1024
	DefaultMaxParallelInvocations = 1
	DefaultMaxOutboundBuffer      = 1 << 20
	DefaultNegotiateTimeout       = 15 * time.Second
	DefaultMaxPendingNegotiations = 10000
	DefaultLongPollTimeout        = 90 * time.Second
	DefaultDisconnectTimeout      = 15 * time.Second
	DefaultMaxRequestBodySize     = 1 << 20
	DefaultWriteTimeout           = 10 * time.Second

	DefaultStatefulReconnectBufferSize = 100_000
	DefaultMaxStreams                  = 32
	DefaultStreamBufferCapacity        = 10
	DefaultPresenceInterval            = 2 * time.Second
)

type config struct {
	logger                 *slog.Logger
	keepAlive              time.Duration
	clientTimeout          time.Duration
	handshakeTimeout       time.Duration
	maxReceiveMessageSize  int
	maxParallelInvocations int
	maxOutboundBuffer      int
	noCoalescing           bool
	negotiateTimeout       time.Duration
	maxPendingNegotiations int
	detailedErrors         bool
	userID                 func(*http.Request) string
	checkOrigin            func(*http.Request) bool
	protocols              []protocol.HubProtocol
	transports             []string
	pollTimeout            time.Duration
	disconnectTimeout      time.Duration
	maxRequestBody         int64
	writeTimeout           time.Duration
	wsIdleAfter            time.Duration // tests only; see transport.WebSocketOptions.IdleAfter
	allowedOrigins         []string
	statefulReconnect      bool
	statefulBufferSize     int
	maxStreams             int
	streamBufferCapacity   int
	backplane              backplane.Backplane
	backplaneName          string
	presenceInterval       time.Duration
	authenticator          Authenticator
	closeOnAuthExpiry      bool
	authChallenge          *string // nil: Bearer when the request carried a bearer token
	hubPolicies            []Policy
	methodPolicies         map[string][]Policy
	maxConnsPerUser        int
	invocationFilters      []InvocationFilter
	connectionFilters      []ConnectionFilter
	metrics                metricsConfig

	maxPendingPerAddress int                        // 0: a tenth of maxPendingNegotiations
	clientAddress        func(*http.Request) string // nil: the remote IP
	allowNegotiateV0     bool                       // WithMinimumProtocolVersion(0)
	// Which methods are hub methods (method.go).
	methodSel              methodSelection
	maxGroupNameLength     int
	maxUserIDLength        int
	maxGroupsPerConnection int
	subjectHash            func(string) string // tests only; nil: hashName
	keepConnsOnBusLoss     bool                // see WithBackplaneInterruptionClose

	err            error         // the first invalid option value; New returns it
	wsCloseTimeout time.Duration // WithCloseTimeout; 0: the default, negative: none
}

func defaultConfig() config {
	return config{
		logger:                 slog.Default(),
		keepAlive:              DefaultKeepAliveInterval,
		clientTimeout:          DefaultClientTimeout,
		handshakeTimeout:       DefaultHandshakeTimeout,
		maxReceiveMessageSize:  DefaultMaxReceiveMessageSize,
		maxParallelInvocations: DefaultMaxParallelInvocations,
		maxOutboundBuffer:      DefaultMaxOutboundBuffer,
		negotiateTimeout:       DefaultNegotiateTimeout,
		maxPendingNegotiations: DefaultMaxPendingNegotiations,
		protocols:              []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}},
		transports:             transport.Names(),
		pollTimeout:            DefaultLongPollTimeout,
		disconnectTimeout:      DefaultDisconnectTimeout,
		maxRequestBody:         DefaultMaxRequestBodySize,
		writeTimeout:           DefaultWriteTimeout,
		statefulBufferSize:     DefaultStatefulReconnectBufferSize,
		maxStreams:             DefaultMaxStreams,
		streamBufferCapacity:   DefaultStreamBufferCapacity,
		presenceInterval:       DefaultPresenceInterval,

		maxGroupNameLength:     DefaultMaxGroupNameLength,
		maxUserIDLength:        DefaultMaxUserIDLength,
		maxGroupsPerConnection: DefaultMaxGroupsPerConnection,
	}
}

// WithLogger sets the logger for connection events and errors. The default
// is slog.Default(). Connection tokens are never logged: a connection
// negotiated with version 0 (see WithMinimumProtocolVersion), whose id is
// its token, appears in log records under a stand-in, "v0-" and 16 hex
// digits of a hash of its id, and its id is cut out of any other value of
// the record.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithKeepAliveInterval sets how long a connection may go without the server
// sending anything before the server sends a Ping (default 15 s). Keep it
// well below the clients' server timeout (30 s in the official clients).
// [Disabled] turns keep-alive pings off.
func WithKeepAliveInterval(d time.Duration) Option {
	return func(c *config) { setOrDisable(&c.keepAlive, d) }
}

// WithClientTimeout sets how long a connection may stay silent before the
// server closes it (default 30 s). The clock starts with the client's first
// Ping, as in ASP.NET Core. [Disabled] turns the timeout off.
func WithClientTimeout(d time.Duration) Option {
	return func(c *config) { setOrDisable(&c.clientTimeout, d) }
}

// WithHandshakeTimeout sets how long a new connection has to complete the
// protocol handshake (default 15 s).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) {
		setPositive(c, &c.handshakeTimeout, d, "WithHandshakeTimeout")
	}
}

// WithMaxReceiveMessageSize sets the largest hub message a client may send,
// in bytes (default 32 KiB). A larger message closes the connection with a
// Close message that names the limit. [Disabled] removes the limit.
func WithMaxReceiveMessageSize(n int) Option {
	return func(c *config) { setOrDisable(&c.maxReceiveMessageSize, n) }
}

// WithMaxParallelInvocations sets how many hub method invocations of one
// connection may run at once (default 1: one at a time, in order). Streaming
// invocations do not count.
func WithMaxParallelInvocations(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxParallelInvocations, n, "WithMaxParallelInvocations")
	}
}

// WithMaxOutboundBuffer sets the soft limit of outgoing bytes one
// connection may hold, queued or being written (default 1 MiB). Past it
// the connection is behind: sends to that connection alone wait for room,
// broadcasts do not. Four times the limit is the hard cap: a connection
// that is behind and would pass it is closed with [ErrSlowConsumer]. See
// Flow control in the package documentation.
func WithMaxOutboundBuffer(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxOutboundBuffer, n, "WithMaxOutboundBuffer")
	}
}

// WithWriteCoalescing turns the packing of several queued messages into
// one frame and one write on or off (default on). Off, every message goes
// out in a frame of its own, as simple servers do; it exists to measure
// what coalescing saves, and costs throughput on busy connections.
func WithWriteCoalescing(on bool) Option {
	return func(c *config) { c.noCoalescing = !on }
}

// WithNegotiateTimeout sets how long a negotiated connection token stays
// valid before a transport uses it (default 15 s).
func WithNegotiateTimeout(d time.Duration) Option {
	return func(c *config) {
		setPositive(c, &c.negotiateTimeout, d, "WithNegotiateTimeout")
	}
}

// WithMaxPendingNegotiations caps negotiated tokens not yet used by a
// transport (default 10,000). Past it, negotiate answers 503. Each client
// address may hold only a share of the cap (see
// WithMaxPendingNegotiationsPerAddress).
func WithMaxPendingNegotiations(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxPendingNegotiations, n, "WithMaxPendingNegotiations")
	}
}

// WithDetailedErrors sends the text of errors returned by hub methods (and
// of panics) to clients. Off by default: clients see a generic message.
// A *HubError's text is always sent.
func WithDetailedErrors(on bool) Option {
	return func(c *config) { c.detailedErrors = on }
}

// WithUserIDFunc sets the function that names the user behind a connection,
// called once with the request that opens the connection. Connections with
// the same user id are reached together by Clients.User. The default gives
// every connection the empty user id (no user).
//
// With [WithAuthenticator] as well, the [Identity.UserID] the
// authenticator returns wins: the function names the user only of requests
// whose identity has no UserID (anonymous ones). Use one of the two to
// name users; set both only for that fallback.
func WithUserIDFunc(f func(r *http.Request) string) Option {
	return func(c *config) { c.userID = f }
}

// WithCheckOrigin sets the function that accepts or refuses a browser's
// Origin on WebSocket upgrades. The default accepts the same origin only
// (and requests without an Origin header, which browsers always send).
//
// With [WithAllowedOrigins] as well, the function wins for WebSocket
// upgrades: it alone decides them, the list is not consulted (not even
// same origin is accepted unless the function accepts it). The list still
// decides CORS, the cross-origin answers of negotiate and of the HTTP
// transports, which the function does not affect.
func WithCheckOrigin(f func(r *http.Request) bool) Option {
	return func(c *config) { c.checkOrigin = f }
}

// WithProtocols sets the hub protocols clients may choose at handshake
// (default: JSON and MessagePack).
func WithProtocols(ps ...protocol.HubProtocol) Option {
	return func(c *config) {
		if len(ps) > 0 {
			c.protocols = append([]protocol.HubProtocol(nil), ps...)
		}
	}
}

// WithTransports sets the transports clients may use, by name:
// "WebSockets", "ServerSentEvents", "LongPolling" (default: all three, in
// that order of preference). Negotiate lists them in the order given; a
// name that package transport does not know is left out.
func WithTransports(names ...string) Option {
	return func(c *config) {
		if len(names) > 0 {
			c.transports = append([]string(nil), names...)
		}
	}
}

// WithLongPollTimeouts sets how long a long poll is held without data
// before it is answered empty (default 90 s), and how long a long-polling
// connection may go without a poll before it is closed (default 15 s).
func WithLongPollTimeouts(poll, disconnect time.Duration) Option {
	return func(c *config) {
		setPositive(c, &c.pollTimeout, poll, "WithLongPollTimeouts")
		setPositive(c, &c.disconnectTimeout, disconnect, "WithLongPollTimeouts")
	}
}

// WithMaxRequestBodySize caps the body of one send (POST) of the
// Server-Sent Events and long-polling transports (default 1 MiB). A larger
// body is answered 413 and closes the connection.
func WithMaxRequestBodySize(n int64) Option {
	return func(c *config) {
		setPositive(c, &c.maxRequestBody, n, "WithMaxRequestBodySize")
	}
}

// WithWriteTimeout bounds one write to a client (default 10 s): a
// WebSocket frame, a Server-Sent Events event, a long-poll response or the
// answer to a send. A client that does not take it in that time (one that
// sent its request and stopped reading), or whose connection stays behind
// [WithMaxOutboundBuffer] with no write finished for that long, is
// disconnected with [ErrSlowConsumer].
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) {
		setPositive(c, &c.writeTimeout, d, "WithWriteTimeout")
	}
}

// WithAllowedOrigins lets browser pages from the given origins (such as
// "https://app.example.com") connect: their WebSocket upgrades pass the
// Origin check, and negotiate and the HTTP transports answer CORS
// preflights and echo the origin with Access-Control-Allow-Credentials, as
// the official browser client (which sends credentials) requires. "*"
// allows every origin; use it only for hubs that do not rely on cookies.
// Off by default: only same-origin pages may connect. When
// [WithCheckOrigin] is set too, its function decides WebSocket upgrades
// instead of this list, which then governs CORS only.
func WithAllowedOrigins(origins ...string) Option {
	return func(c *config) { c.allowedOrigins = append([]string(nil), origins...) }
}

// WithStatefulReconnect lets clients that ask for it
// (withStatefulReconnect() in the official clients) keep their connection
// across a brief network loss on WebSockets: the server numbers what it
// sends, keeps up to bufferSize bytes (default 100,000) of
// unacknowledged messages, and when the client reopens its
// socket within the disconnect timeout (see WithLongPollTimeouts, default
// 15 s) both sides replay what the other missed. The connection keeps its
// id, groups and user, and nothing is lost or duplicated. When the buffer
// is full the connection's writer waits for acknowledgements; senders
// still never block, and the outbound limit applies behind it.
func WithStatefulReconnect(bufferSize int) Option {
	return func(c *config) {
		c.statefulReconnect = true
		setPositive(c, &c.statefulBufferSize, bufferSize, "WithStatefulReconnect")
	}
}

// WithMaxStreams caps the streams one connection may have open at once,
// both server-to-client streams and client uploads (default 32). An
// invocation that would open more fails with an error completion.
func WithMaxStreams(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxStreams, n, "WithMaxStreams")
	}
}

// WithStreamBufferCapacity sets how many uploaded items may wait for a hub
// method to take them, per upload stream (default 10). When the buffer is
// full the connection stops reading until the method catches up.
// [Disabled] leaves no buffer: each item waits for the method to take it.
func WithStreamBufferCapacity(n int) Option {
	return func(c *config) {
		switch {
		case n > 0:
			c.streamBufferCapacity = n
		case n < 0: // Disabled
			c.streamBufferCapacity = 0
		}
	}
}

// WithPresenceInterval sets how often a node announces itself on the
// backplane (default 2 s). A node not heard from for three intervals is
// left out of presence answers, and a presence query waits at most one
// interval for the other nodes.
func WithPresenceInterval(d time.Duration) Option {
	return func(c *config) {
		setPositive(c, &c.presenceInterval, d, "WithPresenceInterval")
	}
}

// WithMaxPendingNegotiationsPerAddress caps the negotiated tokens not yet
// used by a transport that one client address may hold (default: a tenth
// of WithMaxPendingNegotiations' cap, at least 1). Past it, negotiate
// answers that address 429 while other addresses go on negotiating, so a
// flood from one address cannot fill the hub-wide cap and keep everyone
// else out. A token counts until a transport uses it or it expires
// (WithNegotiateTimeout).
//
// The address is the request's remote IP; IPv6 addresses count by their
// /64 prefix. Behind a reverse proxy every request comes from the proxy's
// address, so all clients share one share: set WithClientAddressFunc to
// name the client the proxy saw.
func WithMaxPendingNegotiationsPerAddress(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxPendingPerAddress, n, "WithMaxPendingNegotiationsPerAddress")
	}
}

// WithClientAddressFunc sets how a request's client address is found for
// per-address limits (WithMaxPendingNegotiationsPerAddress). The default
// is the remote IP of the request. Behind a reverse proxy, return the
// client address your proxy reports (the X-Forwarded-For entry it added,
// or X-Real-IP), and only from requests that came through it: a header
// the client can set itself lets each request pick a fresh address. An
// empty result falls back to the remote IP.
func WithClientAddressFunc(f func(r *http.Request) string) Option {
	return func(c *config) { c.clientAddress = f }
}

// WithMinimumProtocolVersion sets the lowest negotiate protocol version
// (the negotiateVersion query parameter of POST {hub}/negotiate) that the
// hub accepts: 0 or 1 (default 1). A lower request is answered 400 with
// the text "The client requested version '0', but the server does not
// support this version.", as ASP.NET Core's MinimumProtocolVersion does.
//
// With version 0 the client has no separate token: it names its
// connection by the connection id, so anyone who learns the id (from
// Clients.Client sends an application makes on a client's behalf, from
// presence, from the backplane, from application logs) can read the
// connection's messages, call methods as its user and end it. Official
// clients from 3.0 on (JavaScript, .NET, Java) send version 1; allow 0
// only for older clients that omit the parameter, and treat connection ids
// as secrets while you do. Values other than 0 and 1 keep the default.
func WithMinimumProtocolVersion(v int) Option {
	return func(c *config) {
		switch v {
		case 0:
			c.allowNegotiateV0 = true
		case 1:
			c.allowNegotiateV0 = false
		}
	}
}

// DefaultCloseTimeout is how long a WebSocket closed by the server waits
// for the client's close frame (see WithCloseTimeout), as in ASP.NET Core.
const DefaultCloseTimeout = transport.DefaultCloseTimeout

// WithCloseTimeout sets how long the server keeps a WebSocket's socket
// open after it sent its close frame (on Hub.Shutdown, a server-side close
// or a failed connection), waiting for the client's close frame, as
// ASP.NET Core's CloseTimeout (default 5 s). Data frames arriving
// meanwhile are discarded; the socket closes as soon as the client's close
// frame arrives, or when the timeout passes. Without this wait a client's
// answer can meet a closed socket, and clients (the official Java client)
// report the clean close as "Broken pipe" or "Connection reset". The wait
// never holds up the connection's end (OnDisconnected runs at once) and
// bounds how long Hub.Shutdown may wait for sockets, within its context.
// [Disabled] closes the socket right after the close frame.
func WithCloseTimeout(d time.Duration) Option {
	return func(c *config) { setOrDisable(&c.wsCloseTimeout, d) }
}
