package signalr

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// writerPool runs connections' writers on a small set of goroutines, so that
// a broadcast to N connections does not start N goroutines and an idle
// connection holds none.
//
// A connection with something to write is queued once (its writing flag
// says so) and a worker runs its writeLoop until its queue is empty. Workers
// start on demand, up to max, and exit when there is nothing to do. A write
// to a client that does not read can block a worker for up to the write
// timeout; when the workers have finished no write for stallAfter while
// connections wait, another worker is started, so slow clients never hold
// up the others for long.
type writerPool struct {
	max        int
	stallAfter time.Duration

	mu      sync.Mutex
	ready   []*conn
	head    int
	running int
	timer   *time.Timer // armed while the workers may be stalled
	armed   bool

	writes     atomic.Uint64 // writes finished, ever
	seenWrites uint64        // writes when last looked at (under mu)
	seenAt     int64         // unix nanos of that look
}

func newWriterPool() *writerPool {
	p := &writerPool{max: max(8, 4*runtime.GOMAXPROCS(0)), stallAfter: 2 * time.Millisecond}
	p.timer = time.AfterFunc(time.Hour, p.checkStall)
	p.timer.Stop()
	return p
}

// startWriter runs c's writer. The caller has just set c.writing.
func (c *conn) startWriter() {
	if c.waitsForPoll {
		// A long-polling writer waits for the client's next poll: it gets
		// a goroutine of its own rather than holding a worker.
		go c.writeFn()
		return
	}
	c.hub.writers.schedule(c)
}

// startBatch gathers the connections of one broadcast whose writers must
// start, so that they reach the pool with one lock instead of one each.
type startBatch struct {
	cs [64]*conn
	n  int
}

func (b *startBatch) add(c *conn) {
	if c.waitsForPoll {
		c.startWriter()
		return
	}
	b.cs[b.n] = c
	b.n++
	if b.n == len(b.cs) {
		b.flush(c.hub)
	}
}

func (b *startBatch) flush(h *Hub) {
	h.writers.scheduleAll(b.cs[:b.n])
	clear(b.cs[:b.n])
	b.n = 0
}

// schedule queues c for a worker.
func (p *writerPool) schedule(c *conn) {
	p.mu.Lock()
	p.ready = append(p.ready, c)
	p.wakeLocked()
	p.mu.Unlock()
}

// scheduleAll queues every connection of cs for a worker.
func (p *writerPool) scheduleAll(cs []*conn) {
	if len(cs) == 0 {
		return
	}
	p.mu.Lock()
	p.ready = append(p.ready, cs...)
	p.wakeLocked()
	p.mu.Unlock()
}

// wakeLocked starts workers for what is queued, up to max, and one more
// if the pool seems stalled; while connections still wait, the stall
// timer watches. p.mu must be held.
func (p *writerPool) wakeLocked() {
	waiting := len(p.ready) - p.head
	for p.running < p.max && waiting > 0 {
		p.running++
		waiting--
		go p.work()
	}
	if waiting > 0 && p.stalledLocked() {
		p.running++
		go p.work()
	}
	if p.head < len(p.ready) && !p.armed {
		p.armed = true
		p.timer.Reset(p.stallAfter)
	}
}

// stalledLocked reports whether connections wait while no worker has
// finished anything for stallAfter.
func (p *writerPool) stalledLocked() bool {
	if p.head == len(p.ready) {
		return false
	}
	now := time.Now().UnixNano()
	if w := p.writes.Load(); w != p.seenWrites {
		p.seenWrites, p.seenAt = w, now
		return false
	}
	return now-p.seenAt > int64(p.stallAfter)
}

func (p *writerPool) checkStall() {
	p.mu.Lock()
	p.armed = false
	if p.head < len(p.ready) {
		if p.stalledLocked() {
			p.running++
			go p.work()
		}
		p.armed = true
		p.timer.Reset(p.stallAfter)
	}
	p.mu.Unlock()
}

func (p *writerPool) work() {
	for {
		p.mu.Lock()
		if p.head == len(p.ready) {
			p.ready, p.head = p.ready[:0], 0
			p.running--
			p.mu.Unlock()
			return
		}
		c := p.ready[p.head]
		p.ready[p.head] = nil
		p.head++
		if p.head >= 1024 && 2*p.head >= len(p.ready) {
			n := copy(p.ready, p.ready[p.head:])
			clear(p.ready[n:])
			p.ready, p.head = p.ready[:n], 0
		}
		p.mu.Unlock()
		c.writeLoop()
	}
}
