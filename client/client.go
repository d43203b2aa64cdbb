package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// State is the state of a Client's connection.
type State int

// The states of a Client, as in the official clients.
const (
	// Disconnected: not started, stopped, or closed for good.
	Disconnected State = iota
	// Connecting: Start is negotiating and opening a connection.
	Connecting
	// Connected: calls may be made.
	Connected
	// Reconnecting: the connection was lost and automatic reconnect is
	// trying to open a new one.
	Reconnecting
	// Disconnecting: Stop is ending the connection.
	Disconnecting
)

// String returns the state's name, as in the official clients.
func (s State) String() string {
	switch s {
	case Disconnected:
		return "Disconnected"
	case Connecting:
		return "Connecting"
	case Connected:
		return "Connected"
	case Reconnecting:
		return "Reconnecting"
	case Disconnecting:
		return "Disconnecting"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Client is a connection to a SignalR hub. Create it with New, register
// handlers with On, then Start it. All methods are safe for concurrent
// use.
type Client struct {
	url      string
	cfg      config
	ids      atomic.Uint64 // invocation and upload ids, shared as in the official client
	handlers handlerTable

	mu    sync.Mutex
	state State
	sess  *session   // the live connection while Connected
	life  *lifecycle // from Start until the client is Disconnected again

	cbMu           sync.Mutex
	onReconnecting []func(error)
	onReconnected  []func(string)
	onClosed       []func(error)
}

// lifecycle spans one Start: the connections it opens, the reconnects
// that follow, until OnClosed. Stop cancels ctx; done is closed when
// every goroutine of it has returned.
type lifecycle struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a client for the hub at hubURL, an http or https URL such as
// "https://example.com/chat" (the query is kept on every request). It does
// not connect: call Start.
func New(hubURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(hubURL)
	if err != nil {
		return nil, fmt.Errorf("signalr client: invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("signalr client: the URL must be http or https, not %q", u.Scheme)
	}
	c := &Client{url: hubURL, cfg: defaultConfig()}
	for _, opt := range opts {
		opt(&c.cfg)
	}
	c.cfg.logger = c.cfg.logger.With("component", "signalr-client")
	if len(c.cfg.transports) == 0 {
		return nil, errors.New("signalr client: no transport allowed")
	}
	for _, name := range c.cfg.transports {
		switch name {
		case transport.WebSockets, transport.ServerSentEvents, transport.LongPolling:
		default:
			return nil, fmt.Errorf("signalr client: unknown transport %q", name)
		}
	}
	if c.cfg.skipNegotiation && (len(c.cfg.transports) != 1 || c.cfg.transports[0] != transport.WebSockets) {
		return nil, errors.New("signalr client: negotiation can only be skipped with WithTransports(transport.WebSockets) alone")
	}
	return c, nil
}

// State returns the client's state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ConnectionID returns the id the server gave the current connection, or
// "" when not connected (or when negotiation was skipped). It changes on
// every automatic reconnect, but not on a stateful resume.
func (c *Client) ConnectionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return ""
	}
	return c.sess.id
}

// OnReconnecting registers f to be called with the cause when a connection
// is lost and automatic reconnect begins.
func (c *Client) OnReconnecting(f func(err error)) {
	c.cbMu.Lock()
	c.onReconnecting = append(c.onReconnecting, f)
	c.cbMu.Unlock()
}

// OnReconnected registers f to be called with the new connection's id
// after an automatic reconnect succeeded.
func (c *Client) OnReconnected(f func(connectionID string)) {
	c.cbMu.Lock()
	c.onReconnected = append(c.onReconnected, f)
	c.cbMu.Unlock()
}

// OnClosed registers f to be called when the client becomes Disconnected
// after being connected: with nil after Stop, otherwise with the reason (a
// *CloseError when the server closed the connection, an error wrapping
// ErrReconnectFailed when automatic reconnect gave up). The client may be
// started again from f.
func (c *Client) OnClosed(f func(err error)) {
	c.cbMu.Lock()
	c.onClosed = append(c.onClosed, f)
	c.cbMu.Unlock()
}

// callbacks runs each f with recover, so that a failing callback cannot
// take the client's goroutine down with it.
func callbacks[T any](ctx context.Context, c *Client, list *[]func(T), arg T) {
	c.cbMu.Lock()
	fs := slices.Clone(*list)
	c.cbMu.Unlock()
	for _, f := range fs {
		func() {
			defer func() {
				if p := recover(); p != nil {
					c.cfg.logger.ErrorContext(ctx, "a callback panicked", "panic", p)
				}
			}()
			f(arg)
		}()
	}
}

// Start connects: it negotiates, opens the first transport that works and
// completes the handshake. ctx bounds only the start; the connection lives
// until Stop, the server closes it, or it is lost (see
// WithAutomaticReconnect). Start is never retried by itself. It returns
// ErrNotDisconnected unless the client is Disconnected, and an error
// wrapping ErrStopped when Stop interrupts it.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.state != Disconnected || c.life != nil {
		c.mu.Unlock()
		return ErrNotDisconnected
	}
	lf := &lifecycle{done: make(chan struct{})}
	// The lifecycle keeps ctx's values (a trace, a request id) for its
	// log records, not its end.
	lf.ctx, lf.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.life, c.state = lf, Connecting
	c.mu.Unlock()

	startCtx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(lf.ctx, func() { cancel(ErrStopped) })
	s, err := c.connect(startCtx)
	stop()
	cancel(nil)

	c.mu.Lock()
	if err == nil && lf.ctx.Err() != nil {
		err = ErrStopped
	}
	if err != nil {
		c.state, c.life = Disconnected, nil
		c.mu.Unlock()
		if s != nil {
			s.finish(context.Background(), ErrStopped, false)
			<-s.done
		}
		lf.cancel()
		close(lf.done)
		if errors.Is(context.Cause(startCtx), ErrStopped) && !errors.Is(err, ErrStopped) {
			err = fmt.Errorf("%w: %w", ErrStopped, err)
		}
		return err
	}
	c.state, c.sess = Connected, s
	c.mu.Unlock()
	go c.supervise(lf, s)
	return nil
}

