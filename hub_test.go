package signalr_test

import (
	"testing"

	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/stretchr/testify/require"
)

func TestInvokeOverRawWebSocket(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.HandshakeRaw(t, url)
	c.SendText(`{"target":"Add","arguments":[40,2],"invocationId":"0","type":1}` + "\x1e")
	require.Equal(t, map[string]any{"type": float64(3), "invocationId": "0", "result": float64(42)}, c.ReadMessage())
}
