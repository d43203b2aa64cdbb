package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON is the "json" hub protocol: UTF-8 JSON objects, each followed by the
// record separator 0x1E. Arguments are encoded with encoding/json, so struct
// tags and json.Marshaler apply.
type JSON struct{}

var _ HubProtocol = JSON{}

// Name implements HubProtocol.
func (JSON) Name() string { return "json" }

// Version implements HubProtocol.
func (JSON) Version() int { return 2 }

// TransferFormat implements HubProtocol.
func (JSON) TransferFormat() TransferFormat { return Text }

// Unmarshal implements HubProtocol.
//
// A value with invalid UTF-8 is refused (ASP.NET Core's System.Text.Json
// refuses it; encoding/json would replace it with U+FFFD), so a hub method
// never sees text the client did not send.
func (JSON) Unmarshal(raw Raw, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: empty value", ErrInvalidMessage)
	}
	if !utf8.Valid(raw) {
		return fmt.Errorf("%w: invalid UTF-8 in a value", ErrInvalidMessage)
	}
	return json.Unmarshal(raw, v)
}

// ParseMessage implements HubProtocol.
func (JSON) ParseMessage(data []byte, maxSize int) (Message, int, error) {
	end := bytes.IndexByte(data, RecordSeparator)
	if end < 0 {
		if maxSize > 0 && len(data) > maxSize {
			return nil, 0, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, maxSize)
		}
		return nil, 0, nil
	}
	if maxSize > 0 && end > maxSize {
		return nil, 0, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, maxSize)
	}
	msg, err := parseJSONMessage(data[:end])
	if err != nil {
		return nil, 0, err
	}
	return msg, end + 1, nil
}

// The hub message envelope is read by a hand-written scanner rather than by
// encoding/json: one pass over the object, no reflection, and argument, item
// and result values are sub-slices of the input. It accepts what
// encoding/json accepts (the same grammar, the same nesting limit) and gives
// the fields the same meaning as decoding into a struct of pointers did,
// with two differences: field names are matched case-sensitively, and the
// strings it reads as text (property names, target, invocationId, error,
// streamIds, headers) must be valid UTF-8, as ASP.NET Core's reader
// requires: the message is refused rather than the bytes replaced by
// U+FFFD. Argument, item and result values are checked when they are
// decoded (Unmarshal), so a bad argument fails only its call.

// maxJSONDepth is the deepest nesting of arrays and objects accepted,
// counting the message object itself. It is encoding/json's limit, so every
// Raw value parsed here can also be decoded by Unmarshal.
const maxJSONDepth = 10000

// jsonField identifies a known top-level field of a hub message.
type jsonField int

const (
	jsonFieldUnknown jsonField = iota
	jsonFieldType
	jsonFieldInvocationID
	jsonFieldTarget
	jsonFieldArguments
	jsonFieldStreamIDs
	jsonFieldItem
	jsonFieldResult
	jsonFieldError
	jsonFieldAllowReconnect
	jsonFieldSequenceID
	jsonFieldHeaders
)

func lookupJSONField(name []byte) jsonField {
	switch string(name) { // no allocation: the compiler compares in place
	case "type":
		return jsonFieldType
	case "invocationId":
		return jsonFieldInvocationID
	case "target":
		return jsonFieldTarget
	case "arguments":
		return jsonFieldArguments
	case "streamIds":
		return jsonFieldStreamIDs
	case "item":
		return jsonFieldItem
	case "result":
		return jsonFieldResult
	case "error":
		return jsonFieldError
	case "allowReconnect":
		return jsonFieldAllowReconnect
	case "sequenceId":
		return jsonFieldSequenceID
	case "headers":
		return jsonFieldHeaders
	}
	return jsonFieldUnknown
}

// jsonSpan is the position of a value in the message body: data[start:end].
// For a string it is the content between the quotes.
type jsonSpan struct {
	start, end int
	esc        bool // a string with backslash escapes
	set        bool // the field was present and not null
}

