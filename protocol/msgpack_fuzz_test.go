package protocol_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/protocol/protocoltest"
)

// mpFuzzTarget is a struct that fuzzed values are also decoded into, to
// exercise the reflection decoders.
type mpFuzzTarget struct {
	S  string            `json:"s"`
	N  int64             `json:"n"`
	F  float64           `json:"f"`
	B  []byte            `json:"b"`
	M  map[string]any    `json:"m"`
	L  []mpFuzzTarget    `json:"l"`
	P  *mpFuzzTarget     `json:"p"`
	H  map[string]string `json:"h"`
	An any               `json:"an"`
}

// FuzzMessagePackParse parses arbitrary bytes as a stream of framed
// messages. Every message parsed must write back out and parse again to the
// same message, and decoding its values must not panic.
func FuzzMessagePackParse(f *testing.F) {
	f.Add([]byte{0x02, 0x91, 0x06})
	f.Add([]byte{0x0c, 0x95, 0x01, 0x80, 0xa1, 0x30, 0xa3, 0x41, 0x64, 0x64, 0x92, 0x28, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p protocol.MessagePack
		for len(data) > 0 {
			msg, n, err := p.ParseMessage(data, 0)
			if err != nil || n == 0 {
				require.Nil(t, msg)
				require.Zero(t, n)
				return
			}
			require.LessOrEqual(t, n, len(data))
			data = data[n:]
			if msg == nil {
				continue // unknown type
			}

			out, err := p.AppendMessage(nil, msg)
			require.NoError(t, err)
			again, n, err := p.ParseMessage(out, 0)
			require.NoError(t, err)
			require.Equal(t, len(out), n)
			require.Equal(t, msg, again)

			for _, v := range protocoltest.Values(msg) {
				raw, ok := v.(protocol.Raw)
				require.True(t, ok, "value is %T", v)
				var a any
				_ = p.Unmarshal(raw, &a)
				var s mpFuzzTarget
				_ = p.Unmarshal(raw, &s)
				var l []any
				_ = p.Unmarshal(raw, &l)
			}
		}
	})
}
