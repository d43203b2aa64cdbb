package signalr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gosignalr/signalr/backplane"
)

// Presence: who is online, across the cluster. Every node announces itself
// on the backplane every presence interval; a node not heard from for
// three intervals is considered gone, so the connections of a crashed node
// drop out of every answer within three intervals. A query asks every node
// for its share and merges the answers. It waits for every node heard from
// when the query went out, for at most one presence interval (a node that
// does not answer by then is left out), then for a short grace
// (presenceGrace) in which nodes that joined a moment ago, not heard from
// yet, may answer too. A node up for less than one interval may not have
// heard every other node's heartbeat yet: its queries take in every answer
// until it has been up for one interval. All of this is bounded by the
// query's context. Nodes answer from their own goroutine, never from the
// one that dispatches the backplane's messages, so a slow bus holds up
// nothing but the answer. A node
// whose share of an answer would take more than maxPresenceAnswer bytes
// answers with an error instead, and so does one that cannot publish its
// share: the query then fails rather than return an incomplete answer.

// maxPresenceAnswer bounds a node's encoded share of a presence answer,
// well under the 1 MiB a NATS server takes in one message by default.
const maxPresenceAnswer = 512 << 10

// Member is one connection in a group.
type Member struct {
	ConnectionID string `msgpack:"c" json:"connectionId"`
	UserID       string `msgpack:"u" json:"userId,omitempty"`
}

const (
	presenceCount = "count"
	presenceUsers = "users"
	presenceUser  = "user"
	presenceGroup = "group"
	opPresence    = 17
	opHeartbeat   = 18
)

type presenceAnswer struct {
	Conns   int      `msgpack:"n,omitempty"`
	Users   []string `msgpack:"u,omitempty"`
	Members []Member `msgpack:"m,omitempty"`
}

// ConnectionCount is the number of connections of the hub, on every node.
func (h *Hub) ConnectionCount(ctx context.Context) (int, error) {
	answers, err := h.presence(ctx, presenceCount, "")
	n := 0
	for _, a := range answers {
		n += a.Conns
	}
	return n, err
}

// OnlineUsers lists the users with at least one connection, sorted.
//
// With a backplane, the presence queries (ConnectionCount, OnlineUsers,
// IsUserOnline, GroupMembers) fail with ErrPresenceTooLarge, and return
// nothing else, when another node's share of the answer takes more than
// 512 KiB encoded (some 9,500 group members with 25-byte user ids, or
// 13,000 user ids of 37 bytes, on one node), and with an error when a node
// could not send its share.
func (h *Hub) OnlineUsers(ctx context.Context) ([]string, error) {
	answers, err := h.presence(ctx, presenceUsers, "")
	var users []string
	for _, a := range answers {
		users = append(users, a.Users...)
	}
	slices.Sort(users)
	return slices.Compact(users), err
}

// IsUserOnline reports whether userID has at least one connection. A user
// id past [WithMaxUserIDLength] is refused with ErrNameTooLong.
func (h *Hub) IsUserOnline(ctx context.Context, userID string) (bool, error) {
	if err := h.checkUserID(userID); err != nil {
		return false, err
	}
	answers, err := h.presence(ctx, presenceUser, userID)
	for _, a := range answers {
		if a.Conns > 0 {
			return true, err
		}
	}
	return false, err
}

// GroupMembers lists the connections in a group, sorted by connection id.
// A group name past [WithMaxGroupNameLength] is refused with
// ErrNameTooLong.
func (h *Hub) GroupMembers(ctx context.Context, group string) ([]Member, error) {
	if err := h.checkGroupName(group); err != nil {
		return nil, err
	}
	answers, err := h.presence(ctx, presenceGroup, group)
	var out []Member
	for _, a := range answers {
		out = append(out, a.Members...)
	}
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.ConnectionID < b.ConnectionID:
			return -1
		case a.ConnectionID > b.ConnectionID:
			return 1
		}
		return 0
	})
	return out, err
}

