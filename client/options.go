package client

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// Defaults of the options, the same as the official JavaScript client's.
const (
	// DefaultKeepAliveInterval is how long the client may go without
	// sending before it sends a Ping.
	DefaultKeepAliveInterval = 15 * time.Second
	// DefaultServerTimeout is how long the client waits without receiving
	// anything before it considers the connection lost.
	DefaultServerTimeout = 30 * time.Second
	// DefaultHandshakeTimeout bounds the handshake after the transport is
	// open.
	DefaultHandshakeTimeout = 15 * time.Second
	// DefaultStatefulReconnectBufferSize is how many bytes of sent messages
	// a stateful connection keeps until the server acknowledges them.
	DefaultStatefulReconnectBufferSize = 100_000
	// maxRedirects is how many negotiate redirects are followed.
	maxRedirects = 100
	// pollTimeout bounds one long poll; the server answers within 90 s.
	pollTimeout = 100 * time.Second
	// ackDelay is how long a stateful connection waits before it
	// acknowledges received messages, so that one Ack covers a burst.
	ackDelay = time.Second
)

// DefaultReconnectDelays are the waits before each automatic reconnect
// attempt when WithAutomaticReconnect is given no delays: at once, then
// after 2, 10 and 30 seconds, then the client gives up.
var DefaultReconnectDelays = []time.Duration{0, 2 * time.Second, 10 * time.Second, 30 * time.Second}

// Option configures a Client; pass options to New.
type Option func(*config)

type config struct {
	logger            *slog.Logger
	httpClient        *http.Client
	header            http.Header
	tokenProvider     func(ctx context.Context) (string, error)
	transports        []string
	proto             protocol.HubProtocol
	skipNegotiation   bool
	keepAlive         time.Duration
	serverTimeout     time.Duration
	handshakeTimeout  time.Duration
	reconnect         func(RetryContext) (time.Duration, bool)
	stateful          bool
	statefulBufferLen int
}

func defaultConfig() config {
	return config{
		logger:            slog.Default(),
		httpClient:        http.DefaultClient,
		header:            http.Header{},
		transports:        []string{transport.WebSockets, transport.ServerSentEvents, transport.LongPolling},
		proto:             protocol.JSON{},
		keepAlive:         DefaultKeepAliveInterval,
		serverTimeout:     DefaultServerTimeout,
		handshakeTimeout:  DefaultHandshakeTimeout,
		statefulBufferLen: DefaultStatefulReconnectBufferSize,
	}
}

// WithLogger sets the logger for connection events and handler failures.
// The default is slog.Default(). Connection tokens and access tokens are
// never logged. Records carry the attribute component=signalr-client and
// the values of the context given to [Client.Start] (a trace, a request
// id), and a connection's records its id and transport.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithHTTPClient sets the client used for negotiate, Server-Sent Events
// and long polling (default http.DefaultClient). Its Jar, if any, also
// gives the cookies of the WebSocket request, and when its Transport is an
// *http.Transport, its proxy, dialer and TLS settings are used for
// WebSockets too. Its Timeout should be zero: an event stream stays open
// for the life of the connection (each long poll is bounded by the client
// itself).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithHeader adds a header to every request the client makes: negotiate,
// the WebSocket upgrade, the event stream, polls and sends.
func WithHeader(key, value string) Option {
	return func(c *config) { c.header.Add(key, value) }
}

// WithAccessTokenProvider sets the function that gives the bearer token
// sent as "Authorization: Bearer <token>" on every request, WebSockets and
// Server-Sent Events included. It is called for each negotiate (so once
// per connection attempt) and again when a send or poll is refused with
// 401, as the official clients do. A token returned by the server in a
// negotiate redirect replaces it for the rest of that connection.
func WithAccessTokenProvider(f func(ctx context.Context) (string, error)) Option {
	return func(c *config) { c.tokenProvider = f }
}

