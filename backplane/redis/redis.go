// Package redis carries a backplane.Backplane over Redis pub/sub, so that
// hubs in several processes (on several machines) act as one, with
// nothing but a Redis server between them.
//
// Each backplane subject is one Redis channel, the prefix (WithPrefix) followed by
// a dot and the subject ("signalr.g.room1" for "g.room1" with the default
// prefix); Publish is a PUBLISH to that channel. Every Backplane holds one
// pub/sub connection, whatever the number of its subscriptions: the first
// local subscription of a subject SUBSCRIBEs its channel, the last one to
// end UNSUBSCRIBEs it, and one goroutine reads the connection and hands
// each message to the subscriptions of its channel. Nothing is persisted:
// a node that is disconnected misses what is published meanwhile, as it
// would with plain Redis pub/sub.
//
// Requests travel over pub/sub too. Each Backplane has a reply channel of
// its own, the prefix (WithPrefix) followed by ":reply:" and a random name (the
// colon keeps it apart from every subject's channel); a request carries
// that channel and a request number, and the responder's Message.Reply
// publishes the answer there. What a Backplane publishes is framed: one
// byte tells a published message from a request and from the replies,
// followed by uvarint-framed fields and the data. Only Backplanes of this
// package understand one another; other clients of the Redis server must
// not publish on the prefix's channels (a Backplane reports and drops what
// it cannot read).
//
// # Differences from the in-process bus
//
//   - Delivery is asynchronous: Publish returns once Redis has accepted
//     the message (a PUBLISH round trip), and handlers run on one
//     goroutine that the Backplane shares among all its subscriptions,
//     started when a message arrives and ended when there is nothing left
//     to do. It calls them in the order the pub/sub connection received
//     the messages, whatever their channels; since Redis sends messages
//     to a subscriber in the order it ran the PUBLISH commands, what one
//     goroutine publishes reaches each node's handlers in that order,
//     across subjects. Handlers must not block for long: a handler that
//     waits holds up every subscription of the Backplane. When handlers
//     fall behind, what arrives is queued; past 512Ki messages or 64 MiB
//     queued, further messages are dropped and ErrSlowConsumer is
//     reported to WithErrorHandler.
//   - A Request is delivered to every subscription of its subject, and the
//     first reply wins; the others are discarded. The in-process bus hands
//     it to one subscription only. Request subjects that name a single
//     recipient (one connection, one node) behave the same on both.
//   - Request returns backplane.ErrNoResponders at once when PUBLISH
//     reports that no pub/sub connection subscribes to the channel, and
//     soon after when every node that received it had no local
//     subscription left to take it (one that ended meanwhile). A pub/sub
//     client that is not a Backplane (redis-cli SUBSCRIBE, say) counts as
//     a receiver that never answers: a Request then waits for its context.
//   - Subscribe and Unsubscribe wait (up to 2s) for Redis to confirm the
//     change on the pub/sub connection, so that when they return a Publish
//     or Request from any node sees it.
//   - Messages published by one goroutine arrive in order, across
//     subjects, because each PUBLISH is answered before the next one is
//     sent.
//   - Redis disconnects a pub/sub client that does not read fast enough
//     (client-output-buffer-limit pubsub, by default 32 MiB, or 8 MiB for
//     a minute). The Backplane reads at once and queues for its handlers,
//     so that takes a network or a node that cannot keep up; what was in
//     the buffer is lost, and the Backplane reconnects as after an outage.
//
// # Outages
//
// While Redis is unreachable, Publish and Request fail with the error
// go-redis reports (a refused or broken connection), and Request also
// fails at once with ErrDisconnected whenever the Backplane's pub/sub
// connection is down, since its reply could not arrive. Nothing is
// buffered. The pub/sub connection reconnects by itself, after 100ms,
// 200ms, 400ms, then every second (each shortened by up to a fifth at
// random), and SUBSCRIBEs again every channel it had, so subscriptions
// survive an outage without any action; WithErrorHandler hears of the
// disconnection and WithReconnectHandler of the return. Messages published
// while a node's pub/sub connection is down are lost for that node, and
// so are replies to its requests sent meanwhile; messages published
// between the server going away and the clients noticing (reading the
// closed socket, or up to 10s for a silent network: the pub/sub
// connection pings after 5s without traffic and gives up 5s later) are
// accepted and lost.
//
// Subscribe and Unsubscribe succeed during an outage; the change reaches
// Redis on reconnection.
//
// The Backplane is a backplane.HealthReporter: Health and Watch tell the
// pub/sub connection's loss (Disconnected), its return (Connected, once
// Redis has confirmed the subscriptions sent again and the client answers
// a PING, so that Publish goes through again too), a client given to New
// closed under it (Closed, once a call or the pub/sub connection meets
// the closed client; every call returns backplane.ErrClosed from then
// on), and
// messages dropped for a slow subscription (Lost, with the subject). Each
// loss and return is reported with Lost set, since what other nodes
// published in between did not arrive.
//
// With Connect, PUBLISH is never retried (go-redis's MaxRetries is -1):
// a retry after a lost reply could deliver a message twice, and the
// backplane promises at most once. With New, the client's own settings
// apply, and go-redis retries up to 3 times by default.
//
// # Sentinel and Cluster
//
// New accepts any goredis.UniversalClient. A Sentinel-managed primary
// (goredis.NewFailoverClient, or NewUniversalClient with MasterName) works
// like a single server: after a failover the pub/sub connection reconnects
// to the new primary and subscribes again, and what was published during
// the switch is lost, as in any outage. A Redis Cluster client
// (goredis.NewClusterClient) is accepted: classic PUBLISH is broadcast to
// every node of the cluster, so delivery works wherever each Backplane's
// pub/sub connection is attached, at the cost of every message crossing
// the cluster bus to every node. But PUBLISH's receiver count only covers
// the clients of the node that ran it, so Request can report
// backplane.ErrNoResponders although a responder exists on another node:
// cross-node requests (group changes, client results, forwarded HTTP
// transport requests) are unreliable on a Redis Cluster. Only a single
// Redis server (7.0, Debian's package) has been tested; Sentinel and
// Cluster have not.
package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/internal/health"
)

