package signalr_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/stretchr/testify/require"
)

// TestHubCloseConnectionNotAnID closes, through a NATS backplane, ids that
// no connection can have: a subject wildcard, a dot, a name too long for a
// subject. None is looked for on the bus; each is not found.
func TestHubCloseConnectionNotAnID(t *testing.T) {
	url, _ := startNATS(t, 0)
	bps := natsBackplanes(t, url)
	h, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bps("closeid")), signalr.WithHubName("closeid"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range []string{"", "no*such", "no.such", ">", strings.Repeat("a", 300)} {
		require.ErrorIs(t, h.CloseConnection(ctx, id, "x", false), signalr.ErrConnectionNotFound, "id %q", id)
	}
}
