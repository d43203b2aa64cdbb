// Package nats carries a backplane.Backplane over NATS, so that hubs in
// several processes (on several machines) act as one.
//
// Each backplane subject is sent as one NATS subject, the prefix (WithPrefix)
// followed by a dot and the subject ("signalr.g.room1" for "g.room1" with
// the default prefix); requests use NATS request/reply with the
// connection's response inboxes. Nothing is persisted: a node that is
// disconnected misses what is published meanwhile, as it would over
// plain NATS.
//
// # Differences from the in-process bus
//
//   - Publish returns once the server has confirmed that it received the
//     message (a round trip to the server that the publishes waiting at
//     the same time share). Handlers run on one goroutine that the
//     Backplane shares among all its subscriptions, in the order the
//     connection received the messages, whatever their subjects. NATS
//     delivers the messages that one connection publishes to another
//     connection in the order they were published, so what one node
//     publishes reaches each other node's handlers in that order, across
//     subjects. A hub holds a subscription per connection, so a goroutine
//     per subscription, as nats.go's asynchronous subscriptions have,
//     would cost a goroutine per connection (and lose that order).
//     Handlers must not block for long: a handler that waits holds up
//     every subscription of the Backplane.
//   - A Request is delivered to every subscription of its subject, and the
//     first reply wins; the others are discarded. The in-process bus hands
//     it to one subscription only. Request subjects that name a single
//     recipient (one connection, one node) behave the same on both.
//   - Subscribe and Unsubscribe make one round trip to the server (a NATS
//     flush), so that when they return the server knows about the change
//     and a Publish or Request from any node connected to that server
//     sees it. In a cluster of NATS servers, interest still takes a moment
//     to reach the other servers, as it always does in NATS.
//   - The server refuses messages larger than its max_payload (1 MiB by
//     default): Publish, Request and replies fail with
//     natsgo.ErrMaxPayload. MaxPayload reports the limit, so that callers
//     can keep under it.
//   - When handlers fall far behind (more than dispatchQueue messages
//     waiting for the dispatch goroutine), messages are lost; the
//     connection reports nats.ErrSlowConsumer to its error handler, and
//     the Backplane to its watchers (backplane.HealthReporter) as an
//     Event with Lost set and the subject.
//
// # Outages
//
// While the connection is down, nats.go reconnects in the background and
// re-sends every subscription when it is back, so subscriptions survive
// an outage without any action. When nats.go closes a connection made by
// Connect for good (after a protocol error from the server, such as a
// rejected control line, or once reconnection attempts set with
// natsgo.MaxReconnects run out), the Backplane dials a new connection
// with the same options, after 250ms, doubling up to 8s while it keeps
// happening, and subscribes everything again on it; Conn returns the new
// connection. A connection given to New is the caller's: when it closes,
// the Backplane reports Closed and fails from then on.
//
// Publish never reports success for a message the server may not have:
//
//   - With Connect, the reconnect buffer is disabled
//     (natsgo.ReconnectBufSize(-1)): from the moment nats.go has noticed
//     the disconnection until it has reconnected, Publish and Request
//     fail at once with an error wrapping natsgo.ErrConnectionReconnecting,
//     instead of queueing messages that would reach the server late or
//     never. With New, the connection's own setting applies; nats.go's
//     default buffers up to 8 MiB while reconnecting, but Publish still
//     waits for the server's confirmation, so it fails during an outage
//     too (after WithPublishTimeout).
//   - A message published just before the connection broke, or into a
//     network that went silent, is not confirmed: Publish returns an
//     error (wrapping natsgo.ErrConnectionReconnecting, or
//     natsgo.ErrTimeout after WithPublishTimeout), or ctx's error.
//     The message may still have reached the server.
//
// The Backplane is a backplane.HealthReporter: Health and Watch tell the
// connection's loss (Disconnected), its return (Connected) and a
// connection given to New closed for good (Closed). Each loss and return
// is reported with Lost set, since what other nodes published in between
// did not arrive.
//
// Subscribe and Unsubscribe succeed during an outage; the change reaches
// the server on reconnection.
package nats

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/internal/health"
)

