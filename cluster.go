package signalr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// Scale-out over a backplane. Every node subscribes to the hub's broadcast
// subjects and to the subjects of what it holds: each local connection,
// and each group and user with at least one local connection
// (reference-counted, one subscription per subject per node). A send is
// delivered to local connections directly, then published once with every
// protocol's encoding; other nodes hand the bytes to their own
// connections, and the publishing node ignores its own message. Group
// changes, client results and connection tokens of connections on other
// nodes go by request to the node that holds them.
//
// All of it is the cluster type's: this file (subjects, sends, requests to
// the node holding a connection), cluster_http.go (HTTP requests forwarded
// to that node) and presence.go (heartbeats and presence queries). The
// cluster reaches this node's connections only through the node interface
// below; the hub reaches the cluster through the entry points at the end
// of this file, each of which does nothing without a backplane.

// Envelope operations.
const (
	opSend uint8 = iota + 1
	opGroupAdd
	opGroupRemove
	opInvoke
	opClaim
)

// opCloseConn asks the node holding a connection to close it
// (Hub.CloseConnection).
const opCloseConn uint8 = 64

// Reply error kinds.
const (
	errKindNone uint8 = iota
	errKindNotFound
	errKindClient
	errKindOther
	errKindNameTooLong
	errKindTooManyGroups
	errKindTooLarge
)

// envelope is what hubs send each other, msgpack-encoded.
type envelope struct {
	Op       uint8             `msgpack:"o"`
	Origin   string            `msgpack:"n,omitempty"`
	Except   []string          `msgpack:"e,omitempty"`
	Names    []string          `msgpack:"g,omitempty"`
	Payloads map[string][]byte `msgpack:"p,omitempty"` // protocol name: encoded message
	Conn     string            `msgpack:"c,omitempty"`
	Group    string            `msgpack:"gr,omitempty"`
	Method   string            `msgpack:"m,omitempty"`
	Token    string            `msgpack:"t,omitempty"`  // presence: the inbox for answers
	TokenKey string            `msgpack:"tk,omitempty"` // claims: tokenKey of a connection token, never the token
	Deadline int64             `msgpack:"d,omitempty"`  // unix nanoseconds

	// Replies.
	ErrKind   uint8  `msgpack:"ek,omitempty"`
	Err       string `msgpack:"er,omitempty"`
	Proto     string `msgpack:"pr,omitempty"`
	Result    []byte `msgpack:"r,omitempty"`
	HasResult bool   `msgpack:"hr,omitempty"`
	Stateful  bool   `msgpack:"s,omitempty"`
	Status    uint16 `msgpack:"st,omitempty"` // forwarded HTTP responses
	User      string `msgpack:"us,omitempty"` // authenticated user of a forwarded request

	Close *closeRequest `msgpack:"cl,omitempty"` // opCloseConn
}

// node is what the cluster needs of the hub on this node: its local
// connections and the changes made to them. *Hub implements it.
type node interface {
	// deliver hands o to the local recipients of rt (clients.go).
	deliver(rt route, o *outbound)
	// localConn returns the connection id if this node holds it, or nil.
	localConn(id string) *conn
	// joinGroup and leaveGroup change a local connection's groups as
	// Groups.Add and Groups.Remove do (groups.go).
	joinGroup(c *conn, group string) error
	leaveGroup(c *conn, group string) error
	// claimPending takes the connection token negotiated on this node
	// whose tokenKey is key, for user (admission.go).
	claimPending(key, user string) (id string, stateful, ok bool)
	// localPresence is this node's share of a presence answer
	// (presence.go).
	localPresence(kind, name string) presenceAnswer
	// authenticate identifies the user of a request to forward; on
	// refusal it has answered w (auth.go).
	authenticate(w http.ResponseWriter, r *http.Request) (*Identity, bool)
	// transportHandler is the handler of the transport named name, which
	// serves requests forwarded to a local connection (transport_host.go).
	transportHandler(name string) transport.Handler
}

var _ node = (*Hub)(nil)

