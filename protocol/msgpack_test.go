package protocol_test

import (
	"encoding/hex"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/protocol"
)

// mpHex decodes space-separated hex bytes as written in docs/protocol.md §9.
func mpHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// mpFrame prefixes a body with its length as a VarInt.
func mpFrame(body []byte) []byte {
	var out []byte
	n := len(body)
	for n >= 0x80 {
		out = append(out, byte(n)|0x80)
		n >>= 7
	}
	return append(append(out, byte(n)), body...)
}

func TestMessagePackProtocolDescription(t *testing.T) {
	var p protocol.HubProtocol = protocol.MessagePack{}
	assert.Equal(t, "messagepack", p.Name())
	assert.Equal(t, 2, p.Version())
	assert.Equal(t, protocol.Binary, p.TransferFormat())
}

type mpVector struct {
	name   string
	body   string           // hex, without the length prefix
	framed string           // hex prefix the vector gives, if any
	want   protocol.Message // as parsed: values are Raw
	write  protocol.Message // the same message with Go values; nil: none
	// anyOrder: the body holds a map of several entries, so the written
	// bytes depend on map iteration order.
	anyOrder bool
}

// Messages as .NET writes them (docs/protocol.md §9): we parse them and
// write exactly the same bytes.
var mpDotNetVectors = []mpVector{
	{
		name:   "invocation xyz method no args",
		body:   "96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 90 90",
		framed: "10",
		want:   &protocol.Invocation{InvocationID: "xyz", Target: "method", Arguments: []any{}},
	},
	{
		name:  "invocation nil id method 42",
		body:  "96 01 80 c0 a6 6d 65 74 68 6f 64 91 2a 90",
		want:  &protocol.Invocation{Target: "method", Arguments: []any{protocol.Raw{0x2a}}},
		write: &protocol.Invocation{Target: "method", Arguments: []any{42}},
	},
	{
		name:  "invocation with stream ids",
		body:  "96 01 80 c0 a6 54 61 72 67 65 74 91 2a 91 ab 5f 5f 74 65 73 74 5f 69 64 5f 5f",
		want:  &protocol.Invocation{Target: "Target", Arguments: []any{protocol.Raw{0x2a}}, StreamIDs: []string{"__test_id__"}},
		write: &protocol.Invocation{Target: "Target", Arguments: []any{int64(42)}, StreamIDs: []string{"__test_id__"}},
	},
	{
		name:  "stream invocation",
		body:  "96 04 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
		want:  &protocol.StreamInvocation{InvocationID: "xyz", Target: "method", Arguments: []any{protocol.Raw{0x2a}}},
		write: &protocol.StreamInvocation{InvocationID: "xyz", Target: "method", Arguments: []any{uint32(42)}},
	},
	{
		name:   "stream item",
		body:   "94 02 80 a3 78 79 7a 2a",
		framed: "08",
		want:   &protocol.StreamItem{InvocationID: "xyz", Item: protocol.Raw{0x2a}},
		write:  &protocol.StreamItem{InvocationID: "xyz", Item: 42},
	},
	{
		name: "completion error",
		body: "95 03 80 a3 78 79 7a 01 b0 45 72 72 6f 72 20 6e 6f 74 20 66 6f 75 6e 64 21",
		want: &protocol.Completion{InvocationID: "xyz", Error: "Error not found!"},
	},
	{
		name: "completion void",
		body: "94 03 80 a3 78 79 7a 02",
		want: &protocol.Completion{InvocationID: "xyz"},
	},
	{
		name:   "completion result",
		body:   "95 03 80 a3 78 79 7a 03 2a",
		framed: "09",
		want:   &protocol.Completion{InvocationID: "xyz", HasResult: true, Result: protocol.Raw{0x2a}},
		write:  &protocol.Completion{InvocationID: "xyz", HasResult: true, Result: int32(42)},
	},
	{
		name: "cancel invocation",
		body: "93 05 80 a3 78 79 7a",
		want: &protocol.CancelInvocation{InvocationID: "xyz"},
	},
	{name: "ping", body: "91 06", framed: "02", want: &protocol.Ping{}},
	{name: "close", body: "93 07 c0 c2", want: &protocol.Close{}},
	{name: "close with error", body: "93 07 a6 45 72 72 6f 72 21 c2", want: &protocol.Close{Error: "Error!"}},
	{name: "close allow reconnect", body: "93 07 c0 c3", want: &protocol.Close{AllowReconnect: true}},
	{name: "ack 42", body: "92 08 2a", want: &protocol.Ack{SequenceID: 42}},
	{name: "sequence 146", body: "92 09 cc 92", want: &protocol.Sequence{SequenceID: 146}},
	{
		name:     "headers x=y z=z",
		body:     "96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 90 90",
		want:     &protocol.Invocation{InvocationID: "xyz", Target: "method", Arguments: []any{}, Headers: map[string]string{"x": "y", "z": "z"}},
		anyOrder: true,
	},
}

