package signalr

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/protocol"
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

// cluster is the hub's side of a backplane.
type cluster struct {
	bp     backplane.Backplane
	name   string
	nodeID string
	hash   func(string) string // subject token of a name: hashName

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
	n   int               // guarded by cluster.mu
	h   backplane.Handler // of the first use
	ctl sync.Mutex        // serializes Subscribe and Unsubscribe; guards sub
	sub backplane.Subscription
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

func newCluster(h *Hub, bp backplane.Backplane, name string) (*cluster, error) {
	if name == "" {
		name = "hub"
	}
	limiter, _ := bp.(backplane.PayloadLimiter)
	hr, _ := bp.(backplane.HealthReporter)
	bp = h.metrics.backplane(bp)
	cl := &cluster{limiter: limiter, bp: bp, hash: hashName, nodeID: newID()[:nodeIDLength], subs: make(map[string]*refSub), nodes: make(map[string]time.Time), started: time.Now()}
	if h.cfg.subjectHash != nil {
		cl.hash = h.cfg.subjectHash
	}
	cl.name = "h" + cl.hash(name)
	h.cluster = cl // handlers may run as soon as they are subscribed
	h.watchBackplane(hr)
	for _, s := range []struct {
		subject string
		h       backplane.Handler
	}{
		{cl.subject("all"), func(m *backplane.Message) { h.onBroadcast(m, targetAllExcept) }},
		{cl.subject("groups"), func(m *backplane.Message) { h.onBroadcast(m, targetGroups) }},
		{cl.subject("n", cl.nodeID), h.onNodeRequest},
		{cl.subject("presence"), h.onPresenceQuery},
		{cl.subject("hb"), h.onHeartbeat},
	} {
		sub, err := bp.Subscribe(s.subject, s.h)
		if err != nil {
			cl.close()
			return nil, fmt.Errorf("signalr: subscribing to the backplane: %w", err)
		}
		cl.base = append(cl.base, sub)
	}
	cl.hbStop, cl.hbDone = make(chan struct{}), make(chan struct{})
	cl.probeStop = make(chan struct{})
	go h.heartbeat(cl.hbStop, cl.hbDone)
	return cl, nil
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
// subscription is in effect (unless the bus refused it: logErr heard of
// that, and the next use tries again).
func (cl *cluster) ref(subject string, h backplane.Handler, logErr func(error)) {
	if r := cl.acquire(subject, h); r != nil {
		cl.settle(subject, r, logErr)
	}
}

// unref unsubscribes from subject after its last use.
func (cl *cluster) unref(subject string) {
	if r := cl.release(subject); r != nil {
		cl.settle(subject, r, func(error) {})
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
		r = &refSub{h: h}
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
// take turns; those for other subjects go on meanwhile.
func (cl *cluster) settle(subject string, r *refSub, logErr func(error)) {
	r.ctl.Lock()
	defer r.ctl.Unlock()
	cl.mu.Lock()
	want := r.n > 0 && !cl.closed
	cl.mu.Unlock()
	switch {
	case want && r.sub == nil:
		sub, err := cl.bp.Subscribe(subject, r.h)
		if err != nil {
			logErr(err)
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
	subs := make(map[string]*refSub, len(cl.subs))
	for k, r := range cl.subs {
		subs[k] = r
	}
	cl.mu.Unlock()
	for _, s := range base {
		_ = s.Unsubscribe()
	}
	// A subscription being made now is undone once it is there.
	for k, r := range subs {
		cl.settle(k, r, func(error) {})
	}
}

func (h *Hub) logBackplaneErr(err error) {
	h.cfg.logger.ErrorContext(context.Background(), "backplane subscription failed", "error", err)
}

// clusterRegister subscribes to the subjects of a new local connection.
func (h *Hub) clusterRegister(c *conn) {
	cl := h.cluster
	if cl == nil {
		return
	}
	cl.ref(cl.connSubject(c.id), h.onConnMessage, h.logBackplaneErr)
	if c.userID != "" {
		cl.ref(cl.userSubject(c.userID), func(m *backplane.Message) { h.onBroadcastTo(m, targetUsers) }, h.logBackplaneErr)
	}
}

// clusterUnregister releases the subjects of a connection that ended.
func (h *Hub) clusterUnregister(c *conn, groups []string) {
	cl := h.cluster
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

// joinGroup adds a local connection to a group. The group's use count
// changes with its members, under the connection's group lock, so that it
// always equals the number of local members whatever joins and leaves
// race; the bus follows, and a join returns once its subscription is in
// effect.
func (h *Hub) joinGroup(c *conn, group string) error {
	if err := h.checkGroupName(group); err != nil {
		return err
	}
	cl := h.cluster
	var subject string
	var r *refSub
	var counted func()
	if cl != nil {
		subject = cl.groupSubject(group)
		counted = func() {
			r = cl.acquire(subject, func(m *backplane.Message) { h.onBroadcastTo(m, targetGroupExcept) })
		}
	}
	_, err := h.reg.addToGroup(c, group, h.cfg.maxGroupsPerConnection, counted)
	if errors.Is(err, ErrTooManyGroups) {
		err = h.errTooManyGroups()
	}
	if r != nil {
		cl.settle(subject, r, h.logBackplaneErr)
	}
	return err
}

// leaveGroup removes a local connection from a group.
func (h *Hub) leaveGroup(c *conn, group string) {
	cl := h.cluster
	if cl == nil {
		h.reg.removeFromGroup(c, group, nil)
		return
	}
	subject := cl.groupSubject(group)
	var r *refSub
	h.reg.removeFromGroup(c, group, func() { r = cl.release(subject) })
	if r != nil {
		cl.settle(subject, r, func(error) {})
	}
}

// publish sends p's message to the other nodes. Local recipients have
// been served already.
func (h *Hub) publish(ctx context.Context, p ClientProxy, o *outbound) error {
	cl := h.cluster
	env := envelope{Op: opSend, Origin: cl.nodeID, Except: p.except}
	var subjects []string
	var names [][]string // by subject: the names it is published for
	switch p.kind {
	case targetCaller:
		return nil
	case targetAll, targetAllExcept:
		subjects = []string{cl.subject("all")}
	case targetClient, targetClients:
		for i, id := range p.names {
			// An id that cannot be a connection is nobody's.
			if validConnectionID(id) && !dupBefore(p.names, i) && h.reg.conn(id) == nil {
				subjects = append(subjects, cl.connSubject(id))
			}
		}
	case targetGroup, targetGroupExcept:
		subjects, names = []string{cl.groupSubject(p.names[0])}, [][]string{p.names[:1]}
	case targetGroups:
		if len(p.names) == 1 {
			subjects, names = []string{cl.groupSubject(p.names[0])}, [][]string{p.names[:1]}
		} else {
			env.Names = p.names
			subjects = []string{cl.subject("groups")}
		}
	case targetUser, targetUsers:
		// Users whose ids hash alike share one subject and one message.
		for i, u := range p.names {
			if dupBefore(p.names, i) {
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
	env.Payloads = make(map[string][]byte, len(h.protocols))
	for i, proto := range h.protocols {
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
			h.publishFailed(ctx, err)
			h.cfg.logger.WarnContext(ctx, "publishing to the backplane failed", "error", err)
			return fmt.Errorf("signalr: backplane: %w", err)
		}
	}
	return nil
}

// decodeEnvelope reads a backplane message; bad ones are logged and dropped.
func (h *Hub) decodeEnvelope(m *backplane.Message) (*envelope, bool) {
	var env envelope
	if err := msgpack.Unmarshal(m.Data, &env); err != nil {
		h.cfg.logger.WarnContext(context.Background(), "dropping a malformed backplane message", "subject", h.logSubject(m.Subject), "error", err)
		return nil, false
	}
	return &env, true
}

// inbound turns a published envelope into an outbound with the encodings
// the sender made; protocols it did not encode for are skipped.
func (h *Hub) inbound(env *envelope) *outbound {
	o := &outbound{h: h, enc: make([][]byte, len(h.protocols))}
	for i, p := range h.protocols {
		if b := env.Payloads[p.Name()]; len(b) > 0 {
			o.enc[i] = b
		} else {
			o.enc[i] = []byte{}
		}
	}
	return o
}

// onBroadcast delivers an All or multi-group message from another node.
func (h *Hub) onBroadcast(m *backplane.Message, kind targetKind) {
	env, ok := h.decodeEnvelope(m)
	if !ok || env.Op != opSend || env.Origin == h.cluster.nodeID {
		return
	}
	h.deliver(ClientProxy{h: h, kind: kind, names: env.Names, except: env.Except}, h.inbound(env))
}

// onBroadcastTo delivers a group or user message from another node to the
// group or users it names, never to others whose names share its subject.
func (h *Hub) onBroadcastTo(m *backplane.Message, kind targetKind) {
	env, ok := h.decodeEnvelope(m)
	if !ok || env.Op != opSend || env.Origin == h.cluster.nodeID || len(env.Names) == 0 {
		return
	}
	if kind == targetGroupExcept && len(env.Names) != 1 {
		return // one group per group subject message
	}
	h.deliver(ClientProxy{h: h, kind: kind, names: env.Names, except: env.Except}, h.inbound(env))
}

// onConnMessage serves a local connection's subject: sends, group changes
// and client results from other nodes.
func (h *Hub) onConnMessage(m *backplane.Message) {
	env, ok := h.decodeEnvelope(m)
	if !ok {
		return
	}
	id := strings.TrimPrefix(m.Subject, h.cluster.subject("c")+".")
	c := h.reg.conn(id)
	switch env.Op {
	case opSend:
		if c != nil && env.Origin != h.cluster.nodeID {
			h.inbound(env).sendTo(c)
		}
	case opGroupAdd, opGroupRemove:
		if c == nil {
			go h.reply(m, &envelope{ErrKind: errKindNotFound}) // bus I/O: not on the dispatch goroutine
			return
		}
		// Joining may subscribe to the group's subject, a round trip to
		// the bus: not on the goroutine that dispatches every other
		// message. The requester waits for the reply, which comes once
		// the subscription is in effect, so its later sends come after.
		go h.serveRemoteGroupChange(m, env, c)
	case opInvoke:
		if c == nil {
			go h.reply(m, &envelope{ErrKind: errKindNotFound})
			return
		}
		// The client may take its time: answer from another goroutine so
		// that this subscription keeps serving.
		go h.serveRemoteInvoke(m, env, c)
	case opCloseConn:
		go h.serveRemoteClose(m, env, c) // its reply is bus I/O: not on the dispatch goroutine
	}
}

// serveRemoteGroupChange adds a local connection to a group, or removes
// it, for another node, and answers once done.
func (h *Hub) serveRemoteGroupChange(m *backplane.Message, env *envelope, c *conn) {
	reply := envelope{}
	if env.Op == opGroupAdd {
		if err := h.joinGroup(c, env.Group); err != nil {
			reply.ErrKind, reply.Err = errKindOf(err), err.Error()
		}
	} else if err := h.checkGroupName(env.Group); err != nil {
		reply.ErrKind, reply.Err = errKindOf(err), err.Error()
	} else {
		h.leaveGroup(c, env.Group)
	}
	h.reply(m, &reply)
}

// reply answers a request; a failure is logged and returned.
func (h *Hub) reply(m *backplane.Message, env *envelope) error {
	if m.Reply == nil {
		return nil
	}
	data, err := msgpack.Marshal(env)
	if err == nil {
		err = m.Reply(data)
	}
	if err != nil {
		h.cfg.logger.WarnContext(context.Background(), "answering a backplane request failed", "error", err)
	}
	return err
}

// remoteGroupChange adds or removes a connection held by another node.
func (h *Hub) remoteGroupChange(ctx context.Context, op uint8, connID, group string) error {
	if h.cluster == nil {
		return ErrConnectionNotFound
	}
	reply, err := h.request(ctx, h.cluster.connSubject(connID), &envelope{Op: op, Group: group})
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

// request sends a request envelope and decodes the reply. No responder
// means no node holds the connection.
func (h *Hub) request(ctx context.Context, subject string, env *envelope) (*envelope, error) {
	env.Origin = h.cluster.nodeID
	data, err := msgpack.Marshal(env)
	if err != nil {
		return nil, err
	}
	b, err := h.cluster.bp.Request(ctx, subject, data)
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

// remoteInvoke asks the node holding connID for a client result.
func (h *Hub) remoteInvoke(ctx context.Context, connID string, result any, method string, args []any) error {
	if h.cluster == nil {
		return ErrConnectionNotFound
	}
	if !validConnectionID(connID) {
		return errNotConnectionID
	}
	if args == nil {
		args = []any{}
	}
	env := &envelope{Op: opInvoke, Method: method, Payloads: make(map[string][]byte, len(h.protocols))}
	for _, p := range h.protocols {
		b, err := p.AppendMessage(nil, &protocol.Invocation{Target: method, Arguments: args})
		if err != nil {
			return err
		}
		env.Payloads[p.Name()] = b
	}
	if d, ok := ctx.Deadline(); ok {
		env.Deadline = d.UnixNano()
	}
	reply, err := h.request(ctx, h.cluster.connSubject(connID), env)
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
	_, p := h.protocolByName(reply.Proto)
	if p == nil {
		return fmt.Errorf("signalr: remote invoke: unknown protocol %q", reply.Proto)
	}
	return p.Unmarshal(reply.Result, result)
}

// serveRemoteInvoke runs a client result for another node.
func (h *Hub) serveRemoteInvoke(m *backplane.Message, env *envelope, c *conn) {
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
		h.reply(m, &reply)
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
	h.reply(m, &reply)
}

// onNodeRequest answers requests addressed to this node: claims of
// connection tokens it negotiated.
func (h *Hub) onNodeRequest(m *backplane.Message) {
	env, ok := h.decodeEnvelope(m)
	if !ok || env.Op != opClaim {
		return
	}
	reply := envelope{}
	h.mu.Lock()
	if p := h.pending[env.TokenKey]; p != nil && !h.closed.Load() && (h.cfg.authenticator == nil || p.user == env.User) {
		h.dropPendingLocked(env.TokenKey, p, false)
		reply.Conn, reply.Stateful = p.id, p.stateful
	} else {
		reply.ErrKind = errKindNotFound
	}
	h.mu.Unlock()
	// Some buses answer with a round trip: not on the dispatch goroutine.
	go h.reply(m, &reply)
}

// remoteClaim takes a token negotiated by another node. Tokens start with
// the id of the node that issued them. The request carries the token's
// hash, never the token.
func (h *Hub) remoteClaim(ctx context.Context, token, user string) (id string, stateful, ok bool) {
	cl := h.cluster
	if cl == nil {
		return "", false, false
	}
	node, _, found := strings.Cut(token, ".")
	if !found || node == cl.nodeID || !validNodeID(node) {
		return "", false, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := h.request(ctx, cl.subject("n", node), &envelope{Op: opClaim, TokenKey: tokenKey(token), User: user})
	if err != nil || reply.ErrKind != errKindNone {
		return "", false, false
	}
	return reply.Conn, reply.Stateful, true
}
