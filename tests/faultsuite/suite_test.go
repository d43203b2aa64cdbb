package faultsuite

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosignalr/signalr/transport"
)

// nodes is the cluster's size: node i holds receiver ri and sender si.
const nodes = 3

// env is one row's cluster.
type env struct {
	bus     *bus
	proxies []*proxy // proxies[i] is node i's way to the bus
	nodes   []*node
	rs      []*receiver
	ss      []*sender
}

// fault is one kind of fault: inject starts it, lasts it and ends it
// while traffic goes on, and returns when it ended.
type fault struct {
	name   string
	killed int // the node it kills, or -1
	inject func(t *testing.T, e *env) (end time.Time)
}

// hold lets traffic run for d during a fault.
func hold(d time.Duration) { <-time.After(d) }

var faults = []fault{
	{"kill node", 2, func(t *testing.T, e *env) time.Time {
		k := time.Now()
		e.nodes[2].kill()
		e.rs[2].killed(k)
		return time.Now()
	}},
	{"bus restart", -1, func(t *testing.T, e *env) time.Time {
		e.bus.stop()
		hold(2 * time.Second)
		e.bus.start()
		return time.Now()
	}},
	{"node cut", -1, func(t *testing.T, e *env) time.Time {
		e.proxies[1].Cut(true)
		hold(2 * time.Second)
		e.proxies[1].Cut(false)
		return time.Now()
	}},
	{"node blackhole", -1, func(t *testing.T, e *env) time.Time {
		e.proxies[1].Blackhole(true)
		hold(3 * time.Second)
		e.proxies[1].Blackhole(false)
		return time.Now()
	}},
	{"node blackhole, then cut", -1, func(t *testing.T, e *env) time.Time {
		e.proxies[1].Blackhole(true)
		hold(2 * time.Second)
		e.proxies[1].Cut(true) // what the blackhole held is gone
		e.proxies[1].Blackhole(false)
		hold(500 * time.Millisecond)
		e.proxies[1].Cut(false)
		return time.Now()
	}},
	{"bus delay", -1, func(t *testing.T, e *env) time.Time {
		for _, p := range e.proxies {
			p.Delay(200 * time.Millisecond)
		}
		hold(3 * time.Second)
		for _, p := range e.proxies {
			p.Delay(0)
		}
		return time.Now()
	}},
}

// row is one line of the table.
type row struct {
	fault, bus, transport string
	sent, delivered       int // sent: a message times each receiver it is meant for
	reported, silent      int
	outOfOrder            int
	recovery              time.Duration // -1: did not recover
	took                  time.Duration
	failed                bool
}

// TestFaults runs every fault over NATS and over Redis with WebSocket
// clients, and a bus restart over Server-Sent Events and long polling,
// and prints the table RELIABILITY.md shows. The NATS rows and the Redis
// rows run side by side; the rows of one bus, one after the other.
func TestFaults(t *testing.T) {
	type rowSpec struct {
		transport string
		f         fault
	}
	other := map[string]string{"nats": transport.ServerSentEvents, "redis": transport.LongPolling}
	var (
		mu   sync.Mutex
		rows = map[string][]row{}
	)
	t.Cleanup(func() { // after the parallel subtests
		all := append(rows["nats"], rows["redis"]...)
		if len(all) > 0 {
			t.Log("\n" + table(all))
		}
	})
	for _, b := range []string{"nats", "redis"} {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			var specs []rowSpec
			for _, f := range faults {
				specs = append(specs, rowSpec{transport.WebSockets, f})
			}
			specs = append(specs, rowSpec{other[b], faults[1]})
			for _, sp := range specs {
				name := strings.NewReplacer(" ", "_", ",", "").Replace(sp.f.name) + "/" + sp.transport
				res := row{fault: sp.f.name, bus: b, transport: sp.transport, recovery: -1}
				started := false
				ok := t.Run(name, func(t *testing.T) {
					started = true
					start := time.Now()
					defer func() { res.took = time.Since(start) }()
					runRow(t, b, sp.transport, sp.f, &res)
				})
				if started { // not left out by -run
					res.failed = !ok
					mu.Lock()
					rows[b] = append(rows[b], res)
					mu.Unlock()
				}
			}
		})
	}
}

// table formats rows as the Markdown table of RELIABILITY.md.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| fault | bus | transport | sent | delivered | reported lost | silently lost | out of order | recovery | row |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rows {
		rec := "none"
		if r.recovery >= 0 {
			rec = r.recovery.Round(10 * time.Millisecond).String()
		}
		verdict := "pass"
		if r.failed {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %d | %s | %s (%s) |\n",
			r.fault, r.bus, r.transport, r.sent, r.delivered, r.reported, r.silent, r.outOfOrder,
			rec, verdict, r.took.Round(100*time.Millisecond))
	}
	return b.String()
}

