package signalr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// stillHealthy checks that a bystander connection is unaffected.
func stillHealthy(t *testing.T, c *hubtest.JSONClient) {
	t.Helper()
	assert.Equal(t, float64(42), c.Result("Add", 40, 2), "a bystander connection was disturbed")
}

// expectCloseMessage requires the server to send a Close message and then
// end the socket with a normal closure; it returns the Close message's
// error text.
func expectCloseMessage(t *testing.T, c *hubtest.RawClient) string {
	t.Helper()
	msg, err := c.ExpectClosed()
	require.NotNil(t, msg, "no Close message before the socket ended (%v)", err)
	require.Error(t, err)
	assert.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "socket end: %v", err)
	text, _ := msg["error"].(string)
	assert.NotContains(t, msg, "allowReconnect", "bad input must not invite a reconnect")
	return text
}

// expectConnectionError is expectCloseMessage for errors in the client's
// input: the text names the failure after the standard prefix.
func expectConnectionError(t *testing.T, c *hubtest.RawClient) string {
	t.Helper()
	text := expectCloseMessage(t, c)
	assert.True(t, strings.HasPrefix(text, "Connection closed with an error."), "Close error %q", text)
	return text
}

func TestMalformedMessagesCloseTheConnection(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	healthy := hubtest.ConnectJSON(t, url)
	for _, tc := range []struct{ name, input string }{
		{"truncated JSON", `{"type":1,"target":` + "\x1e"},
		{"not JSON", "hello\x1e"},
		{"JSON array", "[1,2]\x1e"},
		{"type is a string", `{"type":"1"}` + "\x1e"},
		{"no type", `{"target":"Add","arguments":[1,2]}` + "\x1e"},
		{"invocation without arguments", `{"type":1,"invocationId":"1","target":"Add"}` + "\x1e"},
		{"invocation with an empty target", `{"type":1,"invocationId":"1","target":"","arguments":[]}` + "\x1e"},
		{"numeric invocation id", `{"type":1,"invocationId":1,"target":"Add","arguments":[1,2]}` + "\x1e"},
		{"good message then bad one", `{"type":6}` + "\x1e" + `{"type":` + "\x1e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := hubtest.ConnectJSON(t, url)
			bad.SendText(tc.input)
			text := expectConnectionError(t, bad.RawClient)
			assert.Contains(t, strings.ToLower(text), "invalid", "Close error %q", text)
			stillHealthy(t, healthy)
		})
	}
}

func TestFrameEndingInsideAMessage(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	healthy := hubtest.ConnectJSON(t, url)
	for _, input := range []string{
		`{"type":6}`,
		`{"type":6}` + "\x1e" + `{"type":1,"target":"Add","arguments":[1,2],"invocationId":"x"}`,
	} {
		bad := hubtest.ConnectJSON(t, url)
		bad.SendText(input)
		text := expectConnectionError(t, bad.RawClient)
		assert.Contains(t, text, "the frame ended inside a message")
		stillHealthy(t, healthy)
	}
}

func TestHandshakeErrors(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	healthy := hubtest.ConnectJSON(t, url)
	for _, tc := range []struct{ name, input, reply string }{
		{"unknown protocol", `{"protocol":"nope","version":1}` + "\x1e", `{"error":"The protocol 'nope' is not supported."}` + "\x1e"},
		{"version 3", `{"protocol":"json","version":3}` + "\x1e", `{"error":"The server does not support version 3 of the 'json' protocol."}` + "\x1e"},
		{"messagepack version 3", `{"protocol":"messagepack","version":3}` + "\x1e", `{"error":"The server does not support version 3 of the 'messagepack' protocol."}` + "\x1e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := hubtest.DialRaw(t, url, "")
			bad.SendText(tc.input)
			assert.Equal(t, tc.reply, bad.ReadText())
			msg, err := bad.ExpectClosed()
			assert.Nil(t, msg)
			assert.Error(t, err)
			stillHealthy(t, healthy)
		})
	}
}