// DefaultPrefix is the channel prefix used when no prefix is set (WithPrefix).
const DefaultPrefix = "signalr"

const (
	// syncTimeout bounds the wait for Redis to confirm a SUBSCRIBE or an
	// UNSUBSCRIBE. When it runs out (a server that went silent), the
	// change is still made: go-redis sends it, or sends the current
	// subscriptions on reconnection.
	syncTimeout = 2 * time.Second
	// pingInterval is how long the pub/sub connection may stay silent
	// before the Backplane pings it; pongTimeout is how long it then waits
	// for any answer before dropping the connection.
	pingInterval = 5 * time.Second
	pongTimeout  = 5 * time.Second
	// confirmRetry is the pause before asking again whether the client
	// answers, when the pub/sub connection is back before it.
	confirmRetry = 50 * time.Millisecond
	// The Backplane drops messages beyond these, waiting for handlers.
	maxPendingMsgs  = 512 * 1024
	maxPendingBytes = 64 << 20
)

// Errors of this package.
var (
	// ErrDisconnected is returned by Request while the Backplane's pub/sub
	// connection is down: its reply could not arrive.
	ErrDisconnected = errors.New("backplane/redis: pub/sub connection down")
	// ErrSlowConsumer is reported to WithErrorHandler when the Backplane
	// starts dropping messages because its handlers fall behind.
	ErrSlowConsumer = errors.New("backplane/redis: slow consumer, messages dropped")
)

// options are the settings the Option functions set.
type options struct {
	Prefix         string
	OwnClient      bool
	OnError        func(error)
	PublishTimeout time.Duration
	OnReconnect    func()
}

// Option sets a setting of Connect or New; without any, the defaults
// apply.
type Option func(*options)

// WithPrefix sets the prefix put, with a dot, in front of every subject, so that
// several applications or hubs can share one Redis server (pub/sub
// ignores the database number) without seeing each other's messages.
// It is made of the same dot-separated tokens as subjects (letters,
// digits, '-' and '_'). Default DefaultPrefix ("signalr").
// Prefixes of which one starts with the other and a dot ("app" and
// "app.g") are not apart: "g.x" under the first and "x" under the
// second are the same subject on the wire.
func WithPrefix(prefix string) Option {
	return func(o *options) { o.Prefix = prefix }
}

// WithOwnClient makes Close close the Redis client. Without it, the client
// given to New stays open and remains the caller's to close. Connect
// sets it.
func WithOwnClient() Option {
	return func(o *options) { o.OwnClient = true }
}

// WithErrorHandler sets f to be called with the asynchronous errors of the
// Backplane: its pub/sub connection lost or not made (once per outage,
// with the cause), a subscription dropping messages
// (ErrSlowConsumer), a message it cannot read, a reply it could not
// send for a subscription that ended. It is not called for what Close
// does. Calls are made one at a time from a goroutine of the
// Backplane's; it must not block for long.
func WithErrorHandler(f func(error)) Option {
	return func(o *options) { o.OnError = f }
}

// WithPublishTimeout bounds how long Publish waits for the server's
// answer, whatever the caller's context (default
// DefaultPublishTimeout), so that a server that stopped answering is
// noticed before the client's read timeout. It takes effect when the
// client honours contexts (ContextTimeoutEnabled, which Connect sets).
func WithPublishTimeout(d time.Duration) Option {
	return func(o *options) { o.PublishTimeout = d }
}