func (s jsonSpan) raw(data []byte) Raw {
	return Raw(data[s.start:s.end:s.end])
}

func (s jsonSpan) str(data []byte) string {
	return decodeJSONString(data[s.start:s.end], s.esc)
}

func parseJSONMessage(body []byte) (Message, error) {
	var (
		typ            int
		hasType        bool
		invocationID   jsonSpan
		target         jsonSpan
		errorMsg       jsonSpan
		item, result   jsonSpan
		hasArgs        bool
		argsBuf        [8]jsonSpan
		args           = argsBuf[:0]
		streamIDs      []string
		headers        map[string]string
		allowReconnect bool
		sequenceID     uint64
		hasSequenceID  bool
		err            error
	)

	i := skipJSONSpace(body, 0)
	if i >= len(body) {
		return nil, invalidf("empty message")
	}
	if body[i] != '{' {
		return nil, invalidf("message is not a JSON object (%s at offset %d)", quoteJSONChar(body[i]), i)
	}
	i = skipJSONSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			// Key.
			if i >= len(body) || body[i] != '"' {
				return nil, jsonSyntaxError(body, i, "looking for beginning of object key string")
			}
			keyStart := i + 1
			var esc bool
			if i, esc, err = scanJSONString(body, i); err != nil {
				return nil, err
			}
			if err = checkJSONText(body[keyStart:i-1], "a property name", false); err != nil {
				return nil, err
			}
			var field jsonField
			if !esc {
				field = lookupJSONField(body[keyStart : i-1])
			} else {
				var buf [32]byte
				field = lookupJSONField(appendJSONUnescaped(buf[:0], body[keyStart:i-1]))
			}
			i = skipJSONSpace(body, i)
			if i >= len(body) || body[i] != ':' {
				return nil, jsonSyntaxError(body, i, "after object key")
			}
			i = skipJSONSpace(body, i+1)
			if i >= len(body) {
				return nil, jsonSyntaxError(body, i, "")
			}

			// Value. A null leaves a field as if absent, as decoding null
			// into a pointer did, except where noted.
			switch field {
			case jsonFieldType:
				var n int64
				var ok bool
				if n, ok, i, err = scanJSONInt(body, i, "type"); err != nil {
					return nil, err
				}
				if ok && int64(int(n)) != n {
					return nil, invalidf("'type' out of range")
				}
				typ, hasType = int(n), ok
			case jsonFieldSequenceID:
				if sequenceID, hasSequenceID, i, err = scanJSONUint(body, i, "sequenceId"); err != nil {
					return nil, err
				}
			case jsonFieldInvocationID:
				if invocationID, i, err = scanJSONStringField(body, i, "invocationId"); err != nil {
					return nil, err
				}
			case jsonFieldTarget:
				if target, i, err = scanJSONStringField(body, i, "target"); err != nil {
					return nil, err
				}
			case jsonFieldError:
				if errorMsg, i, err = scanJSONStringField(body, i, "error"); err != nil {
					return nil, err
				}
			case jsonFieldItem, jsonFieldResult:
				// Any value, null included, is kept raw.
				start := i
				if i, err = skipJSONValue(body, i, 1); err != nil {
					return nil, err
				}
				span := jsonSpan{start: start, end: i, set: true}
				if field == jsonFieldItem {
					item = span
				} else {
					result = span
				}
			case jsonFieldArguments:
				switch body[i] {
				case 'n':
					if i, err = scanJSONLiteral(body, i, "null"); err != nil {
						return nil, err
					}
					hasArgs, args = false, args[:0]
				case '[':
					hasArgs, args = true, args[:0]
					i = skipJSONSpace(body, i+1)
					if i < len(body) && body[i] == ']' {
						i++
						break
					}
					for {
						start := i
						if i, err = skipJSONValue(body, i, 2); err != nil {
							return nil, err
						}
						args = append(args, jsonSpan{start: start, end: i})
						if i, err = nextJSONElement(body, i, ']'); err != nil {
							return nil, err
						}
						if body[i-1] == ']' {
							break
						}
					}
				default:
					return nil, jsonTypeError(body, i, "arguments", "an array")
				}
			case jsonFieldStreamIDs:
				if streamIDs, i, err = parseJSONStreamIDs(body, i, streamIDs); err != nil {
					return nil, err
				}
			case jsonFieldHeaders:
				if headers, i, err = parseJSONHeaders(body, i, headers); err != nil {
					return nil, err
				}
			case jsonFieldAllowReconnect:
				switch body[i] {
				case 't':
					i, err = scanJSONLiteral(body, i, "true")
					allowReconnect = true
				case 'f':
					i, err = scanJSONLiteral(body, i, "false")
					allowReconnect = false
				case 'n':
					// encoding/json leaves a bool unchanged on null.
					i, err = scanJSONLiteral(body, i, "null")
				default:
					return nil, jsonTypeError(body, i, "allowReconnect", "a boolean")
				}
				if err != nil {
					return nil, err
				}
			default:
				if i, err = skipJSONValue(body, i, 1); err != nil {
					return nil, err
				}
			}

			if i, err = nextJSONElement(body, i, '}'); err != nil {
				return nil, err
			}
			if body[i-1] == '}' {
				break
			}
		}
	}
	if i = skipJSONSpace(body, i); i < len(body) {
		return nil, jsonSyntaxError(body, i, "after top-level value")
	}

	if !hasType {
		return nil, invalidf("missing required property 'type'")
	}
	switch MessageType(typ) {
	case TypeInvocation, TypeStreamInvocation:
		if !target.set || target.start == target.end {
			return nil, invalidf("missing required property 'target'")
		}
		if !hasArgs {
			return nil, invalidf("missing required property 'arguments'")
		}
		id := ""
		if invocationID.set {
			id = invocationID.str(body)
		}
		if MessageType(typ) == TypeStreamInvocation && id == "" {
			return nil, invalidf("missing required property 'invocationId'")
		}
		arguments := make([]any, len(args))
		for k, a := range args {
			arguments[k] = a.raw(body)
		}
		if MessageType(typ) == TypeInvocation {
			return &Invocation{InvocationID: id, Target: target.str(body), Arguments: arguments, StreamIDs: streamIDs, Headers: headers}, nil
		}
		return &StreamInvocation{InvocationID: id, Target: target.str(body), Arguments: arguments, StreamIDs: streamIDs, Headers: headers}, nil
	case TypeStreamItem:
		if !invocationID.set || invocationID.start == invocationID.end {
			return nil, invalidf("missing required property 'invocationId'")
		}
		if !item.set {
			return nil, invalidf("missing required property 'item'")
		}
		return &StreamItem{InvocationID: invocationID.str(body), Item: item.raw(body), Headers: headers}, nil
	case TypeCompletion:
		if !invocationID.set || invocationID.start == invocationID.end {
			return nil, invalidf("missing required property 'invocationId'")
		}
		c := &Completion{InvocationID: invocationID.str(body), Headers: headers}
		if errorMsg.set {
			if result.set {
				return nil, invalidf("the 'error' and 'result' properties are mutually exclusive")
			}
			c.Error = errorMsg.str(body)
		} else if result.set {
			c.HasResult = true
			c.Result = result.raw(body)
		}
		return c, nil
	case TypeCancelInvocation:
		if !invocationID.set || invocationID.start == invocationID.end {
			return nil, invalidf("missing required property 'invocationId'")
		}
		return &CancelInvocation{InvocationID: invocationID.str(body), Headers: headers}, nil
	case TypePing:
		return &Ping{}, nil
	case TypeClose:
		c := &Close{AllowReconnect: allowReconnect}
		if errorMsg.set {
			c.Error = errorMsg.str(body)
		}
		return c, nil
	case TypeAck, TypeSequence:
		if !hasSequenceID {
			return nil, invalidf("missing required property 'sequenceId'")
		}
		if MessageType(typ) == TypeAck {
			return &Ack{SequenceID: sequenceID}, nil
		}
		return &Sequence{SequenceID: sequenceID}, nil
	}
	return nil, nil // unknown types are ignored
}