// DefaultPrefix is the subject prefix used when no prefix is set (WithPrefix).
const DefaultPrefix = "signalr"

// syncTimeout bounds the round trip that Subscribe and Unsubscribe make
// to confirm a change with the server. When it runs out (a server that
// went silent), the change is still made: nats.go sends it, or re-sends
// it on reconnection.
const syncTimeout = 2 * time.Second

// MaxSubjectLen is the longest subject, prefix and dot included, that
// the Backplane sends to the server. Longer ones are refused with an
// error: a NATS server rejects a protocol line longer than its
// max_control_line (4 KiB by default) by closing the connection, which
// would cut the node off until a new connection is made.
const MaxSubjectLen = 2048

// DefaultPublishTimeout is how long Publish waits, at most, for the
// server to confirm a message when no publish timeout is set (WithPublishTimeout).
const DefaultPublishTimeout = 2 * time.Second

// dispatchQueue is how many messages may wait for the goroutine that
// runs the handlers of all subscriptions before nats.go drops messages as
// a slow consumer.
const dispatchQueue = 65536

// options are the settings the Option functions set.
type options struct {
	Prefix         string
	OwnConn        bool
	OnError        func(error)
	OnReconnect    func()
	PublishTimeout time.Duration
	natsOpts       []natsgo.Option
}

// Option sets a setting of Connect or New; without any, the defaults
// apply.
type Option func(*options)

// WithPrefix sets the prefix put, with a dot, in front of every subject, so that
// several applications or hubs can share one NATS account without
// seeing each other's messages. It is made of the same dot-separated
// tokens as subjects (letters, digits, '-' and '_'). Default
// DefaultPrefix ("signalr").
// Prefixes of which one starts with the other and a dot ("app" and
// "app.g") are not apart: "g.x" under the first and "x" under the
// second are the same subject on the wire.
func WithPrefix(prefix string) Option {
	return func(o *options) { o.Prefix = prefix }
}

// WithOwnConn makes Close close the NATS connection. Without it, the
// connection given to New stays open and remains the caller's to
// close. Connect always owns what it makes.
func WithOwnConn() Option {
	return func(o *options) { o.OwnConn = true }
}

// WithErrorHandler sets f to be called with the asynchronous errors of a
// connection made by Connect: a lost connection (the cause, or
// natsgo.ErrDisconnected), a connection closed for good by nats.go,
// and the errors the server or nats.go report later, such as
// natsgo.ErrSlowConsumer. It is not called for what Close does.
// nats.go calls it from one goroutine of its own, one call at a time;
// it must not block for long. With New, set the connection's own
// handlers instead (natsgo.DisconnectErrHandler, natsgo.ErrorHandler).
func WithErrorHandler(f func(error)) Option {
	return func(o *options) { o.OnError = f }
}

// WithReconnectHandler sets f to be called each time a connection made by
// Connect is established again after being down, including a first
// connection that Connect had to retry. Subscriptions have been
// re-sent by then. Same goroutine as the error handler. With New, use
// natsgo.ReconnectHandler.
func WithReconnectHandler(f func()) Option {
	return func(o *options) { o.OnReconnect = f }
}

// WithPublishTimeout bounds the wait of Publish for the server to
// confirm a message, whatever the caller's context allows. Default
// DefaultPublishTimeout (2s).
func WithPublishTimeout(d time.Duration) Option {
	return func(o *options) { o.PublishTimeout = d }
}

