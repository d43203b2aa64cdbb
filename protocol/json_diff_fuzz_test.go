package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gosignalr/signalr/protocol"
)

// This file keeps the encoding/json-based envelope parser that JSON used
// before its hand-written scanner, as a reference for a differential fuzz
// target. The seed corpus is in testdata/fuzz/FuzzJSONParseDifferential.

// refJSONMessage is the union of every message's fields. Pointers and
// RawMessage tell an absent field from a null or zero one.
type refJSONMessage struct {
	Type           *int              `json:"type"`
	InvocationID   *string           `json:"invocationId"`
	Target         *string           `json:"target"`
	Arguments      []json.RawMessage `json:"arguments"`
	StreamIDs      []string          `json:"streamIds"`
	Item           json.RawMessage   `json:"item"`
	Result         json.RawMessage   `json:"result"`
	Error          *string           `json:"error"`
	AllowReconnect bool              `json:"allowReconnect"`
	SequenceID     *uint64           `json:"sequenceId"`
	Headers        map[string]string `json:"headers"`
}

func refInvalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", protocol.ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// refParseJSONMessage is the former JSON.ParseMessage.
func refParseJSONMessage(data []byte, maxSize int) (protocol.Message, int, error) {
	end := bytes.IndexByte(data, protocol.RecordSeparator)
	if end < 0 {
		if maxSize > 0 && len(data) > maxSize {
			return nil, 0, fmt.Errorf("%w (%d bytes)", protocol.ErrMessageTooLarge, maxSize)
		}
		return nil, 0, nil
	}
	if maxSize > 0 && end > maxSize {
		return nil, 0, fmt.Errorf("%w (%d bytes)", protocol.ErrMessageTooLarge, maxSize)
	}
	msg, err := refParseJSONBody(data[:end])
	if err != nil {
		return nil, 0, err
	}
	return msg, end + 1, nil
}

func refParseJSONBody(body []byte) (protocol.Message, error) {
	var m refJSONMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, refInvalidf("%v", err)
	}
	// encoding/json replaces invalid UTF-8 with U+FFFD; the protocol
	// refuses it in the strings it reads as text.
	if !refTextIsUTF8(body) {
		return nil, refInvalidf("invalid UTF-8")
	}
	if m.Type == nil {
		return nil, refInvalidf("missing required property 'type'")
	}
	switch protocol.MessageType(*m.Type) {
	case protocol.TypeInvocation, protocol.TypeStreamInvocation:
		if m.Target == nil || *m.Target == "" {
			return nil, refInvalidf("missing required property 'target'")
		}
		if m.Arguments == nil {
			return nil, refInvalidf("missing required property 'arguments'")
		}
		args := make([]any, len(m.Arguments))
		for i, a := range m.Arguments {
			args[i] = protocol.Raw(a)
		}
		id := ""
		if m.InvocationID != nil {
			id = *m.InvocationID
		}
		if protocol.MessageType(*m.Type) == protocol.TypeInvocation {
			return &protocol.Invocation{InvocationID: id, Target: *m.Target, Arguments: args, StreamIDs: m.StreamIDs, Headers: m.Headers}, nil
		}
		if id == "" {
			return nil, refInvalidf("missing required property 'invocationId'")
		}
		return &protocol.StreamInvocation{InvocationID: id, Target: *m.Target, Arguments: args, StreamIDs: m.StreamIDs, Headers: m.Headers}, nil
	case protocol.TypeStreamItem:
		if m.InvocationID == nil || *m.InvocationID == "" {
			return nil, refInvalidf("missing required property 'invocationId'")
		}
		if m.Item == nil {
			return nil, refInvalidf("missing required property 'item'")
		}
		return &protocol.StreamItem{InvocationID: *m.InvocationID, Item: protocol.Raw(m.Item), Headers: m.Headers}, nil
	case protocol.TypeCompletion:
		if m.InvocationID == nil || *m.InvocationID == "" {
			return nil, refInvalidf("missing required property 'invocationId'")
		}
		c := &protocol.Completion{InvocationID: *m.InvocationID, Headers: m.Headers}
		if m.Error != nil {
			if m.Result != nil {
				return nil, refInvalidf("the 'error' and 'result' properties are mutually exclusive")
			}
			c.Error = *m.Error
		} else if m.Result != nil {
			c.HasResult = true
			c.Result = protocol.Raw(m.Result)
		}
		return c, nil
	case protocol.TypeCancelInvocation:
		if m.InvocationID == nil || *m.InvocationID == "" {
			return nil, refInvalidf("missing required property 'invocationId'")
		}
		return &protocol.CancelInvocation{InvocationID: *m.InvocationID, Headers: m.Headers}, nil
	case protocol.TypePing:
		return &protocol.Ping{}, nil
	case protocol.TypeClose:
		c := &protocol.Close{AllowReconnect: m.AllowReconnect}
		if m.Error != nil {
			c.Error = *m.Error
		}
		return c, nil
	case protocol.TypeAck, protocol.TypeSequence:
		if m.SequenceID == nil {
			return nil, refInvalidf("missing required property 'sequenceId'")
		}
		if protocol.MessageType(*m.Type) == protocol.TypeAck {
			return &protocol.Ack{SequenceID: *m.SequenceID}, nil
		}
		return &protocol.Sequence{SequenceID: *m.SequenceID}, nil
	}
	return nil, nil // unknown types are ignored
}

