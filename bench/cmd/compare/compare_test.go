package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gosignalr/signalr/bench/centrifugepeer"
	"github.com/gosignalr/signalr/internal/loadgen"
	"github.com/gosignalr/signalr/internal/loadgen/benchhub"
)

// fakeChildEnv makes the test binary act as a bench server child: with
// "listen" it announces an address and runs until its input closes; with
// "fail" it exits at once.
const fakeChildEnv = "COMPARE_FAKE_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(fakeChildEnv) {
	case "listen":
		fmt.Println("starting")
		fmt.Println(readyPrefix + "http://127.0.0.1:1/")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "fail":
		os.Exit(3)
	}
	goleak.VerifyTestMain(m,
		// centrifuge's node unsubscribes an emptied channel from its broker
		// after a delay of about a second, on a worker that outlives
		// Node.Shutdown.
		goleak.IgnoreAnyFunction("github.com/centrifugal/centrifuge.(*Node).unsubscribeFromBrokerWhenEmpty.func1"),
	)
}

// In-process sides: the same servers the child processes run, in
// httptest servers.
func oursInProcess(t *testing.T) side {
	return side{name: "gosignalr", start: func(context.Context) (*server, error) {
		s, err := benchhub.New(benchhub.Options{})
		if err != nil {
			return nil, err
		}
		hs := httptest.NewServer(s.Handler)
		d, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: hs.URL + benchhub.Path})
		if err != nil {
			hs.Close()
			return nil, err
		}
		return &server{target: loadgen.Single(d, hs.URL+benchhub.StatsPath), stop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			assert.NoError(t, s.Shutdown(ctx))
			hs.Close()
		}}, nil
	}}
}

func peerInProcess(t *testing.T) side {
	return side{name: "centrifuge", start: func(context.Context) (*server, error) {
		s, err := centrifugepeer.NewServer(centrifugepeer.ServerConfig{WriteBufferPool: true, WriteTimeout: 10 * time.Second})
		if err != nil {
			return nil, err
		}
		hs := httptest.NewServer(s)
		d := &centrifugepeer.Driver{URL: "ws" + strings.TrimPrefix(hs.URL, "http") + centrifugepeer.WebSocketPath}
		return &server{target: loadgen.Single(d, hs.URL+centrifugepeer.StatsPath), stop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			assert.NoError(t, s.Shutdown(ctx))
			hs.Close()
		}}, nil
	}}
}

func TestPlanRunsEveryScenarioAgainstBothSides(t *testing.T) {
	defer loadgen.CloseIdleStatsConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := plan{idle: []int{20}, fanout: []int{20}, sizes: []int{64, 256}, deliveries: 400, window: 4, rounds: 2}
	pairs, err := p.run(ctx, oursInProcess(t), peerInProcess(t))
	require.NoError(t, err)
	require.Len(t, pairs, 3)

	assert.Equal(t, "idle 20", pairs[0].label)
	assert.Equal(t, "fanout 20 × 64 B", pairs[1].label)
	assert.Equal(t, "fanout 20 × 256 B", pairs[2].label)
	for _, pr := range pairs {
		for _, r := range []loadgen.Row{pr.ours, pr.peer} {
			assert.Zero(t, r.Errors, "%s %s", pr.label, r.Server)
			assert.Zero(t, r.Lost, "%s %s", pr.label, r.Server)
		}
		assert.Equal(t, "gosignalr", pr.ours.Server)
		assert.Equal(t, "centrifuge", pr.peer.Server)
	}
	// Idle: every connection stayed; both servers hold goroutines for them.
	assert.Equal(t, uint64(20), pairs[0].ours.Ops)
	assert.Equal(t, uint64(20), pairs[0].peer.Ops)
	assert.Positive(t, pairs[0].peer.GoroutinesPerConn)
	assert.Len(t, pairs[0].oursRuns, 1, "idle runs once")
	// Fan-out: 20 messages to 20 subscribers each, in two rounds.
	for _, pr := range pairs[1:] {
		assert.Len(t, pr.oursRuns, 2)
		assert.Len(t, pr.peerRuns, 2)
		assert.Contains(t, pr.ours.Note, "median of 2")
		assert.Equal(t, uint64(400), pr.ours.Ops, pr.label)
		assert.Equal(t, uint64(400), pr.peer.Ops, pr.label)
		assert.Positive(t, pr.peer.Rate)
		assert.Positive(t, pr.peer.MsgsPerFrame)
	}

	var out bytes.Buffer
	writeRaw(&out, pairs)
	writeComparison(&out, pairs, "gosignalr", "centrifuge")
	text := out.String()
	assert.Contains(t, text, "| idle 20 | server RSS per connection |")
	assert.Contains(t, text, "| fanout 20 × 256 B | delivered msgs/s |")
	assert.NotContains(t, text, "| failures |")
}

