package contract_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goBuild builds the package at dir with the go command running this
// test and returns its output.
func goBuild(t *testing.T, dir string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", os.DevNull, dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "go build %s did not finish", dir)
	return string(out), err
}

// wantErrors reads the "// ERROR `regexp`" markers of a Go file, by line.
func wantErrors(t *testing.T, path string) map[int]*regexp.Regexp {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	marker := regexp.MustCompile("// ERROR (`.*`)$")
	want := map[int]*regexp.Regexp{}
	s := bufio.NewScanner(f)
	for line := 1; s.Scan(); line++ {
		if m := marker.FindStringSubmatch(s.Text()); m != nil {
			expr, err := strconv.Unquote(m[1])
			require.NoError(t, err, "line %d", line)
			want[line] = regexp.MustCompile(expr)
		}
	}
	require.NoError(t, s.Err())
	return want
}

// TestCorrectTypesBuild is the control of TestWrongTypesDoNotCompile: the
// same calls with the declared types build.
func TestCorrectTypesBuild(t *testing.T) {
	out, err := goBuild(t, "./testdata/righttypes")
	require.NoError(t, err, "go build:\n%s", out)
}

// TestWrongTypesDoNotCompile proves that a descriptor turns a call or a
// handler with the wrong argument types into a compile error: every
// marked line of testdata/wrongtypes fails with the expected type error,
// and nothing else does.
func TestWrongTypesDoNotCompile(t *testing.T) {
	const file = "testdata/wrongtypes/wrongtypes.go"
	want := wantErrors(t, file)
	require.NotEmpty(t, want)

	out, err := goBuild(t, "./testdata/wrongtypes")
	require.Error(t, err, "go build succeeded; output:\n%s", out)

	got := map[int][]string{}
	errLine := regexp.MustCompile(`wrongtypes\.go:(\d+):\d+: (.*)`)
	for _, l := range strings.Split(out, "\n") {
		if m := errLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			got[n] = append(got[n], m[2])
		}
	}
	for line, re := range want {
		msgs, ok := got[line]
		if !assert.True(t, ok, "line %d compiled; want an error matching %q\n%s", line, re, out) {
			continue
		}
		matched := false
		for _, m := range msgs {
			matched = matched || re.MatchString(m)
		}
		assert.True(t, matched, "line %d: errors %q do not match %q", line, msgs, re)
	}
	for line, msgs := range got {
		assert.Contains(t, want, line, "unexpected error on line %d: %q", line, msgs)
	}
}