// jsonKnownFields are the top-level field names of a hub message.
var jsonKnownFields = []string{
	"type", "invocationId", "target", "arguments", "streamIds", "item",
	"result", "error", "allowReconnect", "sequenceId", "headers",
}

// refTextIsUTF8 reports whether the strings that the protocol reads as
// text are valid UTF-8 in body, a JSON object that encoding/json accepts:
// every top-level property name, the values of "target", "invocationId"
// and "error", and the whole of "streamIds" and "headers" (strings only,
// or a type error). Names match exactly, after unescaping.
func refTextIsUTF8(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // '{'
		return true
	}
	for dec.More() {
		start := dec.InputOffset()
		key, err := dec.Token()
		if err != nil {
			return true
		}
		if !utf8.Valid(body[start:dec.InputOffset()]) {
			return false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return true
		}
		switch key {
		case "target", "invocationId", "error", "streamIds", "headers":
			if !utf8.Valid(v) {
				return false
			}
		}
	}
	return true
}

// hasCaseVariantKey tells whether body is a JSON object with a key that
// matches a known field name only case-insensitively (as encoding/json folds
// names: bytes.EqualFold). The reference parser reads such a key as the
// field; the scanner, by design, ignores it.
func hasCaseVariantKey(body []byte) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return false
	}
	for key := range obj {
		for _, name := range jsonKnownFields {
			if key != name && strings.EqualFold(key, name) {
				return true
			}
		}
	}
	return false
}

// checkJSONDifferential parses the first message of data with both parsers
// and checks that they agree.
func checkJSONDifferential(t *testing.T, data []byte, maxSize int) {
	want, wantN, wantErr := refParseJSONMessage(data, maxSize)
	got, gotN, gotErr := protocol.JSON{}.ParseMessage(data, maxSize)

	if gotErr != nil && (got != nil || gotN != 0) {
		t.Fatalf("ParseMessage(%q) = %#v, %d, %v: a message or a length with an error", data, got, gotN, gotErr)
	}
	if errors.Is(wantErr, protocol.ErrMessageTooLarge) || errors.Is(gotErr, protocol.ErrMessageTooLarge) {
		if !errors.Is(wantErr, protocol.ErrMessageTooLarge) || !errors.Is(gotErr, protocol.ErrMessageTooLarge) {
			t.Fatalf("ParseMessage(%q, %d): err %v, reference %v", data, maxSize, gotErr, wantErr)
		}
		return
	}
	if gotErr != nil && !errors.Is(gotErr, protocol.ErrInvalidMessage) {
		t.Fatalf("ParseMessage(%q): error %v does not wrap ErrInvalidMessage", data, gotErr)
	}
	if wantErr == nil && wantN == 0 {
		if gotErr != nil || gotN != 0 || got != nil {
			t.Fatalf("ParseMessage(%q) = %#v, %d, %v; reference: incomplete", data, got, gotN, gotErr)
		}
		return
	}

	body := data[:bytes.IndexByte(data, protocol.RecordSeparator)]
	if (wantErr == nil) != (gotErr == nil) && hasCaseVariantKey(body) {
		return // the documented difference: field names are case-sensitive
	}
	if wantErr != nil {
		if gotErr == nil {
			t.Fatalf("ParseMessage(%q) = %#v, %d, nil; reference fails: %v", body, got, gotN, wantErr)
		}
		return
	}
	if gotErr != nil {
		t.Fatalf("ParseMessage(%q) fails: %v; reference gives %#v", body, gotErr, want)
	}
	if gotN != wantN {
		t.Fatalf("ParseMessage(%q) used %d bytes, reference %d", body, gotN, wantN)
	}
	if hasCaseVariantKey(body) {
		return // both succeed, but may read different fields
	}
	// Raw values are the same bytes: both parsers keep the exact text of
	// the value. Compare exactly, nil and empty slices and maps included.
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseMessage(%q):\n got %#v\nwant %#v", body, got, want)
	}
}

