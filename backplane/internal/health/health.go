// Package health keeps a backplane's link state and reports its changes
// to the watchers of backplane.HealthReporter.
package health

import (
	"sync"

	"github.com/gosignalr/signalr/backplane"
)

// Reporter holds a link's state and calls its watchers. The zero value is
// a Reporter in state Connected with no watchers.
type Reporter struct {
	mu       sync.Mutex
	state    backplane.State
	err      error
	watchers []*watcher

	q Serial // calls to watchers, one at a time, in order
}

type watcher struct {
	mu      sync.Mutex // held during a call of f
	stopped bool
	f       func(backplane.Event)
}

// Init sets the state without reporting it; for use before any watcher.
func (r *Reporter) Init(s backplane.State, err error) {
	r.mu.Lock()
	r.state, r.err = s, err
	r.mu.Unlock()
}

// Health implements backplane.HealthReporter.
func (r *Reporter) Health() (backplane.State, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, r.err
}

// Watch implements backplane.HealthReporter.
func (r *Reporter) Watch(f func(backplane.Event)) (stop func()) {
	w := &watcher{f: f}
	r.mu.Lock()
	r.watchers = append(r.watchers, w)
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		for i, x := range r.watchers {
			if x == w {
				r.watchers = append(r.watchers[:i:i], r.watchers[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
	}
}

// Set moves the link to state s because of err (nil for Connected) and
// reports it when the state changes; lost tells whether messages may
// have been missed because of the change. Once Closed, the state no
// longer changes. It reports whether the state changed.
func (r *Reporter) Set(s backplane.State, err error, lost bool) bool {
	r.mu.Lock()
	if r.state == s || r.state == backplane.Closed {
		r.mu.Unlock()
		return false
	}
	r.state, r.err = s, err
	r.emitLocked(backplane.Event{State: s, Lost: lost, Err: err})
	r.mu.Unlock()
	return true
}

// Lost reports messages of subject ("" for any) dropped because of err
// while the state stays what it is.
func (r *Reporter) Lost(subject string, err error) {
	r.mu.Lock()
	r.emitLocked(backplane.Event{State: r.state, Lost: true, Subject: subject, Err: err})
	r.mu.Unlock()
}

// emitLocked queues ev for every watcher; r.mu is held, so that events
// are queued in the order of the changes.
func (r *Reporter) emitLocked(ev backplane.Event) {
	if len(r.watchers) == 0 {
		return
	}
	ws := r.watchers
	r.q.Do(func() {
		for _, w := range ws {
			w.mu.Lock()
			if !w.stopped {
				w.f(ev)
			}
			w.mu.Unlock()
		}
	})
}

// Serial runs functions one at a time, in order, on a goroutine that
// exists only while there is something to run. The zero value is ready.
type Serial struct {
	mu      sync.Mutex
	queue   []func()
	running bool
}

// Do queues f to run after the functions queued before it.
func (q *Serial) Do(f func()) {
	q.mu.Lock()
	q.queue = append(q.queue, f)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go q.run()
	}
}

func (q *Serial) run() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		f := q.queue[0]
		q.queue = q.queue[1:]
		q.mu.Unlock()
		f()
	}
}
