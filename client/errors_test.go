package client_test

import (
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
)

// kindsHub has a method for each way a call can fail.
type kindsHub struct{}

func (kindsHub) Add(a, b int) int { return a + b }

func (kindsHub) Secret() string { return "never" }

func (kindsHub) Fail() error { return signalr.NewHubError("the hub says no") }

func (kindsHub) Count(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

func (kindsHub) SecretCount(n int) iter.Seq[int] { return kindsHub{}.Count(n) }

// Spam calls each of names on the caller, then "done".
func (kindsHub) Spam(c *signalr.Context, names []string) error {
	for _, n := range names {
		if err := c.Clients().Caller().Send(c, n, 1); err != nil {
			return err
		}
	}
	return c.Clients().Caller().Send(c, "done")
}

var serverErrorKinds = []error{client.ErrMethodNotFound, client.ErrUnauthorized, client.ErrBindingFailed}

// assertKind checks that err is a *ServerError matching want (nil: none
// of the kinds) and no other kind.
func assertKind(t *testing.T, err error, want error, what string) {
	t.Helper()
	var se *client.ServerError
	require.ErrorAs(t, err, &se, what)
	for _, k := range serverErrorKinds {
		assert.Equal(t, k == want, errors.Is(err, k), "%s: %q is %v", what, se.Message, k)
	}
}

func TestServerErrorKinds(t *testing.T) {
	deny := func(*signalr.Context) error { return &signalr.AuthError{Message: "no"} }
	srv := startServer(t, kindsHub{}, nil,
		signalr.WithMethodPolicy("Secret", deny),
		signalr.WithMethodPolicy("SecretCount", deny))
	for _, c := range combos {
		t.Run(c.String(), func(t *testing.T) {
			cl := newClient(t, srv.URL, c)
			start(t, cl)
			ctx := ctxT(t)

			var n int
			require.NoError(t, cl.Invoke(ctx, &n, "Add", 1, 2))
			assert.Equal(t, 3, n)

			assertKind(t, cl.Invoke(ctx, nil, "NoSuchMethod"), client.ErrMethodNotFound, "unknown method")
			assertKind(t, cl.Invoke(ctx, nil, "Secret"), client.ErrUnauthorized, "method policy")
			assertKind(t, cl.Invoke(ctx, &n, "Add", "x", "y"), client.ErrBindingFailed, "wrong types")
			assertKind(t, cl.Invoke(ctx, &n, "Add", 1), client.ErrBindingFailed, "too few arguments")
			assertKind(t, cl.Invoke(ctx, &n, "Add", 1, 2, 3), client.ErrBindingFailed, "too many arguments")
			assertKind(t, cl.Invoke(ctx, nil, "Count", 3), client.ErrBindingFailed, "a streaming method invoked")
			assertKind(t, cl.Invoke(ctx, nil, "Fail"), nil, "the hub's own error")

			streamErr := func(method string, args ...any) error {
				for _, err := range cl.Stream(ctx, method, args...) {
					if err != nil {
						return err
					}
				}
				return nil
			}
			require.NoError(t, streamErr("Count", 2))
			assertKind(t, streamErr("NoSuchStream"), client.ErrMethodNotFound, "unknown stream")
			assertKind(t, streamErr("SecretCount", 2), client.ErrUnauthorized, "stream policy")
			assertKind(t, streamErr("Count", "x"), client.ErrBindingFailed, "stream argument of the wrong type")
			assertKind(t, streamErr("Add", 1, 2), client.ErrBindingFailed, "a non-streaming method streamed")
		})
	}
}

// TestServerErrorKindsOfASPNETCore checks the texts ASP.NET Core SignalR
// sends, which differ from a gosignalr hub's where details are off.
func TestServerErrorKindsOfASPNETCore(t *testing.T) {
	for _, tc := range []struct {
		text string
		want error
	}{
		{"Failed to invoke 'Add' due to an error on the server. HubException: Method does not exist.", client.ErrMethodNotFound},
		{"Failed to invoke 'Add' because user is unauthorized", client.ErrUnauthorized},
		{"Failed to invoke 'Add' due to an error on the server.", client.ErrBindingFailed},
		{"Failed to invoke 'Add' due to an error on the server. InvalidDataException: Invocation provides 1 argument(s) but target expects 2.", client.ErrBindingFailed},
		{"Failed to invoke 'Add' due to an error on the server. JsonReaderException: bad", client.ErrBindingFailed},
		{"The client attempted to invoke the streaming 'Count' method with a non-streaming invocation.", client.ErrBindingFailed},
		{"The client attempted to invoke the non-streaming 'Add' method with a streaming invocation.", client.ErrBindingFailed},
		// Not one of them:
		{"An unexpected error occurred invoking 'Add' on the server.", nil},
		{"An unexpected error occurred invoking 'Add' on the server. HubException: Method does not exist.", nil},
		{"Failed to invoke 'Add': the server is shutting down.", nil},
		{"Failed to invoke 'Add' due to an error on the server.x", nil},
		{"Method does not exist.", nil},
		{"user is unauthorized", nil},
		{"The client attempted to invoke the streaming 'Count' method", nil},
		{"", nil},
	} {
		err := fmt.Errorf("wrapped: %w", &client.ServerError{Message: tc.text})
		for _, k := range serverErrorKinds {
			assert.Equal(t, k == tc.want, errors.Is(err, k), "%q is %v", tc.text, k)
		}
		assert.False(t, errors.Is(err, client.ErrConnectionClosed), tc.text)
	}
	assert.NotErrorIs(t, client.ErrMethodNotFound, client.ErrBindingFailed)
}
