package loadgen_test

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/loadgen"
	"github.com/gosignalr/signalr/internal/loadgen/benchhub"
)

// testServer is a bench hub on a loopback httptest server that records the
// source addresses of the requests it gets.
type testServer struct {
	url, statsURL string
	mu            sync.Mutex
	sources       map[string]bool
}

func startServer(t *testing.T, opts ...signalr.Option) *testServer {
	t.Helper()
	s, err := benchhub.New(benchhub.Options{Hub: opts})
	require.NoError(t, err)
	ts := &testServer{sources: make(map[string]bool)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && r.URL.Path == benchhub.Path {
			ts.mu.Lock()
			ts.sources[host] = true
			ts.mu.Unlock()
		}
		s.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, s.Shutdown(ctx))
		srv.Close()
		loadgen.CloseIdleStatsConnections()
	})
	ts.url = srv.URL + benchhub.Path
	ts.statsURL = srv.URL + benchhub.StatsPath
	return ts
}

func (s *testServer) target(t *testing.T, p loadgen.Protocol) loadgen.Target {
	t.Helper()
	d, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: s.url, Protocol: p})
	require.NoError(t, err)
	return inProcess(loadgen.Single(d, s.statsURL))
}

// inProcess marks the target's nodes as this process, whose resident set
// the raw figures then read.
func inProcess(t loadgen.Target) loadgen.Target {
	for i := range t.Nodes {
		t.Nodes[i].PID = os.Getpid()
	}
	return t
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var protocols = []loadgen.Protocol{loadgen.JSON, loadgen.MessagePack}

func TestIdle(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			srv := startServer(t)
			row, err := loadgen.Idle(testCtx(t), srv.target(t, p), loadgen.IdleConfig{
				Conns: 20, Hold: 100 * time.Millisecond,
				Dial: loadgen.DialConfig{PerAddress: 7, FirstAddress: 1},
			})
			require.NoError(t, err)
			assert.Equal(t, "idle", row.Scenario)
			assert.Equal(t, "gosignalr/"+string(p), row.Server)
			assert.Equal(t, 20, row.Conns)
			assert.Equal(t, uint64(20), row.Ops, "every connection is still open")
			assert.Zero(t, row.Errors)
			assert.NotZero(t, row.ServerRSS)
			assert.NotZero(t, row.PeakRSS)
			assert.NotZero(t, row.HeapPerConn)
			assert.Positive(t, row.GoroutinesPerConn)
			assert.NotContains(t, row.Note, "server counts", "the server counted every connection")
			assert.NotZero(t, row.RawRSS, "read from /proc")
			assert.NotZero(t, row.RawHeapPerConn, "the heap before a collection")
			assert.Contains(t, row.Note, "before GC heap")
			assert.NotZero(t, row.RampPeakRSS)
			assert.NotZero(t, row.GOGC)

			srv.mu.Lock()
			defer srv.mu.Unlock()
			assert.Equal(t, map[string]bool{"127.0.0.2": true, "127.0.0.3": true, "127.0.0.4": true}, srv.sources,
				"20 connections, 7 per address, from the second address on")
		})
	}
}

func TestEcho(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			srv := startServer(t)
			target := srv.target(t, p)
			row, err := loadgen.Echo(testCtx(t), target, loadgen.EchoConfig{Conns: 5, Duration: 200 * time.Millisecond, Size: 100})
			require.NoError(t, err)
			assert.Equal(t, "closed loop", row.Note)
			assert.Positive(t, row.Ops)
			assert.Zero(t, row.Errors)
			assert.Positive(t, row.Rate)
			assert.Positive(t, row.P50)
			assert.GreaterOrEqual(t, row.P99, row.P50)
			assert.GreaterOrEqual(t, row.Max, row.P99)
			assert.Positive(t, row.CPUPerOp)

			row, err = loadgen.Echo(testCtx(t), target, loadgen.EchoConfig{Conns: 4, Duration: 300 * time.Millisecond, Rate: 40, Size: 10})
			require.NoError(t, err)
			assert.Equal(t, "rate 40/s", row.Note)
			assert.Equal(t, uint64(12), row.Ops, "40/s for 0.3 s, on schedule")
			assert.Zero(t, row.Errors)
		})
	}
}

func TestFanOut(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			srv := startServer(t)
			row, err := loadgen.FanOut(testCtx(t), srv.target(t, p), loadgen.FanOutConfig{
				Subscribers: 20, Messages: 50, Size: 64, Window: 4, Dial: loadgen.DialConfig{PerAddress: 8},
			})
			require.NoError(t, err)
			assert.Equal(t, "fanout", row.Scenario)
			assert.Equal(t, uint64(20*50), row.Ops, "every subscriber got every message")
			assert.Zero(t, row.Lost)
			assert.Zero(t, row.Errors)
			assert.Positive(t, row.P99)
			assert.GreaterOrEqual(t, row.MsgsPerFrame, 1.0)
			assert.Positive(t, row.CPUPerOp)
			assert.Positive(t, row.Rate)
		})
	}
}

