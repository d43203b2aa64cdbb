package signalr_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInvokeOverRawWebSocket(t *testing.T) {
	_, url := startHub(t, interopHub{})
	c := handshakeRaw(t, url)
	c.sendText(`{"target":"Add","arguments":[40,2],"invocationId":"0","type":1}` + "\x1e")
	require.Equal(t, map[string]any{"type": float64(3), "invocationId": "0", "result": float64(42)}, c.readMessage())
}
