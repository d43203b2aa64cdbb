package client_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/client"
)

// TestCombos runs every kind of call over every transport and protocol
// the server offers.
func TestCombos(t *testing.T) {
	for _, cb := range combos {
		t.Run(cb.String(), func(t *testing.T) {
			h := newTestHub()
			srv := startServer(t, h, nil)
			cl := newClient(t, srv.URL, cb)

			received := make(chan string, 4)
			require.NoError(t, cl.On("receive", func(msg string) { received <- msg }))
			type notified struct {
				name string
				n    int
				p    Point
			}
			notes := make(chan notified, 4)
			require.NoError(t, client.On3(cl, "Notified", func(name string, n int, p Point) { notes <- notified{name, n, p} }))
			require.NoError(t, client.Handle1(cl, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil }))
			require.NoError(t, cl.On("point", func(ctx context.Context, name string) (Point, error) {
				if name == "bad" {
					return Point{}, errors.New("no such point")
				}
				return Point{X: 1, Y: 2, Name: name}, ctx.Err()
			}))

			require.Equal(t, client.Disconnected, cl.State())
			start(t, cl)
			require.Equal(t, client.Connected, cl.State())
			ctx := ctxT(t)

			t.Run("invoke", func(t *testing.T) {
				var sum int
				require.NoError(t, cl.Invoke(ctx, &sum, "Add", 40, 2))
				assert.Equal(t, 42, sum)

				var p Point
				require.NoError(t, cl.Invoke(ctx, &p, "Mirror", Point{X: 3, Y: 4, Name: "m"}))
				assert.Equal(t, Point{X: 4, Y: 3, Name: "m"}, p)

				require.NoError(t, cl.Invoke(ctx, nil, "Echo", "ignored result"))
				s := "untouched"
				require.NoError(t, cl.Invoke(ctx, &s, "Nothing"))
				assert.Equal(t, "untouched", s, "a void completion leaves the result alone")

				var id string
				require.NoError(t, cl.Invoke(ctx, &id, "ID"))
				assert.Equal(t, cl.ConnectionID(), id)
				assert.NotEmpty(t, id)
			})

			t.Run("errors", func(t *testing.T) {
				err := cl.Invoke(ctx, nil, "Fail", "bad input")
				var se *client.ServerError
				require.ErrorAs(t, err, &se)
				assert.Contains(t, se.Message, "bad input")

				err = cl.Invoke(ctx, nil, "NoSuchMethod")
				require.ErrorAs(t, err, &se)
				assert.Contains(t, se.Message, "NoSuchMethod")

				var n int
				err = cl.Invoke(ctx, &n, "Echo", "not a number")
				require.Error(t, err)
				assert.Contains(t, err.Error(), "decoding the result of Echo")

				err = cl.Send(ctx, "Echo", func() {})
				require.Error(t, err, "a func is no argument")
			})

			t.Run("send and handlers", func(t *testing.T) {
				require.NoError(t, cl.Send(ctx, "Broadcast", "hello"))
				assert.Equal(t, "hello", recv(t, received, "receive"))

				require.NoError(t, cl.Send(ctx, "Notify", "n", 7, Point{X: 1, Y: 2, Name: "p"}))
				assert.Equal(t, notified{"n", 7, Point{X: 1, Y: 2, Name: "p"}}, recv(t, notes, "notified"))
			})

			t.Run("client results", func(t *testing.T) {
				var n int
				require.NoError(t, cl.Invoke(ctx, &n, "AskDouble", 21))
				assert.Equal(t, 42, n)

				var p Point
				require.NoError(t, cl.Invoke(ctx, &p, "AskPoint", "q"))
				assert.Equal(t, Point{X: 1, Y: 2, Name: "q"}, p)

				err := cl.Invoke(ctx, &p, "AskPoint", "bad")
				var se *client.ServerError
				require.ErrorAs(t, err, &se)
				assert.Contains(t, se.Message, "no such point", "the handler's error reaches the server")

				var msg string
				require.NoError(t, cl.Invoke(ctx, &msg, "AskMissing"))
				assert.Equal(t, "Client didn't provide a result.", msg)
			})

			t.Run("streams", func(t *testing.T) {
				var got []int
				for n, err := range client.Stream[int](ctx, cl, "Counter", 5) {
					require.NoError(t, err)
					got = append(got, n)
				}
				assert.Equal(t, []int{1, 2, 3, 4, 5}, got)

				var points []Point
				for p, err := range client.Stream[Point](ctx, cl, "Points", 3) {
					require.NoError(t, err)
					points = append(points, p)
				}
				assert.Equal(t, []Point{{0, 0, "p"}, {1, -1, "p"}, {2, -2, "p"}}, points)

				var raw []string
				for v, err := range cl.Stream(ctx, "Counter", 2) {
					require.NoError(t, err)
					var n int
					require.NoError(t, v.Decode(&n))
					raw = append(raw, strings.Repeat("x", n))
				}
				assert.Equal(t, []string{"x", "xx"}, raw)

				got = nil
				var last error
				for n, err := range client.Stream[int](ctx, cl, "FailAfter", 2) {
					if err != nil {
						last = err
						break
					}
					got = append(got, n)
				}
				assert.Equal(t, []int{1, 2}, got)
				var se *client.ServerError
				require.ErrorAs(t, last, &se)
				assert.Contains(t, se.Message, "stream broke after 2")
			})

			t.Run("stream cancel", func(t *testing.T) {
				// Leaving the loop cancels the stream on the server.
				n := 0
				for _, err := range client.Stream[int](ctx, cl, "Infinite", "break") {
					require.NoError(t, err)
					if n++; n == 3 {
						break
					}
				}
				assert.Equal(t, "break", recv(t, h.canceled, "the server to stop the stream"))

				// So does the end of the context.
				sctx, cancel := context.WithCancel(ctx)
				defer cancel()
				n = 0
				var last error
				for _, err := range client.Stream[int](sctx, cl, "Infinite", "ctx") {
					if err != nil {
						last = err
						break
					}
					if n++; n == 3 {
						cancel()
					}
				}
				require.ErrorIs(t, last, context.Canceled)
				assert.Equal(t, "ctx", recv(t, h.canceled, "the server to stop the stream"))

				// The connection is still fine.
				var sum int
				require.NoError(t, cl.Invoke(ctx, &sum, "Add", 1, 2))
				assert.Equal(t, 3, sum)
			})

			t.Run("uploads", func(t *testing.T) {
				ch := make(chan int)
				go func() {
					defer close(ch)
					for i := 1; i <= 4; i++ {
						ch <- i
					}
				}()
				var sum int
				require.NoError(t, cl.Invoke(ctx, &sum, "Sum", (<-chan int)(ch)))
				assert.Equal(t, 10, sum)

				var words []string
				require.NoError(t, cl.Invoke(ctx, &words, "Collect", iter.Seq2[string, error](func(yield func(string, error) bool) {
					_ = yield("a", nil) && yield("b", nil)
				})))
				assert.Equal(t, []string{"a", "b"}, words)
				assert.Equal(t, "complete", recv(t, h.uploads, "the upload's end"))

				require.NoError(t, cl.Invoke(ctx, &words, "Collect", iter.Seq2[string, error](func(yield func(string, error) bool) {
					_ = yield("a", nil) && yield("", errors.New("source failed"))
				})))
				assert.Equal(t, []string{"a"}, words)
				assert.Equal(t, "error: source failed", recv(t, h.uploads, "the upload's end"))

				// Both ways at once: an upload into a stream.
				var scaled []int
				for n, err := range client.Stream[int](ctx, cl, "Scale", 10, slices.Values([]int{1, 2, 3})) {
					require.NoError(t, err)
					scaled = append(scaled, n)
				}
				assert.Equal(t, []int{10, 20, 30}, scaled)

				// Send starts an upload too.
				require.NoError(t, cl.Send(ctx, "Collect", iter.Seq2[string, error](func(yield func(string, error) bool) {
					yield("x", nil)
				})))
				assert.Equal(t, "complete", recv(t, h.uploads, "the upload's end"))
			})

			t.Run("concurrent calls", func(t *testing.T) {
				errs := make(chan error, 20)
				for i := range 20 {
					go func() {
						var r int
						err := cl.Invoke(ctx, &r, "Add", i, i)
						if err == nil && r != 2*i {
							err = errors.New("wrong sum")
						}
						errs <- err
					}()
				}
				for range 20 {
					require.NoError(t, recv(t, errs, "an invocation"))
				}
			})

			stopCtx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			require.NoError(t, cl.Stop(stopCtx))
			assert.Equal(t, client.Disconnected, cl.State())
			assert.Empty(t, cl.ConnectionID())
			require.ErrorIs(t, cl.Invoke(ctx, nil, "Add", 1, 2), client.ErrNotConnected)
		})
	}
}