// Stop ends the connection: it sends the server a Close message, closes
// the transport, stops automatic reconnect or an ongoing Start, and waits
// until every goroutine of the client has returned (handlers included),
// then OnClosed runs with nil. It returns ctx's error if that takes
// longer than ctx allows. Stopping a Disconnected client does nothing.
//
// Stop waits for running handlers and callbacks, so calling it from one
// of them blocks until ctx ends; call it from a new goroutine there.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	lf := c.life
	if lf == nil {
		c.mu.Unlock()
		return nil
	}
	s := c.sess
	c.state = Disconnecting
	lf.cancel()
	c.mu.Unlock()
	if s != nil {
		s.stop(ctx)
	}
	select {
	case <-lf.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// supervise waits for each connection of lf to end, reconnects when it
// may, and fires the callbacks.
func (c *Client) supervise(lf *lifecycle, s *session) {
	defer close(lf.done)
	for s != nil {
		<-s.done
		err, reconnect := s.result()
		c.mu.Lock()
		c.sess = nil
		if lf.ctx.Err() != nil || !reconnect || c.cfg.reconnect == nil {
			c.mu.Unlock()
			c.closed(lf, err)
			return
		}
		lost := time.Now()
		delay, ok := c.nextDelay(lf.ctx, RetryContext{RetryReason: err})
		if !ok {
			c.mu.Unlock()
			c.closed(lf, err)
			return
		}
		c.state = Reconnecting
		c.mu.Unlock()
		c.cfg.logger.InfoContext(lf.ctx, "connection lost; reconnecting", "error", err)
		callbacks(lf.ctx, c, &c.onReconnecting, err)
		s = c.reconnect(lf, delay, lost)
	}
}

// reconnect tries new connections until one works (returned) or the
// policy gives up or Stop is called (nil; OnClosed has run).
func (c *Client) reconnect(lf *lifecycle, delay time.Duration, lost time.Time) *session {
	for retries := 0; ; {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-lf.ctx.Done():
			t.Stop()
			c.closed(lf, nil)
			return nil
		}
		s, err := c.connect(lf.ctx)
		if err == nil {
			c.mu.Lock()
			if lf.ctx.Err() != nil {
				c.mu.Unlock()
				s.finish(context.Background(), ErrStopped, false)
				<-s.done
				c.closed(lf, nil)
				return nil
			}
			c.state, c.sess = Connected, s
			c.mu.Unlock()
			c.cfg.logger.InfoContext(lf.ctx, "reconnected", "connection", s.id)
			callbacks(lf.ctx, c, &c.onReconnected, s.id)
			return s
		}
		if lf.ctx.Err() != nil {
			c.closed(lf, nil)
			return nil
		}
		c.cfg.logger.InfoContext(lf.ctx, "reconnect attempt failed", "error", err)
		retries++
		var ok bool
		if delay, ok = c.nextDelay(lf.ctx, RetryContext{PreviousRetryCount: retries, Elapsed: time.Since(lost), RetryReason: err}); !ok {
			c.closed(lf, fmt.Errorf("%w: %w", ErrReconnectFailed, err))
			return nil
		}
	}
}

