package client

import (
	"io"
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	err := redact(&url.Error{Op: "Post", URL: "http://h/hub?x=1&id=SECRET&access_token=TOKEN", Err: io.EOF})
	if s := err.Error(); strings.Contains(s, "SECRET") || strings.Contains(s, "TOKEN") || !strings.Contains(s, "x=1") {
		t.Fatalf("not redacted: %s", s)
	}
}
