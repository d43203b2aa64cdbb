package hubtest

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// JSONClient wraps RawClient with message-level reading (a frame may hold
// several messages, since the server packs whatever is queued into one
// frame) and numbered invocations.
type JSONClient struct {
	*RawClient
	Pending []map[string]any // messages read but not yet returned
	nextID  int
	connID  string
}

// ConnectJSON dials the hub without negotiating and completes a JSON
// handshake.
func ConnectJSON(t *testing.T, baseURL string) *JSONClient {
	t.Helper()
	return &JSONClient{RawClient: HandshakeRaw(t, baseURL)}
}

// ConnectJSONQuery is ConnectJSON with a query string ("?user=alice",
// "?id=<token>").
func ConnectJSONQuery(t *testing.T, baseURL, query string) *JSONClient {
	t.Helper()
	c := &JSONClient{RawClient: DialRaw(t, baseURL, query)}
	c.SendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.ReadText())
	return c
}

// SplitRecords decodes every record of a JSON-protocol frame.
func SplitRecords(t *testing.T, frame string) []map[string]any {
	t.Helper()
	require.True(t, strings.HasSuffix(frame, "\x1e"), "frame %q does not end with the record separator", frame)
	var out []map[string]any
	for _, rec := range strings.Split(strings.TrimSuffix(frame, "\x1e"), "\x1e") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(rec), &m), "record %q", rec)
		out = append(out, m)
	}
	return out
}

// NextAny returns the next message, Pings included.
func (c *JSONClient) NextAny() map[string]any {
	c.T.Helper()
	for len(c.Pending) == 0 {
		c.Pending = SplitRecords(c.T, c.ReadText())
	}
	m := c.Pending[0]
	c.Pending = c.Pending[1:]
	return m
}

// Next returns the next message that is not a Ping.
func (c *JSONClient) Next() map[string]any {
	c.T.Helper()
	for {
		if m := c.NextAny(); m["type"] != float64(6) {
			return m
		}
	}
}

// SendJSON sends v as one JSON message.
func (c *JSONClient) SendJSON(v any) {
	c.T.Helper()
	b, err := json.Marshal(v)
	require.NoError(c.T, err)
	c.SendText(string(b) + "\x1e")
}

func argList(args []any) []any {
	if args == nil {
		return []any{}
	}
	return args
}

// Invoke sends a blocking invocation and returns its id.
func (c *JSONClient) Invoke(target string, args ...any) string {
	c.T.Helper()
	id := "i" + strconv.Itoa(c.nextID)
	c.nextID++
	c.SendJSON(map[string]any{"type": 1, "invocationId": id, "target": target, "arguments": argList(args)})
	return id
}

// SendNonBlocking sends an invocation without an id (the JS client's send()).
func (c *JSONClient) SendNonBlocking(target string, args ...any) {
	c.T.Helper()
	c.SendJSON(map[string]any{"type": 1, "target": target, "arguments": argList(args)})
}

// Completion requires the next message to be the completion of id.
func (c *JSONClient) Completion(id string) map[string]any {
	c.T.Helper()
	m := c.Next()
	require.Equal(c.T, float64(3), m["type"], "expected the completion of %s, got %v", id, m)
	require.Equal(c.T, id, m["invocationId"], "expected the completion of %s, got %v", id, m)
	return m
}

// Call invokes target and requires the very next message to be its
// Completion.
func (c *JSONClient) Call(target string, args ...any) map[string]any {
	c.T.Helper()
	return c.Completion(c.Invoke(target, args...))
}

// Result calls target and returns its result; an error completion fails.
func (c *JSONClient) Result(target string, args ...any) any {
	c.T.Helper()
	m := c.Call(target, args...)
	require.NotContains(c.T, m, "error", "%s failed: %v", target, m["error"])
	require.Contains(c.T, m, "result", "%s: completion without a result: %v", target, m)
	return m["result"]
}

// CallError calls target and returns the error of its completion.
func (c *JSONClient) CallError(target string, args ...any) string {
	c.T.Helper()
	m := c.Call(target, args...)
	require.NotContains(c.T, m, "result", "%s: expected an error, got %v", target, m)
	msg, ok := m["error"].(string)
	require.True(c.T, ok, "%s: expected an error, got %v", target, m)
	return msg
}

// SentinelMethod is the name of a method that exists on no test hub.
const SentinelMethod = "NoSuchMethodSentinel"

// Sync proves that nothing is waiting for the client: it invokes a method
// that does not exist and requires the very next message to be that
// Invocation's (error) completion. The server keeps per-connection order,
// so anything sent to the client before the invocation arrived would come
// first. Only valid with one invocation at a time (the default).
func (c *JSONClient) Sync() {
	c.T.Helper()
	msg := c.CallError(SentinelMethod)
	require.Contains(c.T, msg, "Method does not exist.")
}

// Invocation requires the next message to be an invocation of target and
// returns its arguments.
func (c *JSONClient) Invocation(target string) []any {
	c.T.Helper()
	m := c.Next()
	require.Equal(c.T, float64(1), m["type"], "expected an invocation of %s, got %v", target, m)
	require.Equal(c.T, target, m["target"], "expected an invocation of %s, got %v", target, m)
	require.NotContains(c.T, m, "invocationId")
	args, ok := m["arguments"].([]any)
	require.True(c.T, ok, "arguments: %v", m["arguments"])
	return args
}

// ID returns the connection id of c, asking the hub's GetConnectionId
// method the first time.
func (c *JSONClient) ID(t *testing.T) string {
	if c.connID == "" {
		c.connID, _ = c.Result("GetConnectionId").(string)
	}
	return c.connID
}

// InvocationJSON is one JSON-protocol invocation message, record
// separator included; an empty id makes it non-blocking.
func InvocationJSON(id, target string, args ...any) string {
	if args == nil {
		args = []any{}
	}
	m := map[string]any{"type": 1, "target": target, "arguments": args}
	if id != "" {
		m["invocationId"] = id
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b) + "\x1e"
}
