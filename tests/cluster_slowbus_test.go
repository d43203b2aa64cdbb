package signalr_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// holdBackplane holds the next Subscribe call, once armed, until the test
// releases it: a bus that is slow to confirm a subscription.
type holdBackplane struct {
	backplane.Backplane
	mu      sync.Mutex
	armed   bool
	held    chan string   // the subject of the held call
	release chan struct{} // closed to let it go
}

func newHoldBackplane(t *testing.T, bp backplane.Backplane) *holdBackplane {
	h := &holdBackplane{Backplane: bp, held: make(chan string, 1), release: make(chan struct{})}
	return h
}

// arm makes the next Subscribe wait for release. The returned function
// releases it; the test's cleanup calls it too.
func (h *holdBackplane) arm(t *testing.T) (release func()) {
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(release)
	return release
}

func (h *holdBackplane) Subscribe(subject string, hd backplane.Handler) (backplane.Subscription, error) {
	h.mu.Lock()
	hold := h.armed
	h.armed = false
	h.mu.Unlock()
	if hold {
		h.held <- subject
		<-h.release
	}
	return h.Backplane.Subscribe(subject, hd)
}

// waitHeld waits until a Subscribe call is being held.
func (h *holdBackplane) waitHeld(t *testing.T) string {
	t.Helper()
	select {
	case s := <-h.held:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no Subscribe call was made")
		return ""
	}
}

// TestSlowBusSubscribeDoesNotStallHub holds the Subscribe that registers a
// new connection: meanwhile a negotiate, another connection and a local
// send on the same node go ahead, and the held connection starts once the
// bus answers.
func TestSlowBusSubscribeDoesNotStallHub(t *testing.T) {
	mem := backplane.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	hold := newHoldBackplane(t, mem)
	h, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(hold), signalr.WithHubName("slow"))
	_, _ = hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(mem), signalr.WithHubName("slow"))

	release := hold.arm(t)
	first := hubtest.DialRaw(t, url, "")
	first.SendText(`{"protocol":"json","version":1}` + "\x1e")
	hold.waitHeld(t)

	// A negotiate, bounded in time.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/hub/negotiate?negotiateVersion=1", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "negotiate while a Subscribe is held")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Another connection, and a local send to it.
	second := hubtest.ConnectJSON(t, url)
	secondID := second.ID(t)
	require.NoError(t, h.Clients().Client(secondID).Send(ctx, "receive", "local"))
	require.Equal(t, "local", second.Invocation("receive")[0])

	release()
	c := &hubtest.JSONClient{RawClient: first}
	require.Equal(t, "{}\x1e", c.ReadText())
	firstID := c.ID(t)
	require.NoError(t, h.Clients().Client(firstID).Send(ctx, "receive", "after"))
	require.Equal(t, "after", c.Invocation("receive")[0])
}

// TestSlowBusRemoteGroupAddDoesNotBlockDispatch adds a connection to a
// group from another node while the holding node's Subscribe for the
// group is held: other messages for that node, to that very connection
// too, are still delivered, and once the add returns, group messages
// from the other node reach the connection.
func TestSlowBusRemoteGroupAddDoesNotBlockDispatch(t *testing.T) {
	url, _ := startNATS(t, 0)
	bps := natsBackplanes(t, url)
	a, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bps("slow")), signalr.WithHubName("slow"))
	hold := newHoldBackplane(t, bps("slow"))
	_, urlB := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(hold), signalr.WithHubName("slow"))
	r := hubtest.ConnectJSON(t, urlB)
	id := r.ID(t)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	release := hold.arm(t)
	added := make(chan error, 1)
	go func() { added <- a.Groups().Add(ctx, id, "slow") }()
	hold.waitHeld(t)

	require.NoError(t, a.Clients().Client(id).Send(ctx, "receive", "meanwhile"))
	require.Equal(t, "meanwhile", r.Invocation("receive")[0], "a send to the connection while its group add waits for the bus")
	require.NoError(t, a.Groups().Add(ctx, id, "other"), "another group add while the first waits for the bus")
	require.NoError(t, a.Clients().Group("other").Send(ctx, "receive", "other"))
	require.Equal(t, "other", r.Invocation("receive")[0])
	select {
	case err := <-added:
		t.Fatalf("the group add returned (%v) before its subscription was made", err)
	default:
	}

	release()
	require.NoError(t, <-added)
	require.NoError(t, a.Clients().Group("slow").Send(ctx, "receive", "group"))
	require.Equal(t, "group", r.Invocation("receive")[0])
}
