package signalr_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/gosignalr/signalr/transport"
)

// outageCluster is two hub nodes on one backplane with a client on each,
// for the tests that stop the backplane's server mid-traffic.
type outageCluster struct {
	t    *testing.T
	hubs []*signalr.Hub
	a, b *hubtest.JSONClient // a on node 0, b on node 1
	bID  string
	all  signalr.ClientProxy // node 0's All
}

func newOutageCluster(t *testing.T, newBackplane func() backplane.Backplane) *outageCluster {
	t.Helper()
	o := &outageCluster{t: t}
	var urls []string
	for range 2 {
		bp := newBackplane()
		h, err := signalr.New(hubtest.Hub{},
			signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			signalr.WithBackplane(bp), signalr.WithHubName("outage"),
			signalr.WithPresenceInterval(200*time.Millisecond),
			// These tests follow one pair of connections across the
			// outage; TestBackplaneInterruption* cover the default,
			// which closes them.
			signalr.WithBackplaneInterruptionClose(false))
		require.NoError(t, err)
		urls, o.hubs = append(urls, hubtest.ServeHub(t, h, bp)), append(o.hubs, h)
	}
	o.a = hubtest.ConnectJSON(t, urls[0])
	o.b = hubtest.ConnectJSON(t, urls[1])
	// A round trip on each: a connection is reachable by sends only once
	// registered, just after its handshake reply.
	o.a.ID(t)
	o.bID = o.b.ID(t)
	o.all = o.hubs[0].Clients().All()

	require.NoError(t, o.all.Send(context.Background(), "receive", "before"))
	require.Equal(t, "before", o.a.Invocation("receive")[0])
	require.Equal(t, "before", o.b.Invocation("receive")[0])
	return o
}

// sendsFail checks, once the backplane's server is gone, that cross-node
// sends start failing while local delivery never stops.
func (o *outageCluster) sendsFail() {
	t := o.t
	t.Helper()
	var sendErr error
	for i := 0; sendErr == nil; i++ {
		require.Less(t, i, 200, "Send never reported the outage")
		sendErr = o.all.Send(context.Background(), "receive", "during-"+strconv.Itoa(i))
		require.Equal(t, "during-"+strconv.Itoa(i), o.a.Invocation("receive")[0], "local delivery continues")
		if sendErr == nil {
			time.Sleep(25 * time.Millisecond)
		}
	}
	t.Logf("Send during the outage: %v", sendErr)
}

// resumes checks, after the server is back, that the nodes resubscribe by
// themselves and b receives cross-node sends again (messages sent before
// that may be lost, as documented). Each round: a cross-node send from
// node 0, then a marker that b's own node sends it; b reads up to the
// marker and looks for any "after-" message.
func (o *outageCluster) resumes() {
	t := o.t
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		require.True(t, time.Now().Before(deadline), "cross-node delivery did not resume")
		_ = o.all.Send(ctx, "receive", "after-"+strconv.Itoa(i))
		time.Sleep(50 * time.Millisecond)
		marker := "mark-" + strconv.Itoa(i)
		require.NoError(t, o.hubs[1].Clients().Client(o.bID).Send(ctx, "receive", marker))
		resumed := false
		for {
			got, _ := o.b.Invocation("receive")[0].(string)
			if got == marker {
				break
			}
			resumed = resumed || strings.HasPrefix(got, "after-")
		}
		if resumed {
			return
		}
	}
}

// TestLongPollingOpensDuringOutage: a long-polling connection negotiated
// and opened on one node starts while the backplane's server is down.
// Its first poll used to ask the bus who holds the token before claiming
// it locally, and got 502.
func TestLongPollingOpensDuringOutage(t *testing.T) {
	natsURL, stop := startNATS(t, 0)
	bp, err := natsbp.Connect(natsURL, natsbp.WithPrefix("lpoutage"))
	require.NoError(t, err)
	h, err := signalr.New(hubtest.Hub{},
		signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		signalr.WithBackplane(bp), signalr.WithHubName("lpoutage"))
	require.NoError(t, err)
	url := hubtest.ServeHub(t, h, bp)
	stop()
	require.Eventually(t, func() bool { return h.BackplaneErr() != nil }, 10*time.Second, 20*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New(url+"/hub",
		client.WithTransports(transport.LongPolling),
		client.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx), "long polling must start on the node that negotiated it")
	defer c.Stop(context.Background())
	var got string
	require.NoError(t, c.Invoke(ctx, &got, "Echo", "during the outage"))
	require.Equal(t, "during the outage", got)
}
