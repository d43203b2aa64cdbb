package signalr_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/redistest"
)

// disconnectHub records why its connections ended.
type disconnectHub struct{ reasons chan error }

func (h disconnectHub) Ping() string { return "pong" }

func (h disconnectHub) OnDisconnected(_ *signalr.Context, err error) {
	select {
	case h.reasons <- err:
	default:
	}
}

// TestBackplaneInterruptionNATS restarts the NATS server under two nodes
// while one sends a numbered stream to a client of the other; see
// testBackplaneInterruption.
func TestBackplaneInterruptionNATS(t *testing.T) {
	natsURL, stop := startNATS(t, 0)
	port, _ := strconv.Atoi(natsURL[len("nats://127.0.0.1:"):])
	testBackplaneInterruption(t, func() backplane.Backplane {
		bp, err := natsbp.Connect(natsURL, natsbp.WithPrefix("interrupt"))
		require.NoError(t, err)
		return bp
	}, stop, func() { startNATS(t, port) })
}

// TestBackplaneInterruptionRedis is TestBackplaneInterruptionNATS over a
// Redis server killed and started again on the same port.
func TestBackplaneInterruptionRedis(t *testing.T) {
	srv := redistest.Start(t, 0)
	testBackplaneInterruption(t, func() backplane.Backplane {
		bp, err := redisbp.Connect(srv.URL(), redisbp.WithPrefix("interrupt"))
		require.NoError(t, err)
		return bp
	}, srv.Stop, func() { redistest.Start(t, srv.Port) })
}

// epoch is what one connection of the receiving client saw.
type epoch struct {
	got      []int          // numbers received, in order
	closeMsg map[string]any // the Close message, if the server sent one
	endErr   error          // how the socket ended, if it did
}

