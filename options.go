package signalr

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gosignalr/signalr/protocol"
)

// Option configures a Hub. Options are applied in order by New.
type Option func(*config)

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
)

type config struct {
	logger                 *slog.Logger
	keepAlive              time.Duration
	clientTimeout          time.Duration
	handshakeTimeout       time.Duration
	maxReceiveMessageSize  int
	maxParallelInvocations int
	maxOutboundBuffer      int
	negotiateTimeout       time.Duration
	maxPendingNegotiations int
	detailedErrors         bool
	userID                 func(*http.Request) string
	checkOrigin            func(*http.Request) bool
	protocols              []protocol.HubProtocol
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
	}
}

// WithLogger sets the logger for connection events and errors. The default
// is slog.Default(). Connection tokens are never logged.
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
// Zero or less disables keep-alive pings.
func WithKeepAliveInterval(d time.Duration) Option {
	return func(c *config) { c.keepAlive = d }
}

// WithClientTimeout sets how long a connection may stay silent before the
// server closes it (default 30 s). The clock starts with the client's first
// Ping, as in ASP.NET Core. Zero or less disables the timeout.
func WithClientTimeout(d time.Duration) Option {
	return func(c *config) { c.clientTimeout = d }
}

// WithHandshakeTimeout sets how long a new connection has to complete the
// protocol handshake (default 15 s).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.handshakeTimeout = d
		}
	}
}

// WithMaxReceiveMessageSize sets the largest hub message a client may send,
// in bytes (default 32 KiB). A larger message closes the connection with a
// Close message that names the limit. Zero or less means no limit.
func WithMaxReceiveMessageSize(n int) Option {
	return func(c *config) { c.maxReceiveMessageSize = n }
}

// WithMaxParallelInvocations sets how many hub method invocations of one
// connection may run at once (default 1: one at a time, in order). Streaming
// invocations do not count.
func WithMaxParallelInvocations(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxParallelInvocations = n
		}
	}
}

// WithMaxOutboundBuffer sets how many bytes of outgoing messages may wait
// for one connection (default 1 MiB). A connection that falls further
// behind is closed with a reason; senders never block on it.
func WithMaxOutboundBuffer(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxOutboundBuffer = n
		}
	}
}

// WithNegotiateTimeout sets how long a negotiated connection token stays
// valid before a transport uses it (default 15 s).
func WithNegotiateTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.negotiateTimeout = d
		}
	}
}

// WithMaxPendingNegotiations caps negotiated tokens not yet used by a
// transport (default 10,000). Past it, negotiate answers 503.
func WithMaxPendingNegotiations(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxPendingNegotiations = n
		}
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
func WithUserIDFunc(f func(r *http.Request) string) Option {
	return func(c *config) { c.userID = f }
}

// WithCheckOrigin sets the function that accepts or refuses a browser's
// Origin on WebSocket upgrades. The default accepts the same origin only
// (and requests without an Origin header, which browsers always send).
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
