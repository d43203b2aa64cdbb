package faultsuite

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// nodeEnv, when set in the environment, makes the test binary run as a
// hub node (see runNode) instead of running the tests: the suite starts
// its nodes by running itself again, so nodes need no build of their own
// and run with the race detector whenever the tests do.
const nodeEnv = "FAULTSUITE_NODE"

func TestMain(m *testing.M) {
	if os.Getenv(nodeEnv) != "" {
		os.Exit(runNode())
	}
	goleak.VerifyTestMain(m)
}