// localPresence answers a query for this node's connections.
func (h *Hub) localPresence(kind, name string) presenceAnswer {
	var a presenceAnswer
	switch kind {
	case presenceCount:
		a.Conns = int(h.reg.count.Load())
	case presenceUsers:
		seen := map[string]bool{}
		h.reg.eachConn(func(c *conn) {
			if c.userID != "" && !seen[c.userID] {
				seen[c.userID] = true
				a.Users = append(a.Users, c.userID)
			}
		})
	case presenceUser:
		h.reg.eachOfUser(name, func(*conn) { a.Conns++ })
	case presenceGroup:
		h.reg.eachInGroup(name, func(c *conn) {
			a.Members = append(a.Members, Member{ConnectionID: c.id, UserID: c.userID})
		})
	}
	return a
}

// presence gathers the answers of every node.
func (h *Hub) presence(ctx context.Context, kind, name string) ([]presenceAnswer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.cluster == nil {
		return []presenceAnswer{h.localPresence(kind, name)}, nil
	}
	return h.cluster.presence(ctx, kind, name)
}

// presence gathers the answers of every live node.
func (cl *cluster) presence(ctx context.Context, kind, name string) ([]presenceAnswer, error) {
	expect := cl.liveNodes()
	inbox := cl.subject("r", newID())
	var mu sync.Mutex
	local := cl.node.localPresence(kind, name)
	if _, err := encodeShare(&local); err != nil {
		return nil, err // the same answer as any other node would get
	}
	answers := map[string]presenceAnswer{cl.nodeID: local}
	var failed error // a node that could not answer
	done := make(chan struct{})
	closed := false
	sub, err := cl.bp.Subscribe(inbox, func(m *backplane.Message) {
		env, ok := cl.decode(m)
		if !ok {
			return
		}
		var a presenceAnswer
		if env.ErrKind == errKindNone && msgpack.Unmarshal(env.Result, &a) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if _, dup := answers[env.Origin]; dup {
			return
		}
		switch env.ErrKind {
		case errKindNone:
		case errKindTooLarge:
			failed = &sentinelError{ErrPresenceTooLarge, env.Err}
		default:
			failed = fmt.Errorf("signalr: presence: a node could not answer: %s", env.Err)
		}
		answers[env.Origin] = a
		if !closed && all(expect, answers) {
			closed = true
			close(done)
		}
	})
	if err != nil {
		return []presenceAnswer{local}, err
	}
	defer sub.Unsubscribe()
	mu.Lock()
	if all(expect, answers) { // no other node known
		closed = true
		close(done)
	}
	mu.Unlock()
	data, _ := msgpack.Marshal(&envelope{Op: opPresence, Origin: cl.nodeID, Method: kind, Group: name, Token: inbox})
	if err := cl.bp.Publish(ctx, cl.subject("presence"), data); err != nil {
		return []presenceAnswer{local}, err
	}
	// Answers come from other goroutines, maybe long after Publish
	// returned: wait for every node known live when the query went out,
	// for at most one presence interval.
	timeout := time.NewTimer(cl.cfg.presenceInterval)
	defer timeout.Stop()
	select {
	case <-done:
	case <-timeout.C:
	case <-ctx.Done():
	}
	// Then take in the answers of nodes not heard from yet: those that
	// joined a moment ago, within a short grace, and, while this node has
	// been up for less than one interval and so may not have heard every
	// node's heartbeat yet, all that answer until that interval is over.
	settle := time.Now().Add(presenceGrace(cl.cfg.presenceInterval))
	if young := cl.started.Add(cl.cfg.presenceInterval); young.After(settle) {
		settle = young
	}
	if wait := time.Until(settle); wait > 0 && timeout.Stop() {
		grace := time.NewTimer(wait)
		defer grace.Stop()
		select {
		case <-grace.C:
		case <-ctx.Done():
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		return nil, failed
	}
	out := make([]presenceAnswer, 0, len(answers))
	for _, a := range answers {
		out = append(out, a)
	}
	return out, ctx.Err()
}

// encodeShare encodes a node's share of a presence answer, or fails with
// ErrPresenceTooLarge when it is larger than maxPresenceAnswer.
func encodeShare(a *presenceAnswer) ([]byte, error) {
	b, err := msgpack.Marshal(a)
	if err != nil {
		return nil, err
	}
	if len(b) > maxPresenceAnswer {
		return nil, &sentinelError{ErrPresenceTooLarge, fmt.Sprintf("%v: %d bytes from one node (limit %d)", ErrPresenceTooLarge, len(b), maxPresenceAnswer)}
	}
	return b, nil
}

// presenceGrace is how long a query waits, once every node it knew of
// has answered, for the answers of nodes that joined a moment ago.
func presenceGrace(interval time.Duration) time.Duration {
	return min(interval/10, 50*time.Millisecond)
}

func all(expect []string, answers map[string]presenceAnswer) bool {
	for _, n := range expect {
		if _, ok := answers[n]; !ok {
			return false
		}
	}
	return true
}

// onPresenceQuery answers another node's query.
func (cl *cluster) onPresenceQuery(m *backplane.Message) {
	env, ok := cl.decode(m)
	if !ok || env.Op != opPresence || env.Origin == cl.nodeID {
		return
	}
	a := cl.node.localPresence(env.Method, env.Group)
	reply := envelope{Origin: cl.nodeID}
	var err error
	if reply.Result, err = encodeShare(&a); err != nil {
		reply.ErrKind, reply.Err = errKindOther, err.Error()
		if errors.Is(err, ErrPresenceTooLarge) {
			reply.ErrKind = errKindTooLarge
		}
	}
	// Publishing waits for the bus (a confirmed publish is a round
	// trip): not on the goroutine that dispatches every other message.
	go cl.answerPresence(env.Token, &reply)
}

// answerPresence publishes a node's answer to a presence query.
func (cl *cluster) answerPresence(inbox string, reply *envelope) {
	data, _ := msgpack.Marshal(reply)
	ctx, cancel := context.WithTimeout(context.Background(), cl.cfg.presenceInterval)
	defer cancel()
	err := cl.bp.Publish(ctx, inbox, data)
	if err != nil && reply.ErrKind == errKindNone {
		// Tell the asker, in a message small enough to pass, that this
		// node's share is missing.
		data, _ = msgpack.Marshal(&envelope{Origin: cl.nodeID, ErrKind: errKindOther, Err: err.Error()})
		err = cl.bp.Publish(ctx, inbox, data)
	}
	if err != nil {
		cl.cfg.logger.DebugContext(ctx, "answering a presence query failed", "error", err)
	}
}

// onHeartbeat records that a node is alive.
func (cl *cluster) onHeartbeat(m *backplane.Message) {
	env, ok := cl.decode(m)
	if !ok || env.Op != opHeartbeat {
		return
	}
	cl.seen(env.Origin, env.Method == "bye")
}

// heartbeat announces this node until stop is closed, then says goodbye.
func (cl *cluster) heartbeat(stop, done chan struct{}) {
	defer close(done)
	beat := func(bye bool) {
		env := envelope{Op: opHeartbeat, Origin: cl.nodeID}
		if bye {
			env.Method = "bye"
		}
		data, _ := msgpack.Marshal(&env)
		ctx, cancel := context.WithTimeout(context.Background(), cl.cfg.presenceInterval)
		defer cancel()
		if err := cl.bp.Publish(ctx, cl.subject("hb"), data); err != nil {
			cl.cfg.logger.DebugContext(ctx, "heartbeat failed", "error", err)
		}
	}
	beat(false)
	t := time.NewTicker(cl.cfg.presenceInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			beat(true)
			return
		case <-t.C:
			beat(false)
			cl.expireNodes(3 * cl.cfg.presenceInterval)
		}
	}
}

func (cl *cluster) seen(node string, gone bool) {
	if node == cl.nodeID {
		return
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if gone {
		delete(cl.nodes, node)
		return
	}
	cl.nodes[node] = time.Now()
}

func (cl *cluster) expireNodes(ttl time.Duration) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for n, t := range cl.nodes {
		if time.Since(t) > ttl {
			delete(cl.nodes, n)
		}
	}
}

// liveNodes lists the other nodes heard from recently.
func (cl *cluster) liveNodes() []string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	out := make([]string, 0, len(cl.nodes))
	for n := range cl.nodes {
		out = append(out, n)
	}
	return out
}
