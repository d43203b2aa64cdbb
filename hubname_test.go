package signalr_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// otherHub is a hub of another type than hubtest.Hub.
type otherHub struct{}

func (otherHub) GetConnectionId(c *signalr.Context) string { return c.ConnectionID() }

// TestDefaultHubName joins two nodes of one hub type with WithBackplane
// alone: they find each other by the type's name. A hub of another type on
// the same bus is apart, unless WithHubName gives it the same name.
func TestDefaultHubName(t *testing.T) {
	bus := backplane.NewMemory()
	sender, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bus))
	_, same := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bus))
	_, other := hubtest.StartHub(t, otherHub{}, signalr.WithBackplane(bus))
	_, renamed := hubtest.StartHub(t, otherHub{}, signalr.WithBackplane(bus),
		signalr.WithHubName("github.com/gosignalr/signalr/internal/hubtest.Hub"))
	a := hubtest.ConnectJSON(t, same)
	b := hubtest.ConnectJSON(t, other)
	c := hubtest.ConnectJSON(t, renamed)
	for _, cl := range []*hubtest.JSONClient{a, b, c} {
		cl.ID(t) // connected
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, sender.Clients().All().Send(ctx, "receive", "hello"))
	require.Equal(t, []any{"hello"}, a.Invocation("receive"), "a node of the same hub type")
	require.Equal(t, []any{"hello"}, c.Invocation("receive"), "a node given the same name")
	b.Sync() // nothing came before the answer to this call
}
