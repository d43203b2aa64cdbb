package signalr

import (
	"context"

	"github.com/gosignalr/signalr/protocol"
)

// Clients selects the clients a message goes to. Get one from [Hub.Clients]
// anywhere in the program, or from [Context.Clients] inside a hub method.
// It is a small value, safe for concurrent use.
type Clients struct {
	targets
}

// CallerClients adds the targets that are relative to the calling
// connection.
type CallerClients struct {
	targets
	caller *conn
}

// targets holds the targets that Clients and CallerClients share.
type targets struct {
	h *Hub
}

type targetKind uint8

const (
	targetAll targetKind = iota
	targetAllExcept
	targetClient
	targetClients
	targetGroup
	targetGroups
	targetGroupExcept
	targetUser
	targetUsers
	targetCaller
)

// ClientProxy is a set of recipients. Send delivers to all of them.
type ClientProxy struct {
	h      *Hub
	kind   targetKind
	names  []string // connection ids, group names or user ids
	except []string // excluded connection ids
	caller *conn
}

// All is every connection of the hub.
func (c targets) All() ClientProxy { return ClientProxy{h: c.h, kind: targetAll} }

// AllExcept is every connection but the given ones.
func (c targets) AllExcept(connectionIDs ...string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetAllExcept, except: connectionIDs}
}

// Client is one connection.
func (c targets) Client(connectionID string) SingleClientProxy {
	return SingleClientProxy{ClientProxy{h: c.h, kind: targetClient, names: []string{connectionID}}}
}

// Clients is the given connections.
func (c targets) Clients(connectionIDs ...string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetClients, names: connectionIDs}
}

// Group is every connection in a group.
func (c targets) Group(name string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetGroup, names: []string{name}}
}

// Groups is every connection in any of the groups; each receives a message
// once even when it is in several of them.
func (c targets) Groups(names ...string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetGroups, names: names}
}

// GroupExcept is every connection in a group but the excluded ones.
func (c targets) GroupExcept(name string, excludedConnectionIDs ...string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetGroupExcept, names: []string{name}, except: excludedConnectionIDs}
}

// User is every connection of a user (see [WithUserIDFunc]).
func (c targets) User(userID string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetUser, names: []string{userID}}
}

// Users is every connection of any of the users.
func (c targets) Users(userIDs ...string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetUsers, names: userIDs}
}

// Caller is the calling connection.
func (c CallerClients) Caller() SingleClientProxy {
	return SingleClientProxy{ClientProxy{h: c.h, kind: targetCaller, caller: c.caller}}
}

// Others is every connection but the caller (every connection in a hub
// policy, where there is no caller yet).
func (c CallerClients) Others() ClientProxy {
	return ClientProxy{h: c.h, kind: targetAllExcept, except: c.callerIDs()}
}

// OthersInGroup is every connection in a group but the caller.
func (c CallerClients) OthersInGroup(name string) ClientProxy {
	return ClientProxy{h: c.h, kind: targetGroupExcept, names: []string{name}, except: c.callerIDs()}
}

// callerIDs is the caller's connection id, or none without a caller.
func (c CallerClients) callerIDs() []string {
	if c.caller == nil {
		return nil
	}
	return []string{c.caller.id}
}

// Send invokes method on every recipient with args: the message is
// encoded once per protocol in use and queued to each recipient. A send to
// several recipients (All, Group, User, ...) never waits for a client: a
// recipient that is a slow consumer is disconnected rather than slowing the
// sender (see Flow control in the package documentation). A send to one
// connection of this node (Caller, Client) waits while that connection is
// behind, until it has room or ctx is done. Send fails only when ctx is
// done, the hub is shut down, args cannot be encoded (encoding happens for
// the protocols of actual recipients, so a send that reaches nobody
// reports no encoding error), or the backplane cannot take the message;
// local recipients have been served by then. A message for a connection
// that closes meanwhile is dropped; the connection's close reason says
// why.
//
// A group name or user id longer than the hub allows (see
// [WithMaxGroupNameLength] and [WithMaxUserIDLength]) fails the whole send
// with ErrNameTooLong before anything is sent. A connection id that is not
// of the form this library gives connections is nobody's.
//
// Messages sent by one goroutine reach each connection in the order sent.
// args are encoded before Send returns; the caller may reuse them.
func (p ClientProxy) Send(ctx context.Context, method string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.h.closed.Load() {
		return ErrHubClosed
	}
	if p.kind == targetCaller && p.caller == nil {
		return ErrNoConnection
	}
	if err := p.checkNames(); err != nil {
		return err
	}
	rt := p.route()
	if c := rt.one(p.h); c != nil {
		if err := c.waitRoom(ctx); err != nil && err != ErrConnectionClosed {
			return err
		}
	}
	if args == nil {
		args = []any{}
	}
	o := p.h.newOutbound(&protocol.Invocation{Target: method, Arguments: args})
	p.h.deliver(rt, o)
	if o.err == nil && !o.encoded() {
		o.bytes(0) // no recipient here: still report arguments that cannot be encoded
	}
	if o.err != nil {
		return o.err
	}
	return p.h.cluster.publish(ctx, rt, o)
}

