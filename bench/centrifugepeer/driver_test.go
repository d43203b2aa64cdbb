package centrifugepeer_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/bench/centrifugepeer"
	"github.com/gosignalr/signalr/internal/loadgen"
)

var loopback = net.IPv4(127, 0, 0, 1)

// startServer runs a bench server on loopback until the test ends.
func startServer(t *testing.T, cfg centrifugepeer.ServerConfig) (*centrifugepeer.Server, *centrifugepeer.Driver) {
	srv, d, _ := startServerWithStats(t, cfg)
	return srv, d
}

// startServerWithStats is startServer that also returns the stats URL.
func startServerWithStats(t *testing.T, cfg centrifugepeer.ServerConfig) (*centrifugepeer.Server, *centrifugepeer.Driver, string) {
	t.Helper()
	srv, err := centrifugepeer.NewServer(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(ctx))
		hs.Close()
	})
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + centrifugepeer.WebSocketPath
	return srv, &centrifugepeer.Driver{URL: url}, hs.URL + centrifugepeer.StatsPath
}

// probe is the payload settle publishes; an inbox counts it apart.
const probe = "probe"

// inbox collects the payloads a connection receives.
type inbox struct {
	mu     sync.Mutex
	got    []string
	probes int
	more   chan struct{}
}

func newInbox() *inbox { return &inbox{more: make(chan struct{}, 1)} }

func (b *inbox) onMessage(payload []byte, _ time.Time) {
	b.mu.Lock()
	if string(payload) == probe {
		b.probes++
	} else {
		b.got = append(b.got, string(payload))
	}
	b.mu.Unlock()
	select {
	case b.more <- struct{}{}:
	default:
	}
}

// wait returns the payloads once there are n of them, or fails the test.
func (b *inbox) wait(t *testing.T, n int) []string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		b.mu.Lock()
		got := append([]string(nil), b.got...)
		b.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-b.more:
		case <-timeout:
			t.Fatalf("received %d of %d messages: %q", len(got), n, got)
		}
	}
}

// settle publishes probes to group until b receives one. centrifuge
// writes the subscribe reply before the subscription takes effect (with
// ProcessCommandsOffReadLoop the gap is wide enough to lose a publication
// sent right after the reply), so a test that counts what a subscriber
// receives first waits for the subscription to take effect.
func settle(t *testing.T, ctx context.Context, pub loadgen.Conn, group string, b *inbox) {
	t.Helper()
	for {
		require.NoError(t, pub.Publish(ctx, group, []byte(probe)))
		select {
		case <-b.more:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("no probe reached the subscribers of %q", group)
		}
		b.mu.Lock()
		n := b.probes
		b.mu.Unlock()
		if n > 0 {
			return
		}
	}
}

func dial(t *testing.T, d loadgen.Driver, opts loadgen.DialOptions) loadgen.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, loopback, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestDriverName(t *testing.T) {
	assert.Equal(t, "centrifuge", (&centrifugepeer.Driver{}).Name())
}

func TestPublishReachesSubscribersOfTheAudience(t *testing.T) {
	for _, cfg := range []centrifugepeer.ServerConfig{
		{},
		{WriteBufferPool: true, ProcessCommandsOffReadLoop: true, MaxMessagesInFrame: -1},
		{WriteDelay: time.Millisecond, WriteWithTimer: true},
	} {
		t.Run(cfg.String(), func(t *testing.T) {
			_, d := startServer(t, cfg)
			everyone, room, other := newInbox(), newInbox(), newInbox()
			var counters loadgen.Counters
			dial(t, d, loadgen.DialOptions{Subscribe: true, OnMessage: everyone.onMessage, Counters: &counters})
			dial(t, d, loadgen.DialOptions{Subscribe: true, Group: "room", OnMessage: room.onMessage})
			otherConn := dial(t, d, loadgen.DialOptions{Subscribe: true, Group: "other", OnMessage: other.onMessage})
			pub := dial(t, d, loadgen.DialOptions{})

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			settle(t, ctx, pub, "", everyone)
			settle(t, ctx, pub, "room", room)
			// Quotes, backslashes and control characters survive the trip as
			// a JSON string.
			payloads := []string{"hello", `a "quoted" \ path`, "tab\tnewline\n", "ünïcode"}
			for _, p := range payloads {
				require.NoError(t, pub.Publish(ctx, "", []byte(p)))
			}
			require.NoError(t, pub.Publish(ctx, "room", []byte("to the room")))

			assert.Equal(t, payloads, everyone.wait(t, len(payloads)))
			assert.Equal(t, []string{"to the room"}, room.wait(t, 1))
			// The server answers a request on the connection's own queue,
			// behind any publication already queued for it.
			require.NoError(t, otherConn.Echo(ctx, []byte("sync")))
			other.mu.Lock()
			assert.Empty(t, other.got)
			other.mu.Unlock()
			// Connect and subscribe replies plus the publications.
			assert.GreaterOrEqual(t, counters.Messages.Load(), uint64(len(payloads)+2))
			assert.GreaterOrEqual(t, counters.Messages.Load(), counters.Frames.Load())
		})
	}
}

