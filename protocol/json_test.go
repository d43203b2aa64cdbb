package protocol_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/protocol"
)

// jsonFrame appends the record separator to a JSON message body.
func jsonFrame(body string) []byte {
	return append([]byte(body), protocol.RecordSeparator)
}

func TestJSONProtocolDescription(t *testing.T) {
	var p protocol.HubProtocol = protocol.JSON{}
	assert.Equal(t, "json", p.Name())
	assert.Equal(t, 2, p.Version())
	assert.Equal(t, protocol.Text, p.TransferFormat())
}

type jsonParseCase struct {
	name string
	body string // without the record separator
	want protocol.Message
}

// Messages exactly as the 10.0.11 JS client writes them: type last
// (docs/protocol.md §9).
var jsonClientVectors = []jsonParseCase{
	{
		name: "invoke Add 40 2",
		body: `{"target":"Add","arguments":[40,2],"invocationId":"0","type":1}`,
		want: &protocol.Invocation{InvocationID: "0", Target: "Add", Arguments: []any{protocol.Raw("40"), protocol.Raw("2")}},
	},
	{
		name: "non-blocking send",
		body: `{"target":"NonBlocking","arguments":["foo"],"type":1}`,
		want: &protocol.Invocation{Target: "NonBlocking", Arguments: []any{protocol.Raw(`"foo"`)}},
	},
	{
		name: "upload invocation",
		body: `{"target":"AddStream","arguments":[],"invocationId":"1","streamIds":["0"],"type":1}`,
		want: &protocol.Invocation{InvocationID: "1", Target: "AddStream", Arguments: []any{}, StreamIDs: []string{"0"}},
	},
	{
		name: "upload item",
		body: `{"invocationId":"0","item":1,"type":2}`,
		want: &protocol.StreamItem{InvocationID: "0", Item: protocol.Raw("1")},
	},
	{
		name: "upload end",
		body: `{"invocationId":"0","type":3}`,
		want: &protocol.Completion{InvocationID: "0"},
	},
	{
		name: "stream invocation",
		body: `{"target":"Stream","arguments":[5],"invocationId":"2","type":4}`,
		want: &protocol.StreamInvocation{InvocationID: "2", Target: "Stream", Arguments: []any{protocol.Raw("5")}},
	},
	{
		name: "cancel invocation",
		body: `{"invocationId":"2","type":5}`,
		want: &protocol.CancelInvocation{InvocationID: "2"},
	},
	{
		name: "client result",
		body: `{"invocationId":"5","result":42,"type":3}`,
		want: &protocol.Completion{InvocationID: "5", HasResult: true, Result: protocol.Raw("42")},
	},
	{
		name: "client result error",
		body: `{"error":"Client didn't provide a result.","invocationId":"5","type":3}`,
		want: &protocol.Completion{InvocationID: "5", Error: "Client didn't provide a result."},
	},
	{name: "ping", body: `{"type":6}`, want: &protocol.Ping{}},
	{name: "close", body: `{"type":7}`, want: &protocol.Close{}},
	{name: "ack", body: `{"type":8,"sequenceId":36}`, want: &protocol.Ack{SequenceID: 36}},
	{name: "sequence", body: `{"type":9,"sequenceId":19}`, want: &protocol.Sequence{SequenceID: 19}},
}