// parseJSONStreamIDs reads the value of "streamIds" at data[i]: null, or an
// array of strings. It follows encoding/json's rules for decoding into a
// slice that may already hold a previous "streamIds": the backing array is
// reused, and a null element leaves the string already in its slot.
func parseJSONStreamIDs(data []byte, i int, ids []string) ([]string, int, error) {
	switch data[i] {
	case 'n':
		i, err := scanJSONLiteral(data, i, "null")
		return nil, i, err
	case '[':
	default:
		return nil, i, jsonTypeError(data, i, "streamIds", "an array of strings")
	}
	i = skipJSONSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return []string{}, i + 1, nil
	}
	ids = ids[:0]
	for {
		if len(ids) < cap(ids) {
			ids = ids[:len(ids)+1]
		} else {
			ids = append(ids, "")
		}
		var err error
		switch {
		case i < len(data) && data[i] == '"':
			start := i + 1
			var esc bool
			if i, esc, err = scanJSONString(data, i); err != nil {
				return nil, i, err
			}
			if err = checkJSONText(data[start:i-1], "streamIds", true); err != nil {
				return nil, i, err
			}
			ids[len(ids)-1] = decodeJSONString(data[start:i-1], esc)
		case i < len(data) && data[i] == 'n':
			if i, err = scanJSONLiteral(data, i, "null"); err != nil {
				return nil, i, err
			}
		default:
			if _, err := skipJSONValue(data, i, 2); err != nil {
				return nil, i, err
			}
			return nil, i, jsonTypeError(data, i, "streamIds", "an array of strings")
		}
		if i, err = nextJSONElement(data, i, ']'); err != nil {
			return nil, i, err
		}
		if data[i-1] == ']' {
			return ids, i, nil
		}
	}
}

