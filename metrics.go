package signalr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/transport"
)

// MeterName is the instrumentation scope of the hub's metrics: the name of
// the meter WithMeterProvider asks its provider for.
const MeterName = "github.com/gosignalr/signalr"

// Instrument names. The first two are ASP.NET Core SignalR's (meter
// Microsoft.AspNetCore.Http.Connections), with its attributes and values,
// so that dashboards made for it read these too; the others are this
// library's own. The package documentation's Metrics section lists them.
const (
	metricActiveConnections  = "signalr.server.active_connections"
	metricConnectionDuration = "signalr.server.connection.duration"
	metricReceivedMessages   = "signalr.server.received.messages"
	metricSentMessages       = "signalr.server.sent.messages"
	metricReceivedBytes      = "signalr.server.received.bytes"
	metricSentBytes          = "signalr.server.sent.bytes"
	metricInvocationDuration = "signalr.server.invocation.duration"
	metricInvocationErrors   = "signalr.server.invocation.errors"
	metricSlowConsumers      = "signalr.server.slow_consumers"
	metricPublishDuration    = "signalr.backplane.publish.duration"
	metricPublishErrors      = "signalr.backplane.publish.errors"
)

// Instruments of the backplane's health.
const (
	metricBackplaneConnected     = "signalr.backplane.connected"
	metricBackplaneInterruptions = "signalr.backplane.interruptions"
)

// Attribute keys.
const (
	attrTransport        = "signalr.transport"         // web_sockets, server_sent_events, long_polling
	attrConnectionStatus = "signalr.connection.status" // normal_closure, timeout, app_shutdown
	attrMethod           = "rpc.method"                // a hub method, as declared in Go
	attrInvocationStatus = "signalr.invocation.status" // ok, error
	attrErrorType        = "error.type"                // see invokeErrorNames
)

// Bucket boundaries, in seconds: ASP.NET Core's for connection durations
// and for short operations (its http.server.request.duration).
var (
	longSecondsBuckets  = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}
	shortSecondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
)

// WithMeterProvider records the hub's metrics with mp (an OpenTelemetry
// MeterProvider, such as the SDK's or a bridge to Prometheus), under the
// meter named MeterName. By default no metrics are recorded, and the code
// paths that would record them cost a nil check. The instruments are
// listed in the package documentation's Metrics section. A hub stops
// reporting its counters of messages and bytes when Shutdown is called.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.metrics.provider = mp }
}

// metricsConfig is the metrics part of a hub's configuration.
type metricsConfig struct {
	provider metric.MeterProvider
}

// Connection end statuses (ASP.NET Core's HttpConnectionStopStatus).
const (
	statusNormal = iota
	statusTimeout
	statusShutdown
	numStatuses
)

var statusNames = [numStatuses]string{"normal_closure", "timeout", "app_shutdown"}

// transportLabel is a transport's name as ASP.NET Core writes it in
// metrics: "WebSockets" is "web_sockets", "LongPolling" "long_polling".
func transportLabel(name string) string {
	b := make([]byte, 0, len(name)+4)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			if i > 0 && 'a' <= name[i-1] && name[i-1] <= 'z' {
				b = append(b, '_')
			}
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// transportMetricAttrs are the attribute sets of one transport.
type transportMetricAttrs struct {
	active   []metric.AddOption
	duration [numStatuses][]metric.RecordOption
}

func newTransportMetricAttrs(name string) *transportMetricAttrs {
	t := attribute.String(attrTransport, transportLabel(name))
	a := &transportMetricAttrs{active: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(t))}}
	for s, sn := range statusNames {
		set := attribute.NewSet(t, attribute.String(attrConnectionStatus, sn))
		a.duration[s] = []metric.RecordOption{metric.WithAttributeSet(set)}
	}
	return a
}

// attrsOf returns the attribute sets of the transport named name:
// made once for the transports of package transport, on each call for any
// other.
func (m *hubMetrics) attrsOf(name string) *transportMetricAttrs {
	if a := m.transportAttrs[name]; a != nil {
		return a
	}
	return newTransportMetricAttrs(name)
}