// cluster is the hub's side of a backplane.
type cluster struct {
	bp     backplane.Backplane
	name   string
	nodeID string
	hash   func(string) string // subject token of a name: hashName

	node   node
	cfg    *config                // the hub's, read only
	protos []protocol.HubProtocol // the hub's, by index

	mu     sync.Mutex // never held across bus I/O
	subs   map[string]*refSub
	base   []backplane.Subscription
	nodes  map[string]time.Time // other nodes, last heard from
	closed bool

	started time.Time // when this node joined: presence waits for nodes not heard from yet

	hbStop, hbDone chan struct{}

	// The bus stopped answering (backplane_health.go): sends fail at once
	// until a probe gets through.
	stalled   atomic.Bool
	probes    sync.WaitGroup
	probeStop chan struct{}
	noProbes  bool // guarded by mu: close has begun, no probe may start

	closeMu sync.Mutex // serializes close

	limiter   backplane.PayloadLimiter  // nil: no limit
	health    atomic.Pointer[busHealth] // nil: never reported
	stopWatch func()                    // stops following the backplane's health
}

// refSub is one subject this node subscribes to while something local
// uses it. n and the closed state live under cluster.mu; the bus calls
// happen under ctl only, so that a slow bus holds up nothing but the
// users of this subject.
type refSub struct {
	subject string
	n       int               // guarded by cluster.mu
	h       backplane.Handler // of the first use
	ctl     sync.Mutex        // serializes Subscribe and Unsubscribe; guards sub
	sub     backplane.Subscription
}

// WithBackplane joins the hub to the other nodes on bp. Every node of one
// hub uses the same bus and the same hub name (WithHubName). See the
// package documentation's Scaling section.
func WithBackplane(bp backplane.Backplane) Option {
	return func(c *config) { c.backplane = bp }
}

// WithHubName sets the name that tells hubs apart on a shared backplane.
// The default is the hub type's package path and name, such as
// "example.com/app/chat.Chat", as ASP.NET Core names a hub by its type.
// Set it when the nodes of one hub are different programs whose hub
// types differ, or when two hubs of one type share a backplane; every
// node of one hub must use the same name. Without a backplane it has no
// effect.
func WithHubName(name string) Option {
	return func(c *config) { c.backplaneName = name }
}

// defaultHubName is the package path and name of hub's type, or of the
// type it points to.
func defaultHubName(hub any) string {
	t := reflect.TypeOf(hub)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Name() == "" {
		return "hub"
	}
	return t.PkgPath() + "." + t.Name()
}

// newCluster joins h to the other nodes of the hub named name on bp.
func newCluster(h *Hub, bp backplane.Backplane, name string) (*cluster, error) {
	hr, _ := bp.(backplane.HealthReporter)
	cl := makeCluster(h, &h.cfg, h.protocols, bp, name)
	cl.bp = h.metrics.backplane(bp)
	h.cluster = cl // handlers may run as soon as they are subscribed
	h.watchBackplane(hr)
	if err := cl.start(); err != nil {
		return nil, err
	}
	return cl, nil
}

// makeCluster makes the cluster of node n, which follows cfg and encodes
// with protos; start joins it to the other nodes.
func makeCluster(n node, cfg *config, protos []protocol.HubProtocol, bp backplane.Backplane, name string) *cluster {
	if name == "" {
		name = "hub"
	}
	limiter, _ := bp.(backplane.PayloadLimiter)
	cl := &cluster{limiter: limiter, bp: bp, hash: hashName, nodeID: newID()[:nodeIDLength], subs: make(map[string]*refSub), nodes: make(map[string]time.Time), started: time.Now(),
		node: n, cfg: cfg, protos: protos}
	if cfg.subjectHash != nil {
		cl.hash = cfg.subjectHash
	}
	cl.name = "h" + cl.hash(name)
	return cl
}

// start subscribes to the hub's broadcast subjects and to this node's,
// and starts the heartbeat; close undoes it.
func (cl *cluster) start() error {
	for _, s := range []struct {
		subject string
		h       backplane.Handler
	}{
		{cl.subject("all"), func(m *backplane.Message) { cl.onBroadcast(m, scopeAll) }},
		{cl.subject("groups"), func(m *backplane.Message) { cl.onBroadcast(m, scopeGroups) }},
		{cl.subject("n", cl.nodeID), cl.onNodeRequest},
		{cl.subject("presence"), cl.onPresenceQuery},
		{cl.subject("hb"), cl.onHeartbeat},
	} {
		sub, err := cl.bp.Subscribe(s.subject, s.h)
		if err != nil {
			cl.close()
			return fmt.Errorf("signalr: subscribing to the backplane: %w", err)
		}
		cl.base = append(cl.base, sub)
	}
	cl.hbStop, cl.hbDone = make(chan struct{}), make(chan struct{})
	cl.probeStop = make(chan struct{})
	go cl.heartbeat(cl.hbStop, cl.hbDone)
	return nil
}

