package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/internal/loadgen"
)

// runTiny runs the suite command with args and returns its rows.
func runTiny(t *testing.T, args ...string) []loadgen.Row {
	t.Helper()
	t.Setenv(runAsMainEnv, "1") // for the child processes
	// A race-enabled child otherwise sleeps a second as it exits.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	var out bytes.Buffer
	fs := []string{"-json", "-idle-hold", "0s", "-dial-concurrency", "8"}
	done := make(chan error, 1)
	go func() { done <- runSuiteTo(append(fs, args...), true, &out, io.Discard) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the suite did not finish")
	}
	var rows []loadgen.Row
	for line := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, `{"soakSample"`) {
			continue
		}
		var r loadgen.Row
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		rows = append(rows, r)
	}
	return rows
}

// TestSuite runs every scenario of the suite at a tiny size, each against
// server processes of its own.
func TestSuite(t *testing.T) {
	rows := runTiny(t,
		"-protocol", "messagepack", "-scenario", "idle,echo,coalesce,slow,backplane",
		"-idle", "30", "-echo", "4", "-echo-duration", "200ms", "-echo-rate", "0", "-sizes", "64", "-deliveries", "300",
		"-coalesce-subs", "10", "-coalesce-publishers", "3", "-slow-subs", "5", "-slow-size", "16384", "-slow-write-timeout", "300ms",
		"-backplane-subs", "10",
	)
	count := map[string]int{}
	for _, r := range rows {
		count[r.Scenario]++
		assert.Equal(t, "gosignalr/messagepack", r.Server)
		assert.Zero(t, r.Errors, "%+v", r)
		assert.Zero(t, r.Lost, "%+v", r)
		assert.Positive(t, r.Ops, "%+v", r)
		assert.NotZero(t, r.ServerRSS, "%+v", r)
		switch r.Scenario {
		case "idle":
			assert.Equal(t, uint64(30), r.Ops)
			assert.Positive(t, r.GoroutinesPerConn)
		case "echo":
			assert.Positive(t, r.P99)
			assert.Positive(t, r.CPUPerOp)
		case "coalesce", "backplane":
			assert.Equal(t, uint64(10*30), r.Ops, "30 messages to 10 subscribers: %+v", r)
			if strings.HasPrefix(r.Note, "coalescing off") {
				assert.Equal(t, 1.0, r.MsgsPerFrame, "one message per frame")
			}
		case "slow":
			if strings.Contains(r.Note, "baseline") {
				assert.Zero(t, r.Cut)
			} else {
				assert.Equal(t, 1, r.Cut, "%+v", r)
				assert.NotEmpty(t, r.CutReason)
			}
		}
	}
	assert.Equal(t, map[string]int{"idle": 1, "echo": 1, "coalesce": 2, "slow": 2, "backplane": 3}, count)
	var nodes []int
	for _, r := range rows {
		if r.Scenario == "backplane" {
			nodes = append(nodes, r.Nodes)
		}
	}
	assert.Equal(t, []int{1, 1, 3}, nodes)
}

// TestBigAndSoak runs the multi-process scenarios at a tiny size: hubs
// joined by NATS, connections held by worker processes, and a soak.
func TestBigAndSoak(t *testing.T) {
	rows := runTiny(t, "-big", "-big-single", "12", "-big-conns", "40", "-big-hubs", "2", "-big-hold", "0s",
		"-big-messages", "3", "-per-address", "7", "-soak", "1500ms", "-soak-conns", "20", "-soak-churn", "2",
		"-soak-rate", "20", "-soak-sample", "500ms", "-soak-settle", "300ms")
	require.Len(t, rows, 5)
	byName := func(i int, scenario string, nodes, conns int) loadgen.Row {
		r := rows[i]
		assert.Equal(t, scenario, r.Scenario)
		assert.Equal(t, nodes, r.Nodes)
		assert.Equal(t, conns, r.Conns)
		assert.Zero(t, r.Errors, "%+v", r)
		assert.Zero(t, r.Lost, "%+v", r)
		return r
	}
	byName(0, "big-idle", 1, 12)
	assert.Equal(t, uint64(3*12), byName(1, "big-broadcast", 1, 12).Ops)
	assert.Equal(t, uint64(40), byName(2, "big-idle", 2, 40).Ops)
	assert.Equal(t, uint64(3*40), byName(3, "big-broadcast", 2, 40).Ops)
	soak := byName(4, "soak", 1, 20)
	assert.Positive(t, soak.Ops)
	assert.Contains(t, soak.Note, "replaced")
}

