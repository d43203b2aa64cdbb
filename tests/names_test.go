package signalr_test

import (
	"context"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/internal/redistest"
)

// testLongGroupNames sends group names of 3,100 bytes and 64 KiB through
// hub methods. With the default name limit the hub method gets an error
// (a Completion error for the client); with a raised limit the names work
// across nodes. Either way the bus keeps working afterwards.
func testLongGroupNames(t *testing.T, newBP func() backplane.Backplane) {
	for _, size := range []int{3100, 64 << 10} {
		long := strings.Repeat("g", size)
		t.Run("default-limit/"+strconv.Itoa(size), func(t *testing.T) {
			nc := hubtest.NewTwoNodes(t, newBP, signalr.WithMaxReceiveMessageSize(1<<20))
			msg := nc.A.CallError("JoinGroup", long)
			require.Contains(t, msg, "An unexpected error occurred invoking 'JoinGroup'")
			msg = nc.A.CallError("SendToGroup", long, "x")
			require.Contains(t, msg, "An unexpected error occurred invoking 'SendToGroup'")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := nc.Hubs[0].Groups().Add(ctx, nc.B.ID(t), long)
			require.ErrorIs(t, err, signalr.ErrNameTooLong)
			require.ErrorIs(t, nc.Hubs[0].Clients().Group(long).Send(ctx, "receive", "x"), signalr.ErrNameTooLong)
			nc.CrossNodeGroupWorks(t, "default")
		})
		t.Run("raised-limit/"+strconv.Itoa(size), func(t *testing.T) {
			nc := hubtest.NewTwoNodes(t, newBP, signalr.WithMaxReceiveMessageSize(1<<20), signalr.WithMaxGroupNameLength(128<<10))
			require.Nil(t, nc.B.Call("JoinGroup", long)["error"])
			require.Nil(t, nc.A.Call("SendToGroup", long, "long")["error"])
			require.Equal(t, []any{"long"}, nc.B.Invocation("receive"))
			nc.A.Sync()
			nc.CrossNodeGroupWorks(t, "raised")
		})
	}
}

func TestLongGroupNamesNATS(t *testing.T) {
	url, _ := startNATS(t, 0)
	testLongGroupNames(t, func() backplane.Backplane {
		bp, err := natsbp.Connect(url, natsbp.WithPrefix("names"))
		require.NoError(t, err)
		return bp
	})
}

func TestLongGroupNamesRedis(t *testing.T) {
	srv := redistest.Start(t, 0)
	testLongGroupNames(t, func() backplane.Backplane {
		bp, err := redisbp.Connect(srv.URL(), redisbp.WithPrefix("names"))
		require.NoError(t, err)
		return bp
	})
}

// TestHostileIDsOverNATS hands ids no connection or node can have (too
// long for a NATS control line, wildcards, dots, empty) to group changes,
// sends, client results and token claims: they are nobody, group changes
// say so, and the node's NATS connection keeps carrying messages.
func TestHostileIDsOverNATS(t *testing.T) {
	url, _ := startNATS(t, 0)
	nc := hubtest.NewTwoNodes(t, func() backplane.Backplane {
		bp, err := natsbp.Connect(url, natsbp.WithPrefix("ids"))
		require.NoError(t, err)
		return bp
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	long := strings.Repeat("c", 3100)
	ids := []string{long, strings.Repeat("c", 64<<10), "a.b", "*", ">", "", "c c", nc.B.ID(t) + "x", nc.B.ID(t)[:21]}
	h := nc.Hubs[0]
	for _, id := range ids {
		err := h.Groups().Add(ctx, id, "g")
		require.ErrorIs(t, err, signalr.ErrConnectionNotFound, "Add(%.20q)", id)
		require.Contains(t, err.Error(), "not a connection id")
		require.ErrorIs(t, h.Groups().Remove(ctx, id, "g"), signalr.ErrConnectionNotFound, "Remove(%.20q)", id)
		require.NoError(t, h.Clients().Client(id).Send(ctx, "receive", "nobody"), "Send to %.20q", id)
		require.NoError(t, h.Clients().Clients(id, id).Send(ctx, "receive", "nobody"), "Send to %.20q", id)
		require.ErrorIs(t, h.Clients().Client(id).Invoke(ctx, nil, "anything"), signalr.ErrConnectionNotFound, "Invoke on %.20q", id)
	}
	// The same from a client, through hub methods.
	require.Nil(t, nc.A.Call("SendToClient", long, "nobody")["error"])
	require.Nil(t, nc.A.Call("SendToClients", []string{long, "a.b"}, "nobody")["error"])
	// Tokens whose node part no node can have: 404, and no bus request.
	for _, tok := range []string{long + ".x", strings.Repeat("n", 11) + "*.x", ">.x", "a b.x"} {
		status, body := hubtest.DialStatus(t, nc.URLs[1], "?id="+neturl.QueryEscape(tok))
		require.Equal(t, http.StatusNotFound, status, body)
	}
	nc.CrossNodeGroupWorks(t, "hostile ids")
	// A real id of the other node still works.
	require.NoError(t, h.Groups().Add(ctx, nc.B.ID(t), "real"))
	require.NoError(t, h.Clients().Group("real").Send(ctx, "receive", "real"))
	require.Equal(t, []any{"real"}, nc.B.Invocation("receive"))
}