func TestEchoReturnsItsArgument(t *testing.T) {
	_, d := startServer(t, centrifugepeer.ServerConfig{})
	c := dial(t, d, loadgen.DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, c.Echo(ctx, []byte(strings.Repeat("x", i*100))))
		}()
	}
	wg.Wait()
}

func TestPublishReplacesInvalidUTF8(t *testing.T) {
	_, d := startServer(t, centrifugepeer.ServerConfig{})
	got := newInbox()
	dial(t, d, loadgen.DialOptions{Subscribe: true, OnMessage: got.onMessage})
	c := dial(t, d, loadgen.DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	settle(t, ctx, c, "", got)
	require.NoError(t, c.Publish(ctx, "", []byte{'a', 0xff, 'b'}))
	assert.Equal(t, []string{"a\uFFFDb"}, got.wait(t, 1))
}

func TestDialFailsWithoutServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	d := &centrifugepeer.Driver{URL: "ws://" + addr + centrifugepeer.WebSocketPath}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = d.Dial(ctx, loopback, loadgen.DialOptions{})
	assert.Error(t, err)
}

func TestDialHonorsContext(t *testing.T) {
	// A listener that accepts TCP but never answers the upgrade.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	d := &centrifugepeer.Driver{URL: "ws://" + ln.Addr().String() + centrifugepeer.WebSocketPath}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = d.Dial(ctx, loopback, loadgen.DialOptions{})
	assert.Error(t, err)
	select {
	case c := <-accepted:
		_ = c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection reached the listener")
	}
}

func TestServerShutdownEndsConnectionsWithReason(t *testing.T) {
	srv, d := startServer(t, centrifugepeer.ServerConfig{})
	c := dial(t, d, loadgen.DialOptions{Subscribe: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after shutdown")
	}
	assert.Equal(t, "shutdown", c.CloseReason())
	assert.ErrorIs(t, c.Echo(ctx, []byte("x")), centrifugepeer.ErrClosed)
}

func TestStopReadingLeavesMessagesUnread(t *testing.T) {
	_, d := startServer(t, centrifugepeer.ServerConfig{})
	hung := newInbox()
	h := dial(t, d, loadgen.DialOptions{Subscribe: true, OnMessage: hung.onMessage})
	live := newInbox()
	dial(t, d, loadgen.DialOptions{Subscribe: true, OnMessage: live.onMessage})
	pub := dial(t, d, loadgen.DialOptions{})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	settle(t, ctx, pub, "", live)
	h.StopReading()
	require.NoError(t, pub.Publish(ctx, "", []byte("one")))
	live.wait(t, 1)
	hung.mu.Lock()
	assert.Empty(t, hung.got)
	hung.mu.Unlock()
	select {
	case <-h.Done():
		t.Fatal("a connection that stopped reading ended before Close")
	default:
	}
	require.NoError(t, h.Close())
	select {
	case <-h.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	_, d := startServer(t, centrifugepeer.ServerConfig{})
	c := dial(t, d, loadgen.DialOptions{})
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	assert.Empty(t, c.CloseReason())
}

func TestIdleConnectionAnswersPings(t *testing.T) {
	_, d := startServer(t, centrifugepeer.ServerConfig{
		PingInterval: 50 * time.Millisecond,
		PongTimeout:  40 * time.Millisecond,
	})
	answering := dial(t, d, loadgen.DialOptions{Subscribe: true})
	// The server drops a client that does not answer within PongTimeout;
	// one that answers outlives many ping intervals.
	time.Sleep(500 * time.Millisecond)
	select {
	case <-answering.Done():
		t.Fatalf("connection answering pings was closed: %q", answering.CloseReason())
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.NoError(t, answering.Echo(ctx, []byte("alive")))
}

func TestStatsCountConnectionsAndTheDisconnectsTheServerMade(t *testing.T) {
	_, d, statsURL := startServerWithStats(t, centrifugepeer.ServerConfig{
		PingInterval: 50 * time.Millisecond,
		PongTimeout:  40 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before, err := loadgen.FetchStats(ctx, statsURL, true)
	require.NoError(t, err)
	assert.Zero(t, before.Conns)
	assert.Positive(t, before.RSS)
	assert.Positive(t, before.Goroutines)

	closed := dial(t, d, loadgen.DialOptions{Subscribe: true})
	dial(t, d, loadgen.DialOptions{Subscribe: true})
	silent := dial(t, d, loadgen.DialOptions{Subscribe: true})
	silent.StopReading()
	require.NoError(t, closed.Close())

	// The silent client is dropped for not answering pings (once the
	// server has waited 5 s for its close frame); the one that closed
	// itself is not counted as a disconnect the server made.
	var st loadgen.Stats
	require.Eventually(t, func() bool {
		st, err = loadgen.FetchStats(ctx, statsURL, false)
		return err == nil && st.Conns == 1
	}, 15*time.Second, 20*time.Millisecond)
	n, reason := st.DisconnectsSince(before)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, "no pong", reason)
	loadgen.CloseIdleStatsConnections()
}
