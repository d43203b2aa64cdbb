// Package nodetest runs the official SignalR client's scenario files
// (internal/interop/node) under Node from Go tests.
package nodetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Dir is the folder of the scenario files and of the pinned client.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "interop", "node")
}

// Require fails t (it never skips) when Node or the official client is
// missing: the test command installs the client with npm ci.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required for the interop suite: %v", err)
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "@microsoft", "signalr")); err != nil {
		t.Fatalf("the official client is not installed; run: npm ci --prefix %s", Dir())
	}
}

var tapCount = regexp.MustCompile(`(?m)^# (tests|pass|fail|skipped) (\d+)$`)

// Run runs one node:test file against the server at url with the given
// transport and protocol, fails t when any scenario failed or the file
// could not run, and returns the numbers of passed and skipped scenarios.
func Run(t testing.TB, file, url, transport, protocol string) (passed, skipped int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-concurrency=1", "--test-reporter=tap", file)
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(),
		"SIGNALR_URL="+url,
		"SIGNALR_TRANSPORT="+transport,
		"SIGNALR_PROTOCOL="+protocol,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	counts := map[string]int{}
	for _, m := range tapCount.FindAllStringSubmatch(out.String(), -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	if err != nil || counts["tests"] == 0 || counts["fail"] > 0 || counts["pass"]+counts["skipped"] != counts["tests"] {
		t.Fatalf("official client scenarios failed (%v):\n%s", err, out.String())
	}
	if testing.Verbose() {
		t.Logf("%s", out.String())
	}
	return counts["pass"], counts["skipped"]
}
