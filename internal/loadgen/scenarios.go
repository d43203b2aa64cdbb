package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Node is one server process under load.
type Node struct {
	// Driver dials the node.
	Driver Driver
	// StatsURL is the node's stats endpoint (see Stats); "" when it has
	// none, and then rows leave the server's figures out.
	StatsURL string
	// PID, when set, is the node's process on this machine: its resident
	// set is then read from outside, in /proc/<pid>/status (see
	// ProcessMemory), rather than asked of the server.
	PID int
}

// Target is what a scenario loads: one server, or the nodes of one
// cluster. Connections are spread over the nodes in turn; publishers use
// the first node.
type Target struct {
	Nodes []Node
}

// Single is the Target of one node.
func Single(d Driver, statsURL string) Target {
	return Target{Nodes: []Node{{Driver: d, StatsURL: statsURL}}}
}

func (t Target) drivers() []Driver {
	ds := make([]Driver, len(t.Nodes))
	for i, n := range t.Nodes {
		ds[i] = n.Driver
	}
	return ds
}

func (t Target) name() string {
	if len(t.Nodes) == 0 {
		return ""
	}
	return t.Nodes[0].Driver.Name()
}

// Stats sums the stats of every node that has a stats URL; ok is false
// when none has.
func (t Target) Stats(ctx context.Context, gc bool) (s Stats, ok bool, err error) {
	for _, n := range t.Nodes {
		if n.StatsURL == "" {
			continue
		}
		ns, err := FetchStats(ctx, n.StatsURL, gc)
		if err != nil {
			return Stats{}, false, err
		}
		if !ok {
			s, ok = ns, true
		} else {
			s = s.Add(ns)
		}
	}
	return s, ok, nil
}

// RawMemory sums the resident sets (VmRSS) and their peaks (VmHWM) of the
// nodes as they stand, without collecting garbage first: read from
// outside for nodes with a PID, from the stats endpoint for the others.
// ok is false when no node has either.
func (t Target) RawMemory(ctx context.Context) (rss, hwm uint64, ok bool, err error) {
	for _, n := range t.Nodes {
		var r, h uint64
		switch {
		case n.PID > 0:
			if r, h, err = ProcessMemory(n.PID); err != nil {
				return 0, 0, false, err
			}
		case n.StatsURL != "":
			s, err := FetchStats(ctx, n.StatsURL, false)
			if err != nil {
				return 0, 0, false, err
			}
			r, h = s.RSS, s.HWM
		default:
			continue
		}
		rss, hwm, ok = rss+r, hwm+h, true
	}
	return rss, hwm, ok, nil
}

func (t Target) check() error {
	if len(t.Nodes) == 0 {
		return errors.New("loadgen: a target without nodes")
	}
	for i, n := range t.Nodes {
		if n.Driver == nil {
			return fmt.Errorf("loadgen: node %d has no driver", i)
		}
	}
	return nil
}

func (t Target) row(scenario string, conns, size int) Row {
	return Row{Scenario: scenario, Server: t.name(), Nodes: len(t.Nodes), Conns: conns, Size: size}
}

// Bounds on every scenario's counts and durations.
const (
	MaxConnsPerProcess = 19000
	MaxMessages        = 1_000_000
	MaxDuration        = 30 * time.Minute
)

func checkBounds(conns, messages int, d time.Duration) error {
	if conns < 0 || conns > MaxConnsPerProcess {
		return fmt.Errorf("loadgen: %d connections from one process (at most %d; use several processes)", conns, MaxConnsPerProcess)
	}
	if messages < 0 || messages > MaxMessages {
		return fmt.Errorf("loadgen: %d messages (at most %d)", messages, MaxMessages)
	}
	if d < 0 || d > MaxDuration {
		return fmt.Errorf("loadgen: duration %s (at most %s)", d, MaxDuration)
	}
	return nil
}

// IdleConfig configures Idle.
type IdleConfig struct {
	Conns int
	// Hold is how long the connections are held open before the server is
	// measured; past the keep-alive interval (15 s), pings flow both ways.
	Hold time.Duration
	Dial DialConfig
}

