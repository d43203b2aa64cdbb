package loadgen_test

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/loadgen"
)

// pair is one transport with one protocol.
type pair struct {
	tr loadgen.Transport
	p  loadgen.Protocol
}

func (p pair) String() string { return string(p.tr) + "/" + string(p.p) }

// httpPairs are the pairs the SSE and long-polling drivers speak.
var httpPairs = []pair{
	{loadgen.ServerSentEvents, loadgen.JSON},
	{loadgen.LongPolling, loadgen.JSON},
	{loadgen.LongPolling, loadgen.MessagePack},
}

func (s *testServer) targetOver(t *testing.T, p pair) loadgen.Target {
	t.Helper()
	d, err := loadgen.NewDriver(p.tr, loadgen.SignalROptions{URL: s.url, Protocol: p.p})
	require.NoError(t, err)
	return inProcess(loadgen.Single(d, s.statsURL))
}

func TestParseTransport(t *testing.T) {
	for in, want := range map[string]loadgen.Transport{
		"ws": loadgen.WebSockets, "WebSockets": loadgen.WebSockets, "sse": loadgen.ServerSentEvents,
		"ServerSentEvents": loadgen.ServerSentEvents, "lp": loadgen.LongPolling, "LongPolling": loadgen.LongPolling,
	} {
		got, err := loadgen.ParseTransport(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := loadgen.ParseTransport("carrier-pigeon")
	assert.Error(t, err)
}

func TestHTTPDriverRefuses(t *testing.T) {
	_, err := loadgen.NewSignalRHTTP(loadgen.ServerSentEvents, loadgen.SignalROptions{URL: "http://127.0.0.1:1/hub", Protocol: loadgen.MessagePack})
	assert.ErrorContains(t, err, "text only")
	_, err = loadgen.NewSignalRHTTP(loadgen.WebSockets, loadgen.SignalROptions{URL: "http://127.0.0.1:1/hub"})
	assert.Error(t, err)
	_, err = loadgen.NewSignalRHTTP(loadgen.LongPolling, loadgen.SignalROptions{URL: "http://192.0.2.1/hub"})
	assert.ErrorContains(t, err, "loopback")
	d, err := loadgen.NewDriver(loadgen.WebSockets, loadgen.SignalROptions{URL: "http://127.0.0.1:1/hub"})
	require.NoError(t, err)
	assert.IsType(t, &loadgen.SignalR{}, d)
}

// TestHTTPIdle holds idle connections on each pair; every one is still
// open at the end, and the server counted each.
func TestHTTPIdle(t *testing.T) {
	for _, p := range httpPairs {
		t.Run(p.String(), func(t *testing.T) {
			// Keep-alive pings, and polls answered empty after 150 ms: a
			// connection that did not poll again would end at the
			// disconnect timeout, within the hold.
			srv := startServer(t, signalr.WithKeepAliveInterval(100*time.Millisecond),
				signalr.WithLongPollTimeouts(150*time.Millisecond, time.Second))
			row, err := loadgen.Idle(testCtx(t), srv.targetOver(t, p), loadgen.IdleConfig{
				Conns: 12, Hold: 1500 * time.Millisecond,
				Dial: loadgen.DialConfig{PerAddress: 5, FirstAddress: 1},
			})
			require.NoError(t, err)
			assert.Equal(t, "gosignalr/"+p.String(), row.Server)
			assert.Equal(t, uint64(12), row.Ops, "every connection is still open")
			assert.Zero(t, row.Errors)
			assert.NotContains(t, row.Note, "server counts", "the server counted every connection")
			assert.NotZero(t, row.RawRSS)
			assert.NotZero(t, row.RampPeakRSS)
			srv.mu.Lock()
			defer srv.mu.Unlock()
			assert.Equal(t, map[string]bool{"127.0.0.2": true, "127.0.0.3": true, "127.0.0.4": true}, srv.sources,
				"12 connections, 5 per address, from the second address on")
		})
	}
}

func TestHTTPEcho(t *testing.T) {
	for _, p := range httpPairs {
		t.Run(p.String(), func(t *testing.T) {
			srv := startServer(t)
			row, err := loadgen.Echo(testCtx(t), srv.targetOver(t, p), loadgen.EchoConfig{Conns: 4, Duration: 200 * time.Millisecond, Size: 100})
			require.NoError(t, err)
			assert.Positive(t, row.Ops)
			assert.Zero(t, row.Errors)
			assert.Positive(t, row.P99)
		})
	}
}

// TestHTTPFanOut: every subscriber gets every message exactly once, and
// on long polling, with many messages in flight, polls carry several.
func TestHTTPFanOut(t *testing.T) {
	for _, p := range httpPairs {
		t.Run(p.String(), func(t *testing.T) {
			srv := startServer(t)
			row, err := loadgen.FanOut(testCtx(t), srv.targetOver(t, p), loadgen.FanOutConfig{
				Subscribers: 10, Messages: 200, Size: 64, Window: 32, Publishers: 4,
			})
			require.NoError(t, err)
			assert.Equal(t, uint64(10*200), row.Ops, "every subscriber got every message")
			assert.Zero(t, row.Lost)
			assert.Zero(t, row.Errors)
			assert.GreaterOrEqual(t, row.MsgsPerFrame, 1.0)
			if p.tr == loadgen.LongPolling {
				assert.Greater(t, row.MsgsPerFrame, 1.0, "polls return batches")
			}
		})
	}
}

// TestHTTPFanOutPublishVia: subscribers on one transport, the publisher
// on another (WebSockets); the row is the subscribers'.
func TestHTTPFanOutPublishVia(t *testing.T) {
	srv := startServer(t)
	ws, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: srv.url})
	require.NoError(t, err)
	row, err := loadgen.FanOut(testCtx(t), srv.targetOver(t, httpPairs[1]), loadgen.FanOutConfig{
		Subscribers: 10, Messages: 100, Size: 64, Window: 32, PublishVia: ws,
	})
	require.NoError(t, err)
	assert.Equal(t, "gosignalr/lp/json", row.Server)
	assert.Equal(t, uint64(10*100), row.Ops)
	assert.Zero(t, row.Lost)
	assert.Zero(t, row.Errors)
	assert.Equal(t, 0, ws.Open(), "the publisher was closed")
}