func TestMessagePackDotNetVectors(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range mpDotNetVectors {
		t.Run(tc.name, func(t *testing.T) {
			body := mpHex(t, tc.body)
			framed := mpFrame(body)
			if tc.framed != "" {
				require.Equal(t, mpHex(t, tc.framed), framed[:len(framed)-len(body)], "length prefix")
			}

			msg, n, err := p.ParseMessage(framed, 0)
			require.NoError(t, err)
			assert.Equal(t, len(framed), n)
			assert.Equal(t, tc.want, msg)

			for _, in := range []protocol.Message{tc.want, tc.write} {
				if in == nil {
					continue
				}
				got, err := p.AppendMessage(nil, in)
				require.NoError(t, err)
				if tc.anyOrder {
					// Same length, and parses back to the same message.
					require.Len(t, got, len(framed))
					again, n, err := p.ParseMessage(got, 0)
					require.NoError(t, err)
					assert.Equal(t, len(got), n)
					assert.Equal(t, tc.want, again)
					continue
				}
				assert.Equal(t, framed, got, "written bytes for %#v", in)
			}
		})
	}
}

// Messages as the 10.0.11 JavaScript client writes them, framed
// (docs/protocol.md §9): 5-element invocations, [7,nil] Close.
var mpClientVectors = []struct {
	name   string
	framed string
	want   protocol.Message
}{
	{
		name:   "invoke Add 40 2",
		framed: "0c 95 01 80 a1 30 a3 41 64 64 92 28 02",
		want:   &protocol.Invocation{InvocationID: "0", Target: "Add", Arguments: []any{protocol.Raw{0x28}, protocol.Raw{0x02}}},
	},
	{
		name:   "send NonBlocking foo",
		framed: "15 95 01 80 c0 ab 4e 6f 6e 42 6c 6f 63 6b 69 6e 67 91 a3 66 6f 6f",
		want:   &protocol.Invocation{Target: "NonBlocking", Arguments: []any{protocol.Raw("\xa3foo")}},
	},
	{
		name:   "upload invocation",
		framed: "13 96 01 80 a1 31 a9 41 64 64 53 74 72 65 61 6d 90 91 a1 30",
		want:   &protocol.Invocation{InvocationID: "1", Target: "AddStream", Arguments: []any{}, StreamIDs: []string{"0"}},
	},
	{
		name:   "stream Stream 5",
		framed: "0e 95 04 80 a1 32 a6 53 74 72 65 61 6d 91 05",
		want:   &protocol.StreamInvocation{InvocationID: "2", Target: "Stream", Arguments: []any{protocol.Raw{0x05}}},
	},
	{
		name:   "upload item",
		framed: "06 94 02 80 a1 30 01",
		want:   &protocol.StreamItem{InvocationID: "0", Item: protocol.Raw{0x01}},
	},
	{
		name:   "upload end",
		framed: "06 94 03 80 a1 30 02",
		want:   &protocol.Completion{InvocationID: "0"},
	},
	{
		name:   "completion result 42",
		framed: "07 95 03 80 a1 35 03 2a",
		want:   &protocol.Completion{InvocationID: "5", HasResult: true, Result: protocol.Raw{0x2a}},
	},
	{name: "cancel", framed: "05 93 05 80 a1 32", want: &protocol.CancelInvocation{InvocationID: "2"}},
	{name: "ping", framed: "02 91 06", want: &protocol.Ping{}},
	{name: "close", framed: "03 92 07 c0", want: &protocol.Close{}},
	{name: "ack 36", framed: "03 92 08 24", want: &protocol.Ack{SequenceID: 36}},
	{name: "sequence 19", framed: "03 92 09 13", want: &protocol.Sequence{SequenceID: 19}},
	{
		// After the handshake reply 7b 7d 1e in the same frame.
		name:   "after handshake reply",
		framed: "0d 95 01 80 c0 a5 68 65 6c 6c 6f 91 a1 78",
		want:   &protocol.Invocation{Target: "hello", Arguments: []any{protocol.Raw("\xa1x")}},
	},
}

func TestMessagePackClientVectors(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range mpClientVectors {
		t.Run(tc.name, func(t *testing.T) {
			data := mpHex(t, tc.framed)
			msg, n, err := p.ParseMessage(data, 0)
			require.NoError(t, err)
			assert.Equal(t, len(data), n)
			assert.Equal(t, tc.want, msg)

			// What we write for it (the .NET shape) parses back the same.
			out, err := p.AppendMessage(nil, msg)
			require.NoError(t, err)
			again, n, err := p.ParseMessage(out, 0)
			require.NoError(t, err)
			assert.Equal(t, len(out), n)
			assert.Equal(t, tc.want, again)
		})
	}
}

