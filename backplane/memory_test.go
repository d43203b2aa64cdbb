package backplane_test

import (
	"testing"

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
