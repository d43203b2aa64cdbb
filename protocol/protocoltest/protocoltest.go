// Package protocoltest checks that an implementation of
// protocol.HubProtocol honours the contract documented on that interface
// and behaves as the hub expects of every wire format. Implementations run
// it from a test:
//
//	func TestConformance(t *testing.T) {
//		protocoltest.Run(t, func(*testing.T) protocol.HubProtocol { return MyProtocol{} },
//			protocoltest.Wire{Frame: frame, UnknownMessage: unknown})
//	}
//
// The suite writes messages with AppendMessage and reads them back with
// ParseMessage: every message type and field, several messages in one
// buffer, buffers cut at every byte, empty and unknown messages, size
// limits, garbage input, and the binding of values into typed Go values
// with Unmarshal. What the HubProtocol interface cannot tell it (how a body
// is framed, how a message of an unknown type looks) comes from Wire.
// Tests of exact bytes on the wire belong beside the implementation.
package protocoltest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gosignalr/signalr/protocol"
)

// Wire tells the suite what HubProtocol does not say about a wire format.
// Both functions are required.
type Wire struct {
	// Frame returns body framed as the protocol frames one message on
	// the wire (JSON: body and the record separator; MessagePack: the
	// body's length as a VarInt, then the body). The suite frames bodies
	// of its own with it (an empty one, unknown types) and uses it to
	// learn how long the body of a frame written by AppendMessage is,
	// which is what the maxSize of ParseMessage measures.
	Frame func(body []byte) []byte
	// UnknownMessage returns the body, not framed, of a well-formed
	// message whose type is typ, a type the protocol does not know. It
	// should carry some fields besides the type, as a message of a later
	// protocol version would.
	UnknownMessage func(typ int) []byte
}

// Run runs the conformance suite as subtests of t. newProtocol is called
// at the start of every subtest, with that subtest's t, and returns the
// protocol to test.
func Run(t *testing.T, newProtocol func(t *testing.T) protocol.HubProtocol, wire Wire) {
	if wire.Frame == nil || wire.UnknownMessage == nil {
		t.Fatal("protocoltest.Run: Wire.Frame and Wire.UnknownMessage are required")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"Description", testDescription},
		{"RoundTrip", testRoundTrip},
		{"TextFields", testTextFields},
		{"InvalidUTF8Written", testInvalidUTF8Written},
		{"SeveralMessagesInOneBuffer", testSeveralMessages},
		{"PartialBuffers", testPartialBuffers},
		{"Reassembly", testReassembly},
		{"EmptyInput", testEmptyInput},
		{"EmptyMessage", testEmptyMessage},
		{"UnknownMessageTypes", testUnknownTypes},
		{"SizeLimit", testSizeLimit},
		{"SizeLimitBeforeWholeMessage", testSizeLimitEarly},
		{"Garbage", testGarbage},
		{"RawValues", testRawValues},
		{"ArgumentBinding", testArgumentBinding},
		{"NilAndEmptyArguments", testNilAndEmptyArguments},
		{"UnmarshalErrors", testUnmarshalErrors},
		{"StructFieldNames", testStructFieldNames},
		{"LargePayloads", testLargePayloads},
		{"AppendErrors", testAppendErrors},
		{"ConcurrentUse", testConcurrentUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, &suite{t: t, p: newProtocol(t), wire: wire})
		})
	}
}

type suite struct {
	t    *testing.T
	p    protocol.HubProtocol
	wire Wire
}

// append writes msg, checking what every write must give: dst kept, one
// whole message that parses back, and valid UTF-8 for a text protocol.
func (s *suite) append(msg protocol.Message) []byte {
	s.t.Helper()
	prefix := []byte("earlier bytes")
	out, err := s.p.AppendMessage(bytes.Clone(prefix), msg)
	if err != nil {
		s.t.Fatalf("AppendMessage(%s): %v", describe(msg), err)
	}
	if !bytes.HasPrefix(out, prefix) {
		s.t.Fatalf("AppendMessage(%s) changed the bytes already in dst: %q", describe(msg), short(out))
	}
	frame := out[len(prefix):]
	alone, err := s.p.AppendMessage(nil, msg)
	if err != nil {
		s.t.Fatalf("AppendMessage(nil, %s): %v", describe(msg), err)
	}
	if len(alone) != len(frame) {
		s.t.Fatalf("AppendMessage(%s) wrote %d bytes after dst, %d into nil", describe(msg), len(frame), len(alone))
	}
	if s.p.TransferFormat() == protocol.Text && !utf8.Valid(frame) {
		s.t.Fatalf("a text protocol wrote invalid UTF-8 for %s: %q", describe(msg), short(frame))
	}
	return frame
}

// parse parses frame, which must hold exactly one message.
func (s *suite) parse(frame []byte, maxSize int) protocol.Message {
	s.t.Helper()
	before := bytes.Clone(frame)
	msg, n, err := s.p.ParseMessage(frame, maxSize)
	if err != nil {
		s.t.Fatalf("ParseMessage(%q, %d): %v", short(frame), maxSize, err)
	}
	if n != len(frame) {
		s.t.Fatalf("ParseMessage(%q, %d) used %d of %d bytes", short(frame), maxSize, n, len(frame))
	}
	if !bytes.Equal(before, frame) {
		s.t.Fatalf("ParseMessage modified its input")
	}
	return msg
}

// roundTrip writes want, parses it back and checks that it reads as
// expect (want itself when expect is nil); then writes the parsed message
// again and checks that it parses to the same message, values copied.
func (s *suite) roundTrip(want, expect protocol.Message) protocol.Message {
	s.t.Helper()
	got, _ := s.roundTripFrame(want, expect)
	return got
}

// roundTripFrame is roundTrip that also returns the frame written.
func (s *suite) roundTripFrame(want, expect protocol.Message) (protocol.Message, []byte) {
	s.t.Helper()
	if expect == nil {
		expect = want
	}
	frame := s.append(want)
	got := s.parse(frame, 0)
	if got == nil {
		s.t.Fatalf("%s parsed as an unknown message", describe(want))
	}
	s.expectMessage(got, expect)

	again := s.append(got)
	back := s.parse(again, 0)
	if !sameEnvelope(back, got) {
		s.t.Fatalf("parsed message written again reads %s, want %s", describe(back), describe(got))
	}
	gv, bv := Values(got), Values(back)
	for i := range gv {
		if !bytes.Equal(raw(s.t, gv[i]), raw(s.t, bv[i])) {
			s.t.Fatalf("value %d written again reads %q, want %q (Raw is copied verbatim)", i, short(raw(s.t, bv[i])), short(raw(s.t, gv[i])))
		}
	}
	return got, frame
}

