package signalr_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// errText names an outcome for comparison: "nil" or the error's text.
func errText(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// exerciseContext calls every method of c, and of the values it returns,
// and reports each outcome by name. Sends go to the "fromPolicy" method.
// Abort and CloseConnection are left to the caller.
func exerciseContext(c *signalr.Context, answer func()) map[string]string {
	out := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, hasDeadline := c.Deadline()
	out["Deadline"] = fmt.Sprint(hasDeadline)
	out["Done"] = fmt.Sprint(c.Done() != nil)
	out["Err"] = errText(c.Err())
	out["Value"] = fmt.Sprint(c.Value(struct{}{}))
	out["ConnectionIDEmpty"] = fmt.Sprint(c.ConnectionID() == "")
	out["UserID"] = c.UserID()
	out["Identity"] = c.Identity().UserID
	out["Request"] = c.Request().URL.Query().Get("probe")
	c.Items().Store("k", "v")
	v, _ := c.Items().Load("k")
	out["Items"] = fmt.Sprint(v)

	cl := c.Clients()
	out["Caller.Send"] = errText(cl.Caller().Send(ctx, "fromPolicy", "Caller"))
	if answer != nil {
		go answer()
	}
	var got string
	out["Caller.Invoke"] = errText(cl.Caller().Invoke(ctx, &got, "askPolicy"))
	out["Caller.Invoke.result"] = got
	out["All"] = errText(cl.All().Send(ctx, "fromPolicy", "All"))
	out["AllExcept"] = errText(cl.AllExcept("nobody").Send(ctx, "fromPolicy", "AllExcept"))
	out["Others"] = errText(cl.Others().Send(ctx, "fromPolicy", "Others"))
	out["OthersInGroup"] = errText(cl.OthersInGroup("g").Send(ctx, "fromPolicy", "OthersInGroup"))
	out["Client"] = errText(cl.Client("nobody").Send(ctx, "fromPolicy", "Client"))
	out["Client.Invoke"] = errText(cl.Client("nobody").Invoke(ctx, nil, "fromPolicy"))
	out["Clients"] = errText(cl.Clients("nobody", "none").Send(ctx, "fromPolicy", "Clients"))
	out["Group"] = errText(cl.Group("nogroup").Send(ctx, "fromPolicy", "Group"))
	out["Groups"] = errText(cl.Groups("nogroup", "none").Send(ctx, "fromPolicy", "Groups"))
	out["GroupExcept"] = errText(cl.GroupExcept("nogroup", "x").Send(ctx, "fromPolicy", "GroupExcept"))
	out["User"] = errText(cl.User("nouser").Send(ctx, "fromPolicy", "User"))
	out["Users"] = errText(cl.Users("nouser", "none").Send(ctx, "fromPolicy", "Users"))
	out["Groups.Add"] = errText(c.Groups().Add(ctx, c.ConnectionID(), "g"))
	out["Groups.Remove"] = errText(c.Groups().Remove(ctx, c.ConnectionID(), "g"))
	return out
}

// A hub policy runs before the connection exists: no Context method panics
// there, and those that need the connection say so.
func TestHubPolicyContextHasNoConnection(t *testing.T) {
	var mu sync.Mutex
	var runs []map[string]string
	policy := func(c *signalr.Context) error {
		if c.Request().URL.Query().Get("probe") == "" {
			return nil
		}
		out := exerciseContext(c, nil)
		c.Abort() // does nothing: there is no connection yet
		out["CloseConnection"] = errText(c.CloseConnection("bye", false))
		mu.Lock()
		runs = append(runs, out)
		mu.Unlock()
		return nil
	}
	_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithHubPolicy(policy))
	watcher := hubtest.ConnectJSON(t, url)
	watcher.Sync()

	// Negotiate, then connect with the token: the policy runs at both.
	n := hubtest.NegotiateOK(t, url, "?negotiateVersion=1&probe=1&user=pat")
	c := hubtest.ConnectJSONQuery(t, url, "?probe=1&user=pat&id="+n.ConnectionToken)
	require.Equal(t, "ok", c.Result("Echo", "ok"))

	noConn := signalr.ErrNoConnection.Error()
	want := map[string]string{
		"Deadline": "false", "Done": "true", "Err": "nil", "Value": "<nil>",
		"ConnectionIDEmpty": "true", "UserID": "pat", "Identity": "pat", "Request": "1", "Items": "v",
		"Caller.Send": noConn, "Caller.Invoke": noConn, "Caller.Invoke.result": "",
		"All": "nil", "AllExcept": "nil", "Others": "nil", "OthersInGroup": "nil",
		"Client": "nil", "Client.Invoke": signalr.ErrConnectionNotFound.Error(), "Clients": "nil",
		"Group": "nil", "Groups": "nil", "GroupExcept": "nil", "User": "nil", "Users": "nil",
		"Groups.Add": signalr.ErrConnectionNotFound.Error() + " (not a connection id)", "Groups.Remove": signalr.ErrConnectionNotFound.Error() + " (not a connection id)",
		"CloseConnection": noConn,
	}
	mu.Lock()
	require.Len(t, runs, 2)
	for _, got := range runs {
		require.Equal(t, want, got)
	}
	mu.Unlock()
	// The watcher got the sends that reach every connection, twice.
	for k := 0; k < 2; k++ {
		for _, name := range []string{"All", "AllExcept", "Others"} {
			require.Equal(t, []any{name}, watcher.Invocation("fromPolicy"))
		}
	}
	watcher.Sync()
}

