// Package protocol defines the SignalR hub protocol: the message types that
// travel between a client and a hub, the HubProtocol interface that encodes
// and decodes them, and the JSON implementation. The MessagePack
// implementation lives beside it.
//
// Users of the signalr package never call this package directly; it is the
// contract for implementers of a new wire encoding.
package protocol

import (
	"errors"
	"fmt"
)

// RecordSeparator ends every JSON message and both handshake messages.
const RecordSeparator = 0x1e

// MessageType is the "type" field of a hub message.
type MessageType int

// The message types of the hub protocol (HubProtocol.md).
const (
	TypeInvocation       MessageType = 1
	TypeStreamItem       MessageType = 2
	TypeCompletion       MessageType = 3
	TypeStreamInvocation MessageType = 4
	TypeCancelInvocation MessageType = 5
	TypePing             MessageType = 6
	TypeClose            MessageType = 7
	TypeAck              MessageType = 8
	TypeSequence         MessageType = 9
)

// TransferFormat says whether a protocol's frames are text or binary.
type TransferFormat int

// Transfer formats, as named in a negotiate response.
const (
	Text TransferFormat = iota + 1
	Binary
)

// String returns the name negotiate uses: "Text" or "Binary".
func (f TransferFormat) String() string {
	switch f {
	case Text:
		return "Text"
	case Binary:
		return "Binary"
	}
	return fmt.Sprintf("TransferFormat(%d)", int(f))
}

// Raw is a value still in a protocol's encoding: an invocation argument, a
// stream item or a completion result as parsed from the wire. Only the
// protocol that produced a Raw may decode it (HubProtocol.Unmarshal) or write
// it back out; writing it copies the bytes verbatim.
type Raw []byte

// Message is one hub message. The concrete types are the structs below.
type Message interface {
	Type() MessageType
}

// Invocation asks the receiver to run Target. When InvocationID is empty the
// sender expects no Completion.
type Invocation struct {
	InvocationID string
	Target       string
	// Arguments are the values to encode when writing. A parsed Invocation
	// holds one Raw per argument.
	Arguments []any
	StreamIDs []string
	Headers   map[string]string
}

// StreamInvocation asks the receiver to run Target and stream its results
// back as StreamItems followed by a Completion.
type StreamInvocation struct {
	InvocationID string
	Target       string
	Arguments    []any
	StreamIDs    []string
	Headers      map[string]string
}

// StreamItem is one item of a stream identified by InvocationID.
type StreamItem struct {
	InvocationID string
	Item         any
	Headers      map[string]string
}

// Completion ends an invocation or a stream. At most one of Error and
// HasResult is set; with neither the completion is void.
type Completion struct {
	InvocationID string
	Error        string
	HasResult    bool
	Result       any
	Headers      map[string]string
}

// CancelInvocation asks the receiver to stop the stream InvocationID.
type CancelInvocation struct {
	InvocationID string
	Headers      map[string]string
}

// Ping keeps a connection alive.
type Ping struct{}

// Close ends a connection. A non-empty Error is shown to the client; with
// AllowReconnect a client configured for automatic reconnects reconnects.
type Close struct {
	Error          string
	AllowReconnect bool
}

// Ack acknowledges every trackable message up to SequenceID (stateful
// reconnect).
type Ack struct {
	SequenceID uint64
}

// Sequence tells the receiver the id of the next trackable message after a
// stateful resume.
type Sequence struct {
	SequenceID uint64
}

// Type implements Message.
func (*Invocation) Type() MessageType { return TypeInvocation }

// Type implements Message.
func (*StreamInvocation) Type() MessageType { return TypeStreamInvocation }

// Type implements Message.
func (*StreamItem) Type() MessageType { return TypeStreamItem }

// Type implements Message.
func (*Completion) Type() MessageType { return TypeCompletion }

// Type implements Message.
func (*CancelInvocation) Type() MessageType { return TypeCancelInvocation }

// Type implements Message.
func (*Ping) Type() MessageType { return TypePing }

// Type implements Message.
func (*Close) Type() MessageType { return TypeClose }

// Type implements Message.
func (*Ack) Type() MessageType { return TypeAck }

// Type implements Message.
func (*Sequence) Type() MessageType { return TypeSequence }

// HubProtocol encodes and decodes hub messages. Implementations must be safe
// for concurrent use; they hold no per-connection state.
type HubProtocol interface {
	// Name is the protocol name a client asks for in its handshake
	// ("json", "messagepack").
	Name() string
	// Version is the highest protocol version implemented.
	Version() int
	// TransferFormat tells whether frames are text or binary.
	TransferFormat() TransferFormat
	// ParseMessage parses the first framed message in data. It returns the
	// message and the number of bytes it used. n == 0 with a nil error means
	// data does not yet hold a whole message. A message of an unknown type
	// is skipped: msg is nil and n > 0. A message longer than maxSize bytes
	// (maxSize <= 0: no limit) is an error wrapping ErrMessageTooLarge,
	// reported as soon as the length is known to exceed it. Raw values in
	// msg may alias data.
	ParseMessage(data []byte, maxSize int) (msg Message, n int, err error)
	// AppendMessage appends msg, framed, to dst.
	AppendMessage(dst []byte, msg Message) ([]byte, error)
	// Unmarshal decodes a Raw value produced by this protocol into v, which
	// must be a non-nil pointer.
	Unmarshal(raw Raw, v any) error
}

// Errors returned by parsers. Parse errors wrap ErrInvalidMessage.
var (
	ErrMessageTooLarge = errors.New("message exceeds the maximum message size")
	ErrInvalidMessage  = errors.New("invalid message")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}
