package signalr_test

import (
	"context"
	"errors"
	"net/http"
	neturl "net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosignalr/signalr/client"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// metricsHub is the hub of the metrics tests.
type metricsHub struct{}

func (metricsHub) Echo(s string) string { return s }
func (metricsHub) Fail() error          { return signalr.NewHubError("refused") }
func (metricsHub) Broken() error        { return errors.New("broken") }
func (metricsHub) Crash()               { panic("crash") }
func (metricsHub) Secret() string       { return "secret" }

// Flood broadcasts n messages of size bytes, or fewer if the caller's
// connection closes first.
func (metricsHub) Flood(c *signalr.Context, n, size int) error {
	payload := strings.Repeat("x", size)
	for i := 0; i < n && c.Err() == nil; i++ {
		if err := c.Clients().All().Send(c, "flood", payload); err != nil {
			return err
		}
	}
	return nil
}

// metricsReader reads what a hub records, from an SDK MeterProvider with a
// manual reader.
type metricsReader struct {
	t *testing.T
	r *sdkmetric.ManualReader
}

// newMetrics returns a reader and the option that makes a hub record into
// it.
func newMetrics(t *testing.T) (*metricsReader, signalr.Option) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, mp.Shutdown(ctx))
	})
	return &metricsReader{t: t, r: r}, signalr.WithMeterProvider(mp)
}

// find returns the metric called name in the hub's scope.
func (m *metricsReader) find(name string) (metricdata.Metrics, bool) {
	m.t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(m.t, m.r.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != signalr.MeterName {
			continue
		}
		for _, mt := range sm.Metrics {
			if mt.Name == name {
				return mt, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// sum returns the value of the data point of the sum called name whose
// attributes are exactly attrs; 0 when there is none.
func (m *metricsReader) sum(name string, attrs ...attribute.KeyValue) int64 {
	m.t.Helper()
	mt, ok := m.find(name)
	if !ok {
		return 0
	}
	s, ok := mt.Data.(metricdata.Sum[int64])
	require.True(m.t, ok, "%s is a %T, not an int64 sum", name, mt.Data)
	want := attribute.NewSet(attrs...)
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	return 0
}

// histogram returns the count and sum of the data point of the histogram
// called name whose attributes are exactly attrs.
func (m *metricsReader) histogram(name string, attrs ...attribute.KeyValue) (uint64, float64) {
	m.t.Helper()
	mt, ok := m.find(name)
	if !ok {
		return 0, 0
	}
	h, ok := mt.Data.(metricdata.Histogram[float64])
	require.True(m.t, ok, "%s is a %T, not a float64 histogram", name, mt.Data)
	want := attribute.NewSet(attrs...)
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Count, dp.Sum
		}
	}
	return 0, 0
}

func (m *metricsReader) count(name string, attrs ...attribute.KeyValue) uint64 {
	m.t.Helper()
	n, _ := m.histogram(name, attrs...)
	return n
}

// eventually waits until f reports true, failing after five seconds.
func (m *metricsReader) eventually(what string, f func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		require.True(m.t, time.Now().Before(deadline), "timed out waiting: %s", what)
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	attrWS       = attribute.String("signalr.transport", "web_sockets")
	attrSSE      = attribute.String("signalr.transport", "server_sent_events")
	attrLP       = attribute.String("signalr.transport", "long_polling")
	attrNormal   = attribute.String("signalr.connection.status", "normal_closure")
	attrTimeout  = attribute.String("signalr.connection.status", "timeout")
	attrShutdown = attribute.String("signalr.connection.status", "app_shutdown")
)

const (
	mActive   = "signalr.server.active_connections"
	mDuration = "signalr.server.connection.duration"
)

func TestMetricsConnectionsComeAndGo(t *testing.T) {
	m, opt := newMetrics(t)
	h, url := hubtest.StartHub(t, metricsHub{}, opt)
	require.Zero(t, m.sum(mActive, attrWS))

	a := hubtest.ConnectJSON(t, url)
	b := hubtest.ConnectJSON(t, url)
	m.eventually("two active connections", func() bool { return m.sum(mActive, attrWS) == 2 })
	require.Zero(t, m.count(mDuration, attrWS, attrNormal), "no connection has ended")

	// The client closes: a normal closure.
	a.SendText(`{"type":7}` + "\x1e")
	_, _ = a.ExpectClosed()
	m.eventually("one connection left", func() bool { return m.sum(mActive, attrWS) == 1 })
	m.eventually("its duration recorded", func() bool { return m.count(mDuration, attrWS, attrNormal) == 1 })
	_, secs := m.histogram(mDuration, attrWS, attrNormal)
	require.Positive(t, secs)

	// The hub shuts down: the other ends with app_shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A round trip first: a connection still finishing its handshake
	// gets no Close message. The client reads meanwhile, and so answers
	// the close frame that Shutdown waits for.
	b.Sync()
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(ctx) }()
	closeMsg, _ := b.ExpectClosed()
	require.NoError(t, <-shut)
	require.Equal(t, true, closeMsg["allowReconnect"], "%v", closeMsg)
	m.eventually("no connection left", func() bool { return m.sum(mActive, attrWS) == 0 })
	m.eventually("its duration recorded", func() bool { return m.count(mDuration, attrWS, attrShutdown) == 1 })
	require.EqualValues(t, 1, m.count(mDuration, attrWS, attrNormal))
	require.Zero(t, m.count(mDuration, attrWS, attrTimeout))

	// A hub that has shut down reports no more message counters.
	_, ok := m.find("signalr.server.received.messages")
	require.False(t, ok)
}

func TestMetricsTransportsAndTimeouts(t *testing.T) {
	t.Run("ServerSentEvents", func(t *testing.T) {
		m, opt := newMetrics(t)
		_, url := hubtest.StartHub(t, metricsHub{}, opt)
		c, err := client.New(url+"/hub", client.WithTransports("ServerSentEvents"))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Start(ctx))
		m.eventually("the stream counted", func() bool { return m.sum(mActive, attrSSE) == 1 })
		require.Zero(t, m.sum(mActive, attrWS))
		require.NoError(t, c.Stop(ctx))
		m.eventually("the stream's end recorded", func() bool { return m.count(mDuration, attrSSE, attrNormal) == 1 })
		require.Zero(t, m.sum(mActive, attrSSE))
	})
	t.Run("LongPollingDisconnectTimeout", func(t *testing.T) {
		m, opt := newMetrics(t)
		_, url := hubtest.StartHub(t, metricsHub{}, opt, signalr.WithLongPollTimeouts(time.Second, 100*time.Millisecond))
		// A client that negotiates, shakes hands, polls once and stops.
		n := hubtest.NegotiateOK(t, url, "?negotiateVersion=1")
		target := url + "/hub?id=" + neturl.QueryEscape(n.ConnectionToken)
		resp, err := http.Post(target, "text/plain", strings.NewReader(`{"protocol":"json","version":1}`+"\x1e"))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, body := hubtest.DoHTTP(t, http.MethodGet, target)
		require.Equal(t, "{}\x1e", body, "the handshake answer")
		require.EqualValues(t, 1, m.sum(mActive, attrLP))
		// No more polls: the hub gives up after the disconnect timeout.
		m.eventually("the timeout recorded", func() bool { return m.count(mDuration, attrLP, attrTimeout) == 1 })
		require.Zero(t, m.sum(mActive, attrLP))
		require.Zero(t, m.count(mDuration, attrLP, attrNormal))
	})
	t.Run("WebSocketClientTimeout", func(t *testing.T) {
		m, opt := newMetrics(t)
		_, url := hubtest.StartHub(t, metricsHub{}, opt, signalr.WithClientTimeout(100*time.Millisecond), signalr.WithKeepAliveInterval(signalr.Disabled))
		c := hubtest.ConnectJSON(t, url)
		c.SendText(`{"type":6}` + "\x1e") // starts the client timeout clock
		closeMsg, _ := c.ExpectClosed()
		require.Contains(t, closeMsg["error"], "client timeout")
		m.eventually("the timeout recorded", func() bool { return m.count(mDuration, attrWS, attrTimeout) == 1 })
		require.Zero(t, m.sum(mActive, attrWS))
	})
	t.Run("HandshakeTimeout", func(t *testing.T) {
		m, opt := newMetrics(t)
		_, url := hubtest.StartHub(t, metricsHub{}, opt, signalr.WithHandshakeTimeout(100*time.Millisecond))
		c := hubtest.DialRaw(t, url, "")
		_, _ = c.ExpectClosed()
		m.eventually("the timeout recorded", func() bool { return m.count(mDuration, attrWS, attrTimeout) == 1 })
		require.Zero(t, m.sum(mActive, attrWS))
	})
}

