package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs the example on a loopback port until t ends and returns its
// base URL.
func start(t *testing.T, cfg config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, cfg, quiet) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "run")
		case <-time.After(15 * time.Second):
			t.Error("the example did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

// TestServes checks the page and the browser client the example serves.
func TestServes(t *testing.T) {
	clientJS := filepath.Join(t.TempDir(), "signalr.min.js")
	require.NoError(t, os.WriteFile(clientJS, []byte("/* client */"), 0o644))
	base := start(t, config{clientJS: clientJS})
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, body := get("/")
	assert.Equal(t, http.StatusOK, status)
	assert.True(t, strings.Contains(body, `connection.stream("Process"`) && strings.Contains(body, `connection.invoke("Upload"`), "the page calls both streaming methods")
	status, body = get("/signalr.min.js")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "/* client */", body)
	status, _ = get("/nothing")
	assert.Equal(t, http.StatusNotFound, status)
}

// TestRunFails checks that run reports a listener that fails and stops
// without leaving anything behind.
func TestRunFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	err = run(context.Background(), ln, config{}, quiet)
	assert.ErrorContains(t, err, "serve")
}
