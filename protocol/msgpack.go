package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// MessagePack is the "messagepack" hub protocol. Each message is one
// MessagePack array preceded by its length as a VarInt (unsigned LEB128, at
// most 5 bytes, at most 2^31-1), as the ASP.NET Core and JavaScript clients
// write it.
//
// Messages are written in the shape .NET writes them: Invocation and
// StreamInvocation always carry the StreamIds array (empty when there are
// none), Close always carries AllowReconnect, and Headers is always a map.
// Parsing also accepts the shorter shapes the JavaScript client writes
// (5-element invocations, 2-element Close), nil Headers, and ignores extra
// trailing array elements.
//
// Arguments, stream items and completion results are encoded with
// github.com/vmihailenco/msgpack/v5, configured so that one Go type behaves
// the same under both protocols:
//   - structs are msgpack maps keyed by their `json` struct tags (a `msgpack`
//     tag, if present, wins);
//   - integers use the smallest encoding, []byte is bin, time.Time is the
//     timestamp extension (-1), and a top-level Raw is copied verbatim;
//   - decoding into an interface value gives map[string]any for maps with
//     string keys (map[any]any when some key is not a string), []any for
//     arrays, []byte for bin, time.Time for timestamps, and the Go type
//     matching each number's wire encoding (int8, uint16, float64, ...).
//
// Parsed messages hold each value as a Raw slice of the input. Parsing never
// allocates in proportion to a length the input claims: every array, map,
// string and bin length is checked against the bytes actually present, and
// values may nest at most 1000 levels deep.
//
// MessagePack is stateless and safe for concurrent use.
type MessagePack struct{}

var _ HubProtocol = MessagePack{}

// Name implements HubProtocol.
func (MessagePack) Name() string { return "messagepack" }

// Version implements HubProtocol.
func (MessagePack) Version() int { return 2 }

// TransferFormat implements HubProtocol.
func (MessagePack) TransferFormat() TransferFormat { return Binary }

const (
	// maxVarIntLen is the longest length prefix, in bytes.
	maxVarIntLen = 5
	// maxFrameLen is the largest length a prefix may declare.
	maxFrameLen = math.MaxInt32
	// maxMsgpackNesting bounds how deeply values may nest, so that decoding
	// (which recurses) cannot exhaust the stack.
	maxMsgpackNesting = 1000
)

// ParseMessage implements HubProtocol. maxSize limits the body, not counting
// the length prefix; a larger declared length is reported before the body
// has arrived.
func (MessagePack) ParseMessage(data []byte, maxSize int) (Message, int, error) {
	length, prefix, err := readVarInt(data)
	if err != nil || prefix == 0 {
		return nil, 0, err
	}
	if maxSize > 0 && length > maxSize {
		return nil, 0, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, maxSize)
	}
	if len(data)-prefix < length {
		return nil, 0, nil
	}
	msg, err := parseMsgpackMessage(data[prefix : prefix+length])
	if err != nil {
		return nil, 0, err
	}
	return msg, prefix + length, nil
}

// readVarInt reads the length prefix at the start of data. prefix == 0 with
// a nil error means the prefix is not complete yet.
func readVarInt(data []byte) (length, prefix int, err error) {
	var v uint64
	for i := 0; i < maxVarIntLen; i++ {
		if i >= len(data) {
			return 0, 0, nil
		}
		b := data[i]
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if v > maxFrameLen {
				return 0, 0, invalidf("messagepack: message length %d exceeds %d", v, maxFrameLen)
			}
			return int(v), i + 1, nil
		}
	}
	return 0, 0, invalidf("messagepack: length prefix longer than %d bytes", maxVarIntLen)
}

// putVarInt writes v as a VarInt at the start of b and returns its length.
func putVarInt(b []byte, v int) int {
	i := 0
	for ; v >= 0x80; i++ {
		b[i] = byte(v) | 0x80
		v >>= 7
	}
	b[i] = byte(v)
	return i + 1
}

// msgpackMinElements is the fewest array elements, type included, of each
// known message type; zero marks an unknown type.
var msgpackMinElements = [...]int{
	TypeInvocation:       5,
	TypeStreamItem:       4,
	TypeCompletion:       4,
	TypeStreamInvocation: 5,
	TypeCancelInvocation: 3,
	TypePing:             1,
	TypeClose:            2,
	TypeAck:              2,
	TypeSequence:         2,
}

