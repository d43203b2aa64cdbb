package signalr_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// stallingBus is a bus that, while stalled, answers every publish with a
// timeout after a while, as a backplane does when the path to its server
// drops everything but the connection still looks up.
type stallingBus struct {
	backplane.Backplane
	stalled atomic.Bool
	sends   atomic.Int64 // publishes attempted while stalled, probes aside
}

func (b *stallingBus) Publish(ctx context.Context, subject string, data []byte) error {
	if !b.stalled.Load() {
		return b.Backplane.Publish(ctx, subject, data)
	}
	if !strings.HasSuffix(subject, ".probe") {
		b.sends.Add(1)
	}
	select {
	case <-time.After(200 * time.Millisecond):
		return errors.New("stallingbus: not confirmed by the server: timeout")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestStalledBusKeepsLocalDeliveryGoing: once a publish times out, sends
// that must cross nodes fail at once, after serving local recipients,
// instead of each waiting for the bus in turn; they go through again once
// the bus answers.
func TestStalledBusKeepsLocalDeliveryGoing(t *testing.T) {
	mem := backplane.NewMemory()
	t.Cleanup(func() { mem.Close() })
	bus := &stallingBus{Backplane: mem}
	h, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bus), signalr.WithHubName("stall"))
	c := hubtest.ConnectJSON(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, h.Groups().Add(ctx, c.ID(t), "g"))

	bus.stalled.Store(true)
	const n = 20
	for i := range n {
		err := h.Clients().Group("g").Send(ctx, "receive", strconv.Itoa(i))
		if i == 0 {
			require.Error(t, err, "the bus did not take the message")
		} else {
			require.ErrorIs(t, err, signalr.ErrBackplaneInterrupted, "send %d: cross-node delivery failed and must say so", i)
		}
	}
	for i := range n {
		require.Equal(t, strconv.Itoa(i), c.Invocation("receive")[0], "local delivery goes on, in order")
	}
	require.EqualValues(t, 1, bus.sends.Load(), "only the first send waits for the stalled bus")
	require.ErrorIs(t, h.BackplaneErr(), signalr.ErrBackplaneInterrupted)

	bus.stalled.Store(false)
	require.Eventually(t, func() bool {
		return h.Clients().Group("g").Send(ctx, "receive", "after") == nil
	}, 10*time.Second, 20*time.Millisecond, "sends go through once the bus answers")
	require.NoError(t, h.BackplaneErr())
}

// heldFailBus holds the first broadcast's publish until the test lets
// it fail, and records the probes of a stalled link.
type heldFailBus struct {
	backplane.Backplane
	held    chan struct{} // a value once the first publish is held
	fail    chan struct{} // closed to fail it
	probes  atomic.Int64
	holding atomic.Bool
}

func (b *heldFailBus) Publish(ctx context.Context, subject string, data []byte) error {
	if strings.HasSuffix(subject, ".probe") {
		b.probes.Add(1)
		return errors.New("heldfailbus: down")
	}
	if !strings.HasSuffix(subject, ".all") || !b.holding.CompareAndSwap(false, true) {
		return b.Backplane.Publish(ctx, subject, data)
	}
	b.held <- struct{}{}
	<-b.fail
	return errors.New("heldfailbus: not confirmed by the server: timeout")
}

// TestStalledBusAfterShutdownStartsNoProbe fails a send's publish after
// Shutdown has returned: no probe of the link starts then, since nothing
// would stop it.
func TestStalledBusAfterShutdownStartsNoProbe(t *testing.T) {
	mem := backplane.NewMemory()
	t.Cleanup(func() { mem.Close() })
	bus := &heldFailBus{Backplane: mem, held: make(chan struct{}, 1), fail: make(chan struct{})}
	h, _ := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bus), signalr.WithHubName("stopped"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- h.Clients().All().Send(ctx, "receive", "x") }()
	select {
	case <-bus.held:
	case <-ctx.Done():
		t.Fatal("the send never published")
	}
	require.NoError(t, h.Shutdown(ctx))
	close(bus.fail)
	require.Error(t, <-sent)
	// A probe would publish at once, then every stallProbeEvery.
	time.Sleep(500 * time.Millisecond)
	require.Zero(t, bus.probes.Load(), "a probe of the link ran after Shutdown")
}