// scope is where the recipients of a send are found: the index of this
// node's registry that holds them, and the kind of backplane subject that
// reaches the nodes holding others.
type scope uint8

const (
	scopeCaller scope = iota // the calling connection, always on this node
	scopeAll                 // every connection
	scopeConns               // connections by id
	scopeGroups              // members of groups
	scopeUsers               // connections of users
)

// route is a send's target as delivery sees it: the scope of its
// recipients, the keys they are found under in it (connection ids, group
// names or user ids; a key may repeat), and the connections left out.
type route struct {
	scope  scope
	keys   []string
	except []string
	caller *conn // scopeCaller
	// client: the target is Client(id), one connection by id.
	client bool
}

// one returns the local connection rt addresses when it addresses exactly
// one (Caller, or Client of a connection on this node), else nil: a send
// to it waits for room in its queue (flow control).
func (rt route) one(h *Hub) *conn {
	switch {
	case rt.scope == scopeCaller:
		return rt.caller
	case rt.client:
		return h.reg.conn(rt.keys[0])
	}
	return nil
}

// route maps p's target to its recipients. It is the one place where
// target kinds are told apart: local delivery (Hub.deliver) and the
// backplane (cluster.publish) both follow the route it returns.
func (p ClientProxy) route() route {
	rt := route{keys: p.names, except: p.except, caller: p.caller}
	switch p.kind {
	case targetCaller:
		rt.scope = scopeCaller
	case targetAll, targetAllExcept:
		rt.scope = scopeAll
	case targetClient, targetClients:
		rt.scope, rt.client = scopeConns, p.kind == targetClient
	case targetGroup, targetGroups, targetGroupExcept:
		rt.scope = scopeGroups
	case targetUser, targetUsers:
		rt.scope = scopeUsers
	}
	return rt
}

// deliver hands o to every local recipient of rt, once each.
func (h *Hub) deliver(rt route, o *outbound) {
	var starts startBatch
	defer starts.flush(h)
	var ex idSet
	if len(rt.except) > 0 {
		ex = newIDSet(rt.except)
	}
	send := func(c *conn) {
		if len(rt.except) > 0 && ex.has(c.id) {
			return
		}
		if b := o.bytes(c.protoIndex); len(b) > 0 {
			if _, start := c.enqueueDeferred(outMsg{b: b}); start {
				starts.add(c)
			}
		}
	}
	r := &h.reg
	switch rt.scope {
	case scopeCaller:
		send(rt.caller)
	case scopeAll:
		r.eachConn(send)
	case scopeConns:
		for i, id := range rt.keys {
			if dupBefore(rt.keys, i) {
				continue
			}
			if c := r.conn(id); c != nil {
				send(c)
			}
		}
	case scopeGroups:
		if len(rt.keys) == 1 {
			r.eachInGroup(rt.keys[0], send)
			return
		}
		seen := make(map[*conn]struct{})
		for _, g := range rt.keys {
			r.eachInGroup(g, func(c *conn) {
				if _, ok := seen[c]; !ok {
					seen[c] = struct{}{}
					send(c)
				}
			})
		}
	case scopeUsers:
		for i, u := range rt.keys {
			if !dupBefore(rt.keys, i) {
				r.eachOfUser(u, send)
			}
		}
	}
}

// dupBefore reports whether s[i] already appears in s[:i].
func dupBefore(s []string, i int) bool {
	for _, x := range s[:i] {
		if x == s[i] {
			return true
		}
	}
	return false
}

// idSet is a set of connection ids: a slice scan when small, a map when not.
type idSet struct {
	list []string
	m    map[string]struct{}
}

func newIDSet(ids []string) idSet {
	if len(ids) <= 8 {
		return idSet{list: ids}
	}
	m := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return idSet{m: m}
}

func (s idSet) has(id string) bool {
	if s.m != nil {
		_, ok := s.m[id]
		return ok
	}
	for _, x := range s.list {
		if x == id {
			return true
		}
	}
	return false
}

// outbound is one message on its way to many connections, encoded at most
// once per protocol.
type outbound struct {
	protos []protocol.HubProtocol // the hub's
	msg    protocol.Message
	enc    [][]byte // by protocol index
	err    error
}

func (h *Hub) newOutbound(msg protocol.Message) *outbound {
	return &outbound{protos: h.protocols, msg: msg, enc: make([][]byte, len(h.protocols))}
}

// encoded reports whether the message has been encoded for any protocol.
func (o *outbound) encoded() bool {
	for _, b := range o.enc {
		if b != nil {
			return true
		}
	}
	return false
}

// bytes returns the message encoded with protocol i.
func (o *outbound) bytes(i int) []byte {
	if b := o.enc[i]; b != nil {
		return b // empty when encoding failed
	}
	b, err := o.protos[i].AppendMessage(nil, o.msg)
	if err != nil {
		if o.err == nil {
			o.err = err
		}
		o.enc[i] = []byte{}
		return nil
	}
	o.enc[i] = b
	return b
}

func (o *outbound) sendTo(c *conn) {
	if b := o.bytes(c.protoIndex); len(b) > 0 {
		c.enqueue(b)
	}
}

// Clients reaches the hub's clients from anywhere in the program.
func (h *Hub) Clients() Clients { return Clients{targets{h: h}} }
