package signalr_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// Argument binding failures read as ASP.NET Core's: the details (never the
// Go decoder's text) only with detailed errors.
func TestBindingErrorText(t *testing.T) {
	const bind = "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked."
	for _, detailed := range []bool{false, true} {
		var opts []signalr.Option
		if detailed {
			opts = append(opts, signalr.WithDetailedErrors(true))
		}
		_, url := hubtest.StartHub(t, dispatchHub{}, opts...)
		c := hubtest.ConnectJSON(t, url)
		for _, tc := range []struct {
			args   []any
			detail string
		}{
			{[]any{"x", 2}, "InvalidDataException: " + bind},
			{[]any{1, 2.5}, "InvalidDataException: " + bind},
			{[]any{1}, "InvalidDataException: Invocation provides 1 argument(s) but target expects 2."},
			{[]any{1, 2, 3}, "InvalidDataException: Invocation provides 3 argument(s) but target expects 2."},
		} {
			want := "Failed to invoke 'Add' due to an error on the server."
			if detailed {
				want += " " + tc.detail
			}
			msg := c.CallError("Add", tc.args...)
			require.Equal(t, want, msg, "detailed=%v args=%v", detailed, tc.args)
			require.NotContains(t, msg, "json:")
			require.NotContains(t, msg, "Go value")
		}
		// A wrong number of upload streams is a HubException: always told.
		c.SendText(`{"type":1,"invocationId":"s","target":"Add","arguments":[1,2],"streamIds":["a"]}` + "\x1e")
		require.Equal(t, "An unexpected error occurred invoking 'Add' on the server. HubException: Client sent 1 stream(s), Hub method expects 0.", c.Completion("s")["error"])
	}
}