// expectMessage checks that got, a parsed message, is want: the same
// fields, and values that decode to want's values.
func (s *suite) expectMessage(got, want protocol.Message) {
	s.t.Helper()
	if !sameEnvelope(got, want) {
		s.t.Fatalf("parsed %s, want %s", describe(got), describe(want))
	}
	gv, wv := Values(got), Values(want)
	if len(gv) != len(wv) {
		s.t.Fatalf("parsed %d values, want %d", len(gv), len(wv))
	}
	for i := range wv {
		s.expectValue(fmt.Sprintf("%s value %d", describe(want), i), raw(s.t, gv[i]), wv[i])
	}
}

// expectValue decodes r into a new value of want's type and compares.
func (s *suite) expectValue(what string, r protocol.Raw, want any) {
	s.t.Helper()
	if want == nil {
		var v any = "not cleared"
		if err := s.p.Unmarshal(r, &v); err != nil {
			s.t.Fatalf("%s: Unmarshal into *any: %v", what, err)
		}
		if v != nil {
			s.t.Fatalf("%s: decoded %#v, want nil", what, v)
		}
		return
	}
	ptr := reflect.New(reflect.TypeOf(want))
	if err := s.p.Unmarshal(r, ptr.Interface()); err != nil {
		s.t.Fatalf("%s: Unmarshal into %T: %v", what, ptr.Interface(), err)
	}
	got := ptr.Elem().Interface()
	if !equalValue(got, want) {
		s.t.Fatalf("%s: decoded %#v, want %#v", what, got, want)
	}
}

func equalValue(got, want any) bool {
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	case []byte:
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w)
	case person:
		g, ok := got.(person)
		return ok && reflect.DeepEqual(g.inUTC(), w.inUTC())
	case *person:
		g, ok := got.(*person)
		if !ok || g == nil || w == nil {
			return ok && g == w
		}
		return reflect.DeepEqual(g.inUTC(), w.inUTC())
	}
	return reflect.DeepEqual(got, want)
}

func raw(t *testing.T, v any) protocol.Raw {
	t.Helper()
	r, ok := v.(protocol.Raw)
	if !ok {
		t.Fatalf("a parsed value is %T, not protocol.Raw", v)
	}
	return r
}

// envelope is a message without its values, with empty maps and slices
// made nil: what must survive a round trip exactly.
type envelope struct {
	Type           protocol.MessageType
	InvocationID   string
	Target         string
	StreamIDs      []string
	Headers        map[string]string
	Values         int
	HasResult      bool
	Error          string
	AllowReconnect bool
	SequenceID     uint64
}

func envelopeOf(msg protocol.Message) envelope {
	e := envelope{Type: msg.Type(), Values: len(Values(msg))}
	switch m := msg.(type) {
	case *protocol.Invocation:
		e.InvocationID, e.Target, e.StreamIDs, e.Headers = m.InvocationID, m.Target, m.StreamIDs, m.Headers
	case *protocol.StreamInvocation:
		e.InvocationID, e.Target, e.StreamIDs, e.Headers = m.InvocationID, m.Target, m.StreamIDs, m.Headers
	case *protocol.StreamItem:
		e.InvocationID, e.Headers = m.InvocationID, m.Headers
	case *protocol.Completion:
		e.InvocationID, e.Headers, e.Error, e.HasResult = m.InvocationID, m.Headers, m.Error, m.HasResult
	case *protocol.CancelInvocation:
		e.InvocationID, e.Headers = m.InvocationID, m.Headers
	case *protocol.Close:
		e.Error, e.AllowReconnect = m.Error, m.AllowReconnect
	case *protocol.Ack:
		e.SequenceID = m.SequenceID
	case *protocol.Sequence:
		e.SequenceID = m.SequenceID
	}
	if len(e.StreamIDs) == 0 {
		e.StreamIDs = nil
	}
	if len(e.Headers) == 0 {
		e.Headers = nil
	}
	return e
}

func sameEnvelope(a, b protocol.Message) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.DeepEqual(envelopeOf(a), envelopeOf(b))
}

// Values returns the values a message carries: the arguments of an
// invocation, a stream item, a completion's result; nil for the others.
func Values(msg protocol.Message) []any {
	switch m := msg.(type) {
	case *protocol.Invocation:
		return m.Arguments
	case *protocol.StreamInvocation:
		return m.Arguments
	case *protocol.StreamItem:
		return []any{m.Item}
	case *protocol.Completion:
		if m.HasResult {
			return []any{m.Result}
		}
	}
	return nil
}

func describe(msg protocol.Message) string {
	if msg == nil {
		return "<nil message>"
	}
	e := envelopeOf(msg)
	return short([]byte(fmt.Sprintf("%T%+v", msg, e)))
}

