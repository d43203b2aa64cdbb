package promtext_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/goleak"

	"github.com/gosignalr/signalr/internal/promtext"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		name, unit string
		monotonic  bool
		want       string
	}{
		{"signalr.server.active_connections", "{connection}", false, "signalr_server_active_connections"},
		{"signalr.server.connection.duration", "s", false, "signalr_server_connection_duration_seconds"},
		{"signalr.server.sent.bytes", "By", true, "signalr_server_sent_bytes_total"},
		{"signalr.server.sent.messages", "{message}", true, "signalr_server_sent_messages_total"},
		{"requests_total", "", true, "requests_total"},
		{"queue.time", "ms", false, "queue_time_milliseconds"},
		{"cpu.utilization", "1", false, "cpu_utilization"},
		{"2xx..responses/sec", "", false, "_2xx_responses_sec"},
		{"a:b", "", false, "a:b"},
	} {
		require.Equal(t, tc.want, promtext.Name(tc.name, tc.unit, tc.monotonic), "%s [%s]", tc.name, tc.unit)
	}
}

func TestHandler(t *testing.T) {
	ctx := context.Background()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer func() { require.NoError(t, mp.Shutdown(ctx)) }()
	meter := mp.Meter("test")

	active, err := meter.Int64UpDownCounter("app.active", metric.WithUnit("{connection}"), metric.WithDescription("Active connections."))
	require.NoError(t, err)
	sent, err := meter.Int64Counter("app.sent", metric.WithUnit("By"), metric.WithDescription("Bytes sent,\nin total."))
	require.NoError(t, err)
	dur, err := meter.Float64Histogram("app.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.1, 1))
	require.NoError(t, err)

	active.Add(ctx, 3, metric.WithAttributes(attribute.String("signalr.transport", "web_sockets")))
	sent.Add(ctx, 42, metric.WithAttributes(attribute.String("path", `a"b\c`+"\n")))
	dur.Record(ctx, 0.05, metric.WithAttributes(attribute.String("status", "ok")))
	dur.Record(ctx, 0.5, metric.WithAttributes(attribute.String("status", "ok")))
	dur.Record(ctx, 5, metric.WithAttributes(attribute.String("status", "ok")))

	srv := httptest.NewServer(promtext.Handler(r))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, promtext.ContentType, resp.Header.Get("Content-Type"))

	want := strings.Join([]string{
		`# HELP app_active Active connections.`,
		`# TYPE app_active gauge`,
		`app_active{signalr_transport="web_sockets"} 3`,
		`# HELP app_sent_bytes_total Bytes sent,\nin total.`,
		`# TYPE app_sent_bytes_total counter`,
		`app_sent_bytes_total{path="a\"b\\c\n"} 42`,
		`# TYPE app_duration_seconds histogram`,
		`app_duration_seconds_bucket{status="ok",le="0.1"} 1`,
		`app_duration_seconds_bucket{status="ok",le="1"} 2`,
		`app_duration_seconds_bucket{status="ok",le="+Inf"} 3`,
		`app_duration_seconds_sum{status="ok"} 5.55`,
		`app_duration_seconds_count{status="ok"} 3`,
		``,
	}, "\n")
	require.Equal(t, want, string(body))
}
