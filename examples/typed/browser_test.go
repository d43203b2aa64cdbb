package main

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"

	"github.com/gosignalr/signalr/examples/internal/browsertest"
)

// TestBrowser drives the page in headless Chromium with the official
// browser client: two bidders on two pages see each other's bids, the
// one outbid is told, and a large bid waits for the page's confirmation.
func TestBrowser(t *testing.T) {
	base := "http://" + startExampleWith(t, 100, browsertest.ClientJS(t))
	b := browsertest.Start(t)
	alice, bob := b.Open(t, base), b.Open(t, base)
	for name, p := range map[string]*browsertest.Page{"alice": alice, "bob": bob} {
		p.Do(t,
			chromedp.SetValue(chromedp.CSS(`#join input[name=name]`), name),
			chromedp.Click(chromedp.CSS(`#join button`)),
		)
		p.Wait(t, name+" to connect", `document.getElementById("status").textContent === "bidding as `+name+`"`)
		p.Wait(t, name+" to see the lots", `document.querySelectorAll("#lots tr[data-lot]").length === 3`)
	}

	bid := func(p *browsertest.Page, amount string) {
		t.Helper()
		p.Do(t,
			chromedp.SetValue(chromedp.CSS(`tr[data-lot=lamp] input[name=amount]`), amount),
			chromedp.Click(chromedp.CSS(`tr[data-lot=lamp] button`)),
		)
	}
	best := func(p *browsertest.Page, amount, by string) string {
		return `document.querySelector("tr[data-lot=lamp] .best").textContent === "` + amount +
			`" && document.querySelector("tr[data-lot=lamp] .by").textContent === "` + by + `"`
	}
	logged := func(text string) string {
		return `[...document.querySelectorAll("#log li")].some(li => li.textContent.includes("` + text + `"))`
	}

	bid(alice, "10")
	alice.Wait(t, "alice's bid on her page", best(alice, "10", "alice (you)"))
	bob.Wait(t, "alice's bid on bob's page", best(bob, "10", "alice"))

	bid(bob, "20")
	bob.Wait(t, "bob's bid on his page", best(bob, "20", "bob (you)"))
	alice.Wait(t, "alice to be told she was outbid", logged("outbid on lamp: bob bid 20"))
	alice.Wait(t, "bob's bid on alice's page", best(alice, "20", "bob"))

	// The page answers the hub's Confirm with window.confirm: no, then yes.
	alice.Do(t, chromedp.Evaluate[chromedp.Void](`window.confirm = () => false`))
	bid(alice, "150")
	alice.Wait(t, "the withdrawn bid", logged("bid withdrawn"))
	assert.Contains(t, alice.Text(t, "tr[data-lot=lamp] .best"), "20")

	alice.Do(t, chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	bid(alice, "150")
	alice.Wait(t, "the confirmed bid", best(alice, "150", "alice (you)"))
	bob.Wait(t, "bob to be told he was outbid", logged("outbid on lamp: alice bid 150"))
}