// WithNATSOptions adds options for the connection Connect makes. They are
// applied after the Backplane's own and override them; replacing the
// connection's handlers disconnects WithErrorHandler and
// WithReconnectHandler, and the Backplane's health reports and
// reconnection when nats.go closes the connection for good. New ignores
// them: the connection is the caller's.
func WithNATSOptions(opts ...natsgo.Option) Option {
	return func(o *options) { o.natsOpts = append(o.natsOpts, opts...) }
}

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Backplane is a backplane.Backplane over one NATS connection. It is safe
// for concurrent use. Create it with New or Connect.
type Backplane struct {
	nc     atomic.Pointer[natsgo.Conn]  // the current connection
	dial   func() (*natsgo.Conn, error) // makes a new connection; nil with New
	prefix string                       // with its trailing dot
	own    bool
	pubTO  time.Duration
	health health.Reporter

	closed atomic.Bool
	mu     sync.RWMutex // guards subs, byNats, inbox, and closed's transition to true
	subs   map[*subscription]struct{}
	byNats map[*natsgo.Subscription]*subscription
	inbox  chan *natsgo.Msg // every subscription's messages; made with the first one
	stop   chan struct{}
	wg     sync.WaitGroup

	// Publish confirmation: publishers join batch, and the flusher
	// goroutine, running while there are batches, confirms a whole batch
	// with one round trip.
	fmu       sync.Mutex // guards batch, flushing and fclosed
	fclosed   bool
	batch     *confirmBatch
	flushing  bool
	bgWG      sync.WaitGroup // the flusher and redial goroutines
	redialing bool           // a redial goroutine runs; guarded by mu
	redialN   int            // redials in a row; guarded by mu
	redialed  time.Time      // when the last redial started; guarded by mu
	onReconn  func()
	onErr     func(error)
}

var (
	_ backplane.Backplane      = (*Backplane)(nil)
	_ backplane.HealthReporter = (*Backplane)(nil)
)

// New returns a Backplane over nc. Unless WithOwnConn is given, the caller
// keeps nc: Close ends the Backplane's subscriptions and leaves nc open.
// It panics if nc is nil or the prefix is not a valid subject.
func New(nc *natsgo.Conn, opts ...Option) *Backplane {
	if nc == nil {
		panic("backplane/nats: New with a nil connection")
	}
	b, err := newBackplane(buildOptions(opts))
	if err != nil {
		panic(err)
	}
	b.nc.Store(nc)
	switch {
	case nc.IsConnected():
	case nc.IsClosed():
		b.health.Init(backplane.Closed, fmt.Errorf("backplane/nats: %w", natsgo.ErrConnectionClosed))
	default:
		b.health.Init(backplane.Disconnected, fmt.Errorf("backplane/nats: %w", natsgo.ErrDisconnected))
	}
	// Follow the connection's state, keeping the handlers it has.
	prevDisc, prevReconn, prevClosed, prevErr := nc.DisconnectErrHandler(), nc.ReconnectHandler(), nc.ClosedHandler(), nc.ErrorHandler()
	nc.SetDisconnectErrHandler(func(c *natsgo.Conn, err error) {
		b.disconnected(c, err)
		if prevDisc != nil {
			prevDisc(c, err)
		}
	})
	nc.SetReconnectHandler(func(c *natsgo.Conn) {
		b.connected(c)
		if prevReconn != nil {
			prevReconn(c)
		}
	})
	nc.SetClosedHandler(func(c *natsgo.Conn) {
		b.connClosed(c)
		if prevClosed != nil {
			prevClosed(c)
		}
	})
	nc.SetErrorHandler(func(c *natsgo.Conn, sub *natsgo.Subscription, err error) {
		b.asyncError(c, sub, err)
		if prevErr != nil {
			prevErr(c, sub, err)
		}
	})
	return b
}

func newBackplane(opts options) (*Backplane, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !backplane.ValidSubject(prefix) {
		return nil, fmt.Errorf("backplane/nats: invalid prefix %q", prefix)
	}
	pubTO := opts.PublishTimeout
	if pubTO <= 0 {
		pubTO = DefaultPublishTimeout
	}
	return &Backplane{
		prefix: prefix + ".",
		own:    opts.OwnConn,
		pubTO:  pubTO,
		subs:   make(map[*subscription]struct{}),
		byNats: make(map[*natsgo.Subscription]*subscription),
		stop:   make(chan struct{}),
	}, nil
}