// nextDelay asks the reconnect policy; a panic means giving up.
func (c *Client) nextDelay(ctx context.Context, rc RetryContext) (delay time.Duration, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.cfg.logger.ErrorContext(ctx, "the reconnect policy panicked", "panic", p)
			delay, ok = 0, false
		}
	}()
	return c.cfg.reconnect(rc)
}

// closed makes the client Disconnected and runs OnClosed; err is nil when
// the user stopped the client.
func (c *Client) closed(lf *lifecycle, err error) {
	c.mu.Lock()
	stopped := lf.ctx.Err() != nil
	c.state, c.sess, c.life = Disconnected, nil, nil
	c.mu.Unlock()
	lf.cancel()
	if stopped {
		err = nil
	}
	callbacks(lf.ctx, c, &c.onClosed, err)
}

// connect opens one connection: negotiate (following redirects), the
// first transport that opens, the handshake.
func (c *Client) connect(ctx context.Context) (*session, error) {
	env := &httpEnv{hc: c.cfg.httpClient, header: c.cfg.header, tokens: &tokenSource{provider: c.cfg.tokenProvider}}
	if c.cfg.skipNegotiation {
		tr, err := dialWebSocket(ctx, env, c.url)
		if err != nil {
			return nil, err
		}
		return c.open(ctx, env, tr, "", c.url, false)
	}
	nr, base, err := env.negotiateFollow(ctx, c.url, c.cfg.stateful)
	if err != nil {
		return nil, err
	}
	format := c.cfg.proto.TransferFormat().String()
	offered := nr.AvailableTransports
	var errs []error
	for _, name := range c.cfg.transports {
		i := slices.IndexFunc(offered, func(at transport.AvailableTransport) bool { return at.Transport == name })
		switch {
		case i < 0:
			errs = append(errs, fmt.Errorf("%s: not offered by the server", name))
			continue
		case !slices.Contains(offered[i].TransferFormats, format),
			name == transport.ServerSentEvents && c.cfg.proto.TransferFormat() != protocol.Text:
			errs = append(errs, fmt.Errorf("%s: does not support %s", name, format))
			continue
		}
		if nr == nil {
			// The token of a failed attempt is spent: negotiate again.
			if nr, base, err = env.negotiateFollow(ctx, base, c.cfg.stateful); err != nil {
				return nil, err
			}
		}
		u := connectURL(base, nr.ConnectionToken)
		tr, err := dial(ctx, env, name, u)
		if err == nil {
			stateful := nr.UseStatefulReconnect && name == transport.WebSockets
			return c.open(ctx, env, tr, nr.ConnectionID, u, stateful)
		}
		c.cfg.logger.DebugContext(ctx, "transport failed to open", "transport", name, "error", err)
		errs = append(errs, fmt.Errorf("%s failed: %w", name, err))
		if ctx.Err() != nil {
			return nil, err
		}
		nr = nil
	}
	return nil, &TransportError{Errs: errs}
}

func dial(ctx context.Context, env *httpEnv, name, u string) (transportConn, error) {
	switch name {
	case transport.WebSockets:
		return dialWebSocket(ctx, env, u)
	case transport.ServerSentEvents:
		return dialSSE(ctx, env, u)
	default:
		return dialLongPolling(ctx, env, u)
	}
}

// open runs the handshake on tr and starts a session over it.
func (c *Client) open(ctx context.Context, env *httpEnv, tr transportConn, id, connURL string, stateful bool) (*session, error) {
	version := 1
	if stateful {
		version = 2
	}
	leftover, err := handshake(ctx, tr, c.cfg.proto, version, c.cfg.handshakeTimeout)
	if err != nil {
		_ = tr.Close(context.Background())
		return nil, err
	}
	return c.newSession(ctx, env, tr, id, connURL, stateful, leftover), nil
}
