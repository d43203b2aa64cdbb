package main

import (
	"log/slog"
	"net/http"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/chathub"
	"github.com/gosignalr/signalr/internal/promtext"
)

// newServer returns the chat hub and the handler of the whole site: the
// page, the browser client and the hub (chathub.Mux), and the hub's
// metrics at /metrics in the Prometheus text format. The metrics go
// through the OpenTelemetry SDK: a manual reader collects them on every
// scrape. A real deployment would serve /metrics on an internal address
// only.
func newServer(logger *slog.Logger, clientJS string) (*signalr.Hub, http.Handler, error) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	hub, err := signalr.New(chathub.Chat{}, signalr.WithLogger(logger), signalr.WithMeterProvider(mp))
	if err != nil {
		return nil, nil, err
	}
	mux := chathub.Mux(hub, clientJS)
	mux.Handle("GET /metrics", promtext.Handler(reader))
	return hub, mux, nil
}
