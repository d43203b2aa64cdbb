package signalr_test

import (
	"context"
	"errors"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// TestGroupNameLimit checks group names at the limit and one byte past it,
// from hub methods (the client sees an error completion) and from the
// program.
func TestGroupNameLimit(t *testing.T) {
	h, url := hubtest.StartHub(t, hubtest.Hub{}, signalr.WithMaxGroupNameLength(8))
	c := hubtest.ConnectJSON(t, url)
	id := c.ID(t)
	at, past := "12345678", "123456789"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.Nil(t, c.Call("JoinGroup", at)["error"])
	require.Contains(t, c.CallError("JoinGroup", past), "An unexpected error occurred invoking 'JoinGroup'")
	require.Contains(t, c.CallError("SendToGroup", past, "x"), "An unexpected error occurred invoking 'SendToGroup'")
	require.Contains(t, c.CallError("SendToOthersInGroup", past, "x"), "An unexpected error occurred invoking 'SendToOthersInGroup'")

	err := h.Groups().Add(ctx, id, past)
	require.ErrorIs(t, err, signalr.ErrNameTooLong)
	require.EqualError(t, err, "signalr: name too long: a group name of 9 bytes (limit 8)")
	require.ErrorIs(t, h.Groups().Remove(ctx, id, past), signalr.ErrNameTooLong)
	for _, p := range []signalr.ClientProxy{
		h.Clients().Group(past),
		h.Clients().Groups(at, past),
		h.Clients().GroupExcept(past),
	} {
		require.ErrorIs(t, p.Send(ctx, "receive", "past"), signalr.ErrNameTooLong)
	}
	_, err = h.GroupMembers(ctx, past)
	require.ErrorIs(t, err, signalr.ErrNameTooLong)

	// Nothing was sent, not even to the group within the limit.
	require.NoError(t, h.Clients().Group(at).Send(ctx, "receive", "at"))
	require.Equal(t, []any{"at"}, c.Invocation("receive"))
	members, err := h.GroupMembers(ctx, at)
	require.NoError(t, err)
	require.Equal(t, []signalr.Member{{ConnectionID: id}}, members)
	require.NoError(t, h.Groups().Remove(ctx, id, at))
	c.Sync()
}

// TestDefaultNameLimits checks the documented defaults: 1,024 bytes for
// group names and user ids.
func TestDefaultNameLimits(t *testing.T) {
	h, url := hubtest.StartHub(t, hubtest.Hub{}) // users by ?user=
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	user := strings.Repeat("u", signalr.DefaultMaxUserIDLength)
	c := hubtest.ConnectJSONQuery(t, url, "?user="+user)
	require.Equal(t, user, c.Result("GetUser"))
	status, body := hubtest.DialStatus(t, url, "?user="+user+"u")
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "The user id is longer than this hub allows (limit 1024 bytes).")

	group := strings.Repeat("g", signalr.DefaultMaxGroupNameLength)
	require.NoError(t, h.Groups().Add(ctx, c.ID(t), group))
	require.ErrorIs(t, h.Groups().Add(ctx, c.ID(t), group+"g"), signalr.ErrNameTooLong)
	require.NoError(t, h.Clients().Group(group).Send(ctx, "receive", "at"))
	require.Equal(t, []any{"at"}, c.Invocation("receive"))
	require.NoError(t, h.Clients().User(user).Send(ctx, "receive", "user"))
	require.Equal(t, []any{"user"}, c.Invocation("receive"))
	require.ErrorIs(t, h.Clients().User(user+"u").Send(ctx, "receive", "past"), signalr.ErrNameTooLong)
	c.Sync()
}

