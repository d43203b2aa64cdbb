package loadgen

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/protocol"
)

func parseAll(t *testing.T, p Protocol, frame []byte) []inMsg {
	t.Helper()
	var out []inMsg
	var scratch []byte
	require.NoError(t, eachMessage(p, frame, &scratch, func(m *inMsg) {
		c := *m
		// Copy what points into the frame or scratch.
		c.target = append([]byte(nil), m.target...)
		c.arg0 = append([]byte(nil), m.arg0...)
		c.result = append([]byte(nil), m.result...)
		c.errText = append([]byte(nil), m.errText...)
		out = append(out, c)
	}))
	return out
}

// TestWireReadsTheServersMessages encodes messages with the library's
// codecs and decodes them with the load client's.
func TestWireReadsTheServersMessages(t *testing.T) {
	msgs := []protocol.Message{
		&protocol.Invocation{Target: BroadcastTarget, Arguments: []any{"hello \"x\" \x1e é"}},
		&protocol.Invocation{Target: "other", Arguments: []any{42, "second"}, Headers: map[string]string{"a": "b"}},
		&protocol.Completion{InvocationID: "17", HasResult: true, Result: "echoed"},
		&protocol.Completion{InvocationID: "18", Error: "boom"},
		&protocol.Completion{InvocationID: "19"},
		&protocol.Completion{InvocationID: "20", HasResult: true, Result: map[string]any{"k": []int{1, 2}}},
		&protocol.Ping{},
		&protocol.Close{Error: "closing: why", AllowReconnect: true},
		&protocol.Close{},
	}
	for _, tc := range []struct {
		p     Protocol
		codec protocol.HubProtocol
	}{{JSON, protocol.JSON{}}, {MessagePack, protocol.MessagePack{}}} {
		t.Run(string(tc.p), func(t *testing.T) {
			var frame []byte
			for _, m := range msgs {
				var err error
				frame, err = tc.codec.AppendMessage(frame, m)
				require.NoError(t, err)
			}
			got := parseAll(t, tc.p, frame)
			require.Len(t, got, len(msgs))

			assert.Equal(t, msgInvocation, got[0].typ)
			assert.Equal(t, BroadcastTarget, string(got[0].target))
			assert.True(t, got[0].hasArg0)
			assert.Equal(t, "hello \"x\" \x1e é", string(got[0].arg0))

			assert.Equal(t, "other", string(got[1].target))
			assert.False(t, got[1].hasArg0, "a number is not a string payload")

			assert.Equal(t, msgCompletion, got[2].typ)
			assert.True(t, got[2].hasID)
			assert.Equal(t, uint64(17), got[2].id)
			assert.True(t, got[2].hasResult)
			assert.Equal(t, "echoed", string(got[2].result))

			assert.True(t, got[3].hasErr)
			assert.Equal(t, "boom", string(got[3].errText))
			assert.Equal(t, uint64(18), got[3].id)

			assert.Equal(t, uint64(19), got[4].id)
			assert.False(t, got[4].hasResult || got[4].hasErr)

			assert.Equal(t, uint64(20), got[5].id)
			assert.False(t, got[5].hasResult, "a non-string result is not taken for a string")

			assert.Equal(t, msgPing, got[6].typ)
			assert.Equal(t, msgClose, got[7].typ)
			assert.Equal(t, "closing: why", string(got[7].errText))
			assert.False(t, got[8].hasErr)
		})
	}
}