// mpCompletionOfSize returns a Completion whose body is exactly size bytes.
func mpCompletionOfSize(t *testing.T, size int) *protocol.Completion {
	t.Helper()
	const fixed = 6 // 95 03 80 a1 31 03
	for n := size - fixed - 1; n >= 0; n-- {
		hdr := 1
		switch {
		case n > math.MaxUint16:
			hdr = 5
		case n > math.MaxUint8:
			hdr = 3
		case n > 31:
			hdr = 2
		}
		if fixed+hdr+n == size {
			return &protocol.Completion{InvocationID: "1", HasResult: true, Result: strings.Repeat("a", n)}
		}
	}
	t.Fatalf("no completion of %d bytes", size)
	return nil
}

func TestMessagePackVarInt(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range []struct {
		length int
		prefix string
	}{
		{127, "7f"},
		{128, "80 01"},
		{300, "ac 02"},
		{5248, "80 29"},
		{16384, "80 80 01"},
	} {
		prefix := mpHex(t, tc.prefix)
		msg := mpCompletionOfSize(t, tc.length)

		out, err := p.AppendMessage([]byte{0xee}, msg)
		require.NoError(t, err)
		require.Len(t, out, 1+len(prefix)+tc.length)
		assert.Equal(t, byte(0xee), out[0], "dst content kept")
		assert.Equal(t, prefix, out[1:1+len(prefix)], "prefix of %d", tc.length)

		got, n, err := p.ParseMessage(out[1:], 0)
		require.NoError(t, err)
		assert.Equal(t, len(out)-1, n)
		var s string
		require.NoError(t, p.Unmarshal(got.(*protocol.Completion).Result.(protocol.Raw), &s))
		assert.Equal(t, msg.Result, s)

		// Exactly at the limit is fine; one below is too small.
		_, _, err = p.ParseMessage(out[1:], tc.length)
		require.NoError(t, err)
		_, _, err = p.ParseMessage(out[1:1+len(prefix)], tc.length-1)
		require.ErrorIs(t, err, protocol.ErrMessageTooLarge)
	}

	// 2^31-1 is the largest length: waiting for the body, or too large.
	max := mpHex(t, "ff ff ff ff 07")
	msg, n, err := p.ParseMessage(max, 0)
	require.NoError(t, err)
	assert.Nil(t, msg)
	assert.Zero(t, n)
	_, _, err = p.ParseMessage(max, 32*1024)
	require.ErrorIs(t, err, protocol.ErrMessageTooLarge)

	// A longer-than-needed (non-canonical) prefix is still a length.
	msg, n, err = p.ParseMessage(mpHex(t, "82 00 91 06"), 0)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, &protocol.Ping{}, msg)

	for _, bad := range []string{
		"80 80 80 80 08",       // 2^31
		"ff ff ff ff 0f",       // 2^32-1
		"80 80 80 80 80 01",    // six bytes
		"ff ff ff ff ff",       // a fifth byte that wants a sixth
		"80 80 80 80 80 00 00", // six bytes, value 0
	} {
		_, n, err := p.ParseMessage(mpHex(t, bad), 0)
		require.ErrorIs(t, err, protocol.ErrInvalidMessage, bad)
		assert.Zero(t, n)
	}
}

func TestMessagePackParseTooLarge(t *testing.T) {
	var p protocol.MessagePack
	frame := mpFrame(mpHex(t, mpDotNetVectors[0].body)) // 16-byte body
	for i := 1; i <= len(frame); i++ {
		// Reported as soon as the prefix is there.
		msg, n, err := p.ParseMessage(frame[:i], 15)
		require.ErrorIs(t, err, protocol.ErrMessageTooLarge)
		assert.Nil(t, msg)
		assert.Zero(t, n)
	}
	_, n, err := p.ParseMessage(frame, 16)
	require.NoError(t, err)
	assert.Equal(t, len(frame), n)
}

// Encodings of an unknown type that the conformance suite's shortest
// encodings do not reach: past 32 bits, a longer encoding than needed, and
// a body of several nested values.
func TestMessagePackParseUnknownType(t *testing.T) {
	var p protocol.MessagePack
	for _, body := range []string{
		"91 d3 80 00 00 00 00 00 00 00", // min int64
		"91 cf ff ff ff ff ff ff ff ff", // max uint64
		"91 ce 00 00 01 01",             // 257
		"91 d0 0a",                      // 10 as int8
		"94 cc 63 81 a1 61 91 c0 a1 62 93 c3 c2 cb 3f f0 00 00 00 00 00 00",
	} {
		frame := mpFrame(mpHex(t, body))
		msg, n, err := p.ParseMessage(frame, 0)
		require.NoError(t, err, body)
		assert.Nil(t, msg, body)
		assert.Equal(t, len(frame), n, body)
	}
}

