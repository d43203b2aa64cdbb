package signalr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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

// Reply error kinds.
const (
	errKindNone uint8 = iota
	errKindNotFound
	errKindClient
	errKindOther
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
	Token    string            `msgpack:"t,omitempty"`
	Deadline int64             `msgpack:"d,omitempty"` // unix nanoseconds

	// Replies.
	ErrKind   uint8  `msgpack:"ek,omitempty"`
	Err       string `msgpack:"er,omitempty"`
	Proto     string `msgpack:"pr,omitempty"`
	Result    []byte `msgpack:"r,omitempty"`
	HasResult bool   `msgpack:"hr,omitempty"`
	Stateful  bool   `msgpack:"s,omitempty"`
	Status    uint16 `msgpack:"st,omitempty"` // forwarded HTTP responses
	User      string `msgpack:"us,omitempty"` // authenticated user of a forwarded request
}

// cluster is the hub's side of a backplane.
type cluster struct {
	bp     backplane.Backplane
	name   string
	nodeID string

	mu    sync.Mutex
	subs  map[string]*refSub
	base  []backplane.Subscription
	nodes map[string]time.Time // other nodes, last heard from

	hbStop, hbDone chan struct{}

	health    atomic.Pointer[busHealth] // nil: never reported
	stopWatch func()                    // stops following the backplane's health
}

type refSub struct {
	n   int
	sub backplane.Subscription
}

// WithBackplane joins the hub to the other nodes on bp. name tells hubs
// apart when several share one backplane; every node of one hub must use
// the same name. See the package documentation's Scaling section.
func WithBackplane(bp backplane.Backplane, name string) Option {
	return func(c *config) {
		c.backplane = bp
		c.backplaneName = name
	}
}

func newCluster(h *Hub, bp backplane.Backplane, name string) (*cluster, error) {
	if name == "" {
		name = "hub"
	}
	hr, _ := bp.(backplane.HealthReporter)
	bp = h.metrics.backplane(bp)
	cl := &cluster{bp: bp, name: "h" + encodeToken(name), nodeID: newID()[:11], subs: make(map[string]*refSub), nodes: make(map[string]time.Time)}
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
	go h.heartbeat(cl.hbStop, cl.hbDone)
	return cl, nil
}

// encodeToken makes any name a safe subject token.
func encodeToken(s string) string { return "x" + base64.RawURLEncoding.EncodeToString([]byte(s)) }

func (cl *cluster) subject(parts ...string) string {
	return cl.name + "." + strings.Join(parts, ".")
}

func (cl *cluster) groupSubject(g string) string { return cl.subject("g", encodeToken(g)) }
func (cl *cluster) userSubject(u string) string  { return cl.subject("u", encodeToken(u)) }
func (cl *cluster) connSubject(id string) string { return cl.subject("c", id) }

// ref subscribes to subject on first use.
func (cl *cluster) ref(subject string, h backplane.Handler, logErr func(error)) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	r := cl.subs[subject]
	if r == nil {
		r = &refSub{}
		cl.subs[subject] = r
	}
	r.n++
	if r.n == 1 {
		sub, err := cl.bp.Subscribe(subject, h)
		if err != nil {
			logErr(err)
		}
		r.sub = sub
	}
}

// unref unsubscribes from subject after its last use.
func (cl *cluster) unref(subject string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	r := cl.subs[subject]
	if r == nil {
		return
	}
	if r.n--; r.n == 0 {
		if r.sub != nil {
			_ = r.sub.Unsubscribe()
		}
		delete(cl.subs, subject)
	}
}

