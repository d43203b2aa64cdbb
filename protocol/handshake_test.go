package protocol_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/protocol"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

func TestParseHandshakeRequest(t *testing.T) {
	// docs/protocol.md §9, as sent by the 10.0.11 client.
	vector := mustHex(t, "7b2270726f746f636f6c223a226a736f6e222c2276657273696f6e223a317d1e")
	require.Equal(t, `{"protocol":"json","version":1}`+"\x1e", string(vector))

	long := `{"protocol":"json","version":1,"pad":"` + strings.Repeat("x", 100) + `"}`

	for _, tc := range []struct {
		name    string
		data    []byte
		maxSize int
		want    protocol.HandshakeRequest
		wantN   int
		wantErr error
	}{
		{
			name:  "json vector",
			data:  vector,
			want:  protocol.HandshakeRequest{Protocol: "json", Version: 1},
			wantN: len(vector),
		},
		{
			name:  "messagepack version 2",
			data:  []byte(`{"protocol":"messagepack","version":2}` + "\x1e"),
			want:  protocol.HandshakeRequest{Protocol: "messagepack", Version: 2},
			wantN: 39,
		},
		{
			name:  "fields reversed with spaces and unknown fields",
			data:  []byte(` { "version" : 2 , "extra":[1,{}], "protocol" : "json" } ` + "\x1e"),
			want:  protocol.HandshakeRequest{Protocol: "json", Version: 2},
			wantN: 58,
		},
		{
			name:  "unsupported protocol and version still parse",
			data:  []byte(`{"protocol":"x","version":99}` + "\x1e"),
			want:  protocol.HandshakeRequest{Protocol: "x", Version: 99},
			wantN: 30,
		},
		{
			name:  "trailing bytes are not consumed",
			data:  append(append([]byte(nil), vector...), `{"type":6}`+"\x1e"+`{"type"`...),
			want:  protocol.HandshakeRequest{Protocol: "json", Version: 1},
			wantN: len(vector),
		},
		{
			name:  "trailing msgpack frame is not consumed",
			data:  append([]byte(`{"protocol":"messagepack","version":1}`+"\x1e"), 0x02, 0x91, 0x06),
			want:  protocol.HandshakeRequest{Protocol: "messagepack", Version: 1},
			wantN: 39,
		},
		{
			name:  "body exactly at limit",
			data:  vector,
			want:  protocol.HandshakeRequest{Protocol: "json", Version: 1},
			wantN: len(vector),
			// The body is 31 bytes; the separator does not count.
			maxSize: 31,
		},
		{name: "empty", data: nil},
		{name: "incomplete", data: vector[:len(vector)-1]},
		{name: "incomplete prefix", data: []byte(`{"protocol":"js`)},
		{name: "incomplete within limit", data: vector[:10], maxSize: 31},
		{name: "missing protocol", data: []byte(`{"version":1}` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "missing version", data: []byte(`{"protocol":"json"}` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "null protocol", data: []byte(`{"protocol":null,"version":1}` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "version as string", data: []byte(`{"protocol":"json","version":"1"}` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "fractional version", data: []byte(`{"protocol":"json","version":1.5}` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "protocol as number", data: []byte(`{"protocol":1,"version":1}` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "empty object", data: []byte(`{}` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "empty body", data: []byte("\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "malformed json", data: []byte(`{"protocol":"json","version":1` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "not json", data: []byte("hello\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "json array", data: []byte(`["json",1]` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "trailing garbage before separator", data: []byte(`{"protocol":"json","version":1}x` + "\x1e"), wantErr: protocol.ErrInvalidMessage},
		{name: "too long with separator", data: vector, maxSize: 30, wantErr: protocol.ErrMessageTooLarge},
		{name: "too long without separator", data: []byte(long), maxSize: 64, wantErr: protocol.ErrMessageTooLarge},
		{name: "long within no limit", data: []byte(long + "\x1e"), want: protocol.HandshakeRequest{Protocol: "json", Version: 1}, wantN: len(long) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, n, err := protocol.ParseHandshakeRequest(tc.data, tc.maxSize)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Zero(t, n)
				assert.Zero(t, req)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, req)
			assert.Equal(t, tc.wantN, n)
			if n > 0 {
				assert.Equal(t, byte(protocol.RecordSeparator), tc.data[n-1])
			}
		})
	}
}

// The messages after a handshake in the same buffer are hub messages.
func TestParseHandshakeThenMessages(t *testing.T) {
	data := []byte(`{"protocol":"json","version":1}` + "\x1e" + `{"type":6}` + "\x1e")
	req, n, err := protocol.ParseHandshakeRequest(data, 1024)
	require.NoError(t, err)
	assert.Equal(t, protocol.HandshakeRequest{Protocol: "json", Version: 1}, req)
	msg, m, err := protocol.JSON{}.ParseMessage(data[n:], 1024)
	require.NoError(t, err)
	assert.Equal(t, &protocol.Ping{}, msg)
	assert.Equal(t, len(data), n+m)
}

func TestAppendHandshakeResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		errMsg string
		want   string
	}{
		{name: "success", errMsg: "", want: "\x7b\x7d\x1e"},
		{
			name:   "unsupported protocol",
			errMsg: "The protocol 'x' is not supported.",
			want:   `{"error":"The protocol 'x' is not supported."}` + "\x1e",
		},
		{
			name:   "unsupported version",
			errMsg: "The server does not support version 3 of the 'json' protocol.",
			want:   `{"error":"The server does not support version 3 of the 'json' protocol."}` + "\x1e",
		},
		{
			name:   "quotes and backslash",
			errMsg: `bad "proto\col"`,
			want:   `{"error":"bad \"proto\\col\""}` + "\x1e",
		},
		{
			name:   "record separator and control characters",
			errMsg: "a\x1eb\nc\x00",
			want:   `{"error":"a\u001eb\nc\u0000"}` + "\x1e",
		},
		{
			name:   "unicode and invalid utf-8",
			errMsg: "日本\u2028\xff",
			want:   `{"error":"日本\u2028\ufffd"}` + "\x1e",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := protocol.AppendHandshakeResponse(nil, tc.errMsg)
			assert.Equal(t, tc.want, string(got))
			assert.Equal(t, len(got)-1, strings.IndexByte(string(got), protocol.RecordSeparator))

			// The client reads the reply as JSON with no "type".
			var reply map[string]any
			require.NoError(t, json.Unmarshal(got[:len(got)-1], &reply))
			assert.NotContains(t, reply, "type")
			if tc.errMsg == "" {
				assert.Empty(t, reply)
			} else {
				assert.Equal(t, map[string]any{"error": jsonStdRoundTrip(t, tc.errMsg)}, reply)
			}

			// It appends.
			got2 := protocol.AppendHandshakeResponse([]byte("prev"), tc.errMsg)
			assert.Equal(t, "prev"+tc.want, string(got2))
		})
	}
}

func TestAppendHandshakeResponseBytes(t *testing.T) {
	assert.Equal(t, mustHex(t, "7b 7d 1e"), protocol.AppendHandshakeResponse(nil, ""))
}