// TestWireIsReadByTheServer decodes the load client's messages with the
// library's codecs.
func TestWireIsReadByTheServer(t *testing.T) {
	long := strings.Repeat("y", 300)
	for _, tc := range []struct {
		p     Protocol
		codec protocol.HubProtocol
	}{{JSON, protocol.JSON{}}, {MessagePack, protocol.MessagePack{}}} {
		t.Run(string(tc.p), func(t *testing.T) {
			var frame []byte
			frame = appendInvocation(frame, tc.p, 7, "Publish", []byte("g1"), []byte("pay\"load\x01"))
			frame = appendInvocation(frame, tc.p, 12345678901, "Echo", []byte(long))
			frame = appendPing(frame, tc.p)
			frame = appendClose(frame, tc.p)

			m, n, err := tc.codec.ParseMessage(frame, 0)
			require.NoError(t, err)
			inv := m.(*protocol.Invocation)
			assert.Equal(t, "7", inv.InvocationID)
			assert.Equal(t, "Publish", inv.Target)
			require.Len(t, inv.Arguments, 2)
			var s string
			require.NoError(t, tc.codec.Unmarshal(inv.Arguments[1].(protocol.Raw), &s))
			assert.Equal(t, "pay\"load\x01", s)
			frame = frame[n:]

			m, n, err = tc.codec.ParseMessage(frame, 0)
			require.NoError(t, err)
			inv = m.(*protocol.Invocation)
			assert.Equal(t, "12345678901", inv.InvocationID)
			require.NoError(t, tc.codec.Unmarshal(inv.Arguments[0].(protocol.Raw), &s))
			assert.Equal(t, long, s)
			frame = frame[n:]

			m, n, err = tc.codec.ParseMessage(frame, 0)
			require.NoError(t, err)
			assert.IsType(t, &protocol.Ping{}, m)
			frame = frame[n:]

			m, n, err = tc.codec.ParseMessage(frame, 0)
			require.NoError(t, err)
			assert.IsType(t, &protocol.Close{}, m)
			assert.Len(t, frame, n)
		})
	}
}

// TestWireMatchesTheOfficialClient compares bytes with those the official
// 10.0.11 client writes (docs/protocol.md §9).
func TestWireMatchesTheOfficialClient(t *testing.T) {
	assert.Equal(t, "7b2270726f746f636f6c223a226a736f6e222c2276657273696f6e223a317d1e", hex.EncodeToString(appendHandshake(nil, JSON)))
	assert.Equal(t, "029106", hex.EncodeToString(appendPing(nil, MessagePack)))
	assert.Equal(t, "039207c0", hex.EncodeToString(appendClose(nil, MessagePack)))
	// invoke("Add", "x") with id "0": 0c 95 01 80 a1 30 a3 41 64 64 91 a1 78.
	assert.Equal(t, "0c950180a130a341646491a178", hex.EncodeToString(appendInvocation(nil, MessagePack, 0, "Add", []byte("x"))))
	assert.Equal(t, `{"type":1,"invocationId":"0","target":"Add","arguments":["x"]}`+"\x1e", string(appendInvocation(nil, JSON, 0, "Add", []byte("x"))))
}

func TestWireHandshake(t *testing.T) {
	rest, err := splitHandshake([]byte("{}\x1e{\"type\":6}\x1e"))
	require.NoError(t, err)
	assert.Equal(t, "{\"type\":6}\x1e", string(rest))
	_, err = splitHandshake([]byte(`{"error":"The protocol 'x' is not supported."}` + "\x1e"))
	assert.ErrorContains(t, err, "not supported")
	_, err = splitHandshake([]byte(`{}`))
	assert.Error(t, err)
	_, err = splitHandshake([]byte(`{"type":1}` + "\x1e"))
	assert.Error(t, err)
}

// TestWireRefusesGarbage feeds broken input: an error, never a panic.
func TestWireRefusesGarbage(t *testing.T) {
	for _, f := range []string{
		"{\x1e", "[]\x1e", "{\"type\":}\x1e", "{\"arguments\":[\"x\"\x1e", "{\"a\":\"\x1e", "no separator",
		"{\"type\":1,\"arguments\":[[[[{\"a\":[}]]]]}\x1e",
	} {
		var scratch []byte
		assert.Error(t, eachMessage(JSON, []byte(f), &scratch, func(*inMsg) {}), "%q", f)
	}
	for _, f := range []string{"05950180", "ff", "0291", "0281a1", "03930180", "0a9501", "069501c0c0a5"} {
		b, err := hex.DecodeString(f)
		require.NoError(t, err)
		var scratch []byte
		assert.Error(t, eachMessage(MessagePack, b, &scratch, func(*inMsg) {}), "%s", f)
	}
}

func FuzzWire(f *testing.F) {
	f.Add(true, []byte("{\"type\":1,\"target\":\"msg\",\"arguments\":[\"x\"]}\x1e"))
	f.Add(false, []byte{0x0c, 0x95, 0x01, 0x80, 0xa1, 0x30, 0xa3, 0x41, 0x64, 0x64, 0x91, 0xa1, 0x78})
	f.Fuzz(func(t *testing.T, isJSON bool, b []byte) {
		p := MessagePack
		if isJSON {
			p = JSON
		}
		var scratch []byte
		_ = eachMessage(p, b, &scratch, func(*inMsg) {})
	})
}
