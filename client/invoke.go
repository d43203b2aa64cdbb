package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/gosignalr/signalr/protocol"
)

// errStreamEnd closes a stream's queue when the server completes it
// without an error.
var errStreamEnd = errors.New("signalr client: end of stream")

// call is an invocation or a stream waiting for the server.
type call struct {
	done  chan callResult      // an invocation's completion (cap 1)
	items *queue[protocol.Raw] // a stream's items
}

type callResult struct {
	comp *protocol.Completion
	err  error
}

// fail ends the call with err.
func (cl *call) fail(err error) {
	if cl.items != nil {
		cl.items.close(err)
		return
	}
	cl.done <- callResult{err: err}
}

func (c *Client) nextID() string {
	return strconv.FormatUint(c.ids.Add(1)-1, 10)
}

func (s *session) addCall(id string, cl *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return closedError(s.endErr)
	}
	s.calls[id] = cl
	return nil
}

// removeCall forgets a call; it reports whether it was still waiting.
func (s *session) removeCall(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.calls[id]
	delete(s.calls, id)
	return ok
}

// complete hands a Completion to its call; unknown ids are ignored.
func (s *session) complete(m *protocol.Completion) {
	s.mu.Lock()
	cl := s.calls[m.InvocationID]
	delete(s.calls, m.InvocationID)
	s.mu.Unlock()
	switch {
	case cl == nil:
	case cl.items == nil:
		cl.done <- callResult{comp: m}
	case m.Error != "":
		cl.items.close(&ServerError{Message: m.Error})
	default:
		cl.items.close(errStreamEnd)
	}
}

// deliverItem hands a StreamItem to its stream. An item for an ordinary
// invocation fails it, as the official client does.
func (s *session) deliverItem(m *protocol.StreamItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl := s.calls[m.InvocationID]
	switch {
	case cl == nil:
	case cl.items != nil:
		raw, _ := m.Item.(protocol.Raw)
		cl.items.push(raw)
	default:
		delete(s.calls, m.InvocationID)
		cl.done <- callResult{err: errors.New("signalr client: unexpected stream item for a non-streaming invocation")}
	}
}

// session returns the current session, or ErrNotConnected.
func (c *Client) session() (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != Connected || c.sess == nil {
		return nil, fmt.Errorf("%w (state %s)", ErrNotConnected, c.state)
	}
	return c.sess, nil
}

// Send invokes method on the server without waiting for it to run (a
// non-blocking invocation: the server sends nothing back). It returns
// once the message was written to the transport or, on a stateful
// connection, kept for replay. If ctx ends first Send returns ctx's error,
// and the message may still be sent.
//
// Arguments are encoded by the connection's protocol. A channel, an
// iter.Seq[T] or an iter.Seq2[T, error] argument is not encoded but
// streamed to the server as an upload: the hub method receives it as a
// stream parameter, each value is sent as it comes, and the upload ends
// when the channel is closed or the iterator returns (with the error of an
// iter.Seq2, if any). An upload started by Send stops early only when the
// connection ends.
func (c *Client) Send(ctx context.Context, method string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := c.session()
	if err != nil {
		return err
	}
	args, ups, ids, err := c.splitUploads(args)
	if err != nil {
		return err
	}
	msg := &protocol.Invocation{Target: method, Arguments: args, StreamIDs: ids}
	if err := s.send(ctx, msg, true); err != nil {
		return fmt.Errorf("signalr client: send %s: %w", method, err)
	}
	s.startUploads(context.Background(), ups)
	return nil
}

// Invoke invokes method on the server and waits for it to complete. The
// result, if the method returned one, is decoded into result (a pointer,
// or nil to ignore it). An error completion from the server is returned
// as a *ServerError holding the server's text. When the connection ends
// first, the error wraps ErrConnectionClosed; when ctx ends first, Invoke
// returns ctx's error (the server is not told). Arguments, uploads
// included, are as for Send; uploads stop when ctx ends.
func (c *Client) Invoke(ctx context.Context, result any, method string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := c.session()
	if err != nil {
		return err
	}
	args, ups, ids, err := c.splitUploads(args)
	if err != nil {
		return err
	}
	id := c.nextID()
	cl := &call{done: make(chan callResult, 1)}
	if err := s.addCall(id, cl); err != nil {
		return err
	}
	msg := &protocol.Invocation{InvocationID: id, Target: method, Arguments: args, StreamIDs: ids}
	if err := s.send(ctx, msg, false); err != nil {
		s.removeCall(id)
		return fmt.Errorf("signalr client: invoke %s: %w", method, err)
	}
	s.startUploads(ctx, ups)
	select {
	case r := <-cl.done:
		if r.err != nil {
			return r.err
		}
		if r.comp.Error != "" {
			return &ServerError{Message: r.comp.Error}
		}
		if result != nil && r.comp.HasResult {
			raw, _ := r.comp.Result.(protocol.Raw)
			if err := s.proto.Unmarshal(raw, result); err != nil {
				return fmt.Errorf("signalr client: decoding the result of %s: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		s.removeCall(id)
		return ctx.Err()
	}
}