func FuzzJSONParseDifferential(f *testing.F) {
	for _, s := range []string{
		// Duplicate keys: the last wins; a null resets a pointer field but
		// not a bool; a second object adds to the headers of the first; a
		// second array reuses the backing array of the first streamIds.
		`{"type":1,"type":6}`,
		`{"type":6,"type":null}`,
		`{"type":3,"invocationId":"1","result":1,"result":null}`,
		`{"type":3,"invocationId":"1","error":"e","error":null,"result":2}`,
		`{"type":7,"allowReconnect":true,"allowReconnect":null}`,
		`{"type":1,"target":"T","arguments":[1,2],"arguments":[3]}`,
		`{"type":1,"target":"T","arguments":[1],"arguments":null}`,
		`{"type":1,"target":"T","arguments":[],"streamIds":["a","b","c"],"streamIds":["x"],"streamIds":[null,null,null]}`,
		`{"type":1,"target":"T","arguments":[],"streamIds":["a","b"],"streamIds":[],"streamIds":[null]}`,
		`{"type":1,"target":"T","arguments":[],"streamIds":["a",null]}`,
		`{"type":5,"invocationId":"1","headers":{"a":"x"},"headers":{"b":"y","a":null}}`,
		`{"type":5,"invocationId":"1","headers":{"a":"x"},"headers":null,"headers":{"b":"y"}}`,
		// Escapes, surrogates and invalid UTF-8.
		`{"\u0074ype":6}`,
		`{"type":1,"target":"\ud83d\ude00\ud83d\u0041\udc00\ud800\ud800\udc00","arguments":[]}`,
		"{\"type\":1,\"target\":\"\xff\xed\xa0\x80\xc0\xaf\",\"arguments\":[\"\xff\"]}",
		`{"type":1,"target":"a\/b\b\f\n\r\t\"\\","arguments":[]}`,
		// Numbers.
		`{"type":-0}`,
		`{"type":6,"sequenceId":-0}`,
		`{"type":1e0}`,
		`{"type":9223372036854775808}`,
		`{"type":-9223372036854775808}`,
		`{"type":8,"sequenceId":18446744073709551615}`,
		`{"type":8,"sequenceId":18446744073709551616}`,
		// Type errors in fields the message type does not use.
		`{"type":6,"target":5}`,
		`{"type":6,"streamIds":[1]}`,
		`{"type":6,"headers":{"a":{}}}`,
		// Case variants of known names.
		`{"Type":6}`,
		`{"type":6,"TYPE":7}`,
		`{"type":1,"Target":"T","arguments":[]}`,
		"{\"type\":8,\"\u017fequenceId\":1}",
		// Nesting (the limit itself is checked in TestJSONParseDeepNesting:
		// large seeds slow the fuzzer down).
		`{"type":2,"invocationId":"1","item":[[{"a":[{}]},[]]],"x":{"y":[[[]]]}}`,
	} {
		f.Add([]byte(s + "\x1e"))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		// Every message in data, as a connection's reader sees them.
		rest := data
		for len(rest) > 0 {
			checkJSONDifferential(t, rest, 0)
			checkJSONDifferential(t, rest, jsonFuzzMaxSize)
			sep := bytes.IndexByte(rest, protocol.RecordSeparator)
			if sep < 0 {
				break
			}
			rest = rest[sep+1:]
		}
	})
}

