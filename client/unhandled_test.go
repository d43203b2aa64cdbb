package client_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/client"
)

// logBuffer collects log lines from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count returns how many lines hold every one of parts.
func (b *logBuffer) count(parts ...string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, line := range strings.Split(b.buf.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func TestUnhandledMethodWarnsOncePerMethod(t *testing.T) {
	srv := startServer(t, kindsHub{}, nil)
	log := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl := newClient(t, srv.URL, combos[0], client.WithLogger(logger))
	done := make(chan struct{}, 1)
	require.NoError(t, cl.On("done", func() { done <- struct{}{} }))
	start(t, cl)
	ctx := ctxT(t)
	spam := func(names ...string) {
		t.Helper()
		require.NoError(t, cl.Invoke(ctx, nil, "Spam", names))
		select {
		case <-done: // handlers run in order: the others have been handled
		case <-ctx.Done():
			t.Fatal("no done")
		}
	}

	spam("tick", "Tick", "TICK", "other", "tick")
	assert.Equal(t, 1, log.count("level=WARN", "no handler", "method=tick"), "the first tick")
	assert.Equal(t, 0, log.count("level=WARN", "no handler", "method=Tick"))
	assert.Equal(t, 0, log.count("level=WARN", "no handler", "method=TICK"))
	assert.Equal(t, 3, log.count("level=DEBUG", "no handler", "method="), "later ticks, in any case")
	assert.Equal(t, 1, log.count("level=WARN", "no handler", "method=other"))

	// At most 64 names are remembered, whatever the server sends.
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	spam(names...)
	assert.Equal(t, 64, log.count("level=WARN", "no handler"), "tick, other and 62 more")
	assert.Equal(t, 3+38, log.count("level=DEBUG", "no handler"))
	spam("tick")
	assert.Equal(t, 64, log.count("level=WARN", "no handler"))
}
