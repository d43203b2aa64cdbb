package chathub_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/examples/chathub"
	"github.com/gosignalr/signalr/examples/internal/browsertest"
)

// TestBrowserChat opens the chat page in two browser contexts of headless
// Chromium, with the official browser client served by the page's server,
// and checks that a message typed in one page shows up in the other, for
// everyone and in a room.
func TestBrowserChat(t *testing.T) {
	clientJS := browsertest.ClientJS(t)
	hub, err := signalr.New(chathub.Chat{}, signalr.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	srv := httptest.NewServer(chathub.Mux(hub, clientJS))
	t.Cleanup(func() { // after the browser is gone (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, hub.Shutdown(ctx))
		srv.Close()
	})

	b := browsertest.Start(t)
	alice, bob := b.Open(t, srv.URL), b.Open(t, srv.URL)
	for _, p := range []*browsertest.Page{alice, bob} {
		p.Wait(t, "the page to connect", `document.getElementById("status").textContent === "connected"`)
	}
	alice.Do(t, chromedp.SetValue(chromedp.CSS(`#room input[name=name]`), "alice"))
	bob.Do(t, chromedp.SetValue(chromedp.CSS(`#room input[name=name]`), "bob"))

	// Everyone: no room joined.
	alice.Do(t,
		chromedp.SetValue(chromedp.CSS(`#send input[name=text]`), "hello from alice"),
		chromedp.Click(chromedp.CSS(`#send button`)),
	)
	bob.Wait(t, "alice's message in bob's page", `[...document.querySelectorAll("#log div")].some((d) => d.textContent === "alice: hello from alice")`)
	alice.Wait(t, "alice's message in her own page", `[...document.querySelectorAll("#log div")].some((d) => d.textContent === "alice: hello from alice")`)
	alice.Wait(t, "the text field to be cleared after the send", `document.querySelector("#send input[name=text]").value === ""`)

	// A room: alice joins, then bob; alice sees him join and his message.
	alice.Do(t,
		chromedp.SetValue(chromedp.CSS(`#room input[name=room]`), "ops"),
		chromedp.Click(chromedp.CSS(`#room button`)),
	)
	alice.Wait(t, "alice's join notice", `[...document.querySelectorAll("#log div.system")].some((d) => d.textContent === "[ops] alice joined")`)
	bob.Do(t,
		chromedp.SetValue(chromedp.CSS(`#room input[name=room]`), "ops"),
		chromedp.Click(chromedp.CSS(`#room button`)),
	)
	alice.Wait(t, "bob's join notice in alice's page", `[...document.querySelectorAll("#log div.system")].some((d) => d.textContent === "[ops] bob joined")`)
	bob.Do(t,
		chromedp.SetValue(chromedp.CSS(`#send input[name=text]`), "room message from bob"),
		chromedp.Click(chromedp.CSS(`#send button`)),
	)
	alice.Wait(t, "bob's room message in alice's page", `[...document.querySelectorAll("#log div")].some((d) => d.textContent === "[ops] bob: room message from bob")`)
}
