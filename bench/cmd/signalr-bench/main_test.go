package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// runAsMainEnv makes the test binary behave as signalr-bench itself, so
// that the suite can start it as its server and worker processes.
const runAsMainEnv = "SIGNALR_BENCH_RUN_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