// parseJSONHeaders reads the value of "headers" at data[i]: null, or an
// object of strings (a null value is an empty string). As encoding/json
// does, a second "headers" object adds to the map of the first.
func parseJSONHeaders(data []byte, i int, h map[string]string) (map[string]string, int, error) {
	switch data[i] {
	case 'n':
		i, err := scanJSONLiteral(data, i, "null")
		return nil, i, err
	case '{':
	default:
		return nil, i, jsonTypeError(data, i, "headers", "an object of strings")
	}
	if h == nil {
		h = make(map[string]string)
	}
	i = skipJSONSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return h, i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, i, jsonSyntaxError(data, i, "looking for beginning of object key string")
		}
		keyStart := i + 1
		var esc bool
		var err error
		if i, esc, err = scanJSONString(data, i); err != nil {
			return nil, i, err
		}
		if err = checkJSONText(data[keyStart:i-1], "a header name", false); err != nil {
			return nil, i, err
		}
		key := decodeJSONString(data[keyStart:i-1], esc)
		i = skipJSONSpace(data, i)
		if i >= len(data) || data[i] != ':' {
			return nil, i, jsonSyntaxError(data, i, "after object key")
		}
		i = skipJSONSpace(data, i+1)
		switch {
		case i < len(data) && data[i] == '"':
			start := i + 1
			if i, esc, err = scanJSONString(data, i); err != nil {
				return nil, i, err
			}
			if err = checkJSONText(data[start:i-1], "a header value", false); err != nil {
				return nil, i, err
			}
			h[key] = decodeJSONString(data[start:i-1], esc)
		case i < len(data) && data[i] == 'n':
			if i, err = scanJSONLiteral(data, i, "null"); err != nil {
				return nil, i, err
			}
			h[key] = ""
		default:
			if _, err := skipJSONValue(data, i, 2); err != nil {
				return nil, i, err
			}
			return nil, i, jsonTypeError(data, i, "headers", "an object of strings")
		}
		if i, err = nextJSONElement(data, i, '}'); err != nil {
			return nil, i, err
		}
		if data[i-1] == '}' {
			return h, i, nil
		}
	}
}

