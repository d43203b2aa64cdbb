package signalr

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/gosignalr/signalr/protocol"
)

// Streaming both ways. A hub method that returns a channel, an iter.Seq[T]
// or an iter.Seq2[T, error] streams its items to a client that called it
// with stream(); a parameter of one of those types receives the items a
// client uploads. Streams run beside ordinary invocations and do not count
// against WithMaxParallelInvocations; WithMaxStreams caps them.

var errStreamCanceled = errors.New("signalr: the client canceled the stream")

// streamSet tracks a connection's open streams: running server-to-client
// streams by invocation id, and uploads by stream id.
type streamSet struct {
	mu      sync.Mutex
	cancels map[string]context.CancelCauseFunc
	uploads map[string]*upload
}

func (s *streamSet) open() int { return len(s.cancels) + len(s.uploads) }

// upload is one client-to-server stream: the reader decodes items into ch;
// the hub method receives them through its parameter.
type upload struct {
	c    *conn
	id   string
	pm   param
	ch   reflect.Value // chan pm.elem
	done chan struct{} // closed when the method has returned
	err  error         // the client's error; written before ch is closed

	ended bool // guarded by streamSet.mu: the client completed the upload
}

// prepareUploads registers the uploads of an invocation as soon as the
// reader sees it, so that items arriving before the method runs are kept.
// It returns an error text for the client when the streams cannot be open.
func (c *conn) prepareUploads(m *method, streamIDs []string) string {
	if len(streamIDs) == 0 || m == nil || len(streamIDs) != m.nStreams {
		return "" // binding reports the mismatch
	}
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	if c.streams.open()+len(streamIDs) > c.hub.cfg.maxStreams {
		return fmt.Sprintf("Failed to invoke '%s': the connection has too many open streams (limit %d).", m.name, c.hub.cfg.maxStreams)
	}
	si := 0
	for _, pm := range m.params {
		if pm.shape == streamNone {
			continue
		}
		id := streamIDs[si]
		si++
		if _, dup := c.streams.uploads[id]; dup {
			// Give back the slots this invocation took so far (a stream id
			// repeated within it included).
			for _, prev := range streamIDs[:si-1] {
				delete(c.streams.uploads, prev)
			}
			return fmt.Sprintf("Failed to invoke '%s': stream id '%s' is already in use.", m.name, id)
		}
		if c.streams.uploads == nil {
			c.streams.uploads = make(map[string]*upload)
		}
		c.streams.uploads[id] = &upload{
			c:    c,
			id:   id,
			pm:   pm,
			ch:   reflect.MakeChan(reflect.ChanOf(reflect.BothDir, pm.elem), c.hub.cfg.streamBufferCapacity),
			done: make(chan struct{}),
		}
	}
	return ""
}

// newUpload returns the upload prepared for id.
func newUpload(c *conn, id string, pm param) *upload {
	c.streams.mu.Lock()
	u := c.streams.uploads[id]
	c.streams.mu.Unlock()
	if u == nil || u.pm.t != pm.t {
		// Not prepared (binding after a failed prepare): an empty stream.
		u = &upload{c: c, id: id, pm: pm, ch: reflect.MakeChan(reflect.ChanOf(reflect.BothDir, pm.elem), 0), done: make(chan struct{})}
		u.ch.Close()
	}
	return u
}

// param returns the value passed to the hub method for this upload.
func (u *upload) param() reflect.Value {
	if u.pm.shape == streamChan {
		return u.ch.Convert(u.pm.t)
	}
	seq2 := u.pm.shape == streamSeq2
	return reflect.MakeFunc(u.pm.t, func(args []reflect.Value) []reflect.Value {
		yield := args[0]
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: u.ch},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(u.c.ctx.Done())},
		}
		for {
			chosen, v, ok := reflect.Select(cases)
			if chosen == 1 { // the connection closed
				if seq2 {
					err := error(&StreamError{Message: connClosedWhileStreaming})
					yield.Call([]reflect.Value{reflect.Zero(u.pm.elem), reflect.ValueOf(&err).Elem()})
				}
				return nil
			}
			if !ok {
				if seq2 && u.err != nil {
					yield.Call([]reflect.Value{reflect.Zero(u.pm.elem), reflect.ValueOf(&u.err).Elem()})
				}
				return nil
			}
			in := []reflect.Value{v}
			if seq2 {
				in = append(in, reflect.Zero(typeError))
			}
			if !yield.Call(in)[0].Bool() {
				return nil
			}
		}
	})
}