// TestUserIDLimit refuses connections whose user id, from WithUserIDFunc
// or from the authenticator, is past the limit: negotiate and connect are
// answered 403 with a message that names the limit.
func TestUserIDLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  signalr.Option
	}{
		{"WithUserIDFunc", signalr.WithUserIDFunc(hubtest.UserFromQuery)},
		{"WithAuthenticator", signalr.WithAuthenticator(func(r *http.Request) (*signalr.Identity, error) {
			return &signalr.Identity{UserID: r.URL.Query().Get("user")}, nil
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, url := hubtest.StartHub(t, hubtest.Hub{}, tc.opt, signalr.WithMaxUserIDLength(5))
			c := hubtest.ConnectJSONQuery(t, url, "?user=alice")
			require.Equal(t, "alice", c.Result("GetUser"))

			resp, body := hubtest.DoHTTP(t, http.MethodPost, url+"/hub/negotiate?negotiateVersion=1&user=alice2")
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
			require.Contains(t, body, "The user id is longer than this hub allows (limit 5 bytes).")
			status, body := hubtest.DialStatus(t, url, "?user=alice2")
			require.Equal(t, http.StatusForbidden, status)
			require.Contains(t, body, "(limit 5 bytes)")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := h.Clients().Users("alice", "alice2").Send(ctx, "receive", "x")
			require.ErrorIs(t, err, signalr.ErrNameTooLong)
			require.EqualError(t, err, "signalr: name too long: a user id of 6 bytes (limit 5)")
			_, err = h.IsUserOnline(ctx, "alice2")
			require.ErrorIs(t, err, signalr.ErrNameTooLong)
			online, err := h.IsUserOnline(ctx, "alice")
			require.NoError(t, err)
			require.True(t, online)
			c.Sync() // the refused send reached nobody
		})
	}
}

// TestGroupsPerConnectionLimit fills a connection's groups to the limit,
// then asks for one more from its own node, from another node and from a
// hub method.
func TestGroupsPerConnectionLimit(t *testing.T) {
	bus := backplane.NewMemory()
	nc := hubtest.NewTwoNodes(t, func() backplane.Backplane { return bus }, signalr.WithMaxGroupsPerConnection(3))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, bID := nc.B, nc.B.ID(t)
	local, remote := nc.Hubs[1].Groups(), nc.Hubs[0].Groups()

	require.NoError(t, local.Add(ctx, bID, "g1"))
	require.NoError(t, remote.Add(ctx, bID, "g2"))
	require.Nil(t, b.Call("JoinGroup", "g3")["error"])
	require.NoError(t, local.Add(ctx, bID, "g1"), "a group it is in already")

	err := local.Add(ctx, bID, "g4")
	require.ErrorIs(t, err, signalr.ErrTooManyGroups)
	require.EqualError(t, err, "signalr: too many groups for one connection (limit 3)")
	err = remote.Add(ctx, bID, "g4")
	require.ErrorIs(t, err, signalr.ErrTooManyGroups, "across nodes")
	require.EqualError(t, err, "signalr: too many groups for one connection (limit 3)")
	require.False(t, errors.Is(err, signalr.ErrConnectionNotFound))
	require.Contains(t, b.CallError("JoinGroup", "g4"), "An unexpected error occurred invoking 'JoinGroup'")

	// g4 has no member; g1 to g3 do.
	require.NoError(t, nc.Hubs[0].Clients().Group("g4").Send(ctx, "receive", "g4"))
	require.NoError(t, nc.Hubs[0].Clients().Groups("g1", "g2", "g3").Send(ctx, "receive", "g1-g3"))
	require.Equal(t, []any{"g1-g3"}, b.Invocation("receive"))

	// Leaving one makes room.
	require.NoError(t, remote.Remove(ctx, bID, "g2"))
	require.NoError(t, remote.Add(ctx, bID, "g4"))
	require.NoError(t, nc.Hubs[0].Clients().Group("g4").Send(ctx, "receive", "g4 again"))
	require.Equal(t, []any{"g4 again"}, b.Invocation("receive"))
	b.Sync()
}