// Connect dials the NATS server(s) at url (a comma-separated list is
// accepted, as by natsgo.Connect) and returns a Backplane that owns the
// connection. The connection:
//
//   - retries forever, also when the first attempt fails
//     (natsgo.RetryOnFailedConnect): Connect then returns a Backplane that
//     is not connected yet, whose Publish fails until it is, and whose
//     subscriptions are sent once it is;
//   - waits about 250ms, 500ms, then 1s (with some jitter) between rounds
//     of attempts;
//   - buffers nothing while reconnecting (natsgo.ReconnectBufSize(-1)), so
//     that Publish and Request fail during an outage (see the package
//     documentation);
//   - pings the server every 5s and gives up on it after 3 unanswered
//     pings, so that a silent network failure is noticed within seconds;
//   - reports to WithErrorHandler and WithReconnectHandler.
//
// WithNATSOptions adds nats.go options, applied after these. A new
// connection that replaces a closed one is made with the same options.
func Connect(url string, opts ...Option) (*Backplane, error) {
	o := buildOptions(opts)
	b, err := newBackplane(o)
	if err != nil {
		return nil, err
	}
	b.own = true
	b.onErr = func(err error) {
		if o.OnError != nil && !b.closed.Load() {
			o.OnError(err)
		}
	}
	b.onReconn = func() {
		if o.OnReconnect != nil && !b.closed.Load() {
			o.OnReconnect()
		}
	}
	all := []natsgo.Option{
		natsgo.Name("gosignalr backplane"),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.CustomReconnectDelay(reconnectDelay),
		natsgo.ReconnectBufSize(-1),
		natsgo.PingInterval(5 * time.Second),
		natsgo.MaxPingsOutstanding(3),
		natsgo.DisconnectErrHandler(b.disconnected),
		natsgo.ReconnectHandler(b.connected),
		// nats.go calls the connect handler for a first connection made
		// after retries (one made at once is taken up below).
		natsgo.ConnectHandler(b.connected),
		natsgo.ClosedHandler(b.connClosed),
		natsgo.ErrorHandler(b.asyncError),
	}
	all = append(all, o.natsOpts...)
	b.dial = func() (*natsgo.Conn, error) { return natsgo.Connect(url, all...) }
	// Until the first connection is stored, its handlers ignore it: the
	// state is taken up from the connection once stored.
	b.health.Init(backplane.Disconnected, fmt.Errorf("backplane/nats: %w", natsgo.ErrDisconnected))
	nc, err := b.dial()
	if err != nil {
		return nil, fmt.Errorf("backplane/nats: connect: %w", err)
	}
	b.mu.Lock()
	b.nc.Store(nc)
	b.mu.Unlock()
	switch {
	case nc.IsConnected():
		// Made at once: nothing was missed, nothing to report.
		b.health.Init(backplane.Connected, nil)
	case nc.IsClosed():
		// Closed before it was stored: its handler ignored it.
		b.connClosed(nc)
	}
	return b, nil
}

// reconnectDelay is the pause after a failed round of reconnection
// attempts: 250ms, 500ms, then 1s, each shortened by up to a fifth at
// random so that many nodes do not return in step.
func reconnectDelay(attempts int) time.Duration {
	d := time.Second
	if attempts >= 1 && attempts <= 2 {
		d = 250 * time.Millisecond << (attempts - 1)
	}
	return d - rand.N(d/5)
}

var _ backplane.PayloadLimiter = (*Backplane)(nil)

// MaxPayload implements backplane.PayloadLimiter: the largest message the
// server accepts (its max_payload, 1 MiB unless configured), as it told
// the current connection; 0 before the first connection.
func (b *Backplane) MaxPayload() int { return int(b.nc.Load().MaxPayload()) }

// Conn returns the current NATS connection, for its status and
// statistics. With Connect, the Backplane replaces a connection that
// nats.go closed for good (see the package documentation), so the
// result may change over time.
func (b *Backplane) Conn() *natsgo.Conn { return b.nc.Load() }

