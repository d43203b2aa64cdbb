package signalr_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// holdAnswers holds every Publish to a presence query's reply subject
// until the test releases it (or the publish's context ends): a bus slow
// to confirm one node's answer.
type holdAnswers struct {
	backplane.Backplane
	held    chan struct{} // one value per held Publish
	release chan struct{}
	once    sync.Once
}

func (h *holdAnswers) Publish(ctx context.Context, subject string, data []byte) error {
	if strings.Contains(subject, ".r.") {
		select {
		case h.held <- struct{}{}:
		default:
		}
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.Backplane.Publish(ctx, subject, data)
}

func (h *holdAnswers) let() { h.once.Do(func() { close(h.release) }) }

// TestSlowPresenceAnswerDoesNotBlockDispatch holds a node's answer to a
// presence query in the bus: meanwhile, messages from other nodes to that
// node's connections are still delivered.
func TestSlowPresenceAnswerDoesNotBlockDispatch(t *testing.T) {
	url, _ := startNATS(t, 0)
	bps := natsBackplanes(t, url)
	opt := signalr.WithPresenceInterval(20 * time.Second)
	a, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bps("pres")), signalr.WithHubName("pres"), opt)
	hold := &holdAnswers{Backplane: bps("pres"), held: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(hold.let)
	_, urlB := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(hold), signalr.WithHubName("pres"), opt)
	r := hubtest.ConnectJSON(t, urlB)
	id := r.ID(t)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	qctx, qcancel := context.WithCancel(ctx)
	counted := make(chan error, 1)
	go func() {
		_, err := a.ConnectionCount(qctx)
		counted <- err
	}()
	t.Cleanup(func() { qcancel(); <-counted })
	select {
	case <-hold.held:
	case <-ctx.Done():
		t.Fatal("the other node never answered the presence query")
	}

	require.NoError(t, a.Clients().Client(id).Send(ctx, "receive", "meanwhile"))
	require.NoError(t, a.Clients().All().Send(ctx, "receive", "all"))
	require.Equal(t, "meanwhile", r.Invocation("receive")[0], "a send from another node while a presence answer waits for the bus")
	require.Equal(t, "all", r.Invocation("receive")[0])
	hold.let()
}

// slowAnswers delays every Publish to a presence query's reply subject.
type slowAnswers struct {
	backplane.Backplane
	delay time.Duration
}

func (s *slowAnswers) Publish(ctx context.Context, subject string, data []byte) error {
	if strings.Contains(subject, ".r.") {
		t := time.NewTimer(s.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Backplane.Publish(ctx, subject, data)
}

// TestPresenceFromNewNodeCountsUnheardNodes queries from a node that has
// just joined, before the older node's next heartbeat: the older node's
// answer, slow to come, still counts.
func TestPresenceFromNewNodeCountsUnheardNodes(t *testing.T) {
	bus := backplane.NewMemory()
	t.Cleanup(func() { bus.Close() })
	opt := signalr.WithPresenceInterval(2 * time.Second)
	_, urlB := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(&slowAnswers{Backplane: bus, delay: 300 * time.Millisecond}), signalr.WithHubName("pres"), opt)
	hubtest.ConnectJSON(t, urlB).ID(t)
	// B announced itself before A was there, and beats again only in 2 s.
	a, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bus), signalr.WithHubName("pres"), opt)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := a.ConnectionCount(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the connection on the node not heard from yet")
}