// Why an invocation failed: the values of attrErrorType.
const (
	invokeUnknownMethod = iota
	invokeInvalid
	invokeUnauthorized
	invokeHubError
	invokePanic
	invokeError
	numInvokeErrors
)

var invokeErrorNames = [numInvokeErrors]string{"unknown_method", "invalid_invocation", "unauthorized", "hub_error", "panic", "error"}

// hubMetrics records a hub's metrics. A hub without a MeterProvider has a
// nil *hubMetrics, and every method of a nil *hubMetrics returns at once.
type hubMetrics struct {
	activeConns   metric.Int64UpDownCounter
	connDuration  metric.Float64Histogram
	invDuration   metric.Float64Histogram
	invErrors     metric.Int64Counter
	slowConsumers metric.Int64Counter
	publishDur    metric.Float64Histogram
	publishErrors metric.Int64Counter
	callback      metric.Registration

	// The backplane's health: the gauge reads cluster's state when
	// collected.
	busInterruptions metric.Int64Counter
	busCallback      metric.Registration
	busCluster       atomic.Pointer[cluster]

	// Attribute sets, made once so that recording allocates nothing.
	transportAttrs map[string]*transportMetricAttrs // by transport name
	methods        map[*method]*methodAttrs
	unknownMethod  []metric.AddOption

	// Messages and bytes are counted with atomics and reported by a
	// callback at collection time: they are counted once per message, and
	// an atomic add is the cheapest way to do it. In and out are on
	// separate cache lines since readers and writers run on many cores.
	in  ioCounters
	out ioCounters
}

type ioCounters struct {
	msgs, bytes atomic.Int64
	_           [48]byte
}

// methodAttrs are a hub method's attribute sets.
type methodAttrs struct {
	ok, failed []metric.RecordOption
	errors     [numInvokeErrors][]metric.AddOption
}

