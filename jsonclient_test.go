package signalr_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonClient wraps rawClient with message-level reading (a frame may hold
// several messages, since the server packs whatever is queued into one
// frame) and numbered invocations.
type jsonClient struct {
	*rawClient
	pending []map[string]any
	nextID  int
	connID  string
}

// connectJSON dials the hub without negotiating and completes a JSON
// handshake.
func connectJSON(t *testing.T, baseURL string) *jsonClient {
	t.Helper()
	return &jsonClient{rawClient: handshakeRaw(t, baseURL)}
}

// connectJSONQuery is connectJSON with a query string ("?user=alice",
// "?id=<token>").
func connectJSONQuery(t *testing.T, baseURL, query string) *jsonClient {
	t.Helper()
	c := &jsonClient{rawClient: dialRaw(t, baseURL, query)}
	c.sendText(`{"protocol":"json","version":1}` + "\x1e")
	require.Equal(t, "{}\x1e", c.readText())
	return c
}

// splitRecords decodes every record of a JSON-protocol frame.
func splitRecords(t *testing.T, frame string) []map[string]any {
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

// nextAny returns the next message, Pings included.
func (c *jsonClient) nextAny() map[string]any {
	c.t.Helper()
	for len(c.pending) == 0 {
		c.pending = splitRecords(c.t, c.readText())
	}
	m := c.pending[0]
	c.pending = c.pending[1:]
	return m
}

// next returns the next message that is not a Ping.
func (c *jsonClient) next() map[string]any {
	c.t.Helper()
	for {
		if m := c.nextAny(); m["type"] != float64(6) {
			return m
		}
	}
}

func (c *jsonClient) sendJSON(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(c.t, err)
	c.sendText(string(b) + "\x1e")
}

func argList(args []any) []any {
	if args == nil {
		return []any{}
	}
	return args
}

// invoke sends a blocking invocation and returns its id.
func (c *jsonClient) invoke(target string, args ...any) string {
	c.t.Helper()
	id := "i" + strconv.Itoa(c.nextID)
	c.nextID++
	c.sendJSON(map[string]any{"type": 1, "invocationId": id, "target": target, "arguments": argList(args)})
	return id
}

// sendNonBlocking sends an invocation without an id (the JS client's send()).
func (c *jsonClient) sendNonBlocking(target string, args ...any) {
	c.t.Helper()
	c.sendJSON(map[string]any{"type": 1, "target": target, "arguments": argList(args)})
}

// completion requires the next message to be the completion of id.
func (c *jsonClient) completion(id string) map[string]any {
	c.t.Helper()
	m := c.next()
	require.Equal(c.t, float64(3), m["type"], "expected the completion of %s, got %v", id, m)
	require.Equal(c.t, id, m["invocationId"], "expected the completion of %s, got %v", id, m)
	return m
}

// call invokes target and requires the very next message to be its
// completion.
func (c *jsonClient) call(target string, args ...any) map[string]any {
	c.t.Helper()
	return c.completion(c.invoke(target, args...))
}

// result calls target and returns its result; an error completion fails.
func (c *jsonClient) result(target string, args ...any) any {
	c.t.Helper()
	m := c.call(target, args...)
	require.NotContains(c.t, m, "error", "%s failed: %v", target, m["error"])
	require.Contains(c.t, m, "result", "%s: completion without a result: %v", target, m)
	return m["result"]
}

// callError calls target and returns the error of its completion.
func (c *jsonClient) callError(target string, args ...any) string {
	c.t.Helper()
	m := c.call(target, args...)
	require.NotContains(c.t, m, "result", "%s: expected an error, got %v", target, m)
	msg, ok := m["error"].(string)
	require.True(c.t, ok, "%s: expected an error, got %v", target, m)
	return msg
}

// sentinelMethod exists on no test hub.
const sentinelMethod = "NoSuchMethodSentinel"

// sync proves that nothing is waiting for the client: it invokes a method
// that does not exist and requires the very next message to be that
// invocation's (error) completion. The server keeps per-connection order,
// so anything sent to the client before the invocation arrived would come
// first. Only valid with one invocation at a time (the default).
func (c *jsonClient) sync() {
	c.t.Helper()
	msg := c.callError(sentinelMethod)
	require.Contains(c.t, msg, "Method does not exist.")
}

// invocation requires the next message to be an invocation of target and
// returns its arguments.
func (c *jsonClient) invocation(target string) []any {
	c.t.Helper()
	m := c.next()
	require.Equal(c.t, float64(1), m["type"], "expected an invocation of %s, got %v", target, m)
	require.Equal(c.t, target, m["target"], "expected an invocation of %s, got %v", target, m)
	require.NotContains(c.t, m, "invocationId")
	args, ok := m["arguments"].([]any)
	require.True(c.t, ok, "arguments: %v", m["arguments"])
	return args
}
