package signalr_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// Hostile input over raw WebSockets: each case gets a clear answer, the
// process stays up, and a bystander connection keeps working.

func msgpackClient(t *testing.T, url string) *hubtest.RawClient {
	t.Helper()
	c := hubtest.DialRaw(t, url, "")
	c.SendText(`{"protocol":"messagepack","version":1}` + "\x1e")
	typ, b, err := c.ReadFrame()
	require.NoError(t, err)
	require.Equal(t, websocket.BinaryMessage, typ, "the msgpack handshake reply is binary")
	require.Equal(t, "{}\x1e", string(b))
	return c
}

func TestHostileMessagePackFrames(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxReceiveMessageSize(4096))
	bystander := hubtest.ConnectJSON(t, url)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"declared length 2^31-1", []byte{0xff, 0xff, 0xff, 0xff, 0x07, 0x95}, "exceeds the maximum message size"},
		{"six-byte length", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, "invalid"},
		{"truncated body", []byte{0x0c, 0x95, 0x01, 0x80}, "frame ended inside a message"},
		{"not an array", []byte{0x02, 0xa1, 0x78}, "invalid"},
		{"array claiming a billion elements", []byte{0x06, 0xdd, 0x3b, 0x9a, 0xca, 0x00, 0x01}, "invalid"},
		{"target not a string", []byte{0x06, 0x95, 0x01, 0x80, 0xc0, 0x2a, 0x90}, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := msgpackClient(t, url)
			c.SendBinary(tc.frame)
			reason := c.ExpectCloseReason()
			assert.Contains(t, reason, tc.want)
			assert.Contains(t, reason, "Connection closed with an error.")
			assert.Equal(t, float64(3), bystander.Result("Add", 1, 2), "the bystander is unaffected")
		})
	}
}

func TestHostileJSON(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxReceiveMessageSize(1<<20))
	bystander := hubtest.ConnectJSON(t, url)
	deep := `{"type":1,"invocationId":"1","target":"Echo","arguments":[` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `]}` + "\x1e"
	for _, tc := range []struct {
		name, frame, want string
	}{
		{"nesting 20000 deep", deep, "invalid"},
		{"invalid UTF-8 in the target", "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Ec\xffho\",\"arguments\":[\"x\"]}\x1e", "invalid UTF-8 in 'target'"}, // refused, as ASP.NET Core refuses it
		{"a number where the id must be a string", `{"type":1,"invocationId":7,"target":"Echo","arguments":["x"]}` + "\x1e", "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hubtest.HandshakeRaw(t, url)
			c.SendText(tc.frame)
			_, b, err := c.ReadFrame()
			if err == nil && strings.Contains(string(b), `"type":3`) {
				assert.Contains(t, string(b), tc.want, "an error completion")
			} else {
				reason := string(b) + c.ExpectCloseReason()
				assert.Contains(t, reason, tc.want)
			}
			assert.Equal(t, float64(3), bystander.Result("Add", 1, 2))
		})
	}
}

func TestPostsToOtherTokensAndFloods(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxPendingNegotiations(50), signalr.WithMaxPendingNegotiationsPerAddress(50))
	// A guessed or stolen-looking token gets 404 on every transport request.
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(m, url+"/hub?id=AAAAAAAAAAAAAAAAAAAAAA", strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, m)
	}
	// A flood of negotiations is capped: the pending tokens never exceed
	// the limit, later ones get 503 until the old ones expire or are used.
	codes := map[int]int{}
	for range 200 {
		resp, err := http.Post(url+"/hub/negotiate?negotiateVersion=1", "", nil)
		require.NoError(t, err)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	assert.Equal(t, 50, codes[http.StatusOK])
	assert.Equal(t, 150, codes[http.StatusServiceUnavailable])
}

// FuzzNegotiateQuery feeds arbitrary query strings and methods to
// negotiate: every answer is one of the documented statuses, and a 200 is
// a well-formed negotiate response.
func FuzzNegotiateQuery(f *testing.F) {
	for _, seed := range []string{"negotiateVersion=1", "", "negotiateVersion=0", "negotiateVersion=99999999999999999999",
		"negotiateVersion=-1&useStatefulReconnect=true", "negotiateVersion=%zz", "id=x&id=y", strings.Repeat("a=b&", 100)} {
		f.Add(seed, "POST")
	}
	f.Add("negotiateVersion=1", "GET")
	h, err := signalr.New(hubtest.Hub{}, signalr.WithStatefulReconnect(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, method string) {
		if method != "POST" && method != "GET" && method != "PUT" {
			method = "POST"
		}
		req := httptest.NewRequest(method, "/hub/negotiate", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			body := rec.Body.String()
			if !strings.Contains(body, `"connectionId":"`) || !strings.Contains(body, `"negotiateVersion":`) {
				t.Fatalf("200 with %q", body)
			}
		case http.StatusMethodNotAllowed, http.StatusServiceUnavailable:
		case http.StatusTooManyRequests:
			// The hub is shared by every input: negotiations never used
			// pile up until the per-address cap refuses more, as it must.
		case http.StatusBadRequest: // version 0, refused by default
			if !strings.Contains(rec.Body.String(), "version '0'") {
				t.Fatalf("400 with %q", rec.Body.String())
			}
		default:
			t.Fatalf("status %d for %q %q", rec.Code, method, query)
		}
	})
}