func short(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%q...(%d bytes)", b[:80], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// bodyLen returns the length of the body in frame, as Wire.Frame frames
// it.
func (s *suite) bodyLen(frame []byte) int {
	s.t.Helper()
	for n := len(frame); n >= 0 && n >= len(frame)-16; n-- {
		if len(s.wire.Frame(make([]byte, n))) == len(frame) {
			return n
		}
	}
	s.t.Fatalf("no body length gives a frame of %d bytes with Wire.Frame", len(frame))
	return 0
}

// headers carries keys and values that are easy to get wrong.
var headers = map[string]string{"x": "y", "trace": "abc", "ü": "ö", "quote\"": "back\\slash", "a\x1e": "\u2028"}

// samples returns one message of every type and shape, as written, with
// what it must read as (nil: itself).
func samples() []struct {
	name        string
	msg, expect protocol.Message
} {
	type sample = struct {
		name        string
		msg, expect protocol.Message
	}
	return []sample{
		{"InvocationWithID", &protocol.Invocation{InvocationID: "0", Target: "Add", Arguments: []any{40, 2}}, nil},
		{"InvocationWithoutID", &protocol.Invocation{Target: "NonBlocking", Arguments: []any{"foo"}}, nil},
		{"InvocationWithStreamIDs", &protocol.Invocation{InvocationID: "1", Target: "Upload", Arguments: []any{}, StreamIDs: []string{"0", "x"}}, nil},
		{"InvocationWithHeaders", &protocol.Invocation{InvocationID: "1", Target: "T", Arguments: []any{true}, Headers: headers}, nil},
		{"StreamInvocation", &protocol.StreamInvocation{InvocationID: "2", Target: "Counter", Arguments: []any{10, "x"}}, nil},
		{"StreamInvocationWithStreamIDsAndHeaders", &protocol.StreamInvocation{InvocationID: "2", Target: "Counter", Arguments: []any{}, StreamIDs: []string{"s"}, Headers: headers}, nil},
		{"StreamItem", &protocol.StreamItem{InvocationID: "2", Item: "foo"}, nil},
		{"StreamItemNil", &protocol.StreamItem{InvocationID: "2"}, nil},
		{"StreamItemWithHeaders", &protocol.StreamItem{InvocationID: "2", Item: []int{1, 2}, Headers: headers}, nil},
		{"CompletionWithResult", &protocol.Completion{InvocationID: "3", HasResult: true, Result: 42}, nil},
		{"CompletionWithNilResult", &protocol.Completion{InvocationID: "3", HasResult: true}, nil},
		{"CompletionWithError", &protocol.Completion{InvocationID: "3", Error: "Whoops!"}, nil},
		{"CompletionWithoutResult", &protocol.Completion{InvocationID: "3"}, nil},
		{"CompletionWithHeaders", &protocol.Completion{InvocationID: "3", HasResult: true, Result: "r", Headers: headers}, nil},
		{
			"CompletionErrorWinsOverResult",
			&protocol.Completion{InvocationID: "3", Error: "e", HasResult: true, Result: 1},
			&protocol.Completion{InvocationID: "3", Error: "e"},
		},
		{"CancelInvocation", &protocol.CancelInvocation{InvocationID: "2"}, nil},
		{"CancelInvocationWithHeaders", &protocol.CancelInvocation{InvocationID: "2", Headers: headers}, nil},
		{"Ping", &protocol.Ping{}, nil},
		{"Close", &protocol.Close{}, nil},
		{"CloseWithError", &protocol.Close{Error: "Error!"}, nil},
		{"CloseAllowReconnect", &protocol.Close{AllowReconnect: true}, nil},
		{"CloseWithErrorAllowReconnect", &protocol.Close{Error: "Error!", AllowReconnect: true}, nil},
		{"Ack", &protocol.Ack{SequenceID: 36}, nil},
		{"AckZero", &protocol.Ack{}, nil},
		{"Sequence", &protocol.Sequence{SequenceID: 19}, nil},
		{"SequenceMax", &protocol.Sequence{SequenceID: math.MaxUint64}, nil},
	}
}

// sampleFrames returns the frames of every sample, in order, with the
// messages they must read as.
func (s *suite) sampleFrames() (frames [][]byte, want []protocol.Message) {
	s.t.Helper()
	for _, tc := range samples() {
		frames = append(frames, s.append(tc.msg))
		if tc.expect != nil {
			want = append(want, tc.expect)
		} else {
			want = append(want, tc.msg)
		}
	}
	return frames, want
}

func testDescription(t *testing.T, s *suite) {
	if s.p.Name() == "" {
		t.Error("Name is empty")
	}
	if strings.ContainsAny(s.p.Name(), " \t\r\n\x1e\"") {
		t.Errorf("Name %q holds characters a handshake or negotiate response cannot carry as is", s.p.Name())
	}
	if s.p.Version() < 1 {
		t.Errorf("Version = %d, want at least 1", s.p.Version())
	}
	if f := s.p.TransferFormat(); f != protocol.Text && f != protocol.Binary {
		t.Errorf("TransferFormat = %v, want Text or Binary", f)
	}
}

func testRoundTrip(t *testing.T, s *suite) {
	for _, tc := range samples() {
		t.Run(tc.name, func(t *testing.T) {
			s := &suite{t: t, p: s.p, wire: s.wire}
			s.roundTrip(tc.msg, tc.expect)
		})
	}
}

// validStrings are valid UTF-8 strings whose encoding is easy to get
// wrong; each must come back exactly.
var validStrings = []string{
	"plain ascii",
	`quote " inside`,
	`back\slash \"\\"`,
	"newline\n carriage\r tab\t backspace\b formfeed\f",
	"\x00",
	"nul\x00in the middle",
	"\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f\x10\x1f",
	"\x1e",
	"record\x1eseparator",
	"\x7f del",
	"<script>&amp;</script> / \\/",
	"\u2028 line separator \u2029 paragraph separator",
	"héllo wörld 日本語のテキスト",
	"emoji 😀👍🏽",
	"\u00a0\u200b\ufeff",
	"\ufffd valid replacement character",
	"{\"type\":6}\x1e",
}

func testTextFields(t *testing.T, s *suite) {
	for _, str := range validStrings {
		h := map[string]string{str: str, "k": str}
		msgs := []protocol.Message{
			&protocol.Invocation{InvocationID: str, Target: str, Arguments: []any{str}, StreamIDs: []string{str, "b"}, Headers: h},
			&protocol.StreamInvocation{InvocationID: str, Target: str, Arguments: []any{str}, StreamIDs: []string{str}, Headers: h},
			&protocol.StreamItem{InvocationID: str, Item: str, Headers: h},
			&protocol.Completion{InvocationID: str, HasResult: true, Result: str, Headers: h},
			&protocol.Completion{InvocationID: str, Error: str, Headers: h},
			&protocol.CancelInvocation{InvocationID: str, Headers: h},
			&protocol.Close{Error: str},
		}
		for _, msg := range msgs {
			s.roundTrip(msg, nil)
		}
	}
}

// invalidStrings are not valid UTF-8.
var invalidStrings = []string{
	"\xff",
	"invalid \xc0\xaf overlong",
	"truncated \xe6\x97",
	"surrogate \xed\xa0\x80",
	"\xf4\x90\x80\x80 beyond U+10FFFF",
	"trailing high byte \xe2",
	"mixed \x1e\xff\u2028\"\\\n日本",
	"\x91\x06",
}

// testInvalidUTF8Written: strings that are not UTF-8 are written as a
// message that parses (a text protocol writes valid UTF-8, which append
// checks); what they read as is the protocol's choice.
func testInvalidUTF8Written(t *testing.T, s *suite) {
	for _, str := range invalidStrings {
		h := map[string]string{str: str}
		for _, msg := range []protocol.Message{
			&protocol.Invocation{InvocationID: str, Target: str, Arguments: []any{str}, StreamIDs: []string{str}, Headers: h},
			&protocol.StreamItem{InvocationID: str, Item: str, Headers: h},
			&protocol.Completion{InvocationID: str, Error: str},
			&protocol.Close{Error: str},
		} {
			got := s.parse(s.append(msg), 0)
			if got == nil || got.Type() != msg.Type() {
				t.Fatalf("%s read back as %s", describe(msg), describe(got))
			}
		}
	}
}

func testSeveralMessages(t *testing.T, s *suite) {
	frames, want := s.sampleFrames()
	var data []byte
	for i, f := range frames {
		data = append(data, f...)
		// An unknown message between known ones is skipped.
		if i%3 == 0 {
			data = append(data, s.wire.Frame(s.wire.UnknownMessage(99))...)
		}
	}
	// A trailing partial message stays in the buffer.
	partial := frames[0][:len(frames[0])-1]
	data = append(data, partial...)

	var got []protocol.Message
	rest := data
	for {
		msg, n, err := s.p.ParseMessage(rest, 0)
		if err != nil {
			t.Fatalf("ParseMessage after %d messages: %v", len(got), err)
		}
		if n == 0 {
			if msg != nil {
				t.Fatalf("ParseMessage returned %s using no bytes", describe(msg))
			}
			break
		}
		if n > len(rest) {
			t.Fatalf("ParseMessage used %d of %d bytes", n, len(rest))
		}
		if msg != nil {
			got = append(got, msg)
		}
		rest = rest[n:]
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		s.expectMessage(got[i], want[i])
	}
	if !bytes.Equal(rest, partial) {
		t.Fatalf("left %q in the buffer, want the partial message %q", short(rest), short(partial))
	}
}

// expectIncomplete checks that data, a proper prefix of a message, is
// reported as incomplete.
func (s *suite) expectIncomplete(data []byte, maxSize int) {
	s.t.Helper()
	msg, n, err := s.p.ParseMessage(data, maxSize)
	if err != nil || n != 0 || msg != nil {
		s.t.Fatalf("ParseMessage of the first %d bytes of a message (maxSize %d) = %s, %d, %v; want nil, 0, nil",
			len(data), maxSize, describe(msg), n, err)
	}
}

func testPartialBuffers(t *testing.T, s *suite) {
	frames, _ := s.sampleFrames()
	long := s.append(&protocol.Invocation{InvocationID: "7", Target: "T", Arguments: []any{strings.Repeat("é\"\x1e", 100), 300}})
	frames = append(frames, long)
	for _, frame := range frames {
		body := s.bodyLen(frame)
		for i := 0; i < len(frame); i++ {
			part := bytes.Clone(frame[:i]) // no bytes past the prefix to peek at
			s.expectIncomplete(part, 0)
			s.expectIncomplete(part, body)
			s.expectIncomplete(part, -1)
		}
		s.parse(frame, body)
	}
}

// testReassembly feeds a stream of messages in chunks, as a connection
// reads them, parsing whatever the buffer holds after each read.
func testReassembly(t *testing.T, s *suite) {
	frames, samples := s.sampleFrames()
	big := &protocol.StreamItem{InvocationID: "big", Item: strings.Repeat("0123456789abcdef", 1<<12)}
	var stream []byte
	var want []protocol.Message
	for i, f := range frames {
		stream = append(stream, f...)
		want = append(want, samples[i])
		if i == len(frames)/2 {
			stream = append(stream, s.append(big)...)
			want = append(want, big)
			stream = append(stream, s.wire.Frame(s.wire.UnknownMessage(10))...)
		}
	}
	for _, chunk := range []int{1, 2, 3, 7, 61, 4096} {
		var buf []byte
		parsed := 0
		for off := 0; off < len(stream); off += chunk {
			end := min(off+chunk, len(stream))
			buf = append(buf, stream[off:end]...)
			for {
				msg, n, err := s.p.ParseMessage(buf, 1<<20)
				if err != nil {
					t.Fatalf("chunks of %d: ParseMessage at stream offset %d: %v", chunk, end-len(buf), err)
				}
				if n == 0 {
					break
				}
				if msg != nil {
					if parsed == len(want) {
						t.Fatalf("chunks of %d: more messages than were written: %s", chunk, describe(msg))
					}
					// A reader moves the rest to the front of its buffer
					// and reuses it: check the values before that.
					s.expectMessage(msg, want[parsed])
					parsed++
				}
				buf = append(buf[:0], buf[n:]...)
			}
		}
		if parsed != len(want) {
			t.Fatalf("chunks of %d: parsed %d messages, want %d", chunk, parsed, len(want))
		}
		if len(buf) != 0 {
			t.Fatalf("chunks of %d: %d bytes left", chunk, len(buf))
		}
	}
}

func testEmptyInput(t *testing.T, s *suite) {
	for _, data := range [][]byte{nil, {}} {
		for _, maxSize := range []int{0, 1, -1} {
			msg, n, err := s.p.ParseMessage(data, maxSize)
			if msg != nil || n != 0 || err != nil {
				t.Errorf("ParseMessage(%#v, %d) = %s, %d, %v; want nil, 0, nil", data, maxSize, describe(msg), n, err)
			}
		}
	}
}

// testEmptyMessage: a frame with an empty body is not a message of any
// type, nor a message to skip: it is invalid.
func testEmptyMessage(t *testing.T, s *suite) {
	frame := s.wire.Frame(nil)
	for _, maxSize := range []int{0, 10} {
		msg, n, err := s.p.ParseMessage(frame, maxSize)
		if !errors.Is(err, protocol.ErrInvalidMessage) || msg != nil || n != 0 {
			t.Errorf("ParseMessage(%q, %d) = %s, %d, %v; want an error wrapping ErrInvalidMessage", frame, maxSize, describe(msg), n, err)
		}
	}
}

func testUnknownTypes(t *testing.T, s *suite) {
	ping := s.append(&protocol.Ping{})
	for _, typ := range []int{0, -1, 10, 11, 99, 255, 256, 65536, math.MaxInt32, math.MinInt32} {
		frame := s.wire.Frame(s.wire.UnknownMessage(typ))
		for i := 0; i < len(frame); i++ {
			s.expectIncomplete(bytes.Clone(frame[:i]), 0)
		}
		data := append(bytes.Clone(frame), ping...)
		msg, n, err := s.p.ParseMessage(data, 0)
		if err != nil || msg != nil || n != len(frame) {
			t.Fatalf("type %d: ParseMessage = %s, %d, %v; want nil, %d, nil (skipped)", typ, describe(msg), n, err, len(frame))
		}
		if next := s.parse(data[n:], 0); !sameEnvelope(next, &protocol.Ping{}) {
			t.Fatalf("type %d: the message after an unknown one reads %s", typ, describe(next))
		}
		// The size limit holds for messages of unknown types too.
		body := s.bodyLen(frame)
		if _, _, err := s.p.ParseMessage(frame, body); err != nil {
			t.Fatalf("type %d: ParseMessage at the limit: %v", typ, err)
		}
		if _, n, err := s.p.ParseMessage(frame, body-1); !errors.Is(err, protocol.ErrMessageTooLarge) || n != 0 {
			t.Fatalf("type %d: ParseMessage of %d bytes with maxSize %d = %d, %v; want ErrMessageTooLarge", typ, body, body-1, n, err)
		}
	}
}

// expectTooLarge checks that data is refused as too large.
func (s *suite) expectTooLarge(data []byte, maxSize int) {
	s.t.Helper()
	msg, n, err := s.p.ParseMessage(data, maxSize)
	if !errors.Is(err, protocol.ErrMessageTooLarge) || errors.Is(err, protocol.ErrInvalidMessage) || msg != nil || n != 0 {
		s.t.Fatalf("ParseMessage of %d bytes with maxSize %d = %s, %d, %v; want an error wrapping ErrMessageTooLarge only",
			len(data), maxSize, describe(msg), n, err)
	}
}

func testSizeLimit(t *testing.T, s *suite) {
	msgs := []protocol.Message{
		&protocol.Ping{},
		&protocol.Invocation{InvocationID: "1", Target: "Send", Arguments: []any{strings.Repeat("x", 200)}},
		&protocol.Completion{InvocationID: "1", HasResult: true, Result: strings.Repeat("y", 70000)},
	}
	for _, msg := range msgs {
		frame := s.append(msg)
		body := s.bodyLen(frame)
		for _, maxSize := range []int{body, body + 1, 0, -1, math.MaxInt} {
			s.expectMessage(s.parse(frame, maxSize), msg)
		}
		for _, maxSize := range []int{body - 1, body / 2, 1} {
			if maxSize > 0 {
				s.expectTooLarge(frame, maxSize)
			}
		}
		// The first message fits, the second does not.
		small := s.append(&protocol.Ping{})
		data := append(bytes.Clone(small), frame...)
		limit := body - 1
		if limit < s.bodyLen(small) {
			continue
		}
		msg, n, err := s.p.ParseMessage(data, limit)
		if err != nil || n != len(small) || !sameEnvelope(msg, &protocol.Ping{}) {
			t.Fatalf("ParseMessage of a small message before a large one = %s, %d, %v", describe(msg), n, err)
		}
		s.expectTooLarge(data[n:], limit)
	}
}

// testSizeLimitEarly: a message over the limit is refused as soon as the
// buffer holds more than the limit, before the rest of it arrives, so a
// peer cannot make the reader buffer more than the limit.
func testSizeLimitEarly(t *testing.T, s *suite) {
	frame := s.append(&protocol.Invocation{Target: "Big", Arguments: []any{strings.Repeat("z", 100000)}})
	body := s.bodyLen(frame)
	overhead := len(frame) - body
	for _, maxSize := range []int{1, 100, body / 2, body - 1} {
		refused := false
		for i := 0; i <= len(frame); i += 1 + i/64 {
			part := frame[:i]
			msg, n, err := s.p.ParseMessage(part, maxSize)
			switch {
			case errors.Is(err, protocol.ErrMessageTooLarge) && msg == nil && n == 0:
				refused = true
			case err == nil && msg == nil && n == 0 && !refused:
				if i > maxSize+overhead {
					t.Fatalf("maxSize %d: the first %d bytes of a %d-byte message are still waited on", maxSize, i, body)
				}
			default:
				t.Fatalf("maxSize %d: ParseMessage of the first %d bytes = %s, %d, %v (refused before: %v)", maxSize, i, describe(msg), n, err, refused)
			}
		}
		s.expectTooLarge(frame, maxSize)
	}
}

// garbageSeeds returns inputs that are not valid messages: random bytes,
// sample frames with bytes changed, cut, doubled, or spliced together.
func (s *suite) garbageSeeds() [][]byte {
	frames, _ := s.sampleFrames()
	for _, typ := range []int{10, -1} {
		frames = append(frames, s.wire.Frame(s.wire.UnknownMessage(typ)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var out [][]byte
	for range 2000 {
		b := make([]byte, rng.IntN(48))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		out = append(out, b)
	}
	special := []byte{0x00, 0x01, 0x06, 0x1e, 0x20, '"', '\\', '{', '}', '[', ']', ':', ',', '0', '9', '-', 0x7f, 0x80, 0x90, 0xa0, 0xc0, 0xc1, 0xcc, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff}
	for _, f := range frames {
		for i := range f {
			for _, c := range special {
				m := bytes.Clone(f)
				m[i] = c
				out = append(out, m)
			}
			m := bytes.Clone(f)
			m[i] ^= 0xff
			out = append(out, m, append(bytes.Clone(f[:i]), f[i+1:]...))
		}
		for range 20 {
			g := frames[rng.IntN(len(frames))]
			out = append(out, append(bytes.Clone(f[:rng.IntN(len(f)+1)]), g[rng.IntN(len(g)+1):]...))
		}
		out = append(out, append(bytes.Clone(f), f...))
	}
	return out
}

// testGarbage parses garbage as a connection's reader would: never a
// panic, results consistent with the contract, and every message parsed
// from it writes back out and reads again the same.
func testGarbage(t *testing.T, s *suite) {
	for _, data := range s.garbageSeeds() {
		for _, maxSize := range []int{0, 16} {
			s.parseGarbage(data, maxSize)
			if t.Failed() {
				return
			}
		}
	}
}

func (s *suite) parseGarbage(data []byte, maxSize int) {
	s.t.Helper()
	defer func() {
		if r := recover(); r != nil {
			s.t.Fatalf("panic parsing %q (maxSize %d): %v", data, maxSize, r)
		}
	}()
	before := bytes.Clone(data)
	rest := data
	for len(rest) > 0 {
		msg, n, err := s.p.ParseMessage(rest, maxSize)
		if err != nil {
			if msg != nil || n != 0 {
				s.t.Fatalf("ParseMessage(%q) = %s, %d, %v: an error comes with no message and n == 0", rest, describe(msg), n, err)
			}
			if !errors.Is(err, protocol.ErrInvalidMessage) && !errors.Is(err, protocol.ErrMessageTooLarge) {
				s.t.Fatalf("ParseMessage(%q): error %v wraps neither ErrInvalidMessage nor ErrMessageTooLarge", rest, err)
			}
			break
		}
		if n < 0 || n > len(rest) || (n == 0 && msg != nil) {
			s.t.Fatalf("ParseMessage(%q) = %s, %d, nil", rest, describe(msg), n)
		}
		if n == 0 {
			break
		}
		if msg != nil {
			s.checkParsedGarbage(msg)
		}
		rest = rest[n:]
	}
	if !bytes.Equal(before, data) {
		s.t.Fatalf("ParseMessage modified its input %q", before)
	}
}

// garbageTarget is a type garbage values are decoded into.
type garbageTarget struct {
	S string            `json:"s"`
	N int64             `json:"n"`
	F float64           `json:"f"`
	B []byte            `json:"b"`
	M map[string]any    `json:"m"`
	L []garbageTarget   `json:"l"`
	P *garbageTarget    `json:"p"`
	H map[string]string `json:"h"`
	A any               `json:"a"`
}

func (s *suite) checkParsedGarbage(msg protocol.Message) {
	s.t.Helper()
	out, err := s.p.AppendMessage(nil, msg)
	if err != nil {
		s.t.Fatalf("a parsed %s cannot be written back: %v", describe(msg), err)
	}
	again, n, err := s.p.ParseMessage(out, 0)
	if err != nil || n != len(out) || !sameEnvelope(again, msg) {
		s.t.Fatalf("a parsed %s written back reads %s, %d of %d bytes, %v", describe(msg), describe(again), n, len(out), err)
	}
	for i, v := range Values(msg) {
		r := raw(s.t, v)
		if !bytes.Equal(r, raw(s.t, Values(again)[i])) {
			s.t.Fatalf("value %d of a parsed %s changed when written back", i, describe(msg))
		}
		var a any
		_ = s.p.Unmarshal(r, &a)
		var g garbageTarget
		_ = s.p.Unmarshal(r, &g)
		var l []any
		_ = s.p.Unmarshal(r, &l)
		var str string
		_ = s.p.Unmarshal(r, &str)
		var u uint64
		_ = s.p.Unmarshal(r, &u)
	}
}

// testRawValues: parsed values are slices of the input that do not reach
// past their own bytes, so appending to one cannot overwrite the next,
// and they stay valid while the input is unchanged.
func testRawValues(t *testing.T, s *suite) {
	msgs := []protocol.Message{
		&protocol.Invocation{InvocationID: "1", Target: "Add", Arguments: []any{40, 2, "three", []int{4}}},
		&protocol.StreamInvocation{InvocationID: "1", Target: "S", Arguments: []any{1, 2}},
		&protocol.StreamItem{InvocationID: "1", Item: 5},
		&protocol.Completion{InvocationID: "1", HasResult: true, Result: 6},
	}
	for _, msg := range msgs {
		frame := append(s.append(msg), s.append(&protocol.Ping{})...)
		before := bytes.Clone(frame)
		got, _, err := s.p.ParseMessage(frame, 0)
		if err != nil {
			t.Fatal(err)
		}
		vals := Values(got)
		kept := make([][]byte, len(vals))
		for i, v := range vals {
			kept[i] = bytes.Clone(raw(t, v))
		}
		for _, v := range vals {
			r := raw(t, v)
			_ = append(r, 0xff, 0xff, 0xff, 0xff)
		}
		if !bytes.Equal(frame, before) {
			t.Fatalf("appending to a parsed value of %s overwrote the input", describe(msg))
		}
		for i, v := range vals {
			if !bytes.Equal(raw(t, v), kept[i]) {
				t.Fatalf("appending to a parsed value of %s changed value %d", describe(msg), i)
			}
		}
	}
}

// Types arguments are bound to. The json tags name the fields under
// every protocol.
type address struct {
	Street string  `json:"street"`
	Zip    *string `json:"zip"`
}

type person struct {
	Name     string         `json:"name"`
	Age      int            `json:"age"`
	Admin    bool           `json:"admin"`
	Score    float64        `json:"score"`
	Tags     []string       `json:"tags"`
	Attrs    map[string]int `json:"attrs"`
	Home     address        `json:"home"`
	Friends  []*person      `json:"friends,omitempty"`
	Data     []byte         `json:"data"`
	When     time.Time      `json:"when"`
	Ignored  string         `json:"-"`
	Untagged int
}

// inUTC returns p with its times in UTC: a protocol may decode a time in
// another location.
func (p person) inUTC() person {
	p.When = p.When.UTC()
	if p.Friends != nil {
		friends := make([]*person, len(p.Friends))
		for i, f := range p.Friends {
			if f != nil {
				g := f.inUTC()
				f = &g
			}
			friends[i] = f
		}
		p.Friends = friends
	}
	return p
}

func samplePerson() person {
	zip := "75001"
	return person{
		Name:  "Zoë \"Z\" \x1e 日本 😀",
		Age:   42,
		Admin: true,
		Score: -0.125,
		Tags:  []string{"a", "", "\u2028"},
		Attrs: map[string]int{"x": 1, "y": -2},
		Home:  address{Street: "Rue\\Main", Zip: &zip},
		Friends: []*person{
			{Name: "Nested", Tags: []string{"t"}, Attrs: map[string]int{"z": 0}, Data: []byte{1}},
		},
		Data:     []byte{0, 1, 2, 0xff},
		When:     time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC),
		Untagged: 7,
	}
}

// bindingValues are arguments of many Go types; each decodes into a new
// value of its own type as itself.
func bindingValues() []any {
	var nilPerson *person
	p := samplePerson()
	return []any{
		p,
		&p,
		nilPerson,
		map[string][]map[string]int{"a": {{"b": 1}, {"c": 2}}},
		map[string]any{"a": "b", "n": []any{"c"}, "t": true},
		map[string]int{"one": 1},
		[]int{1, -2, 300},
		[]string{"x", "", "z"},
		[3]int{1, 2, 3},
		[]byte{0xde, 0xad, 0xbe, 0xef},
		int64(9007199254740991),
		int64(math.MaxInt64),
		int64(math.MinInt64),
		uint64(math.MaxUint64),
		int8(-5), uint8(200), uint16(300), int32(-3), uint32(math.MaxUint32),
		0, -1, 255, 256, 65536,
		3.14159, -0.125, math.MaxFloat64, math.SmallestNonzeroFloat64,
		float32(2.5),
		true, false,
		"",
		"héllo, 世界 😀 \u2028 \x1e \x00",
		time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC),
		1500 * time.Millisecond,
		nil,
	}
}

func testArgumentBinding(t *testing.T, s *suite) {
	args := bindingValues()
	for _, msg := range []protocol.Message{
		&protocol.Invocation{InvocationID: "9", Target: "Everything", Arguments: args},
		&protocol.Invocation{Target: "Everything", Arguments: args, StreamIDs: []string{"1"}},
		&protocol.StreamInvocation{InvocationID: "9", Target: "Everything", Arguments: args},
	} {
		s.roundTrip(msg, nil)
	}
	for _, v := range args {
		s.roundTrip(&protocol.StreamItem{InvocationID: "1", Item: v}, nil)
		s.roundTrip(&protocol.Completion{InvocationID: "1", HasResult: true, Result: v}, nil)
	}

	// A value decodes into other compatible types too, and a Raw can be
	// decoded more than once.
	got := s.parse(s.append(&protocol.Invocation{Target: "T", Arguments: []any{7, "s", []int{1, 2}}}), 0).(*protocol.Invocation)
	r := raw(t, got.Arguments[0])
	for _, target := range []any{new(int), new(int64), new(uint8), new(float64), new(int32)} {
		if err := s.p.Unmarshal(r, target); err != nil {
			t.Fatalf("Unmarshal 7 into %T: %v", target, err)
		}
		if v := reflect.ValueOf(target).Elem(); fmt.Sprint(v.Interface()) != "7" {
			t.Fatalf("Unmarshal 7 into %T gave %v", target, v.Interface())
		}
	}
	var anyStr any
	if err := s.p.Unmarshal(raw(t, got.Arguments[1]), &anyStr); err != nil || anyStr != "s" {
		t.Fatalf("Unmarshal a string into *any = %#v, %v", anyStr, err)
	}
	var arr [2]int64
	if err := s.p.Unmarshal(raw(t, got.Arguments[2]), &arr); err != nil || arr != [2]int64{1, 2} {
		t.Fatalf("Unmarshal [1,2] into *[2]int64 = %v, %v", arr, err)
	}
}

func testNilAndEmptyArguments(t *testing.T, s *suite) {
	for _, msg := range []protocol.Message{
		&protocol.Invocation{Target: "T"},
		&protocol.Invocation{InvocationID: "1", Target: "T", Arguments: []any{}},
		&protocol.StreamInvocation{InvocationID: "1", Target: "T"},
		&protocol.Invocation{InvocationID: "1", Target: "T", StreamIDs: []string{}},
	} {
		got := s.roundTrip(msg, nil)
		if n := len(Values(got)); n != 0 {
			t.Fatalf("%s read back with %d arguments", describe(msg), n)
		}
	}
	empty := []any{nil, "", []int{}, map[string]int{}, []byte{}, protocol.Raw(nil), protocol.Raw{}}
	got := s.parse(s.append(&protocol.Invocation{Target: "T", Arguments: empty}), 0)
	args := Values(got)
	if len(args) != len(empty) {
		t.Fatalf("%d arguments read back, want %d", len(args), len(empty))
	}
	s.expectValue("nil argument", raw(t, args[0]), nil)
	s.expectValue("empty string", raw(t, args[1]), "")
	s.expectValue("empty slice", raw(t, args[2]), []int{})
	s.expectValue("empty map", raw(t, args[3]), map[string]int{})
	s.expectValue("empty []byte", raw(t, args[4]), []byte{})
	s.expectValue("nil Raw", raw(t, args[5]), nil)
	s.expectValue("empty Raw", raw(t, args[6]), nil)
	for i, r := range args {
		if len(raw(t, r)) == 0 {
			t.Fatalf("argument %d parsed as an empty Raw; every value has bytes", i)
		}
	}

	// nil clears what the target held.
	ptr := &person{Name: "must be cleared"}
	if err := s.p.Unmarshal(raw(t, args[0]), &ptr); err != nil || ptr != nil {
		t.Fatalf("Unmarshal nil into a non-nil *person = %v, %v; want nil", ptr, err)
	}
	m := map[string]int{"a": 1}
	if err := s.p.Unmarshal(raw(t, args[0]), &m); err != nil || m != nil {
		t.Fatalf("Unmarshal nil into a non-nil map = %v, %v; want nil", m, err)
	}
	// nil item and nil result.
	item := s.roundTrip(&protocol.StreamItem{InvocationID: "1", Item: nil}, nil).(*protocol.StreamItem)
	s.expectValue("nil item", raw(t, item.Item), nil)
	res := s.roundTrip(&protocol.Completion{InvocationID: "1", HasResult: true}, nil).(*protocol.Completion)
	if !res.HasResult {
		t.Fatal("a nil result read back as no result")
	}
	s.expectValue("nil result", raw(t, res.Result), nil)
	void := s.roundTrip(&protocol.Completion{InvocationID: "1"}, nil).(*protocol.Completion)
	if void.HasResult || void.Result != nil || void.Error != "" {
		t.Fatalf("a completion without result read back as %+v", void)
	}
}

func testUnmarshalErrors(t *testing.T, s *suite) {
	var v any
	for _, r := range []protocol.Raw{nil, {}} {
		if err := s.p.Unmarshal(r, &v); !errors.Is(err, protocol.ErrInvalidMessage) {
			t.Errorf("Unmarshal(%#v) = %v; want an error wrapping ErrInvalidMessage", r, err)
		}
	}
	got := s.parse(s.append(&protocol.Invocation{Target: "T", Arguments: []any{"text", 5, []int{1}}}), 0)
	args := Values(got)
	str, num, list := raw(t, args[0]), raw(t, args[1]), raw(t, args[2])
	var n int
	if err := s.p.Unmarshal(str, &n); err == nil {
		t.Error("Unmarshal a string into *int succeeded")
	}
	var p person
	if err := s.p.Unmarshal(num, &p); err == nil {
		t.Error("Unmarshal a number into *person succeeded")
	}
	var m map[string]int
	if err := s.p.Unmarshal(list, &m); err == nil {
		t.Error("Unmarshal an array into *map succeeded")
	}
	if err := s.p.Unmarshal(num, n); err == nil {
		t.Error("Unmarshal into a non-pointer succeeded")
	}
	if err := s.p.Unmarshal(num, nil); err == nil {
		t.Error("Unmarshal into nil succeeded")
	}
	var nilPtr *int
	if err := s.p.Unmarshal(num, nilPtr); err == nil {
		t.Error("Unmarshal into a nil *int succeeded")
	}
	// Garbage values: errors, not panics.
	for _, r := range []protocol.Raw{{0xc1}, {0xff}, []byte("{"), []byte("[1,"), {0x92, 0x01}, []byte("\"\xff\""), {0x1e}} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("Unmarshal(%q) panicked: %v", r, p)
				}
			}()
			var a any
			_ = s.p.Unmarshal(r, &a)
			var g garbageTarget
			_ = s.p.Unmarshal(r, &g)
		}()
	}
}

