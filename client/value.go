package client

import (
	"errors"

	"github.com/gosignalr/signalr/protocol"
)

// RawValue is a value as the server sent it, still in the connection's
// protocol encoding: a stream item from [Client.Stream], or a handler
// parameter of type RawValue, which receives the argument undecoded.
type RawValue struct {
	raw   protocol.Raw
	proto protocol.HubProtocol
}

// Decode decodes the value into dst, a non-nil pointer, as a handler
// parameter of dst's type would be decoded.
func (v RawValue) Decode(dst any) error {
	if v.proto == nil {
		return errors.New("signalr client: decoding an empty RawValue")
	}
	return v.proto.Unmarshal(v.raw, dst)
}

// Bytes returns the value's encoding in the connection's protocol (JSON
// text, or one MessagePack value). The caller must not modify it.
func (v RawValue) Bytes() []byte { return v.raw }
