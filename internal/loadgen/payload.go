package loadgen

import (
	"strconv"
	"time"
)

// Payloads carry the time they were published and a sequence number, so
// that every receiver can measure publish-to-receive latency and count what
// it got without asking anyone. The layout is ASCII, valid as a JSON or
// MessagePack string:
//
//	<unix nanoseconds, 19 digits> ' ' <sequence number> ' ' <'x' padding>
const stampDigits = 19

// MinPayloadSize is the size of the smallest payload AppendStamp writes
// (the largest sequence numbers make it a few bytes longer).
const MinPayloadSize = stampDigits + 1 + 10 + 1

// AppendStamp appends a payload of size bytes (at least MinPayloadSize)
// that carries seq and the time t.
func AppendStamp(dst []byte, size int, seq uint64, t time.Time) []byte {
	start := len(dst)
	ns := t.UnixNano()
	var digits [stampDigits]byte
	for i := stampDigits - 1; i >= 0; i-- {
		digits[i] = byte('0' + ns%10)
		ns /= 10
	}
	dst = append(dst, digits[:]...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ' ')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// ParseStamp reads the sequence number and publish time from a payload
// written by AppendStamp.
func ParseStamp(p []byte) (seq uint64, sent time.Time, ok bool) {
	if len(p) < stampDigits+3 || p[stampDigits] != ' ' {
		return 0, time.Time{}, false
	}
	var ns int64
	for _, c := range p[:stampDigits] {
		if c < '0' || c > '9' {
			return 0, time.Time{}, false
		}
		ns = ns*10 + int64(c-'0')
	}
	i := stampDigits + 1
	start := i
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		if i-start >= 19 {
			return 0, time.Time{}, false
		}
		seq = seq*10 + uint64(p[i]-'0')
	}
	if i == start || i == len(p) || p[i] != ' ' {
		return 0, time.Time{}, false
	}
	return seq, time.Unix(0, ns), true
}
