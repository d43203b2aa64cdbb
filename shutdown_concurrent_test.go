package signalr_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// TestConcurrentShutdownWithBackplane shuts a hub on a backplane down
// from several goroutines at once: each call returns, none panics.
func TestConcurrentShutdownWithBackplane(t *testing.T) {
	mem := backplane.NewMemory()
	t.Cleanup(func() { mem.Close() })
	for range 20 {
		h, err := signalr.New(hubtest.Hub{}, signalr.WithBackplane(mem), signalr.WithHubName("twice"))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { require.NoError(t, h.Shutdown(ctx)) })
		}
		wg.Wait()
		cancel()
	}
}
