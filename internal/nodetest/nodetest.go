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

var tapSkip = regexp.MustCompile(`(?m)^\s*ok \d+ - .* # SKIP.*$`)

var tapCount = regexp.MustCompile(`(?m)^# (tests|pass|fail|skipped) (\d+)$`)

// Run runs one node:test file against the server at url with the given
// transport and protocol, fails t when any scenario failed or the file
// could not run, and returns the numbers of passed and skipped scenarios.
func Run(t testing.TB, file, url, transport, protocol string) (passed, skipped int) {
	t.Helper()
	return run(t, "", file, url, transport, protocol)
}

// Releases are the older official client releases installed side by side,
// each in a folder of its own under Dir()/releases with its own lockfile.
var Releases = []string{"v3.1", "v5.0", "v6.0", "v7.0", "v8.0"}

// ReleaseDir is the folder of one of [Releases].
func ReleaseDir(release string) string {
	return filepath.Join(Dir(), "releases", release)
}

// RequireRelease fails t (it never skips) when Node or the given older
// release is missing: the test command installs it with npm ci.
func RequireRelease(t testing.TB, release string) {
	t.Helper()
	Require(t)
	if _, err := os.Stat(filepath.Join(ReleaseDir(release), "node_modules", "@microsoft", "signalr")); err != nil {
		t.Fatalf("client release %s is not installed; run: npm ci --prefix %s", release, ReleaseDir(release))
	}
}

// RunRelease is [Run] with the client loaded from an older release (one of
// [Releases]) instead of the current pinned one. Scenarios a release lacks
// the feature for are skipped by the scenario file with the reason, which
// is logged here.
func RunRelease(t testing.TB, release, file, url, transport, protocol string) (passed, skipped int) {
	t.Helper()
	return run(t, ReleaseDir(release), file, url, transport, protocol)
}

func run(t testing.TB, clientDir, file, url, transport, protocol string) (passed, skipped int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-concurrency=1", "--test-reporter=tap", file)
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(),
		"SIGNALR_URL="+url,
		"SIGNALR_TRANSPORT="+transport,
		"SIGNALR_PROTOCOL="+protocol,
		"SIGNALR_CLIENT_DIR="+clientDir,
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
	} else {
		for _, m := range tapSkip.FindAllString(out.String(), -1) {
			t.Log(m)
		}
	}
	return counts["pass"], counts["skipped"]
}