// Idle opens idle connections, holds them, and reports the server's
// memory and goroutines per connection after garbage collection. Every
// connection must still be open at the end: any that is not counts as an
// error.
func Idle(ctx context.Context, t Target, cfg IdleConfig) (Row, error) {
	if err := t.check(); err != nil {
		return Row{}, err
	}
	if err := checkBounds(cfg.Conns, 0, cfg.Hold); err != nil {
		return Row{}, err
	}
	row := t.row("idle", cfg.Conns, 0)
	// The raw figures come first, before a collection changes them.
	rawBefore, _, haveRaw, err := t.RawMemory(ctx)
	if err != nil {
		return row, err
	}
	before, haveStats, err := t.Stats(ctx, true)
	if err != nil {
		return row, err
	}
	start := time.Now()
	conns, err := DialN(ctx, t.drivers(), cfg.Conns, nil, cfg.Dial)
	if err != nil {
		return row, err
	}
	defer CloseAll(conns)
	dialed := time.Since(start)
	if haveRaw {
		if _, row.RampPeakRSS, _, err = t.RawMemory(ctx); err != nil {
			return row, err
		}
	}
	row.Note = fmt.Sprintf("dial %.0f/s from %d addr, held %s", float64(cfg.Conns)/dialed.Seconds(), cfg.Dial.Addresses(cfg.Conns), cfg.Hold)
	select {
	case <-time.After(cfg.Hold):
	case <-ctx.Done():
		return row, ctx.Err()
	}
	row.Errors = cfg.Conns - Alive(conns)
	row.Ops = uint64(cfg.Conns - row.Errors)
	row.Elapsed = time.Since(start)
	if haveRaw {
		rawAfter, _, _, err := t.RawMemory(ctx)
		if err != nil {
			return row, err
		}
		row.RawRSS = rawAfter
		row.RawRSSPerConn = (float64(rawAfter) - float64(rawBefore)) / float64(cfg.Conns)
	}
	if haveStats {
		// What the server holds before a collection: with the raw resident
		// set, it shows how much is live data and how much the collector
		// has not yet reclaimed or returned.
		raw, _, err := t.Stats(ctx, false)
		if err != nil {
			return row, err
		}
		n := float64(cfg.Conns)
		row.RawHeapPerConn = (float64(raw.HeapInuse) - float64(before.HeapInuse)) / n
		row.RawStackPerConn = (float64(raw.StackInuse) - float64(before.StackInuse)) / n
		row.Note += fmt.Sprintf(", before GC heap %s stack %s/conn", bytesCell(row.RawHeapPerConn), bytesCell(row.RawStackPerConn))
	}
	if haveStats {
		after, _, err := t.Stats(ctx, true)
		if err != nil {
			return row, err
		}
		n := float64(cfg.Conns)
		row.RSSPerConn = (float64(after.RSS) - float64(before.RSS)) / n
		row.HeapPerConn = (float64(after.HeapInuse) - float64(before.HeapInuse)) / n
		row.StackPerConn = (float64(after.StackInuse) - float64(before.StackInuse)) / n
		row.GoroutinesPerConn = float64(after.Goroutines-before.Goroutines) / n
		row.ServerRSS, row.PeakRSS = after.RSS, after.HWM
		row.GOGC, row.MemLimit = after.GOGC, after.MemLimit
		if after.Conns >= 0 && before.Conns >= 0 && after.Conns-before.Conns != int64(cfg.Conns-row.Errors) {
			row.Note += fmt.Sprintf(", server counts %d", after.Conns-before.Conns)
		}
	}
	return row, nil
}

// EchoConfig configures Echo.
type EchoConfig struct {
	Conns    int
	Duration time.Duration
	// Rate is the calls per second of all connections together, each
	// connection calling on its own schedule; latency is measured from
	// the scheduled time, so a late server is not excused. Zero means a
	// closed loop: every connection calls again as soon as it has its
	// answer.
	Rate float64
	Size int
	Dial DialConfig
}