// scanJSONStringField reads a string-or-null field value at data[i].
func scanJSONStringField(data []byte, i int, name string) (jsonSpan, int, error) {
	switch data[i] {
	case '"':
		start := i + 1
		end, esc, err := scanJSONString(data, i)
		if err != nil {
			return jsonSpan{}, end, err
		}
		if err := checkJSONText(data[start:end-1], name, true); err != nil {
			return jsonSpan{}, end, err
		}
		return jsonSpan{start: start, end: end - 1, esc: esc, set: true}, end, nil
	case 'n':
		end, err := scanJSONLiteral(data, i, "null")
		return jsonSpan{}, end, err
	}
	return jsonSpan{}, i, jsonTypeError(data, i, name, "a string")
}

// scanJSONInt reads an integer-or-null field value at data[i]. ok is false
// for null.
func scanJSONInt(data []byte, i int, name string) (n int64, ok bool, end int, err error) {
	if data[i] == 'n' {
		end, err = scanJSONLiteral(data, i, "null")
		return 0, false, end, err
	}
	neg := data[i] == '-'
	start := i
	if neg {
		start++
	}
	u, end, err := scanJSONDigits(data, i, start, name)
	if err != nil {
		return 0, false, end, err
	}
	if neg {
		if u > 1<<63 {
			return 0, false, end, invalidf("'%s' out of range", name)
		}
		return -int64(u), true, end, nil
	}
	if u > 1<<63-1 {
		return 0, false, end, invalidf("'%s' out of range", name)
	}
	return int64(u), true, end, nil
}

// scanJSONUint reads an unsigned-integer-or-null field value at data[i].
func scanJSONUint(data []byte, i int, name string) (n uint64, ok bool, end int, err error) {
	if data[i] == 'n' {
		end, err = scanJSONLiteral(data, i, "null")
		return 0, false, end, err
	}
	if data[i] == '-' {
		if _, _, err := scanJSONNumber(data, i); err != nil {
			return 0, false, i, err
		}
		return 0, false, i, invalidf("'%s' must be an unsigned integer", name)
	}
	n, end, err = scanJSONDigits(data, i, i, name)
	return n, err == nil, end, err
}

// scanJSONDigits checks that the value at data[i] is a JSON integer whose
// digits start at data[start], and returns their value.
func scanJSONDigits(data []byte, i, start int, name string) (uint64, int, error) {
	end, isInt, err := scanJSONNumber(data, i)
	if err != nil {
		if i < len(data) && (data[i] == '-' || isJSONDigit(data[i])) {
			return 0, end, err
		}
		if _, verr := skipJSONValue(data, i, 1); verr != nil {
			return 0, end, verr
		}
		return 0, end, jsonTypeError(data, i, name, "an integer")
	}
	if !isInt {
		return 0, end, invalidf("'%s' must be an integer, not %s", name, data[i:end])
	}
	var u uint64
	for _, c := range data[start:end] {
		d := uint64(c - '0')
		if u > (1<<64-1-d)/10 {
			return 0, end, invalidf("'%s' out of range", name)
		}
		u = u*10 + d
	}
	return u, end, nil
}