// newHubMetrics makes the instruments of a hub serving methods; it returns
// nil when mp is nil.
func newHubMetrics(mp metric.MeterProvider, methods map[string]*method) (*hubMetrics, error) {
	if mp == nil {
		return nil, nil
	}
	meter := mp.Meter(MeterName)
	m := &hubMetrics{methods: make(map[*method]*methodAttrs, len(methods))}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.activeConns, err = meter.Int64UpDownCounter(metricActiveConnections,
		metric.WithUnit("{connection}"),
		metric.WithDescription("Number of connections that are currently active on the server."))
	check(err)
	m.connDuration, err = meter.Float64Histogram(metricConnectionDuration,
		metric.WithUnit("s"),
		metric.WithDescription("The duration of connections on the server."),
		metric.WithExplicitBucketBoundaries(longSecondsBuckets...))
	check(err)
	m.invDuration, err = meter.Float64Histogram(metricInvocationDuration,
		metric.WithUnit("s"),
		metric.WithDescription("The duration of hub method invocations, from the start of the method to its return."),
		metric.WithExplicitBucketBoundaries(shortSecondsBuckets...))
	check(err)
	m.invErrors, err = meter.Int64Counter(metricInvocationErrors,
		metric.WithUnit("{invocation}"),
		metric.WithDescription("Number of invocations answered with an error."))
	check(err)
	m.slowConsumers, err = meter.Int64Counter(metricSlowConsumers,
		metric.WithUnit("{connection}"),
		metric.WithDescription("Number of connections closed as slow consumers (clients that did not read their messages)."))
	check(err)
	m.publishDur, err = meter.Float64Histogram(metricPublishDuration,
		metric.WithUnit("s"),
		metric.WithDescription("The time the backplane took to accept a published message."),
		metric.WithExplicitBucketBoundaries(shortSecondsBuckets...))
	check(err)
	m.publishErrors, err = meter.Int64Counter(metricPublishErrors,
		metric.WithUnit("{message}"),
		metric.WithDescription("Number of messages the backplane failed to publish."))
	check(err)
	inMsgs, err := meter.Int64ObservableCounter(metricReceivedMessages,
		metric.WithUnit("{message}"),
		metric.WithDescription("Number of SignalR messages received from clients, the handshake included."))
	check(err)
	outMsgs, err := meter.Int64ObservableCounter(metricSentMessages,
		metric.WithUnit("{message}"),
		metric.WithDescription("Number of SignalR messages written to clients, the handshake included."))
	check(err)
	inBytes, err := meter.Int64ObservableCounter(metricReceivedBytes,
		metric.WithUnit("By"),
		metric.WithDescription("Bytes of SignalR messages received from clients, without transport framing."))
	check(err)
	outBytes, err := meter.Int64ObservableCounter(metricSentBytes,
		metric.WithUnit("By"),
		metric.WithDescription("Bytes of SignalR messages written to clients, without transport framing."))
	check(err)
	if len(errs) == 0 {
		m.callback, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveInt64(inMsgs, m.in.msgs.Load())
			o.ObserveInt64(outMsgs, m.out.msgs.Load())
			o.ObserveInt64(inBytes, m.in.bytes.Load())
			o.ObserveInt64(outBytes, m.out.bytes.Load())
			return nil
		}, inMsgs, outMsgs, inBytes, outBytes)
		check(err)
	}
	m.busInterruptions, err = meter.Int64Counter(metricBackplaneInterruptions,
		metric.WithUnit("{interruption}"),
		metric.WithDescription("Number of times messages from other nodes may have been lost: the backplane disconnected, came back, or dropped messages."))
	check(err)
	busConnected, err := meter.Int64ObservableGauge(metricBackplaneConnected,
		metric.WithUnit("1"),
		metric.WithDescription("1 while the node is connected to its backplane, 0 while it is not; not reported without a backplane that reports its health."))
	check(err)
	if len(errs) == 0 {
		m.busCallback, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			if cl := m.busCluster.Load(); cl != nil {
				if bh := cl.health.Load(); bh != nil {
					v := int64(0)
					if bh.state == backplane.Connected {
						v = 1
					}
					o.ObserveInt64(busConnected, v)
				}
			}
			return nil
		}, busConnected)
		check(err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("signalr: WithMeterProvider: %w", errors.Join(errs...))
	}

	m.transportAttrs = make(map[string]*transportMetricAttrs)
	for _, name := range transport.Names() {
		m.transportAttrs[name] = newTransportMetricAttrs(name)
	}
	for _, hm := range methods {
		name := attribute.String(attrMethod, hm.name)
		a := &methodAttrs{
			ok:     []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(name, attribute.String(attrInvocationStatus, "ok")))},
			failed: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(name, attribute.String(attrInvocationStatus, "error")))},
		}
		for e, en := range invokeErrorNames {
			a.errors[e] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(name, attribute.String(attrErrorType, en)))}
		}
		m.methods[hm] = a
	}
	m.unknownMethod = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(attrErrorType, invokeErrorNames[invokeUnknownMethod])))}
	return m, nil
}

// close stops reporting the message and byte counters.
func (m *hubMetrics) close() {
	if m == nil || m.callback == nil {
		return
	}
	_ = m.callback.Unregister()
	if m.busCallback != nil {
		_ = m.busCallback.Unregister()
	}
}

// connectionStarted counts c as active.
func (m *hubMetrics) connectionStarted(c *conn) {
	if m == nil {
		return
	}
	m.activeConns.Add(context.Background(), 1, m.attrsOf(c.t0.Name()).active...)
}

// connectionEnded counts c as gone and records how long it lasted and why
// it ended.
func (m *hubMetrics) connectionEnded(c *conn, reason error) {
	if m == nil {
		return
	}
	ta := m.attrsOf(c.t0.Name())
	ctx := context.Background()
	m.activeConns.Add(ctx, -1, ta.active...)
	m.connDuration.Record(ctx, time.Since(c.created).Seconds(), ta.duration[connectionStatus(c, reason)]...)
}

// connectionStatus maps why a connection ended to ASP.NET Core's statuses.
func connectionStatus(c *conn, reason error) int {
	switch {
	case errors.Is(reason, ErrHubClosed):
		return statusShutdown
	case errors.Is(reason, ErrClientTimeout),
		errors.Is(reason, ErrHandshakeTimeout),
		errors.Is(reason, os.ErrDeadlineExceeded):
		return statusTimeout
	case transport.TimedOut(c.t0):
		return statusTimeout // long polling: no poll within the disconnect timeout
	case c.proto == nil && time.Since(c.created) >= c.hub.cfg.handshakeTimeout:
		return statusTimeout // no handshake within the handshake timeout
	}
	return statusNormal
}