// Messages as the .NET server writes them: type first (docs/protocol.md §9).
var jsonDotNetVectors = []jsonParseCase{
	{
		name: "completion result",
		body: `{"type":3,"invocationId":"123","result":1}`,
		want: &protocol.Completion{InvocationID: "123", HasResult: true, Result: protocol.Raw("1")},
	},
	{
		name: "completion error",
		body: `{"type":3,"invocationId":"123","error":"Whoops!"}`,
		want: &protocol.Completion{InvocationID: "123", Error: "Whoops!"},
	},
	{
		name: "completion void",
		body: `{"type":3,"invocationId":"123"}`,
		want: &protocol.Completion{InvocationID: "123"},
	},
	{
		name: "stream invocation with stream ids",
		body: `{"type":4,"invocationId":"123","target":"Target","arguments":[],"streamIds":["__test_id__"]}`,
		want: &protocol.StreamInvocation{InvocationID: "123", Target: "Target", Arguments: []any{}, StreamIDs: []string{"__test_id__"}},
	},
	{
		name: "close with error and reconnect",
		body: `{"type":7,"error":"Error!","allowReconnect":true}`,
		want: &protocol.Close{Error: "Error!", AllowReconnect: true},
	},
	{
		name: "stream item with spaces",
		body: `{ "item": "foo", "invocationId": "1a", "type":2 }`,
		want: &protocol.StreamItem{InvocationID: "1a", Item: protocol.Raw(`"foo"`)},
	},
}

func runJSONParseCases(t *testing.T, cases []jsonParseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := jsonFrame(tc.body)
			msg, n, err := protocol.JSON{}.ParseMessage(data, 0)
			require.NoError(t, err)
			assert.Equal(t, len(data), n)
			assert.Equal(t, tc.want, msg)
		})
	}
}

func TestJSONParseClientVectors(t *testing.T) {
	runJSONParseCases(t, jsonClientVectors)
}

func TestJSONParseDotNetVectors(t *testing.T) {
	runJSONParseCases(t, jsonDotNetVectors)
}

func TestJSONParseLenient(t *testing.T) {
	runJSONParseCases(t, []jsonParseCase{
		{
			name: "type first",
			body: `{"type":1,"invocationId":"0","target":"Add","arguments":[40,2]}`,
			want: &protocol.Invocation{InvocationID: "0", Target: "Add", Arguments: []any{protocol.Raw("40"), protocol.Raw("2")}},
		},
		{
			name: "type in the middle",
			body: `{"arguments":[40,2],"type":1,"target":"Add","invocationId":"0"}`,
			want: &protocol.Invocation{InvocationID: "0", Target: "Add", Arguments: []any{protocol.Raw("40"), protocol.Raw("2")}},
		},
		{
			name: "unknown fields ignored",
			body: `{"foo":{"bar":[1,2,{"baz":null}]},"type":2,"invocationId":"7","extra":"x","item":true,"n":1.5e3}`,
			want: &protocol.StreamItem{InvocationID: "7", Item: protocol.Raw("true")},
		},
		{
			name: "unknown fields on ping",
			body: `{"type":6,"invocationId":"ignored","whatever":[]}`,
			want: &protocol.Ping{},
		},
		{
			name: "whitespace everywhere",
			body: " \t\r\n{ \"type\" : 9 ,\n \"sequenceId\" : 0 } \n",
			want: &protocol.Sequence{SequenceID: 0},
		},
		{
			name: "arguments of every JSON kind kept raw",
			body: `{"type":1,"target":"T","arguments":[null,true,-1.5e-3,"s\u001e",[1, 2],{"a" : {}}]}`,
			want: &protocol.Invocation{Target: "T", Arguments: []any{
				protocol.Raw("null"), protocol.Raw("true"), protocol.Raw("-1.5e-3"),
				protocol.Raw(`"s\u001e"`), protocol.Raw("[1, 2]"), protocol.Raw(`{"a" : {}}`),
			}},
		},
		{
			name: "escaped target",
			body: `{"type":1,"target":"Tar\"get\u00e9","arguments":[]}`,
			want: &protocol.Invocation{Target: "Tar\"get\u00e9", Arguments: []any{}},
		},
		{
			name: "empty stream ids",
			body: `{"type":1,"target":"T","arguments":[],"streamIds":[]}`,
			want: &protocol.Invocation{Target: "T", Arguments: []any{}, StreamIDs: []string{}},
		},
		{
			name: "null invocation id is absent",
			body: `{"type":1,"target":"T","arguments":[],"invocationId":null}`,
			want: &protocol.Invocation{Target: "T", Arguments: []any{}},
		},
		{
			name: "result null",
			body: `{"type":3,"invocationId":"1","result":null}`,
			want: &protocol.Completion{InvocationID: "1", HasResult: true, Result: protocol.Raw("null")},
		},
		{
			name: "item null",
			body: `{"type":2,"invocationId":"1","item":null}`,
			want: &protocol.StreamItem{InvocationID: "1", Item: protocol.Raw("null")},
		},
		{
			name: "close with allowReconnect only",
			body: `{"allowReconnect":true,"type":7}`,
			want: &protocol.Close{AllowReconnect: true},
		},
		{
			name: "close with null error",
			body: `{"type":7,"error":null}`,
			want: &protocol.Close{},
		},
		{
			name: "large sequence id",
			body: `{"type":8,"sequenceId":18446744073709551615}`,
			want: &protocol.Ack{SequenceID: math.MaxUint64},
		},
	})
}

