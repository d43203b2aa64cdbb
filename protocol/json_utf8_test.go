package protocol_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/protocol"
)

// Invalid UTF-8 is refused where ASP.NET Core's System.Text.Json refuses
// it, not replaced by U+FFFD: in a string the protocol reads as text the
// message is invalid; in an argument the value fails to decode.
func TestJSONInvalidUTF8(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"target", "{\"type\":1,\"target\":\"Ec\xffho\",\"arguments\":[]}", "invalid UTF-8 in 'target'"},
		{"invocation id", "{\"type\":1,\"invocationId\":\"\xc3\x28\",\"target\":\"Echo\",\"arguments\":[]}", "invalid UTF-8 in 'invocationId'"},
		{"known key", "{\"type\":1,\"target\xff\":\"Echo\",\"arguments\":[]}", "invalid UTF-8 in a property name"},
		{"unknown key", "{\"type\":6,\"x\xed\xa0\x80\":1}", "invalid UTF-8 in a property name"},
		{"error", "{\"type\":7,\"error\":\"\xf8\x88\x80\x80\x80\"}", "invalid UTF-8 in 'error'"},
		{"stream id", "{\"type\":1,\"target\":\"Echo\",\"arguments\":[],\"streamIds\":[\"a\",\"\xff\"]}", "invalid UTF-8 in 'streamIds'"},
		{"header name", "{\"type\":6,\"headers\":{\"\xc0\xaf\":\"v\"}}", "invalid UTF-8 in a header name"},
		{"header value", "{\"type\":6,\"headers\":{\"k\":\"\xe2\x82\"}}", "invalid UTF-8 in a header value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, n, err := protocol.JSON{}.ParseMessage([]byte(tc.body+"\x1e"), 0)
			require.Nil(t, msg)
			require.Zero(t, n)
			require.ErrorIs(t, err, protocol.ErrInvalidMessage)
			require.ErrorContains(t, err, tc.want)
		})
	}

	// Valid multi-byte text, escaped or not, is accepted as it is.
	msg, _, err := protocol.JSON{}.ParseMessage([]byte("{\"type\":1,\"invocationId\":\"\xc3\xa9\",\"target\":\"\xe2\x82\xac\\u00e9\",\"arguments\":[\"\xff\"],\"headers\":{\"\xf0\x9f\x98\x80\":\"ok\"}}\x1e"), 0)
	require.NoError(t, err)
	inv := msg.(*protocol.Invocation)
	require.Equal(t, "é", inv.InvocationID)
	require.Equal(t, "€é", inv.Target)
	require.Equal(t, map[string]string{"😀": "ok"}, inv.Headers)

	// An argument is kept raw; decoding it fails rather than replacing.
	var s string
	err = protocol.JSON{}.Unmarshal(inv.Arguments[0].(protocol.Raw), &s)
	require.ErrorIs(t, err, protocol.ErrInvalidMessage)
	require.ErrorContains(t, err, "invalid UTF-8")
	var anyV any
	require.Error(t, protocol.JSON{}.Unmarshal(protocol.Raw("{\"k\xff\":1}"), &anyV), "a key inside an argument")
	require.NoError(t, protocol.JSON{}.Unmarshal(protocol.Raw("\"\xc3\xa9\""), &s))
	require.Equal(t, "é", s)
	require.False(t, errors.Is(protocol.JSON{}.Unmarshal(protocol.Raw(`"ok"`), &s), protocol.ErrInvalidMessage))
}
