package signalr

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Groups adds connections to named groups and removes them. Membership ends
// when the connection does. Get one from [Hub.Groups] or [Context.Groups];
// it is safe for concurrent use.
type Groups struct {
	h *Hub
}

// Add puts a connection in a group. Adding it twice is the same as once.
// It returns ErrConnectionNotFound when no node holds the connection (also
// for an id that is not of the form this library gives connections),
// ErrNameTooLong for a name past [WithMaxGroupNameLength], and
// ErrTooManyGroups when the connection is already in
// [WithMaxGroupsPerConnection] other groups. With a backplane, a
// connection held by another node is changed there and Add returns once
// it is done.
func (g Groups) Add(ctx context.Context, connectionID, group string) error {
	if err := g.check(ctx, connectionID, group); err != nil {
		return err
	}
	c := g.h.reg.conn(connectionID)
	if c == nil {
		return g.h.cluster.changeGroup(ctx, opGroupAdd, connectionID, group)
	}
	return g.h.joinGroup(c, group)
}

// Remove takes a connection out of a group. Removing a connection that is
// not in the group does nothing. It returns ErrConnectionNotFound when no
// node holds the connection, and ErrNameTooLong as Add does.
func (g Groups) Remove(ctx context.Context, connectionID, group string) error {
	if err := g.check(ctx, connectionID, group); err != nil {
		return err
	}
	c := g.h.reg.conn(connectionID)
	if c == nil {
		return g.h.cluster.changeGroup(ctx, opGroupRemove, connectionID, group)
	}
	return g.h.leaveGroup(c, group)
}

// check refuses a group change before it reaches the registry or the bus.
func (g Groups) check(ctx context.Context, connectionID, group string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := g.h.checkGroupName(group); err != nil {
		return err
	}
	if !validConnectionID(connectionID) {
		return errNotConnectionID
	}
	return nil
}

// joinGroup adds a local connection to a group, for Groups.Add here or on
// another node. With a backplane, the group's use count changes with its
// members, under the connection's group lock, so that it always equals
// the number of local members whatever joins and leaves race; the bus
// follows, and a join returns once its subscription is in effect.
func (h *Hub) joinGroup(c *conn, group string) error {
	if err := h.checkGroupName(group); err != nil {
		return err
	}
	var counted func()
	var r *refSub
	if h.cluster != nil {
		counted = func() { r = h.cluster.groupJoined(group) }
	}
	_, err := h.reg.addToGroup(c, group, h.cfg.maxGroupsPerConnection, counted)
	if errors.Is(err, ErrTooManyGroups) {
		err = h.errTooManyGroups()
	}
	h.cluster.settle(r)
	return err
}

// leaveGroup removes a local connection from a group, as joinGroup adds
// it.
func (h *Hub) leaveGroup(c *conn, group string) error {
	if err := h.checkGroupName(group); err != nil {
		return err
	}
	var counted func()
	var r *refSub
	if h.cluster != nil {
		counted = func() { r = h.cluster.groupLeft(group) }
	}
	h.reg.removeFromGroup(c, group, counted)
	h.cluster.settle(r)
	return nil
}

// localConn returns the connection id of this node, or nil.
func (h *Hub) localConn(id string) *conn { return h.reg.conn(id) }

const shardCount = 32

// registry indexes this node's connections by id, group and user. Each
// index is sharded by key so that unrelated sends and joins do not contend.
// Lock order: conn.gmu, then a shard.
type registry struct {
	conns  [shardCount]connShard
	groups [shardCount]setShard
	users  [shardCount]setShard
	count  atomic.Int64
}

// connShard holds connections in a slice, which a broadcast walks much
// faster than a map, and indexes them by id.
type connShard struct {
	mu   sync.RWMutex
	idx  map[string]int // position in list
	list []*conn
	_    [8]byte // 64 bytes: keep shards on separate cache lines
}

type setShard struct {
	mu sync.RWMutex
	m  map[string]map[*conn]struct{}
	_  [40]byte
}

func shardOf(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h % shardCount
}

