package faultsuite

import (
	"net"
	"sync"
	"testing"
	"time"
)

// proxy is a TCP proxy between one node and the bus, on loopback, that
// injects the network's faults: it can stop copying while keeping the
// sockets open (a blackhole), close every connection and refuse new ones
// (a cut), and hold every chunk of data for a while before passing it on
// (latency).
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	black   bool          // stop copying
	down    bool          // close accepted connections at once
	delay   time.Duration // added to every chunk, each way
	changed chan struct{} // closed and replaced on every change of the above
	pipes   map[*pipe]struct{}
	wg      sync.WaitGroup
}

// startProxy listens on 127.0.0.1:0 and forwards to target until the test
// ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &proxy{ln: ln, target: target, changed: make(chan struct{}), pipes: make(map[*pipe]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.connect(c)
	}
}

// connect dials the target for the accepted c and copies both ways.
func (p *proxy) connect(c net.Conn) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	pp := &pipe{a: c, b: s, done: make(chan struct{})}
	p.mu.Lock()
	if p.down || p.pipes == nil {
		p.mu.Unlock()
		pp.close()
		return
	}
	p.pipes[pp] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.copy(pp, s, c) }()
	go func() { defer wg.Done(); p.copy(pp, c, s) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.pipes, pp)
	p.mu.Unlock()
}

// chunk is data read at a time.
type chunk struct {
	data []byte
	at   time.Time
}

// copy moves data from src to dst, one reader and one writer goroutine,
// the writer obeying the proxy's state for every chunk.
func (p *proxy) copy(pp *pipe, dst, src net.Conn) {
	chunks := make(chan chunk, 64)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case chunks <- chunk{buf[:n], time.Now()}:
				case <-pp.done:
					return
				}
			}
			if err != nil {
				pp.close()
				return
			}
		}
	}()
	defer func() {
		pp.close()
		for range chunks { // until the reader has seen the close
		}
	}()
	for ch := range chunks {
		for {
			p.mu.Lock()
			black, delay, changed := p.black, p.delay, p.changed
			p.mu.Unlock()
			var wait <-chan time.Time
			if !black {
				d := time.Until(ch.at.Add(delay))
				if d <= 0 {
					break
				}
				wait = time.After(d)
			}
			select {
			case <-wait:
			case <-changed:
			case <-pp.done:
				return
			}
		}
		if _, err := dst.Write(ch.data); err != nil {
			return
		}
	}
}

// set changes the state under the lock and wakes the writers.
func (p *proxy) set(f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Blackhole stops (on) or resumes (off) copying; connections stay open
// and what they carry waits in the proxy and the sockets' buffers.
func (p *proxy) Blackhole(on bool) { p.set(func() { p.black = on }) }

// Delay holds every chunk d longer before passing it on.
func (p *proxy) Delay(d time.Duration) { p.set(func() { p.delay = d }) }

// Cut closes every connection and, while on, closes new ones at once;
// Cut(false) lets connections through again.
func (p *proxy) Cut(on bool) {
	var pipes []*pipe
	p.set(func() {
		p.down = on
		if on {
			for pp := range p.pipes {
				pipes = append(pipes, pp)
			}
		}
	})
	for _, pp := range pipes {
		pp.close()
	}
}

// close stops the proxy and waits for its goroutines.
func (p *proxy) close() {
	_ = p.ln.Close()
	var pipes []*pipe
	p.set(func() {
		for pp := range p.pipes {
			pipes = append(pipes, pp)
		}
		p.down = true
	})
	for _, pp := range pipes {
		pp.close()
	}
	p.wg.Wait()
}

// pipe is one proxied connection: a from the node, b to the bus.
type pipe struct {
	a, b net.Conn
	once sync.Once
	done chan struct{}
}

func (pp *pipe) close() {
	pp.once.Do(func() {
		close(pp.done)
		_ = pp.a.Close()
		_ = pp.b.Close()
	})
}