// waitFor polls cond every 20ms until it holds (true) or d has passed
// (false).
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runRow builds a cluster of three nodes over a fresh bus, sends through
// it, injects f, and checks and counts what happened into res.
func runRow(t *testing.T, busKind, tr string, f fault, res *row) {
	b := startBus(t, busKind)
	e := &env{bus: b}
	for i := range nodes {
		p := startProxy(t, b.addr())
		e.proxies = append(e.proxies, p)
		e.nodes = append(e.nodes, startNode(t, fmt.Sprintf("n%d", i), busKind, b.url(p.Addr())))
	}
	for i, n := range e.nodes {
		e.rs = append(e.rs, startReceiver(t, fmt.Sprintf("r%d", i), i, n.hubURL(), tr))
	}
	for i, n := range e.nodes {
		e.ss = append(e.ss, startSender(t, fmt.Sprintf("s%d", i), i, n.hubURL(), tr))
	}
	if !waitFor(30*time.Second, func() bool {
		for _, r := range e.rs {
			if i, _ := r.current(); i < 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("receivers did not join the group within 30s")
	}
	survivor := func(i int) bool { return i != f.killed }

	base := make([]nodeStats, nodes)
	for i, n := range e.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := n.stats(ctx)
		cancel()
		if err != nil {
			t.Fatalf("node %s stats: %v", n.name, err)
		}
		base[i] = s
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range e.ss {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(stop, e.rs) }()
	}
	stopSenders := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopSenders)

	// Warm-up: every sender reaches every receiver.
	if !waitFor(30*time.Second, func() bool {
		for _, r := range e.rs {
			for _, s := range e.ss {
				r.mu.Lock()
				got := r.last[s.name]
				r.mu.Unlock()
				if got == 0 {
					return false
				}
			}
		}
		return true
	}) {
		t.Fatal("warm-up: not every receiver heard from every sender within 30s")
	}
	waitSent(e.ss, survivor, 20)

	faultStart := time.Now()
	faultEnd := f.inject(t, e)
	t.Logf("fault %q from +0 to +%v", f.name, faultEnd.Sub(faultStart).Round(time.Millisecond))

	// Recovery: cross-node delivery between every two surviving nodes,
	// for messages sent after the fault ended, without any restart.
	crossPairs := func(fn func(s *sender, r *receiver) bool) bool {
		for _, s := range e.ss {
			for _, r := range e.rs {
				if s.node != r.node && survivor(s.node) && survivor(r.node) && !fn(s, r) {
					return false
				}
			}
		}
		return true
	}
	recovered := waitFor(30*time.Second, func() bool {
		return crossPairs(func(s *sender, r *receiver) bool {
			_, ok := firstAfter(s, r, faultEnd)
			return ok
		})
	})
	if !recovered {
		t.Errorf("cross-node delivery did not resume within 30s after the fault")
	} else {
		waitSent(e.ss, survivor, 30)
	}
	stopSenders()
	stopped := time.Now()

	// Drain: wait for the last successful message of every surviving
	// sender to each surviving receiver (or give up: the count tells).
	waitFor(15*time.Second, func() bool {
		for _, s := range e.ss {
			for _, r := range e.rs {
				if !survivor(s.node) || !survivor(r.node) {
					continue
				}
				msgs := s.snapshot()
				for j := len(msgs) - 1; j >= 0; j-- {
					if msgs[j].err == nil && meantFor(msgs[j], r.node) {
						if _, ok := r.has(s.name, msgs[j].seq); !ok {
							return false
						}
						break
					}
				}
			}
		}
		return true
	})

	// No node crashed but the one killed.
	for _, n := range e.nodes {
		if !n.wasKilled() && !n.alive() {
			t.Errorf("node %s crashed: %v\n%s", n.name, n.cmd.ProcessState, n.out.tail())
		}
	}

	// Local delivery went on during the fault on every surviving node.
	localEnd := faultEnd
	if !localEnd.After(faultStart.Add(500 * time.Millisecond)) {
		localEnd = stopped // an instant fault: until the end
	}
	for i := range e.nodes {
		if !survivor(i) {
			continue
		}
		s, r := e.ss[i], e.rs[i]
		ok := false
		for _, m := range s.snapshot() {
			if m.start.Before(faultStart) || m.start.After(localEnd) || !meantFor(m, i) {
				continue
			}
			if _, got := r.has(s.name, m.seq); got {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("node %s: no local delivery (%s to %s) during the fault", e.nodes[i].name, s.name, r.name)
		}
	}

	// Goroutines and memory of the surviving nodes back to about their
	// baseline, with the same clients connected again.
	for i, n := range e.nodes {
		if !survivor(i) || !n.alive() {
			continue
		}
		var last nodeStats
		var lastErr error
		ok := waitFor(20*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			last, lastErr = n.stats(ctx)
			return lastErr == nil && last.Goroutines <= base[i].Goroutines+25 &&
				last.Heap <= max(2*base[i].Heap, base[i].Heap+8<<20)
		})
		t.Logf("node %s: goroutines %d -> %d, heap %.1f -> %.1f MiB", n.name,
			base[i].Goroutines, last.Goroutines, float64(base[i].Heap)/(1<<20), float64(last.Heap)/(1<<20))
		if !ok {
			t.Errorf("node %s did not return to its baseline within 20s (goroutines %d, was %d; heap %d, was %d; %v)",
				n.name, last.Goroutines, base[i].Goroutines, last.Heap, base[i].Heap, lastErr)
		}
	}

	// Count.
	var samples []string
	silentPairs := map[string]int{} // "s0->r1": count
	for _, s := range e.ss {
		for _, m := range s.snapshot() {
			for k, ri := range m.to {
				r := e.rs[ri]
				res.sent++
				if _, ok := r.has(s.name, m.seq); ok {
					res.delivered++
					continue
				}
				if m.err != nil {
					res.reported++
					continue
				}
				if why, ok := r.reportedLoss(m, k); ok {
					res.reported++
				} else {
					res.silent++
					silentPairs[s.name+"->"+r.name]++
					if len(samples) < 8 {
						samples = append(samples, fmt.Sprintf("%s#%d (%s) -> %s: sent at %+v, ok; %s",
							s.name, m.seq, kindOf(m.seq), r.name, m.start.Sub(faultStart).Round(time.Millisecond), why))
					}
				}
			}
		}
	}
	var disorder []string
	for _, r := range e.rs {
		r.mu.Lock()
		res.outOfOrder += r.outOfOrder
		disorder = append(disorder, r.disorder...)
		r.mu.Unlock()
	}
	if recovered {
		res.recovery = 0
		crossPairs(func(s *sender, r *receiver) bool {
			at, _ := firstAfter(s, r, faultEnd)
			res.recovery = max(res.recovery, at.Sub(faultEnd))
			return true
		})
	}
	t.Logf("sent %d, delivered %d, reported lost %d, silently lost %d, out of order %d",
		res.sent, res.delivered, res.reported, res.silent, res.outOfOrder)
	if res.silent > 0 {
		t.Errorf("%d messages silently lost (by sender and receiver: %v), for example:\n%s",
			res.silent, silentPairs, strings.Join(samples, "\n"))
	}
	if res.outOfOrder > 0 {
		t.Errorf("%d messages out of order or twice, for example:\n%s", res.outOfOrder, strings.Join(disorder, "\n"))
	}

	// Clean ends: clients first, then every surviving node by SIGTERM.
	for _, r := range e.rs {
		r.stop()
	}
	for _, s := range e.ss {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.c.Stop(ctx)
		cancel()
	}
	for _, n := range e.nodes {
		if n.wasKilled() {
			continue
		}
		if err := n.shutdown(); err != nil {
			t.Errorf("%v\n%s", err, n.out.tail())
		}
	}
}

