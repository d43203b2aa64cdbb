// Package nats carries a backplane.Backplane over NATS, so that hubs in
// several processes (on several machines) act as one.
//
// Each backplane subject is sent as one NATS subject, Options.Prefix
// followed by a dot and the subject ("signalr.g.room1" for "g.room1" with
// the default prefix); requests use NATS request/reply with the
// connection's response inboxes. Nothing is persisted: a node that is
// disconnected misses what is published meanwhile, as it would over
// plain NATS.
//
// # Differences from the in-process bus
//
//   - Delivery is asynchronous: Publish returns once the message is in
//     the connection's write buffer, and handlers run on one goroutine
//     that the Backplane shares among all its subscriptions, in the order
//     the connection received the messages, whatever their subjects. NATS
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
//     connection reports nats.ErrSlowConsumer to its error handler.
//
// # Outages
//
// While the connection is down, nats.go reconnects in the background and
// re-sends every subscription when it is back, so subscriptions survive
// an outage without any action. What the Backplane does meanwhile depends
// on the connection's reconnect buffer (natsgo.ReconnectBufSize):
//
//   - With Connect, the buffer is disabled (-1): from the moment nats.go
//     has noticed the disconnection until it has reconnected, Publish and
//     Request fail at once with an error wrapping
//     natsgo.ErrConnectionReconnecting, instead of queueing messages that
//     would reach the server late or never. Messages published in the
//     short time between the server going away and nats.go noticing it
//     (normally the time it takes to read the closed socket; up to the
//     ping interval for a silent network failure) are accepted and lost.
//   - With New, the connection's own setting applies; nats.go's default
//     buffers up to 8 MiB while reconnecting, sends that when it is back,
//     and makes Publish fail once the buffer is full.
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
)

// DefaultPrefix is the subject prefix used when Options.Prefix is empty.
const DefaultPrefix = "signalr"

// syncTimeout bounds the round trip that Subscribe and Unsubscribe make
// to confirm a change with the server. When it runs out (a server that
// went silent), the change is still made: nats.go sends it, or re-sends
// it on reconnection.
const syncTimeout = 2 * time.Second

// dispatchQueue is how many messages may wait for the goroutine that
// runs the handlers of all subscriptions before nats.go drops messages as
// a slow consumer.
const dispatchQueue = 65536

// Options configure a Backplane. The zero value is usable.
type Options struct {
	// Prefix is put, with a dot, in front of every subject, so that
	// several applications or hubs can share one NATS account without
	// seeing each other's messages. It is made of the same dot-separated
	// tokens as subjects (letters, digits, '-' and '_'). Default
	// DefaultPrefix ("signalr").
	Prefix string
	// OwnConn makes Close close the NATS connection. Without it, the
	// connection given to New stays open and remains the caller's to
	// close. Connect sets it.
	OwnConn bool
	// OnError, when set, is called with the asynchronous errors of a
	// connection made by Connect: a lost connection (the cause, or
	// natsgo.ErrDisconnected), a connection closed for good by nats.go,
	// and the errors the server or nats.go report later, such as
	// natsgo.ErrSlowConsumer. It is not called for what Close does.
	// nats.go calls it from one goroutine of its own, one call at a time;
	// it must not block for long. With New, set the connection's own
	// handlers instead (natsgo.DisconnectErrHandler, natsgo.ErrorHandler).
	OnError func(error)
	// OnReconnect, when set, is called each time a connection made by
	// Connect is established again after being down, including a first
	// connection that Connect had to retry. Subscriptions have been
	// re-sent by then. Same goroutine as OnError. With New, use
	// natsgo.ReconnectHandler.
	OnReconnect func()
}

// Backplane is a backplane.Backplane over one NATS connection. It is safe
// for concurrent use. Create it with New or Connect.
type Backplane struct {
	nc     *natsgo.Conn
	prefix string // with its trailing dot
	own    bool

	closed atomic.Bool
	mu     sync.RWMutex // guards subs, byNats, inbox, and closed's transition to true
	subs   map[*subscription]struct{}
	byNats map[*natsgo.Subscription]*subscription
	inbox  chan *natsgo.Msg // every subscription's messages; made with the first one
	stop   chan struct{}
	wg     sync.WaitGroup
}

var _ backplane.Backplane = (*Backplane)(nil)

// New returns a Backplane over nc. Unless opts.OwnConn is set, the caller
// keeps nc: Close ends the Backplane's subscriptions and leaves nc open.
// It panics if nc is nil or opts.Prefix is not a valid subject.
func New(nc *natsgo.Conn, opts Options) *Backplane {
	if nc == nil {
		panic("backplane/nats: New with a nil connection")
	}
	b, err := newBackplane(opts)
	if err != nil {
		panic(err)
	}
	b.nc = nc
	return b
}