// push hands one uploaded item to the method, waiting while its buffer is
// full (backpressure on the connection's reader).
func (c *conn) pushUpload(item *protocol.StreamItem) {
	c.streams.mu.Lock()
	u := c.streams.uploads[item.InvocationID]
	ended := u != nil && u.ended
	c.streams.mu.Unlock()
	if u == nil || ended {
		c.logger().DebugContext(c.ctx, "stream item for an unknown or completed stream", "stream", item.InvocationID)
		return
	}
	raw, _ := item.Item.(protocol.Raw)
	v := reflect.New(u.pm.elem)
	if err := c.proto.Unmarshal(raw, v.Interface()); err != nil {
		c.endUpload(u, fmt.Sprintf("Error binding stream item: %v", err))
		return
	}
	reflect.Select([]reflect.SelectCase{
		{Dir: reflect.SelectSend, Chan: u.ch, Send: v.Elem()},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(u.done)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.ctx.Done())},
	})
}

// completeUpload ends an upload the client completed; it reports whether
// id named an upload.
func (c *conn) completeUpload(m *protocol.Completion) bool {
	c.streams.mu.Lock()
	u := c.streams.uploads[m.InvocationID]
	c.streams.mu.Unlock()
	if u == nil {
		return false
	}
	c.endUpload(u, m.Error)
	return true
}

// endUpload closes u's channel (only the reader sends on it) with the
// client's error, if any. The upload stays registered until its method
// has taken it and returned.
func (c *conn) endUpload(u *upload, errText string) {
	c.streams.mu.Lock()
	if u.ended {
		c.streams.mu.Unlock()
		return
	}
	u.ended = true
	c.streams.mu.Unlock()
	if errText != "" {
		u.err = &StreamError{Message: errText}
	}
	u.ch.Close()
}

const connClosedWhileStreaming = "Connection closed while streaming."

// endAllUploads ends every open upload with errText. Only the reader may
// call it.
func (c *conn) endAllUploads(errText string) {
	c.streams.mu.Lock()
	ups := make([]*upload, 0, len(c.streams.uploads))
	for _, u := range c.streams.uploads {
		ups = append(ups, u)
	}
	c.streams.mu.Unlock()
	for _, u := range ups {
		c.endUpload(u, errText)
	}
}

// releaseUploads forgets the uploads of a method that has returned; items
// still arriving for them are dropped.
func (c *conn) releaseUploads(ups []*upload) {
	for _, u := range ups {
		close(u.done)
		c.streams.mu.Lock()
		if c.streams.uploads[u.id] == u {
			delete(c.streams.uploads, u.id)
		}
		c.streams.mu.Unlock()
	}
}

// startStream runs a streaming invocation in its own goroutine.
func (c *conn) startStream(si *protocol.StreamInvocation) {
	m := c.hub.lookup(si.Target)
	k := call{id: si.InvocationID, target: si.Target, m: m, stream: true}
	switch {
	case m == nil:
		c.refuse(k, invokeUnknownMethod, fmt.Sprintf("Failed to invoke '%s' due to an error on the server. HubException: Method does not exist.", si.Target), nil)
		return
	case m.stream == streamNone:
		c.refuse(k, invokeInvalid, fmt.Sprintf("The client attempted to invoke the non-streaming '%s' method with a streaming invocation.", si.Target), nil)
		return
	}
	// The stream and its uploads take their slots together, or none: only
	// this goroutine (the reader) adds streams, so the check holds until
	// they are added.
	c.streams.mu.Lock()
	_, dup := c.streams.cancels[si.InvocationID]
	full := c.streams.open()+len(si.StreamIDs)+1 > c.hub.cfg.maxStreams
	c.streams.mu.Unlock()
	if dup || full {
		c.refuse(k, invokeInvalid, fmt.Sprintf("Failed to invoke '%s': the connection has too many open streams (limit %d) or reused an invocation id.", si.Target, c.hub.cfg.maxStreams), nil)
		return
	}
	if msg := c.prepareUploads(m, si.StreamIDs); msg != "" {
		c.refuse(k, invokeInvalid, msg, nil)
		return
	}
	ctx, cancel := context.WithCancelCause(c.ctx)
	c.streams.mu.Lock()
	if c.streams.cancels == nil {
		c.streams.cancels = make(map[string]context.CancelCauseFunc)
	}
	c.streams.cancels[si.InvocationID] = cancel
	c.streams.mu.Unlock()
	c.iwg.Add(1)
	go func() {
		defer c.iwg.Done()
		defer func() {
			c.streams.mu.Lock()
			delete(c.streams.cancels, si.InvocationID)
			c.streams.mu.Unlock()
			cancel(nil)
		}()
		c.runStream(ctx, m, si)
	}()
}