func TestJSONParseHeaders(t *testing.T) {
	h := map[string]string{"x": "y", "z": "z"}
	runJSONParseCases(t, []jsonParseCase{
		{
			name: "invocation",
			body: `{"type":1,"headers":{"x":"y","z":"z"},"target":"T","arguments":[]}`,
			want: &protocol.Invocation{Target: "T", Arguments: []any{}, Headers: h},
		},
		{
			name: "stream invocation",
			body: `{"type":4,"invocationId":"1","target":"T","arguments":[],"headers":{"x":"y","z":"z"}}`,
			want: &protocol.StreamInvocation{InvocationID: "1", Target: "T", Arguments: []any{}, Headers: h},
		},
		{
			name: "stream item",
			body: `{"type":2,"invocationId":"1","item":1,"headers":{"x":"y","z":"z"}}`,
			want: &protocol.StreamItem{InvocationID: "1", Item: protocol.Raw("1"), Headers: h},
		},
		{
			name: "completion",
			body: `{"headers":{"x":"y","z":"z"},"type":3,"invocationId":"1"}`,
			want: &protocol.Completion{InvocationID: "1", Headers: h},
		},
		{
			name: "cancel",
			body: `{"type":5,"invocationId":"1","headers":{"x":"y","z":"z"}}`,
			want: &protocol.CancelInvocation{InvocationID: "1", Headers: h},
		},
		{
			name: "ping ignores headers",
			body: `{"type":6,"headers":{"x":"y"}}`,
			want: &protocol.Ping{},
		},
		{
			name: "empty headers",
			body: `{"type":5,"invocationId":"1","headers":{}}`,
			want: &protocol.CancelInvocation{InvocationID: "1", Headers: map[string]string{}},
		},
	})
}

func TestJSONParseInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"empty body", ``},
		{"not json", `hello`},
		{"truncated object", `{"type":1`},
		{"trailing garbage", `{"type":6} x`},
		{"two objects", `{"type":6}{"type":6}`},
		{"array", `[1,{}]`},
		{"string", `"type"`},
		{"null", `null`},
		{"missing type", `{"invocationId":"1","target":"T","arguments":[]}`},
		{"empty object", `{}`},
		{"type null", `{"type":null}`},
		{"type as string", `{"type":"6"}`},
		{"type as float", `{"type":6.5}`},
		{"type as bool", `{"type":true}`},
		{"invocation without target", `{"type":1,"invocationId":"1","arguments":[]}`},
		{"invocation with empty target", `{"type":1,"target":"","arguments":[]}`},
		{"invocation with null target", `{"type":1,"target":null,"arguments":[]}`},
		{"invocation with numeric target", `{"type":1,"target":5,"arguments":[]}`},
		{"invocation without arguments", `{"type":1,"invocationId":"1","target":"T"}`},
		{"invocation with null arguments", `{"type":1,"target":"T","arguments":null}`},
		{"invocation with object arguments", `{"type":1,"target":"T","arguments":{}}`},
		{"invocation id as number", `{"type":1,"invocationId":1,"target":"T","arguments":[]}`},
		{"invocation with numeric stream id", `{"type":1,"target":"T","arguments":[],"streamIds":[0]}`},
		{"stream invocation without id", `{"type":4,"target":"T","arguments":[]}`},
		{"stream invocation with empty id", `{"type":4,"invocationId":"","target":"T","arguments":[]}`},
		{"stream invocation without target", `{"type":4,"invocationId":"1","arguments":[]}`},
		{"stream invocation without arguments", `{"type":4,"invocationId":"1","target":"T"}`},
		{"stream item without item", `{"type":2,"invocationId":"1"}`},
		{"stream item without id", `{"type":2,"item":1}`},
		{"stream item id as number", `{"type":2,"invocationId":1,"item":1}`},
		{"completion without id", `{"type":3,"result":1}`},
		{"completion with empty id", `{"type":3,"invocationId":""}`},
		{"completion id as number", `{"type":3,"invocationId":123}`},
		{"completion with result and error", `{"type":3,"invocationId":"1","result":1,"error":"e"}`},
		{"completion with null result and error", `{"type":3,"invocationId":"1","result":null,"error":"e"}`},
		{"completion with numeric error", `{"type":3,"invocationId":"1","error":1}`},
		{"cancel without id", `{"type":5}`},
		{"close with numeric error", `{"type":7,"error":1}`},
		{"close with string allowReconnect", `{"type":7,"allowReconnect":"true"}`},
		{"ack without sequence id", `{"type":8}`},
		{"sequence without sequence id", `{"type":9}`},
		{"negative sequence id", `{"type":9,"sequenceId":-1}`},
		{"fractional sequence id", `{"type":8,"sequenceId":1.5}`},
		{"sequence id as string", `{"type":8,"sequenceId":"1"}`},
		{"sequence id overflow", `{"type":8,"sequenceId":18446744073709551616}`},
		{"headers not an object", `{"type":5,"invocationId":"1","headers":[]}`},
		{"header value not a string", `{"type":5,"invocationId":"1","headers":{"a":1}}`},
		{"raw 0x1f control character in string", "{\"type\":1,\"target\":\"a\x1fb\",\"arguments\":[]}"},
		{"invalid argument", `{"type":1,"target":"T","arguments":[01]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, n, err := protocol.JSON{}.ParseMessage(jsonFrame(tc.body), 0)
			require.ErrorIs(t, err, protocol.ErrInvalidMessage)
			assert.Nil(t, msg)
			assert.Zero(t, n)
		})
	}
}

func TestJSONAppendMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  protocol.Message
		want string // without the record separator
	}{
		{
			name: "completion result",
			msg:  &protocol.Completion{InvocationID: "123", HasResult: true, Result: 1},
			want: `{"type":3,"invocationId":"123","result":1}`,
		},
		{
			name: "completion null result",
			msg:  &protocol.Completion{InvocationID: "123", HasResult: true},
			want: `{"type":3,"invocationId":"123","result":null}`,
		},
		{
			name: "completion raw result",
			msg:  &protocol.Completion{InvocationID: "5", HasResult: true, Result: protocol.Raw(`{"a" : [1, 2]}`)},
			want: `{"type":3,"invocationId":"5","result":{"a" : [1, 2]}}`,
		},
		{
			name: "completion error",
			msg:  &protocol.Completion{InvocationID: "123", Error: "Whoops!"},
			want: `{"type":3,"invocationId":"123","error":"Whoops!"}`,
		},
		{
			name: "completion void",
			msg:  &protocol.Completion{InvocationID: "123"},
			want: `{"type":3,"invocationId":"123"}`,
		},
		{
			name: "invocation with id",
			msg:  &protocol.Invocation{InvocationID: "0", Target: "Add", Arguments: []any{40, 2}},
			want: `{"type":1,"invocationId":"0","target":"Add","arguments":[40,2]}`,
		},
		{
			name: "invocation without id omits the field",
			msg:  &protocol.Invocation{Target: "NonBlocking", Arguments: []any{"foo"}},
			want: `{"type":1,"target":"NonBlocking","arguments":["foo"]}`,
		},
		{
			name: "invocation with nil arguments",
			msg:  &protocol.Invocation{Target: "T"},
			want: `{"type":1,"target":"T","arguments":[]}`,
		},
		{
			name: "invocation with stream ids",
			msg:  &protocol.Invocation{InvocationID: "1", Target: "AddStream", Arguments: []any{}, StreamIDs: []string{"0", "x"}},
			want: `{"type":1,"invocationId":"1","target":"AddStream","streamIds":["0","x"],"arguments":[]}`,
		},
		{
			name: "invocation with empty stream ids",
			msg:  &protocol.Invocation{Target: "T", StreamIDs: []string{}},
			want: `{"type":1,"target":"T","arguments":[]}`,
		},
		{
			name: "invocation with one header",
			msg:  &protocol.Invocation{InvocationID: "1", Target: "T", Headers: map[string]string{"x": "y\""}},
			want: `{"type":1,"invocationId":"1","target":"T","headers":{"x":"y\""},"arguments":[]}`,
		},
		{
			name: "invocation with scalar arguments",
			msg: &protocol.Invocation{Target: "T", Arguments: []any{
				nil, true, false, -7, int64(math.MinInt64), int32(-3), uint64(math.MaxUint64), uint32(4), 1.5, "s",
				protocol.Raw(`[ 1,2 ]`), protocol.Raw(nil),
			}},
			want: `{"type":1,"target":"T","arguments":[null,true,false,-7,-9223372036854775808,-3,18446744073709551615,4,1.5,"s",[ 1,2 ],null]}`,
		},
		{
			name: "stream invocation",
			msg:  &protocol.StreamInvocation{InvocationID: "2", Target: "Stream", Arguments: []any{5}},
			want: `{"type":4,"invocationId":"2","target":"Stream","arguments":[5]}`,
		},
		{
			name: "stream item",
			msg:  &protocol.StreamItem{InvocationID: "1a", Item: "foo"},
			want: `{"type":2,"invocationId":"1a","item":"foo"}`,
		},
		{
			name: "stream item null",
			msg:  &protocol.StreamItem{InvocationID: "1a"},
			want: `{"type":2,"invocationId":"1a","item":null}`,
		},
		{
			name: "cancel invocation",
			msg:  &protocol.CancelInvocation{InvocationID: "2"},
			want: `{"type":5,"invocationId":"2"}`,
		},
		{
			name: "ping",
			msg:  &protocol.Ping{},
			want: `{"type":6}`,
		},
		{
			name: "close",
			msg:  &protocol.Close{},
			want: `{"type":7}`,
		},
		{
			name: "close with error and reconnect",
			msg:  &protocol.Close{Error: "Error!", AllowReconnect: true},
			want: `{"type":7,"error":"Error!","allowReconnect":true}`,
		},
		{
			name: "close with reconnect",
			msg:  &protocol.Close{AllowReconnect: true},
			want: `{"type":7,"allowReconnect":true}`,
		},
		{
			name: "ack",
			msg:  &protocol.Ack{SequenceID: 36},
			want: `{"type":8,"sequenceId":36}`,
		},
		{
			name: "sequence",
			msg:  &protocol.Sequence{SequenceID: 19},
			want: `{"type":9,"sequenceId":19}`,
		},
		{
			name: "sequence max",
			msg:  &protocol.Sequence{SequenceID: math.MaxUint64},
			want: `{"type":9,"sequenceId":18446744073709551615}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := protocol.JSON{}.AppendMessage(nil, tc.msg)
			require.NoError(t, err)
			assert.Equal(t, tc.want+"\x1e", string(got))
			require.NotEmpty(t, got)
			assert.Equal(t, byte(protocol.RecordSeparator), got[len(got)-1])
			assert.Equal(t, 1, bytes.Count(got, []byte{protocol.RecordSeparator}))
			assert.True(t, json.Valid(got[:len(got)-1]), "not valid JSON: %s", got)

			// Appending keeps what dst already holds.
			prefix := []byte("prefix\x1e")
			got2, err := protocol.JSON{}.AppendMessage(prefix, tc.msg)
			require.NoError(t, err)
			assert.Equal(t, "prefix\x1e"+tc.want+"\x1e", string(got2))

			// What we write, we read back as the same type.
			msg, n, err := protocol.JSON{}.ParseMessage(got, 0)
			require.NoError(t, err)
			assert.Equal(t, len(got), n)
			assert.Equal(t, tc.msg.Type(), msg.Type())
		})
	}
}

