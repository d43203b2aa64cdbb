package backplanetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gosignalr/signalr/backplane"
)

// RunConnClosed checks a Backplane whose connection to its bus was
// closed by its owner, the caller who lent it to the Backplane: every
// call fails with backplane.ErrClosed rather than waiting for a
// connection that will not come back, the first Close succeeds, and a
// Backplane that implements backplane.HealthReporter comes to report
// the state Closed. newClosed returns such a Backplane, its connection already
// closed, and registers the cleanup of what it made with t.
func RunConnClosed(t *testing.T, newClosed func(t *testing.T) backplane.Backplane) {
	b := newClosed(t)
	ctx, cancel := testContext()
	defer cancel()
	if err := b.Publish(ctx, "x", []byte("x")); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Publish on a closed connection: %v, want ErrClosed", err)
	}
	if sub, err := b.Subscribe("x", func(*backplane.Message) {}); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Subscribe on a closed connection: %v, want ErrClosed", err)
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}
	if _, err := b.Request(ctx, "x", []byte("x")); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("Request on a closed connection: %v, want ErrClosed", err)
	}
	if hr, ok := b.(backplane.HealthReporter); ok {
		// A client may tell of the close asynchronously.
		deadline := time.Now().Add(waitTimeout)
		for {
			s, err := hr.Health()
			if s == backplane.Closed && err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("Health on a closed connection = %v, %v; want closed with a cause", s, err)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close over a closed connection: %v", err)
	}
	if err := b.Close(); !errors.Is(err, backplane.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}