func (cl *cluster) subject(parts ...string) string {
	return cl.name + "." + strings.Join(parts, ".")
}

// groupSubject and userSubject carry a hash of the name: subjects have a
// bounded length whatever names clients choose. Messages on them carry
// the names they are for.
func (cl *cluster) groupSubject(g string) string { return cl.subject("g", cl.hash(g)) }
func (cl *cluster) userSubject(u string) string  { return cl.subject("u", cl.hash(u)) }

// connSubject takes only ids that pass validConnectionID.
func (cl *cluster) connSubject(id string) string { return cl.subject("c", id) }

// ref subscribes to subject on first use. When it returns, the
// subscription is in effect (unless the bus refused it: see settle).
func (cl *cluster) ref(subject string, h backplane.Handler) {
	if r := cl.acquire(subject, h); r != nil {
		cl.settle(r)
	}
}

// unref unsubscribes from subject after its last use.
func (cl *cluster) unref(subject string) {
	if r := cl.release(subject); r != nil {
		cl.settle(r)
	}
}

// acquire counts one more use of subject, without bus I/O, so that it can
// be counted under the lock of the change that makes the use; settle then
// brings the bus in line. It returns nil once the cluster is closed.
func (cl *cluster) acquire(subject string, h backplane.Handler) *refSub {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return nil
	}
	r := cl.subs[subject]
	if r == nil {
		r = &refSub{subject: subject, h: h}
		cl.subs[subject] = r
	}
	r.n++
	return r
}

// release counts one use less of subject, as acquire counts one more. It
// returns nil when subject is not in use.
func (cl *cluster) release(subject string) *refSub {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	r := cl.subs[subject]
	if r == nil || r.n == 0 {
		return nil
	}
	r.n--
	return r
}

// settle makes the bus match r's use count: subscribed while it is in
// use and the cluster open, unsubscribed otherwise. Calls for one subject
// take turns; those for other subjects go on meanwhile. A subscription
// the bus refuses is logged, and the next use tries again.
func (cl *cluster) settle(r *refSub) {
	if r == nil {
		return
	}
	subject := r.subject
	r.ctl.Lock()
	defer r.ctl.Unlock()
	cl.mu.Lock()
	want := r.n > 0 && !cl.closed
	cl.mu.Unlock()
	switch {
	case want && r.sub == nil:
		sub, err := cl.bp.Subscribe(subject, r.h)
		if err != nil {
			cl.cfg.logger.ErrorContext(context.Background(), "backplane subscription failed", "error", err)
			return
		}
		r.sub = sub
	case !want && r.sub != nil:
		_ = r.sub.Unsubscribe()
		r.sub = nil
	}
	if !want {
		cl.mu.Lock()
		if (r.n == 0 || cl.closed) && cl.subs[subject] == r {
			delete(cl.subs, subject)
		}
		cl.mu.Unlock()
	}
}

func (cl *cluster) close() {
	// Shutdown may be called from several goroutines at once.
	cl.closeMu.Lock()
	defer cl.closeMu.Unlock()
	if cl.stopWatch != nil {
		cl.stopWatch()
		cl.stopWatch = nil
	}
	if cl.hbStop != nil {
		close(cl.hbStop)
		<-cl.hbDone
		cl.hbStop = nil
		cl.mu.Lock()
		cl.noProbes = true // no Add after the Wait below
		cl.mu.Unlock()
		close(cl.probeStop)
		cl.probes.Wait()
	}
	cl.mu.Lock()
	cl.closed = true
	base := cl.base
	cl.base = nil
	subs := make([]*refSub, 0, len(cl.subs))
	for _, r := range cl.subs {
		subs = append(subs, r)
	}
	cl.mu.Unlock()
	for _, s := range base {
		_ = s.Unsubscribe()
	}
	// A subscription being made now is undone once it is there.
	for _, r := range subs {
		cl.settle(r)
	}
}