func TestHTTPGroups(t *testing.T) {
	for _, p := range httpPairs {
		t.Run(p.String(), func(t *testing.T) {
			srv := startServer(t)
			row, err := loadgen.FanOut(testCtx(t), srv.targetOver(t, p), loadgen.FanOutConfig{
				Subscribers: 12, Groups: 3, Publishers: 2, Messages: 30, Size: 100,
			})
			require.NoError(t, err)
			assert.Equal(t, uint64(30*4), row.Ops, "each message reaches its group of 4 only")
			assert.Zero(t, row.Lost)
			assert.Zero(t, row.Errors)
		})
	}
}

// TestHTTPCloseReason: a connection the server closes with an error
// reports the reason and ends, and the driver forgets it.
func TestHTTPCloseReason(t *testing.T) {
	srv := startServer(t, signalr.WithMaxReceiveMessageSize(1000))
	for _, p := range httpPairs {
		t.Run(p.String(), func(t *testing.T) {
			d, err := loadgen.NewSignalRHTTP(p.tr, loadgen.SignalROptions{URL: srv.url, Protocol: p.p})
			require.NoError(t, err)
			checkCloseReason(t, d)
		})
	}
}

// TestHTTPCloseEndsServerSide: Close ends the connection on the server
// too, and the server then refuses its token.
func TestHTTPCloseEndsServerSide(t *testing.T) {
	srv := startServer(t)
	for _, p := range httpPairs {
		t.Run(p.String(), func(t *testing.T) {
			d, err := loadgen.NewSignalRHTTP(p.tr, loadgen.SignalROptions{URL: srv.url, Protocol: p.p})
			require.NoError(t, err)
			got := make(chan string, 1)
			c, err := d.Dial(testCtx(t), loadgen.SourceIP(0), loadgen.DialOptions{Subscribe: true, Group: "room",
				OnMessage: func(b []byte, _ time.Time) { got <- string(b) }})
			require.NoError(t, err)
			require.NoError(t, c.Publish(testCtx(t), "room", []byte("line one\nline two")))
			select {
			case s := <-got:
				assert.Equal(t, "line one\nline two", s, "a payload with a newline arrives whole")
			case <-time.After(5 * time.Second):
				t.Fatal("no broadcast")
			}
			require.NoError(t, c.Close())
			assert.Empty(t, c.CloseReason())
			assert.Equal(t, 0, d.Open())
			require.Eventually(t, func() bool {
				s, err := loadgen.FetchStats(testCtx(t), srv.statsURL, false)
				return err == nil && s.Conns == 0
			}, 5*time.Second, 10*time.Millisecond, "the server ended the connection")
		})
	}
}

// TestReadEvent parses server-sent events as the SSE specification says:
// data lines joined by newlines, comments and other fields skipped, CRLF
// or LF line ends, lines longer than the reader's buffer.
func TestReadEvent(t *testing.T) {
	long := strings.Repeat("y", 5000)
	in := ":\r\n\r\ndata: a\r\ndata:b\r\nid: 7\r\n\r\nevent: x\ndata: " + long + "\n\n: only a comment\n\ndata: end"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []string
	for {
		ev, err := loadgen.ReadEvent(br, nil)
		if err != nil {
			break
		}
		got = append(got, string(ev))
	}
	assert.Equal(t, []string{"a\nb", long}, got, "an event cut off before its blank line is not delivered")
}
