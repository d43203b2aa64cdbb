package centrifugepeer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"unicode/utf8"

	"github.com/centrifugal/protocol"
)

// lines yields the non-empty lines of a frame of centrifuge's JSON
// protocol: one reply per line (JSON strings cannot hold a raw newline).
func lines(frame []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(frame) > 0 {
			line := frame
			if i := bytes.IndexByte(frame, '\n'); i >= 0 {
				line, frame = frame[:i], frame[i+1:]
			} else {
				frame = nil
			}
			if len(line) > 0 && !yield(line) {
				return
			}
		}
	}
}

// decodeReply decodes one reply with centrifuge's own decoder.
func decodeReply(line []byte) (*protocol.Reply, error) {
	r, err := protocol.NewJSONReplyDecoder(line).Decode()
	if err != nil {
		return nil, fmt.Errorf("centrifugepeer: bad reply %.64q: %w", line, err)
	}
	return r, nil
}

// parsePublication reads a publication push in the shape centrifuge writes
// it, {"push":{"channel":"…","pub":{"data":"…"…}}}, and returns the data
// string's contents without allocating when the string has no escapes. It
// returns false for any other line, which then goes to decodeReply.
func parsePublication(line []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"push":{"channel":`))
	if !ok {
		return nil, false
	}
	_, rest, _, ok = cutJSONString(rest)
	if !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"pub":{"data":`)); !ok {
		return nil, false
	}
	raw, rest, escaped, ok := cutJSONString(rest)
	if !ok || !(bytes.Equal(rest, []byte("}}}")) || (len(rest) > 3 && rest[0] == ',' && bytes.HasSuffix(rest, []byte("}}}")))) {
		return nil, false
	}
	if escaped {
		return decodePayload(raw), true
	}
	return raw[1 : len(raw)-1], true
}

// cutJSONString splits a JSON string, quotes included, off the front of b
// and reports whether it holds escapes.
func cutJSONString(b []byte) (str, rest []byte, escaped, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false, false
	}
	for i := 1; ; {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return nil, nil, false, false
		}
		i += j
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		k := i
		for k > 1 && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			str = b[:i+1]
			return str, b[i+1:], bytes.IndexByte(str, '\\') >= 0, true
		}
		i++
	}
}

// appendJSONString appends s as a JSON string. Bytes that are not valid
// UTF-8 become U+FFFD, as in encoding/json: the JSON protocol carries text,
// and loadgen's payloads are ASCII.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		ch := s[i]
		if ch >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			b = utf8.AppendRune(b, r) // RuneError for invalid input
			i += size
			continue
		}
		switch {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		default:
			b = append(b, ch)
		}
		i++
	}
	return append(b, '"')
}

// decodePayload turns data, a JSON string as Publish sends it, back into
// the payload. Data that is not a JSON string is returned as is.
func decodePayload(data []byte) []byte {
	n := len(data)
	if n < 2 || data[0] != '"' || data[n-1] != '"' {
		return data
	}
	if bytes.IndexByte(data[1:n-1], '\\') < 0 {
		return data[1 : n-1]
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return data
	}
	return []byte(s)
}
