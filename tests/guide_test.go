package signalr_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuideSnippets checks that every Go block of the guide (docs/*.md)
// is, line for line (indentation aside), in guide_example_test.go, where
// it compiles and, for the examples with an Output line, runs. A block
// right after the line "<!-- not compiled: REASON -->" is left out: it
// uses a module this one does not require.
func TestGuideSnippets(t *testing.T) {
	src, err := os.ReadFile("guide_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	code := trimmedLines(string(src))
	pages, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no guide pages: %v", err)
	}
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) != "```go" {
				continue
			}
			skip := i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "<!-- not compiled:")
			start := i + 1
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			}
			if skip {
				continue
			}
			block := trimmedLines(strings.Join(lines[start:i], "\n"))
			if len(block) == 0 {
				continue
			}
			checked++
			if !containsRun(code, block) {
				t.Errorf("%s:%d: this Go block is not in guide_example_test.go:\n%s", page, start, strings.Join(block, "\n"))
			}
		}
	}
	if checked == 0 {
		t.Fatal("the guide has no Go blocks to check")
	}
}

// trimmedLines returns the lines of s without indentation, empty ones
// left out.
func trimmedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// containsRun reports whether block occurs in code as consecutive lines.
func containsRun(code, block []string) bool {
	for i := 0; i+len(block) <= len(code); i++ {
		match := true
		for j := range block {
			if code[i+j] != block[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
