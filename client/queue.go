package client

import (
	"context"
	"sync"
)

// queue is an unbounded FIFO with one consumer. Producers never block, so
// the connection's reader is never held up by a slow handler or stream
// consumer (which could otherwise deadlock a handler that calls Invoke).
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	err    error
	ready  chan struct{} // holds a token when items or closed changed
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{ready: make(chan struct{}, 1)}
}

func (q *queue[T]) notify() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// push appends v; it is dropped after close.
func (q *queue[T]) push(v T) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.notify()
}

// close ends the queue: pop returns the items left, then err. Only the
// first close counts.
func (q *queue[T]) close(err error) {
	q.mu.Lock()
	if !q.closed {
		q.closed, q.err = true, err
	}
	q.mu.Unlock()
	q.notify()
}

// pop returns the next item, waiting for one. After close and once empty
// it returns the close error; when ctx ends first, ctx's error.
func (q *queue[T]) pop(ctx context.Context) (T, error) {
	var zero T
	done := ctx.Done()
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v := q.items[0]
			q.items[0] = zero
			q.items = q.items[1:]
			q.mu.Unlock()
			return v, nil
		}
		if q.closed {
			err := q.err
			q.mu.Unlock()
			return zero, err
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-done:
			return zero, ctx.Err()
		}
	}
}