// jsonTrickyStrings are strings whose JSON encoding is easy to get wrong.
var jsonTrickyStrings = []string{
	"",
	"plain ascii",
	`quote " inside`,
	`back\slash`,
	`\"\\"`,
	"newline\n carriage\r tab\t",
	"backspace\b formfeed\f",
	"\x00",
	"nul\x00in the middle",
	"\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f\x10\x1f",
	"\x1e",
	"record\x1eseparator",
	"\x7f del",
	"<script>&amp;</script>",
	"\u2028 line separator \u2029 paragraph separator",
	"héllo wörld",
	"日本語のテキスト",
	"emoji 😀👍🏽",
	"\u00a0\u200b\ufeff",
	"\ufffd valid replacement character",
	"\xff",
	"invalid \xc0\xaf overlong",
	"truncated \xe6\x97",
	"surrogate \xed\xa0\x80",
	"\xf4\x90\x80\x80 beyond U+10FFFF",
	"trailing high byte \xe2",
	"mixed \x1e\xff\u2028\"\\\n日本",
}

func TestAppendJSONString(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tricky := append(jsonTrickyStrings, string(all))

	for _, s := range tricky {
		t.Run("", func(t *testing.T) {
			got := protocol.AppendJSONString(nil, s)
			require.True(t, json.Valid(got), "not valid JSON: %q", got)
			for _, c := range got {
				require.GreaterOrEqual(t, c, byte(0x20), "raw control byte in %q", got)
			}

			want, err := json.Marshal(s)
			require.NoError(t, err)
			var gotDecoded, wantDecoded string
			require.NoError(t, json.Unmarshal(got, &gotDecoded))
			require.NoError(t, json.Unmarshal(want, &wantDecoded))
			assert.Equal(t, wantDecoded, gotDecoded)
			assert.Equal(t, utf8.ValidString(s), gotDecoded == s,
				"a string must decode to itself exactly when it is valid UTF-8")

			// AppendJSONString appends.
			got2 := protocol.AppendJSONString([]byte("ab"), s)
			assert.Equal(t, "ab"+string(got), string(got2))
		})
	}
}

