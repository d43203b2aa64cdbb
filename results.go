package signalr

import (
	"context"
	"strconv"
	"sync"

	"github.com/gosignalr/signalr/protocol"
)

// Client results: the server invokes a client method and waits for the
// client's answer.

// resultSet tracks a connection's invocations that wait for a client
// result. Their ids start with "r", so they never collide with the
// numeric ids clients give their upload streams.
type resultSet struct {
	mu      sync.Mutex
	next    uint64
	pending map[string]chan *protocol.Completion
}

// SingleClientProxy is one connection. Besides Send, it can ask the client
// for a result.
type SingleClientProxy struct {
	ClientProxy
}

// Invoke calls method on the client and waits for its answer, which is
// decoded into result (a pointer, or nil to ignore the value). It returns
// a *ClientError when the client's handler failed or returned nothing,
// ctx's error when ctx ends first, ErrConnectionNotFound when no node holds
// the connection, and ErrConnectionClosed when the connection ends before
// the answer. With a backplane the connection may be on another node. The client never times out by itself: give ctx a
// deadline.
//
// Invoke may be called from a hub method of the same connection: a
// connection keeps reading while its methods run, so the answer is
// received even with the default of one parallel invocation.
func (p SingleClientProxy) Invoke(ctx context.Context, result any, method string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.h.closed.Load() {
		return ErrHubClosed
	}
	if p.kind == targetCaller && p.caller == nil {
		return ErrNoConnection
	}
	c := p.caller
	if c == nil {
		c = p.h.reg.conn(p.names[0])
	}
	if c == nil {
		return p.h.cluster.invoke(ctx, p.names[0], result, method, args)
	}
	return c.invokeClient(ctx, result, method, args)
}

func (c *conn) invokeClient(ctx context.Context, result any, method string, args []any) error {
	if args == nil {
		args = []any{}
	}
	ch := make(chan *protocol.Completion, 1)
	c.results.mu.Lock()
	c.results.next++
	id := "r" + strconv.FormatUint(c.results.next, 10)
	if c.results.pending == nil {
		c.results.pending = make(map[string]chan *protocol.Completion)
	}
	c.results.pending[id] = ch
	c.results.mu.Unlock()
	defer func() {
		c.results.mu.Lock()
		delete(c.results.pending, id)
		c.results.mu.Unlock()
	}()

	b, err := c.proto.AppendMessage(nil, &protocol.Invocation{InvocationID: id, Target: method, Arguments: args})
	if err != nil {
		return err
	}
	if err := c.waitRoom(ctx); err != nil {
		return err
	}
	if !c.enqueue(b) {
		return ErrConnectionClosed
	}
	select {
	case m := <-ch:
		if m.Error != "" {
			return &ClientError{Message: m.Error}
		}
		if result == nil || !m.HasResult {
			return nil
		}
		raw, _ := m.Result.(protocol.Raw)
		if r, ok := result.(*protocol.Raw); ok {
			*r = raw // already copied out of the read buffer
			return nil
		}
		return c.proto.Unmarshal(raw, result)
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrConnectionClosed
	}
}

// completeResult delivers a client's answer; it reports whether the
// completion answered a pending Invoke.
func (c *conn) completeResult(m *protocol.Completion) bool {
	c.results.mu.Lock()
	ch := c.results.pending[m.InvocationID]
	delete(c.results.pending, m.InvocationID)
	c.results.mu.Unlock()
	if ch == nil {
		return false
	}
	if raw, ok := m.Result.(protocol.Raw); ok {
		m.Result = protocol.Raw(append([]byte(nil), raw...)) // out of the read buffer
	}
	ch <- m
	return true
}