// nextJSONElement skips the whitespace and the comma or the closing byte
// after an element of an array or object. The caller tells the two apart by
// data[end-1]; after a comma the whitespace before the next element is
// skipped too.
func nextJSONElement(data []byte, i int, closing byte) (int, error) {
	i = skipJSONSpace(data, i)
	if i < len(data) {
		switch data[i] {
		case ',':
			i = skipJSONSpace(data, i+1)
			if i >= len(data) {
				return i, jsonSyntaxError(data, i, "")
			}
			return i, nil
		case closing:
			return i + 1, nil
		}
	}
	if closing == '}' {
		return i, jsonSyntaxError(data, i, "after object key:value pair")
	}
	return i, jsonSyntaxError(data, i, "after array element")
}

func isJSONDigit(c byte) bool { return '0' <= c && c <= '9' }

func skipJSONSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	return i
}

// jsonStringPlain marks the bytes that stand for themselves inside a JSON
// string: not a quote, a backslash or a control character.
var jsonStringPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanJSONString checks the string starting at data[i] == '"' and returns
// the index just past its closing quote, and whether it holds escapes.
func scanJSONString(data []byte, i int) (int, bool, error) {
	esc := false
	i++
	for {
		for i < len(data) && jsonStringPlain[data[i]] {
			i++
		}
		if i >= len(data) {
			return i, esc, jsonSyntaxError(data, i, "")
		}
		switch data[i] {
		case '"':
			return i + 1, esc, nil
		case '\\':
			esc = true
			i++
			if i >= len(data) {
				return i, esc, jsonSyntaxError(data, i, "")
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for k := 0; k < 4; k++ {
					if i >= len(data) || !isJSONHex(data[i]) {
						return i, esc, jsonSyntaxError(data, i, "in \\u hexadecimal character escape")
					}
					i++
				}
			default:
				return i, esc, jsonSyntaxError(data, i, "in string escape code")
			}
		default:
			return i, esc, jsonSyntaxError(data, i, "in string literal")
		}
	}
}

func isJSONHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanJSONNumber checks the number at data[i] and returns the index just
// past it, and whether it is an integer (no fraction, no exponent).
func scanJSONNumber(data []byte, i int) (end int, isInt bool, err error) {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i++; i < len(data) && isJSONDigit(data[i]); i++ {
		}
	default:
		return i, false, jsonSyntaxError(data, i, "looking for beginning of value")
	}
	isInt = true
	if i < len(data) && data[i] == '.' {
		isInt = false
		i++
		if i >= len(data) || !isJSONDigit(data[i]) {
			return i, false, jsonSyntaxError(data, i, "after decimal point in numeric literal")
		}
		for i++; i < len(data) && isJSONDigit(data[i]); i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		isInt = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isJSONDigit(data[i]) {
			return i, false, jsonSyntaxError(data, i, "in exponent of numeric literal")
		}
		for i++; i < len(data) && isJSONDigit(data[i]); i++ {
		}
	}
	return i, isInt, nil
}