// WithReconnectHandler sets f to be called each time the pub/sub connection is
// established again after being down, including a first connection
// that had to be retried. Subscriptions have been sent again by then.
// Same goroutine as the error handler.
func WithReconnectHandler(f func()) Option {
	return func(o *options) { o.OnReconnect = f }
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

// DefaultPublishTimeout is how long Publish waits, at most, for the
// server's answer when no publish timeout is set (WithPublishTimeout).
const DefaultPublishTimeout = 2 * time.Second

// Backplane is a backplane.Backplane over one Redis client and one
// pub/sub connection. It is safe for concurrent use. Create it with New
// or Connect.
type Backplane struct {
	pubTO     time.Duration // WithPublishTimeout
	client    goredis.UniversalClient
	ps        *goredis.PubSub
	prefix    string // with its trailing dot
	replyChan string
	own       bool
	onError   func(error)
	onReconn  func()

	closed   atomic.Bool
	mu       sync.RWMutex // guards chans, and closed's transition to true
	chans    map[string]*channel
	psDown   atomic.Bool    // the pub/sub connection is known to be down
	psClosed atomic.Bool    // Close is closing the pub/sub connection
	sends    sync.WaitGroup // PUBLISH commands in progress
	stop     chan struct{}
	loopDone chan struct{}

	clientGone atomic.Bool // the client given to New was closed under the Backplane

	wmu     sync.Mutex // guards waiters
	waiters map[string][]chan struct{}

	replyMu   sync.Mutex // serializes the subscription of replyChan
	replyLive atomic.Bool

	nextID  atomic.Uint64
	pmu     sync.Mutex // guards pending
	pending map[uint64]*pendingRequest

	events health.Serial // OnError and OnReconnect calls

	inbox  inbox // messages waiting for their handlers
	health health.Reporter
}

var (
	_ backplane.Backplane      = (*Backplane)(nil)
	_ backplane.HealthReporter = (*Backplane)(nil)
)

// channel is one Redis channel with local subscriptions.
type channel struct {
	name    string // Redis channel
	subject string // without the prefix
	// ctl serializes the SUBSCRIBE and UNSUBSCRIBE round trips of this
	// channel; live (guarded by ctl) tells whether Redis has it.
	ctl  sync.Mutex
	live bool
	// Guarded by Backplane.mu: refs counts subscriptions and Subscribe
	// calls in progress; subs is replaced, never modified, so that the
	// reading goroutine can use a copy taken under the read lock.
	refs int
	subs []*subscription
}

type pendingRequest struct {
	done  chan struct{} // closed when data or err is set
	data  []byte
	err   error
	need  int64 // receivers PUBLISH counted; 0 until known
	none  int64 // nodes that answered that they had no subscription
	ended bool
}

// New returns a Backplane over client, which may be a *goredis.Client, a
// Sentinel failover client or a cluster client (see the package
// documentation). Unless WithOwnClient is given, the caller keeps client:
// Close ends the Backplane's subscriptions and leaves client open. The
// Backplane starts its pub/sub connection at once, in the background;
// nothing fails when Redis is not reachable yet. It panics if client is
// nil or the prefix is not a valid subject.
func New(client goredis.UniversalClient, opts ...Option) *Backplane {
	if client == nil {
		panic("backplane/redis: New with a nil client")
	}
	b, err := newBackplane(client, buildOptions(opts))
	if err != nil {
		panic(err)
	}
	return b
}

// Connect makes a Redis client for url (redis://[user:password@]host:port[/db],
// rediss:// for TLS, or unix://path, as goredis.ParseURL reads them) and
// returns a Backplane that owns it. It does not wait for the server:
// without one, Publish and Request fail and subscriptions are made once
// it is there. The client:
//
//   - never retries a command (MaxRetries -1), so that a message is
//     published at most once, and dials once per attempt (DialerRetries
//     1), so that Publish fails promptly during an outage;
//   - honours the context of Publish and Request for its socket deadlines
//     (ContextTimeoutEnabled);
//   - names its connections "gosignalr-backplane" (CLIENT SETNAME).
//
// For other settings, make the client yourself and use New.
func Connect(url string, opts ...Option) (*Backplane, error) {
	o := buildOptions(opts)
	if _, err := validPrefix(o.Prefix); err != nil {
		return nil, err
	}
	ro, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("backplane/redis: %w", err)
	}
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.ContextTimeoutEnabled = true
	if ro.ClientName == "" {
		ro.ClientName = "gosignalr-backplane"
	}
	o.OwnClient = true
	return newBackplane(goredis.NewClient(ro), o)
}

func validPrefix(prefix string) (string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !backplane.ValidSubject(prefix) {
		return "", fmt.Errorf("backplane/redis: invalid prefix %q", prefix)
	}
	return prefix, nil
}

func newBackplane(client goredis.UniversalClient, opts options) (*Backplane, error) {
	prefix, err := validPrefix(opts.Prefix)
	if err != nil {
		return nil, err
	}
	b := &Backplane{
		client:    client,
		prefix:    prefix + ".",
		replyChan: prefix + ":reply:" + rand.Text(),
		own:       opts.OwnClient,
		pubTO:     cmp.Or(opts.PublishTimeout, DefaultPublishTimeout),
		onError:   opts.OnError,
		onReconn:  opts.OnReconnect,
		chans:     make(map[string]*channel),
		stop:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		waiters:   make(map[string][]chan struct{}),
		pending:   make(map[uint64]*pendingRequest),
	}
	b.health.Init(backplane.Disconnected, ErrDisconnected)
	b.ps = client.Subscribe(context.Background())
	go b.loop()
	return b, nil
}