// TestHandshakeOlderVersions: like ASP.NET Core, the server accepts every
// protocol version up to its own (signalrcore sends version 0), and the
// connection then works.
func TestHandshakeOlderVersions(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	for _, v := range []string{"0", "-1", "1", "2"} {
		t.Run("json version "+v, func(t *testing.T) {
			c := &hubtest.JSONClient{RawClient: hubtest.DialRaw(t, url, "")}
			c.SendText(`{"protocol":"json","version":` + v + `}` + "\x1e")
			require.Equal(t, "{}\x1e", c.ReadText())
			assert.EqualValues(t, 42, c.Result("Add", 40, 2))
		})
	}
}

func TestMalformedHandshake(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	healthy := hubtest.ConnectJSON(t, url)
	for _, tc := range []struct{ name, input string }{
		{"truncated JSON", `{"protocol":` + "\x1e"},
		{"not JSON", "hello\x1e"},
		{"no protocol", `{"version":1}` + "\x1e"},
		{"no version", `{"protocol":"json"}` + "\x1e"},
		{"version is a string", `{"protocol":"json","version":"1"}` + "\x1e"},
		{"over 4 KiB without a separator", `{"protocol":"json","version":1` + strings.Repeat(" ", 5000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := hubtest.DialRaw(t, url, "")
			bad.SendText(tc.input)
			reply := bad.ReadText()
			require.True(t, strings.HasSuffix(reply, "\x1e"), "reply %q", reply)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(strings.TrimSuffix(reply, "\x1e")), &m), "reply %q", reply)
			assert.NotContains(t, m, "type", "a handshake reply must not have a type")
			assert.NotEmpty(t, m["error"], "reply %q", reply)
			msg, err := bad.ExpectClosed()
			assert.Nil(t, msg)
			assert.Error(t, err)
			stillHealthy(t, healthy)
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithHandshakeTimeout(200*time.Millisecond))
	healthy := hubtest.ConnectJSON(t, url)
	silent := hubtest.DialRaw(t, url, "")

	// A handshake started but never finished: the first fragment of a text
	// frame whose end never comes.
	d := websocket.Dialer{WriteBufferSize: 32}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(url, "http")+"/hub", nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	w, err := ws.NextWriter(websocket.TextMessage)
	require.NoError(t, err)
	_, err = w.Write([]byte(`{"protocol":"json",` + strings.Repeat(" ", 64)))
	require.NoError(t, err) // the buffer is smaller: a fragment went out
	partial := &hubtest.RawClient{T: t, WS: ws}

	for _, c := range []*hubtest.RawClient{silent, partial} {
		assert.Equal(t, `{"error":"Handshake was canceled."}`+"\x1e", c.ReadText())
		msg, err := c.ExpectClosed()
		assert.Nil(t, msg)
		assert.Error(t, err)
	}
	// The healthy connection has lived past the handshake timeout.
	stillHealthy(t, healthy)
}

func TestHandshakeFrameWithoutSeparatorGetsErrorReply(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.DialRaw(t, url, "")
	c.SendText(`{"protocol":"json","version":1}`)
	reply := c.ReadText()
	require.True(t, strings.HasSuffix(reply, "\x1e"), "reply %q", reply)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSuffix(reply, "\x1e")), &m), "reply %q", reply)
	assert.NotEmpty(t, m["error"])
	_, err := c.ExpectClosed()
	assert.Error(t, err)
}