// Echo has every connection call Echo for a while and reports calls per
// second, latency and the server's CPU time per call.
func Echo(ctx context.Context, t Target, cfg EchoConfig) (Row, error) {
	if err := t.check(); err != nil {
		return Row{}, err
	}
	if err := checkBounds(cfg.Conns, 0, cfg.Duration); err != nil {
		return Row{}, err
	}
	if cfg.Conns == 0 || cfg.Duration <= 0 {
		return Row{}, errors.New("loadgen: Echo needs connections and a duration")
	}
	row := t.row("echo", cfg.Conns, cfg.Size)
	row.Note = "closed loop"
	if cfg.Rate > 0 {
		row.Note = fmt.Sprintf("rate %.0f/s", cfg.Rate)
	}
	conns, err := DialN(ctx, t.drivers(), cfg.Conns, nil, cfg.Dial)
	if err != nil {
		return row, err
	}
	defer CloseAll(conns)
	before, haveStats, err := t.Stats(ctx, false)
	if err != nil {
		return row, err
	}

	var hist Histogram
	var calls, failures atomic.Uint64
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(cfg.Conns) / cfg.Rate * float64(time.Second))
	}
	start := time.Now()
	end := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for j, c := range conns {
		wg.Go(func() {
			payload := []byte(strings.Repeat("e", cfg.Size))
			next := start
			if interval > 0 {
				next = start.Add(time.Duration(j) * interval / time.Duration(cfg.Conns))
			}
			for ctx.Err() == nil {
				if interval > 0 {
					if !next.Before(end) {
						return
					}
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
				} else {
					next = time.Now()
					if !next.Before(end) {
						return
					}
				}
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := c.Echo(cctx, payload)
				cancel()
				if err != nil {
					failures.Add(1)
					select {
					case <-c.Done():
						return
					default:
					}
				} else {
					hist.Record(time.Since(next))
					calls.Add(1)
				}
				next = next.Add(interval)
			}
		})
	}
	wg.Wait()
	row.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return row, err
	}
	row.Ops = calls.Load()
	row.Errors = int(failures.Load())
	row.Rate = float64(row.Ops) / row.Elapsed.Seconds()
	row.P50, row.P99, row.Max = hist.Quantile(0.50), hist.Quantile(0.99), hist.Max()
	if haveStats {
		after, _, err := t.Stats(ctx, false)
		if err != nil {
			return row, err
		}
		if row.Ops > 0 {
			row.CPUPerOp = time.Duration((after.CPUNanos - before.CPUNanos) / int64(row.Ops))
		}
		row.ServerRSS, row.PeakRSS = after.RSS, after.HWM
		row.GOGC, row.MemLimit = after.GOGC, after.MemLimit
	}
	if err := row.addRaw(ctx, t); err != nil {
		return row, err
	}
	return row, nil
}

// FanOutConfig configures FanOut.
type FanOutConfig struct {
	// Scenario and Note label the row; Scenario defaults to "fanout", or
	// "groups" with Groups, or "slow" with Slow.
	Scenario, Note string
	// Subscribers is how many connections receive.
	Subscribers int
	// Messages is how many messages are published.
	Messages int
	// Size is the payload size in bytes (at least MinPayloadSize).
	Size int
	// Window is how many messages may be published and not yet delivered
	// to all their receivers; the publishers wait beyond it. Zero means 8.
	Window int
	// Publishers is how many connections publish, taking turns; they do
	// not subscribe. Zero means 1.
	Publishers int
	// PublishVia, when set, dials the publishers (to the first node's
	// hub), so that they can use another transport than the subscribers;
	// nil means the first node's driver.
	PublishVia Driver
	// Groups, when set, splits the subscribers into that many groups
	// (subscriber i joins group "g<i%Groups>") and sends message k to
	// group k%Groups only. Zero sends every message to everyone.
	Groups int
	// Slow adds subscribers that stop reading as soon as they are
	// connected. Publishing then goes on past Messages, up to
	// SlowMaxMessages (zero means 50 × Messages), until the server has
	// closed every slow subscriber (which its stats must report).
	Slow            int
	SlowMaxMessages int
	// Timeout bounds the run once connected; zero means 2 minutes. A run
	// whose deliveries stop for StallAfter (zero: 15 s) ends early with
	// the missing deliveries counted as lost.
	Timeout, StallAfter time.Duration
	Dial                DialConfig
}