// cancelStream stops a server-to-client stream at the client's request.
func (c *conn) cancelStream(id string) {
	c.streams.mu.Lock()
	cancel := c.streams.cancels[id]
	c.streams.mu.Unlock()
	if cancel != nil {
		cancel(errStreamCanceled)
	}
}

func (c *conn) runStream(ctx context.Context, m *method, si *protocol.StreamInvocation) {
	hc := &Context{Context: ctx, c: c}
	k := call{id: si.InvocationID, target: si.Target, m: m, uploads: si.StreamIDs, stream: true}
	if err := c.authorize(m, hc); err != nil {
		c.refuse(k, invokeUnauthorized, fmt.Sprintf("Failed to invoke '%s' because user is unauthorized", si.Target), err)
		return
	}
	in, ups, err := m.bind(c, si.Arguments, si.StreamIDs, ctx, hc)
	if err != nil {
		c.refuse(k, invokeInvalid, c.bindErrorText(si.Target, err), err)
		return
	}
	defer c.releaseUploads(ups)
	result, err := c.hub.callFiltered(m, hc, in)
	if err != nil {
		c.fail(k, err, false)
		return
	}
	err = c.pump(ctx, m.stream, si.InvocationID, reflect.ValueOf(result))
	switch {
	case context.Cause(ctx) == errStreamCanceled, c.ctx.Err() != nil:
		return // the client is no longer listening
	case err != nil:
		c.fail(k, err, true)
	default:
		c.sendCompletion(&protocol.Completion{InvocationID: si.InvocationID})
	}
}

// pump sends the items of a stream result until it ends, ctx is done, or
// the producer fails. Before each item it waits while the connection is
// behind (see waitRoom), so a client that stops reading stops the producer
// instead of growing memory.
func (c *conn) pump(ctx context.Context, shape streamShape, id string, v reflect.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r}
		}
	}()
	if !v.IsValid() || v.IsNil() {
		return nil
	}
	send := func(item any) error {
		if err := c.waitRoom(ctx); err != nil {
			return err
		}
		b, err := c.proto.AppendMessage(nil, &protocol.StreamItem{InvocationID: id, Item: item})
		if err != nil {
			return err
		}
		if !c.enqueue(b) {
			return ErrConnectionClosed
		}
		return nil
	}
	switch shape {
	case streamChan:
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: v},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		}
		for {
			chosen, item, ok := reflect.Select(cases)
			if chosen == 1 {
				return ctx.Err()
			}
			if !ok {
				return nil
			}
			if err := send(item.Interface()); err != nil {
				return err
			}
		}
	case streamSeq, streamSeq2:
		var failed error
		yield := reflect.MakeFunc(v.Type().In(0), func(args []reflect.Value) []reflect.Value {
			if shape == streamSeq2 && !args[1].IsNil() {
				failed = args[1].Interface().(error)
				return []reflect.Value{reflect.ValueOf(false)}
			}
			if err := send(args[0].Interface()); err != nil {
				failed = err
				return []reflect.Value{reflect.ValueOf(false)}
			}
			return []reflect.Value{reflect.ValueOf(true)}
		})
		v.Call([]reflect.Value{yield})
		return failed
	}
	return nil
}
