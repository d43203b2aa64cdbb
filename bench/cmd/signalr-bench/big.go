package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosignalr/signalr/internal/loadgen"
)

// workerConns is the most connections one worker process holds, well
// under the 20,000 open files a process may have here.
const workerConns = 18000

// runBig runs the big scenarios: s.bigSingle idle connections on one
// server, then s.bigConns over s.bigHubs hub processes joined by NATS. In
// both, the connections are held by worker processes, then every
// connection receives s.bigMessages broadcasts.
func (s *suite) runBig(ctx context.Context) error {
	if s.external {
		return s.bigRun(ctx, "big", 0, "", s.bigSingle)
	}
	if s.bigSingle > 0 {
		if err := s.bigRun(ctx, "big", 1, "", s.bigSingle); err != nil {
			return err
		}
	}
	if s.bigConns == 0 {
		return nil
	}
	ns, err := startNATS()
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	return s.bigRun(ctx, "big", s.bigHubs, ns.ClientURL(), s.bigConns)
}

// bigRun holds total connections spread over hubs server processes (0:
// the running server of load) from worker processes, measures the idle
// footprint, then broadcasts.
func (s *suite) bigRun(ctx context.Context, scenario string, hubs int, natsURL string, total int) error {
	label := fmt.Sprintf("%d idle connections on %d hub(s)", total, max(hubs, 1))
	s.logf("run %s", label)
	var nodes []loadgen.Node
	var urls []string
	if hubs == 0 {
		d, err := s.driver(s.url)
		if err != nil {
			return err
		}
		nodes = append(nodes, loadgen.Node{Driver: d, StatsURL: s.statsURL})
		urls = append(urls, s.url)
	}
	for i := range hubs {
		var args []string
		if natsURL != "" {
			args = append(args, "-nats", natsURL, "-name", "bench")
		}
		if s.bigMemLimit > 0 {
			args = append(args, "-memlimit-mib", strconv.Itoa(s.bigMemLimit))
		}
		srv, err := startServerChild(fmt.Sprintf("hub %d", i), args...)
		if err != nil {
			return err
		}
		defer srv.stop(30 * time.Second)
		d, err := s.driver(srv.hubURL())
		if err != nil {
			return err
		}
		nodes = append(nodes, loadgen.Node{Driver: d, StatsURL: srv.statsURL()})
		urls = append(urls, srv.hubURL())
	}
	if per := (total + len(nodes) - 1) / len(nodes); per >= 20000 {
		return fmt.Errorf("%d connections per hub process: a process may hold at most 20,000 open files here", per)
	}
	target := loadgen.Target{Nodes: nodes}
	before, _, err := target.Stats(ctx, true)
	if err != nil {
		return err
	}
	perNodeBefore, err := nodeStats(ctx, nodes, true)
	if err != nil {
		return err
	}

	// Workers: each holds at most workerConns connections, spread over
	// all hubs, from its own source addresses.
	nWorkers := (total + workerConns - 1) / workerConns
	perAddr := max(s.dial.PerAddress, 1)
	start := time.Now()
	workers := make([]*workerChild, nWorkers)
	var wg sync.WaitGroup
	errs := make([]error, nWorkers)
	nextAddr := 0
	for w := range nWorkers {
		n := total / nWorkers
		if w < total%nWorkers {
			n++
		}
		first := nextAddr
		nextAddr += (n + perAddr - 1) / perAddr
		args := []string{
			"-urls", strings.Join(urls, ","), "-protocol", string(s.proto), "-n", fmt.Sprint(n),
			"-first-address", fmt.Sprint(first), "-per-address", fmt.Sprint(perAddr),
			"-concurrency", fmt.Sprint(max(s.dial.Concurrency/nWorkers, 8)),
		}
		if s.negotiate {
			args = append(args, "-negotiate")
		}
		wg.Go(func() {
			workers[w], errs[w] = startWorker(fmt.Sprintf("worker %d", w), 10*time.Minute, args...)
		})
	}
	wg.Wait()
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.stop(60 * time.Second)
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	dialTime := time.Since(start)
	s.logf("%d connections open in %s from %d workers over %d source addresses; holding %s", total, dialTime.Round(time.Millisecond), nWorkers, nextAddr, s.bigHold)
	select {
	case <-time.After(s.bigHold):
	case <-ctx.Done():
		return ctx.Err()
	}

	alive := 0
	for _, w := range workers {
		r, err := w.report()
		if err != nil {
			return err
		}
		alive += r.Alive
	}
	after, _, err := target.Stats(ctx, true)
	if err != nil {
		return err
	}
	perNode, err := nodeStats(ctx, nodes, true)
	if err != nil {
		return err
	}
	row := loadgen.Row{
		Scenario: scenario + "-idle", Server: nodes[0].Driver.Name(), Nodes: len(nodes), Conns: total,
		Note: fmt.Sprintf("%d workers, %d source addr, dial %.0f/s, held %s", nWorkers, nextAddr, float64(total)/dialTime.Seconds(), s.bigHold),
		Ops:  uint64(alive), Errors: total - alive, Elapsed: time.Since(start),
		RSSPerConn:        (float64(after.RSS) - float64(before.RSS)) / float64(total),
		HeapPerConn:       (float64(after.HeapInuse) - float64(before.HeapInuse)) / float64(total),
		StackPerConn:      (float64(after.StackInuse) - float64(before.StackInuse)) / float64(total),
		GoroutinesPerConn: float64(after.Goroutines-before.Goroutines) / float64(total),
		ServerRSS:         after.RSS, PeakRSS: after.HWM,
	}
	s.print(row)
	s.printNodes(perNodeBefore, perNode)

	brow, err := s.bigBroadcast(ctx, target, workers, total)
	if err != nil {
		return err
	}
	brow.Scenario = scenario + "-broadcast"
	s.print(brow)
	return nil
}