func TestMessagePackParseLenient(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range []struct {
		name string
		body string
		want protocol.Message
	}{
		{"invocation with extra element", "97 01 80 c0 a1 61 90 90 c3", &protocol.Invocation{Target: "a", Arguments: []any{}}},
		{"nil headers", "95 01 c0 c0 a1 61 90", &protocol.Invocation{Target: "a", Arguments: []any{}}},
		{"nil stream ids", "96 01 80 c0 a1 61 90 c0", &protocol.Invocation{Target: "a", Arguments: []any{}}},
		{"empty invocation id", "95 01 80 a0 a1 61 90", &protocol.Invocation{Target: "a", Arguments: []any{}}},
		{"header value nil", "95 01 81 a1 6b c0 c0 a1 61 90", &protocol.Invocation{Target: "a", Arguments: []any{}, Headers: map[string]string{"k": ""}}},
		{"str8 target", "95 01 80 c0 d9 01 61 90", &protocol.Invocation{Target: "a", Arguments: []any{}}},
		{"str16 target", "95 01 80 c0 da 00 01 61 90", &protocol.Invocation{Target: "a", Arguments: []any{}}},
		{"str32 target", "95 01 80 c0 db 00 00 00 01 61 90", &protocol.Invocation{Target: "a", Arguments: []any{}}},
		{"array16 message and args", "dc 00 05 01 de 00 00 c0 a1 61 dc 00 01 c0", &protocol.Invocation{Target: "a", Arguments: []any{protocol.Raw{0xc0}}}},
		{"array32 message", "dd 00 00 00 02 08 01", &protocol.Ack{SequenceID: 1}},
		{"stream invocation with 7 elements", "97 04 80 a1 31 a1 61 90 90 90", &protocol.StreamInvocation{InvocationID: "1", Target: "a", Arguments: []any{}}},
		{"stream item extra", "95 02 80 a1 31 c0 c0", &protocol.StreamItem{InvocationID: "1", Item: protocol.Raw{0xc0}}},
		{"void completion with result", "95 03 80 a1 31 02 2a", &protocol.Completion{InvocationID: "1"}},
		{"error completion with nil", "95 03 80 a1 31 01 c0", &protocol.Completion{InvocationID: "1"}},
		{"result kind as uint8", "95 03 80 a1 31 cc 03 c0", &protocol.Completion{InvocationID: "1", HasResult: true, Result: protocol.Raw{0xc0}}},
		{"cancel extra", "94 05 80 a1 31 c0", &protocol.CancelInvocation{InvocationID: "1"}},
		{"ping extra", "92 06 80", &protocol.Ping{}},
		{"ping type as int8", "91 d0 06", &protocol.Ping{}},
		{"ping type as uint64", "91 cf 00 00 00 00 00 00 00 06", &protocol.Ping{}},
		{"close allow reconnect nil", "93 07 c0 c0", &protocol.Close{}},
		{"close extra", "94 07 a1 65 c3 00", &protocol.Close{Error: "e", AllowReconnect: true}},
		{"ack uint8", "92 08 cc 24", &protocol.Ack{SequenceID: 36}},
		{"ack uint16", "92 08 cd 00 24", &protocol.Ack{SequenceID: 36}},
		{"ack uint32", "92 08 ce 00 00 00 24", &protocol.Ack{SequenceID: 36}},
		{"ack uint64", "92 08 cf 00 00 00 00 00 00 00 24", &protocol.Ack{SequenceID: 36}},
		{"ack int8", "92 08 d0 24", &protocol.Ack{SequenceID: 36}},
		{"ack int16", "92 08 d1 00 24", &protocol.Ack{SequenceID: 36}},
		{"ack int32", "92 08 d2 00 00 00 24", &protocol.Ack{SequenceID: 36}},
		{"ack int64", "92 08 d3 00 00 00 00 00 00 00 24", &protocol.Ack{SequenceID: 36}},
		{"sequence max uint64", "92 09 cf ff ff ff ff ff ff ff ff", &protocol.Sequence{SequenceID: math.MaxUint64}},
		{"sequence max int64", "92 09 d3 7f ff ff ff ff ff ff ff", &protocol.Sequence{SequenceID: math.MaxInt64}},
		{"ack extra", "93 08 01 c0", &protocol.Ack{SequenceID: 1}},
		{
			"every kind of argument",
			"95 01 80 c0 a1 61 9f c0 c2 c3 7f e0 cc ff d1 80 00 ca 3f 80 00 00 c4 01 ff a2 68 69 92 01 02 81 a1 6b 01 d6 ff 00 00 00 01 c7 00 05 d8 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
			&protocol.Invocation{Target: "a", Arguments: []any{
				protocol.Raw{0xc0}, protocol.Raw{0xc2}, protocol.Raw{0xc3}, protocol.Raw{0x7f}, protocol.Raw{0xe0},
				protocol.Raw{0xcc, 0xff}, protocol.Raw{0xd1, 0x80, 0x00}, protocol.Raw{0xca, 0x3f, 0x80, 0, 0},
				protocol.Raw{0xc4, 0x01, 0xff}, protocol.Raw("\xa2hi"), protocol.Raw{0x92, 0x01, 0x02},
				protocol.Raw{0x81, 0xa1, 0x6b, 0x01}, protocol.Raw{0xd6, 0xff, 0, 0, 0, 1}, protocol.Raw{0xc7, 0x00, 0x05},
				protocol.Raw(mpHex(t, "d8 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")),
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := mpFrame(mpHex(t, tc.body))
			msg, n, err := p.ParseMessage(frame, 0)
			require.NoError(t, err)
			assert.Equal(t, len(frame), n)
			assert.Equal(t, tc.want, msg)
		})
	}
}

func TestMessagePackParseInvalid(t *testing.T) {
	var p protocol.MessagePack
	deep := strings.Repeat("91 ", 1001) + "c0"
	for _, tc := range []struct {
		name string
		body string
	}{
		{"empty body", ""},
		{"string body", "a3 78 79 7a"},
		{"int body", "06"},
		{"map body", "81 a1 61 01"},
		{"nil body", "c0"},
		{"empty array", "90"},
		{"trailing bytes after array", "91 06 00"},
		{"truncated array", "92 08"},
		{"array longer than body", "dd ff ff ff ff 06"},
		{"array16 longer than body", "dc ff ff 06"},
		{"type is a string", "92 a1 31 80"},
		{"type is nil", "91 c0"},
		{"type is a float", "91 cb 40 18 00 00 00 00 00 00"},
		{"target not a string", "95 01 80 c0 2a 90"},
		{"target nil", "95 01 80 c0 c0 90"},
		{"target bin", "95 01 80 c0 c4 01 61 90"},
		{"empty target", "95 01 80 c0 a0 90"},
		{"headers not a map", "95 01 90 c0 a1 61 90"},
		{"headers a string", "95 01 a1 78 c0 a1 61 90"},
		{"header key not a string", "95 01 81 01 a1 79 c0 a1 61 90"},
		{"header value an int", "95 01 81 a1 78 01 c0 a1 61 90"},
		{"headers map longer than body", "95 01 df 7f ff ff ff c0 a1 61 90"},
		{"invocation id an int", "95 01 80 2a a1 61 90"},
		{"invocation id a bool", "95 01 80 c3 a1 61 90"},
		{"arguments nil", "95 01 80 c0 a1 61 c0"},
		{"arguments a map", "95 01 80 c0 a1 61 80"},
		{"arguments longer than body", "95 01 80 c0 a1 61 dd 7f ff ff ff"},
		{"argument truncated", "95 01 80 c0 a1 61 91 a3 61 62"},
		{"argument invalid code", "95 01 80 c0 a1 61 91 c1"},
		{"argument array longer than body", "95 01 80 c0 a1 61 91 dd ff ff ff ff"},
		{"argument map longer than body", "95 01 80 c0 a1 61 91 df 00 00 00 02 01 02 03"},
		{"argument bin longer than body", "95 01 80 c0 a1 61 91 c6 7f ff ff ff 00"},
		{"argument ext longer than body", "95 01 80 c0 a1 61 91 c9 7f ff ff ff 01 00"},
		{"argument truncated int", "95 01 80 c0 a1 61 91 cf 00 00"},
		{"argument nested too deep", "95 01 80 c0 a1 61 91 " + deep},
		{"stream ids not an array", "96 01 80 c0 a1 61 90 a1 30"},
		{"stream id not a string", "96 01 80 c0 a1 61 90 91 01"},
		{"stream id nil", "96 01 80 c0 a1 61 90 91 c0"},
		{"target string longer than body", "95 01 80 c0 db 7f ff ff ff 61"},
		{"invocation too short", "94 01 80 c0 a1 61"},
		{"stream invocation without id", "95 04 80 c0 a1 61 90"},
		{"stream invocation too short", "94 04 80 a1 31 a1 61"},
		{"stream item too short", "93 02 80 a1 31"},
		{"stream item nil id", "94 02 80 c0 01"},
		{"stream item empty id", "94 02 80 a0 01"},
		{"stream item id int", "94 02 80 01 01"},
		{"completion too short", "93 03 80 a1 31"},
		{"completion result missing", "94 03 80 a1 31 03"},
		{"completion error missing", "94 03 80 a1 31 01"},
		{"completion error an int", "95 03 80 a1 31 01 2a"},
		{"completion result kind 0", "94 03 80 a1 31 00"},
		{"completion result kind 4", "95 03 80 a1 31 04 c0"},
		{"completion result kind negative", "95 03 80 a1 31 ff c0"},
		{"completion result kind a string", "95 03 80 a1 31 a1 33 c0"},
		{"completion nil id", "94 03 80 c0 02"},
		{"cancel too short", "92 05 80"},
		{"cancel nil id", "93 05 80 c0"},
		{"close too short", "91 07"},
		{"close error an int", "92 07 01"},
		{"close allow reconnect an int", "93 07 c0 01"},
		{"ack too short", "91 08"},
		{"ack negative", "92 08 ff"},
		{"ack negative int64", "92 08 d3 ff ff ff ff ff ff ff ff"},
		{"ack a string", "92 08 a1 31"},
		{"sequence nil", "92 09 c0"},
		{"sequence a float", "92 09 cb 40 18 00 00 00 00 00 00"},
		{"unknown type malformed", "92 0a c1"},
		{"unknown type truncated", "93 0a 80"},
		{"ping extra malformed", "92 06 c1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := mpFrame(mpHex(t, tc.body))
			msg, n, err := p.ParseMessage(frame, 0)
			require.ErrorIs(t, err, protocol.ErrInvalidMessage)
			assert.Nil(t, msg)
			assert.Zero(t, n)
		})
	}
}

