package faultsuite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gosignalr/signalr/client"
)

// group is the group every receiver joins.
const group = "g"

// newClient makes a Go client of the node at url over the transport,
// reconnecting by itself (every 100ms, for up to a minute).
func newClient(t *testing.T, url, transport, user string) *client.Client {
	t.Helper()
	opts := []client.Option{
		client.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		client.WithTransports(transport),
		client.WithReconnectPolicy(func(rc client.RetryContext) (time.Duration, bool) {
			return 100 * time.Millisecond, rc.Elapsed < time.Minute
		}),
	}
	if user != "" {
		opts = append(opts, client.WithHeader(userHdr, user))
	}
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// epoch is one connection of a receiver, from the moment it can be
// reached (connected and in the group) to its end.
type epoch struct {
	id       string
	ready    time.Time // zero until it can be reached
	closed   time.Time // zero while open
	reported bool      // closed by the server with a reason, or its node was killed
	closeErr error
}

// delivery is a message a receiver got.
type delivery struct {
	at    time.Time
	epoch int // index of the connection it came on
}

// receiver is a client that joins the group and records every "msg" it
// gets, and every connection it had.
type receiver struct {
	name, user string
	node       int
	c          *client.Client

	mu         sync.Mutex
	epochs     []epoch
	got        map[string]map[int]delivery // sender, seq
	last       map[string]int              // last seq per sender
	outOfOrder int
	disorder   []string // the first few messages out of order

	life     sync.Mutex // held to start again or to stop for good
	stopping bool
	wg       sync.WaitGroup
}

func startReceiver(t *testing.T, name string, nodeIdx int, url, transport string) *receiver {
	t.Helper()
	r := &receiver{name: name, user: "user-" + name, node: nodeIdx,
		got: make(map[string]map[int]delivery), last: make(map[string]int)}
	r.c = newClient(t, url, transport, r.user)
	if err := r.c.On("msg", r.onMsg); err != nil {
		t.Fatal(err)
	}
	r.c.OnReconnecting(func(err error) { r.closeEpoch(err, false) })
	r.c.OnReconnected(func(id string) { r.beginEpoch(id) })
	r.c.OnClosed(func(err error) {
		if err == nil {
			return // stopped by the test
		}
		r.closeEpoch(err, false)
		r.wg.Add(1)
		go r.restart()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.c.Start(ctx); err != nil {
		t.Fatalf("receiver %s: start: %v", name, err)
	}
	r.beginEpoch(r.c.ConnectionID())
	t.Cleanup(r.stop)
	return r
}

// onMsg records a message and checks that each sender's sequence numbers
// only grow.
func (r *receiver) onMsg(sender string, seq int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq <= r.last[sender] {
		r.outOfOrder++
		if len(r.disorder) < 4 {
			r.disorder = append(r.disorder, fmt.Sprintf("%s got %s#%d (%s) after #%d", r.name, sender, seq, kindOf(seq), r.last[sender]))
		}
	} else {
		r.last[sender] = seq
	}
	m := r.got[sender]
	if m == nil {
		m = make(map[int]delivery)
		r.got[sender] = m
	}
	if _, dup := m[seq]; !dup {
		m[seq] = delivery{at: time.Now(), epoch: len(r.epochs) - 1}
	}
}

// beginEpoch records a new connection and joins the group on it (in the
// background: Join is a call, and this runs in the client's callback).
func (r *receiver) beginEpoch(id string) {
	r.mu.Lock()
	r.epochs = append(r.epochs, epoch{id: id})
	i := len(r.epochs) - 1
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			r.life.Lock()
			stopping := r.stopping
			r.life.Unlock()
			if stopping {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := r.c.Invoke(ctx, nil, "Join", group)
			cancel()
			if err == nil {
				r.mu.Lock()
				if r.epochs[i].closed.IsZero() {
					r.epochs[i].ready = time.Now()
				}
				r.mu.Unlock()
				return
			}
			if errors.Is(err, client.ErrNotConnected) || errors.Is(err, client.ErrConnectionClosed) {
				return // this connection is gone; the next one joins
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// closeEpoch ends the current connection, if it is open. A close is
// reported when the server closed the connection with a reason (or when
// killed says its node was killed).
func (r *receiver) closeEpoch(err error, killed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := &r.epochs[len(r.epochs)-1]
	if !e.closed.IsZero() {
		return
	}
	e.closed, e.closeErr = time.Now(), err
	var ce *client.CloseError
	e.reported = killed || (errors.As(err, &ce) && ce.Message != "")
}

// killed records that the receiver's node was killed at k: the
// connection open then ended with it, which reports its losses.
func (r *receiver) killed(k time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := &r.epochs[len(r.epochs)-1]
	if e.closed.IsZero() {
		e.closed = time.Now()
	}
	if !e.closed.Before(k) {
		e.reported = true
	}
}

// restart starts a client the server closed without letting it
// reconnect.
func (r *receiver) restart() {
	defer r.wg.Done()
	for {
		r.life.Lock()
		if r.stopping {
			r.life.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.c.Start(ctx)
		cancel()
		r.life.Unlock()
		if err == nil {
			r.beginEpoch(r.c.ConnectionID())
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// current is the latest connection that can be reached: its index and
// id (-1 before the first).
func (r *receiver) current() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.epochs) - 1; i >= 0; i-- {
		if !r.epochs[i].ready.IsZero() {
			return i, r.epochs[i].id
		}
	}
	return -1, ""
}

// epochAt is the connection that could be reached at t: the latest one
// ready by then (-1: none).
func (r *receiver) epochAt(t time.Time) int {
	for i := len(r.epochs) - 1; i >= 0; i-- {
		if rd := r.epochs[i].ready; !rd.IsZero() && !rd.After(t) {
			return i
		}
	}
	return -1
}

// has reports whether r got sender's message seq.
func (r *receiver) has(sender string, seq int) (delivery, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.got[sender][seq]
	return d, ok
}

func (r *receiver) stop() {
	r.life.Lock()
	r.stopping = true
	r.life.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.c.Stop(ctx)
	r.wg.Wait()
}

// sent is one message of a sender.
type sent struct {
	seq        int
	start, end time.Time
	err        error
	to         []int // receivers it is meant for
	epochs     []int // for a "client" send, the connection it named; else -1
}

// sender sends sequence-numbered messages through the hub's Send method,
// one at a time, cycling through the targets.
type sender struct {
	name string
	node int
	c    *client.Client

	mu   sync.Mutex
	msgs []sent
}

func startSender(t *testing.T, name string, nodeIdx int, url, transport string) *sender {
	t.Helper()
	s := &sender{name: name, node: nodeIdx}
	s.c = newClient(t, url, transport, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.c.Start(ctx); err != nil {
		t.Fatalf("sender %s: start: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.c.Stop(ctx)
	})
	return s
}

// maxPerSender bounds the messages of one sender in one row.
const maxPerSender = 3000

// run sends until stop is closed: message seq goes to the group, to the
// next receiver's user, to the connection of the receiver after that, or
// to all, in turn; every 10ms at most.
func (s *sender) run(stop <-chan struct{}, rs []*receiver) {
	n := len(rs)
	for seq := 1; seq <= maxPerSender; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		m := sent{seq: seq}
		var kind, name string
		switch seq % 4 {
		case 0:
			kind, name = "group", group
			m.to = []int{0, 1, 2}
		case 1:
			r := rs[(s.node+1)%n]
			kind, name = "user", r.user
			m.to = []int{(s.node + 1) % n}
		case 2:
			to := (s.node + 2) % n
			kind = "client"
			var ep int
			ep, name = rs[to].current()
			m.to, m.epochs = []int{to}, []int{ep}
		case 3:
			kind = "all"
			m.to = []int{0, 1, 2}
		}
		if m.epochs == nil {
			m.epochs = make([]int, len(m.to))
			for i := range m.epochs {
				m.epochs[i] = -1
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m.start = time.Now()
		m.err = s.c.Invoke(ctx, nil, "Send", kind, name, s.name, seq)
		m.end = time.Now()
		cancel()
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
		select {
		case <-stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// snapshot copies the messages sent so far.
func (s *sender) snapshot() []sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sent(nil), s.msgs...)
}
