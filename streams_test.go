package signalr_test

import (
	"context"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// nextNonPing returns the next message that is not a Ping, one at a time
// even when the server packed several into one frame.
func nextMessages(c *hubtest.RawClient, n int) []map[string]any {
	var out []map[string]any
	for len(out) < n {
		out = append(out, c.ReadMessages()...)
	}
	return out
}

func TestStreamOverRawWebSocket(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.HandshakeRaw(t, url)
	c.SendText(`{"type":4,"invocationId":"1","target":"CounterSeq","arguments":[3]}` + "\x1e")
	ms := nextMessages(c, 4)
	require.Equal(t, []map[string]any{
		{"type": float64(2), "invocationId": "1", "item": float64(1)},
		{"type": float64(2), "invocationId": "1", "item": float64(2)},
		{"type": float64(2), "invocationId": "1", "item": float64(3)},
		{"type": float64(3), "invocationId": "1"},
	}, ms)
}

func TestUploadOverRawWebSocket(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.HandshakeRaw(t, url)
	// Items may arrive before the method runs; all of them must count.
	c.SendText(`{"type":1,"invocationId":"5","target":"UploadMixed","arguments":["sum="],"streamIds":["0"]}` + "\x1e" +
		`{"type":2,"invocationId":"0","item":40}` + "\x1e" +
		`{"type":2,"invocationId":"0","item":2}` + "\x1e" +
		`{"type":3,"invocationId":"0"}` + "\x1e")
	require.Equal(t, map[string]any{"type": float64(3), "invocationId": "5", "result": "sum=42"}, c.ReadMessage())
}

func TestClientResultOverRawWebSocket(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.HandshakeRaw(t, url)
	c.SendText(`{"type":1,"invocationId":"1","target":"AskClient","arguments":["answer","hi"]}` + "\x1e")
	inv := c.ReadMessage()
	require.Equal(t, float64(1), inv["type"])
	require.Equal(t, "answer", inv["target"])
	id, _ := inv["invocationId"].(string)
	require.NotEmpty(t, id)
	c.SendText(`{"type":3,"invocationId":"` + id + `","result":"hi!"}` + "\x1e")
	require.Equal(t, map[string]any{"type": float64(3), "invocationId": "1", "result": "ok:hi!"}, c.ReadMessage())
}

// rangingHub's method ranges over its upload and ignores its context, as
// simple code does: a connection that drops must still end the range.
type rangingHub struct{ started, ended chan error }

func (h rangingHub) Count(items iter.Seq2[int, error]) int {
	n := 0
	for _, err := range items {
		if err != nil {
			h.ended <- err
			return n
		}
		if n++; n == 1 {
			h.started <- nil
		}
	}
	h.ended <- nil
	return n
}

func (h rangingHub) Sum(items <-chan int) int {
	n := 0
	for x := range items {
		if n += x; n == 1 {
			h.started <- nil
		}
	}
	h.ended <- nil
	return n
}

func TestUploadEndsWhenTheConnectionDrops(t *testing.T) {
	for _, method := range []string{"Count", "Sum"} {
		t.Run(method, func(t *testing.T) {
			h := rangingHub{started: make(chan error, 1), ended: make(chan error, 1)}
			hub, url := hubtest.StartHub(t, h)
			c := hubtest.HandshakeRaw(t, url)
			c.SendText(`{"type":1,"invocationId":"1","target":"` + method + `","arguments":[],"streamIds":["s"]}` + "\x1e" +
				`{"type":2,"invocationId":"s","item":1}` + "\x1e")
			select {
			case <-h.started:
			case <-time.After(10 * time.Second):
				t.Fatal("the method did not start")
			}
			require.NoError(t, c.WS.Close()) // no completion: the client just goes away
			select {
			case err := <-h.ended:
				if method == "Count" { // an iter.Seq2 parameter sees why
					var se *signalr.StreamError
					require.ErrorAs(t, err, &se)
					require.Equal(t, "Connection closed while streaming.", se.Message)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the method still waits for items of a connection that is gone")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, hub.Shutdown(ctx))
		})
	}
}