// register subscribes to the subjects of a new local connection.
func (cl *cluster) register(c *conn) {
	if cl == nil {
		return
	}
	cl.ref(cl.connSubject(c.id), cl.onConnMessage)
	if c.userID != "" {
		cl.ref(cl.userSubject(c.userID), func(m *backplane.Message) { cl.onBroadcastTo(m, scopeUsers) })
	}
}

// unregister releases the subjects of a connection that ended.
func (cl *cluster) unregister(c *conn, groups []string) {
	if cl == nil {
		return
	}
	cl.unref(cl.connSubject(c.id))
	if c.userID != "" {
		cl.unref(cl.userSubject(c.userID))
	}
	for _, g := range groups {
		cl.unref(cl.groupSubject(g))
	}
}

// groupJoined counts one more local member of group, and groupLeft one
// less, without bus I/O: the hub calls them under the member's group lock
// (groups.go), so that the count always equals the number of local
// members whatever joins and leaves race. settle then brings the bus in
// line, outside that lock. Both return nil without a backplane.
func (cl *cluster) groupJoined(group string) *refSub {
	if cl == nil {
		return nil
	}
	return cl.acquire(cl.groupSubject(group), func(m *backplane.Message) { cl.onBroadcastTo(m, scopeGroups) })
}

func (cl *cluster) groupLeft(group string) *refSub {
	if cl == nil {
		return nil
	}
	return cl.release(cl.groupSubject(group))
}