// Lengths claimed in headers are never trusted for allocation.
func TestMessagePackClaimedLengthsDoNotAllocate(t *testing.T) {
	var p protocol.MessagePack
	frames := [][]byte{
		mpFrame(mpHex(t, "dd 7f ff ff ff 01")),
		mpFrame(mpHex(t, "95 01 80 c0 a1 61 dd 7f ff ff ff 01")),
		mpFrame(mpHex(t, "95 01 df 7f ff ff ff c0 a1 61 90")),
		mpFrame(mpHex(t, "96 01 80 c0 a1 61 90 dd 7f ff ff ff")),
		mpFrame(mpHex(t, "95 01 80 c0 db 7f ff ff ff 61 90")),
		mpHex(t, "ff ff ff ff 07"),
	}
	raws := []protocol.Raw{
		mpHex(t, "dd 7f ff ff ff 01"),
		mpHex(t, "df 7f ff ff ff 01 01"),
		mpHex(t, "c6 7f ff ff ff 01"),
		mpHex(t, "db 7f ff ff ff 01"),
		mpHex(t, "c9 7f ff ff ff 01 01"),
		mpHex(t, "91 91 91 dd 7f ff ff ff"),
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 100; i++ {
		for _, f := range frames {
			_, _, _ = p.ParseMessage(f, 0)
			_, _, _ = p.ParseMessage(f, 32*1024)
		}
		for _, r := range raws {
			var v any
			require.Error(t, p.Unmarshal(r, &v))
			var s []string
			require.Error(t, p.Unmarshal(r, &s))
		}
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "bytes allocated")
}

func TestMessagePackAppendMessage(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range []struct {
		name string
		msg  protocol.Message
		body string
	}{
		{"invocation without id or args", &protocol.Invocation{Target: "a"}, "96 01 80 c0 a1 61 90 90"},
		{"stream invocation without id", &protocol.StreamInvocation{Target: "a"}, "96 04 80 c0 a1 61 90 90"},
		{"one header", &protocol.CancelInvocation{InvocationID: "1", Headers: map[string]string{"x": "y"}}, "93 05 81 a1 78 a1 79 a1 31"},
		{"raw written verbatim", &protocol.StreamItem{InvocationID: "1", Item: protocol.Raw{0x92, 0xc3, 0xa1, 0x62}}, "94 02 80 a1 31 92 c3 a1 62"},
		{"empty raw is nil", &protocol.StreamItem{InvocationID: "1", Item: protocol.Raw{}}, "94 02 80 a1 31 c0"},
		{"nil item", &protocol.StreamItem{InvocationID: "1"}, "94 02 80 a1 31 c0"},
		{"nil result", &protocol.Completion{InvocationID: "1", HasResult: true}, "95 03 80 a1 31 03 c0"},
		{"error wins over result", &protocol.Completion{InvocationID: "1", Error: "e", HasResult: true, Result: 1}, "95 03 80 a1 31 01 a1 65"},
		{"close error and reconnect", &protocol.Close{Error: "e", AllowReconnect: true}, "93 07 a1 65 c3"},
		{"ack 0", &protocol.Ack{}, "92 08 00"},
		{"ack 127", &protocol.Ack{SequenceID: 127}, "92 08 7f"},
		{"ack 65535", &protocol.Ack{SequenceID: 65535}, "92 08 cd ff ff"},
		{"ack 65536", &protocol.Ack{SequenceID: 65536}, "92 08 ce 00 01 00 00"},
		{"sequence max", &protocol.Sequence{SequenceID: math.MaxUint64}, "92 09 cf ff ff ff ff ff ff ff ff"},
		{
			"scalar arguments",
			&protocol.Invocation{Target: "a", Arguments: []any{
				nil, true, false, -1, -33, int64(-129), int32(-32769), int64(math.MinInt64),
				255, 256, uint64(math.MaxUint32) + 1, 1.5, float32(1.5), []byte{1}, []byte(nil), "",
				int8(-5), uint8(200), uint16(300),
			}},
			"96 01 80 c0 a1 61 dc 00 13 c0 c3 c2 ff d0 df d1 ff 7f d2 ff ff 7f ff d3 80 00 00 00 00 00 00 00" +
				" cc ff cd 01 00 cf 00 00 00 01 00 00 00 00 cb 3f f8 00 00 00 00 00 00 ca 3f c0 00 00 c4 01 01 c0 a0" +
				" fb cc c8 cd 01 2c 90",
		},
		{
			"time as timestamp extension",
			&protocol.StreamItem{InvocationID: "1", Item: time.Unix(1, 0)},
			"94 02 80 a1 31 d6 ff 00 00 00 01",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.AppendMessage(nil, tc.msg)
			require.NoError(t, err)
			assert.Equal(t, mpFrame(mpHex(t, tc.body)), got)
		})
	}
}