func TestGroups(t *testing.T) {
	srv := startServer(t)
	row, err := loadgen.FanOut(testCtx(t), srv.target(t, loadgen.MessagePack), loadgen.FanOutConfig{
		Subscribers: 20, Groups: 4, Publishers: 3, Messages: 60, Size: 100,
	})
	require.NoError(t, err)
	assert.Equal(t, "groups", row.Scenario)
	assert.Equal(t, uint64(60*5), row.Ops, "each message reaches its group of 5 only")
	assert.Zero(t, row.Lost)
	assert.Zero(t, row.Errors)
}

// TestSlowConsumer has one subscriber stop reading: the server closes it
// and says why, and the others get everything.
func TestSlowConsumer(t *testing.T) {
	srv := startServer(t, signalr.WithMaxOutboundBuffer(64<<10), signalr.WithWriteTimeout(200*time.Millisecond))
	row, err := loadgen.FanOut(testCtx(t), srv.target(t, loadgen.JSON), loadgen.FanOutConfig{
		Subscribers: 5, Slow: 1, Messages: 20, SlowMaxMessages: 5000, Size: 16 << 10, Window: 16,
	})
	require.NoError(t, err)
	assert.Equal(t, "slow", row.Scenario)
	assert.Equal(t, 1, row.Cut, "the slow subscriber was cut off")
	assert.NotEmpty(t, row.CutReason, "the server said why (a full queue or a write timeout)")
	assert.Zero(t, row.Lost, "the others lost nothing")
	assert.Zero(t, row.Errors)
	assert.Contains(t, row.Note, "1 slow")
}

// TestBackplane spreads subscribers over three hubs joined by a
// backplane; the publisher is on the first.
func TestBackplane(t *testing.T) {
	bp := backplane.NewMemory()
	var target loadgen.Target
	for range 3 {
		srv := startServer(t, signalr.WithBackplane(bp), signalr.WithHubName("bench"))
		target.Nodes = append(target.Nodes, srv.target(t, loadgen.JSON).Nodes...)
	}
	row, err := loadgen.FanOut(testCtx(t), target, loadgen.FanOutConfig{Subscribers: 12, Messages: 30, Size: 64})
	require.NoError(t, err)
	assert.Equal(t, 3, row.Nodes)
	assert.Equal(t, uint64(12*30), row.Ops)
	assert.Zero(t, row.Lost)
	assert.Zero(t, row.Errors)
}

func TestSoak(t *testing.T) {
	srv := startServer(t)
	var samples int
	res, err := loadgen.Soak(testCtx(t), srv.target(t, loadgen.MessagePack), loadgen.SoakConfig{
		Conns: 30, Stay: 20, Churn: 4, Duration: 2 * time.Second, Settle: 500 * time.Millisecond,
		Rate: 20, SampleEvery: 700 * time.Millisecond, OnSample: func(loadgen.SoakSample) { samples++ },
	})
	require.NoError(t, err)
	assert.Equal(t, 20, res.Stayed)
	assert.GreaterOrEqual(t, res.Churned, 4, "connections were replaced")
	assert.Positive(t, res.Published)
	assert.Zero(t, res.Lost, "connections that stayed got every broadcast")
	assert.Zero(t, res.Disordered)
	assert.Equal(t, res.Published*20, res.Row.Ops)
	assert.Equal(t, samples, len(res.Samples))
	assert.Equal(t, "start", res.Samples[0].Phase)
	assert.Equal(t, "end", res.Samples[len(res.Samples)-1].Phase)
	assert.Equal(t, int64(31), res.End.Conns, "30 connections and the publisher, after the churn")
	assert.Contains(t, res.Row.Note, "goroutines")
}

// TestCloseReason: a connection the server closes with an error reports
// the reason and ends.
func TestCloseReason(t *testing.T) {
	srv := startServer(t, signalr.WithMaxReceiveMessageSize(1000))
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			d, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: srv.url, Protocol: p})
			require.NoError(t, err)
			checkCloseReason(t, d)
		})
	}
}

// openDriver is a driver that reports how many connections it has open.
type openDriver interface {
	loadgen.Driver
	Open() int
}