// Publish implements backplane.Backplane. It returns nil once the server
// has confirmed that it received the message (a round trip, shared by
// the publishes that wait for one at the same time), so that a nil error
// means the bus took the message. It waits at most WithPublishTimeout
// (default 2s), or until ctx ends; either way the message may still have
// reached the server. See the package documentation for what happens
// during an outage.
func (b *Backplane) Publish(ctx context.Context, subject string, data []byte) error {
	if err := b.check(ctx, subject); err != nil {
		return err
	}
	nc := b.nc.Load()
	if err := nc.Publish(b.prefix+subject, data); err != nil {
		return b.wrap("publish", subject, err)
	}
	if err := b.confirm(ctx, nc); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return fmt.Errorf("backplane/nats: publish %q not confirmed: %w", subject, ctxErr)
		}
		return b.wrap("publish", subject, fmt.Errorf("not confirmed by the server: %w", err))
	}
	return nil
}

// Health implements backplane.HealthReporter.
func (b *Backplane) Health() (backplane.State, error) { return b.health.Health() }

// Watch implements backplane.HealthReporter. Events report the loss and
// return of the connection, its replacement after nats.go closed it, and
// messages nats.go dropped for a subscription too slow to keep up
// (natsgo.ErrSlowConsumer).
func (b *Backplane) Watch(f func(backplane.Event)) (stop func()) { return b.health.Watch(f) }

// confirmBatch is the publishes that one round trip confirms.
type confirmBatch struct {
	nc   *natsgo.Conn
	done chan struct{} // closed once err is set
	err  error
}

// confirm waits for a round trip to the server made after the caller's
// publish on nc. Publishers that wait at the same time share one: while
// one round trip is in flight, the next callers join a batch, and the
// flusher goroutine starts the next round trip for all of them once the
// first returns.
func (b *Backplane) confirm(ctx context.Context, nc *natsgo.Conn) error {
	b.fmu.Lock()
	if b.fclosed {
		b.fmu.Unlock()
		return backplane.ErrClosed
	}
	bt := b.batch
	if bt != nil && bt.nc != nc {
		// A batch for the connection that was replaced is waiting:
		// confirm this publish on its own.
		b.fmu.Unlock()
		return b.flush(nc)
	}
	if bt == nil {
		bt = &confirmBatch{nc: nc, done: make(chan struct{})}
		b.batch = bt
	}
	if !b.flushing {
		b.flushing = true
		b.bgWG.Add(1)
		go b.flusher()
	}
	b.fmu.Unlock()
	select {
	case <-bt.done:
		return bt.err
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stop:
		return backplane.ErrClosed
	}
}

// flusher confirms the waiting batches one after the other, and returns
// when none is left.
func (b *Backplane) flusher() {
	defer b.bgWG.Done()
	for {
		b.fmu.Lock()
		bt := b.batch
		b.batch = nil
		if bt == nil {
			b.flushing = false
			b.fmu.Unlock()
			return
		}
		b.fmu.Unlock()
		bt.err = b.flush(bt.nc)
		close(bt.done)
	}
}

// flush makes a round trip to the server on nc, bounded by the publish
// timeout.
func (b *Backplane) flush(nc *natsgo.Conn) error {
	if !nc.IsConnected() {
		if nc.IsClosed() {
			return natsgo.ErrConnectionClosed
		}
		return natsgo.ErrConnectionReconnecting
	}
	err := nc.FlushTimeout(b.pubTO)
	if errors.Is(err, natsgo.ErrConnectionClosed) && !nc.IsClosed() {
		// nats.go ends the round trips in flight when it loses the
		// connection.
		return natsgo.ErrConnectionReconnecting
	}
	return err
}

// disconnected handles the loss of connection nc.
func (b *Backplane) disconnected(nc *natsgo.Conn, err error) {
	if err == nil {
		err = natsgo.ErrDisconnected
	}
	err = fmt.Errorf("backplane/nats: disconnected: %w", err)
	if b.current(nc) {
		b.health.Set(backplane.Disconnected, err, true)
	}
	b.report(err)
}

