package signalr_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// subCountingBackplane counts the live subscriptions of each subject.
type subCountingBackplane struct {
	backplane.Backplane
	mu   sync.Mutex
	live map[string]int
}

func (b *subCountingBackplane) Subscribe(subject string, h backplane.Handler) (backplane.Subscription, error) {
	sub, err := b.Backplane.Subscribe(subject, h)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.live[subject]++
	b.mu.Unlock()
	return &countedSub{Subscription: sub, b: b, subject: subject}, nil
}

func (b *subCountingBackplane) count(subject string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.live[subject]
}

type countedSub struct {
	backplane.Subscription
	b       *subCountingBackplane
	subject string
	once    sync.Once
}

func (s *countedSub) Unsubscribe() error {
	s.once.Do(func() {
		s.b.mu.Lock()
		s.b.live[s.subject]--
		s.b.mu.Unlock()
	})
	return s.Subscription.Unsubscribe()
}

// TestGroupJoinLeaveRaceLeavesNoSubscription has connections join and
// leave one group from many goroutines at once while some of them end;
// once every connection has left or ended, the node holds no subscription
// to the group's subject. The group's subject hash is slow, as a busy
// node can be between a change of the group and of its subscription.
func TestGroupJoinLeaveRaceLeavesNoSubscription(t *testing.T) {
	bp := &subCountingBackplane{Backplane: backplane.NewMemory(), live: map[string]int{}}
	t.Cleanup(func() { bp.Backplane.Close() })
	slowHash := func(s string) string {
		if s == "room" {
			time.Sleep(50 * time.Microsecond)
		}
		return "x" + s
	}
	h, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithBackplane(bp), signalr.WithHubName("refs"), signalr.WithSubjectHash(slowHash))
	const subject = "hxrefs.g.xroom"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const conns, workers, rounds = 6, 4, 100
	clients := make([]*hubtest.JSONClient, conns)
	ids := make([]string, conns)
	for i := range clients {
		clients[i] = hubtest.ConnectJSON(t, url)
		ids[i] = clients[i].ID(t)
	}
	require.NoError(t, h.Groups().Add(ctx, ids[0], "room"))
	require.Equal(t, 1, bp.count(subject), "the group's subject")
	require.NoError(t, h.Groups().Remove(ctx, ids[0], "room"))
	require.Equal(t, 0, bp.count(subject))

	var wg sync.WaitGroup
	errs := make(chan error, conns*workers)
	for i := range conns {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					if i%3 == 0 && w == 0 && r == rounds/2 {
						clients[i].WS.Close() // the connection ends meanwhile
					}
					err := h.Groups().Add(ctx, ids[i], "room")
					if err == nil {
						err = h.Groups().Remove(ctx, ids[i], "room")
					}
					if (r+w)%2 == 0 && err == nil {
						err = h.Groups().Add(ctx, ids[i], "room")
					}
					if err != nil && !errors.Is(err, signalr.ErrConnectionNotFound) {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, id := range ids {
		if err := h.Groups().Remove(ctx, id, "room"); err != nil {
			require.ErrorIs(t, err, signalr.ErrConnectionNotFound)
		}
	}
	// Ended connections leave as the hub notices they ended.
	require.Eventually(t, func() bool {
		members, err := h.GroupMembers(ctx, "room")
		return err == nil && len(members) == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return bp.count(subject) == 0 }, 10*time.Second, 10*time.Millisecond,
		"subscriptions to the group's subject left: %d", bp.count(subject))
}