// checkCloseReason dials d, whose hub takes messages of up to 1000 bytes,
// and sends one past that: the connection ends with the hub's reason, and
// d forgets it.
func checkCloseReason(t *testing.T, d openDriver) {
	t.Helper()
	c, err := d.Dial(testCtx(t), loadgen.SourceIP(0), loadgen.DialOptions{})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Echo(testCtx(t), []byte("small")))
	err = c.Echo(testCtx(t), []byte(strings.Repeat("x", 2000)))
	require.Error(t, err)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}
	assert.Contains(t, c.CloseReason(), "1000")
	assert.Equal(t, 0, d.Open())
}

// TestNegotiateAndGroupJoin dials through negotiate and joins a group.
func TestNegotiateAndGroupJoin(t *testing.T) {
	srv := startServer(t)
	d, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: srv.url, Negotiate: true, Protocol: loadgen.MessagePack})
	require.NoError(t, err)
	got := make(chan string, 1)
	c, err := d.Dial(testCtx(t), loadgen.SourceIP(3), loadgen.DialOptions{Subscribe: true, Group: "room", OnMessage: func(p []byte, _ time.Time) {
		got <- string(p)
	}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Publish(testCtx(t), "room", []byte("to the room")))
	select {
	case s := <-got:
		assert.Equal(t, "to the room", s)
	case <-time.After(5 * time.Second):
		t.Fatal("no broadcast")
	}
	require.NoError(t, c.Close())
	assert.Equal(t, "", c.CloseReason())
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1/hub", "http://example.com/hub", "ws://[2001:db8::1]/hub", "/hub"} {
		_, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: u})
		assert.Error(t, err, u)
		_, err = loadgen.FetchStats(context.Background(), u, false)
		assert.Error(t, err, u)
	}
	for _, u := range []string{"http://127.0.0.1:1/hub", "ws://localhost:2/hub", "http://[::1]:3/hub", "http://127.9.9.9/hub"} {
		assert.NoError(t, loadgen.CheckLoopback(u), u)
	}
	assert.Error(t, loadgen.CheckLoopbackAddr("0.0.0.0:80"))
}

func TestBounds(t *testing.T) {
	srv := startServer(t)
	target := srv.target(t, loadgen.JSON)
	_, err := loadgen.Idle(context.Background(), target, loadgen.IdleConfig{Conns: loadgen.MaxConnsPerProcess + 1})
	assert.ErrorContains(t, err, "several processes")
	_, err = loadgen.FanOut(context.Background(), target, loadgen.FanOutConfig{Subscribers: 1, Messages: loadgen.MaxMessages + 1})
	assert.Error(t, err)
	_, err = loadgen.Echo(context.Background(), target, loadgen.EchoConfig{Conns: 1, Duration: time.Hour})
	assert.Error(t, err)
}

// TestProcessMemory reads a process's resident set from outside it, as
// the operating system reports it.
func TestProcessMemory(t *testing.T) {
	rss, hwm, err := loadgen.ProcessMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, rss)
	assert.GreaterOrEqual(t, hwm, rss, "the peak is at least the current resident set")
	self := loadgen.ReadStats(false)
	assert.InDelta(t, float64(self.RSS), float64(rss), float64(rss)/2, "the same figure as the process reads of itself")
	_, _, err = loadgen.ProcessMemory(0)
	assert.Error(t, err)
	_, _, err = loadgen.ProcessMemory(1 << 30) // past pid_max
	assert.Error(t, err)
}

// TestRawMemoryFallsBackToStats: a node without a PID has its raw
// figures asked of its stats endpoint; one with neither counts for none.
func TestRawMemoryFallsBackToStats(t *testing.T) {
	srv := startServer(t)
	d, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: srv.url})
	require.NoError(t, err)
	rss, hwm, ok, err := loadgen.Single(d, srv.statsURL).RawMemory(testCtx(t))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Positive(t, rss)
	assert.GreaterOrEqual(t, hwm, rss)
	_, _, ok, err = loadgen.Single(d, "").RawMemory(testCtx(t))
	require.NoError(t, err)
	assert.False(t, ok)
}

// TestStatsGCSettings: the stats report the collector's settings as the
// runtime has them.
func TestStatsGCSettings(t *testing.T) {
	old := debug.SetGCPercent(75)
	defer debug.SetGCPercent(old)
	oldLimit := debug.SetMemoryLimit(512 << 20)
	defer debug.SetMemoryLimit(oldLimit)
	s := loadgen.ReadStats(false)
	assert.Equal(t, 75, s.GOGC)
	assert.Equal(t, int64(512<<20), s.MemLimit)
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(math.MaxInt64)
	s = loadgen.ReadStats(false)
	assert.Equal(t, -1, s.GOGC, "collection off")
	assert.Zero(t, s.MemLimit, "no limit")
}