// scanJSONLiteral checks that data[i:] starts with lit (true, false, null).
func scanJSONLiteral(data []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(data) || data[i+k] != lit[k] {
			return i + k, jsonSyntaxError(data, i+k, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// skipJSONValue checks the value starting at data[i], which is not
// whitespace, and returns the index just past it. depth is the number of
// arrays and objects around the value. It does not recurse: a bit per level
// records whether the level is an object.
func skipJSONValue(data []byte, i, depth int) (int, error) {
	var small [4]uint64
	stack := small[:]
	level := 0
	var err error
	for {
		// A value starts at data[i].
		if i >= len(data) {
			return i, jsonSyntaxError(data, i, "")
		}
		switch c := data[i]; c {
		case '{', '[':
			if depth+level+1 > maxJSONDepth {
				return i, invalidf("exceeded max depth of %d at offset %d", maxJSONDepth, i)
			}
			closing := byte(']')
			if c == '{' {
				closing = '}'
			}
			i = skipJSONSpace(data, i+1)
			if i < len(data) && data[i] == closing {
				i++ // empty: a scalar as far as nesting goes
				break
			}
			w, bit := level>>6, uint64(1)<<(level&63)
			if w == len(stack) {
				stack = append(stack, 0)
			}
			level++
			if c == '[' {
				stack[w] &^= bit
				continue
			}
			stack[w] |= bit
			if i, err = skipJSONKey(data, i); err != nil {
				return i, err
			}
			continue
		case '"':
			if i, _, err = scanJSONString(data, i); err != nil {
				return i, err
			}
		case 't':
			if i, err = scanJSONLiteral(data, i, "true"); err != nil {
				return i, err
			}
		case 'f':
			if i, err = scanJSONLiteral(data, i, "false"); err != nil {
				return i, err
			}
		case 'n':
			if i, err = scanJSONLiteral(data, i, "null"); err != nil {
				return i, err
			}
		default:
			if i, _, err = scanJSONNumber(data, i); err != nil {
				return i, err
			}
		}

		// After a value: close the levels it ends, or find the next one.
		for {
			if level == 0 {
				return i, nil
			}
			top := level - 1
			closing := byte(']')
			inObject := stack[top>>6]&(1<<(top&63)) != 0
			if inObject {
				closing = '}'
			}
			if i, err = nextJSONElement(data, i, closing); err != nil {
				return i, err
			}
			if data[i-1] == closing {
				level--
				continue
			}
			if inObject {
				if i, err = skipJSONKey(data, i); err != nil {
					return i, err
				}
			}
			break
		}
	}
}

// skipJSONKey checks an object key and its colon at data[i] and returns the
// index of the value after them.
func skipJSONKey(data []byte, i int) (int, error) {
	if i >= len(data) || data[i] != '"' {
		return i, jsonSyntaxError(data, i, "looking for beginning of object key string")
	}
	i, _, err := scanJSONString(data, i)
	if err != nil {
		return i, err
	}
	i = skipJSONSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return i, jsonSyntaxError(data, i, "after object key")
	}
	i = skipJSONSpace(data, i+1)
	if i >= len(data) {
		return i, jsonSyntaxError(data, i, "")
	}
	return i, nil
}

// checkJSONText refuses a string that the protocol reads as text (between
// the quotes, already scanned) if it holds invalid UTF-8. what names the
// string in the error, quoted when quote is set.
func checkJSONText(s []byte, what string, quote bool) error {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			if utf8.Valid(s) {
				return nil
			}
			if quote {
				return invalidf("invalid UTF-8 in '%s'", what)
			}
			return invalidf("invalid UTF-8 in %s", what)
		}
	}
	return nil
}

// decodeJSONString returns the content of a JSON string (between the quotes,
// already checked). Without escapes and with valid UTF-8 it is one
// allocation; otherwise escapes are decoded and invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func decodeJSONString(s []byte, esc bool) string {
	if !esc && utf8.Valid(s) {
		return string(s)
	}
	var buf [64]byte
	return string(appendJSONUnescaped(buf[:0], s))
}

// appendJSONUnescaped appends the decoded content of a checked JSON string.
// An unpaired surrogate escape and each byte of invalid UTF-8 become U+FFFD.
func appendJSONUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' {
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := jsonHex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, jsonHex4(s[i+2:])); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// jsonHex4 decodes the four hexadecimal digits at the start of s, already
// checked.
func jsonHex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

func jsonSyntaxError(data []byte, i int, context string) error {
	if i >= len(data) {
		return invalidf("unexpected end of JSON input")
	}
	if context == "" {
		context = "looking for beginning of value"
	}
	return invalidf("invalid character %s %s (offset %d)", quoteJSONChar(data[i]), context, i)
}

func jsonTypeError(data []byte, i int, field, want string) error {
	kind := "a number"
	switch data[i] {
	case '"':
		kind = "a string"
	case '{':
		kind = "an object"
	case '[':
		kind = "an array"
	case 't', 'f':
		kind = "a boolean"
	case 'n':
		kind = "null"
	}
	return invalidf("'%s' must be %s, not %s (offset %d)", field, want, kind, i)
}

