package backplanetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gosignalr/signalr/backplane"
)

// RunPrefixes checks, as subtests of t, that Backplanes on one server
// with different prefixes are separate buses, and that those with the
// same prefix are one. It is for implementations whose options carry a
// prefix that lets several applications share a server. newNode is called
// several times in every subtest and returns a new Backplane on one
// server, with prefix ("" for the implementation's default); it registers
// the Backplane's cleanup with t.
func RunPrefixes(t *testing.T, newNode func(t *testing.T, prefix string) backplane.Backplane) {
	for _, tc := range []struct{ name, one, two string }{
		{"SimplePrefixes", "one", "two"},
		{"DottedPrefixes", "tenant-1.hub_a", "tenant-1.hub_b"},
		{"DefaultAndOther", "", "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testSeparateBuses(t, newNode, tc.one, tc.two)
		})
	}
}

func testSeparateBuses(t *testing.T, newNode func(t *testing.T, prefix string) backplane.Backplane, p1, p2 string) {
	one, oneAgain, two := newNode(t, p1), newNode(t, p1), newNode(t, p2)

	onOne, _ := record(t, one, "x", "subscriber on "+p1)
	onOneAgain, _ := record(t, oneAgain, "x", "subscriber on another node of "+p1)
	onTwo, _ := record(t, two, "x", "subscriber on "+p2)
	responder(t, oneAgain, "svc", "one:")
	responder(t, two, "svc", "two:")
	responder(t, two, "only.two", "two:")

	publish(t, one, "x", "for-one")
	publish(t, two, "x", "for-two")
	// Once each bus delivered its own sentinel, it has delivered all it
	// would.
	publish(t, one, "x", "end-one")
	publish(t, two, "x", "end-two")
	onOne.waitData("end-one")
	onOneAgain.waitData("end-one")
	onTwo.waitData("end-two")
	time.Sleep(quietPeriod)
	onOne.expect("for-one", "end-one")
	onOneAgain.expect("for-one", "end-one")
	onTwo.expect("for-two", "end-two")

	if got := request(t, one, "svc", "q"); got != "one:q" {
		t.Fatalf("Request on %q = %q, want the answer of its own bus %q", p1, got, "one:q")
	}
	if got := request(t, two, "svc", "q"); got != "two:q" {
		t.Fatalf("Request on %q = %q, want %q", p2, got, "two:q")
	}
	ctx, cancel := testContext()
	defer cancel()
	if _, err := one.Request(ctx, "only.two", nil); !errors.Is(err, backplane.ErrNoResponders) {
		t.Fatalf("Request on %q to a subject only %q subscribes to: %v, want ErrNoResponders", p1, p2, err)
	}
}
