package signalr_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// holdGone holds, once armed, the Unsubscribe of connection subjects and
// every reply to a request, until the test releases them: a bus slow to
// take a node's answers while a connection's subject is still in place.
type holdGone struct {
	backplane.Backplane
	armed    atomic.Bool
	unsubbed chan struct{} // one value per held Unsubscribe
	replied  chan struct{} // one value per held reply
	release  chan struct{}
	once     sync.Once
}

func (h *holdGone) let() { h.once.Do(func() { close(h.release) }) }

func (h *holdGone) hold(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
	<-h.release
}

func (h *holdGone) Subscribe(subject string, hd backplane.Handler) (backplane.Subscription, error) {
	sub, err := h.Backplane.Subscribe(subject, func(m *backplane.Message) {
		if reply := m.Reply; reply != nil && h.armed.Load() {
			m.Reply = func(b []byte) error { h.hold(h.replied); return reply(b) }
		}
		hd(m)
	})
	if err != nil {
		return nil, err
	}
	return &holdGoneSub{Subscription: sub, h: h, conn: strings.Contains(subject, ".c.")}, nil
}

type holdGoneSub struct {
	backplane.Subscription
	h    *holdGone
	conn bool
}

func (s *holdGoneSub) Unsubscribe() error {
	if s.conn && s.h.armed.Load() {
		s.h.hold(s.h.unsubbed)
	}
	return s.Subscription.Unsubscribe()
}

// TestGoneConnectionReplyDoesNotBlockDispatch asks a node to add a
// connection that has just ended to a group while the node's answer
// ("not found") waits for the bus: meanwhile, messages from other nodes
// to the node's other connections are still delivered.
func TestGoneConnectionReplyDoesNotBlockDispatch(t *testing.T) {
	url, _ := startNATS(t, 0)
	bps := natsBackplanes(t, url)
	a, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bps("gone")), signalr.WithHubName("gone"))
	hold := &holdGone{Backplane: bps("gone"), unsubbed: make(chan struct{}, 1), replied: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(hold.let)
	_, urlB := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(hold), signalr.WithHubName("gone"))
	gone := hubtest.ConnectJSON(t, urlB)
	goneID := gone.ID(t)
	r := hubtest.ConnectJSON(t, urlB)
	id := r.ID(t)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hold.armed.Store(true)
	require.NoError(t, gone.WS.Close())
	select {
	case <-hold.unsubbed: // the connection is gone, its subject still there
	case <-ctx.Done():
		t.Fatal("the ended connection's subject was never unsubscribed")
	}
	added := make(chan error, 1)
	go func() { added <- a.Groups().Add(ctx, goneID, "g") }()
	t.Cleanup(func() { hold.let(); <-added })
	select {
	case <-hold.replied:
	case <-ctx.Done():
		t.Fatal("the node never answered the group add")
	}

	require.NoError(t, a.Clients().Client(id).Send(ctx, "receive", "meanwhile"))
	require.Equal(t, "meanwhile", r.Invocation("receive")[0], "a send from another node while an answer waits for the bus")
	hold.let()
	require.ErrorIs(t, <-added, signalr.ErrConnectionNotFound)
	added <- nil // for the cleanup
}
