// Package pythontest runs the Python SignalR clients' scenario programs
// (internal/interop/python) from Go tests.
package pythontest

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

// Dir is the folder of the scenario programs and of requirements.txt.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "interop", "python")
}

// Python is the interpreter of the virtual environment that the test
// command creates in Dir()/.venv from requirements.txt.
func Python() string {
	return filepath.Join(Dir(), ".venv", "bin", "python")
}

// Require fails t (it never skips) when the virtual environment or one of
// the pinned clients is missing: scripts/test.sh installs them.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Python()); err != nil {
		t.Fatalf("the Python clients are not installed (%v); run: python3 -m venv %s && %s -m pip install -r %s",
			err, filepath.Join(Dir(), ".venv"), Python(), filepath.Join(Dir(), "requirements.txt"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, Python(), "-c", "import pysignalr, signalrcore").CombinedOutput()
	if err != nil {
		t.Fatalf("the Python clients do not import (%v): %s; reinstall with: %s -m pip install -r %s",
			err, out, Python(), filepath.Join(Dir(), "requirements.txt"))
	}
}

var (
	summary = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed, (\d+) skipped$`)
	skipped = regexp.MustCompile(`(?m)^skip .*$`)
)

// Run runs one scenario program (e.g. "pysignalr_scenarios.py") against
// the interop server at url and the token-protected server at authURL,
// with the given transport and protocol. It fails t when a scenario failed
// or the program did not finish within two minutes, logs each skipped
// scenario with its reason, and returns the numbers of passed and skipped
// scenarios.
func Run(t testing.TB, program, url, authURL, transport, protocol string) (passed, skips int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Python(), program)
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(),
		"SIGNALR_URL="+url,
		"SIGNALR_AUTH_URL="+authURL,
		"SIGNALR_TRANSPORT="+transport,
		"SIGNALR_PROTOCOL="+protocol,
		"PYTHONDONTWRITEBYTECODE=1",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	m := summary.FindStringSubmatch(stdout.String())
	if err != nil || m == nil || m[2] != "0" {
		t.Fatalf("%s (%s/%s) failed (%v):\n%s\nstderr:\n%s", program, transport, protocol, err, stdout.String(), stderr.String())
	}
	if testing.Verbose() {
		t.Logf("%s", stdout.String())
	} else {
		for _, line := range skipped.FindAllString(stdout.String(), -1) {
			t.Log(line)
		}
	}
	passed, _ = strconv.Atoi(m[1])
	skips, _ = strconv.Atoi(m[3])
	return passed, skips
}
