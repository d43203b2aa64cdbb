package signalr_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/redistest"
)

// TestClusterSenderOrderNATS and TestClusterSenderOrderRedis send from one
// goroutine on one node, mixing every kind of target, to a connection
// held by another node, which must receive everything in the order sent:
// the backplane carries the messages on many subjects (broadcast, the
// connection's, the user's, each group's), and the receiving node must
// not reorder them.
func TestClusterSenderOrderNATS(t *testing.T) {
	url, _ := startNATS(t, 0)
	testClusterSenderOrder(t, natsBackplanes(t, url))
}

func TestClusterSenderOrderRedis(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t, 0)
	testClusterSenderOrder(t, redisBackplanes(t, srv.URL()))
}

func testClusterSenderOrder(t *testing.T, newBackplane func(string) backplane.Backplane) {
	sender, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(newBackplane("order")), signalr.WithHubName("order"))
	_, urlB := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(newBackplane("order")), signalr.WithHubName("order"))
	r := hubtest.ConnectJSONQuery(t, urlB, "?user=u1")
	id := r.ID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	groups := sender.Groups()
	require.NoError(t, groups.Add(ctx, id, "g1"))
	require.NoError(t, groups.Add(ctx, id, "g2"))

	const n = 1500
	c := sender.Clients()
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for i := range n {
				var err error
				switch i % 11 {
				case 0:
					err = c.All().Send(ctx, "seq", i)
				case 1:
					err = c.AllExcept("nobody").Send(ctx, "seq", i)
				case 2:
					err = c.Client(id).Send(ctx, "seq", i)
				case 3:
					err = c.Clients(id, "nobody").Send(ctx, "seq", i)
				case 4:
					err = c.Group("g1").Send(ctx, "seq", i)
				case 5:
					err = c.Groups("g1", "g2").Send(ctx, "seq", i)
				case 6:
					err = c.GroupExcept("g2", "nobody").Send(ctx, "seq", i)
				case 7:
					err = c.User("u1").Send(ctx, "seq", i)
				case 8:
					err = c.Users("u1", "nobody").Send(ctx, "seq", i)
				case 9:
					// A group change then a send to that group; after the
					// removal, a send the connection must not get.
					g := "g3-" + strconv.Itoa(i%4)
					if err = groups.Add(ctx, id, g); err == nil {
						err = c.Group(g).Send(ctx, "seq", i)
					}
					if err == nil {
						err = groups.Remove(ctx, id, g)
					}
					if err == nil {
						err = c.Group(g).Send(ctx, "seq", -1)
					}
				case 10:
					err = c.Groups("g2", "g3-0").Send(ctx, "seq", i)
				}
				if err != nil {
					return fmt.Errorf("send #%d: %w", i, err)
				}
			}
			return nil
		}()
	}()
	for i := range n {
		args := r.Invocation("seq")
		require.Equal(t, float64(i), args[0], "message #%d arrived out of order", i)
	}
	require.NoError(t, <-done)
	// Nothing else came: not the sends after the removals, no duplicate.
	r.Sync()
}