// connected handles a connection established, or established again after
// being down.
func (b *Backplane) connected(nc *natsgo.Conn) {
	if !b.current(nc) {
		return
	}
	// The subscriptions have been sent again; make sure the server has
	// them before saying that nothing more is missed.
	_ = nc.FlushTimeout(syncTimeout)
	if b.health.Set(backplane.Connected, nil, true) && b.onReconn != nil {
		b.onReconn()
	}
}

// connClosed handles a connection that nats.go closed for good: after a
// protocol error from the server, when it ran out of reconnection
// attempts, or when the caller closed it. With Connect, the Backplane
// dials a new connection; with New, it reports Closed.
func (b *Backplane) connClosed(nc *natsgo.Conn) {
	if !b.current(nc) {
		return
	}
	cause := nc.LastError()
	if cause == nil {
		cause = natsgo.ErrConnectionClosed
	}
	err := fmt.Errorf("backplane/nats: connection closed: %w", cause)
	if b.dial == nil {
		b.health.Set(backplane.Closed, err, true)
		b.report(err)
		return
	}
	b.health.Set(backplane.Disconnected, err, true)
	b.report(fmt.Errorf("%w; dialing a new connection", err))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() || b.redialing {
		return
	}
	b.redialing = true
	b.redialN++
	if time.Since(b.redialed) > time.Minute {
		b.redialN = 1 // the last one worked for long enough
	}
	b.redialed = time.Now()
	b.bgWG.Add(1)
	go b.redial(redialDelay(b.redialN))
}

// redialDelay is the pause before the nth redial within a minute:
// 250ms, doubling up to 8s, shortened by up to a fifth at random.
func redialDelay(n int) time.Duration {
	d := 8 * time.Second
	if n <= 6 {
		d = 250 * time.Millisecond << (n - 1)
	}
	return d - rand.N(d/5)
}

// redial replaces the current connection, closed for good, with a new
// one that has every subscription.
func (b *Backplane) redial(delay time.Duration) {
	defer b.bgWG.Done()
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-b.stop:
			t.Stop()
			return
		}
		nc, err := b.dial()
		if err != nil {
			b.report(fmt.Errorf("backplane/nats: dialing a new connection: %w", err))
			delay = redialDelay(attempt + 1)
			continue
		}
		b.mu.Lock()
		if b.closed.Load() {
			b.mu.Unlock()
			nc.Close()
			return
		}
		for s := range b.subs {
			if s.sub != nil {
				delete(b.byNats, s.sub)
				s.sub = nil
			}
			ns, err := nc.ChanSubscribe(b.prefix+s.subject, b.inbox)
			if err != nil {
				b.report(b.wrap("subscribe", s.subject, err))
				continue
			}
			s.sub = ns
			b.byNats[ns] = s
		}
		b.nc.Store(nc)
		b.redialing = false
		b.mu.Unlock()
		// Handlers that ran before nc was stored ignored it.
		switch {
		case nc.IsConnected():
			b.connected(nc)
		case nc.IsClosed():
			b.connClosed(nc)
		}
		// Otherwise the connect handler reports it once connected.
		return
	}
}

// asyncError handles an error nats.go reports on its own.
func (b *Backplane) asyncError(nc *natsgo.Conn, sub *natsgo.Subscription, err error) {
	if sub != nil {
		subject := sub.Subject
		if len(subject) > len(b.prefix) && subject[:len(b.prefix)] == b.prefix {
			subject = subject[len(b.prefix):]
		}
		err = fmt.Errorf("backplane/nats: subscription %s: %w", subject, err)
		if errors.Is(err, natsgo.ErrSlowConsumer) && b.current(nc) {
			b.health.Lost(subject, err)
		}
	} else {
		err = fmt.Errorf("backplane/nats: %w", err)
	}
	b.report(err)
}

// current reports whether nc is the Backplane's connection, open.
func (b *Backplane) current(nc *natsgo.Conn) bool {
	return !b.closed.Load() && b.nc.Load() == nc
}

// report hands err to WithErrorHandler (Connect only).
func (b *Backplane) report(err error) {
	if b.onErr != nil {
		b.onErr(err)
	}
}

