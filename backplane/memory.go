package backplane

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Memory is an in-process Backplane: hubs of one process that share a
// Memory behave as nodes of a cluster. It is what tests and single-binary
// deployments with several hubs use; delivery is synchronous, in the
// publishing goroutine.
type Memory struct {
	mu     sync.RWMutex
	subs   map[string][]*memSub
	closed bool
}

var _ Backplane = (*Memory)(nil)

// NewMemory returns an empty in-process bus.
func NewMemory() *Memory {
	return &Memory{subs: make(map[string][]*memSub)}
}

type memSub struct {
	m       *Memory
	subject string
	h       Handler
	mu      sync.Mutex // serializes calls of h
	done    atomic.Bool
}

// Publish implements Backplane.
func (m *Memory) Publish(ctx context.Context, subject string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	subs, err := m.subscribers(subject)
	if err != nil {
		return err
	}
	for _, s := range subs {
		s.deliver(&Message{Subject: subject, Data: append([]byte(nil), data...)})
	}
	return nil
}

// Request implements Backplane: the first subscription answers.
func (m *Memory) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	subs, err := m.subscribers(subject)
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		return nil, ErrNoResponders
	}
	reply := make(chan []byte, 1)
	go subs[0].deliver(&Message{Subject: subject, Data: append([]byte(nil), data...), Reply: func(b []byte) error {
		select {
		case reply <- append([]byte(nil), b...):
		default:
		}
		return nil
	}})
	select {
	case b := <-reply:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *Memory) subscribers(subject string) ([]*memSub, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	return append([]*memSub(nil), m.subs[subject]...), nil
}

// Subscribe implements Backplane.
func (m *Memory) Subscribe(subject string, h Handler) (Subscription, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	s := &memSub{m: m, subject: subject, h: h}
	m.subs[subject] = append(m.subs[subject], s)
	return s, nil
}

// checkSubject refuses what the subject rule of Backplane does not
// allow, as the buses over a network must, so that code tested on Memory
// does not meet the refusal first in production.
func checkSubject(subject string) error {
	if !ValidSubject(subject) {
		return fmt.Errorf("backplane: invalid subject %q", subject)
	}
	return nil
}

// Close implements Backplane. It does not wait for handler calls in
// progress: they may still finish (and their Publish and Request calls
// return ErrClosed), so Close may be called from a handler, and a handler
// that publishes while Close runs does not hold it up.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.closed = true
	subs := m.subs
	m.subs = nil
	m.mu.Unlock()
	for _, list := range subs {
		for _, s := range list {
			s.done.Store(true)
		}
	}
	return nil
}

func (s *memSub) deliver(msg *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done.Load() {
		s.h(msg)
	}
}

// Unsubscribe implements Subscription.
func (s *memSub) Unsubscribe() error {
	s.m.mu.Lock()
	list := s.m.subs[s.subject]
	for i, x := range list {
		if x == s {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.m.subs, s.subject)
	} else if s.m.subs != nil {
		s.m.subs[s.subject] = list
	}
	s.m.mu.Unlock()
	s.done.Store(true)
	return nil
}