// parseMsgpackMessage parses one message body. An unknown message type gives
// a nil Message and a nil error.
func parseMsgpackMessage(body []byte) (Message, error) {
	r := msgpackReader{b: body}
	count, err := r.readArrayLen("message")
	if err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, invalidf("messagepack: message is an empty array")
	}
	typ, neg, err := r.readUint("type")
	if err != nil {
		return nil, err
	}
	var msg Message
	used := 1 // elements read so far
	if !neg && typ < uint64(len(msgpackMinElements)) && msgpackMinElements[typ] > 0 {
		if err := needElements(count, msgpackMinElements[typ], typ); err != nil {
			return nil, err
		}
		if msg, used, err = r.readMessage(MessageType(typ), count); err != nil {
			return nil, err
		}
	}
	// Elements beyond the known ones (and the whole of an unknown message)
	// are skipped, but must still be well formed.
	for i := used; i < count; i++ {
		if _, err := r.readRaw("extra element"); err != nil {
			return nil, err
		}
	}
	if r.off != len(body) {
		return nil, invalidf("messagepack: %d unexpected bytes after the message array", len(body)-r.off)
	}
	return msg, nil
}

// readMessage reads the elements after the type of a message of a known
// type with count elements. It returns the number of elements it used.
func (r *msgpackReader) readMessage(typ MessageType, count int) (Message, int, error) {
	var msg Message
	var err error
	switch typ {
	case TypeInvocation, TypeStreamInvocation:
		msg, err = r.readInvocation(typ, count)
		return msg, min(count, 6), err
	case TypeStreamItem:
		msg, err = r.readStreamItem()
		return msg, 4, err
	case TypeCompletion:
		return r.readCompletion(count)
	case TypeCancelInvocation:
		msg, err = r.readCancelInvocation()
		return msg, 3, err
	case TypeClose:
		msg, err = r.readClose(count)
		return msg, min(count, 3), err
	case TypeAck, TypeSequence:
		id, err := r.readSequenceID()
		if err != nil {
			return nil, 0, err
		}
		if typ == TypeAck {
			return &Ack{SequenceID: id}, 2, nil
		}
		return &Sequence{SequenceID: id}, 2, nil
	case TypePing:
		return &Ping{}, 1, nil
	}
	return nil, 0, invalidf("messagepack: unknown message type %d", typ)
}

func needElements(count, minCount int, typ uint64) error {
	if count < minCount {
		return invalidf("messagepack: message type %d has %d elements, want at least %d", typ, count, minCount)
	}
	return nil
}

func (r *msgpackReader) readInvocation(typ MessageType, count int) (Message, error) {
	headers, err := r.readHeaders()
	if err != nil {
		return nil, err
	}
	id, _, err := r.readStringOrNil("invocationId")
	if err != nil {
		return nil, err
	}
	if typ == TypeStreamInvocation && id == "" {
		return nil, invalidf("messagepack: missing required property 'invocationId'")
	}
	target, err := r.readString("target")
	if err != nil {
		return nil, err
	}
	if target == "" {
		return nil, invalidf("messagepack: missing required property 'target'")
	}
	nargs, err := r.readArrayLen("arguments")
	if err != nil {
		return nil, err
	}
	args := make([]any, nargs)
	for i := range args {
		if args[i], err = r.readRaw("argument"); err != nil {
			return nil, err
		}
	}
	var streamIDs []string
	if count >= 6 {
		if streamIDs, err = r.readStreamIDs(); err != nil {
			return nil, err
		}
	}
	if typ == TypeInvocation {
		return &Invocation{InvocationID: id, Target: target, Arguments: args, StreamIDs: streamIDs, Headers: headers}, nil
	}
	return &StreamInvocation{InvocationID: id, Target: target, Arguments: args, StreamIDs: streamIDs, Headers: headers}, nil
}

func (r *msgpackReader) readStreamItem() (Message, error) {
	headers, err := r.readHeaders()
	if err != nil {
		return nil, err
	}
	id, err := r.readInvocationID()
	if err != nil {
		return nil, err
	}
	item, err := r.readRaw("item")
	if err != nil {
		return nil, err
	}
	return &StreamItem{InvocationID: id, Item: item, Headers: headers}, nil
}

// Completion result kinds.
const (
	resultKindError = 1
	resultKindVoid  = 2
	resultKindValue = 3
)