func (cl *cluster) close() {
	if cl.stopWatch != nil {
		cl.stopWatch()
		cl.stopWatch = nil
	}
	if cl.hbStop != nil {
		close(cl.hbStop)
		<-cl.hbDone
		cl.hbStop = nil
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, s := range cl.base {
		_ = s.Unsubscribe()
	}
	cl.base = nil
	for k, r := range cl.subs {
		if r.sub != nil {
			_ = r.sub.Unsubscribe()
		}
		delete(cl.subs, k)
	}
}

func (h *Hub) logBackplaneErr(err error) {
	h.cfg.logger.Error("signalr: backplane", "error", err)
}

// clusterRegister subscribes to the subjects of a new local connection.
func (h *Hub) clusterRegister(c *conn) {
	cl := h.cluster
	if cl == nil {
		return
	}
	cl.ref(cl.connSubject(c.id), h.onConnMessage, h.logBackplaneErr)
	if c.userID != "" {
		u := c.userID
		cl.ref(cl.userSubject(u), func(m *backplane.Message) { h.onBroadcastTo(m, targetUser, u) }, h.logBackplaneErr)
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

// joinGroup adds a local connection to a group.
func (h *Hub) joinGroup(c *conn, group string) error {
	joined, err := h.reg.addToGroup(c, group)
	if joined && h.cluster != nil {
		cl := h.cluster
		cl.ref(cl.groupSubject(group), func(m *backplane.Message) { h.onBroadcastTo(m, targetGroupExcept, group) }, h.logBackplaneErr)
	}
	return err
}

// leaveGroup removes a local connection from a group.
func (h *Hub) leaveGroup(c *conn, group string) {
	if h.reg.removeFromGroup(c, group) && h.cluster != nil {
		h.cluster.unref(h.cluster.groupSubject(group))
	}
}

// publish sends p's message to the other nodes. Local recipients have
// been served already.
func (h *Hub) publish(ctx context.Context, p ClientProxy, o *outbound) error {
	cl := h.cluster
	env := envelope{Op: opSend, Origin: cl.nodeID, Except: p.except}
	var subjects []string
	switch p.kind {
	case targetCaller:
		return nil
	case targetAll, targetAllExcept:
		subjects = []string{cl.subject("all")}
	case targetClient, targetClients:
		for i, id := range p.names {
			if !dupBefore(p.names, i) && h.reg.conn(id) == nil {
				subjects = append(subjects, cl.connSubject(id))
			}
		}
	case targetGroup, targetGroupExcept:
		subjects = []string{cl.groupSubject(p.names[0])}
	case targetGroups:
		if len(p.names) == 1 {
			subjects = []string{cl.groupSubject(p.names[0])}
		} else {
			env.Names = p.names
			subjects = []string{cl.subject("groups")}
		}
	case targetUser, targetUsers:
		for i, u := range p.names {
			if !dupBefore(p.names, i) {
				subjects = append(subjects, cl.userSubject(u))
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
	data, err := msgpack.Marshal(&env)
	if err != nil {
		return err
	}
	for _, s := range subjects {
		if err := cl.bp.Publish(ctx, s, data); err != nil {
			h.cfg.logger.Warn("signalr: publishing to the backplane failed", "error", err)
			return fmt.Errorf("signalr: backplane: %w", err)
		}
	}
	return nil
}

// decodeEnvelope reads a backplane message; bad ones are logged and dropped.
func (h *Hub) decodeEnvelope(m *backplane.Message) (*envelope, bool) {
	var env envelope
	if err := msgpack.Unmarshal(m.Data, &env); err != nil {
		h.cfg.logger.Warn("signalr: dropping a malformed backplane message", "subject", m.Subject, "error", err)
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

// onBroadcastTo delivers a group or user message from another node.
func (h *Hub) onBroadcastTo(m *backplane.Message, kind targetKind, name string) {
	env, ok := h.decodeEnvelope(m)
	if !ok || env.Op != opSend || env.Origin == h.cluster.nodeID {
		return
	}
	h.deliver(ClientProxy{h: h, kind: kind, names: []string{name}, except: env.Except}, h.inbound(env))
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
		reply := envelope{}
		switch {
		case c == nil:
			reply.ErrKind = errKindNotFound
		case env.Op == opGroupAdd:
			if err := h.joinGroup(c, env.Group); err != nil {
				reply.ErrKind, reply.Err = errKindNotFound, err.Error()
			}
		default:
			h.leaveGroup(c, env.Group)
		}
		h.reply(m, &reply)
	case opInvoke:
		if c == nil {
			h.reply(m, &envelope{ErrKind: errKindNotFound})
			return
		}
		// The client may take its time: answer from another goroutine so
		// that this subscription keeps serving.
		go h.serveRemoteInvoke(m, env, c)
	}
}

func (h *Hub) reply(m *backplane.Message, env *envelope) {
	if m.Reply == nil {
		return
	}
	data, err := msgpack.Marshal(env)
	if err == nil {
		err = m.Reply(data)
	}
	if err != nil {
		h.cfg.logger.Warn("signalr: answering a backplane request failed", "error", err)
	}
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
	if reply.ErrKind != errKindNone {
		return ErrConnectionNotFound
	}
	return nil
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
	if p := h.pending[tokenKey(env.Token)]; p != nil && !h.closed.Load() && (h.cfg.authenticator == nil || p.user == env.User) {
		p.timer.Stop()
		delete(h.pending, tokenKey(env.Token))
		reply.Conn, reply.Stateful = p.id, p.stateful
	} else {
		reply.ErrKind = errKindNotFound
	}
	h.mu.Unlock()
	h.reply(m, &reply)
}

// remoteClaim takes a token negotiated by another node. Tokens start with
// the id of the node that issued them.
func (h *Hub) remoteClaim(ctx context.Context, token, user string) (id string, stateful, ok bool) {
	cl := h.cluster
	if cl == nil {
		return "", false, false
	}
	node, _, found := strings.Cut(token, ".")
	if !found || node == cl.nodeID || node == "" {
		return "", false, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := h.request(ctx, cl.subject("n", node), &envelope{Op: opClaim, Token: token, User: user})
	if err != nil || reply.ErrKind != errKindNone {
		return "", false, false
	}
	return reply.Conn, reply.Stateful, true
}
