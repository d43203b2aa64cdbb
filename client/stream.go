package client

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/gosignalr/signalr/protocol"
)

// Stream invokes method as a streaming method and yields its items as the
// server sends them, undecoded (see [Stream] for typed items). The
// invocation is sent when the range loop starts, so each range runs the
// method once. The loop ends when the server completes the stream; an
// error completion, the end of the connection or the end of ctx is
// yielded as a final error. Leaving the loop early, or ctx ending, sends
// the server a CancelInvocation. Arguments, uploads included, are as for
// Send; uploads stop when the loop ends.
//
// Items wait in memory until the loop takes them, so a slow loop never
// holds up the connection.
func (c *Client) Stream(ctx context.Context, method string, args ...any) iter.Seq2[RawValue, error] {
	return streamSeq(ctx, c, method, args, func(v RawValue) (RawValue, error) { return v, nil })
}

// Stream is [Client.Stream] with each item decoded into a T.
//
//	for n, err := range client.Stream[int](ctx, c, "Counter", 10) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(n)
//	}
//
// An item that cannot be decoded into T ends the loop with an error (and
// cancels the stream).
func Stream[T any](ctx context.Context, c *Client, method string, args ...any) iter.Seq2[T, error] {
	return streamSeq(ctx, c, method, args, func(v RawValue) (T, error) {
		var t T
		if rv, ok := any(&t).(*RawValue); ok {
			*rv = v
			return t, nil
		}
		if err := v.Decode(&t); err != nil {
			return t, fmt.Errorf("signalr client: decoding an item of %s: %w", method, err)
		}
		return t, nil
	})
}

func streamSeq[T any](ctx context.Context, c *Client, method string, args []any, conv func(RawValue) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if err := ctx.Err(); err != nil {
			yield(zero, err)
			return
		}
		s, err := c.session()
		if err != nil {
			yield(zero, err)
			return
		}
		// Every range gets its own copy of the arguments and uploads.
		callArgs, ups, ids, err := c.splitUploads(args)
		if err != nil {
			yield(zero, err)
			return
		}
		id := c.nextID()
		cl := &call{items: newQueue[protocol.Raw]()}
		if err := s.addCall(id, cl); err != nil {
			yield(zero, err)
			return
		}
		msg := &protocol.StreamInvocation{InvocationID: id, Target: method, Arguments: callArgs, StreamIDs: ids}
		if err := s.send(ctx, msg, false); err != nil {
			s.removeCall(id)
			yield(zero, fmt.Errorf("signalr client: stream %s: %w", method, err))
			return
		}
		loopCtx, cancel := context.WithCancel(ctx)
		defer cancel() // stops the uploads
		s.startUploads(loopCtx, ups)
		defer func() {
			// Still registered: the server has not completed the stream.
			if s.removeCall(id) {
				_ = s.send(s.ctx, &protocol.CancelInvocation{InvocationID: id}, false)
			}
		}()
		for {
			raw, err := cl.items.pop(ctx)
			if errors.Is(err, errStreamEnd) {
				return
			}
			if err != nil {
				yield(zero, err)
				return
			}
			v, err := conv(RawValue{raw: raw, proto: s.proto})
			if err != nil {
				yield(zero, err)
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}