// received counts one message of n bytes read from a client.
func (m *hubMetrics) received(n int) {
	if m == nil {
		return
	}
	m.in.msgs.Add(1)
	m.in.bytes.Add(int64(n))
}

// wrote counts the messages of a batch the writer handed to the transport.
func (m *hubMetrics) wrote(batch [][]byte, err error) {
	if m == nil || err != nil {
		return
	}
	n := 0
	for _, b := range batch {
		n += len(b)
	}
	m.out.msgs.Add(int64(len(batch)))
	m.out.bytes.Add(int64(n))
}

// wroteFrame counts one message written outside the writer (the handshake
// response on WebSockets).
func (m *hubMetrics) wroteFrame(b []byte, err error) {
	if m == nil || err != nil {
		return
	}
	m.out.msgs.Add(1)
	m.out.bytes.Add(int64(len(b)))
}

// closing notes why a connection starts closing; it is called at most once
// per connection. Slow consumers are counted.
func (m *hubMetrics) closing(reason error) {
	if m == nil || !errors.Is(reason, ErrSlowConsumer) {
		return
	}
	m.slowConsumers.Add(context.Background(), 1)
}

// now is the start time of something to be measured; zero without metrics.
func (m *hubMetrics) now() time.Time {
	if m == nil {
		return time.Time{}
	}
	return time.Now()
}

// invoked records an invocation of hm that started at start and returned
// err.
func (m *hubMetrics) invoked(hm *method, start time.Time, err error) {
	if m == nil {
		return
	}
	a := m.methods[hm]
	if a == nil {
		return
	}
	ctx := context.Background()
	d := time.Since(start).Seconds()
	if err == nil {
		m.invDuration.Record(ctx, d, a.ok...)
		return
	}
	m.invDuration.Record(ctx, d, a.failed...)
	kind := invokeError
	var he *HubError
	var pe *panicError
	switch {
	case errors.As(err, &he):
		kind = invokeHubError
	case errors.As(err, &pe):
		kind = invokePanic
	}
	m.invErrors.Add(ctx, 1, a.errors[kind]...)
}

// refused counts an invocation of hm answered with an error without
// running: kind is one of invokeUnknownMethod (hm nil), invokeInvalid and
// invokeUnauthorized.
func (m *hubMetrics) refused(hm *method, kind int) {
	if m == nil {
		return
	}
	ctx := context.Background()
	if a := m.methods[hm]; a != nil {
		m.invErrors.Add(ctx, 1, a.errors[kind]...)
		return
	}
	m.invErrors.Add(ctx, 1, m.unknownMethod...)
}

// backplane returns bp, measured when metrics are on.
func (m *hubMetrics) backplane(bp backplane.Backplane) backplane.Backplane {
	if m == nil {
		return bp
	}
	return &meteredBackplane{Backplane: bp, m: m}
}

// meteredBackplane measures a backplane's publishes.
type meteredBackplane struct {
	backplane.Backplane
	m *hubMetrics
}

// Publish publishes through the measured backplane, recording how long it
// took and whether it failed.
func (b *meteredBackplane) Publish(ctx context.Context, subject string, data []byte) error {
	start := time.Now()
	err := b.Backplane.Publish(ctx, subject, data)
	b.m.publishDur.Record(ctx, time.Since(start).Seconds())
	if err != nil {
		b.m.publishErrors.Add(ctx, 1)
	}
	return err
}

// watchBackplane makes the backplane.connected gauge report cl's health.
func (m *hubMetrics) watchBackplane(cl *cluster) {
	if m == nil {
		return
	}
	m.busCluster.Store(cl)
}

// backplaneInterrupted counts an interruption of the backplane.
func (m *hubMetrics) backplaneInterrupted() {
	if m == nil {
		return
	}
	m.busInterruptions.Add(context.Background(), 1)
}