func TestMessagePackAppendLongLengths(t *testing.T) {
	var p protocol.MessagePack
	headers := map[string]string{}
	for i := 0; i < 20; i++ {
		headers[strings.Repeat("k", i+1)] = strings.Repeat("v", 40)
	}
	args := make([]any, 70000)
	for i := range args {
		args[i] = i % 3
	}
	long := strings.Repeat("é", 40000) // 80000 bytes: str32
	streamIDs := make([]string, 16)
	for i := range streamIDs {
		streamIDs[i] = strings.Repeat("s", 300) // str16
	}
	msg := &protocol.Invocation{InvocationID: long, Target: strings.Repeat("t", 200), Arguments: args, StreamIDs: streamIDs, Headers: headers}

	out, err := p.AppendMessage(nil, msg)
	require.NoError(t, err)
	got, n, err := p.ParseMessage(out, 0)
	require.NoError(t, err)
	assert.Equal(t, len(out), n)
	inv := got.(*protocol.Invocation)
	assert.Equal(t, msg.InvocationID, inv.InvocationID)
	assert.Equal(t, msg.Target, inv.Target)
	assert.Equal(t, msg.Headers, inv.Headers)
	assert.Equal(t, msg.StreamIDs, inv.StreamIDs)
	require.Len(t, inv.Arguments, len(args))
	for i, a := range inv.Arguments {
		var v int
		require.NoError(t, p.Unmarshal(a.(protocol.Raw), &v))
		require.Equal(t, args[i], v)
	}
	_, _, err = p.ParseMessage(out, len(out)-10)
	require.ErrorIs(t, err, protocol.ErrMessageTooLarge)
}

