// Package browsertest drives headless Chromium from Go tests of the example
// pages, with github.com/chromedp/chromedp.
//
// The tests need Debian's /usr/bin/chromium (scripts/test.sh installs it)
// and the official browser client that npm ci installs under
// internal/interop/node. A missing Chromium fails the test when the CI
// environment variable is set and skips it otherwise; a missing client
// always fails it.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gosignalr/signalr/internal/nodetest"
)

// Chromium is where Debian's chromium package puts the browser.
const Chromium = "/usr/bin/chromium"

// Timeouts: starting the browser or a tab, and one Page.Do or Page.Wait.
const (
	StartTimeout  = 60 * time.Second
	ActionTimeout = 30 * time.Second
)

// ClientJS returns the path of the official browser client
// (@microsoft/signalr's dist/browser/signalr.min.js) that npm ci installs
// for the interop suite. It fails t when the file is missing.
func ClientJS(t testing.TB) string {
	t.Helper()
	path := filepath.Join(nodetest.Dir(), "node_modules", "@microsoft", "signalr", "dist", "browser", "signalr.min.js")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the official browser client is not installed (%v); run: npm ci --prefix %s", err, nodetest.Dir())
	}
	return path
}

// execPath returns the browser to run: Chromium, or else chromium on the
// PATH. With none, it fails t when CI is set and skips t otherwise.
func execPath(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Chromium); err == nil {
		return Chromium
	}
	if path, err := exec.LookPath("chromium"); err == nil {
		return path
	}
	const msg = "the browser tests need " + Chromium + ": apt-get install chromium (scripts/test.sh installs it)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipped because CI is not set")
	return ""
}

// Browser is a headless Chromium with a fresh profile, started for one
// test.
type Browser struct {
	ctx context.Context // the browser's first tab, which owns the process
}

// Start starts a headless Chromium for t (see the package doc for when it
// skips). The browser stops when t and its subtests end.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := execPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root here
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Keep the browser off the network: it has none to reach, and
		// waiting for it stalls the start.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		closeCtx, cancelClose := context.WithTimeout(ctx, 10*time.Second)
		defer cancelClose()
		if err := chromedp.Cancel(closeCtx); err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Logf("closing the browser: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	if err := firstRun(ctx, cancel); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return &Browser{ctx: ctx}
}

// firstRun attaches ctx to its browser and tab. The first run of a chromedp
// context must not carry a deadline (the browser or tab would end with
// it), so the wait is bounded here instead; cancel ends a start that takes
// too long.
func firstRun(ctx context.Context, cancel context.CancelFunc) error {
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(StartTimeout):
		cancel()
		<-done
		return context.DeadlineExceeded
	}
}

// Page is one tab, in a browser context of its own: pages do not share
// cookies or storage, like two people on two machines. Its methods take the
// running test or subtest, which they fail; call them from its goroutine,
// one at a time.
type Page struct {
	ctx context.Context

	mu      sync.Mutex
	console []string // the page's console messages and uncaught exceptions
}

// Open opens url in a new tab and waits for the page to load. The tab
// closes when t ends.
func (b *Browser) Open(t testing.TB, url string) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	read := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		select {
		case <-read:
		case <-time.After(10 * time.Second):
			t.Error("the console reader of " + url + " did not stop")
		}
	})
	if err := firstRun(ctx, cancel); err != nil {
		close(read)
		t.Fatalf("opening a tab: %v", err)
	}
	p := &Page{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return // the tab closed
			}
			p.mu.Lock()
			p.console = append(p.console, m.String())
			p.mu.Unlock()
		}
	}()
	p.Do(t, chromedp.Navigate(url))
	return p
}

// Context returns the tab's chromedp context, for chromedp.Run with
// actions that return values. Give such calls a deadline.
func (p *Page) Context() context.Context { return p.ctx }

// Do runs the actions in the tab, in order, and fails the test with the
// page's console output when one fails or they take longer than
// ActionTimeout.
func (p *Page) Do(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v\n%s", err, p.Console())
	}
}

// Wait waits until the JavaScript expression is truthy in the page, and
// fails the test, naming what it waited for and showing the page's console
// output, when it is not within ActionTimeout.
func (p *Page) Wait(t testing.TB, what, expression string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expression,
		chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(ActionTimeout)))
	if err != nil {
		t.Fatalf("waiting for %s (%s): %v\n%s", what, expression, err, p.Console())
	}
}

// Text returns the text content of the first element the CSS selector
// matches, failing the test when there is none.
func (p *Page) Text(t testing.TB, selector string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("reading %s: %v\n%s", selector, err, p.Console())
	}
	return s
}

// Console returns what the page wrote to its console so far, one message a
// line, for failure messages.
func (p *Page) Console() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.console) == 0 {
		return "(the page's console is empty)"
	}
	return "the page's console:\n\t" + strings.Join(p.console, "\n\t")
}
