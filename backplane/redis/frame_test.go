package redis

import (
	"encoding/binary"
	"testing"
)

func TestFrames(t *testing.T) {
	req := appendRequest(nil, "signalr:reply:ABC", 300, []byte("data"))
	f, ok := parseFrame(string(req))
	if !ok || f.kind != kindRequest || f.replyTo != "signalr:reply:ABC" || f.id != 300 || f.data != "data" {
		t.Fatalf("request frame read back as %+v, %v", f, ok)
	}
	reply := append(binary.AppendUvarint([]byte{kindReply}, 1<<40), "answer"...)
	if f, ok := parseFrame(string(reply)); !ok || f.kind != kindReply || f.id != 1<<40 || f.data != "answer" {
		t.Fatalf("reply frame read back as %+v, %v", f, ok)
	}
	if f, ok := parseFrame("\x01"); !ok || f.kind != kindMessage || f.data != "" {
		t.Fatalf("empty message read back as %+v, %v", f, ok)
	}
	for _, bad := range []string{
		"",                // no kind
		"\x00data",        // unknown kind
		"\x09data",        // unknown kind
		"\x02",            // request without reply channel
		"\x02\x05abc",     // reply channel longer than the frame
		"\x02\x03abc",     // request without id
		"\x02\x03abc\x80", // truncated id
		"\x03",            // reply without id
		"\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", // id longer than a uvarint
	} {
		if f, ok := parseFrame(bad); ok {
			t.Errorf("parseFrame(%q) = %+v, want a rejection", bad, f)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(string(appendRequest(nil, "p:reply:X", 7, []byte("hello"))))
	f.Add("\x01hi")
	f.Add("\x03\x07ok")
	f.Add("\x04\x07")
	f.Fuzz(func(t *testing.T, p string) {
		fr, ok := parseFrame(p)
		if !ok || fr.kind != kindRequest {
			return
		}
		// A request read back re-encodes to the same bytes, unless its
		// uvarints were not minimal.
		again, ok2 := parseFrame(string(appendRequest(nil, fr.replyTo, fr.id, []byte(fr.data))))
		if !ok2 || again != fr {
			t.Fatalf("request %+v re-read as %+v, %v", fr, again, ok2)
		}
	})
}