// mpInner is a struct type values are decoded into. The json tags name
// the msgpack map keys.
type mpInner struct {
	Label string   `json:"label"`
	Tags  []string `json:"tags,omitempty"`
}

func TestMessagePackUnmarshalInterface(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range []struct {
		name string
		raw  string
		want any
	}{
		{"map with string keys", "82 a1 61 01 a1 62 91 a1 63", map[string]any{"a": int8(1), "b": []any{"c"}}},
		{"nested map", "81 a1 6d 81 a1 6b c3", map[string]any{"m": map[string]any{"k": true}}},
		{"empty map", "80", map[string]any{}},
		{"map with int keys", "82 01 a1 78 a1 79 02", map[any]any{int8(1): "x", "y": int8(2)}},
		{"map with nil key", "81 c0 01", map[any]any{nil: int8(1)}},
		{"bin", "c4 02 01 02", []byte{1, 2}},
		{"str", "a2 68 69", "hi"},
		{"array", "93 01 cd 01 2c cb 3f f8 00 00 00 00 00 00", []any{int8(1), uint16(300), 1.5}},
		{"nil", "c0", nil},
		{"uint64", "cf ff ff ff ff ff ff ff ff", uint64(math.MaxUint64)},
		{"negative", "d0 80", int8(-128)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			require.NoError(t, p.Unmarshal(mpHex(t, tc.raw), &v))
			assert.Equal(t, tc.want, v)
		})
	}

	var v any
	require.NoError(t, p.Unmarshal(mpHex(t, "d6 ff 00 00 00 01"), &v))
	require.IsType(t, time.Time{}, v)
	assert.True(t, time.Unix(1, 0).Equal(v.(time.Time)))

	// A key that cannot be a Go map key is an error, not a panic.
	require.Error(t, p.Unmarshal(mpHex(t, "82 01 01 91 01 02"), &v))
	require.Error(t, p.Unmarshal(mpHex(t, "81 c4 01 01 02"), &v))
}

