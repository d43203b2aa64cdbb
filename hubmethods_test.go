package signalr_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// dsnHub has methods of standard interfaces that must not reach clients.
type dsnHub struct{ dsn string }

func (h dsnHub) Ping() string                        { return "pong" }
func (h dsnHub) String() string                      { return h.dsn }
func (h dsnHub) GoString() string                    { return h.dsn }
func (h dsnHub) Format(f fmt.State, _ rune)          { fmt.Fprint(f, h.dsn) }
func (h dsnHub) Error() string                       { return h.dsn }
func (h dsnHub) Unwrap() error                       { return nil }
func (h dsnHub) MarshalJSON() ([]byte, error)        { return []byte(`"` + h.dsn + `"`), nil }
func (h dsnHub) UnmarshalJSON([]byte) error          { return nil }
func (h dsnHub) MarshalText() ([]byte, error)        { return []byte(h.dsn), nil }
func (h dsnHub) UnmarshalText([]byte) error          { return nil }
func (h dsnHub) AppendText(b []byte) ([]byte, error) { return append(b, h.dsn...), nil }
func (h dsnHub) MarshalBinary() ([]byte, error)      { return []byte(h.dsn), nil }
func (h dsnHub) UnmarshalBinary([]byte) error        { return nil }
func (h dsnHub) GobEncode() ([]byte, error)          { return []byte(h.dsn), nil }
func (h dsnHub) GobDecode([]byte) error              { return nil }
func (h dsnHub) Close() error                        { return nil }

var dsnHubStandard = []string{"String", "GoString", "Format", "Error", "Unwrap", "MarshalJSON", "UnmarshalJSON",
	"MarshalText", "UnmarshalText", "AppendText", "MarshalBinary", "UnmarshalBinary", "GobEncode", "GobDecode", "Close"}

const secretDSN = "postgres://app:s3cret@db/app"

// stringerArgs are arguments that fit each standard method's parameters,
// so that a call fails only because the method is not served.
func stringerArgs(name string) []any {
	switch name {
	case "Format":
		return []any{nil, 0}
	case "UnmarshalJSON", "UnmarshalText", "AppendText", "UnmarshalBinary", "GobDecode":
		return []any{"AA=="}
	}
	return nil
}

func TestStandardInterfaceMethodsAreNotHubMethods(t *testing.T) {
	_, url := hubtest.StartHub(t, dsnHub{dsn: secretDSN})
	c := hubtest.ConnectJSON(t, url)
	require.Equal(t, "pong", c.Result("Ping"))
	for _, name := range dsnHubStandard {
		msg := c.CallError(name, stringerArgs(name)...)
		require.Equal(t, "Failed to invoke '"+name+"' due to an error on the server. HubException: Method does not exist.", msg, name)
		require.NotContains(t, msg, "s3cret")
	}
}

func TestWithMethodsListsHubMethods(t *testing.T) {
	_, url := hubtest.StartHub(t, dsnHub{dsn: "visible"}, signalr.WithMethods("string"), signalr.WithMethods("Ping"))
	c := hubtest.ConnectJSON(t, url)
	require.Equal(t, "pong", c.Result("Ping"))
	require.Equal(t, "visible", c.Result("String")) // listed, so served
	require.Contains(t, c.CallError("Error"), "Method does not exist.")
}

type plainHub struct{}

func (plainHub) Ping() string { return "pong" }
func (plainHub) Pong() string { return "ping" }

// String with arguments is not fmt.Stringer: it stays a hub method.
func (plainHub) String(n int) string { return fmt.Sprint(n) }

func TestWithHiddenMethods(t *testing.T) {
	_, url := hubtest.StartHub(t, plainHub{}, signalr.WithHiddenMethods("PING"))
	c := hubtest.ConnectJSON(t, url)
	require.Contains(t, c.CallError("Ping"), "Method does not exist.")
	require.Equal(t, "ping", c.Result("Pong"))
	require.Equal(t, "7", c.Result("String", 7))
}

func TestMethodSelectionOfUnknownNamesFailsAtNew(t *testing.T) {
	_, err := signalr.New(plainHub{}, signalr.WithHiddenMethods("Nope"))
	require.ErrorContains(t, err, `WithHiddenMethods: the hub has no method "nope"`)
	_, err = signalr.New(plainHub{}, signalr.WithMethods("Ping", "Nope"))
	require.ErrorContains(t, err, `WithMethods: the hub has no method "nope"`)
}

type PtrHub struct{ n int }

func (h *PtrHub) Count() int { h.n++; return h.n }

type ptrHookHub struct{}

func (ptrHookHub) Ping() string                          { return "pong" }
func (*ptrHookHub) OnConnected(c *signalr.Context) error { return nil }

type ptrStringHub struct{}

func (ptrStringHub) Ping() string    { return "pong" }
func (*ptrStringHub) String() string { return "not served anyway" }

func TestNewRefusesAValueWhoseMethodsNeedAPointer(t *testing.T) {
	_, err := signalr.New(PtrHub{})
	require.ErrorContains(t, err, "pass a pointer: New(&PtrHub{})")
	require.ErrorContains(t, err, "Count")
	_, err = signalr.New(ptrHookHub{}) // the hook would be lost
	require.ErrorContains(t, err, "New(&ptrHookHub{})")

	// A pointer is fine, and so is a value whose only pointer method
	// would not be served.
	_, url := hubtest.StartHub(t, &PtrHub{})
	c := hubtest.ConnectJSON(t, url)
	require.Equal(t, float64(1), c.Result("Count"))
	require.Equal(t, float64(2), c.Result("Count"))
	_, url = hubtest.StartHub(t, ptrStringHub{})
	require.Equal(t, "pong", hubtest.ConnectJSON(t, url).Result("Ping"))
}