// maxPayload is what MaxPayload reports: Redis's largest string (512 MB,
// its proto-max-bulk-len default) less room for the frame around data.
const maxPayload = 512<<20 - 1024

var _ backplane.PayloadLimiter = (*Backplane)(nil)

// MaxPayload implements backplane.PayloadLimiter: Redis takes values up
// to 512 MB (proto-max-bulk-len), less the Backplane's framing.
func (b *Backplane) MaxPayload() int { return maxPayload }

// Client returns the Redis client.
func (b *Backplane) Client() goredis.UniversalClient { return b.client }

// Health implements backplane.HealthReporter: the state of the pub/sub
// connection. It is Disconnected until the pub/sub connection is first
// made (and Redis has confirmed it), and Closed once Close was called, or
// once the Backplane met the client given to New closed under it.
func (b *Backplane) Health() (backplane.State, error) { return b.health.Health() }

// Watch implements backplane.HealthReporter. Events report the loss and
// return of the pub/sub connection, and messages dropped for a
// subscription too slow to keep up (ErrSlowConsumer).
func (b *Backplane) Watch(f func(backplane.Event)) (stop func()) { return b.health.Watch(f) }

// Publish implements backplane.Backplane. It returns once Redis has
// answered the PUBLISH. See the package documentation for what happens
// during an outage.
func (b *Backplane) Publish(ctx context.Context, subject string, data []byte) error {
	if err := b.check(ctx, subject); err != nil {
		return err
	}
	buf := make([]byte, 0, 1+len(data))
	buf = append(append(buf, kindMessage), data...)
	pctx, cancel := context.WithTimeout(ctx, b.pubTO)
	defer cancel()
	if _, err := b.send(pctx, b.prefix+subject, buf); err != nil {
		var ne net.Error
		if ctx.Err() == nil && (pctx.Err() != nil || errors.As(err, &ne) && ne.Timeout()) {
			// The socket's deadline, from pctx, may fire just before
			// pctx's own timer.
			return fmt.Errorf("backplane/redis: publish %q: no answer from the server within %v: %w (%w)", subject, b.pubTO, context.DeadlineExceeded, err)
		}
		return b.wrap(ctx, "publish", subject, err)
	}
	return nil
}

// Request implements backplane.Backplane. It returns
// backplane.ErrNoResponders when no node subscribes to subject,
// ErrDisconnected while the pub/sub connection is down, and ctx's error,
// unwrapped, when ctx ends first.
func (b *Backplane) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := b.check(ctx, subject); err != nil {
		return nil, err
	}
	if err := b.ensureReplyChannel(); err != nil {
		return nil, err
	}
	if b.psDown.Load() {
		return nil, ErrDisconnected
	}
	id := b.nextID.Add(1)
	p := &pendingRequest{done: make(chan struct{})}
	b.pmu.Lock()
	if b.closed.Load() {
		b.pmu.Unlock()
		return nil, backplane.ErrClosed
	}
	b.pending[id] = p
	b.pmu.Unlock()
	defer func() {
		b.pmu.Lock()
		delete(b.pending, id)
		b.pmu.Unlock()
	}()

	buf := appendRequest(make([]byte, 0, 1+2*binary.MaxVarintLen64+len(b.replyChan)+len(data)), b.replyChan, id, data)
	n, err := b.send(ctx, b.prefix+subject, buf)
	if err != nil {
		return nil, b.wrap(ctx, "request", subject, err)
	}
	if n == 0 {
		return nil, backplane.ErrNoResponders
	}
	b.pmu.Lock()
	p.need = n
	if p.none >= n {
		p.finish(nil, backplane.ErrNoResponders)
	}
	b.pmu.Unlock()
	select {
	case <-p.done:
		return p.data, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// finish ends a request; b.pmu is held.
func (p *pendingRequest) finish(data []byte, err error) {
	if p.ended {
		return
	}
	p.ended = true
	p.data, p.err = data, err
	close(p.done)
}

// ensureReplyChannel subscribes the reply channel before the first
// request.
func (b *Backplane) ensureReplyChannel() error {
	if b.replyLive.Load() {
		return nil
	}
	b.replyMu.Lock()
	defer b.replyMu.Unlock()
	if b.replyLive.Load() {
		return nil
	}
	if err := b.sync(true, b.replyChan); err != nil {
		return err
	}
	b.replyLive.Store(true)
	return nil
}

// Subscribe implements backplane.Backplane. The first subscription of a
// subject on this Backplane subscribes its channel on the pub/sub
// connection and waits for Redis to confirm; later ones share it.
func (b *Backplane) Subscribe(subject string, h backplane.Handler) (backplane.Subscription, error) {
	if h == nil {
		return nil, errors.New("backplane/redis: Subscribe with a nil handler")
	}
	if err := b.check(context.Background(), subject); err != nil {
		return nil, err
	}
	name := b.prefix + subject
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return nil, backplane.ErrClosed
	}
	ch := b.chans[name]
	if ch == nil {
		ch = &channel{name: name, subject: subject}
		b.chans[name] = ch
	}
	ch.refs++
	b.mu.Unlock()

	ch.ctl.Lock()
	defer ch.ctl.Unlock()
	if !ch.live {
		if err := b.sync(true, name); err != nil {
			b.release(ch)
			return nil, err
		}
		ch.live = true
	}
	s := &subscription{b: b, ch: ch, h: h}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, backplane.ErrClosed
	}
	ch.subs = append(slices.Clip(ch.subs), s)
	return s, nil
}