func (c *FanOutConfig) defaults() {
	if c.Scenario == "" {
		switch {
		case c.Slow > 0:
			c.Scenario = "slow"
		case c.Groups > 0:
			c.Scenario = "groups"
		default:
			c.Scenario = "fanout"
		}
	}
	if c.Window <= 0 {
		c.Window = 8
	}
	if c.Publishers <= 0 {
		c.Publishers = 1
	}
	if c.Size < MinPayloadSize {
		c.Size = MinPayloadSize
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 15 * time.Second
	}
	if c.Slow > 0 && c.SlowMaxMessages < c.Messages {
		c.SlowMaxMessages = min(50*c.Messages, MaxMessages)
	}
}

// FanOut publishes messages to subscribers and reports delivered messages
// per second, publish-to-receive latency, messages per frame and the
// server's CPU time per delivered message. Every subscriber must receive
// every message meant for it exactly once; what is missing is reported as
// Lost, duplicates and garbled payloads as Errors.
func FanOut(ctx context.Context, t Target, cfg FanOutConfig) (Row, error) {
	cfg.defaults()
	if err := t.check(); err != nil {
		return Row{}, err
	}
	total := cfg.Subscribers + cfg.Publishers + cfg.Slow
	if err := checkBounds(total, max(cfg.Messages, cfg.SlowMaxMessages), cfg.Timeout); err != nil {
		return Row{}, err
	}
	if cfg.Subscribers <= 0 || cfg.Messages <= 0 {
		return Row{}, errors.New("loadgen: FanOut needs subscribers and messages")
	}
	if cfg.Groups > cfg.Subscribers {
		return Row{}, fmt.Errorf("loadgen: %d groups for %d subscribers", cfg.Groups, cfg.Subscribers)
	}
	row := t.row(cfg.Scenario, cfg.Subscribers, cfg.Size)
	row.Note = cfg.Note
	maxMsgs := max(cfg.Messages, cfg.SlowMaxMessages)

	// want[g] is how many subscribers receive a message for group g.
	want := []int32{int32(cfg.Subscribers)}
	if cfg.Groups > 0 {
		want = make([]int32, cfg.Groups)
		for i := range cfg.Subscribers {
			want[i%cfg.Groups]++
		}
	}
	groupOf := func(k int) int {
		if cfg.Groups == 0 {
			return 0
		}
		return k % cfg.Groups
	}
	groupName := func(g int) string {
		if cfg.Groups == 0 {
			return ""
		}
		return fmt.Sprintf("g%d", g)
	}

	var (
		hist      Histogram
		counters  Counters
		got       = make([]atomic.Int32, maxMsgs)
		delivered atomic.Uint64
		bad       atomic.Uint64 // duplicates and garbled payloads
		window    = make(chan struct{}, cfg.Window)
	)
	onMessage := func(p []byte, received time.Time) {
		seq, sent, ok := ParseStamp(p)
		if !ok || seq >= uint64(maxMsgs) {
			bad.Add(1)
			return
		}
		hist.Record(received.Sub(sent))
		n := got[seq].Add(1)
		w := want[groupOf(int(seq))]
		switch {
		case n == w:
			delivered.Add(1)
			<-window // the publisher took a slot for this message
		case n < w:
			delivered.Add(1)
		default:
			bad.Add(1)
		}
	}

	drivers := t.drivers()
	subs, err := DialN(ctx, drivers, cfg.Subscribers, func(i int) DialOptions {
		return DialOptions{Subscribe: true, Group: groupName(groupOf(i)), OnMessage: onMessage, Counters: &counters}
	}, cfg.Dial)
	if err != nil {
		return row, err
	}
	defer CloseAll(subs)
	// Publishers and slow subscribers come from source addresses after
	// the subscribers'.
	more := cfg.Dial
	more.FirstAddress += cfg.Dial.Addresses(cfg.Subscribers)
	pubDrivers := drivers[:1]
	if cfg.PublishVia != nil {
		pubDrivers = []Driver{cfg.PublishVia}
	}
	pubs, err := DialN(ctx, pubDrivers, cfg.Publishers, nil, more)
	if err != nil {
		return row, err
	}
	defer CloseAll(pubs)
	var slow []Conn
	if cfg.Slow > 0 {
		more.FirstAddress++
		slow, err = DialN(ctx, drivers, cfg.Slow, func(int) DialOptions {
			return DialOptions{Subscribe: true, Group: groupName(0)}
		}, more)
		if err != nil {
			return row, err
		}
		defer CloseAll(slow)
		for _, c := range slow {
			c.StopReading()
		}
	}

	before, haveStats, err := t.Stats(ctx, true)
	if err != nil {
		return row, err
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	// The monitor watches progress (ending a stalled run) and, with slow
	// subscribers, the server's stats for their disconnection.
	var cut atomic.Int64
	var cutReason atomic.Value
	stalled := make(chan struct{})
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last, lastChange := delivered.Load(), time.Now()
		statsEvery := 0
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			if d := delivered.Load(); d != last || len(window) == 0 {
				last, lastChange = d, time.Now()
			} else if time.Since(lastChange) > cfg.StallAfter {
				close(stalled)
				return
			}
			if statsEvery++; haveStats && cfg.Slow > 0 && statsEvery%3 == 0 {
				if s, _, err := t.Stats(runCtx, false); err == nil {
					n, reason := s.DisconnectsSince(before)
					cut.Store(n)
					if reason != "" {
						cutReason.Store(reason)
					}
				}
			}
		}
	}()

	var next atomic.Int64
	var published atomic.Int64
	var pubErr error
	var pubErrOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Go(func() {
			buf := make([]byte, 0, cfg.Size+32)
			for {
				k := int(next.Add(1) - 1)
				if k >= maxMsgs || (k >= cfg.Messages && (cfg.Slow == 0 || !haveStats || cut.Load() >= int64(cfg.Slow))) {
					return
				}
				select {
				case window <- struct{}{}:
				case <-runCtx.Done():
					return
				case <-stalled:
					return
				}
				buf = AppendStamp(buf[:0], cfg.Size, uint64(k), time.Now())
				if err := p.Publish(runCtx, groupName(groupOf(k)), buf); err != nil {
					pubErrOnce.Do(func() { pubErr = err })
					<-window
					return
				}
				published.Add(1)
			}
		})
	}
	wg.Wait()
	// Wait for the last messages: every slot of the window free again.
	for range cfg.Window {
		select {
		case window <- struct{}{}:
		case <-runCtx.Done():
		case <-stalled:
		}
	}
	elapsed := time.Since(start)
	cancel()
	<-monitorDone
	if err := ctx.Err(); err != nil {
		return row, err
	}
	if pubErr != nil {
		return row, fmt.Errorf("loadgen: publishing: %w", pubErr)
	}

	var expected uint64
	for k := range int(published.Load()) {
		expected += uint64(want[groupOf(k)])
	}
	row.Elapsed = elapsed
	row.Ops = delivered.Load()
	row.Lost = expected - min(expected, row.Ops)
	row.Errors = int(bad.Load()) + cfg.Subscribers - Alive(subs)
	row.Rate = float64(row.Ops) / elapsed.Seconds()
	row.P50, row.P99, row.Max = hist.Quantile(0.50), hist.Quantile(0.99), hist.Max()
	if f := counters.Frames.Load(); f > 0 {
		row.MsgsPerFrame = float64(counters.Messages.Load()) / float64(f)
	}
	if cfg.Slow > 0 {
		row.Note = strings.TrimSpace(fmt.Sprintf("%s %d slow, %d msgs", row.Note, cfg.Slow, published.Load()))
	}
	if err := row.addRaw(ctx, t); err != nil {
		return row, err
	}
	if haveStats {
		cpu, _, err := t.Stats(ctx, false) // before a collection adds its own CPU time
		if err != nil {
			return row, err
		}
		if row.Ops > 0 {
			row.CPUPerOp = time.Duration((cpu.CPUNanos - before.CPUNanos) / int64(row.Ops))
		}
		after, _, err := t.Stats(ctx, true)
		if err != nil {
			return row, err
		}
		row.ServerRSS, row.PeakRSS = after.RSS, after.HWM
		row.GOGC, row.MemLimit = after.GOGC, after.MemLimit
		if cfg.Slow > 0 {
			n, reason := after.DisconnectsSince(before)
			row.Cut, row.CutReason = int(n), reason
		}
	}
	return row, nil
}

// addRaw sets the row's raw resident set and its peak, as they stand at
// the end of a run, before any collection.
func (r *Row) addRaw(ctx context.Context, t Target) error {
	rss, hwm, ok, err := t.RawMemory(ctx)
	if err != nil || !ok {
		return err
	}
	r.RawRSS, r.RampPeakRSS = rss, hwm
	return nil
}
