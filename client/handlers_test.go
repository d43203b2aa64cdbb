package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/protocol"
)

func TestOnRejectsBadHandlers(t *testing.T) {
	cl, err := client.New("http://127.0.0.1:1/hub")
	require.NoError(t, err)
	for name, h := range map[string]any{
		"not a func":        42,
		"nil func":          (func())(nil),
		"variadic":          func(...int) {},
		"channel param":     func(chan int) {},
		"func param":        func(func()) {},
		"interface param":   func(error) {},
		"three results":     func() (int, int, error) { return 0, 0, nil },
		"two values":        func() (int, int) { return 0, 0 },
		"nil":               nil,
		"context not first": func(int, context.Context) {},
	} {
		assert.Error(t, cl.On("m", h), name)
	}
	for name, h := range map[string]any{
		"no args":         func() {},
		"context":         func(context.Context, string) {},
		"any param":       func(any, map[string]any, []Point, *Point) {},
		"raw value":       func(client.RawValue) {},
		"error only":      func(int) error { return nil },
		"value":           func(int) int { return 0 },
		"value and error": func(context.Context) (Point, error) { return Point{}, nil },
	} {
		assert.NoError(t, cl.On("m", h), name)
	}
	assert.Error(t, client.On1[int](cl, "m", nil))
	assert.Error(t, client.Handle1[int, int](cl, "m", nil))
}

// TestClientResultRules checks how handlers answer the server, as the
// official client does.
func TestClientResultRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		register func(cl *client.Client)
		want     int    // the answer, when ok
		errText  string // part of the server's error otherwise
	}{
		{"names match case-insensitively", func(cl *client.Client) {
			require.NoError(t, cl.On("DOUBLE", func(n int) int { return n * 2 }))
		}, 42, ""},
		{"error only, nil", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(int) error { return nil }))
		}, 0, ""}, // answers null, decoded as 0
		{"error only, failing", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(int) error { return errors.New("refused") }))
		}, 0, "refused"},
		{"no value", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(int) {}))
		}, 0, "Client didn't provide a result."},
		{"several values", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(n int) int { return n }))
			require.NoError(t, client.Handle1(cl, "double", func(_ context.Context, n int) (int, error) { return n, nil }))
		}, 0, "Client provided multiple results."},
		{"one value among handlers", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(int) {}))
			require.NoError(t, cl.On("double", func(n int) (int, error) { return 2 * n, nil }))
		}, 42, ""},
		{"panic", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(int) int { panic("boom") }))
		}, 0, "handler panicked: boom"},
		{"wrong arity", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(a, b int) int { return a + b }))
		}, 0, "takes 2 arguments, the server sent 1"},
		{"wrong type", func(cl *client.Client) {
			require.NoError(t, client.Handle1(cl, "double", func(_ context.Context, s []string) (int, error) { return len(s), nil }))
		}, 0, "argument 0"},
		{"raw value", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(v client.RawValue) (int, error) {
				var n int
				err := v.Decode(&n)
				return 2 * n, err
			}))
		}, 42, ""},
		{"removed", func(cl *client.Client) {
			require.NoError(t, cl.On("double", func(n int) int { return n }))
			cl.Off("Double")
		}, 0, "Client didn't provide a result."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, newTestHub(), nil)
			cl := newClient(t, srv.URL, combos[1])
			tc.register(cl)
			start(t, cl)
			var n int
			err := cl.Invoke(ctxT(t), &n, "AskDouble", 21)
			if tc.errText == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.want, n)
				return
			}
			var se *client.ServerError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, se.Message, tc.errText)
		})
	}
}

// A handler may call the server; handlers run in arrival order.
func TestHandlerCallsServer(t *testing.T) {
	for _, cb := range []combo{combos[0], combos[3]} {
		t.Run(cb.String(), func(t *testing.T) {
			srv := startServer(t, newTestHub(), nil)
			cl := newClient(t, srv.URL, cb)
			got := make(chan string, 10)
			require.NoError(t, cl.On("receive", func(ctx context.Context, msg string) error {
				var echo string
				err := cl.Invoke(ctx, &echo, "Echo", msg+"!")
				got <- echo
				return err
			}))
			start(t, cl)
			for _, m := range []string{"a", "b", "c"} {
				require.NoError(t, cl.Send(ctxT(t), "Broadcast", m))
			}
			for _, want := range []string{"a!", "b!", "c!"} {
				assert.Equal(t, want, recv(t, got, want))
			}
		})
	}
}

func TestRawValue(t *testing.T) {
	var v client.RawValue
	var n int
	require.Error(t, v.Decode(&n), "an empty RawValue")

	srv := startServer(t, newTestHub(), nil)
	for _, p := range []protocol.HubProtocol{protocol.JSON{}, protocol.MessagePack{}} {
		cl := newClient(t, srv.URL, combo{"WebSockets", p})
		start(t, cl)
		for item, err := range client.Stream[client.RawValue](ctxT(t), cl, "Points", 1) {
			require.NoError(t, err)
			var pt Point
			require.NoError(t, item.Decode(&pt))
			assert.Equal(t, Point{Name: "p"}, pt)
			assert.NotEmpty(t, item.Bytes())
		}
	}
}
