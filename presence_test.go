package signalr_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// cuttableBackplane is one node's view of a shared bus that the test can
// cut, as when the node's process dies: nothing it publishes goes out and
// nothing reaches it.
type cuttableBackplane struct {
	backplane.Backplane
	cut atomic.Bool
}

var errCut = errors.New("cut off")

func (c *cuttableBackplane) Publish(ctx context.Context, subject string, data []byte) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Backplane.Publish(ctx, subject, data)
}

func (c *cuttableBackplane) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.Backplane.Request(ctx, subject, data)
}

func (c *cuttableBackplane) Subscribe(subject string, h backplane.Handler) (backplane.Subscription, error) {
	return c.Backplane.Subscribe(subject, func(m *backplane.Message) {
		if !c.cut.Load() {
			h(m)
		}
	})
}

// presenceNodes starts n hubs on one memory bus, each on its own server.
func presenceNodes(t *testing.T, n int) ([]*signalr.Hub, []string, []*cuttableBackplane) {
	t.Helper()
	bus := backplane.NewMemory()
	t.Cleanup(func() { bus.Close() })
	var hubs []*signalr.Hub
	var urls []string
	var bps []*cuttableBackplane
	for range n {
		bp := &cuttableBackplane{Backplane: bus}
		h, err := signalr.New(hubtest.Hub{},
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithUserIDFunc(hubtest.UserFromQuery),
			signalr.WithBackplane(bp), signalr.WithHubName("presence"),
			signalr.WithPresenceInterval(100*time.Millisecond))
		require.NoError(t, err)
		hubs, urls, bps = append(hubs, h), append(urls, hubtest.ServeHub(t, h)), append(bps, bp)
	}
	return hubs, urls, bps
}

func TestPresenceAcrossNodes(t *testing.T) {
	hubs, urls, bps := presenceNodes(t, 3)
	ctx := context.Background()
	// Let every node hear the others' first heartbeats.
	require.Eventually(t, func() bool {
		n, err := hubs[0].ConnectionCount(ctx)
		return err == nil && n == 0
	}, 5*time.Second, 20*time.Millisecond)

	alice1 := hubtest.ConnectJSONQuery(t, urls[0], "?user=alice")
	alice2 := hubtest.ConnectJSONQuery(t, urls[1], "?user=alice")
	bob := hubtest.ConnectJSONQuery(t, urls[2], "?user=bob")
	anon := hubtest.ConnectJSONQuery(t, urls[2], "")
	for _, c := range []*hubtest.JSONClient{alice1, bob} {
		c.Call("JoinGroup", "room")
	}
	ids := map[*hubtest.JSONClient]string{}
	for _, c := range []*hubtest.JSONClient{alice1, alice2, bob, anon} {
		ids[c], _ = c.Result("GetConnectionId").(string)
	}

	for i, h := range hubs {
		n, err := h.ConnectionCount(ctx)
		require.NoError(t, err)
		assert.Equal(t, 4, n, "node %d", i)
		users, err := h.OnlineUsers(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"alice", "bob"}, users, "node %d", i)
		online, err := h.IsUserOnline(ctx, "bob")
		require.NoError(t, err)
		assert.True(t, online)
		online, err = h.IsUserOnline(ctx, "carol")
		require.NoError(t, err)
		assert.False(t, online)
		members, err := h.GroupMembers(ctx, "room")
		require.NoError(t, err)
		assert.ElementsMatch(t, []signalr.Member{{ConnectionID: ids[alice1], UserID: "alice"}, {ConnectionID: ids[bob], UserID: "bob"}}, members)
	}

	// Node 2 dies without a word: its connections leave every answer within
	// three presence intervals.
	bps[2].cut.Store(true)
	require.Eventually(t, func() bool {
		n, _ := hubs[0].ConnectionCount(ctx)
		users, _ := hubs[0].OnlineUsers(ctx)
		return n == 2 && len(users) == 1 && users[0] == "alice"
	}, 5*time.Second, 50*time.Millisecond)
	members, err := hubs[1].GroupMembers(ctx, "room")
	require.NoError(t, err)
	assert.Equal(t, []signalr.Member{{ConnectionID: ids[alice1], UserID: "alice"}}, members)
	bps[2].cut.Store(false)
}

func TestPresenceWithoutBackplane(t *testing.T) {
	h, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.ConnectJSONQuery(t, url, "?user=dana")
	c.Call("JoinGroup", "g")
	ctx := context.Background()
	n, err := h.ConnectionCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	users, err := h.OnlineUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"dana"}, users)
	members, err := h.GroupMembers(ctx, "g")
	require.NoError(t, err)
	require.Len(t, members, 1)
	assert.Equal(t, "dana", members[0].UserID)
}