// TestDefaultGroupsPerConnection checks the documented default of 1,000.
func TestDefaultGroupsPerConnection(t *testing.T) {
	h, url := hubtest.StartHub(t, hubtest.Hub{})
	c := hubtest.ConnectJSON(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range signalr.DefaultMaxGroupsPerConnection {
		require.NoError(t, h.Groups().Add(ctx, c.ID(t), "g"+strconv.Itoa(i)))
	}
	require.ErrorIs(t, h.Groups().Add(ctx, c.ID(t), "one more"), signalr.ErrTooManyGroups)
}

// bigUserQuery is a query naming a user by a long id, distinct per i.
func bigUserQuery(i, size int) string {
	id := strconv.Itoa(i) + strings.Repeat("u", size-len(strconv.Itoa(i)))
	return "?user=" + neturl.QueryEscape(id)
}

// TestPresenceAnswerTooLarge gives one node users whose ids add up to
// just under and then just over the 512 KiB a node's share of a presence
// answer may take: the first answer is complete, the second an error, and
// smaller answers keep working.
func TestPresenceAnswerTooLarge(t *testing.T) {
	bus := backplane.NewMemory()
	const size = 60 << 10 // 8 ids: 480 KiB; 9: 540 KiB
	nc := hubtest.NewTwoNodes(t, func() backplane.Backplane { return bus },
		signalr.WithMaxUserIDLength(size), signalr.WithMaxReceiveMessageSize(1<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := nc.Hubs[0]
	for i := range 8 {
		hubtest.ConnectJSONQuery(t, nc.URLs[1], bigUserQuery(i, size)).ID(t)
	}
	require.Eventually(t, func() bool {
		users, err := h.OnlineUsers(ctx)
		return err == nil && len(users) == 8
	}, 5*time.Second, 20*time.Millisecond, "a complete answer of 8 users from the other node")

	hubtest.ConnectJSONQuery(t, nc.URLs[1], bigUserQuery(8, size)).ID(t)
	users, err := h.OnlineUsers(ctx)
	require.ErrorIs(t, err, signalr.ErrPresenceTooLarge)
	require.Nil(t, users, "no partial answer")
	require.Contains(t, err.Error(), "(limit 524288)")
	// The node that holds them answers the same.
	users, err = nc.Hubs[1].OnlineUsers(ctx)
	require.ErrorIs(t, err, signalr.ErrPresenceTooLarge)
	require.Nil(t, users)

	n, err := h.ConnectionCount(ctx)
	require.NoError(t, err)
	require.Equal(t, 11, n) // a, b and the nine
	online, err := h.IsUserOnline(ctx, bigUserQuery(8, size)[len("?user="):])
	require.NoError(t, err)
	require.True(t, online)
}

// TestPresenceShareTheBusRefuses runs the nodes on a NATS server that
// takes at most 4 KiB per message: a node whose share of an answer is
// under the library's bound but over the server's tells the asking node
// so, and the query fails instead of leaving that node out.
func TestPresenceShareTheBusRefuses(t *testing.T) {
	bus := &limitedBus{Backplane: backplane.NewMemory(), max: 4 << 10}
	const size = 1000 // 1 id fits in 4 KiB, 5 do not
	nc := hubtest.NewTwoNodes(t, func() backplane.Backplane { return bus })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := nc.Hubs[0]
	hubtest.ConnectJSONQuery(t, nc.URLs[1], bigUserQuery(0, size)).ID(t)
	require.Eventually(t, func() bool {
		users, err := h.OnlineUsers(ctx)
		return err == nil && len(users) == 1
	}, 5*time.Second, 20*time.Millisecond, "a complete answer of one user from the other node")

	for i := 1; i < 5; i++ {
		hubtest.ConnectJSONQuery(t, nc.URLs[1], bigUserQuery(i, size)).ID(t)
	}
	users, err := h.OnlineUsers(ctx)
	require.Error(t, err, "the other node's share did not fit in a bus message; got %d users", len(users))
	require.Nil(t, users)
	require.Contains(t, err.Error(), "a node could not answer")
	t.Logf("OnlineUsers: %v", err)

	nc.CrossNodeGroupWorks(t, "a refused answer")
}