func TestMetricsMessagesAndBytes(t *testing.T) {
	m, opt := newMetrics(t)
	_, url := hubtest.StartHub(t, metricsHub{}, opt, signalr.WithKeepAliveInterval(signalr.Disabled))
	c := hubtest.DialRaw(t, url, "")
	var sentBytes, sentMsgs, readBytes, readMsgs int
	send := func(s string) {
		c.SendText(s)
		sentBytes += len(s)
		sentMsgs += strings.Count(s, "\x1e")
	}
	read := func() string {
		s := c.ReadText()
		readBytes += len(s)
		readMsgs += strings.Count(s, "\x1e")
		return s
	}
	send(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", read())
	// Two invocations in one frame, then one alone.
	send(hubtest.InvocationJSON("1", "Echo", "a") + hubtest.InvocationJSON("2", "Echo", "bb"))
	send(hubtest.InvocationJSON("3", "Echo", "ccc"))
	for got := 0; got < 3; {
		got += len(hubtest.SplitRecords(t, read()))
	}
	require.Equal(t, 4, sentMsgs)
	require.Equal(t, 4, readMsgs)

	m.eventually("every message counted", func() bool {
		return m.sum("signalr.server.received.messages") == int64(sentMsgs) &&
			m.sum("signalr.server.sent.messages") == int64(readMsgs)
	})
	require.EqualValues(t, sentBytes, m.sum("signalr.server.received.bytes"))
	require.EqualValues(t, readBytes, m.sum("signalr.server.sent.bytes"))
}

func TestMetricsInvocations(t *testing.T) {
	m, opt := newMetrics(t)
	deny := func(*signalr.Context) error { return &signalr.AuthError{Message: "no"} }
	_, url := hubtest.StartHub(t, metricsHub{}, opt, signalr.WithMethodPolicy("Secret", deny))
	c := hubtest.ConnectJSON(t, url)

	require.Equal(t, "a", c.Result("echo", "a")) // recorded under the declared name
	require.Equal(t, "b", c.Result("Echo", "b"))
	require.Contains(t, c.CallError("Fail"), "refused")
	c.CallError("Broken")
	c.CallError("Crash")
	require.Contains(t, c.CallError("Secret"), "unauthorized")
	require.Equal(t, "Failed to invoke 'Echo' due to an error on the server.", c.CallError("Echo", 1, 2))
	require.Contains(t, c.CallError("NoSuchMethod"), "Method does not exist")

	// Completions are sent after the measurements are recorded.
	const dur, errs = "signalr.server.invocation.duration", "signalr.server.invocation.errors"
	method := func(name string) attribute.KeyValue { return attribute.String("rpc.method", name) }
	ok := attribute.String("signalr.invocation.status", "ok")
	failed := attribute.String("signalr.invocation.status", "error")
	kind := func(k string) attribute.KeyValue { return attribute.String("error.type", k) }

	require.EqualValues(t, 2, m.count(dur, method("Echo"), ok))
	require.Zero(t, m.count(dur, method("Echo"), failed), "a refused call never ran")
	for _, name := range []string{"Fail", "Broken", "Crash"} {
		require.EqualValues(t, 1, m.count(dur, method(name), failed), name)
		require.Zero(t, m.count(dur, method(name), ok), name)
	}
	require.Zero(t, m.count(dur, method("Secret"), ok)+m.count(dur, method("Secret"), failed), "a refused call never ran")

	require.EqualValues(t, 1, m.sum(errs, method("Fail"), kind("hub_error")))
	require.EqualValues(t, 1, m.sum(errs, method("Broken"), kind("error")))
	require.EqualValues(t, 1, m.sum(errs, method("Crash"), kind("panic")))
	require.EqualValues(t, 1, m.sum(errs, method("Secret"), kind("unauthorized")))
	require.EqualValues(t, 1, m.sum(errs, method("Echo"), kind("invalid_invocation")))
	require.EqualValues(t, 1, m.sum(errs, kind("unknown_method")))

	// Method names a client made up never become attribute values.
	mt, found := m.find(errs)
	require.True(t, found)
	var total int64
	for _, dp := range mt.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("rpc.method")
		require.NotEqual(t, "NoSuchMethod", v.AsString())
		total += dp.Value
	}
	require.EqualValues(t, 6, total)
}

