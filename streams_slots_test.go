package signalr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// slotHub streams with uploads, for counting stream slots.
type slotHub struct{}

func (slotHub) Echo(n int, items <-chan int) <-chan int {
	out := make(chan int)
	go func() {
		defer close(out)
		for x := range items {
			out <- x * n
		}
	}()
	return out
}

func (slotHub) Pair(a, b <-chan int) <-chan int {
	out := make(chan int)
	close(out)
	return out
}

func (slotHub) Sum(items <-chan int) int {
	n := 0
	for x := range items {
		n += x
	}
	return n
}

// A stream invocation whose start fails gives back every slot it took:
// after more failed starts than WithMaxStreams allows, an upload still
// works.
func TestFailedStreamStartReleasesSlots(t *testing.T) {
	const limit = 2
	deny := func(*signalr.Context) error { return errors.New("no") }
	for _, tc := range []struct {
		name string
		msg  string // %d: a number unique to the attempt
	}{
		{"bad arguments", `{"type":4,"invocationId":"i%d","target":"Echo","arguments":["x"],"streamIds":["s%d"]}`},
		{"missing argument", `{"type":4,"invocationId":"i%d","target":"Echo","arguments":[],"streamIds":["s%d"]}`},
		{"unknown method", `{"type":4,"invocationId":"i%d","target":"Nope","arguments":[],"streamIds":["s%d"]}`},
		{"policy refusal", `{"type":4,"invocationId":"i%d","target":"Denied","arguments":[],"streamIds":["s%d"]}`},
		{"too many streams", `{"type":4,"invocationId":"i%d","target":"Pair","arguments":[],"streamIds":["a%d","b%[2]d"]}`},
		{"repeated stream id", `{"type":4,"invocationId":"i%d","target":"Pair","arguments":[],"streamIds":["d%d","d%[2]d"]}`},
		{"repeated stream id in an invocation", `{"type":1,"invocationId":"i%d","target":"Pair","arguments":[],"streamIds":["d%d","d%[2]d"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := hubtest.StartHub(t, slotHub{}, signalr.WithMaxStreams(limit), signalr.WithMethodPolicy("Denied", deny))
			c := hubtest.ConnectJSON(t, url)
			for k := 0; k < 3*limit; k++ {
				c.SendText(fmt.Sprintf(tc.msg, k, k) + "\x1e")
				m := c.Next()
				require.Equal(t, float64(3), m["type"], "attempt %d: %v", k, m)
				require.NotEmpty(t, m["error"], "attempt %d: %v", k, m)
			}
			c.SendText(`{"type":1,"invocationId":"ok","target":"Sum","arguments":[],"streamIds":["u"]}` + "\x1e" +
				`{"type":2,"invocationId":"u","item":40}` + "\x1e" +
				`{"type":2,"invocationId":"u","item":2}` + "\x1e" +
				`{"type":3,"invocationId":"u"}` + "\x1e")
			require.Equal(t, map[string]any{"type": float64(3), "invocationId": "ok", "result": float64(42)}, c.Next())
			// And a stream with an upload at the limit: it takes both slots.
			c.SendText(`{"type":4,"invocationId":"e","target":"Echo","arguments":[2],"streamIds":["v"]}` + "\x1e" +
				`{"type":2,"invocationId":"v","item":21}` + "\x1e" +
				`{"type":3,"invocationId":"v"}` + "\x1e")
			require.Equal(t, map[string]any{"type": float64(2), "invocationId": "e", "item": float64(42)}, c.Next())
			require.Equal(t, map[string]any{"type": float64(3), "invocationId": "e"}, c.Next())
		})
	}
}

func (slotHub) Denied(items <-chan int) <-chan int {
	out := make(chan int)
	close(out)
	return out
}