// publish sends a message to the other nodes that may hold recipients of
// rt: once per subject, with every protocol's encoding. Local recipients
// have been served already. Without a backplane it does nothing.
func (cl *cluster) publish(ctx context.Context, rt route, o *outbound) error {
	if cl == nil {
		return nil
	}
	env := envelope{Op: opSend, Origin: cl.nodeID, Except: rt.except}
	var subjects []string
	var names [][]string // by subject: the names it is published for
	switch rt.scope {
	case scopeCaller:
		return nil
	case scopeAll:
		subjects = []string{cl.subject("all")}
	case scopeConns:
		for i, id := range rt.keys {
			// An id that cannot be a connection is nobody's.
			if validConnectionID(id) && !dupBefore(rt.keys, i) && cl.node.localConn(id) == nil {
				subjects = append(subjects, cl.connSubject(id))
			}
		}
	case scopeGroups:
		if len(rt.keys) == 1 {
			subjects, names = []string{cl.groupSubject(rt.keys[0])}, [][]string{rt.keys[:1]}
		} else {
			// Every node takes it, and each member of several of the
			// groups gets it once.
			env.Names = rt.keys
			subjects = []string{cl.subject("groups")}
		}
	case scopeUsers:
		// Users whose ids hash alike share one subject and one message.
		for i, u := range rt.keys {
			if dupBefore(rt.keys, i) {
				continue
			}
			s := cl.userSubject(u)
			if j := slices.Index(subjects, s); j >= 0 {
				names[j] = append(names[j], u)
			} else {
				subjects, names = append(subjects, s), append(names, []string{u})
			}
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	env.Payloads = make(map[string][]byte, len(cl.protos))
	for i, proto := range cl.protos {
		if b := o.bytes(i); len(b) > 0 {
			env.Payloads[proto.Name()] = b
		}
	}
	if o.err != nil {
		return o.err
	}
	var data []byte
	for i, s := range subjects {
		if i == 0 || names != nil {
			if names != nil {
				env.Names = names[i]
			}
			var err error
			if data, err = msgpack.Marshal(&env); err != nil {
				return err
			}
		}
		if cl.stalled.Load() {
			return fmt.Errorf("signalr: backplane: %w", errBusStalled)
		}
		if cl.limiter != nil {
			if mp := cl.limiter.MaxPayload(); mp > 0 && len(data) > mp {
				// Refused here rather than by the bus, whose refusal
				// would read as a bus that stopped answering.
				return fmt.Errorf("%w: %d bytes, the bus carries at most %d", errBackplanePayload, len(data), mp)
			}
		}
		if err := cl.bp.Publish(ctx, s, data); err != nil {
			cl.publishFailed(ctx, err)
			cl.cfg.logger.WarnContext(ctx, "publishing to the backplane failed", "error", err)
			return fmt.Errorf("signalr: backplane: %w", err)
		}
	}
	return nil
}

// decode reads a backplane message; bad ones are logged and dropped.
func (cl *cluster) decode(m *backplane.Message) (*envelope, bool) {
	var env envelope
	if err := msgpack.Unmarshal(m.Data, &env); err != nil {
		cl.cfg.logger.WarnContext(context.Background(), "dropping a malformed backplane message", "subject", cl.logSubject(m.Subject), "error", err)
		return nil, false
	}
	return &env, true
}

// inbound turns a published envelope into an outbound with the encodings
// the sender made; protocols it did not encode for are skipped.
func (cl *cluster) inbound(env *envelope) *outbound {
	o := &outbound{protos: cl.protos, enc: make([][]byte, len(cl.protos))}
	for i, p := range cl.protos {
		if b := env.Payloads[p.Name()]; len(b) > 0 {
			o.enc[i] = b
		} else {
			o.enc[i] = []byte{}
		}
	}
	return o
}

// onBroadcast delivers a message from another node that every node takes:
// to all connections (scopeAll) or to the members of several groups
// (scopeGroups).
func (cl *cluster) onBroadcast(m *backplane.Message, sc scope) {
	env, ok := cl.decode(m)
	if !ok || env.Op != opSend || env.Origin == cl.nodeID {
		return
	}
	cl.node.deliver(route{scope: sc, keys: env.Names, except: env.Except}, cl.inbound(env))
}

// onBroadcastTo delivers a group or user message from another node to the
// group or users it names, never to others whose names share its subject.
func (cl *cluster) onBroadcastTo(m *backplane.Message, sc scope) {
	env, ok := cl.decode(m)
	if !ok || env.Op != opSend || env.Origin == cl.nodeID || len(env.Names) == 0 {
		return
	}
	if sc == scopeGroups && len(env.Names) != 1 {
		return // one group per group subject message
	}
	cl.node.deliver(route{scope: sc, keys: env.Names, except: env.Except}, cl.inbound(env))
}

// onConnMessage serves a local connection's subject: sends, group changes,
// client results and closes from other nodes.
func (cl *cluster) onConnMessage(m *backplane.Message) {
	env, ok := cl.decode(m)
	if !ok {
		return
	}
	id := strings.TrimPrefix(m.Subject, cl.subject("c")+".")
	c := cl.node.localConn(id)
	switch env.Op {
	case opSend:
		if c != nil && env.Origin != cl.nodeID {
			cl.inbound(env).sendTo(c)
		}
	case opGroupAdd, opGroupRemove:
		if c == nil {
			go cl.reply(m, &envelope{ErrKind: errKindNotFound}) // bus I/O: not on the dispatch goroutine
			return
		}
		// Joining may subscribe to the group's subject, a round trip to
		// the bus: not on the goroutine that dispatches every other
		// message. The requester waits for the reply, which comes once
		// the subscription is in effect, so its later sends come after.
		go cl.serveGroupChange(m, env, c)
	case opInvoke:
		if c == nil {
			go cl.reply(m, &envelope{ErrKind: errKindNotFound})
			return
		}
		// The client may take its time: answer from another goroutine so
		// that this subscription keeps serving.
		go cl.serveInvoke(m, env, c)
	case opCloseConn:
		go cl.serveClose(m, env, c) // its reply is bus I/O: not on the dispatch goroutine
	}
}

// reply answers a request; a failure is logged and returned.
func (cl *cluster) reply(m *backplane.Message, env *envelope) error {
	if m.Reply == nil {
		return nil
	}
	data, err := msgpack.Marshal(env)
	if err == nil {
		err = m.Reply(data)
	}
	if err != nil {
		cl.cfg.logger.WarnContext(context.Background(), "answering a backplane request failed", "error", err)
	}
	return err
}

// request sends a request envelope and decodes the reply. No responder
// means no node holds the connection.
func (cl *cluster) request(ctx context.Context, subject string, env *envelope) (*envelope, error) {
	env.Origin = cl.nodeID
	data, err := msgpack.Marshal(env)
	if err != nil {
		return nil, err
	}
	b, err := cl.bp.Request(ctx, subject, data)
	if errors.Is(err, backplane.ErrNoResponders) {
		return nil, ErrConnectionNotFound
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("signalr: backplane: %w", err)
	}
	var reply envelope
	if err := msgpack.Unmarshal(b, &reply); err != nil {
		return nil, fmt.Errorf("signalr: backplane reply: %w", err)
	}
	return &reply, nil
}

// changeGroup adds a connection held by another node to a group
// (opGroupAdd), or removes it (opGroupRemove), and returns once that node
// is done. Without a backplane no node holds it.
func (cl *cluster) changeGroup(ctx context.Context, op uint8, connID, group string) error {
	if cl == nil {
		return ErrConnectionNotFound
	}
	reply, err := cl.request(ctx, cl.connSubject(connID), &envelope{Op: op, Group: group})
	if err != nil {
		return err
	}
	switch reply.ErrKind {
	case errKindNone:
		return nil
	case errKindNameTooLong:
		return &sentinelError{ErrNameTooLong, reply.Err}
	case errKindTooManyGroups:
		return &sentinelError{ErrTooManyGroups, reply.Err}
	}
	return ErrConnectionNotFound
}

// serveGroupChange adds a local connection to a group, or removes it, for
// another node, and answers once done.
func (cl *cluster) serveGroupChange(m *backplane.Message, env *envelope, c *conn) {
	var err error
	if env.Op == opGroupAdd {
		err = cl.node.joinGroup(c, env.Group)
	} else {
		err = cl.node.leaveGroup(c, env.Group)
	}
	reply := envelope{}
	if err != nil {
		reply.ErrKind, reply.Err = errKindOf(err), err.Error()
	}
	cl.reply(m, &reply)
}

// errKindOf is the reply kind of a group change's error.
func errKindOf(err error) uint8 {
	switch {
	case errors.Is(err, ErrNameTooLong):
		return errKindNameTooLong
	case errors.Is(err, ErrTooManyGroups):
		return errKindTooManyGroups
	}
	return errKindNotFound
}

// invoke asks the node holding connID for a client result. Without a
// backplane no node holds it.
func (cl *cluster) invoke(ctx context.Context, connID string, result any, method string, args []any) error {
	if cl == nil {
		return ErrConnectionNotFound
	}
	if !validConnectionID(connID) {
		return errNotConnectionID
	}
	if args == nil {
		args = []any{}
	}
	env := &envelope{Op: opInvoke, Method: method, Payloads: make(map[string][]byte, len(cl.protos))}
	for _, p := range cl.protos {
		b, err := p.AppendMessage(nil, &protocol.Invocation{Target: method, Arguments: args})
		if err != nil {
			return err
		}
		env.Payloads[p.Name()] = b
	}
	if d, ok := ctx.Deadline(); ok {
		env.Deadline = d.UnixNano()
	}
	reply, err := cl.request(ctx, cl.connSubject(connID), env)
	if err != nil {
		return err
	}
	switch reply.ErrKind {
	case errKindNotFound:
		return ErrConnectionNotFound
	case errKindClient:
		return &ClientError{Message: reply.Err}
	case errKindOther:
		if reply.Err == context.DeadlineExceeded.Error() {
			return context.DeadlineExceeded
		}
		return fmt.Errorf("signalr: remote invoke: %s", reply.Err)
	}
	if result == nil || !reply.HasResult {
		return nil
	}
	i := slices.IndexFunc(cl.protos, func(p protocol.HubProtocol) bool { return p.Name() == reply.Proto })
	if i < 0 {
		return fmt.Errorf("signalr: remote invoke: unknown protocol %q", reply.Proto)
	}
	return cl.protos[i].Unmarshal(reply.Result, result)
}

// serveInvoke runs a client result for another node.
func (cl *cluster) serveInvoke(m *backplane.Message, env *envelope, c *conn) {
	ctx := context.Background()
	if env.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, env.Deadline))
		defer cancel()
	}
	reply := envelope{Proto: c.proto.Name()}
	msg, _, err := c.proto.ParseMessage(env.Payloads[c.proto.Name()], 0)
	inv, ok := msg.(*protocol.Invocation)
	if err != nil || !ok {
		reply.ErrKind, reply.Err = errKindOther, "malformed invocation"
		cl.reply(m, &reply)
		return
	}
	var raw protocol.Raw
	err = c.invokeClient(ctx, &raw, env.Method, inv.Arguments)
	var ce *ClientError
	switch {
	case errors.As(err, &ce):
		reply.ErrKind, reply.Err = errKindClient, ce.Message
	case errors.Is(err, ErrConnectionClosed):
		reply.ErrKind = errKindNotFound
	case err != nil:
		reply.ErrKind, reply.Err = errKindOther, err.Error()
	default:
		reply.Result, reply.HasResult = raw, raw != nil
	}
	cl.reply(m, &reply)
}