func quoteJSONChar(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf(`'\x%02x'`, c)
}

// AppendMessage implements HubProtocol.
func (JSON) AppendMessage(dst []byte, msg Message) ([]byte, error) {
	start := len(dst)
	dst, err := appendJSONMessage(dst, msg)
	if err != nil {
		return dst[:start], err
	}
	return append(dst, RecordSeparator), nil
}

func appendJSONMessage(dst []byte, msg Message) ([]byte, error) {
	var err error
	dst = append(dst, `{"type":`...)
	dst = strconv.AppendInt(dst, int64(msg.Type()), 10)
	switch m := msg.(type) {
	case *Invocation:
		dst = appendJSONInvocation(dst, m.InvocationID, m.Target, m.StreamIDs, m.Headers)
		dst, err = appendJSONArgs(dst, m.Arguments)
	case *StreamInvocation:
		dst = appendJSONInvocation(dst, m.InvocationID, m.Target, m.StreamIDs, m.Headers)
		dst, err = appendJSONArgs(dst, m.Arguments)
	case *StreamItem:
		dst = appendJSONField(dst, "invocationId", m.InvocationID)
		dst = appendJSONHeaders(dst, m.Headers)
		dst = append(dst, `,"item":`...)
		dst, err = appendJSONValue(dst, m.Item)
	case *Completion:
		dst = appendJSONField(dst, "invocationId", m.InvocationID)
		dst = appendJSONHeaders(dst, m.Headers)
		switch {
		case m.Error != "":
			dst = appendJSONField(dst, "error", m.Error)
		case m.HasResult:
			dst = append(dst, `,"result":`...)
			dst, err = appendJSONValue(dst, m.Result)
		}
	case *CancelInvocation:
		dst = appendJSONField(dst, "invocationId", m.InvocationID)
		dst = appendJSONHeaders(dst, m.Headers)
	case *Ping:
	case *Close:
		if m.Error != "" {
			dst = appendJSONField(dst, "error", m.Error)
		}
		if m.AllowReconnect {
			dst = append(dst, `,"allowReconnect":true`...)
		}
	case *Ack:
		dst = append(dst, `,"sequenceId":`...)
		dst = strconv.AppendUint(dst, m.SequenceID, 10)
	case *Sequence:
		dst = append(dst, `,"sequenceId":`...)
		dst = strconv.AppendUint(dst, m.SequenceID, 10)
	default:
		return dst, fmt.Errorf("protocol: cannot write message type %T", msg)
	}
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

func appendJSONInvocation(dst []byte, id, target string, streamIDs []string, headers map[string]string) []byte {
	if id != "" {
		dst = appendJSONField(dst, "invocationId", id)
	}
	dst = appendJSONField(dst, "target", target)
	dst = appendJSONHeaders(dst, headers)
	if len(streamIDs) > 0 {
		dst = append(dst, `,"streamIds":[`...)
		for i, s := range streamIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, s)
		}
		dst = append(dst, ']')
	}
	return dst
}

func appendJSONArgs(dst []byte, args []any) ([]byte, error) {
	dst = append(dst, `,"arguments":[`...)
	var err error
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendJSONValue(dst, a); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func appendJSONHeaders(dst []byte, headers map[string]string) []byte {
	if len(headers) == 0 {
		return dst
	}
	dst = append(dst, `,"headers":{`...)
	first := true
	for k, v := range headers {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = AppendJSONString(dst, v)
	}
	return append(dst, '}')
}

func appendJSONField(dst []byte, name, value string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return AppendJSONString(dst, value)
}

// appendJSONValue appends v as JSON. Raw values are copied verbatim; common
// scalar types avoid reflection.
func appendJSONValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case Raw:
		if len(x) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, x...), nil
	case string:
		return AppendJSONString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string. Control characters (the record
// separator among them) are escaped and invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