func TestAppendJSONStringExact(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", `""`},
		{"abc", `"abc"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"\n\r\t", `"\n\r\t"`},
		{"\x00", `"\u0000"`},
		{"\x1e", `"\u001e"`},
		{"a\x1eb", `"a\u001eb"`},
		{"\x1f", `"\u001f"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"\xff", `"\ufffd"`},
		{"a\xffb\xfe", `"a\ufffdb\ufffd"`},
		{"日本", `"日本"`},
		{"😀", `"😀"`},
		{"<>&", `"<>&"`},
		{"/", `"/"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, string(protocol.AppendJSONString(nil, tc.in)))
		})
	}
}

// jsonStdRoundTrip is what s becomes after encoding/json writes and reads it:
// s with each invalid UTF-8 byte replaced by U+FFFD.
func jsonStdRoundTrip(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var out string
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func TestJSONAppendEscapesStrings(t *testing.T) {
	for _, s := range jsonTrickyStrings {
		msg := &protocol.Invocation{
			InvocationID: s,
			Target:       s + "T",
			Arguments:    []any{s},
			StreamIDs:    []string{s},
			Headers:      map[string]string{s: s},
		}
		got, err := protocol.JSON{}.AppendMessage(nil, msg)
		require.NoError(t, err)
		// The only record separator is the final one.
		require.Equal(t, len(got)-1, bytes.IndexByte(got, protocol.RecordSeparator), "%q", got)
		require.True(t, json.Valid(got[:len(got)-1]), "%q", got)

		back, n, err := protocol.JSON{}.ParseMessage(got, 0)
		require.NoError(t, err)
		require.Equal(t, len(got), n)
		inv := back.(*protocol.Invocation)
		want := jsonStdRoundTrip(t, s)
		assert.Equal(t, want, inv.InvocationID)
		assert.Equal(t, jsonStdRoundTrip(t, s+"T"), inv.Target)
		assert.Equal(t, []string{want}, inv.StreamIDs)
		assert.Equal(t, map[string]string{want: want}, inv.Headers)
		var arg string
		require.NoError(t, protocol.JSON{}.Unmarshal(inv.Arguments[0].(protocol.Raw), &arg))
		assert.Equal(t, want, arg)
	}
}

type jsonTagged struct {
	Name    string   `json:"name"`
	Count   int      `json:"count,omitempty"`
	Skip    string   `json:"-"`
	Tags    []string `json:"tags"`
	private int
}

type jsonMarshaler struct{}

func (jsonMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{"custom" : true}`), nil }