// closeConn asks the node holding connID to close it (Hub.CloseConnection).
// Without a backplane no node holds it.
func (cl *cluster) closeConn(ctx context.Context, connID string, req *closeRequest) error {
	if cl == nil {
		return ErrConnectionNotFound
	}
	if !validConnectionID(connID) {
		return errNotConnectionID
	}
	reply, err := cl.request(ctx, cl.connSubject(connID), &envelope{Op: opCloseConn, Close: req})
	if err != nil {
		return err
	}
	if reply.ErrKind != errKindNone {
		return ErrConnectionNotFound
	}
	return nil
}

// serveClose closes a local connection at another node's request.
func (cl *cluster) serveClose(m *backplane.Message, env *envelope, c *conn) {
	if c == nil || env.Close == nil {
		cl.reply(m, &envelope{ErrKind: errKindNotFound})
		return
	}
	if env.Close.Lost != "" {
		c.logger().InfoContext(c.ctx, "closing a connection whose forwarded poll answer was lost", "error", env.Close.Lost)
		// The client is not taking its polls' answers: end the
		// connection now, as a failed poll write on this node does.
		c.closeQueued(nil, fmt.Errorf("%w: %s", errPollLost, env.Close.Lost), true)
		c.t0.Close()
	} else {
		c.closeByHub(env.Close.Reason, env.Close.AllowReconnect)
	}
	cl.reply(m, &envelope{})
}

