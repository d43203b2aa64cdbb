package loadgen

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// This file is a small client-side codec for the SignalR hub protocol,
// written apart from the library's own so that the load generator checks
// the server's bytes independently. It encodes only what a load client
// sends (handshake, invocations, Ping, Close) and decodes only what one
// needs from what it receives (invocation target and first argument,
// completions, Close). See docs/protocol.md §3 and §4.

const recordSeparator = 0x1e

// SignalR message types.
const (
	msgInvocation = 1
	msgCompletion = 3
	msgPing       = 6
	msgClose      = 7
)

// Protocol names a SignalR hub protocol.
type Protocol string

// Hub protocols.
const (
	JSON        Protocol = "json"
	MessagePack Protocol = "messagepack"
)

// ParseProtocol accepts "json", "messagepack" and "msgpack".
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "json":
		return JSON, nil
	case "messagepack", "msgpack":
		return MessagePack, nil
	}
	return "", fmt.Errorf("loadgen: unknown protocol %q (json or messagepack)", s)
}

var errMalformed = errors.New("loadgen: malformed message from the server")

// inMsg is what a load client keeps of a received hub message. Byte
// slices point into the frame buffer (or into scratch, for JSON strings
// with escapes) and are valid until the next frame is read.
type inMsg struct {
	typ       int
	target    []byte
	arg0      []byte // first argument, when it is a string
	hasArg0   bool
	id        uint64 // invocationId, when it is a decimal string
	hasID     bool
	result    []byte // Completion result, when it is a string
	hasResult bool
	errText   []byte // Completion or Close error
	hasErr    bool
}

func appendHandshake(dst []byte, p Protocol) []byte {
	dst = append(dst, `{"protocol":"`...)
	dst = append(dst, p...)
	dst = append(dst, `","version":1}`...)
	return append(dst, recordSeparator)
}

// appendInvocation appends a framed Invocation of target with string
// arguments and a decimal invocation id.
func appendInvocation(dst []byte, p Protocol, id uint64, target string, args ...[]byte) []byte {
	if p == JSON {
		dst = append(dst, `{"type":1,"invocationId":"`...)
		dst = strconv.AppendUint(dst, id, 10)
		dst = append(dst, `","target":`...)
		dst = appendJSONString(dst, []byte(target))
		dst = append(dst, `,"arguments":[`...)
		for i, a := range args {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, a)
		}
		dst = append(dst, "]}"...)
		return append(dst, recordSeparator)
	}
	var idBuf [20]byte
	idStr := strconv.AppendUint(idBuf[:0], id, 10)
	n := 2 + 1 + mpStrLen(len(idStr)) + mpStrLen(len(target)) + mpArrLen(len(args))
	for _, a := range args {
		n += mpStrLen(len(a))
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, 0x95, msgInvocation, 0x80)
	dst = appendMPString(dst, idStr)
	dst = appendMPString(dst, []byte(target))
	dst = appendMPArrayHeader(dst, len(args))
	for _, a := range args {
		dst = appendMPString(dst, a)
	}
	return dst
}

func appendPing(dst []byte, p Protocol) []byte {
	if p == JSON {
		return append(dst, "{\"type\":6}\x1e"...)
	}
	return append(dst, 0x02, 0x91, msgPing)
}

func appendClose(dst []byte, p Protocol) []byte {
	if p == JSON {
		return append(dst, "{\"type\":7}\x1e"...)
	}
	return append(dst, 0x03, 0x92, msgClose, 0xc0)
}

// appendJSONString appends s as a JSON string. s should be UTF-8; control
// characters (0x1E included) are escaped.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func mpStrLen(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	}
	return 5 + n
}

func mpArrLen(n int) int {
	switch {
	case n < 16:
		return 1
	case n < 1<<16:
		return 3
	}
	return 5
}

func appendMPString(dst, s []byte) []byte {
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

func appendMPArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n < 1<<16:
		return append(dst, 0xdc, byte(n>>8), byte(n))
	}
	return append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// splitHandshake checks the handshake reply at the start of the first
