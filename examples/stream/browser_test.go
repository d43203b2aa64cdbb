package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/examples/internal/browsertest"
)

// TestBrowser drives the example's page in headless Chromium with the
// official browser client: a job can be canceled, a job's progress stream
// fills the progress bar, a refused job shows the hub's error, and a file
// upload as a client stream reaches the hub intact.
func TestBrowser(t *testing.T) {
	base := start(t, config{clientJS: browsertest.ClientJS(t), stepDelay: 5 * time.Millisecond})
	p := browsertest.Start(t).Open(t, base)
	p.Wait(t, "the page to connect", `document.getElementById("status").textContent === "connected"`)

	t.Run("cancel", func(t *testing.T) {
		p.Do(t,
			chromedp.SetValue(chromedp.CSS(`#job input[name=steps]`), "1000"),
			chromedp.Click(chromedp.ID("start")),
		)
		p.Wait(t, "the first steps", `document.getElementById("bar").value >= 2`)
		p.Do(t, chromedp.Click(chromedp.ID("cancel")))
		p.Wait(t, "the job to be canceled", `document.getElementById("job-state").textContent === "canceled" && !document.getElementById("start").disabled`)
	})

	t.Run("progress", func(t *testing.T) {
		const steps = 40
		p.Do(t,
			chromedp.SetValue(chromedp.CSS(`#job input[name=steps]`), strconv.Itoa(steps)),
			chromedp.Click(chromedp.ID("start")),
		)
		p.Wait(t, "the job to finish", `document.getElementById("job-state").textContent === "done"`)
		p.Wait(t, "a full progress bar", `(() => { const b = document.getElementById("bar"); return b.max === `+strconv.Itoa(steps)+` && b.value === b.max; })()`)
		assert.Equal(t, "finished step 40 of 40", p.Text(t, "#job-note"))
	})

	t.Run("refused job", func(t *testing.T) {
		// The form's min attribute keeps people from asking for 0 steps;
		// the hub refuses them anyway.
		p.Do(t,
			chromedp.SetValue(chromedp.CSS(`#job input[name=steps]`), "0"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("job").dispatchEvent(new Event("submit", {cancelable: true}))`),
		)
		p.Wait(t, "the job to fail", `document.getElementById("job-state").textContent.startsWith("failed: ")`)
		assert.Contains(t, p.Text(t, "#job-state"), "steps must be between 1 and 1000")
	})

	t.Run("upload", func(t *testing.T) {
		// Not a whole number of the page's 12 KiB chunks: the last is short.
		data := make([]byte, 100_000)
		_, _ = rand.Read(data)
		file := filepath.Join(t.TempDir(), "data.bin")
		require.NoError(t, os.WriteFile(file, data, 0o644))
		sum := sha256.Sum256(data)

		p.Do(t,
			chromedp.SetUploadFiles(chromedp.CSS(`#upload input[type=file]`), []string{file}),
			chromedp.Click(chromedp.ID("send")),
		)
		p.Wait(t, "the upload to finish", `document.getElementById("upload-state").textContent === "done"`)
		assert.Equal(t, hex.EncodeToString(sum[:]), p.Text(t, "#sha256"), "SHA-256 of the bytes the hub received")
		assert.Equal(t, "100000", p.Text(t, "#bytes"), "bytes the hub received")
		assert.Equal(t, "9", p.Text(t, "#chunks"), "chunks the hub received") // ceil(100000 / 12288)
		assert.Equal(t, "100000", p.Text(t, "#sent"), "bytes the page sent")
	})
}