// onNodeRequest answers requests addressed to this node: claims of
// connection tokens it negotiated.
func (cl *cluster) onNodeRequest(m *backplane.Message) {
	env, ok := cl.decode(m)
	if !ok || env.Op != opClaim {
		return
	}
	reply := envelope{}
	if id, stateful, ok := cl.node.claimPending(env.TokenKey, env.User); ok {
		reply.Conn, reply.Stateful = id, stateful
	} else {
		reply.ErrKind = errKindNotFound
	}
	// Some buses answer with a round trip: not on the dispatch goroutine.
	go cl.reply(m, &reply)
}

// claim takes a token negotiated by another node. Tokens start with the
// id of the node that issued them. The request carries the token's hash,
// never the token.
func (cl *cluster) claim(ctx context.Context, token, user string) (id string, stateful, ok bool) {
	if cl == nil {
		return "", false, false
	}
	node, _, found := strings.Cut(token, ".")
	if !found || node == cl.nodeID || !validNodeID(node) {
		return "", false, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := cl.request(ctx, cl.subject("n", node), &envelope{Op: opClaim, TokenKey: tokenKey(token), User: user})
	if err != nil || reply.ErrKind != errKindNone {
		return "", false, false
	}
	return reply.Conn, reply.Stateful, true
}

// The hub's entry points into the cluster (hub.go calls them). Each does
// nothing, or finds no connection, without a backplane.

func (h *Hub) clusterRegister(c *conn)                    { h.cluster.register(c) }
func (h *Hub) clusterUnregister(c *conn, groups []string) { h.cluster.unregister(c, groups) }
func (h *Hub) clusterServeToken(c *conn) func()           { return h.cluster.serveToken(c) }

func (h *Hub) forwardHTTP(w http.ResponseWriter, r *http.Request, token string) bool {
	return h.cluster.forwardHTTP(w, r, token)
}

func (h *Hub) remoteClaim(ctx context.Context, token, user string) (id string, stateful, ok bool) {
	return h.cluster.claim(ctx, token, user)
}
