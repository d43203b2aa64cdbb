package backplane_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/backplane/backplanetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestMemoryConformance(t *testing.T) {
	backplanetest.Run(t, func(t *testing.T) (a, b backplane.Backplane) {
		m := backplane.NewMemory()
		t.Cleanup(func() { _ = m.Close() })
		return m, m
	})
}

// A handler that publishes while Close runs must not hold Close up: Close
// used to wait for the handler under the bus's lock, which the handler's
// Publish needed.
func TestMemoryCloseWhileHandlerPublishes(t *testing.T) {
	m := backplane.NewMemory()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inHandler := make(chan struct{})
	handlerDone := make(chan struct{})
	_, err := m.Subscribe("loop", func(*backplane.Message) {
		defer close(handlerDone)
		close(inHandler)
		for ctx.Err() == nil {
			if err := m.Publish(ctx, "elsewhere", []byte("x")); errors.Is(err, backplane.ErrClosed) {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.Publish(ctx, "loop", []byte("go")) }()
	select {
	case <-inHandler:
	case <-ctx.Done():
		t.Fatal("handler not called")
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close deadlocked against a handler that publishes")
	}
	select {
	case <-handlerDone:
	case <-ctx.Done():
		t.Fatal("the handler's Publish never returned ErrClosed")
	}
}