func nodeStats(ctx context.Context, nodes []loadgen.Node, gc bool) ([]loadgen.Stats, error) {
	out := make([]loadgen.Stats, len(nodes))
	for i, n := range nodes {
		st, err := loadgen.FetchStats(ctx, n.StatsURL, gc)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// printNodes prints each hub's figures after garbage collection.
func (s *suite) printNodes(before, after []loadgen.Stats) {
	if s.jsonOut || len(after) < 2 {
		return
	}
	fmt.Fprintln(s.out)
	fmt.Fprintln(s.out, "| hub | conns | RSS | peak RSS | heap | stack | goroutines | RSS/conn |")
	fmt.Fprintln(s.out, "|---|---|---|---|---|---|---|---|")
	for i, a := range after {
		per := 0.0
		if n := a.Conns - before[i].Conns; n > 0 {
			per = (float64(a.RSS) - float64(before[i].RSS)) / float64(n)
		}
		fmt.Fprintf(s.out, "| %d | %d | %s | %s | %s | %s | %d | %s |\n", i, a.Conns,
			loadgen.FormatBytes(float64(a.RSS)), loadgen.FormatBytes(float64(a.HWM)),
			loadgen.FormatBytes(float64(a.HeapInuse)), loadgen.FormatBytes(float64(a.StackInuse)),
			a.Goroutines, loadgen.FormatBytes(per))
	}
	fmt.Fprintln(s.out)
	s.headerPrinted = false
}

// bigBroadcast publishes s.bigMessages broadcasts from a connection on the
// first hub, one at a time, each once the previous one has reached every
// worker connection, and reports what the workers received.
func (s *suite) bigBroadcast(ctx context.Context, target loadgen.Target, workers []*workerChild, total int) (loadgen.Row, error) {
	row := loadgen.Row{Server: target.Nodes[0].Driver.Name(), Nodes: len(target.Nodes), Conns: total, Size: 64}
	pubCfg := s.dial
	pubCfg.FirstAddress = loadgen.MaxSourceAddresses - 1 // apart from the workers'
	pubs, err := loadgen.DialN(ctx, []loadgen.Driver{target.Nodes[0].Driver}, 1, nil, pubCfg)
	if err != nil {
		return row, err
	}
	defer loadgen.CloseAll(pubs)
	base, err := sumReports(workers)
	if err != nil {
		return row, err
	}
	before, _, err := target.Stats(ctx, false)
	if err != nil {
		return row, err
	}
	start := time.Now()
	var slowest time.Duration
	var reached uint64
	for k := range s.bigMessages {
		sent := time.Now()
		payload := loadgen.AppendStamp(nil, 64, uint64(k), sent)
		if err := pubs[0].Publish(ctx, "", payload); err != nil {
			return row, err
		}
		want := base.Received + uint64(k+1)*uint64(total)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			r, err := sumReports(workers)
			if err != nil {
				return row, err
			}
			reached = r.Received
			if reached >= want {
				slowest = max(slowest, time.Since(sent))
				break
			}
			if time.Now().After(deadline) {
				s.logf("broadcast %d: %d of %d deliveries after 2 minutes", k, reached-base.Received-uint64(k)*uint64(total), total)
				break
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return row, ctx.Err()
			}
		}
		if reached < want {
			break
		}
	}
	row.Elapsed = time.Since(start)
	after, _, err := target.Stats(ctx, false)
	if err != nil {
		return row, err
	}
	final, err := sumReports(workers)
	if err != nil {
		return row, err
	}
	var hist loadgen.Histogram
	hist.AddSnapshot(*final.Hist)
	row.Ops = final.Received - base.Received
	expected := uint64(s.bigMessages) * uint64(total)
	row.Lost = expected - min(expected, row.Ops)
	row.Errors = int(final.Bad) + total - final.Alive
	row.Rate = float64(row.Ops) / row.Elapsed.Seconds()
	row.P50, row.P99, row.Max = hist.Quantile(0.5), hist.Quantile(0.99), hist.Max()
	if f := final.Frames - base.Frames; f > 0 {
		row.MsgsPerFrame = float64(final.Messages-base.Messages) / float64(f)
	}
	if row.Ops > 0 {
		row.CPUPerOp = time.Duration((after.CPUNanos - before.CPUNanos) / int64(row.Ops))
	}
	gc, _, err := target.Stats(ctx, true)
	if err != nil {
		return row, err
	}
	row.ServerRSS, row.PeakRSS = gc.RSS, gc.HWM
	row.Note = fmt.Sprintf("%d broadcasts, one at a time; slowest reached all in %s", s.bigMessages, loadgen.FormatDuration(slowest))
	return row, nil
}

// sumReports adds up the workers' reports.
func sumReports(workers []*workerChild) (workerEvent, error) {
	var sum workerEvent
	var hist loadgen.Histogram
	for _, w := range workers {
		r, err := w.report()
		if err != nil {
			return sum, err
		}
		sum.Alive += r.Alive
		sum.Received += r.Received
		sum.Bad += r.Bad
		sum.Frames += r.Frames
		sum.Messages += r.Messages
		if r.Hist != nil {
			hist.AddSnapshot(*r.Hist)
		}
	}
	snap := hist.Snapshot()
	sum.Hist = &snap
	return sum, nil
}
