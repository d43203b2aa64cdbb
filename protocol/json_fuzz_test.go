package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/gosignalr/signalr/protocol"
)

// The seed corpora are in testdata/fuzz/FuzzJSONParse and
// testdata/fuzz/FuzzHandshakeParse, built from the test vectors of docs/protocol.md §9.

// jsonFuzzMaxSize is the limit used for the second, limited parse.
const jsonFuzzMaxSize = 48

// normalizeJSONMessage maps the forms that the JSON encoding does not tell
// apart (an empty list or map and an absent one) to one form.
func normalizeJSONMessage(msg protocol.Message) protocol.Message {
	switch m := msg.(type) {
	case *protocol.Invocation:
		c := *m
		c.StreamIDs = normalizeJSONStrings(c.StreamIDs)
		c.Headers = normalizeJSONHeaders(c.Headers)
		return &c
	case *protocol.StreamInvocation:
		c := *m
		c.StreamIDs = normalizeJSONStrings(c.StreamIDs)
		c.Headers = normalizeJSONHeaders(c.Headers)
		return &c
	case *protocol.StreamItem:
		c := *m
		c.Headers = normalizeJSONHeaders(c.Headers)
		return &c
	case *protocol.Completion:
		c := *m
		c.Headers = normalizeJSONHeaders(c.Headers)
		return &c
	case *protocol.CancelInvocation:
		c := *m
		c.Headers = normalizeJSONHeaders(c.Headers)
		return &c
	}
	return msg
}

func normalizeJSONStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normalizeJSONHeaders(h map[string]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	return h
}

// The fuzz targets check with plain ifs rather than testify: its t.Helper
// calls cost a stack walk each, which slows fuzzing several times over.

// checkJSONRoundTrip writes msg, checks the framing, and parses it back to an
// equivalent message.
func checkJSONRoundTrip(t *testing.T, msg protocol.Message) {
	p := protocol.JSON{}
	out, err := p.AppendMessage(nil, msg)
	if err != nil {
		t.Fatalf("re-encoding %#v: %v", msg, err)
	}
	if len(out) == 0 || bytes.IndexByte(out, protocol.RecordSeparator) != len(out)-1 {
		t.Fatalf("bad framing: %q", out)
	}
	if !json.Valid(out[:len(out)-1]) {
		t.Fatalf("invalid JSON: %q", out)
	}

	back, n, err := p.ParseMessage(out, 0)
	if err != nil || n != len(out) {
		t.Fatalf("re-parsing %q: n=%d err=%v", out, n, err)
	}
	if want, got := normalizeJSONMessage(msg), normalizeJSONMessage(back); !reflect.DeepEqual(want, got) {
		t.Fatalf("re-parsing %q:\n got %#v\nwant %#v", out, got, want)
	}

	// Writing the re-parsed message gives the same bytes (headers aside,
	// whose order is a map's).
	if len(headersOf(msg)) <= 1 {
		again, err := p.AppendMessage(nil, back)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("re-encoding again: %q, want %q (err %v)", again, out, err)
		}
	}
}

func headersOf(msg protocol.Message) map[string]string {
	switch m := msg.(type) {
	case *protocol.Invocation:
		return m.Headers
	case *protocol.StreamInvocation:
		return m.Headers
	case *protocol.StreamItem:
		return m.Headers
	case *protocol.Completion:
		return m.Headers
	case *protocol.CancelInvocation:
		return m.Headers
	}
	return nil
}

// checkJSONString checks that AppendJSONString writes s as one valid JSON
// string that reads back as encoding/json's encoding of s does.
func checkJSONString(t *testing.T, s string) {
	enc := protocol.AppendJSONString([]byte("x"), s)
	if enc[0] != 'x' {
		t.Fatalf("AppendJSONString overwrote dst: %q", enc)
	}
	enc = enc[1:]
	if bytes.IndexByte(enc, protocol.RecordSeparator) >= 0 || !json.Valid(enc) {
		t.Fatalf("bad JSON string %q for %q", enc, s)
	}
	var got, want string
	if err := json.Unmarshal(enc, &got); err != nil {
		t.Fatalf("decoding %q: %v", enc, err)
	}
	std, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("AppendJSONString(%q) = %q, reads back as %q, want %q", s, enc, got, want)
	}
}

