package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDemo(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveHub(ctx, "", quiet, ln) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()
	url := "http://" + ln.Addr().String() + "/hub"

	for _, opts := range [][]client.Option{
		{client.WithTransports(transport.WebSockets)},
		{client.WithTransports(transport.LongPolling), client.WithProtocol(protocol.MessagePack{})},
	} {
		var out bytes.Buffer
		runCtx, stop := context.WithTimeout(context.Background(), 20*time.Second)
		err := run(runCtx, &out, url, append(opts, client.WithLogger(quiet)))
		stop()
		require.NoError(t, err)
		for _, line := range []string{
			"Add(40, 2) = 42",
			`says "hi, everyone"`,
			"Greet() = hello, the Go client",
			"Countdown(5): 5 4 3 2 1\n",
			"Total(upload of 1.5, 2.5, 3) = 7",
			"NoSuchMethod() failed on the server",
		} {
			assert.Contains(t, out.String(), line)
		}
	}
}
