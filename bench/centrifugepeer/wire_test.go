package centrifugepeer

import (
	"testing"

	"github.com/centrifugal/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fast path must read every publication exactly as centrifuge's own
// decoder does, from the bytes centrifuge's own encoder writes.
func TestParsePublicationAgreesWithCentrifugeDecoder(t *testing.T) {
	payloads := []string{
		"", "hello", `a "quoted" \ path`, "tab\tnewline\n", "ünïcode ☃", "}}}", `","pub":{"data":"x"}}}`,
		"\x00\x1f", "1700000000000000000 42 xxxxxxxxxxxxxxxx", `ends with \`, `\\"`, `\"`,
	}
	channels := []string{"all", "group.g1", `odd "channel"`}
	enc := protocol.NewJSONReplyEncoder()
	for _, ch := range channels {
		for _, p := range payloads {
			for _, pub := range []*protocol.Publication{
				{Data: appendJSONString(nil, p)},
				{Data: appendJSONString(nil, p), Offset: 7, Tags: map[string]string{"k": "}}}"}},
			} {
				line, err := enc.Encode(&protocol.Reply{Push: &protocol.Push{Channel: ch, Pub: pub}})
				require.NoError(t, err)
				got, ok := parsePublication(line)
				require.True(t, ok, "%s", line)
				assert.Equal(t, p, string(got), "%s", line)

				r, err := decodeReply(line)
				require.NoError(t, err)
				assert.Equal(t, p, string(decodePayload(r.Push.Pub.Data)))
			}
		}
	}
}

func TestParsePublicationLeavesOtherRepliesToTheDecoder(t *testing.T) {
	for _, line := range []string{
		`{}`,
		`{"id":3,"publish":{}}`,
		`{"id":4,"rpc":{"data":"x"}}`,
		`{"push":{"channel":"all","disconnect":{"code":3001,"reason":"shutdown"}}}`,
		`{"push":{"channel":"all","join":{"info":{"client":"c"}}}}`,
		`{"push":{"channel":"all","pub":{"data":{"not":"a string"}}}}`,
		`{"push":{"channel":"all","pub":{"data":"unterminated}}}`,
		`{"push":{"channel":"all","pub":{"data":"x"}}`,
		`{"push":{"channel":"all","pub":{"data":"x"}}}trailing`,
	} {
		_, ok := parsePublication([]byte(line))
		assert.False(t, ok, line)
	}
}

func TestLinesSplitsAFrame(t *testing.T) {
	var got []string
	for l := range lines([]byte("{}\n{\"id\":1}\n\n{\"id\":2}\n")) {
		got = append(got, string(l))
	}
	assert.Equal(t, []string{"{}", `{"id":1}`, `{"id":2}`}, got)
}

func TestAppendJSONStringReplacesInvalidUTF8(t *testing.T) {
	assert.Equal(t, `"a\ufffd\ufffdb"`, string(toASCII(appendJSONString(nil, []byte{'a', 0xff, 0xfe, 'b'}))))
	assert.Equal(t, `"ü\"\\\u000a"`, string(appendJSONString(nil, "ü\"\\\n")))
}

// toASCII spells U+FFFD as \ufffd, so that a test can compare it as text.
func toASCII(b []byte) []byte {
	var out []byte
	for _, r := range string(b) {
		if r == '\uFFFD' {
			out = append(out, `\ufffd`...)
			continue
		}
		out = append(out, string(r)...)
	}
	return out
}

func BenchmarkParsePublication(b *testing.B) {
	line, err := protocol.NewJSONReplyEncoder().Encode(&protocol.Reply{Push: &protocol.Push{
		Channel: "all",
		Pub:     &protocol.Publication{Data: appendJSONString(nil, make1KiB())},
	}})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parsePublication(line); !ok {
			b.Fatal("not a publication")
		}
	}
}

func make1KiB() []byte {
	p := make([]byte, 1024)
	for i := range p {
		p[i] = 'x'
	}
	return p
}