func TestJSONAppendStructArguments(t *testing.T) {
	msg := &protocol.Invocation{Target: "T", Arguments: []any{
		jsonTagged{Name: "a\x1e", Skip: "hidden", private: 1},
		&jsonTagged{Name: "b", Count: 2, Tags: []string{"x"}},
		map[string]int{"b": 2, "a": 1},
		[]string{"x", "y"},
		[]byte("hi"),
		jsonMarshaler{},
		json.RawMessage(` [1, 2] `),
		(*jsonTagged)(nil),
	}}
	got, err := protocol.JSON{}.AppendMessage(nil, msg)
	require.NoError(t, err)
	assert.Equal(t, `{"type":1,"target":"T","arguments":[`+
		`{"name":"a\u001e","tags":null},`+
		`{"name":"b","count":2,"tags":["x"]},`+
		`{"a":1,"b":2},`+
		`["x","y"],`+
		`"aGk=",`+
		`{"custom":true},`+
		`[1,2],`+
		`null]}`+"\x1e", string(got))
}

// Numbers JSON has no literal for cannot be written (MessagePack writes
// them); the conformance suite checks the failures every protocol shares.
func TestJSONAppendErrorLeavesDstUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  protocol.Message
	}{
		{"NaN argument", &protocol.Invocation{Target: "T", Arguments: []any{math.NaN()}}},
		{"infinite result", &protocol.Completion{InvocationID: "1", HasResult: true, Result: math.Inf(1)}},
		{"negative infinite item", &protocol.StreamItem{InvocationID: "1", Item: []float64{1, math.Inf(-1)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 0, 1024)
			dst = append(dst, "earlier message\x1e"...)
			got, err := protocol.JSON{}.AppendMessage(dst, tc.msg)
			require.Error(t, err)
			assert.Equal(t, "earlier message\x1e", string(got))

			got, err = protocol.JSON{}.AppendMessage(nil, tc.msg)
			require.Error(t, err)
			assert.Empty(t, got)
		})
	}
}

func BenchmarkJSONInvocation(b *testing.B) {
	p := protocol.JSON{}
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
}
