package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// HandshakeRequest is the first message a client sends, always as JSON text
// ending in the record separator: {"protocol":"json","version":1}.
type HandshakeRequest struct {
	Protocol string `json:"protocol"`
	Version  int    `json:"version"`
}

// ParseHandshakeRequest parses the handshake at the start of data and returns
// it with the number of bytes used. n == 0 with a nil error means the
// handshake is not complete yet. A handshake longer than maxSize bytes
// (maxSize <= 0: no limit) is an error.
func ParseHandshakeRequest(data []byte, maxSize int) (req HandshakeRequest, n int, err error) {
	end := bytes.IndexByte(data, RecordSeparator)
	if end < 0 {
		if maxSize > 0 && len(data) > maxSize {
			return req, 0, fmt.Errorf("%w: handshake (%d bytes)", ErrMessageTooLarge, maxSize)
		}
		return req, 0, nil
	}
	if maxSize > 0 && end > maxSize {
		return req, 0, fmt.Errorf("%w: handshake (%d bytes)", ErrMessageTooLarge, maxSize)
	}
	var raw struct {
		Protocol *string `json:"protocol"`
		Version  *int    `json:"version"`
	}
	if err := json.Unmarshal(data[:end], &raw); err != nil {
		return req, 0, invalidf("handshake: %v", err)
	}
	if raw.Protocol == nil {
		return req, 0, invalidf("handshake: missing required property 'protocol'")
	}
	if raw.Version == nil {
		return req, 0, invalidf("handshake: missing required property 'version'")
	}
	return HandshakeRequest{Protocol: *raw.Protocol, Version: *raw.Version}, end + 1, nil
}

// AppendHandshakeResponse appends a handshake response: {} on success, or
// {"error":"..."} when errMsg is not empty, followed by the record separator.
func AppendHandshakeResponse(dst []byte, errMsg string) []byte {
	if errMsg == "" {
		return append(dst, '{', '}', RecordSeparator)
	}
	dst = append(dst, `{"error":`...)
	dst = AppendJSONString(dst, errMsg)
	return append(dst, '}', RecordSeparator)
}