// A method policy runs within the connection: its Context reaches the
// caller, and Abort or CloseConnection end the connection.
func TestMethodPolicyContextHasTheConnection(t *testing.T) {
	results := make(chan map[string]string, 1)
	var ending string
	policy := func(c *signalr.Context) error {
		out := exerciseContext(c, nil)
		switch ending {
		case "abort":
			c.Abort()
		case "close":
			out["CloseConnection"] = errText(c.CloseConnection("policy says bye", false))
		}
		results <- out
		return errors.New("refused")
	}
	for _, end := range []string{"abort", "close"} {
		t.Run(end, func(t *testing.T) {
			ending = end
			_, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMethodPolicy("Echo", policy))
			c := hubtest.ConnectJSONQuery(t, url, "?probe=2&user=kim")
			c.SendText(`{"type":1,"invocationId":"1","target":"Echo","arguments":["x"]}` + "\x1e")
			require.Equal(t, []any{"Caller"}, c.Invocation("fromPolicy"))
			inv := c.Next() // Caller().Invoke: answer it
			require.Equal(t, "askPolicy", inv["target"])
			c.SendText(`{"type":3,"invocationId":"` + inv["invocationId"].(string) + `","result":"answered"}` + "\x1e")
			for _, name := range []string{"All", "AllExcept"} { // Others skips the caller
				require.Equal(t, []any{name}, c.Invocation("fromPolicy"))
			}
			var got map[string]string
			select {
			case got = <-results:
			case <-time.After(10 * time.Second):
				t.Fatal("the policy did not finish")
			}
			require.Equal(t, "nil", got["Caller.Send"])
			require.Equal(t, "nil", got["Caller.Invoke"])
			require.Equal(t, "answered", got["Caller.Invoke.result"])
			require.Equal(t, "kim", got["UserID"])
			require.Equal(t, "2", got["Request"])
			require.Equal(t, "false", got["ConnectionIDEmpty"])
			require.Equal(t, "nil", got["Groups.Add"])
			closeMsg := closeMessageOf(c)
			require.NotNil(t, closeMsg)
			if end == "abort" {
				require.Equal(t, "Connection closed with an error.", closeMsg["error"])
			} else {
				require.Equal(t, "nil", got["CloseConnection"])
				require.Equal(t, "policy says bye", closeMsg["error"])
			}
		})
	}
}

// closeMessageOf reads until the server ends the connection and returns
// the Close message it sent, if any, messages already read included.
func closeMessageOf(c *hubtest.JSONClient) map[string]any {
	c.T.Helper()
	for _, m := range c.Pending {
		if m["type"] == float64(7) {
			return m
		}
	}
	c.Pending = nil
	m, _ := c.ExpectClosed()
	return m
}