// readCompletion returns the Completion and the number of elements it used.
func (r *msgpackReader) readCompletion(count int) (Message, int, error) {
	headers, err := r.readHeaders()
	if err != nil {
		return nil, 0, err
	}
	id, err := r.readInvocationID()
	if err != nil {
		return nil, 0, err
	}
	kind, neg, err := r.readUint("resultKind")
	if err != nil {
		return nil, 0, err
	}
	c := &Completion{InvocationID: id, Headers: headers}
	switch {
	case neg:
		return nil, 0, invalidf("messagepack: invalid invocation result kind")
	case kind == resultKindVoid:
		return c, 4, nil
	case kind == resultKindError:
		if err := needElements(count, 5, uint64(TypeCompletion)); err != nil {
			return nil, 0, err
		}
		if c.Error, _, err = r.readStringOrNil("error"); err != nil {
			return nil, 0, err
		}
		return c, 5, nil
	case kind == resultKindValue:
		if err := needElements(count, 5, uint64(TypeCompletion)); err != nil {
			return nil, 0, err
		}
		if c.Result, err = r.readRaw("result"); err != nil {
			return nil, 0, err
		}
		c.HasResult = true
		return c, 5, nil
	}
	return nil, 0, invalidf("messagepack: invalid invocation result kind %d", kind)
}

func (r *msgpackReader) readCancelInvocation() (Message, error) {
	headers, err := r.readHeaders()
	if err != nil {
		return nil, err
	}
	id, err := r.readInvocationID()
	if err != nil {
		return nil, err
	}
	return &CancelInvocation{InvocationID: id, Headers: headers}, nil
}