// kindOf names the target of message seq (see sender.run).
func kindOf(seq int) string { return [...]string{"group", "user", "client", "all"}[seq%4] }

// meantFor reports whether m was meant for receiver ri.
func meantFor(m sent, ri int) bool {
	for _, x := range m.to {
		if x == ri {
			return true
		}
	}
	return false
}

// waitSent waits (up to 30s) until every surviving sender has sent n more
// messages.
func waitSent(ss []*sender, survivor func(int) bool, n int) {
	from := make([]int, len(ss))
	for i, s := range ss {
		from[i] = len(s.snapshot())
	}
	waitFor(30*time.Second, func() bool {
		for i, s := range ss {
			if survivor(s.node) && len(s.snapshot()) < from[i]+n {
				return false
			}
		}
		return true
	})
}

// firstAfter is when r first got a message from s sent after t.
func firstAfter(s *sender, r *receiver, t time.Time) (time.Time, bool) {
	var first time.Time
	for _, m := range s.snapshot() {
		if m.start.Before(t) || !meantFor(m, r.node) {
			continue
		}
		if d, ok := r.has(s.name, m.seq); ok && (first.IsZero() || d.at.Before(first)) {
			first = d.at
		}
	}
	return first, !first.IsZero()
}

// reportedLoss decides whether the loss of m (the k-th receiver of which
// is r), which its sender saw succeed, was reported to r: the connection
// it was sent to (the one named by a connection-targeted send, else the
// one r could be reached on when it was sent) was closed by the server
// with a reason, or its node was killed. A close reports every message
// sent to that connection, before the close or in the gap until the next
// connection could be reached: the client cannot tell which messages of
// that span it missed. Otherwise reportedLoss says why the loss is
// silent.
func (r *receiver) reportedLoss(m sent, k int) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ep := m.epochs[k]
	if ep < 0 {
		ep = r.epochAt(m.start)
	}
	if ep < 0 {
		return "no connection of the receiver was ready", false
	}
	e := r.epochs[ep]
	if e.closed.IsZero() {
		return fmt.Sprintf("its connection %d stayed open", ep), false
	}
	if !e.reported {
		return fmt.Sprintf("its connection %d ended without a reason (%v)", ep, e.closeErr), false
	}
	return "", true
}