// release undoes a Subscribe that failed; ch.ctl is held.
func (b *Backplane) release(ch *channel) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch.refs--
	if ch.refs == 0 && !ch.live && b.chans[ch.name] == ch {
		delete(b.chans, ch.name)
	}
}

// sync subscribes (or unsubscribes) a channel on the pub/sub connection
// and waits for Redis to confirm, for at most syncTimeout. While Redis is
// unreachable it returns at once: go-redis keeps the channel in (or out
// of) the set it sends again on reconnection.
func (b *Backplane) sync(subscribe bool, name string) error {
	key := waitKey(subscribe, name)
	w := b.addWaiter(key)
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	defer cancel()
	var err error
	if subscribe {
		err = b.ps.Subscribe(ctx, name)
	} else {
		err = b.ps.Unsubscribe(ctx, name)
	}
	if err == nil {
		select {
		case <-w:
			return nil
		case <-ctx.Done():
		}
	}
	b.dropWaiter(key, w)
	if errors.Is(err, goredis.ErrClosed) || b.closed.Load() {
		return backplane.ErrClosed
	}
	return nil
}

func waitKey(subscribe bool, name string) string {
	if subscribe {
		return "s" + name
	}
	return "u" + name
}

// closeAllKey is woken by the confirmation that no channel is left.
const closeAllKey = "u*"

func (b *Backplane) addWaiter(key string) chan struct{} {
	w := make(chan struct{})
	b.wmu.Lock()
	b.waiters[key] = append(b.waiters[key], w)
	b.wmu.Unlock()
	return w
}

func (b *Backplane) dropWaiter(key string, w chan struct{}) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	ws := b.waiters[key]
	if i := slices.Index(ws, w); i >= 0 {
		ws = slices.Delete(ws, i, i+1)
		if len(ws) == 0 {
			delete(b.waiters, key)
		} else {
			b.waiters[key] = ws
		}
	}
}

// wake releases the waiters of key, or all of them when key is "".
func (b *Backplane) wake(key string) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	for k, ws := range b.waiters {
		if key == "" || k == key {
			for _, w := range ws {
				close(w)
			}
			delete(b.waiters, k)
		}
	}
}

// Close implements backplane.Backplane: it unsubscribes everything (and
// waits, up to 2s, for Redis to confirm), closes the pub/sub connection,
// waits for the PUBLISH commands in progress (of Publish, Request and
// Message.Reply) to be answered, and closes the client if the Backplane
// owns it. Requests in progress return backplane.ErrClosed; handler calls
// in progress may still finish.
func (b *Backplane) Close() error {
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return backplane.ErrClosed
	}
	b.closed.Store(true)
	chans := b.chans
	b.chans = nil
	b.mu.Unlock()
	for _, ch := range chans {
		for _, s := range ch.subs {
			s.end()
		}
	}

	// Unsubscribe everything, so that other nodes see no subscriber here
	// as soon as Close returns.
	w := b.addWaiter(closeAllKey)
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	if err := b.ps.Unsubscribe(ctx); err == nil && !b.psDown.Load() {
		select {
		case <-w:
		case <-ctx.Done():
		}
	}
	cancel()
	b.dropWaiter(closeAllKey, w)

	b.psClosed.Store(true)
	close(b.stop)
	var errs []error
	if err := b.ps.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		errs = append(errs, fmt.Errorf("backplane/redis: closing the pub/sub connection: %w", err))
	}
	<-b.loopDone
	b.wake("")
	b.sends.Wait()
	b.health.Set(backplane.Closed, backplane.ErrClosed, false)

	b.pmu.Lock()
	for _, p := range b.pending {
		p.finish(nil, backplane.ErrClosed)
	}
	b.pmu.Unlock()

	if b.own {
		if err := b.client.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
			errs = append(errs, fmt.Errorf("backplane/redis: closing the client: %w", err))
		}
	}
	return errors.Join(errs...)
}

// send PUBLISHes data to a Redis channel unless the Backplane is
// closed. Close waits for the sends in progress before it closes the
// client, so that a message handed over before Close is not cut off.
func (b *Backplane) send(ctx context.Context, channel string, data []byte) (int64, error) {
	b.mu.RLock()
	if b.closed.Load() {
		b.mu.RUnlock()
		return 0, backplane.ErrClosed
	}
	b.sends.Add(1)
	b.mu.RUnlock()
	defer b.sends.Done()
	return b.client.Publish(ctx, channel, data).Result()
}