func TestLoadRefusesNonLoopback(t *testing.T) {
	err := runSuiteTo([]string{"-url", "http://192.0.2.1/hub"}, false, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "loopback")
	err = runSuiteTo([]string{"-url", "http://127.0.0.1:1/hub", "-stats", "http://192.0.2.1/debug/stats"}, false, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "loopback")
	assert.Error(t, runServer([]string{"-addr", "0.0.0.0:0"}))
}

// TestSuitePairs runs the idle, echo and fan-out scenarios on every
// transport and protocol pair, each against a server process of its own.
func TestSuitePairs(t *testing.T) {
	rows := runTiny(t, "-pairs", "all", "-scenario", "idle,echo,fanout",
		"-idle", "12", "-idle-http", "8", "-echo", "3", "-echo-duration", "200ms", "-echo-rate", "0",
		"-fanout", "5", "-sizes", "64", "-deliveries", "100", "-server-gogc", "50", "-server-memlimit-mib", "256")
	var got []string
	for _, r := range rows {
		got = append(got, r.Scenario+" "+r.Server)
		assert.Zero(t, r.Errors, "%+v", r)
		assert.Zero(t, r.Lost, "%+v", r)
		assert.Positive(t, r.Ops, "%+v", r)
		assert.Equal(t, 50, r.GOGC, "the server's collector settings: %+v", r)
		assert.Equal(t, int64(256<<20), r.MemLimit, "%+v", r)
		assert.NotZero(t, r.RawRSS, "the server's resident set, read from /proc: %+v", r)
		assert.NotZero(t, r.RampPeakRSS, "%+v", r)
		switch r.Scenario {
		case "idle":
			if strings.HasPrefix(r.Server, "gosignalr/sse") || strings.HasPrefix(r.Server, "gosignalr/lp") {
				assert.Equal(t, uint64(8), r.Ops, "-idle-http sets the count on sse and lp")
			} else {
				assert.Equal(t, uint64(12), r.Ops)
			}
		case "fanout":
			assert.Equal(t, uint64(5*20), r.Ops, "20 messages to 5 subscribers: %+v", r)
		}
	}
	var want []string
	for _, sc := range []string{"idle", "echo", "fanout"} {
		for _, srv := range []string{"gosignalr/json", "gosignalr/messagepack", "gosignalr/sse/json", "gosignalr/lp/json", "gosignalr/lp/messagepack"} {
			want = append(want, sc+" "+srv)
		}
	}
	assert.Equal(t, want, got)
}

func TestParsePairs(t *testing.T) {
	ps, err := parsePairs("", "ws,sse,lp", "json,msgpack")
	require.NoError(t, err)
	assert.Equal(t, allPairs, ps, "every combination but sse/messagepack")
	ps, err = parsePairs("lp/msgpack, sse/json", "ws", "json")
	require.NoError(t, err)
	assert.Equal(t, []benchPair{{loadgen.LongPolling, loadgen.MessagePack}, {loadgen.ServerSentEvents, loadgen.JSON}}, ps)
	_, err = parsePairs("sse/msgpack", "", "")
	assert.ErrorContains(t, err, "JSON only")
	_, err = parsePairs("", "sse", "msgpack")
	assert.Error(t, err, "nothing to run")
	_, err = parsePairs("ws", "", "")
	assert.Error(t, err)
	_, err = parsePairs("", "quic", "json")
	assert.Error(t, err)
}
