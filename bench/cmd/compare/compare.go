package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gosignalr/signalr/internal/loadgen"
)

// server is one bench server, fresh for every run.
type server struct {
	target loadgen.Target
	stop   func()
}

// side starts fresh servers of one library.
type side struct {
	name  string // "gosignalr", "centrifuge"
	start func(context.Context) (*server, error)
}

// plan is the scenarios of one comparison.
type plan struct {
	idle       []int
	idleHold   time.Duration
	fanout     []int
	sizes      []int
	deliveries int
	window     int
	// rounds is how many times every fan-out scenario runs against each
	// side (zero means once); the rows compared are the medians by
	// delivered messages per second.
	rounds int
	dial   loadgen.DialConfig
	// log receives progress lines; nil discards them.
	log io.Writer
}

// pair is one scenario run against both sides.
type pair struct {
	label      string // "idle 10000", "fanout 1000 × 64 B"
	kind       string // "idle" or "fanout"
	conns      int
	ours, peer loadgen.Row // the rows compared
	// oursRuns and peerRuns are every round's rows, in the order run.
	oursRuns, peerRuns []loadgen.Row
}

func (p plan) logf(format string, args ...any) {
	if p.log != nil {
		fmt.Fprintf(p.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// messagesFor is how many messages give about p.deliveries deliveries to
// subs subscribers each (as signalr-bench's suite computes it).
func (p plan) messagesFor(subs int) int {
	return min(max(p.deliveries/max(subs, 1), 20), 20000)
}

// run runs every scenario against ours and peer, each on a fresh server.
// The side that goes first alternates from one scenario to the next, so
// that a change in the machine's load between runs favors neither.
func (p plan) run(ctx context.Context, ours, peer side) ([]pair, error) {
	type scenario struct {
		label, kind string
		conns       int
		run         func(loadgen.Target) (loadgen.Row, error)
	}
	var scenarios []scenario
	for _, n := range p.idle {
		scenarios = append(scenarios, scenario{fmt.Sprintf("idle %d", n), "idle", n, func(t loadgen.Target) (loadgen.Row, error) {
			return loadgen.Idle(ctx, t, loadgen.IdleConfig{Conns: n, Hold: p.idleHold, Dial: p.dial})
		}})
	}
	for _, n := range p.fanout {
		for _, size := range p.sizes {
			scenarios = append(scenarios, scenario{fmt.Sprintf("fanout %d × %d B", n, size), "fanout", n, func(t loadgen.Target) (loadgen.Row, error) {
				return loadgen.FanOut(ctx, t, loadgen.FanOutConfig{
					Subscribers: n, Messages: p.messagesFor(n), Size: size, Window: p.window, Dial: p.dial,
				})
			}})
		}
	}
	var pairs []pair
	turn := 0
	for _, sc := range scenarios {
		pr := pair{label: sc.label, kind: sc.kind, conns: sc.conns}
		rounds := 1
		if sc.kind == "fanout" {
			rounds = max(p.rounds, 1)
		}
		for round := range rounds {
			sides := []side{ours, peer}
			runs := []*[]loadgen.Row{&pr.oursRuns, &pr.peerRuns}
			if turn%2 == 1 {
				sides[0], sides[1] = sides[1], sides[0]
				runs[0], runs[1] = runs[1], runs[0]
			}
			turn++
			for j, sd := range sides {
				label := sc.label
				if rounds > 1 {
					label = fmt.Sprintf("%s (round %d of %d)", sc.label, round+1, rounds)
				}
				p.logf("run %s against %s", label, sd.name)
				row, err := runOn(ctx, sd, sc.run)
				if err != nil {
					return pairs, fmt.Errorf("%s against %s: %w", label, sd.name, err)
				}
				*runs[j] = append(*runs[j], row)
			}
		}
		pr.ours, pr.peer = medianByRate(pr.oursRuns), medianByRate(pr.peerRuns)
		pairs = append(pairs, pr)
	}
	return pairs, nil
}

// medianByRate returns the row of median Rate (the lower middle one of an
// even count), noting how many rounds it is the median of.
func medianByRate(rows []loadgen.Row) loadgen.Row {
	sorted := slices.SortedStableFunc(slices.Values(rows), func(a, b loadgen.Row) int {
		return cmp.Compare(a.Rate, b.Rate)
	})
	m := sorted[(len(sorted)-1)/2]
	if len(rows) > 1 {
		m.Note = strings.TrimSpace(fmt.Sprintf("%s median of %d", m.Note, len(rows)))
	}
	return m
}

// runOn runs fn against a fresh server of sd and stops it.
func runOn(ctx context.Context, sd side, fn func(loadgen.Target) (loadgen.Row, error)) (loadgen.Row, error) {
	if err := ctx.Err(); err != nil {
		return loadgen.Row{}, err
	}
	srv, err := sd.start(ctx)
	if err != nil {
		return loadgen.Row{}, err
	}
	defer srv.stop()
	row, err := fn(srv.target)
	row.Server = sd.name
	if err != nil {
		return row, err
	}
	// A fresh server counts only this run's disconnects: say why it closed
	// connections, if it did.
	if st, ok, serr := srv.target.Stats(ctx, false); serr == nil && ok {
		if n, reason := st.DisconnectsSince(loadgen.Stats{}); n > 0 {
			row.Note = strings.TrimSpace(fmt.Sprintf("%s server closed %d (%s)", row.Note, n, reason))
		}
	}
	return row, nil
}

// figure is one compared number of a scenario.
type figure struct {
	name         string
	value        func(loadgen.Row) float64
	format       func(float64) string
	higherBetter bool
}

var idleFigures = []figure{
	{"server RSS per connection", func(r loadgen.Row) float64 { return r.RSSPerConn }, loadgen.FormatBytes, false},
	{"heap per connection", func(r loadgen.Row) float64 { return r.HeapPerConn }, loadgen.FormatBytes, false},
	{"goroutine stacks per connection", func(r loadgen.Row) float64 { return r.StackPerConn }, loadgen.FormatBytes, false},
	{"goroutines per connection", func(r loadgen.Row) float64 { return r.GoroutinesPerConn }, fixed2, false},
}

var fanoutFigures = []figure{
	{"delivered msgs/s", func(r loadgen.Row) float64 { return r.Rate }, count, true},
	{"latency p50", func(r loadgen.Row) float64 { return float64(r.P50) }, duration, false},
	{"latency p99", func(r loadgen.Row) float64 { return float64(r.P99) }, duration, false},
	{"server CPU per delivered msg", func(r loadgen.Row) float64 { return float64(r.CPUPerOp) }, duration, false},
	{"msgs per frame", func(r loadgen.Row) float64 { return r.MsgsPerFrame }, fixed2, true},
}

func fixed2(f float64) string   { return fmt.Sprintf("%.2f", f) }
func count(f float64) string    { return fmt.Sprintf("%.0f", f) }
func duration(f float64) string { return loadgen.FormatDuration(time.Duration(f)) }

// writeRaw prints every row as signalr-bench prints its results.
func writeRaw(w io.Writer, pairs []pair) {
	fmt.Fprintln(w, loadgen.MarkdownHeader())
	for _, p := range pairs {
		for _, r := range p.oursRuns {
			fmt.Fprintln(w, r.Markdown())
		}
		for _, r := range p.peerRuns {
			fmt.Fprintln(w, r.Markdown())
		}
	}
}

// writeComparison prints one line per figure: ours, the peer's, the ratio
// ours/peer and which side is better.
func writeComparison(w io.Writer, pairs []pair, oursName, peerName string) {
	fmt.Fprintf(w, "| scenario | figure | %s | %s | ours/peer | better |\n", oursName, peerName)
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, p := range pairs {
		figs := idleFigures
		if p.kind == "fanout" {
			figs = fanoutFigures
		}
		for _, f := range figs {
			o, q := f.value(p.ours), f.value(p.peer)
			ratio, better := "-", "-"
			if q != 0 {
				ratio = fmt.Sprintf("%.2f", o/q)
			}
			switch {
			case f.format(o) == f.format(q): // equal as printed
				better = "same"
			case (o > q) == f.higherBetter:
				better = oursName
			default:
				better = peerName
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", p.label, f.name, f.format(o), f.format(q), ratio, better)
		}
		if n := trouble(p.ours) + trouble(p.peer); n != "" {
			fmt.Fprintf(w, "| %s | failures | %s | %s | - | - |\n", p.label, troubleCell(p.ours), troubleCell(p.peer))
		}
	}
}

// trouble is non-empty when a row counts errors or lost messages.
func trouble(r loadgen.Row) string {
	if r.Errors == 0 && r.Lost == 0 {
		return ""
	}
	return troubleCell(r)
}

func troubleCell(r loadgen.Row) string {
	return fmt.Sprintf("%d errors, %d lost", r.Errors, r.Lost)
}

// Targets of the performance issue.
const idleTargetBytes = 8 << 10 // per idle connection at 10k

// writeTargets says whether the targets are met by this run.
func writeTargets(w io.Writer, pairs []pair, peerName string) {
	var lines []string
	for _, p := range pairs {
		switch {
		case p.kind == "idle" && p.conns == 10000:
			lines = append(lines, fmt.Sprintf("- idle 10k, server RSS per connection ≤ %d B: %s (%.0f B; %s %.0f B)",
				idleTargetBytes, met(p.ours.RSSPerConn <= idleTargetBytes), p.ours.RSSPerConn, peerName, p.peer.RSSPerConn))
		case p.kind == "fanout" && p.conns == 1000:
			lines = append(lines, fmt.Sprintf("- %s, delivered msgs/s ≥ %s's: %s (%.0f vs %.0f, ratio %.2f)",
				p.label, peerName, met(p.ours.Rate >= p.peer.Rate && trouble(p.ours) == ""), p.ours.Rate, p.peer.Rate, p.ours.Rate/p.peer.Rate))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