// check returns the error of a call that must not go ahead.
func (b *Backplane) check(ctx context.Context, subject string) error {
	if b.closed.Load() || b.clientGone.Load() {
		return backplane.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !backplane.ValidSubject(subject) {
		return fmt.Errorf("backplane/redis: invalid subject %q", subject)
	}
	return nil
}

// wrap describes a go-redis error. A client closed under the Backplane is
// reported as backplane.ErrClosed as well; ctx's own error is returned
// unwrapped.
func (b *Backplane) wrap(ctx context.Context, op, subject string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return ctxErr
	}
	if err == backplane.ErrClosed {
		return err
	}
	if errors.Is(err, goredis.ErrClosed) {
		b.clientClosed(err)
		return fmt.Errorf("backplane/redis: %s %q: %w (%w)", op, subject, backplane.ErrClosed, err)
	}
	return fmt.Errorf("backplane/redis: %s %q: %w", op, subject, err)
}

// report hands err to OnError, from the events goroutine.
func (b *Backplane) report(err error) {
	if b.onError == nil || b.closed.Load() {
		return
	}
	b.events.Do(func() {
		if !b.closed.Load() {
			b.onError(err)
		}
	})
}

// loop reads the pub/sub connection until Close: it dispatches messages
// and confirmations, pings a silent connection, and reconnects after a
// failure (go-redis sends the subscriptions again when it dials).
func (b *Backplane) loop() {
	defer close(b.loopDone)
	ctx := context.Background()
	var (
		down         = true // not known to be connected: ping first
		everUp       bool
		failures     int
		awaitingPong bool
		confirming   bool // connected again; the pong tells Redis has the subscriptions
		missed       bool // messages may have been missed before it
	)
	for {
		if down {
			pctx, cancel := context.WithTimeout(ctx, syncTimeout)
			err := b.ps.Ping(pctx)
			cancel()
			if err != nil {
				if b.psClosed.Load() {
					return
				}
				if errors.Is(err, goredis.ErrClosed) {
					b.clientClosed(err)
					return
				}
				if failures == 0 && !everUp {
					b.psDown.Store(true)
					b.wake("")
					err = fmt.Errorf("backplane/redis: cannot reach Redis: %w", err)
					b.setDown(err)
					b.report(err)
				}
				failures++
				if !b.sleep(reconnectDelay(failures)) {
					return
				}
				continue
			}
			down, awaitingPong = false, true
			confirming, missed = true, everUp || failures > 0
			b.psDown.Store(false)
			if failures > 0 && b.onReconn != nil && !b.closed.Load() {
				b.events.Do(func() {
					if !b.closed.Load() {
						b.onReconn()
					}
				})
			}
			everUp, failures = true, 0
		}

		var (
			msg any
			err error
		)
		if awaitingPong {
			// A deadline from the context, not a timeout: go-redis then
			// treats a silent connection as broken and drops it.
			rctx, cancel := context.WithTimeout(ctx, pongTimeout)
			msg, err = b.ps.ReceiveTimeout(rctx, 0)
			cancel()
		} else {
			msg, err = b.ps.ReceiveTimeout(ctx, pingInterval)
		}
		if err != nil {
			if b.psClosed.Load() {
				return
			}
			var ne net.Error
			if !awaitingPong && errors.As(err, &ne) && ne.Timeout() {
				if err = b.ps.Ping(ctx); err == nil {
					awaitingPong = true
					continue
				}
			}
			if b.psClosed.Load() {
				return
			}
			down, awaitingPong, confirming = true, false, false
			b.psDown.Store(true)
			b.wake("") // pending Subscribe calls need not wait
			err = fmt.Errorf("backplane/redis: pub/sub connection lost: %w", err)
			b.setDown(err)
			b.report(err)
			failures = 1
			if !b.sleep(reconnectDelay(failures)) {
				return
			}
			continue
		}
		awaitingPong = false
		switch m := msg.(type) {
		case *goredis.Pong:
			// Redis answers in order: the subscriptions sent on
			// reconnection are in place.
			if confirming {
				// Publish goes through the client's pool, which may
				// still refuse to dial for a while after failed dials:
				// Connected waits until it answers too.
				pctx, cancel := context.WithTimeout(ctx, syncTimeout)
				err := b.client.Ping(pctx).Err()
				cancel()
				if errors.Is(err, goredis.ErrClosed) {
					b.clientClosed(err)
					return
				}
				if err != nil {
					if !b.sleep(confirmRetry) {
						return
					}
					// Ask again; a failed PING shows as a failed read.
					awaitingPong = b.ps.Ping(ctx) == nil
					continue
				}
				confirming = false
				b.health.Set(backplane.Connected, nil, missed)
			}
		case *goredis.Message:
			b.dispatch(m)
		case *goredis.Subscription:
			switch m.Kind {
			case "subscribe":
				b.wake(waitKey(true, m.Channel))
			case "unsubscribe":
				b.wake(waitKey(false, m.Channel))
				if m.Count == 0 {
					b.wake(closeAllKey)
				}
			}
		}
	}
}

// clientClosed handles the client given to New closed under the
// Backplane: it reports Closed, and every call fails with
// backplane.ErrClosed from then on, since no connection can come back.
func (b *Backplane) clientClosed(err error) {
	if !b.clientGone.CompareAndSwap(false, true) {
		return
	}
	b.psDown.Store(true)
	b.wake("") // pending Subscribe calls need not wait
	err = fmt.Errorf("backplane/redis: the client was closed: %w", err)
	b.setDown(err)
	b.report(err)
}