// frame and returns what follows it. A reply with an error is returned as
// an error.
func splitHandshake(frame []byte) (rest []byte, err error) {
	end := -1
	for i, c := range frame {
		if c == recordSeparator {
			end = i
			break
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("loadgen: incomplete handshake reply %q", truncate(frame))
	}
	var reply struct {
		Error string `json:"error"`
		Type  int    `json:"type"`
	}
	if err := json.Unmarshal(frame[:end], &reply); err != nil {
		return nil, fmt.Errorf("loadgen: handshake reply %q: %w", truncate(frame[:end]), err)
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("loadgen: handshake refused: %s", reply.Error)
	}
	if reply.Type != 0 {
		return nil, fmt.Errorf("loadgen: handshake reply has type %d", reply.Type)
	}
	return frame[end+1:], nil
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// eachMessage decodes every message in one frame of protocol p and calls
// fn for each. scratch holds unescaped JSON strings.
func eachMessage(p Protocol, frame []byte, scratch *[]byte, fn func(*inMsg)) error {
	var m inMsg
	if p == JSON {
		for len(frame) > 0 {
			end := -1
			for i, c := range frame {
				if c == recordSeparator {
					end = i
					break
				}
			}
			if end < 0 {
				return fmt.Errorf("%w: a JSON record without its separator", errMalformed)
			}
			m = inMsg{}
			if err := parseJSONRecord(frame[:end], &m, scratch); err != nil {
				return err
			}
			fn(&m)
			frame = frame[end+1:]
		}
		return nil
	}
	for len(frame) > 0 {
		n, k := binary.Uvarint(frame)
		if k <= 0 || k > 5 || n > uint64(len(frame)-k) {
			return fmt.Errorf("%w: bad MessagePack length prefix", errMalformed)
		}
		m = inMsg{}
		if err := parseMPMessage(frame[k:k+int(n)], &m); err != nil {
			return err
		}
		fn(&m)
		frame = frame[k+int(n):]
	}
	return nil
}

// JSON decoding.

func parseJSONRecord(b []byte, m *inMsg, scratch *[]byte) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fmt.Errorf("%w: a JSON record that is not an object", errMalformed)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	*scratch = (*scratch)[:0]
	for {
		if i >= len(b) || b[i] != '"' {
			return fmt.Errorf("%w: expected a key", errMalformed)
		}
		kend, esc, err := scanString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : kend-1]
		if esc {
			key = nil // none of the keys read here need escapes
		}
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return fmt.Errorf("%w: expected ':'", errMalformed)
		}
		i = skipSpace(b, i+1)
		switch string(key) {
		case "type":
			j := i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				m.typ = m.typ*10 + int(b[j]-'0')
				j++
			}
			if j == i || m.typ > math.MaxInt32 {
				return fmt.Errorf("%w: bad type", errMalformed)
			}
			i = j
		case "target":
			var ok bool
			m.target, i, ok, err = readJSONString(b, i, scratch)
			if err != nil || !ok {
				return fmt.Errorf("%w: bad target", errMalformed)
			}
		case "invocationId":
			var s []byte
			var ok bool
			s, i, ok, err = readJSONString(b, i, scratch)
			if err != nil {
				return err
			}
			if ok {
				m.id, m.hasID = parseDecimal(s)
			}
		case "error":
			m.errText, i, m.hasErr, err = readJSONString(b, i, scratch)
			if err != nil {
				return err
			}
		case "result":
			m.result, i, m.hasResult, err = readJSONString(b, i, scratch)
			if err != nil {
				return err
			}
		case "arguments":
			if i >= len(b) || b[i] != '[' {
				return fmt.Errorf("%w: arguments is not an array", errMalformed)
			}
			i = skipSpace(b, i+1)
			first := true
			for i < len(b) && b[i] != ']' {
				if first {
					m.arg0, i, m.hasArg0, err = readJSONString(b, i, scratch)
					first = false
				} else {
					i, err = skipJSONValue(b, i, 0)
				}
				if err != nil {
					return err
				}
				i = skipSpace(b, i)
				if i < len(b) && b[i] == ',' {
					i = skipSpace(b, i+1)
				}
			}
			if i >= len(b) {
				return fmt.Errorf("%w: unterminated arguments", errMalformed)
			}
			i++
		default:
			if i, err = skipJSONValue(b, i, 0); err != nil {
				return err
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return fmt.Errorf("%w: unterminated object", errMalformed)
		}
		if b[i] == '}' {
			return nil
		}
		if b[i] != ',' {
			return fmt.Errorf("%w: expected ',' or '}'", errMalformed)
		}
		i = skipSpace(b, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index just past the string that starts at b[i]
// (a '"') and whether it holds escapes.
func scanString(b []byte, i int) (end int, esc bool, err error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc, nil
		}
	}
	return 0, false, fmt.Errorf("%w: unterminated string", errMalformed)
}