func TestMessagePackUnmarshalErrors(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range []struct {
		name string
		raw  protocol.Raw
	}{
		{"empty", nil},
		{"never-used code", protocol.Raw{0xc1}},
		{"truncated string", protocol.Raw{0xa3, 0x61}},
		{"truncated array", protocol.Raw{0x92, 0x01}},
		{"trailing bytes", protocol.Raw{0x01, 0x02}},
		{"two values", protocol.Raw{0xa1, 0x61, 0xa1, 0x62}},
		{"nested too deep", mpHex(t, strings.Repeat("91 ", 1001)+"c0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			require.ErrorIs(t, p.Unmarshal(tc.raw, &v), protocol.ErrInvalidMessage)
			var s string
			require.ErrorIs(t, p.Unmarshal(tc.raw, &s), protocol.ErrInvalidMessage)
		})
	}

	// 1000 levels is the limit, and still fine.
	var v any
	require.NoError(t, p.Unmarshal(mpHex(t, strings.Repeat("91 ", 1000)+"c0"), &v))

	// Well-formed values of the wrong type.
	var n int
	err := p.Unmarshal(protocol.Raw{0xa1, 0x61}, &n)
	require.Error(t, err)
	assert.False(t, errors.Is(err, protocol.ErrInvalidMessage))
	var st mpInner
	require.Error(t, p.Unmarshal(protocol.Raw{0x2a}, &st))
	require.Error(t, p.Unmarshal(protocol.Raw{0x2a}, n))   // not a pointer
	require.Error(t, p.Unmarshal(protocol.Raw{0x2a}, nil)) // nil

	// An unknown extension type cannot be decoded into an interface.
	require.Error(t, p.Unmarshal(protocol.Raw{0xd4, 0x05, 0x00}, &v))
	// A timestamp of a bad length.
	var tm time.Time
	require.Error(t, p.Unmarshal(protocol.Raw{0xd5, 0xff, 0x00, 0x00}, &tm))

	// A nil pointer value decodes a nil.
	ptr := &mpInner{Label: "x"}
	require.NoError(t, p.Unmarshal(protocol.Raw{0xc0}, &ptr))
	assert.Nil(t, ptr)
}

// BenchmarkMessagePackInvocation has the shape of BenchmarkJSONInvocation,
// so the two can be compared.
func BenchmarkMessagePackInvocation(b *testing.B) {
	p := protocol.MessagePack{}
	msg := &protocol.Invocation{InvocationID: "1", Target: "Send", Arguments: []any{"hello"}}
	encoded, err := p.AppendMessage(nil, msg)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf, err = p.AppendMessage(buf[:0], msg)
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, n, err := p.ParseMessage(encoded, 0)
			if err != nil || n != len(encoded) || m == nil {
				b.Fatal(m, n, err)
			}
		}
	})

	b.Run("roundtrip", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf, err = p.AppendMessage(buf[:0], msg)
			if err != nil {
				b.Fatal(err)
			}
			m, _, err := p.ParseMessage(buf, 0)
			if err != nil {
				b.Fatal(err)
			}
			var s string
			if err := p.Unmarshal(m.(*protocol.Invocation).Arguments[0].(protocol.Raw), &s); err != nil || s != "hello" {
				b.Fatal(s, err)
			}
		}
	})

	b.Run("encode struct", func(b *testing.B) {
		msg := &protocol.Invocation{InvocationID: "1", Target: "Send", Arguments: []any{mpInner{Label: "hello"}}}
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf, err = p.AppendMessage(buf[:0], msg)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// An interface that already holds a value is overwritten, as
// encoding/json (and so the JSON protocol) does: the decoder used to
// refuse to decode into an interface holding a non-pointer value.
func TestMessagePackUnmarshalIntoFilledInterface(t *testing.T) {
	var p protocol.MessagePack
	for _, tc := range []struct {
		name string
		raw  string
		want any
	}{
		{"nil", "c0", nil},
		{"string", "a2 68 69", "hi"},
		{"int", "2a", int8(42)},
		{"map", "81 a1 61 01", map[string]any{"a": int8(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any = "held before"
			require.NoError(t, p.Unmarshal(mpHex(t, tc.raw), &v))
			assert.Equal(t, tc.want, v)
			v = 3.5
			require.NoError(t, p.Unmarshal(mpHex(t, tc.raw), &v))
			assert.Equal(t, tc.want, v)
		})
	}
	// An interface holding a pointer decodes into what it points at, as
	// with encoding/json.
	inner := &mpInner{}
	var v any = inner
	require.NoError(t, p.Unmarshal(mpHex(t, "81 a5 6c 61 62 65 6c a1 78"), &v))
	assert.Same(t, inner, v)
	assert.Equal(t, "x", inner.Label)
}
