// Package javatest runs the official SignalR Java client's scenario program
// (internal/interop/java) against a server from Go tests.
package javatest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Dir is the folder of the Maven project.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "interop", "java")
}

// Jar is the runnable jar (the program and every dependency) that
// `mvn package` builds.
func Jar() string { return filepath.Join(Dir(), "target", "signalr-java-interop.jar") }

var (
	buildOnce sync.Once
	buildErr  string
)

// Require fails t (it never skips) when Java or Maven is missing, and
// builds the jar when it is missing or older than its sources: offline
// first (when the local Maven repository already holds every artifact),
// then from Maven Central.
func Require(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for the Java interop suite (JDK 17 and Maven): %v", tool, err)
		}
	}
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != "" {
		t.Fatalf("building the Java interop program failed:\n%s", buildErr)
	}
}

func build() string {
	if !stale() {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	for _, args := range [][]string{{"-o", "-q", "-B", "package"}, {"-q", "-B", "package"}} {
		out.Reset()
		cmd := exec.CommandContext(ctx, "mvn", args...)
		cmd.Dir = Dir()
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err == nil {
			return ""
		} else if ctx.Err() != nil {
			return "mvn " + strings.Join(args, " ") + ": " + ctx.Err().Error() + "\n" + out.String()
		}
	}
	return out.String()
}

// stale reports whether the jar is missing or older than pom.xml or a
// source file.
func stale() bool {
	jar, err := os.Stat(Jar())
	if err != nil {
		return true
	}
	newer := false
	check := func(path string) {
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(jar.ModTime()) {
			newer = true
		}
	}
	check(filepath.Join(Dir(), "pom.xml"))
	_ = filepath.WalkDir(filepath.Join(Dir(), "src"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			check(path)
		}
		return nil
	})
	return newer
}

// Result is one scenario's line of the program's output.
type Result struct {
	Scenario string `json:"scenario"`
	Status   string `json:"status"` // pass, fail or skip
	Ms       int64  `json:"ms"`
	Error    string `json:"error,omitempty"`
}

var closing = regexp.MustCompile(`^(\d+) passed, (\d+) failed, (\d+) skipped$`)

// Run runs the scenario program with env (SIGNALR_URL, SIGNALR_AUTH_URL,
// SIGNALR_TRANSPORT, SIGNALR_PROTOCOL, ...), fails t when a scenario
// failed, the program exited non-zero or its output does not add up, and
// returns the results.
func Run(t testing.TB, env ...string) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-Dorg.slf4j.simpleLogger.defaultLogLevel="+logLevel(), "-jar", Jar())
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()

	var results []Result
	counts := map[string]int{}
	var total []int
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := closing.FindStringSubmatch(line); m != nil {
			total = nil
			for _, s := range m[1:] {
				n, _ := strconv.Atoi(s)
				total = append(total, n)
			}
			continue
		}
		var r Result
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil && r.Scenario != "" {
			results = append(results, r)
			counts[r.Status]++
		}
	}
	ok := err == nil && total != nil && len(results) > 0 && counts["fail"] == 0 &&
		total[0] == counts["pass"] && total[1] == counts["fail"] && total[2] == counts["skip"] &&
		len(results) == counts["pass"]+counts["skip"]
	if !ok {
		var b strings.Builder
		for _, r := range results {
			if r.Status == "fail" {
				b.WriteString("  FAIL " + r.Scenario + ": " + r.Error + "\n")
			}
		}
		t.Fatalf("official Java client scenarios failed (%v):\n%s\nstdout:\n%s\nstderr:\n%s", err, b.String(), stdout.String(), stderr.String())
	}
	if testing.Verbose() {
		t.Logf("%s", stdout.String())
	}
	return results
}

// logLevel is the Java client's log level: SIGNALR_JAVA_LOG_LEVEL (trace,
// debug, info, warn, error, off) or warn.
func logLevel() string {
	if l := os.Getenv("SIGNALR_JAVA_LOG_LEVEL"); l != "" {
		return l
	}
	return "warn"
}