func TestMessageOverMaximumSize(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxReceiveMessageSize(1024))
	healthy := hubtest.ConnectJSON(t, url)
	assert.Equal(t, strings.Repeat("a", 900), healthy.Result("Echo", strings.Repeat("a", 900)), "under the limit")

	bad := hubtest.ConnectJSON(t, url)
	bad.Invoke("Echo", strings.Repeat("a", 2000))
	text := expectConnectionError(t, bad.RawClient)
	assert.Contains(t, text, "exceeds the maximum message size of 1024 bytes")
	stillHealthy(t, healthy)

	// Several messages in one frame are each measured alone.
	frame := ""
	for i := range 4 {
		frame += fmt.Sprintf(`{"type":1,"invocationId":"m%d","target":"Echo","arguments":["%s"]}`, i, strings.Repeat("b", 800)) + "\x1e"
	}
	healthy.SendText(frame)
	for i := range 4 {
		assert.Equal(t, strings.Repeat("b", 800), healthy.Completion(fmt.Sprintf("m%d", i))["result"])
	}
}

// serverListener adjusts the connections a test server accepts: it counts
// the bytes the server reads and can shrink the server's socket send
// buffer, so that a client that does not read backs up into the server's
// outbound queue after a few KiB instead of megabytes.
type serverListener struct {
	net.Listener
	read    *atomic.Int64
	sendBuf int
}

func (l serverListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok && l.sendBuf > 0 {
		if err := tc.SetWriteBuffer(l.sendBuf); err != nil {
			c.Close()
			return nil, err
		}
	}
	return &countingConn{Conn: c, read: l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// startTunedHub is hubtest.StartHub on a server whose connections go through a
// serverListener with the given send buffer size (0: the system's). It
// returns the counter of bytes the server read.
func startTunedHub(t *testing.T, hub any, sendBuf int, opts ...signalr.Option) (*signalr.Hub, string, *atomic.Int64) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := signalr.New(hub, append([]signalr.Option{signalr.WithLogger(logger)}, opts...)...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	srv := httptest.NewUnstartedServer(mux)
	read := new(atomic.Int64)
	srv.Listener = serverListener{Listener: srv.Listener, read: read, sendBuf: sendBuf}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
		srv.Close()
	})
	return h, srv.URL, read
}

