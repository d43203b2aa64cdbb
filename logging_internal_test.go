package signalr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/backplane"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// When the node that forwarded a poll cannot have the connection closed
// after the poll's answer was lost, it logs the connection under the
// version 0 stand-in: a version 0 connection's id is its token.
func TestLostPollLogHidesAVersion0Token(t *testing.T) {
	logs := &syncBuffer{}
	mem := backplane.NewMemory()
	h, err := New(forwardTestHub{}, WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), WithBackplane(mem), WithHubName("lost"))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
		_ = mem.Close()
	})
	rctx := context.Background()
	v0, v1 := newID(), newID()
	h.closeLostPoll(rctx, v0, true, errors.New("write failed")) // no node holds it: the close fails
	h.closeLostPoll(rctx, v1, false, errors.New("write failed"))
	out := logs.String()
	require.Contains(t, out, "could not close a connection whose forwarded poll answer was lost")
	assert.NotContains(t, out, v0, "a version 0 connection's id is its token")
	assert.Contains(t, out, `"connection":"`+logStandIn(v0)+`"`)
	assert.Contains(t, out, `"connection":"`+v1+`"`, "other ids are logged as they are")
	assert.Contains(t, out, `"component":"signalr"`)
}
