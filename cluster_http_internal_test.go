package signalr

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/gosignalr/signalr/backplane"
)

type forwardTestHub struct{}

func (forwardTestHub) Echo(s string) string { return s }

// forwardTestNode is a hub on an in-process bus, for the forwarding
// paths that a peer node's answers drive.
func forwardTestNode(t *testing.T) (*Hub, *backplane.Memory) {
	t.Helper()
	mem := backplane.NewMemory()
	h, err := New(forwardTestHub{}, WithLogger(slog.New(slog.DiscardHandler)), WithBackplane(mem), WithHubName("fwd"))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
		_ = mem.Close()
	})
	return h, mem
}

// A forwarded request is answered with a valid status whatever the node
// holding the connection sent: 0 (its handler wrote nothing) is 200, as
// net/http answers such a handler, and an impossible one is a 502. The
// status went to WriteHeader as is, and net/http panics on 0.
func TestForwardedStatusIsAlwaysValid(t *testing.T) {
	for _, tc := range []struct {
		sent uint16
		want int
	}{
		{0, http.StatusOK},
		{99, http.StatusBadGateway},
		{1000, http.StatusBadGateway},
		{http.StatusAccepted, http.StatusAccepted},
	} {
		h, mem := forwardTestNode(t)
		const token = "node.token"
		sub, err := mem.Subscribe(h.cluster.tokenSubject(token), func(m *backplane.Message) {
			data, _ := msgpack.Marshal(&envelope{Status: tc.sent})
			_ = m.Reply(data)
		})
		require.NoError(t, err)
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodDelete, "/hub?id="+token, nil)
		require.NotPanics(t, func() { require.True(t, h.forwardHTTP(w, r, token)) }, "status %d", tc.sent)
		require.Equal(t, tc.want, w.Code, "status %d", tc.sent)
		_ = sub.Unsubscribe()
	}
}

// The node holding a connection never answers a forwarded request with
// status 0, even for a method it does not serve.
func TestServeForwardedNeverAnswersStatusZero(t *testing.T) {
	h, _ := forwardTestNode(t)
	for _, method := range []string{"PATCH", ""} {
		data, err := msgpack.Marshal(&envelope{Op: opHTTP, Method: method})
		require.NoError(t, err)
		var reply envelope
		answered := false
		h.serveForwarded(&backplane.Message{Data: data, Reply: func(b []byte) error {
			answered = true
			return msgpack.Unmarshal(b, &reply)
		}}, &conn{})
		require.True(t, answered, "method %q", method)
		require.Equal(t, uint16(http.StatusMethodNotAllowed), reply.Status, "method %q", method)
	}
}