func TestHugeFrameIsNotBuffered(t *testing.T) {
	_, url, read := startTunedHub(t, hubtest.Hub{}, 0, signalr.WithMaxReceiveMessageSize(1024))
	healthy := hubtest.ConnectJSON(t, url)
	bad := hubtest.ConnectJSON(t, url)

	const size = 10 << 20
	writeDone := make(chan error, 1)
	go func() {
		// One 10 MiB text frame: the start of an invocation that never ends.
		_ = bad.WS.SetWriteDeadline(time.Now().Add(10 * time.Second))
		w, err := bad.WS.NextWriter(websocket.TextMessage)
		if err != nil {
			writeDone <- err
			return
		}
		_, err = w.Write([]byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":["`))
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for n := 0; err == nil && n < size; n += len(chunk) {
			_, err = w.Write(chunk)
		}
		if err == nil {
			err = w.Close()
		}
		writeDone <- err
	}()

	msg, closeErr := bad.ExpectClosed()
	require.Error(t, closeErr)
	if msg != nil {
		assert.Contains(t, msg["error"], "exceeds the maximum message size of 1024 bytes")
	} else {
		t.Logf("the socket ended without a readable Close message: %v", closeErr)
	}
	select {
	case err := <-writeDone:
		t.Logf("the client's 10 MiB write ended with %v", err)
	case <-time.After(15 * time.Second):
		require.FailNow(t, "the client's write never ended")
	}
	t.Logf("the server read %d bytes in all", read.Load())
	assert.Less(t, read.Load(), int64(1<<20), "the server read far past the message size limit")
	stillHealthy(t, healthy)
}

// TestBinaryFrameOnJSONConnection: the official Java client sends its JSON
// messages in binary WebSocket frames, and ASP.NET Core reads a frame's
// payload whatever its type; the server answers in text frames.
func TestBinaryFrameOnJSONConnection(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.ConnectJSON(t, url)
	c.SendBinary([]byte(`{"type":6}` + "\x1e" +
		`{"type":1,"invocationId":"b1","target":"Add","arguments":[40,2]}` + "\x1e"))
	typ, b, err := c.ReadFrame()
	for err == nil && string(b) == `{"type":6}`+"\x1e" { // a keep-alive
		typ, b, err = c.ReadFrame()
	}
	require.NoError(t, err)
	assert.Equal(t, websocket.TextMessage, typ, "a JSON connection's frames are text")
	assert.JSONEq(t, `{"type":3,"invocationId":"b1","result":42}`, strings.TrimSuffix(string(b), "\x1e"))
	// Text and binary frames mix on one connection.
	assert.Equal(t, float64(5), c.Result("Add", 2, 3))
	c.SendBinary([]byte(`{"type":1,"invocationId":"b2","target":"Echo","arguments":["bin ✓"]}` + "\x1e"))
	assert.Equal(t, "bin ✓", c.Completion("b2")["result"])
}

func TestUnknownMessageTypesAndFieldsAreIgnored(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.ConnectJSON(t, url)
	c.SendText(`{"type":99}` + "\x1e")
	c.SendText(`{"type":99,"invocationId":"x","target":"Add","arguments":[1,2],"whatever":{"a":[1]}}` + "\x1e" + `{"type":12}` + "\x1e")
	c.SendText(`{"type":1,"invocationId":"f","target":"Add","arguments":[1,2],"extra":{"a":1},"headers":{"h":"v"}}` + "\x1e")
	assert.Equal(t, float64(3), c.Completion("f")["result"])
	// Completions, stream items, cancellations, acks and sequences the
	// server does not expect are dropped too.
	c.SendText(`{"type":3,"invocationId":"zz","result":1}` + "\x1e" +
		`{"type":2,"invocationId":"zz","item":1}` + "\x1e" +
		`{"type":5,"invocationId":"zz"}` + "\x1e" +
		`{"type":8,"sequenceId":3}` + "\x1e")
	assert.Equal(t, float64(42), c.Result("Add", 40, 2))
}

func TestClientCloseMessageEndsConnection(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{})
	healthy := hubtest.ConnectJSON(t, url)
	for _, input := range []string{`{"type":7}`, `{"type":7,"error":"client says bye","allowReconnect":true}`} {
		c := hubtest.ConnectJSON(t, url)
		c.SendText(input + "\x1e")
		msg, err := c.ExpectClosed()
		assert.Nil(t, msg, "the server must not answer a Close with a Close")
		assert.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "socket end: %v", err)
		stillHealthy(t, healthy)
	}
}

func TestClientTimeoutAfterFirstPing(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithClientTimeout(300*time.Millisecond))
	healthy := hubtest.ConnectJSON(t, url) // never pings, so never times out
	c := hubtest.ConnectJSON(t, url)
	c.SendText(`{"type":6}` + "\x1e")
	text := expectConnectionError(t, c.RawClient)
	assert.Contains(t, text, "timeout")
	stillHealthy(t, healthy)
}

func TestClientTimeoutNeedsAPing(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithClientTimeout(300*time.Millisecond))
	silent := hubtest.ConnectJSON(t, url)
	pinging := hubtest.ConnectJSON(t, url)
	// Over three timeouts: the silent client never pinged, so its clock
	// never started; the other one pings often enough.
	for range 10 {
		pinging.SendText(`{"type":6}` + "\x1e")
		time.Sleep(100 * time.Millisecond)
	}
	assert.Equal(t, float64(3), silent.Result("Add", 1, 2))
	assert.Equal(t, float64(3), pinging.Result("Add", 1, 2))
}

func TestKeepAlivePings(t *testing.T) {
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithKeepAliveInterval(100*time.Millisecond))
	c := hubtest.ConnectJSON(t, url)
	for range 3 {
		assert.Equal(t, `{"type":6}`+"\x1e", c.ReadText())
	}
	assert.Equal(t, float64(3), c.Result("Add", 1, 2))
}

// readTicks reads "tick" invocations numbered from 0 until want have
// arrived, reporting progress; it runs in its own goroutine.
func readTicks(ws *websocket.Conn, want int, progress chan<- int) error {
	next := 0
	for next < want {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("after %d ticks: %w", next, err)
		}
		for _, rec := range strings.Split(strings.TrimSuffix(string(b), "\x1e"), "\x1e") {
			var m struct {
				Type      int    `json:"type"`
				Target    string `json:"target"`
				Arguments []any  `json:"arguments"`
			}
			if err := json.Unmarshal([]byte(rec), &m); err != nil {
				return fmt.Errorf("record %q: %w", rec, err)
			}
			if m.Type == 6 {
				continue
			}
			if m.Type != 1 || m.Target != "tick" || len(m.Arguments) != 2 || m.Arguments[0] != float64(next) {
				return fmt.Errorf("expected tick %d, got %s", next, rec)
			}
			next++
			progress <- next
		}
	}
	return nil
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	h, url, _ := startTunedHub(t, hubtest.Hub{}, 16<<10, signalr.WithMaxOutboundBuffer(64<<10))
	slow := hubtest.ConnectJSON(t, url)
	fast := hubtest.ConnectJSON(t, url)
	// The handshake reply is written before the connection joins the hub's
	// registry; a round trip makes sure both are reachable by broadcasts.
	slow.Sync()
	fast.Sync()

	// With a 16 KiB socket send buffer on the server, the slow client's
	// kernel buffers hold a few hundred KiB at most: 1 MiB must overflow.
	const total = 1024
	payload := strings.Repeat("x", 1024)
	progress := make(chan int, total)
	readDone := make(chan error, 1)
	go func() { readDone <- readTicks(fast.WS, total, progress) }()

	// The broadcaster waits for the fast reader every 32 messages (well
	// under the 64 KiB limit), never for the slow one, which reads nothing.
	sendDone := make(chan error, 1)
	go func() {
		ctx := context.Background()
		got := 0
		for i := range total {
			if err := h.Clients().All().Send(ctx, "tick", i, payload); err != nil {
				sendDone <- fmt.Errorf("send %d: %w", i, err)
				return
			}
			if (i+1)%32 == 0 {
				for got < i+1 {
					select {
					case got = <-progress:
					case <-time.After(10 * time.Second):
						sendDone <- fmt.Errorf("the fast reader stalled at %d of %d", got, i+1)
						return
					}
				}
			}
		}
		sendDone <- nil
	}()
	select {
	case err := <-sendDone:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		require.FailNow(t, "the broadcaster blocked")
	}
	select {
	case err := <-readDone:
		require.NoError(t, err, "the reading client must receive every message in order")
	case <-time.After(20 * time.Second):
		require.FailNow(t, "the fast reader did not finish")
	}
	stillHealthy(t, fast)

	// The slow client finally reads: an unbroken prefix of the ticks, then
	// the end of the connection.
	ticks := 0
	var closeMsg map[string]any
	var endErr error
	for endErr == nil {
		var b []byte
		_, b, endErr = slow.ReadFrame()
		for _, rec := range strings.Split(strings.TrimSuffix(string(b), "\x1e"), "\x1e") {
			var m map[string]any
			if rec == "" || json.Unmarshal([]byte(rec), &m) != nil {
				continue
			}
			switch m["type"] {
			case float64(1):
				require.Equal(t, float64(ticks), m["arguments"].([]any)[0], "the slow client's ticks are out of order")
				ticks++
			case float64(7):
				closeMsg = m
			}
		}
	}
	var ne net.Error
	require.False(t, errors.As(endErr, &ne) && ne.Timeout(), "the slow connection was never closed")
	t.Logf("the slow client got %d of %d ticks, then %v (Close message: %v)", ticks, total, endErr, closeMsg != nil)
	assert.Less(t, ticks, total, "the slow client was never cut off")
	if closeMsg != nil {
		assert.Contains(t, closeMsg["error"], "did not read its messages fast enough")
	}
}
