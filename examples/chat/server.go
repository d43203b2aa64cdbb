package main

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/examples/chathub"
)

// newServer returns the chat hub and the handler of the whole site: the
// page, the browser client and the hub (chathub.Mux), and the hub's
// metrics at /metrics in the Prometheus text format. The metrics go
// through the standard stack: the OpenTelemetry SDK, its Prometheus
// exporter and promhttp. A real deployment would serve /metrics on an
// internal address only.
func newServer(logger *slog.Logger, clientJS string) (*signalr.Hub, http.Handler, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	hub, err := signalr.New(chathub.Chat{}, signalr.WithLogger(logger), signalr.WithMeterProvider(mp))
	if err != nil {
		return nil, nil, err
	}
	mux := chathub.Mux(hub, clientJS)
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	return hub, mux, nil
}