func newBackplane(opts Options) (*Backplane, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !backplane.ValidSubject(prefix) {
		return nil, fmt.Errorf("backplane/nats: invalid prefix %q", prefix)
	}
	return &Backplane{
		prefix: prefix + ".",
		own:    opts.OwnConn,
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
//   - reports to opts.OnError and opts.OnReconnect.
//
// natsOpts are applied after these and override them; replacing the
// connection's handlers disconnects opts.OnError and opts.OnReconnect.
func Connect(url string, opts Options, natsOpts ...natsgo.Option) (*Backplane, error) {
	b, err := newBackplane(opts)
	if err != nil {
		return nil, err
	}
	b.own = true
	onError := func(err error) {
		if opts.OnError != nil && !b.closed.Load() {
			opts.OnError(err)
		}
	}
	onReconnect := func(*natsgo.Conn) {
		if opts.OnReconnect != nil && !b.closed.Load() {
			opts.OnReconnect()
		}
	}
	// nats.go calls the connect handler for the first connection, made at
	// once or after retries; only the second kind is a reconnection. It
	// was retried if natsgo.Connect returned before it was made. (Should
	// the first retry succeed between that return and the status check,
	// the call is missed; nothing else depends on it.)
	var retried atomic.Bool
	returned := make(chan struct{})
	onConnect := func(nc *natsgo.Conn) {
		<-returned
		if retried.Load() {
			onReconnect(nc)
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
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err == nil {
				err = natsgo.ErrDisconnected
			}
			onError(fmt.Errorf("backplane/nats: disconnected: %w", err))
		}),
		natsgo.ReconnectHandler(onReconnect),
		natsgo.ConnectHandler(onConnect),
		natsgo.ClosedHandler(func(*natsgo.Conn) {
			onError(fmt.Errorf("backplane/nats: %w", natsgo.ErrConnectionClosed))
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			if sub != nil {
				err = fmt.Errorf("backplane/nats: subscription %s: %w", sub.Subject, err)
			} else {
				err = fmt.Errorf("backplane/nats: %w", err)
			}
			onError(err)
		}),
	}
	nc, err := natsgo.Connect(url, append(all, natsOpts...)...)
	if nc != nil {
		retried.Store(nc.Status() != natsgo.CONNECTED)
	}
	close(returned)
	if err != nil {
		return nil, fmt.Errorf("backplane/nats: connect: %w", err)
	}
	b.nc = nc
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
// the connection; 0 before the first connection.
func (b *Backplane) MaxPayload() int { return int(b.nc.MaxPayload()) }

// Conn returns the NATS connection, for its status and statistics.
func (b *Backplane) Conn() *natsgo.Conn { return b.nc }

// Publish implements backplane.Backplane. It returns once the message is
// in the connection's write buffer; ctx is only checked before that,
// since nats.go does not block on the network there. See the package
// documentation for what happens during an outage.
func (b *Backplane) Publish(ctx context.Context, subject string, data []byte) error {
	if err := b.check(ctx, subject); err != nil {
		return err
	}
	if err := b.nc.Publish(b.prefix+subject, data); err != nil {
		return b.wrap("publish", subject, err)
	}
	return nil
}

// Request implements backplane.Backplane. It returns
// backplane.ErrNoResponders when the server knows no subscription of
// subject (NATS servers 2.2 and later tell; with older ones Request waits
// for ctx), and ctx's error, unwrapped, when ctx ends first.
func (b *Backplane) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := b.check(ctx, subject); err != nil {
		return nil, err
	}
	m, err := b.nc.RequestWithContext(ctx, b.prefix+subject, data)
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
	ns, err := b.nc.ChanSubscribe(b.prefix+subject, b.inbox)
	if err != nil {
		b.mu.Unlock()
		return nil, b.wrap("subscribe", subject, err)
	}
	s.sub = ns
	b.subs[s] = struct{}{}
	b.byNats[ns] = s
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
	started := b.inbox != nil
	b.mu.Unlock()
	defer func() {
		if started {
			close(b.stop)
			b.wg.Wait()
		}
	}()

	var errs []error
	for s := range subs {
		s.done.Store(true)
		if err := s.sub.Unsubscribe(); err != nil && !gone(err) {
			errs = append(errs, b.wrap("unsubscribe", s.subject, err))
		}
	}
	if b.own {
		b.nc.Close()
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
	return nil
}

// sync makes a round trip to the server, so that the subscriptions
// changed before it are known there. While disconnected there is nothing
// to confirm: nats.go sends the current subscriptions on reconnection.
func (b *Backplane) sync() {
	if b.nc.IsConnected() {
		_ = b.nc.FlushTimeout(syncTimeout)
	}
}

// wrap describes a nats.go error. A connection closed under the Backplane
// is reported as backplane.ErrClosed as well, and a send refused during
// an outage as natsgo.ErrConnectionReconnecting.
func (b *Backplane) wrap(op, subject string, err error) error {
	switch {
	case errors.Is(err, natsgo.ErrConnectionClosed), errors.Is(err, natsgo.ErrConnectionDraining):
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
	sub     *natsgo.Subscription // set once Subscribe has it
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
			if err := b.nc.Publish(reply, data); err != nil {
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
	delete(b.byNats, s.sub)
	b.mu.Unlock()
	if err := s.sub.Unsubscribe(); err != nil {
		if gone(err) {
			return nil
		}
		return b.wrap("unsubscribe", s.subject, err)
	}
	b.sync()
	return nil
}