// WithTransports sets the transports the client may use, by name
// (transport.WebSockets, transport.ServerSentEvents,
// transport.LongPolling), in the order it tries them. The default is all
// three in that order, the official client's fallback order. Start skips
// those the server does not offer (and Server-Sent Events for a binary
// protocol) and falls back to the next when one fails to open.
func WithTransports(names ...string) Option {
	return func(c *config) { c.transports = append([]string(nil), names...) }
}

// WithProtocol sets the hub protocol: protocol.JSON{} (the default) or
// protocol.MessagePack{}. MessagePack is binary, so it never uses
// Server-Sent Events.
func WithProtocol(p protocol.HubProtocol) Option {
	return func(c *config) {
		if p != nil {
			c.proto = p
		}
	}
}

// WithSkipNegotiation connects a WebSocket straight to the hub URL without
// the negotiate request. It requires WithTransports(transport.WebSockets)
// and a server that allows it; ConnectionID is then empty and stateful
// reconnect is off.
func WithSkipNegotiation() Option {
	return func(c *config) { c.skipNegotiation = true }
}

// WithKeepAliveInterval sets how long the client may go without sending
// before it sends a Ping (default 15 s). Long polling needs no Pings.
func WithKeepAliveInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.keepAlive = d
		}
	}
}

// WithServerTimeout sets how long the client waits without receiving
// anything, Pings included, before it drops the connection (default 30 s;
// not applied to long polling). Keep it at least twice the server's
// keep-alive interval.
func WithServerTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.serverTimeout = d
		}
	}
}

// WithHandshakeTimeout bounds the handshake once the transport is open
// (default 15 s).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.handshakeTimeout = d
		}
	}
}

// RetryContext is what a reconnect policy learns before each attempt.
type RetryContext struct {
	// PreviousRetryCount is the number of failed attempts so far.
	PreviousRetryCount int
	// Elapsed is the time since the connection was lost.
	Elapsed time.Duration
	// RetryReason is the error that lost the connection, then the error
	// of the last failed attempt.
	RetryReason error
}

// WithAutomaticReconnect makes the client reconnect by itself when a
// connection it had started is lost, waiting delays[i] before attempt i+1
// and giving up after the last. With no delays it uses
// DefaultReconnectDelays (0, 2, 10, 30 s), as the official client does.
// Without this option (or WithReconnectPolicy) a lost connection is
// closed for good. Each attempt is a whole new connection (a new
// ConnectionID); the first Start is never retried.
func WithAutomaticReconnect(delays ...time.Duration) Option {
	if len(delays) == 0 {
		delays = DefaultReconnectDelays
	}
	delays = append([]time.Duration(nil), delays...)
	return WithReconnectPolicy(func(rc RetryContext) (time.Duration, bool) {
		if rc.PreviousRetryCount >= len(delays) {
			return 0, false
		}
		return delays[rc.PreviousRetryCount], true
	})
}

// WithReconnectPolicy makes the client reconnect by itself, asking next
// before every attempt how long to wait; ok == false gives up and closes
// the client. A panic in next counts as giving up.
func WithReconnectPolicy(next func(RetryContext) (delay time.Duration, ok bool)) Option {
	return func(c *config) { c.reconnect = next }
}

// WithStatefulReconnect asks the server for stateful reconnect: when a
// WebSocket drops without a Close message, the client reopens it once on
// the same connection, without a new negotiate, and both sides resend what
// the other had not acknowledged, so nothing is lost and the ConnectionID
// stays. bufferSize bounds the bytes of unacknowledged messages the client
// keeps (0 means DefaultStatefulReconnectBufferSize); a sender waits when
// it is full. It applies only to WebSockets, and only when the server
// allows it.
func WithStatefulReconnect(bufferSize int) Option {
	return func(c *config) {
		c.stateful = true
		if bufferSize > 0 {
			c.statefulBufferLen = bufferSize
		}
	}
}
