package hubtest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gosignalr/signalr"
)

// Kitchen exercises every kind of argument the interop suite sends.
type Kitchen struct {
	Name   string         `json:"name"`
	Count  int64          `json:"count"`
	Ratio  float64        `json:"ratio"`
	Ok     bool           `json:"ok"`
	Tags   []string       `json:"tags"`
	Attrs  map[string]int `json:"attrs"`
	Inner  *Inner         `json:"inner"`
	Nested []Inner        `json:"nested"`
}

// Inner is nested in Kitchen.
type Inner struct {
	Label  string `json:"label"`
	Values []int  `json:"values"`
}

// Hub is the hub the official clients talk to in the interop suites, and
// the general-purpose hub of the tests: each method exercises one kind of
// argument, target or failure.
type Hub struct{}

func (Hub) Add(a, b int) int                          { return a + b }
func (Hub) Echo(s string) string                      { return s }
func (Hub) EchoKitchen(k Kitchen) Kitchen             { return k }
func (Hub) IsNil(p *Inner) bool                       { return p == nil }
func (Hub) GetConnectionId(c *signalr.Context) string { return c.ConnectionID() }
func (Hub) GetUser(c *signalr.Context) string         { return c.UserID() }

func (Hub) Sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func (Hub) Describe(kind string, v signalr.RawArgument) (string, error) {
	switch kind {
	case "int":
		var n int
		err := v.Decode(&n)
		return fmt.Sprintf("int:%d", n), err
	case "string":
		var s string
		err := v.Decode(&s)
		return "string:" + s, err
	case "list":
		var l []int
		err := v.Decode(&l)
		return fmt.Sprintf("list:%v", l), err
	}
	return "", signalr.NewHubError("unknown kind %q", kind)
}

func (Hub) Notify(c *signalr.Context, msg string) error {
	return c.Clients().Caller().Send(c, "notified", msg)
}

func (Hub) SendToCaller(c *signalr.Context, msg string) error {
	return c.Clients().Caller().Send(c, "receive", msg)
}

func (Hub) SendToAll(c *signalr.Context, msg string) error {
	return c.Clients().All().Send(c, "receive", msg)
}

func (Hub) SendToOthers(c *signalr.Context, msg string) error {
	return c.Clients().Others().Send(c, "receive", msg)
}

func (Hub) SendToClient(c *signalr.Context, id, msg string) error {
	return c.Clients().Client(id).Send(c, "receive", msg)
}

func (Hub) SendToClients(c *signalr.Context, ids []string, msg string) error {
	return c.Clients().Clients(ids...).Send(c, "receive", msg)
}

func (Hub) SendToAllExcept(c *signalr.Context, ids []string, msg string) error {
	return c.Clients().AllExcept(ids...).Send(c, "receive", msg)
}

func (Hub) SendToGroup(c *signalr.Context, group, msg string) error {
	return c.Clients().Group(group).Send(c, "receive", msg)
}

func (Hub) SendToGroups(c *signalr.Context, groups []string, msg string) error {
	return c.Clients().Groups(groups...).Send(c, "receive", msg)
}

func (Hub) SendToGroupExcept(c *signalr.Context, group string, ids []string, msg string) error {
	return c.Clients().GroupExcept(group, ids...).Send(c, "receive", msg)
}

func (Hub) SendToOthersInGroup(c *signalr.Context, group, msg string) error {
	return c.Clients().OthersInGroup(group).Send(c, "receive", msg)
}

func (Hub) SendToUser(c *signalr.Context, user, msg string) error {
	return c.Clients().User(user).Send(c, "receive", msg)
}

func (Hub) SendToUsers(c *signalr.Context, users []string, msg string) error {
	return c.Clients().Users(users...).Send(c, "receive", msg)
}

func (Hub) JoinGroup(c *signalr.Context, group string) error {
	return c.Groups().Add(c, c.ConnectionID(), group)
}

func (Hub) LeaveGroup(c *signalr.Context, group string) error {
	return c.Groups().Remove(c, c.ConnectionID(), group)
}

func (Hub) Fail(msg string) error    { return errors.New(msg) }
func (Hub) FailHub(msg string) error { return signalr.NewHubError("%s", msg) }
func (Hub) Panic()                   { panic("boom") }

// UserFromQuery is a [signalr.WithUserIDFunc] that takes the user id from
// the "user" query parameter.
func UserFromQuery(r *http.Request) string { return r.URL.Query().Get("user") }
