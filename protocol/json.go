package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
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
func (JSON) Unmarshal(raw Raw, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: empty value", ErrInvalidMessage)
	}
	return json.Unmarshal(raw, v)
}

// jsonMessage is the union of every message's fields. Pointers and
// RawMessage tell an absent field from a null or zero one.
type jsonMessage struct {
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

func parseJSONMessage(body []byte) (Message, error) {
	var m jsonMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalidf("%v", err)
	}
	if m.Type == nil {
		return nil, invalidf("missing required property 'type'")
	}
	switch MessageType(*m.Type) {
	case TypeInvocation, TypeStreamInvocation:
		if m.Target == nil || *m.Target == "" {
			return nil, invalidf("missing required property 'target'")
		}
		if m.Arguments == nil {
			return nil, invalidf("missing required property 'arguments'")
		}
		args := make([]any, len(m.Arguments))
		for i, a := range m.Arguments {
			args[i] = Raw(a)
		}
		id := ""
		if m.InvocationID != nil {
			id = *m.InvocationID
		}
		if MessageType(*m.Type) == TypeInvocation {
			return &Invocation{InvocationID: id, Target: *m.Target, Arguments: args, StreamIDs: m.StreamIDs, Headers: m.Headers}, nil
		}
		if id == "" {
			return nil, invalidf("missing required property 'invocationId'")
		}
		return &StreamInvocation{InvocationID: id, Target: *m.Target, Arguments: args, StreamIDs: m.StreamIDs, Headers: m.Headers}, nil
	case TypeStreamItem:
		if m.InvocationID == nil || *m.InvocationID == "" {
			return nil, invalidf("missing required property 'invocationId'")
		}
		if m.Item == nil {
			return nil, invalidf("missing required property 'item'")
		}
		return &StreamItem{InvocationID: *m.InvocationID, Item: Raw(m.Item), Headers: m.Headers}, nil
	case TypeCompletion:
		if m.InvocationID == nil || *m.InvocationID == "" {
			return nil, invalidf("missing required property 'invocationId'")
		}
		c := &Completion{InvocationID: *m.InvocationID, Headers: m.Headers}
		if m.Error != nil {
			if m.Result != nil {
				return nil, invalidf("the 'error' and 'result' properties are mutually exclusive")
			}
			c.Error = *m.Error
		} else if m.Result != nil {
			c.HasResult = true
			c.Result = Raw(m.Result)
		}
		return c, nil
	case TypeCancelInvocation:
		if m.InvocationID == nil || *m.InvocationID == "" {
			return nil, invalidf("missing required property 'invocationId'")
		}
		return &CancelInvocation{InvocationID: *m.InvocationID, Headers: m.Headers}, nil
	case TypePing:
		return &Ping{}, nil
	case TypeClose:
		c := &Close{AllowReconnect: m.AllowReconnect}
		if m.Error != nil {
			c.Error = *m.Error
		}
		return c, nil
	case TypeAck, TypeSequence:
		if m.SequenceID == nil {
			return nil, invalidf("missing required property 'sequenceId'")
		}
		if MessageType(*m.Type) == TypeAck {
			return &Ack{SequenceID: *m.SequenceID}, nil
		}
		return &Sequence{SequenceID: *m.SequenceID}, nil
	}
	return nil, nil // unknown types are ignored
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