// setDown records the pub/sub connection's loss: for good when the
// client was closed under the Backplane.
func (b *Backplane) setDown(err error) {
	if b.closed.Load() {
		return
	}
	state := backplane.Disconnected
	if errors.Is(err, goredis.ErrClosed) {
		state = backplane.Closed
	}
	b.health.Set(state, err, true)
}

// sleep waits d, or returns false when the Backplane closes first.
func (b *Backplane) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.stop:
		return false
	}
}

// reconnectDelay is the pause before the pub/sub connection's next
// attempt: 100ms, 200ms, 400ms, then 1s, each shortened by up to a fifth
// at random so that many nodes do not return in step.
func reconnectDelay(failures int) time.Duration {
	d := time.Second
	if failures >= 1 && failures <= 3 {
		d = 100 * time.Millisecond << (failures - 1)
	}
	return d - mathrand.N(d/5)
}

// dispatch hands a message from Redis to the subscriptions of its channel.
func (b *Backplane) dispatch(m *goredis.Message) {
	if m.Channel == b.replyChan {
		b.onReply(m.Payload)
		return
	}
	b.mu.RLock()
	ch := b.chans[m.Channel]
	var subs []*subscription
	if ch != nil {
		subs = ch.subs
	}
	b.mu.RUnlock()

	f, ok := parseFrame(m.Payload)
	if !ok || (f.kind != kindMessage && f.kind != kindRequest) {
		b.report(fmt.Errorf("backplane/redis: dropping an unreadable message on channel %q", m.Channel))
		return
	}
	if f.kind == kindMessage {
		for _, s := range subs {
			b.inbox.add(item{sub: s, msg: &backplane.Message{Subject: ch.subject, Data: []byte(f.data)}})
		}
		return
	}
	if len(subs) == 0 {
		go b.sendNoResponder(f.replyTo, f.id)
		return
	}
	r := &request{b: b, replyTo: f.replyTo, id: f.id}
	r.left.Store(int32(len(subs)))
	for _, s := range subs {
		b.inbox.add(item{sub: s, msg: &backplane.Message{Subject: ch.subject, Data: []byte(f.data), Reply: r.reply}, req: r})
	}
}

// onReply completes the request that a reply answers.
func (b *Backplane) onReply(payload string) {
	f, ok := parseFrame(payload)
	if !ok || (f.kind != kindReply && f.kind != kindNoResponder) {
		b.report(errors.New("backplane/redis: dropping an unreadable reply"))
		return
	}
	b.pmu.Lock()
	defer b.pmu.Unlock()
	p := b.pending[f.id]
	if p == nil {
		return // answered already, or given up
	}
	if f.kind == kindReply {
		p.finish([]byte(f.data), nil)
		return
	}
	p.none++
	if p.need > 0 && p.none >= p.need {
		p.finish(nil, backplane.ErrNoResponders)
	}
}

// sendNoResponder tells a requester that this node had no subscription
// left to take its request.
func (b *Backplane) sendNoResponder(replyTo string, id uint64) {
	buf := binary.AppendUvarint([]byte{kindNoResponder}, id)
	if _, err := b.send(context.Background(), replyTo, buf); err != nil && !errors.Is(err, backplane.ErrClosed) {
		b.report(fmt.Errorf("backplane/redis: answering a request that no subscription took: %w", err))
	}
}

// request is a request delivered to one or more local subscriptions.
type request struct {
	b       *Backplane
	replyTo string
	id      uint64
	left    atomic.Int32 // subscriptions that have not taken or dropped it
	taken   atomic.Bool  // a handler was called with it
}

func (r *request) reply(data []byte) error {
	b := r.b
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(data))
	buf = append(binary.AppendUvarint(append(buf, kindReply), r.id), data...)
	ctx := context.Background()
	if _, err := b.send(ctx, r.replyTo, buf); err != nil {
		return b.wrap(ctx, "reply to", r.replyTo, err)
	}
	return nil
}

// dropped records that a subscription will not handle the request; the
// last one to drop a request nobody took says so to the requester.
func (r *request) dropped() {
	if r.left.Add(-1) == 0 && !r.taken.Load() {
		go r.b.sendNoResponder(r.replyTo, r.id)
	}
}

// Frames: one kind byte, then
//
//	kindMessage:     data
//	kindRequest:     uvarint len(replyTo), replyTo, uvarint id, data
//	kindReply:       uvarint id, data
//	kindNoResponder: uvarint id
const (
	kindMessage     byte = 1
	kindRequest     byte = 2
	kindReply       byte = 3
	kindNoResponder byte = 4
)

type frame struct {
	kind    byte
	replyTo string
	id      uint64
	data    string
}

func appendRequest(buf []byte, replyTo string, id uint64, data []byte) []byte {
	buf = append(buf, kindRequest)
	buf = binary.AppendUvarint(buf, uint64(len(replyTo)))
	buf = append(buf, replyTo...)
	buf = binary.AppendUvarint(buf, id)
	return append(buf, data...)
}

