package protocol_test

import (
	"strconv"
	"testing"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/protocol/protocoltest"
)

func TestJSONConformance(t *testing.T) {
	protocoltest.Run(t, func(*testing.T) protocol.HubProtocol { return protocol.JSON{} }, protocoltest.Wire{
		Frame: jsonFrameBytes,
		UnknownMessage: func(typ int) []byte {
			// Fields before the type, as the JavaScript client orders them.
			return []byte(`{"invocationId":"1","payload":{"a":[1,2,{"b":null}]},"type":` + strconv.Itoa(typ) + `}`)
		},
	})
}

func TestMessagePackConformance(t *testing.T) {
	protocoltest.Run(t, func(*testing.T) protocol.HubProtocol { return protocol.MessagePack{} }, protocoltest.Wire{
		Frame: mpFrame,
		UnknownMessage: func(typ int) []byte {
			// [type, headers, "1", [nil, true]]
			body := append([]byte{0x94}, mpInt(int64(typ))...)
			return append(body, 0x80, 0xa1, '1', 0x92, 0xc0, 0xc3)
		},
	})
}

// jsonFrameBytes appends the record separator to a JSON message body.
func jsonFrameBytes(body []byte) []byte {
	return append(append([]byte(nil), body...), protocol.RecordSeparator)
}

// mpInt encodes v as a MessagePack integer in its shortest form.
func mpInt(v int64) []byte {
	switch {
	case v >= 0 && v <= 0x7f, v < 0 && v >= -32:
		return []byte{byte(v)}
	case v >= 0 && v <= 0xff:
		return []byte{0xcc, byte(v)}
	case v >= 0 && v <= 0xffff:
		return []byte{0xcd, byte(v >> 8), byte(v)}
	case v >= 0 && v <= 0xffffffff:
		return []byte{0xce, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	case v >= -1<<31 && v < 1<<31:
		return []byte{0xd2, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	}
	return []byte{0xd3, byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