// Request implements backplane.Backplane. It returns
// backplane.ErrNoResponders when the server knows no subscription of
// subject (NATS servers 2.2 and later tell; with older ones Request waits
// for ctx), and ctx's error, unwrapped, when ctx ends first.
func (b *Backplane) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := b.check(ctx, subject); err != nil {
		return nil, err
	}
	m, err := b.nc.Load().RequestWithContext(ctx, b.prefix+subject, data)
	if err != nil {
		if errors.Is(err, natsgo.ErrNoResponders) {
			return nil, backplane.ErrNoResponders
		}
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, ctxErr
		}
		return nil, b.wrap("request", subject, err)
	}
	return m.Data, nil
}

// Subscribe implements backplane.Backplane. The handler gets the message
// nats.go allocated for it; nothing is copied. It runs on the Backplane's
// dispatch goroutine, in the order the connection received the messages
// of all subscriptions.
func (b *Backplane) Subscribe(subject string, h backplane.Handler) (backplane.Subscription, error) {
	if h == nil {
		return nil, errors.New("backplane/nats: Subscribe with a nil handler")
	}
	if err := b.check(context.Background(), subject); err != nil {
		return nil, err
	}
	s := &subscription{b: b, subject: subject, h: h}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return nil, backplane.ErrClosed
	}
	if b.inbox == nil {
		b.startDispatch()
	}
	// b.mu stays held until s is registered, so a message that arrives at
	// once waits in dispatch for the registration.
	ns, err := b.nc.Load().ChanSubscribe(b.prefix+subject, b.inbox)
	switch {
	case err == nil:
		s.sub = ns
		b.byNats[ns] = s
	case b.dial != nil && errors.Is(err, natsgo.ErrConnectionClosed):
		// The connection is being replaced: the new one subscribes.
	default:
		b.mu.Unlock()
		return nil, b.wrap("subscribe", subject, err)
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	b.sync()
	return s, nil
}

// Close implements backplane.Backplane: it unsubscribes everything, and
// closes the connection if the Backplane owns it (what is still in the
// write buffer is sent first). It waits for handler calls in progress to
// return, so it must not be called from a handler; messages not yet
// handed to a handler are dropped.
func (b *Backplane) Close() error {
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return backplane.ErrClosed
	}
	b.closed.Store(true)
	subs := b.subs
	b.subs = nil
	nsubs := make([]*natsgo.Subscription, 0, len(subs))
	for s := range subs {
		if s.sub != nil {
			nsubs = append(nsubs, s.sub)
		}
	}
	b.mu.Unlock()
	b.fmu.Lock()
	b.fclosed = true // no flusher starts from now on
	b.fmu.Unlock()
	close(b.stop)
	defer func() {
		b.wg.Wait()
		b.bgWG.Wait()
		b.health.Set(backplane.Closed, backplane.ErrClosed, false)
	}()

	var errs []error
	for s := range subs {
		s.done.Store(true)
	}
	for _, ns := range nsubs {
		if err := ns.Unsubscribe(); err != nil && !gone(err) {
			errs = append(errs, b.wrap("unsubscribe", ns.Subject, err))
		}
	}
	if b.own {
		b.nc.Load().Close()
	}
	return errors.Join(errs...)
}