func FuzzJSONParse(f *testing.F) {
	p := protocol.JSON{}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Parse every complete message, as a connection's reader does. After
		// an invalid message, resume at the next separator to reach more.
		rest := data
		for len(rest) > 0 {
			sep := bytes.IndexByte(rest, protocol.RecordSeparator)
			msg, n, err := p.ParseMessage(rest, 0)
			if err != nil {
				if !errors.Is(err, protocol.ErrInvalidMessage) || msg != nil || n != 0 || sep < 0 {
					t.Fatalf("ParseMessage(%q) = %#v, %d, %v", rest, msg, n, err)
				}
				rest = rest[sep+1:]
				continue
			}
			if n == 0 {
				if msg != nil || sep >= 0 {
					t.Fatalf("ParseMessage(%q) = %#v, 0, nil", rest, msg)
				}
				break
			}
			if n != sep+1 {
				t.Fatalf("ParseMessage(%q) used %d bytes, want %d", rest, n, sep+1)
			}

			// The same parse under a size limit either agrees or says the
			// body is too large.
			limited, ln, lerr := p.ParseMessage(rest, jsonFuzzMaxSize)
			if n-1 > jsonFuzzMaxSize {
				if !errors.Is(lerr, protocol.ErrMessageTooLarge) || ln != 0 {
					t.Fatalf("limited ParseMessage(%q) = %d, %v, want too large", rest, ln, lerr)
				}
			} else if lerr != nil || ln != n || !reflect.DeepEqual(msg, limited) {
				t.Fatalf("limited ParseMessage(%q) = %#v, %d, %v", rest, limited, ln, lerr)
			}

			if msg != nil {
				checkJSONRoundTrip(t, msg)
			}
			rest = rest[n:]
		}

		// An incomplete message over the limit is reported before its end.
		if bytes.IndexByte(data, protocol.RecordSeparator) < 0 && len(data) > jsonFuzzMaxSize {
			if _, n, err := p.ParseMessage(data, jsonFuzzMaxSize); !errors.Is(err, protocol.ErrMessageTooLarge) || n != 0 {
				t.Fatalf("incomplete %d bytes over the limit: n=%d err=%v", len(data), n, err)
			}
		}

		checkJSONString(t, string(data))
	})
}

func FuzzHandshakeParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		req, n, err := protocol.ParseHandshakeRequest(data, 0)
		sep := bytes.IndexByte(data, protocol.RecordSeparator)
		switch {
		case err != nil:
			if !errors.Is(err, protocol.ErrInvalidMessage) || n != 0 || req != (protocol.HandshakeRequest{}) || sep < 0 {
				t.Fatalf("ParseHandshakeRequest(%q) = %#v, %d, %v", data, req, n, err)
			}
		case n == 0:
			if req != (protocol.HandshakeRequest{}) || sep >= 0 {
				t.Fatalf("ParseHandshakeRequest(%q) = %#v, 0, nil", data, req)
			}
		default:
			if n != sep+1 {
				t.Fatalf("ParseHandshakeRequest(%q) used %d bytes, want %d", data, n, sep+1)
			}

			// Written back with encoding/json, it reads the same.
			out, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, protocol.RecordSeparator)
			back, m, err := protocol.ParseHandshakeRequest(out, 0)
			if err != nil || m != len(out) || back != req {
				t.Fatalf("re-parsing %q = %#v, %d, %v; want %#v", out, back, m, err, req)
			}

			// Any protocol name can be echoed in an error reply.
			checkHandshakeResponse(t, req.Protocol)
		}

		// Under a limit: the same answer, or too large.
		const limit = 32
		lreq, ln, lerr := protocol.ParseHandshakeRequest(data, limit)
		if (sep >= 0 && sep > limit) || (sep < 0 && len(data) > limit) {
			if !errors.Is(lerr, protocol.ErrMessageTooLarge) || ln != 0 {
				t.Fatalf("limited ParseHandshakeRequest(%q) = %d, %v, want too large", data, ln, lerr)
			}
		} else if ln != n || lreq != req || (err == nil) != (lerr == nil) || errors.Is(lerr, protocol.ErrMessageTooLarge) {
			t.Fatalf("limited ParseHandshakeRequest(%q) = %#v, %d, %v", data, lreq, ln, lerr)
		}

		checkHandshakeResponse(t, string(data))
	})
}

// checkHandshakeResponse checks that a reply carrying errMsg is one framed
// JSON object whose "error" reads back as encoding/json's encoding of errMsg.
func checkHandshakeResponse(t *testing.T, errMsg string) {
	out := protocol.AppendHandshakeResponse(nil, errMsg)
	if bytes.IndexByte(out, protocol.RecordSeparator) != len(out)-1 {
		t.Fatalf("bad framing: %q", out)
	}
	var reply map[string]string
	if err := json.Unmarshal(out[:len(out)-1], &reply); err != nil {
		t.Fatalf("reply %q: %v", out, err)
	}
	if errMsg == "" {
		if len(reply) != 0 {
			t.Fatalf("success reply %q is not {}", out)
		}
		return
	}
	std, err := json.Marshal(errMsg)
	if err != nil {
		t.Fatal(err)
	}
	var want string
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	if len(reply) != 1 || reply["error"] != want {
		t.Fatalf("reply %q for %q, want error %q", out, errMsg, want)
	}
}