// parseFrame reads a frame; data and replyTo share p's memory.
func parseFrame(p string) (f frame, ok bool) {
	if len(p) == 0 {
		return f, false
	}
	f.kind, p = p[0], p[1:]
	uvarint := func() (uint64, bool) {
		var x uint64
		for i := 0; i < len(p) && i < binary.MaxVarintLen64; i++ {
			c := p[i]
			x |= uint64(c&0x7f) << (7 * i)
			if c < 0x80 {
				p = p[i+1:]
				return x, true
			}
		}
		return 0, false
	}
	switch f.kind {
	case kindMessage:
	case kindRequest:
		n, ok := uvarint()
		if !ok || n > uint64(len(p)) {
			return f, false
		}
		f.replyTo, p = p[:n], p[n:]
		if f.id, ok = uvarint(); !ok {
			return f, false
		}
	case kindReply, kindNoResponder:
		if f.id, ok = uvarint(); !ok {
			return f, false
		}
	default:
		return f, false
	}
	f.data = p
	return f, true
}

// item is one message queued for a subscription.
type item struct {
	sub *subscription
	msg *backplane.Message
	req *request // for requests
}

type subscription struct {
	b  *Backplane
	ch *channel
	h  backplane.Handler

	done atomic.Bool
}

// inbox holds the messages of every subscription of a Backplane, in the
// order they arrived, and calls their handlers one at a time on a
// goroutine that runs while it has something to do.
type inbox struct {
	mu      sync.Mutex // guards the fields below
	queue   []item
	head    int
	bytes   int
	running bool
	slow    bool // dropping; reported once until the queue drains
}

// add queues a message and starts the handler goroutine if needed.
func (q *inbox) add(it item) {
	s := it.sub
	q.mu.Lock()
	queued := len(q.queue) - q.head
	if s.done.Load() || queued >= maxPendingMsgs || (queued > 0 && q.bytes+len(it.msg.Data) > maxPendingBytes) {
		report := !s.done.Load() && !q.slow
		if report {
			q.slow = true
		}
		q.mu.Unlock()
		if report {
			err := fmt.Errorf("%w (subject %q)", ErrSlowConsumer, s.ch.subject)
			s.b.health.Lost(s.ch.subject, err)
			s.b.report(err)
		}
		if it.req != nil {
			it.req.dropped()
		}
		return
	}
	if len(q.queue) == cap(q.queue) && q.head >= len(q.queue)/2 {
		// Under steady traffic the queue may never drain: reuse the
		// space of what was handled rather than grow.
		n := copy(q.queue, q.queue[q.head:])
		clear(q.queue[n:])
		q.queue, q.head = q.queue[:n], 0
	}
	q.queue = append(q.queue, it)
	q.bytes += len(it.msg.Data)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go q.run()
	}
}

// run calls the handlers of queued messages, one at a time, in order,
// and returns when the queue is empty.
func (q *inbox) run() {
	for {
		q.mu.Lock()
		if q.head == len(q.queue) {
			if cap(q.queue) > 1024 {
				q.queue = nil // let a burst's memory go
			}
			q.queue, q.head, q.bytes, q.running, q.slow = q.queue[:0], 0, 0, false, false
			q.mu.Unlock()
			return
		}
		it := q.queue[q.head]
		q.queue[q.head] = item{}
		q.head++
		q.bytes -= len(it.msg.Data)
		q.mu.Unlock()
		// The contract allows only a call already in progress to finish
		// after Unsubscribe.
		if it.sub.done.Load() {
			if it.req != nil {
				it.req.dropped()
			}
			continue
		}
		if it.req != nil {
			it.req.taken.Store(true)
			it.req.left.Add(-1)
		}
		it.sub.h(it.msg)
	}
}

// end stops delivery without unsubscribing (Close does that for all).
func (s *subscription) end() {
	s.done.Store(true)
}

// Unsubscribe implements backplane.Subscription. The last subscription
// of a subject on this Backplane unsubscribes its channel and waits for
// Redis to confirm. A second call, or a call after Close, does nothing and
// returns nil.
func (s *subscription) Unsubscribe() error {
	if s.done.Swap(true) {
		return nil
	}
	b, ch := s.b, s.ch
	ch.ctl.Lock()
	defer ch.ctl.Unlock()
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return nil
	}
	if i := slices.Index(ch.subs, s); i >= 0 {
		ch.subs = slices.Delete(slices.Clone(ch.subs), i, i+1)
	}
	ch.refs--
	last := ch.refs == 0
	b.mu.Unlock()
	var err error
	if last && ch.live {
		err = b.sync(false, ch.name)
		ch.live = false
	}
	b.mu.Lock()
	if ch.refs == 0 && !ch.live && b.chans[ch.name] == ch {
		delete(b.chans, ch.name)
	}
	b.mu.Unlock()
	if errors.Is(err, backplane.ErrClosed) {
		return nil // Close unsubscribed everything
	}
	return err
}