func (r *registry) add(c *conn) {
	s := &r.conns[shardOf(c.id)]
	s.mu.Lock()
	if s.idx == nil {
		s.idx = make(map[string]int)
	}
	if i, ok := s.idx[c.id]; ok {
		s.list[i] = c
	} else {
		s.idx[c.id] = len(s.list)
		s.list = append(s.list, c)
	}
	s.mu.Unlock()
	r.count.Add(1)
	if c.userID != "" {
		r.users[shardOf(c.userID)].add(c.userID, c)
	}
}

// remove drops c from every index and returns the groups it was in.
// Later group joins of c fail.
func (r *registry) remove(c *conn) []string {
	c.gmu.Lock()
	c.removed = true
	groups := make([]string, 0, len(c.groups))
	for g := range c.groups {
		r.groups[shardOf(g)].remove(g, c)
		groups = append(groups, g)
	}
	c.groups = nil
	c.gmu.Unlock()
	if c.userID != "" {
		r.users[shardOf(c.userID)].remove(c.userID, c)
	}
	s := &r.conns[shardOf(c.id)]
	s.mu.Lock()
	if i, ok := s.idx[c.id]; ok && s.list[i] == c {
		last := len(s.list) - 1
		if i != last {
			s.list[i] = s.list[last]
			s.idx[s.list[i].id] = i
		}
		s.list[last] = nil
		s.list = s.list[:last]
		delete(s.idx, c.id)
		if cap(s.list) > 64 && len(s.list) < cap(s.list)/4 {
			s.list = append([]*conn(nil), s.list...)
		}
		r.count.Add(-1)
	}
	s.mu.Unlock()
	return groups
}

func (r *registry) conn(id string) *conn {
	s := &r.conns[shardOf(id)]
	s.mu.RLock()
	var c *conn
	if i, ok := s.idx[id]; ok {
		c = s.list[i]
	}
	s.mu.RUnlock()
	return c
}

// addToGroup reports whether c joined (false: it was already a member).
// c may be in at most limit groups; past that it returns ErrTooManyGroups.
// joined, when not nil, runs under c's group lock once c has joined.
func (r *registry) addToGroup(c *conn, group string, limit int, joined func()) (bool, error) {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	if c.removed {
		return false, ErrConnectionNotFound
	}
	if _, ok := c.groups[group]; ok {
		return false, nil
	}
	if len(c.groups) >= limit {
		return false, ErrTooManyGroups
	}
	if c.groups == nil {
		c.groups = make(map[string]struct{})
	}
	c.groups[group] = struct{}{}
	r.groups[shardOf(group)].add(group, c)
	if joined != nil {
		joined()
	}
	return true, nil
}

// removeFromGroup reports whether c left (false: it was not a member).
// left, when not nil, runs under c's group lock once c has left.
func (r *registry) removeFromGroup(c *conn, group string, left func()) bool {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	if _, ok := c.groups[group]; !ok {
		return false
	}
	delete(c.groups, group)
	r.groups[shardOf(group)].remove(group, c)
	if left != nil {
		left()
	}
	return true
}

// eachConn calls fn for every connection. fn must not block or change the
// registry.
func (r *registry) eachConn(fn func(*conn)) {
	for i := range r.conns {
		s := &r.conns[i]
		s.mu.RLock()
		for _, c := range s.list {
			fn(c)
		}
		s.mu.RUnlock()
	}
}

func (r *registry) eachInGroup(group string, fn func(*conn)) {
	r.groups[shardOf(group)].each(group, fn)
}

func (r *registry) eachOfUser(user string, fn func(*conn)) {
	r.users[shardOf(user)].each(user, fn)
}

func (s *setShard) add(key string, c *conn) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]map[*conn]struct{})
	}
	set := s.m[key]
	if set == nil {
		set = make(map[*conn]struct{})
		s.m[key] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
}

func (s *setShard) remove(key string, c *conn) {
	s.mu.Lock()
	if set := s.m[key]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(s.m, key)
		}
	}
	s.mu.Unlock()
}

func (s *setShard) each(key string, fn func(*conn)) {
	s.mu.RLock()
	for c := range s.m[key] {
		fn(c)
	}
	s.mu.RUnlock()
}

// Groups manages group membership from anywhere in the program.
func (h *Hub) Groups() Groups { return Groups{h: h} }