func (r *msgpackReader) readClose(count int) (Message, error) {
	msg, _, err := r.readStringOrNil("error")
	if err != nil {
		return nil, err
	}
	c := &Close{Error: msg}
	if count >= 3 {
		if c.AllowReconnect, err = r.readBoolOrNil("allowReconnect"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (r *msgpackReader) readSequenceID() (uint64, error) {
	id, neg, err := r.readUint("sequenceId")
	if err != nil {
		return 0, err
	}
	if neg {
		return 0, invalidf("messagepack: reading 'sequenceId': negative value")
	}
	return id, nil
}

// readInvocationID reads a required, non-empty invocation id.
func (r *msgpackReader) readInvocationID() (string, error) {
	id, err := r.readString("invocationId")
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", invalidf("messagepack: missing required property 'invocationId'")
	}
	return id, nil
}

// readHeaders reads a string-to-string map; nil and an empty map both give a
// nil map.
func (r *msgpackReader) readHeaders() (map[string]string, error) {
	if r.readNil() {
		return nil, nil
	}
	n, err := r.readMapLen("headers")
	if err != nil || n == 0 {
		return nil, err
	}
	headers := make(map[string]string, n)
	for i := 0; i < n; i++ {
		k, err := r.readString("header name")
		if err != nil {
			return nil, err
		}
		v, _, err := r.readStringOrNil("header value")
		if err != nil {
			return nil, err
		}
		headers[k] = v
	}
	return headers, nil
}

// readStreamIDs reads an array of strings; nil and an empty array both give
// a nil slice.
func (r *msgpackReader) readStreamIDs() ([]string, error) {
	if r.readNil() {
		return nil, nil
	}
	n, err := r.readArrayLen("streamIds")
	if err != nil || n == 0 {
		return nil, err
	}
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = r.readString("streamId"); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// msgpackReader reads the envelope of a message from a byte slice. Every
// length it reads is checked against the bytes left before it is used.
type msgpackReader struct {
	b   []byte
	off int
}

func (r *msgpackReader) left() int { return len(r.b) - r.off }

func truncatedf(what string) error {
	return invalidf("messagepack: reading '%s': unexpected end of message", what)
}

func unexpectedf(what, want string, c byte) error {
	return invalidf("messagepack: reading '%s': expected %s, got code 0x%02x", what, want, c)
}

// readNil consumes a nil and reports whether there was one.
func (r *msgpackReader) readNil() bool {
	if r.off < len(r.b) && r.b[r.off] == 0xc0 {
		r.off++
		return true
	}
	return false
}

// readBE reads an n-byte big-endian unsigned integer (n is 1, 2, 4 or 8).
func (r *msgpackReader) readBE(what string, n int) (uint64, error) {
	if r.left() < n {
		return 0, truncatedf(what)
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	switch n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

// readArrayLen reads an array header. The count may not exceed the bytes
// left, as every element takes at least one byte.
func (r *msgpackReader) readArrayLen(what string) (int, error) {
	if r.left() < 1 {
		return 0, truncatedf(what)
	}
	c := r.b[r.off]
	r.off++
	var n uint64
	var err error
	switch {
	case c >= 0x90 && c <= 0x9f:
		n = uint64(c & 0x0f)
	case c == 0xdc:
		n, err = r.readBE(what, 2)
	case c == 0xdd:
		n, err = r.readBE(what, 4)
	default:
		return 0, unexpectedf(what, "an array", c)
	}
	if err != nil {
		return 0, err
	}
	if n > uint64(r.left()) {
		return 0, invalidf("messagepack: reading '%s': array of %d elements in %d bytes", what, n, r.left())
	}
	return int(n), nil
}

// readMapLen reads a map header. The count may not exceed half the bytes
// left, as every entry takes at least two bytes.
func (r *msgpackReader) readMapLen(what string) (int, error) {
	if r.left() < 1 {
		return 0, truncatedf(what)
	}
	c := r.b[r.off]
	r.off++
	var n uint64
	var err error
	switch {
	case c >= 0x80 && c <= 0x8f:
		n = uint64(c & 0x0f)
	case c == 0xde:
		n, err = r.readBE(what, 2)
	case c == 0xdf:
		n, err = r.readBE(what, 4)
	default:
		return 0, unexpectedf(what, "a map", c)
	}
	if err != nil {
		return 0, err
	}
	if n > uint64(r.left())/2 {
		return 0, invalidf("messagepack: reading '%s': map of %d entries in %d bytes", what, n, r.left())
	}
	return int(n), nil
}

// readStringOrNil reads a str value, or nil, which gives "" and isNil.
func (r *msgpackReader) readStringOrNil(what string) (s string, isNil bool, err error) {
	if r.readNil() {
		return "", true, nil
	}
	s, err = r.readString(what)
	return s, false, err
}

// readString reads a str value (fixstr, str8, str16 or str32).
func (r *msgpackReader) readString(what string) (string, error) {
	if r.left() < 1 {
		return "", truncatedf(what)
	}
	c := r.b[r.off]
	r.off++
	var n uint64
	var err error
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == 0xd9:
		n, err = r.readBE(what, 1)
	case c == 0xda:
		n, err = r.readBE(what, 2)
	case c == 0xdb:
		n, err = r.readBE(what, 4)
	default:
		return "", unexpectedf(what, "a string", c)
	}
	if err != nil {
		return "", err
	}
	if n > uint64(r.left()) {
		return "", truncatedf(what)
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

// readUint reads any integer. For a negative integer it reports neg and no
// value.
func (r *msgpackReader) readUint(what string) (v uint64, neg bool, err error) {
	if r.left() < 1 {
		return 0, false, truncatedf(what)
	}
	c := r.b[r.off]
	r.off++
	switch {
	case c <= 0x7f:
		return uint64(c), false, nil
	case c >= 0xe0:
		return 0, true, nil
	case c >= 0xcc && c <= 0xcf:
		v, err = r.readBE(what, 1<<(c-0xcc))
		return v, false, err
	case c >= 0xd0 && c <= 0xd3:
		v, err = r.readBE(what, 1<<(c-0xd0))
		if err != nil {
			return 0, false, err
		}
		// Sign-extend from the encoded width.
		shift := 64 - 8<<(c-0xd0)
		s := int64(v<<shift) >> shift
		if s < 0 {
			return 0, true, nil
		}
		return uint64(s), false, nil
	}
	return 0, false, unexpectedf(what, "an integer", c)
}

// readBoolOrNil reads a bool; nil reads as false.
func (r *msgpackReader) readBoolOrNil(what string) (bool, error) {
	if r.left() < 1 {
		return false, truncatedf(what)
	}
	c := r.b[r.off]
	r.off++
	switch c {
	case 0xc0, 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	}
	return false, unexpectedf(what, "a bool", c)
}

// readRaw reads one whole value of any type as a Raw slice of the input. Its
// capacity is cut to its length so that appending to it cannot overwrite the
// input.
func (r *msgpackReader) readRaw(what string) (Raw, error) {
	n, err := skipMsgpackValue(r.b[r.off:])
	if err != nil {
		return nil, invalidf("messagepack: reading '%s': %v", what, err)
	}
	start := r.off
	r.off += n
	return Raw(r.b[start:r.off:r.off]), nil
}

var errUnexpectedEnd = errors.New("unexpected end of value")

// skipMsgpackValue returns the length of the MessagePack value at the start
// of b. It walks the value without recursion, checks every length against the
// bytes left and allows at most maxMsgpackNesting levels of arrays and maps.
func skipMsgpackValue(b []byte) (int, error) {
	var stackBuf [16]uint64
	open := stackBuf[:0] // elements still to read in each open array or map
	off := 0
	for {
		if off >= len(b) {
			return 0, errUnexpectedEnd
		}
		c := b[off]
		off++
		var (
			elems uint64 // elements of an array or map that c opens
			size  uint64 // bytes that follow c
			width int    // bytes of a length that follows c
			ext   bool   // the length is of an extension, whose type byte follows it
		)
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c <= 0x8f:
			elems = 2 * uint64(c&0x0f)
		case c <= 0x9f:
			elems = uint64(c & 0x0f)
		case c <= 0xbf:
			size = uint64(c & 0x1f)
		case c == 0xc4, c == 0xd9:
			width = 1
		case c == 0xc5, c == 0xda, c == 0xdc, c == 0xde:
			width = 2
		case c == 0xc6, c == 0xdb, c == 0xdd, c == 0xdf:
			width = 4
		case c == 0xc7, c == 0xc8, c == 0xc9:
			width, ext = 1<<(c-0xc7), true
		case c == 0xca:
			size = 4
		case c == 0xcb:
			size = 8
		case c >= 0xcc && c <= 0xcf:
			size = 1 << (c - 0xcc)
		case c >= 0xd0 && c <= 0xd3:
			size = 1 << (c - 0xd0)
		case c >= 0xd4 && c <= 0xd8:
			size = 1 + 1<<(c-0xd4)
		default: // 0xc1, never used
			return 0, fmt.Errorf("invalid code 0x%02x", c)
		}
		if width > 0 {
			if len(b)-off < width {
				return 0, errUnexpectedEnd
			}
			var n uint64
			switch width {
			case 1:
				n = uint64(b[off])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b[off:]))
			case 4:
				n = uint64(binary.BigEndian.Uint32(b[off:]))
			}
			off += width
			switch {
			case c == 0xdc || c == 0xdd:
				elems = n
			case c == 0xde || c == 0xdf:
				elems = 2 * n
			case ext:
				size = n + 1
			default:
				size = n
			}
		}
		if size > uint64(len(b)-off) {
			return 0, errUnexpectedEnd
		}
		off += int(size)
		if elems > 0 {
			if elems > uint64(len(b)-off) {
				return 0, fmt.Errorf("%d elements in %d bytes", elems, len(b)-off)
			}
			if len(open) == maxMsgpackNesting {
				return 0, fmt.Errorf("values nested more than %d levels deep", maxMsgpackNesting)
			}
			open = append(open, elems)
			continue
		}
		// A whole value was read: close the containers it completes.
		for {
			if len(open) == 0 {
				return off, nil
			}
			top := len(open) - 1
			open[top]--
			if open[top] > 0 {
				break
			}
			open = open[:top]
		}
	}
}

// AppendMessage implements HubProtocol. Invocation and StreamInvocation
// without an InvocationID are written with a nil id.
func (MessagePack) AppendMessage(dst []byte, msg Message) ([]byte, error) {
	start := len(dst)
	// Leave room for the longest length prefix, then move the body down
	// once its length is known.
	dst = append(dst, 0, 0, 0, 0, 0)
	bodyStart := len(dst)
	dst, err := appendMsgpackMessage(dst, msg)
	if err != nil {
		return dst[:start], err
	}
	length := len(dst) - bodyStart
	if length > maxFrameLen {
		return dst[:start], fmt.Errorf("protocol: messagepack message of %d bytes exceeds %d", length, maxFrameLen)
	}
	prefix := putVarInt(dst[start:], length)
	copy(dst[start+prefix:], dst[bodyStart:])
	return dst[:start+prefix+length], nil
}

func appendMsgpackMessage(dst []byte, msg Message) ([]byte, error) {
	var err error
	switch m := msg.(type) {
	case *Invocation:
		dst, err = appendMsgpackInvocation(dst, TypeInvocation, m.Headers, m.InvocationID, m.Target, m.Arguments, m.StreamIDs)
	case *StreamInvocation:
		dst, err = appendMsgpackInvocation(dst, TypeStreamInvocation, m.Headers, m.InvocationID, m.Target, m.Arguments, m.StreamIDs)
	case *StreamItem:
		dst = append(dst, 0x94, byte(TypeStreamItem))
		dst = appendMsgpackHeaders(dst, m.Headers)
		dst = appendMsgpackString(dst, m.InvocationID)
		dst, err = appendMsgpackValue(dst, m.Item)
	case *Completion:
		switch {
		case m.Error != "":
			dst = append(dst, 0x95, byte(TypeCompletion))
		case m.HasResult:
			dst = append(dst, 0x95, byte(TypeCompletion))
		default:
			dst = append(dst, 0x94, byte(TypeCompletion))
		}
		dst = appendMsgpackHeaders(dst, m.Headers)
		dst = appendMsgpackString(dst, m.InvocationID)
		switch {
		case m.Error != "":
			dst = append(dst, resultKindError)
			dst = appendMsgpackString(dst, m.Error)
		case m.HasResult:
			dst = append(dst, resultKindValue)
			dst, err = appendMsgpackValue(dst, m.Result)
		default:
			dst = append(dst, resultKindVoid)
		}
	case *CancelInvocation:
		dst = append(dst, 0x93, byte(TypeCancelInvocation))
		dst = appendMsgpackHeaders(dst, m.Headers)
		dst = appendMsgpackString(dst, m.InvocationID)
	case *Ping:
		dst = append(dst, 0x91, byte(TypePing))
	case *Close:
		dst = append(dst, 0x93, byte(TypeClose))
		if m.Error == "" {
			dst = append(dst, 0xc0)
		} else {
			dst = appendMsgpackString(dst, m.Error)
		}
		dst = appendMsgpackBool(dst, m.AllowReconnect)
	case *Ack:
		dst = append(dst, 0x92, byte(TypeAck))
		dst = appendMsgpackUint(dst, m.SequenceID)
	case *Sequence:
		dst = append(dst, 0x92, byte(TypeSequence))
		dst = appendMsgpackUint(dst, m.SequenceID)
	default:
		return dst, fmt.Errorf("protocol: cannot write message type %T", msg)
	}
	return dst, err
}

func appendMsgpackInvocation(dst []byte, typ MessageType, headers map[string]string, id, target string, args []any, streamIDs []string) ([]byte, error) {
	dst = append(dst, 0x96, byte(typ))
	dst = appendMsgpackHeaders(dst, headers)
	if id == "" {
		dst = append(dst, 0xc0)
	} else {
		dst = appendMsgpackString(dst, id)
	}
	dst = appendMsgpackString(dst, target)
	dst = appendMsgpackArrayLen(dst, len(args))
	var err error
	for _, a := range args {
		if dst, err = appendMsgpackValue(dst, a); err != nil {
			return dst, err
		}
	}
	dst = appendMsgpackArrayLen(dst, len(streamIDs))
	for _, s := range streamIDs {
		dst = appendMsgpackString(dst, s)
	}
	return dst, nil
}

func appendMsgpackHeaders(dst []byte, headers map[string]string) []byte {
	dst = appendMsgpackMapLen(dst, len(headers))
	for k, v := range headers {
		dst = appendMsgpackString(dst, k)
		dst = appendMsgpackString(dst, v)
	}
	return dst
}

func appendMsgpackArrayLen(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

func appendMsgpackMapLen(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

// appendMsgpackString appends s as a str, in the same shortest form as
// msgpack/v5 and .NET. A string too long for str32 makes the whole message
// exceed maxFrameLen, which AppendMessage rejects.
func appendMsgpackString(dst []byte, s string) []byte {
	switch n := len(s); {
	case n <= 31:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

func appendMsgpackBytes(dst []byte, b []byte) []byte {
	switch n := len(b); {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, b...)
}

func appendMsgpackBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

// appendMsgpackUint appends v in its shortest form.
func appendMsgpackUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
}

// appendMsgpackInt appends v in its shortest form.
func appendMsgpackInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendMsgpackUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

// appendMsgpackValue appends a user value. Raw is copied verbatim (an empty
// Raw is nil); common types are written directly, exactly as the configured
// msgpack/v5 encoder would write them; anything else goes through it.
func appendMsgpackValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, 0xc0), nil
	case Raw:
		if len(x) == 0 {
			return append(dst, 0xc0), nil
		}
		return append(dst, x...), nil
	case string:
		return appendMsgpackString(dst, x), nil
	case bool:
		return appendMsgpackBool(dst, x), nil
	case int:
		return appendMsgpackInt(dst, int64(x)), nil
	case int64:
		return appendMsgpackInt(dst, x), nil
	case int32:
		return appendMsgpackInt(dst, int64(x)), nil
	case uint64:
		return appendMsgpackUint(dst, x), nil
	case uint32:
		return appendMsgpackUint(dst, uint64(x)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(x)), nil
	case []byte:
		if x == nil {
			return append(dst, 0xc0), nil
		}
		return appendMsgpackBytes(dst, x), nil
	}
	e := msgpackEncoders.Get().(*msgpackEncoder)
	e.w.b = dst
	err := e.enc.Encode(v)
	dst = e.w.b
	e.w.b = nil
	msgpackEncoders.Put(e)
	return dst, err
}

// msgpackEncoder is a configured encoder that appends to a slice.
type msgpackEncoder struct {
	enc *msgpack.Encoder
	w   sliceWriter
}

// sliceWriter appends everything written to b.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *sliceWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

var msgpackEncoders = sync.Pool{New: func() any {
	e := &msgpackEncoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	return e
}}

// msgpackDecoder is a configured decoder that reads from a byte slice.
type msgpackDecoder struct {
	dec *msgpack.Decoder
	r   bytes.Reader
}

var msgpackDecoders = sync.Pool{New: func() any {
	d := &msgpackDecoder{}
	d.dec = msgpack.NewDecoder(&d.r) // a bytes.Reader is read unbuffered
	d.dec.SetCustomStructTag("json")
	d.dec.SetMapDecoder(decodeMsgpackMap)
	return d
}}

// Unmarshal implements HubProtocol. raw must hold exactly one well-formed
// MessagePack value; anything else is an error wrapping ErrInvalidMessage.
// Errors from decoding a well-formed value into v (a type mismatch, for
// example) are returned as msgpack/v5 reports them.
func (MessagePack) Unmarshal(raw Raw, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: empty value", ErrInvalidMessage)
	}
	// Validate first: the decoder trusts the lengths it reads when it
	// allocates, and recurses once per nesting level.
	n, err := skipMsgpackValue(raw)
	if err != nil {
		return invalidf("messagepack: %v", err)
	}
	if n != len(raw) {
		return invalidf("messagepack: %d unexpected bytes after the value", len(raw)-n)
	}
	if iface, ok := v.(*any); ok && iface != nil {
		// encoding/json replaces what an interface holds unless it is a
		// non-nil pointer to decode into; the decoder refuses an
		// interface holding a non-pointer value.
		if rv := reflect.ValueOf(*iface); !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
			*iface = nil
		}
	}
	d := msgpackDecoders.Get().(*msgpackDecoder)
	d.r.Reset(raw)
	err = d.dec.Decode(v)
	d.r.Reset(nil)
	if err != nil {
		// The decoder's state after an error is not worth trusting.
		return err
	}
	msgpackDecoders.Put(d)
	return nil
}

// decodeMsgpackMap decodes a map into an interface value: map[string]any
// when every key is a string, map[any]any otherwise.
func decodeMsgpackMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[string]any, n)
	for i := 0; i < n; i++ {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		v, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return decodeMsgpackUntypedMap(d, m, k, v, n-i-1)
		}
		m[ks] = v
	}
	return m, nil
}

// decodeMsgpackUntypedMap finishes decoding a map with a key that is not a
// string: the entries so far, the entry k, v, and rest more entries.
func decodeMsgpackUntypedMap(d *msgpack.Decoder, sofar map[string]any, k, v any, rest int) (any, error) {
	m := make(map[any]any, len(sofar)+1+rest)
	for ks, vs := range sofar {
		m[ks] = vs
	}
	for {
		if k != nil && !reflect.TypeOf(k).Comparable() {
			return nil, fmt.Errorf("msgpack: unsupported map key type %T", k)
		}
		m[k] = v
		if rest == 0 {
			return m, nil
		}
		rest--
		var err error
		if k, err = d.DecodeInterface(); err != nil {
			return nil, err
		}
		if v, err = d.DecodeInterface(); err != nil {
			return nil, err
		}
	}
}