// testStructFieldNames: a struct is written as a map keyed by its json
// struct tags, so one Go type has the same field names under every
// protocol and for every client.
func testStructFieldNames(t *testing.T, s *suite) {
	p := samplePerson()
	p.Ignored = "hidden"
	item := s.parse(s.append(&protocol.StreamItem{InvocationID: "1", Item: p}), 0).(*protocol.StreamItem)
	var fields map[string]any
	if err := s.p.Unmarshal(raw(t, item.Item), &fields); err != nil {
		t.Fatalf("Unmarshal a struct into a map: %v", err)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	want := []string{"name", "age", "admin", "score", "tags", "attrs", "home", "friends", "data", "when", "Untagged"}
	if len(keys) != len(want) {
		t.Fatalf("struct written with fields %q, want %q", keys, want)
	}
	for _, k := range want {
		if _, ok := fields[k]; !ok {
			t.Fatalf("struct written with fields %q, want %q", keys, want)
		}
	}
	if fields["name"] != p.Name {
		t.Fatalf(`field "name" = %#v, want %q`, fields["name"], p.Name)
	}
	noFriends := samplePerson()
	noFriends.Friends = nil
	item = s.parse(s.append(&protocol.StreamItem{InvocationID: "1", Item: noFriends}), 0).(*protocol.StreamItem)
	fields = nil
	if err := s.p.Unmarshal(raw(t, item.Item), &fields); err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["friends"]; ok {
		t.Fatal(`an omitempty field with no value was written`)
	}
}

func testLargePayloads(t *testing.T, s *suite) {
	big := strings.Repeat("héllo \"wörld\" \\ \x1e 😀 ", 1<<20/32)
	many := make([]any, 70000)
	for i := range many {
		many[i] = i % 300
	}
	ints := make([]int, 100000)
	for i := range ints {
		ints[i] = i * 7919
	}
	blob := make([]byte, 1<<20)
	for i := range blob {
		blob[i] = byte(i*7 + i>>8)
	}
	hdrs := make(map[string]string)
	for i := range 1000 {
		hdrs[fmt.Sprintf("key-%d", i)] = strings.Repeat("v", i%50)
	}
	long := strings.Repeat("t", 70000)
	for _, msg := range []protocol.Message{
		&protocol.Invocation{InvocationID: "1", Target: "Big", Arguments: []any{big}},
		&protocol.Invocation{InvocationID: "1", Target: "Many", Arguments: many},
		&protocol.StreamItem{InvocationID: "1", Item: ints},
		&protocol.Completion{InvocationID: "1", HasResult: true, Result: blob},
		&protocol.Completion{InvocationID: "1", Error: big},
		&protocol.CancelInvocation{InvocationID: "1", Headers: hdrs},
		&protocol.Invocation{InvocationID: long, Target: long, Arguments: []any{}, StreamIDs: []string{long, long}},
		&protocol.Close{Error: big, AllowReconnect: true},
	} {
		_, frame := s.roundTripFrame(msg, nil)
		body := s.bodyLen(frame)
		s.parse(frame, body)
		s.expectTooLarge(frame, body-1)
	}
}

type unknownMessage struct{}

func (unknownMessage) Type() protocol.MessageType { return 42 }

// testAppendErrors: a message that cannot be written gives an error and
// leaves dst as it was, so a writer can go on with the next message.
func testAppendErrors(t *testing.T, s *suite) {
	ch := make(chan int)
	for _, msg := range []protocol.Message{
		unknownMessage{},
		&protocol.Invocation{Target: "T", Arguments: []any{ch}},
		&protocol.Invocation{InvocationID: "1", Target: "T", Arguments: []any{1, "two", ch}},
		&protocol.StreamInvocation{InvocationID: "1", Target: "T", Arguments: []any{func() {}}},
		&protocol.StreamItem{InvocationID: "1", Item: ch},
		&protocol.Completion{InvocationID: "1", HasResult: true, Result: map[string]any{"c": ch}},
		&protocol.Completion{InvocationID: "1", HasResult: true, Result: struct{ C chan int }{ch}},
	} {
		dst := make([]byte, 0, 1024)
		dst = append(dst, "earlier message"...)
		got, err := s.p.AppendMessage(dst, msg)
		if err == nil {
			t.Fatalf("AppendMessage(%T) of a value no protocol can write succeeded", msg)
		}
		if string(got) != "earlier message" {
			t.Fatalf("AppendMessage(%T) failed leaving %q in dst, want %q", msg, got, "earlier message")
		}
		got, err = s.p.AppendMessage(nil, msg)
		if err == nil || len(got) != 0 {
			t.Fatalf("AppendMessage(nil, %T) = %q, %v; want nothing and an error", msg, got, err)
		}
	}
	// The writer goes on.
	out, err := s.p.AppendMessage([]byte("x"), &protocol.Ping{})
	if err != nil {
		t.Fatal(err)
	}
	s.parse(out[1:], 0)
}

func testConcurrentUse(t *testing.T, s *suite) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				in := &protocol.Invocation{InvocationID: "1", Target: "T", Arguments: []any{samplePerson(), g*1000 + i}}
				out, err := s.p.AppendMessage(nil, in)
				if err != nil {
					errs <- err
					return
				}
				msg, _, err := s.p.ParseMessage(out, 0)
				if err != nil {
					errs <- err
					return
				}
				args := Values(msg)
				var p person
				var n int
				if err := s.p.Unmarshal(args[0].(protocol.Raw), &p); err != nil {
					errs <- err
					return
				}
				if err := s.p.Unmarshal(args[1].(protocol.Raw), &n); err != nil || n != g*1000+i {
					errs <- fmt.Errorf("goroutine %d: argument %d read back as %d, %v", g, g*1000+i, n, err)
					return
				}
				if !reflect.DeepEqual(p.inUTC(), samplePerson()) {
					errs <- fmt.Errorf("goroutine %d: struct read back as %+v", g, p)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