func TestMetricsSlowConsumers(t *testing.T) {
	m, opt := newMetrics(t)
	_, url := hubtest.StartHub(t, metricsHub{}, opt, signalr.WithMaxOutboundBuffer(64<<10), signalr.WithKeepAliveInterval(signalr.Disabled))
	c := hubtest.ConnectJSON(t, url)
	// 32 MiB for a client that reads nothing: more than the loopback
	// socket buffers and the queue's hard cap (4 x 64 KiB) can hold.
	c.Invoke("Flood", 2048, 16<<10)
	m.eventually("the slow consumer counted", func() bool { return m.sum("signalr.server.slow_consumers") == 1 })
	closeMsg, _ := c.ExpectClosed()
	require.Contains(t, closeMsg["error"], "did not read its messages fast enough")
	m.eventually("the connection's end recorded", func() bool { return m.count(mDuration, attrWS, attrNormal) == 1 })
	require.EqualValues(t, 1, m.sum("signalr.server.slow_consumers"))
}

// flakyBackplane fails every publish while fail is set.
type flakyBackplane struct {
	backplane.Backplane
	fail atomic.Bool
}

func (f *flakyBackplane) Publish(ctx context.Context, subject string, data []byte) error {
	if f.fail.Load() {
		return errors.New("bus down")
	}
	return f.Backplane.Publish(ctx, subject, data)
}

func TestMetricsBackplanePublish(t *testing.T) {
	m, opt := newMetrics(t)
	bp := &flakyBackplane{Backplane: backplane.NewMemory()}
	t.Cleanup(func() { bp.Close() })
	h, _ := hubtest.StartHub(t, metricsHub{}, opt, signalr.WithBackplane(bp), signalr.WithHubName("metrics"))
	const dur, errs = "signalr.backplane.publish.duration", "signalr.backplane.publish.errors"
	ctx := context.Background()

	before := m.count(dur)
	require.NoError(t, h.Clients().All().Send(ctx, "news", 1))
	require.GreaterOrEqual(t, m.count(dur), before+1)

	failedBefore := m.sum(errs)
	bp.fail.Store(true)
	require.Error(t, h.Clients().All().Send(ctx, "news", 2))
	bp.fail.Store(false)
	require.GreaterOrEqual(t, m.sum(errs), failedBefore+1)
}
