package signalr_test

import (
	"testing"

	"github.com/gosignalr/signalr/internal/hubtest"
	"github.com/stretchr/testify/require"
)

// Invalid UTF-8 in a JSON message: in an argument the call fails as a
// binding error (ASP.NET Core's InvocationBindingFailureMessage) and the
// connection stays; in a string the protocol reads as text (target,
// invocation id, a property name) the connection is closed, as ASP.NET
// Core closes it when its reader fails.
func TestInvalidUTF8InJSONMessages(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.ConnectJSON(t, url)
	c.SendText("{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[\"a\xffb\"]}\x1e")
	require.Equal(t, map[string]any{"type": float64(3), "invocationId": "1",
		"error": "Failed to invoke 'Echo' due to an error on the server."}, c.Next())
	c.SendText("{\"type\":1,\"invocationId\":\"2\",\"target\":\"EchoKitchen\",\"arguments\":[{\"name\xff\":1}]}\x1e")
	require.Equal(t, "Failed to invoke 'EchoKitchen' due to an error on the server.", c.Completion("2")["error"])
	require.Equal(t, "é", c.Result("Echo", "é")) // valid text is fine, the connection is up

	for _, tc := range []struct{ name, msg, want string }{
		{"target", "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Ec\xffho\",\"arguments\":[\"x\"]}", "invalid UTF-8 in 'target'"},
		{"invocation id", "{\"type\":1,\"invocationId\":\"\xff\",\"target\":\"Echo\",\"arguments\":[\"x\"]}", "invalid UTF-8 in 'invocationId'"},
		{"key", "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[\"x\"],\"k\xc3\":0}", "invalid UTF-8 in a property name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hubtest.ConnectJSON(t, url)
			c.SendText(tc.msg + "\x1e")
			closeMsg := closeMessageOf(c)
			require.NotNil(t, closeMsg, "no Close message")
			require.Equal(t, "Connection closed with an error. InvalidDataException: invalid message: "+tc.want, closeMsg["error"])
		})
	}
}