// Field names are case-sensitive: a key that differs from a known name only
// by case is an unknown field and ignored. (encoding/json, which the parser
// used before, matched them case-insensitively.)
func TestJSONParseCaseSensitiveNames(t *testing.T) {
	for _, tc := range []struct {
		body string
		want protocol.Message
	}{
		{`{"type":6,"Type":1}`, &protocol.Ping{}},
		{`{"TYPE":6,"type":7}`, &protocol.Close{}},
		{`{"type":7,"Error":"x","AllowReconnect":true}`, &protocol.Close{}},
		{`{"type":2,"InvocationId":5,"invocationId":"1","Item":1,"item":2}`, &protocol.StreamItem{InvocationID: "1", Item: protocol.Raw("2")}},
		{`{"type":1,"Target":"X","target":"T","Arguments":{},"arguments":[],"StreamIds":"s","Headers":1}`, &protocol.Invocation{Target: "T", Arguments: []any{}}},
		{`{"type":3,"invocationId":"1","Result":1}`, &protocol.Completion{InvocationID: "1"}},
		{`{"type":8,"SequenceId":1,"sequenceId":2}`, &protocol.Ack{SequenceID: 2}},
	} {
		msg, n, err := protocol.JSON{}.ParseMessage(jsonFrame(tc.body), 0)
		if err != nil || n != len(tc.body)+1 || !reflect.DeepEqual(msg, tc.want) {
			t.Errorf("ParseMessage(%s) = %#v, %d, %v; want %#v", tc.body, msg, n, err, tc.want)
		}
	}
	for _, body := range []string{`{"Type":6}`, `{"type":3,"InvocationId":"1"}`, `{"type":1,"Target":"T","arguments":[]}`, `{"type":8,"SequenceId":1}`} {
		if _, _, err := (protocol.JSON{}).ParseMessage(jsonFrame(body), 0); !errors.Is(err, protocol.ErrInvalidMessage) {
			t.Errorf("ParseMessage(%s): err %v, want a missing property", body, err)
		}
	}
}

// Nesting is limited as in encoding/json (10000 levels, the message object
// included), without recursion.
func TestJSONParseDeepNesting(t *testing.T) {
	nested := func(levels int) string {
		return `{"type":2,"invocationId":"1","item":` + strings.Repeat("[", levels) + strings.Repeat("]", levels) + `}`
	}
	if _, _, err := (protocol.JSON{}).ParseMessage(jsonFrame(nested(9999)), 0); err != nil {
		t.Errorf("10000 levels: %v", err)
	}
	// Both sides of the limit, in each kind of value, agree with
	// encoding/json.
	for _, levels := range []int{9998, 9999, 10000} {
		open, end := strings.Repeat("[", levels), strings.Repeat("]", levels)
		for _, body := range []string{
			`{"type":2,"invocationId":"1","item":` + open + end + `}`,
			`{"type":3,"invocationId":"1","result":` + open + end + `}`,
			`{"type":6,"unknown":` + open + end + `}`,
			`{"type":1,"target":"T","arguments":[` + strings.Repeat(`{"a":`, levels-1) + `1` + strings.Repeat("}", levels-1) + `]}`,
			`{"type":1,"target":"T","arguments":[],"streamIds":[` + open + end + `]}`,
		} {
			checkJSONDifferential(t, jsonFrame(body), 0)
		}
	}
	for _, body := range []string{
		nested(10000),
		`{"type":6,"x":` + strings.Repeat(`{"a":[`, 1_000_000),
		`{"type":1,"target":"T","arguments":[` + strings.Repeat("[", 10_000_000),
	} {
		if _, _, err := (protocol.JSON{}).ParseMessage(jsonFrame(body), 0); !errors.Is(err, protocol.ErrInvalidMessage) {
			t.Errorf("%.40s...: err %v, want ErrInvalidMessage", body, err)
		}
	}
}
