package hubtest

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/stretchr/testify/require"
)

// TwoNodes serves Hub on two nodes joined by the backplanes that newBP
// returns (one per node, closed when the test ends) and connects a JSON
// client to each.
type TwoNodes struct {
	Hubs []*signalr.Hub
	URLs []string
	A, B *JSONClient // A on node 0, B on node 1
}

// NewTwoNodes starts the two nodes; opts apply to both hubs.
func NewTwoNodes(t *testing.T, newBP func() backplane.Backplane, opts ...signalr.Option) *TwoNodes {
	t.Helper()
	nc := &TwoNodes{}
	for range 2 {
		bp := newBP()
		h, err := signalr.New(Hub{}, append([]signalr.Option{
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithUserIDFunc(UserFromQuery),
			signalr.WithBackplane(bp), signalr.WithHubName("names"),
			signalr.WithPresenceInterval(200 * time.Millisecond),
		}, opts...)...)
		require.NoError(t, err)
		nc.URLs, nc.Hubs = append(nc.URLs, ServeHub(t, h, bp)), append(nc.Hubs, h)
	}
	nc.A = ConnectJSON(t, nc.URLs[0])
	nc.B = ConnectJSON(t, nc.URLs[1])
	nc.A.ID(t)
	nc.B.ID(t)
	return nc
}

// CrossNodeGroupWorks proves the bus still carries messages both ways: b
// joins a fresh group, a sends to it from the other node, and B gets it.
func (nc *TwoNodes) CrossNodeGroupWorks(t *testing.T, round string) {
	t.Helper()
	group := "after-" + round
	require.Nil(t, nc.B.Call("JoinGroup", group)["error"])
	require.Nil(t, nc.A.Call("SendToGroup", group, "via-bus-"+round)["error"])
	require.Equal(t, []any{"via-bus-" + round}, nc.B.Invocation("receive"), "cross-node delivery after %s", round)
}