// testBackplaneInterruption: node 0 sends numbered messages to All, node
// 1's client reads them (reconnecting whenever closed), and the bus's
// server stops and comes back meanwhile. Every message is either
// delivered in order, or its Send returned an error, or the connection
// that missed it was closed with a Close message that says why, allows
// reconnecting, and reaches OnDisconnected as ErrBackplaneInterrupted.
// Local delivery goes on during the outage, Hub.BackplaneErr and the
// signalr.backplane.connected gauge follow the bus, and delivery resumes
// by itself.
func testBackplaneInterruption(t *testing.T, newBackplane func() backplane.Backplane, stopBus, startBus func()) {
	metrics, metricsOpt := newMetrics(t)
	reasons := make(chan error, 100)
	var hubs []*signalr.Hub
	var urls []string
	for i := range 2 {
		bp := newBackplane()
		opts := []signalr.Option{
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithBackplane(bp), signalr.WithHubName("interrupt"),
			signalr.WithPresenceInterval(200 * time.Millisecond),
		}
		if i == 1 {
			opts = append(opts, metricsOpt)
		}
		h, err := signalr.New(disconnectHub{reasons: reasons}, opts...)
		require.NoError(t, err)
		hubs, urls = append(hubs, h), append(urls, hubtest.ServeHub(t, h, bp))
	}
	for _, h := range hubs {
		require.NoError(t, h.BackplaneErr())
	}
	gauge := func() (int64, bool) {
		m, ok := metrics.find("signalr.backplane.connected")
		if !ok {
			return 0, false
		}
		g, ok := m.Data.(metricdata.Gauge[int64])
		if !ok || len(g.DataPoints) != 1 {
			return 0, false
		}
		return g.DataPoints[0].Value, true
	}
	v, ok := gauge()
	require.True(t, ok, "signalr.backplane.connected not reported")
	require.EqualValues(t, 1, v)

	// The receiver: node 1's client, reconnecting whenever closed, until
	// it reads "end".
	var (
		mu      sync.Mutex
		epochs  []*epoch
		cur     *websocket.Conn
		recvErr error
	)
	done := make(chan struct{})
	stopRecv := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stopRecv:
				return
			default:
			}
			ws, err := dialHandshake(urls[1])
			if err != nil {
				mu.Lock()
				recvErr = err
				mu.Unlock()
				return
			}
			ep := &epoch{}
			mu.Lock()
			epochs, cur = append(epochs, ep), ws
			mu.Unlock()
			end := readEpoch(ws, ep, &mu)
			ws.Close()
			if end {
				return
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		close(stopRecv)
		if cur != nil {
			cur.Close()
		}
		mu.Unlock()
		<-done
	})

	// The sender: numbered messages to All from node 0.
	var (
		smu     sync.Mutex
		sendErr = map[int]error{}
		sent    int
	)
	send := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := hubs[0].Clients().All().Send(ctx, "receive", "m-"+strconv.Itoa(i))
		smu.Lock()
		sendErr[i], sent = err, i+1
		smu.Unlock()
		return err
	}
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ep := range epochs {
			n += len(ep.got)
		}
		return n
	}
	// Warm up: until the client receives.
	i := 0
	require.Eventually(t, func() bool { _ = send(i); i++; return received() > 0 }, 10*time.Second, 20*time.Millisecond)

	stopSend, sendDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sendDone)
		for {
			select {
			case <-stopSend:
				return
			case <-time.After(2 * time.Millisecond):
			}
			_ = send(i)
			i++
		}
	}()
	time.Sleep(300 * time.Millisecond)

	stopBus()
	for _, h := range hubs {
		require.Eventually(t, func() bool { return h.BackplaneErr() != nil }, 20*time.Second, 10*time.Millisecond,
			"BackplaneErr during the outage")
		err := h.BackplaneErr()
		require.ErrorIs(t, err, signalr.ErrBackplaneInterrupted)
		t.Logf("BackplaneErr during the outage: %v", err)
	}
	metrics.eventually("the gauge at 0", func() bool { v, ok := gauge(); return ok && v == 0 })

	// Local delivery goes on: a client of node 0 connected during the
	// outage receives node 0's sends, which report that they could not
	// reach the other node.
	local := hubtest.ConnectJSON(t, urls[0])
	// A round trip: a connection is reachable by sends once registered,
	// just after its handshake reply.
	pingID := local.Invoke("Ping")
	for n := 0; ; n++ {
		require.Less(t, n, 100000, "no completion for Ping")
		if m := local.Next(); m["type"] == float64(3) && m["invocationId"] == pingID {
			break
		}
	}
	require.Eventually(t, func() bool {
		return hubs[0].Clients().All().Send(context.Background(), "local", "x") != nil
	}, 20*time.Second, 10*time.Millisecond)
	for n := 0; ; n++ {
		require.Less(t, n, 100000, "the local client did not receive the local send")
		m := local.Next()
		if m["target"] == "local" {
			break
		}
		require.Equal(t, float64(1), m["type"], "local client: %v", m)
	}
	time.Sleep(500 * time.Millisecond)

	startBus()
	for _, h := range hubs {
		require.Eventually(t, func() bool { return h.BackplaneErr() == nil }, 30*time.Second, 10*time.Millisecond,
			"BackplaneErr after the restart")
	}
	metrics.eventually("the gauge back at 1", func() bool { v, ok := gauge(); return ok && v == 1 })
	// At least the loss and the return of the link.
	require.GreaterOrEqual(t, metrics.sum("signalr.backplane.interruptions"), int64(2))
	// Delivery resumes: the client gets messages sent after the restart.
	mark := received()
	require.Eventually(t, func() bool { return received() > mark+10 }, 30*time.Second, 10*time.Millisecond,
		"cross-node delivery did not resume")
	close(stopSend)
	<-sendDone

	// The end marker, until it arrives.
	require.Eventually(t, func() bool {
		_ = hubs[0].Clients().All().Send(context.Background(), "receive", "end")
		select {
		case <-done:
			return true
		default:
			return false
		}
	}, 30*time.Second, 50*time.Millisecond, "the end marker was not received")

	mu.Lock()
	defer mu.Unlock()
	smu.Lock()
	defer smu.Unlock()
	require.NoError(t, recvErr)
	failed := 0
	for _, err := range sendErr {
		if err != nil {
			failed++
		}
	}
	require.Positive(t, failed, "no Send reported the outage")
	closed := 0
	for k, ep := range epochs {
		last := k == len(epochs)-1
		if !last {
			require.NotNil(t, ep.closeMsg, "connection %d ended without a Close message: %v", k, ep.endErr)
			require.Equal(t, true, ep.closeMsg["allowReconnect"], "connection %d: %v", k, ep.closeMsg)
			require.Contains(t, ep.closeMsg["error"], "interrupted", "connection %d: %v", k, ep.closeMsg)
			closed++
		}
		// In order, and without a gap of messages whose Send succeeded,
		// unless the connection was closed for it.
		for j := 1; j < len(ep.got); j++ {
			require.Greater(t, ep.got[j], ep.got[j-1], "connection %d: out of order: %v", k, ep.got)
			if ep.closeMsg != nil {
				continue
			}
			for m := ep.got[j-1] + 1; m < ep.got[j]; m++ {
				require.Error(t, sendErr[m], "connection %d (never closed) missed message %d, whose Send succeeded", k, m)
			}
		}
		if last && len(ep.got) > 0 {
			for m := ep.got[len(ep.got)-1] + 1; m < sent; m++ {
				require.Error(t, sendErr[m], "the last connection missed message %d, whose Send succeeded", m)
			}
		}
	}
	require.Positive(t, closed, "no connection was closed for the interruption")
	t.Logf("%d messages sent, %d failed; the client connected %d times", sent, failed, len(epochs))

	// OnDisconnected heard why.
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-reasons:
			t.Logf("OnDisconnected: %v", err)
			if errors.Is(err, signalr.ErrBackplaneInterrupted) {
				return
			}
		case <-timeout:
			t.Fatal("OnDisconnected did not receive ErrBackplaneInterrupted")
		}
	}
}

// dialHandshake opens a JSON WebSocket connection to the hub at baseURL.
func dialHandshake(baseURL string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/hub"
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"json","version":1}`+"\x1e")); err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != "{}\x1e" {
		ws.Close()
		return nil, errors.Join(err, errors.New("bad handshake reply: "+string(b)))
	}
	return ws, nil
}

// readEpoch reads one connection until it ends (false) or "end" arrives
// (true).
func readEpoch(ws *websocket.Conn, ep *epoch, mu *sync.Mutex) bool {
	for {
		// The server pings every 15s.
		_ = ws.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			mu.Lock()
			ep.endErr = err
			mu.Unlock()
			return false
		}
		for _, rec := range strings.Split(strings.TrimSuffix(string(b), "\x1e"), "\x1e") {
			var m map[string]any
			if json.Unmarshal([]byte(rec), &m) != nil {
				continue
			}
			switch m["type"] {
			case float64(7):
				mu.Lock()
				ep.closeMsg = m
				mu.Unlock()
			case float64(1):
				args, _ := m["arguments"].([]any)
				if len(args) != 1 {
					continue
				}
				s, _ := args[0].(string)
				if s == "end" {
					return true
				}
				if n, err := strconv.Atoi(strings.TrimPrefix(s, "m-")); err == nil {
					mu.Lock()
					ep.got = append(ep.got, n)
					mu.Unlock()
				}
			}
		}
	}
}
