package centrifugepeer_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// centrifuge's node unsubscribes an emptied channel from its broker
		// after a delay of about a second, on a worker that outlives
		// Node.Shutdown; it is the peer's, not this package's.
		goleak.IgnoreAnyFunction("github.com/centrifugal/centrifuge.(*Node).unsubscribeFromBrokerWhenEmpty.func1"),
	)
}
