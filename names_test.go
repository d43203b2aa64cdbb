package signalr_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/redistest"
)

// namesCluster serves interopHub on two nodes joined by the backplanes
// newBP returns (one per node) and connects a client to each.
type namesCluster struct {
	hubs []*signalr.Hub
	urls []string
	a, b *jsonClient // a on node 0, b on node 1
}

func newNamesCluster(t *testing.T, newBP func() backplane.Backplane, opts ...signalr.Option) *namesCluster {
	t.Helper()
	nc := &namesCluster{}
	for range 2 {
		bp := newBP()
		h, err := signalr.New(interopHub{}, append([]signalr.Option{
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithUserIDFunc(userFromQuery),
			signalr.WithBackplane(bp, "names"),
			signalr.WithPresenceInterval(200 * time.Millisecond),
		}, opts...)...)
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/hub", h)
		mux.Handle("/hub/", h)
		srv := httptest.NewServer(mux)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, h.Shutdown(ctx))
			srv.Close()
			bp.Close()
		})
		nc.urls, nc.hubs = append(nc.urls, srv.URL), append(nc.hubs, h)
	}
	nc.a = connectJSON(t, nc.urls[0])
	nc.b = connectJSON(t, nc.urls[1])
	nc.a.id(t)
	nc.b.id(t)
	return nc
}

// crossNodeGroupWorks proves the bus still carries messages both ways: b
// joins a fresh group, a sends to it from the other node, and b gets it.
func (nc *namesCluster) crossNodeGroupWorks(t *testing.T, round string) {
	t.Helper()
	group := "after-" + round
	require.Nil(t, nc.b.call("JoinGroup", group)["error"])
	require.Nil(t, nc.a.call("SendToGroup", group, "via-bus-"+round)["error"])
	require.Equal(t, []any{"via-bus-" + round}, nc.b.invocation("receive"), "cross-node delivery after %s", round)
}

// testLongGroupNames sends group names of 3,100 bytes and 64 KiB through
// hub methods. With the default name limit the hub method gets an error
// (a Completion error for the client); with a raised limit the names work
// across nodes. Either way the bus keeps working afterwards.
func testLongGroupNames(t *testing.T, newBP func() backplane.Backplane) {
	for _, size := range []int{3100, 64 << 10} {
		long := strings.Repeat("g", size)
		t.Run("default-limit/"+strconv.Itoa(size), func(t *testing.T) {
			nc := newNamesCluster(t, newBP, signalr.WithMaxReceiveMessageSize(1<<20))
			msg := nc.a.callError("JoinGroup", long)
			require.Contains(t, msg, "An unexpected error occurred invoking 'JoinGroup'")
			msg = nc.a.callError("SendToGroup", long, "x")
			require.Contains(t, msg, "An unexpected error occurred invoking 'SendToGroup'")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := nc.hubs[0].Groups().Add(ctx, nc.b.id(t), long)
			require.ErrorIs(t, err, signalr.ErrNameTooLong)
			require.ErrorIs(t, nc.hubs[0].Clients().Group(long).Send(ctx, "receive", "x"), signalr.ErrNameTooLong)
			nc.crossNodeGroupWorks(t, "default")
		})
		t.Run("raised-limit/"+strconv.Itoa(size), func(t *testing.T) {
			nc := newNamesCluster(t, newBP, signalr.WithMaxReceiveMessageSize(1<<20), signalr.WithMaxGroupNameLength(128<<10))
			require.Nil(t, nc.b.call("JoinGroup", long)["error"])
			require.Nil(t, nc.a.call("SendToGroup", long, "long")["error"])
			require.Equal(t, []any{"long"}, nc.b.invocation("receive"))
			nc.a.sync()
			nc.crossNodeGroupWorks(t, "raised")
		})
	}
}

func TestLongGroupNamesNATS(t *testing.T) {
	url, _ := startNATS(t, 0)
	testLongGroupNames(t, func() backplane.Backplane {
		bp, err := natsbp.Connect(url, natsbp.Options{Prefix: "names"})
		require.NoError(t, err)
		return bp
	})
}

func TestLongGroupNamesRedis(t *testing.T) {
	srv := redistest.Start(t, 0)
	testLongGroupNames(t, func() backplane.Backplane {
		bp, err := redisbp.Connect(srv.URL(), redisbp.Options{Prefix: "names"})
		require.NoError(t, err)
		return bp
	})
}
