package signalr_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// nextNonPing returns the next message that is not a Ping, one at a time
// even when the server packed several into one frame.
func nextMessages(c *rawClient, n int) []map[string]any {
	var out []map[string]any
	for len(out) < n {
		out = append(out, c.readMessages()...)
	}
	return out
}

func TestStreamOverRawWebSocket(t *testing.T) {
	_, url := startHub(t, interopHub{})
	c := handshakeRaw(t, url)
	c.sendText(`{"type":4,"invocationId":"1","target":"CounterSeq","arguments":[3]}` + "\x1e")
	ms := nextMessages(c, 4)
	require.Equal(t, []map[string]any{
		{"type": float64(2), "invocationId": "1", "item": float64(1)},
		{"type": float64(2), "invocationId": "1", "item": float64(2)},
		{"type": float64(2), "invocationId": "1", "item": float64(3)},
		{"type": float64(3), "invocationId": "1"},
	}, ms)
}

func TestUploadOverRawWebSocket(t *testing.T) {
	_, url := startHub(t, interopHub{})
	c := handshakeRaw(t, url)
	// Items may arrive before the method runs; all of them must count.
	c.sendText(`{"type":1,"invocationId":"5","target":"UploadMixed","arguments":["sum="],"streamIds":["0"]}` + "\x1e" +
		`{"type":2,"invocationId":"0","item":40}` + "\x1e" +
		`{"type":2,"invocationId":"0","item":2}` + "\x1e" +
		`{"type":3,"invocationId":"0"}` + "\x1e")
	require.Equal(t, map[string]any{"type": float64(3), "invocationId": "5", "result": "sum=42"}, c.readMessage())
}

func TestClientResultOverRawWebSocket(t *testing.T) {
	_, url := startHub(t, interopHub{})
	c := handshakeRaw(t, url)
	c.sendText(`{"type":1,"invocationId":"1","target":"AskClient","arguments":["answer","hi"]}` + "\x1e")
	inv := c.readMessage()
	require.Equal(t, float64(1), inv["type"])
	require.Equal(t, "answer", inv["target"])
	id, _ := inv["invocationId"].(string)
	require.NotEmpty(t, id)
	c.sendText(`{"type":3,"invocationId":"` + id + `","result":"hi!"}` + "\x1e")
	require.Equal(t, map[string]any{"type": float64(3), "invocationId": "1", "result": "ok:hi!"}, c.readMessage())
}