func TestComparisonRatiosAndTargets(t *testing.T) {
	pairs := []pair{
		{label: "idle 10000", kind: "idle", conns: 10000,
			ours: loadgen.Row{RSSPerConn: 6 << 10, HeapPerConn: 3 << 10, StackPerConn: 2 << 10, GoroutinesPerConn: 1.0001},
			peer: loadgen.Row{RSSPerConn: 18 << 10, HeapPerConn: 9 << 10, StackPerConn: 8 << 10, GoroutinesPerConn: 2}},
		{label: "idle 1000", kind: "idle", conns: 1000,
			ours: loadgen.Row{GoroutinesPerConn: 1.0001}, peer: loadgen.Row{GoroutinesPerConn: 0.9999}},
		{label: "fanout 1000 × 64 B", kind: "fanout", conns: 1000,
			ours: loadgen.Row{Rate: 500000, P50: time.Millisecond, P99: 4 * time.Millisecond, CPUPerOp: time.Microsecond, MsgsPerFrame: 2},
			peer: loadgen.Row{Rate: 1000000, P50: 2 * time.Millisecond, P99: 4 * time.Millisecond, CPUPerOp: time.Microsecond, MsgsPerFrame: 1, Lost: 3}},
	}
	var out bytes.Buffer
	writeComparison(&out, pairs, "gosignalr", "centrifuge")
	writeTargets(&out, pairs, "centrifuge")
	text := out.String()
	for _, want := range []string{
		"| idle 10000 | server RSS per connection | 6.0 KiB | 18.0 KiB | 0.33 | gosignalr |",
		"| idle 10000 | goroutines per connection | 1.00 | 2.00 | 0.50 | gosignalr |",
		"| idle 1000 | goroutines per connection | 1.00 | 1.00 | 1.00 | same |",
		"| fanout 1000 × 64 B | delivered msgs/s | 500000 | 1000000 | 0.50 | centrifuge |",
		"| fanout 1000 × 64 B | latency p50 | 1ms | 2ms | 0.50 | gosignalr |",
		"| fanout 1000 × 64 B | latency p99 | 4ms | 4ms | 1.00 | same |",
		"| fanout 1000 × 64 B | msgs per frame | 2.00 | 1.00 | 2.00 | gosignalr |",
		"| fanout 1000 × 64 B | failures | 0 errors, 0 lost | 0 errors, 3 lost | - | - |",
		"- idle 10k, server RSS per connection ≤ 8192 B: met (6144 B; centrifuge 18432 B)",
		"- fanout 1000 × 64 B, delivered msgs/s ≥ centrifuge's: NOT met (500000 vs 1000000, ratio 0.50)",
	} {
		assert.Contains(t, text, want)
	}
}

func TestMedianByRate(t *testing.T) {
	rows := []loadgen.Row{{Rate: 3, Note: "a"}, {Rate: 1}, {Rate: 2}}
	m := medianByRate(rows)
	assert.Equal(t, 2.0, m.Rate)
	assert.Equal(t, "median of 3", m.Note)
	assert.Equal(t, "a", rows[0].Note, "the rows themselves are left alone")
	assert.Equal(t, 1.0, medianByRate(rows[1:]).Rate, "lower middle of an even count")
	assert.Equal(t, loadgen.Row{Rate: 1}, medianByRate(rows[1:2]), "one round: no note")
}

func TestParseInts(t *testing.T) {
	got, err := parseInts("1000, 10_000,")
	require.NoError(t, err)
	assert.Equal(t, []int{1000, 10000}, got)
	for _, bad := range []string{"0", "-1", "x"} {
		_, err := parseInts(bad)
		assert.Error(t, err, bad)
	}
}

func TestChildAnnouncesItsAddressAndStopsWhenItsInputCloses(t *testing.T) {
	t.Setenv(fakeChildEnv, "listen")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := startChild(ctx, "fake", os.Args[0], "-test.run=^$")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1", c.base)
	c.stop()
	select {
	case <-c.done:
	default:
		t.Fatal("stop returned before the child exited")
	}
	assert.True(t, c.cmd.ProcessState.Success())
}

func TestChildThatExitsBeforeListeningIsAnError(t *testing.T) {
	t.Setenv(fakeChildEnv, "fail")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := startChild(ctx, "fake", os.Args[0], "-test.run=^$")
	assert.ErrorContains(t, err, "exited before listening")
}