// readJSONString reads the value at b[i]. If it is a string it returns its
// contents (unescaped into scratch when needed) and ok; any other value is
// skipped.
func readJSONString(b []byte, i int, scratch *[]byte) (s []byte, next int, ok bool, err error) {
	if i >= len(b) || b[i] != '"' {
		next, err = skipJSONValue(b, i, 0)
		return nil, next, false, err
	}
	end, esc, err := scanString(b, i)
	if err != nil {
		return nil, 0, false, err
	}
	if !esc {
		return b[i+1 : end-1], end, true, nil
	}
	var v string
	if err := json.Unmarshal(b[i:end], &v); err != nil {
		return nil, 0, false, fmt.Errorf("%w: %v", errMalformed, err)
	}
	start := len(*scratch)
	*scratch = append(*scratch, v...)
	return (*scratch)[start:len(*scratch):len(*scratch)], end, true, nil
}

func skipJSONValue(b []byte, i, depth int) (int, error) {
	if depth > 64 {
		return 0, fmt.Errorf("%w: nested too deep", errMalformed)
	}
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", errMalformed)
	}
	switch b[i] {
	case '"':
		end, _, err := scanString(b, i)
		return end, err
	case '{', '[':
		closing := byte('}')
		if b[i] == '[' {
			closing = ']'
		}
		i = skipSpace(b, i+1)
		for i < len(b) && b[i] != closing {
			var err error
			if closing == '}' {
				if i, err = skipJSONValue(b, i, depth+1); err != nil { // key
					return 0, err
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return 0, fmt.Errorf("%w: expected ':'", errMalformed)
				}
				i = skipSpace(b, i+1)
			}
			if i, err = skipJSONValue(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
		if i >= len(b) {
			return 0, fmt.Errorf("%w: unterminated value", errMalformed)
		}
		return i + 1, nil
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("%w: missing value", errMalformed)
	}
	return j, nil
}

func parseDecimal(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// MessagePack decoding.

type mpReader struct {
	b   []byte
	off int
}

var errMPTruncated = fmt.Errorf("%w: truncated MessagePack", errMalformed)

func (r *mpReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errMPTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *mpReader) be(n int) (uint64, error) {
	if r.off+n > len(r.b) {
		return 0, errMPTruncated
	}
	var v uint64
	for _, c := range r.b[r.off : r.off+n] {
		v = v<<8 | uint64(c)
	}
	r.off += n
	return v, nil
}

// header reads a value's type byte and, for arrays, maps, strings and
// binaries, its length.
func (r *mpReader) header() (c byte, n int, err error) {
	if c, err = r.byte(); err != nil {
		return 0, 0, err
	}
	var v uint64
	switch {
	case c >= 0x80 && c <= 0x8f:
		return c, int(c & 0x0f), nil
	case c >= 0x90 && c <= 0x9f:
		return c, int(c & 0x0f), nil
	case c >= 0xa0 && c <= 0xbf:
		return c, int(c & 0x1f), nil
	case c == 0xd9 || c == 0xc4:
		v, err = r.be(1)
	case c == 0xda || c == 0xc5 || c == 0xdc || c == 0xde:
		v, err = r.be(2)
	case c == 0xdb || c == 0xc6 || c == 0xdd || c == 0xdf:
		v, err = r.be(4)
	}
	if v > uint64(len(r.b)) {
		return 0, 0, errMPTruncated
	}
	return c, int(v), err
}

func isMPArray(c byte) bool { return c >= 0x90 && c <= 0x9f || c == 0xdc || c == 0xdd }
func isMPMap(c byte) bool   { return c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf }
func isMPStr(c byte) bool {
	return c >= 0xa0 && c <= 0xbf || c == 0xd9 || c == 0xda || c == 0xdb || c == 0xc4 || c == 0xc5 || c == 0xc6
}

// str reads a string (or binary) and reports ok; nil gives ok false; any
// other value is an error.
func (r *mpReader) str() (s []byte, ok bool, err error) {
	c, n, err := r.header()
	if err != nil {
		return nil, false, err
	}
	if c == 0xc0 {
		return nil, false, nil
	}
	if !isMPStr(c) {
		return nil, false, fmt.Errorf("%w: expected a MessagePack string, got 0x%02x", errMalformed, c)
	}
	if r.off+n > len(r.b) {
		return nil, false, errMPTruncated
	}
	s = r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s, true, nil
}

// uint reads a non-negative integer.
func (r *mpReader) uint() (uint64, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c <= 0x7f:
		return uint64(c), nil
	case c == 0xcc || c == 0xd0:
		return r.be(1)
	case c == 0xcd || c == 0xd1:
		return r.be(2)
	case c == 0xce || c == 0xd2:
		return r.be(4)
	case c == 0xcf || c == 0xd3:
		return r.be(8)
	}
	return 0, fmt.Errorf("%w: expected a MessagePack integer, got 0x%02x", errMalformed, c)
}

func (r *mpReader) skip(depth int) error {
	if depth > 64 {
		return fmt.Errorf("%w: nested too deep", errMalformed)
	}
	c, n, err := r.header()
	if err != nil {
		return err
	}
	switch {
	case isMPArray(c):
		for range n {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case isMPMap(c):
		for range 2 * n {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case isMPStr(c):
		return r.advance(n)
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return nil
	case c == 0xcc || c == 0xd0:
		return r.advance(1)
	case c == 0xcd || c == 0xd1:
		return r.advance(2)
	case c == 0xce || c == 0xd2 || c == 0xca:
		return r.advance(4)
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		return r.advance(8)
	case c == 0xd4:
		return r.advance(2)
	case c == 0xd5:
		return r.advance(3)
	case c == 0xd6:
		return r.advance(5)
	case c == 0xd7:
		return r.advance(9)
	case c == 0xd8:
		return r.advance(17)
	case c == 0xc7 || c == 0xc8 || c == 0xc9:
		size := 1 << (c - 0xc7) // 1, 2 or 4 length bytes
		v, err := r.be(size)
		if err != nil {
			return err
		}
		if v > uint64(len(r.b)) {
			return errMPTruncated
		}
		return r.advance(int(v) + 1)
	}
	return fmt.Errorf("%w: unknown MessagePack type 0x%02x", errMalformed, c)
}

func (r *mpReader) advance(n int) error {
	if n < 0 || r.off+n > len(r.b) {
		return errMPTruncated
	}
	r.off += n
	return nil
}

func parseMPMessage(b []byte, m *inMsg) error {
	r := mpReader{b: b}
	c, count, err := r.header()
	if err != nil {
		return err
	}
	if !isMPArray(c) || count < 1 {
		return fmt.Errorf("%w: a MessagePack message that is not an array", errMalformed)
	}
	typ, err := r.uint()
	if err != nil {
		return err
	}
	if typ > math.MaxInt32 {
		return fmt.Errorf("%w: bad type", errMalformed)
	}
	m.typ = int(typ)
	switch m.typ {
	case msgInvocation:
		if count < 5 {
			return fmt.Errorf("%w: short Invocation", errMalformed)
		}
		if err := r.skip(0); err != nil { // headers
			return err
		}
		if err := r.skip(0); err != nil { // invocation id
			return err
		}
		if m.target, _, err = r.str(); err != nil {
			return err
		}
		c, n, err := r.header()
		if err != nil {
			return err
		}
		if !isMPArray(c) {
			return fmt.Errorf("%w: arguments is not an array", errMalformed)
		}
		if n > 0 {
			save := r.off
			if m.arg0, m.hasArg0, err = r.str(); err != nil {
				m.arg0, m.hasArg0 = nil, false
				r.off = save
				if err := r.skip(0); err != nil {
					return err
				}
			}
		}
	case msgCompletion:
		if count < 4 {
			return fmt.Errorf("%w: short Completion", errMalformed)
		}
		if err := r.skip(0); err != nil { // headers
			return err
		}
		id, ok, err := r.str()
		if err != nil {
			return err
		}
		if ok {
			m.id, m.hasID = parseDecimal(id)
		}
		kind, err := r.uint()
		if err != nil {
			return err
		}
		switch {
		case kind == 1 && count >= 5:
			m.errText, m.hasErr, err = r.str()
			if err != nil {
				return err
			}
			if !m.hasErr {
				m.errText, m.hasErr = []byte("(nil error)"), true
			}
		case kind == 3 && count >= 5:
			save := r.off
			if m.result, m.hasResult, err = r.str(); err != nil {
				m.result, m.hasResult = nil, false
				r.off = save
			}
		}
	case msgClose:
		if count >= 2 {
			if m.errText, m.hasErr, err = r.str(); err != nil {
				return err
			}
		}
	}
	return nil
}