// check returns the error of a call that must not go ahead.
func (b *Backplane) check(ctx context.Context, subject string) error {
	if b.closed.Load() {
		return backplane.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !backplane.ValidSubject(subject) {
		return fmt.Errorf("backplane/nats: invalid subject %q", subject)
	}
	if len(b.prefix)+len(subject) > MaxSubjectLen {
		return fmt.Errorf("backplane/nats: subject of %d bytes, longer than %d with the prefix", len(subject), MaxSubjectLen)
	}
	return nil
}

// sync makes a round trip to the server, so that the subscriptions
// changed before it are known there. While disconnected there is nothing
// to confirm: nats.go sends the current subscriptions on reconnection.
func (b *Backplane) sync() {
	if nc := b.nc.Load(); nc.IsConnected() {
		_ = nc.FlushTimeout(syncTimeout)
	}
}

// wrap describes a nats.go error. A connection closed for good under the
// Backplane (one of New's, or Close called meanwhile) is reported as
// backplane.ErrClosed as well, and a send refused during an outage as
// natsgo.ErrConnectionReconnecting.
func (b *Backplane) wrap(op, subject string, err error) error {
	switch {
	case (b.dial == nil || b.closed.Load()) && (errors.Is(err, natsgo.ErrConnectionClosed) || errors.Is(err, natsgo.ErrConnectionDraining)):
		return fmt.Errorf("backplane/nats: %s %q: %w (%w)", op, subject, backplane.ErrClosed, err)
	case errors.Is(err, natsgo.ErrReconnectBufExceeded):
		return fmt.Errorf("backplane/nats: %s %q: %w (%w)", op, subject, natsgo.ErrConnectionReconnecting, err)
	}
	return fmt.Errorf("backplane/nats: %s %q: %w", op, subject, err)
}

// gone reports whether err means that a subscription no longer exists.
func gone(err error) bool {
	return errors.Is(err, natsgo.ErrConnectionClosed) || errors.Is(err, natsgo.ErrBadSubscription)
}

type subscription struct {
	b       *Backplane
	subject string // without the prefix
	h       backplane.Handler
	sub     *natsgo.Subscription // guarded by Backplane.mu; nil while the connection is replaced
	done    atomic.Bool
}

// startDispatch starts the goroutine that runs handlers. b.mu must be
// held.
func (b *Backplane) startDispatch() {
	b.inbox = make(chan *natsgo.Msg, dispatchQueue)
	b.wg.Add(1)
	go b.dispatch(b.inbox)
}

// dispatch runs handlers in the order nats.go's reading goroutine queued
// the messages, which is the order the server sent them.
func (b *Backplane) dispatch(ch chan *natsgo.Msg) {
	defer b.wg.Done()
	var (
		msgs [dispatchBatch]*natsgo.Msg
		subs [dispatchBatch]*subscription
	)
	for {
		select {
		case m := <-ch:
			// Take what else is waiting, to look the subscriptions up
			// under one lock.
			n := 1
			msgs[0] = m
		more:
			for n < dispatchBatch {
				select {
				case m := <-ch:
					msgs[n] = m
					n++
				default:
					break more
				}
			}
			b.mu.RLock()
			for i, m := range msgs[:n] {
				subs[i] = b.byNats[m.Sub]
			}
			b.mu.RUnlock()
			for i, m := range msgs[:n] {
				if s := subs[i]; s != nil {
					s.deliver(m)
				}
				msgs[i], subs[i] = nil, nil
			}
		case <-b.stop:
			return
		}
	}
}

// dispatchBatch is how many waiting messages dispatch takes at once.
const dispatchBatch = 64

func (s *subscription) deliver(m *natsgo.Msg) {
	// nats.go may still hand over messages it queued before Unsubscribe;
	// the contract allows only a call already in progress to finish.
	if s.done.Load() {
		return
	}
	msg := &backplane.Message{Subject: s.subject, Data: m.Data}
	if m.Reply != "" {
		b, reply := s.b, m.Reply
		msg.Reply = func(data []byte) error {
			if b.closed.Load() {
				return backplane.ErrClosed
			}
			if err := b.nc.Load().Publish(reply, data); err != nil {
				return b.wrap("reply to", s.subject, err)
			}
			return nil
		}
	}
	s.h(msg)
}

// Unsubscribe implements backplane.Subscription. A second call, or a call
// after Close, does nothing and returns nil.
func (s *subscription) Unsubscribe() error {
	if s.done.Swap(true) {
		return nil
	}
	b := s.b
	b.mu.Lock()
	delete(b.subs, s)
	ns := s.sub
	if ns != nil {
		delete(b.byNats, ns)
	}
	b.mu.Unlock()
	if ns == nil {
		return nil // the connection it was on is gone
	}
	if err := ns.Unsubscribe(); err != nil {
		if gone(err) {
			return nil
		}
		return b.wrap("unsubscribe", s.subject, err)
	}
	b.sync()
	return nil
}
