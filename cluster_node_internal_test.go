package signalr

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// Every target kind maps to the scope, keys and exclusions that both local
// delivery and the backplane follow.
func TestClusterRouteOfEveryTarget(t *testing.T) {
	caller := &conn{id: "caller"}
	cs := Clients{targets{}}
	cc := CallerClients{targets{}, caller}
	for _, tc := range []struct {
		name   string
		p      ClientProxy
		scope  scope
		keys   []string
		except []string
	}{
		{"All", cs.All(), scopeAll, nil, nil},
		{"AllExcept", cs.AllExcept("a", "b"), scopeAll, nil, []string{"a", "b"}},
		{"Others", cc.Others(), scopeAll, nil, []string{"caller"}},
		{"Client", cs.Client("a").ClientProxy, scopeConns, []string{"a"}, nil},
		{"Clients", cs.Clients("a", "b", "a"), scopeConns, []string{"a", "b", "a"}, nil},
		{"Group", cs.Group("g"), scopeGroups, []string{"g"}, nil},
		{"Groups", cs.Groups("g", "h"), scopeGroups, []string{"g", "h"}, nil},
		{"GroupExcept", cs.GroupExcept("g", "a"), scopeGroups, []string{"g"}, []string{"a"}},
		{"OthersInGroup", cc.OthersInGroup("g"), scopeGroups, []string{"g"}, []string{"caller"}},
		{"User", cs.User("u"), scopeUsers, []string{"u"}, nil},
		{"Users", cs.Users("u", "v"), scopeUsers, []string{"u", "v"}, nil},
		{"Caller", cc.Caller().ClientProxy, scopeCaller, nil, nil},
	} {
		rt := tc.p.route()
		require.Equal(t, tc.scope, rt.scope, tc.name)
		require.Equal(t, tc.keys, rt.keys, tc.name)
		require.Equal(t, tc.except, rt.except, tc.name)
	}
	require.Same(t, caller, cc.Caller().route().caller)
}

// fakeNode stands in for the hub under a cluster: it records what the
// cluster hands it.
type fakeNode struct {
	conns     map[string]*conn // fixed before the cluster starts
	delivered chan delivery
	joins     chan string
	joinErr   error
	share     int
}

type delivery struct {
	rt   route
	json string
}

func newFakeNode(share int, conns ...*conn) *fakeNode {
	f := &fakeNode{conns: map[string]*conn{}, delivered: make(chan delivery, 16), joins: make(chan string, 16), share: share}
	for _, c := range conns {
		f.conns[c.id] = c
	}
	return f
}

func (f *fakeNode) deliver(rt route, o *outbound) { f.delivered <- delivery{rt, string(o.bytes(0))} }
func (f *fakeNode) localConn(id string) *conn     { return f.conns[id] }
func (f *fakeNode) joinGroup(c *conn, group string) error {
	f.joins <- "+" + c.id + " " + group
	return f.joinErr
}
func (f *fakeNode) leaveGroup(c *conn, group string) error {
	f.joins <- "-" + c.id + " " + group
	return nil
}
func (f *fakeNode) claimPending(string, string) (string, bool, bool) { return "", false, false }
func (f *fakeNode) transportHandler(string) transport.Handler        { return nil }
func (f *fakeNode) localPresence(string, string) presenceAnswer {
	return presenceAnswer{Conns: f.share}
}
func (f *fakeNode) authenticate(http.ResponseWriter, *http.Request) (*Identity, bool) {
	return &Identity{}, true
}

// fakeCluster is a started cluster of n on bus.
func fakeCluster(t *testing.T, n node, bus backplane.Backplane) *cluster {
	t.Helper()
	cfg := defaultConfig()
	cfg.logger = slog.New(slog.DiscardHandler)
	cfg.presenceInterval = 200 * time.Millisecond
	cl := makeCluster(n, &cfg, cfg.protocols, bus, "fake")
	require.NoError(t, cl.start())
	t.Cleanup(cl.close)
	return cl
}

// The cluster reaches the connections of its node through the node
// interface alone: sends, group changes and presence cross the bus
// between two clusters whose nodes are fakes.
func TestClusterServesAFakeNode(t *testing.T) {
	bus := backplane.NewMemory()
	t.Cleanup(func() { _ = bus.Close() })
	held := &conn{id: newID()}
	a, b := newFakeNode(2), newFakeNode(3, held)
	ca, cb := fakeCluster(t, a, bus), fakeCluster(t, b, bus)
	cb.register(held)
	cb.settle(cb.groupJoined("g")) // b has a member of g

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := &outbound{protos: ca.protos, msg: &protocol.Invocation{Target: "m", Arguments: []any{1}}, enc: make([][]byte, len(ca.protos))}
	require.NoError(t, ca.publish(ctx, route{scope: scopeGroups, keys: []string{"g"}, except: []string{"x"}}, o))
	select {
	case d := <-b.delivered:
		require.Equal(t, scopeGroups, d.rt.scope)
		require.Equal(t, []string{"g"}, d.rt.keys)
		require.Equal(t, []string{"x"}, d.rt.except)
		require.JSONEq(t, `{"type":1,"target":"m","arguments":[1]}`, d.json[:len(d.json)-1])
	case <-ctx.Done():
		t.Fatal("the group send did not reach the node holding a member")
	}

	require.NoError(t, ca.changeGroup(ctx, opGroupAdd, held.id, "h"))
	require.Equal(t, "+"+held.id+" h", <-b.joins)
	require.NoError(t, ca.changeGroup(ctx, opGroupRemove, held.id, "h"))
	require.Equal(t, "-"+held.id+" h", <-b.joins)
	b.joinErr = ErrTooManyGroups // read by b's serving goroutine, started after this write
	require.ErrorIs(t, ca.changeGroup(ctx, opGroupAdd, held.id, "i"), ErrTooManyGroups)
	<-b.joins
	require.ErrorIs(t, ca.changeGroup(ctx, opGroupAdd, newID(), "h"), ErrConnectionNotFound, "no node holds it")

	answers, err := ca.presence(ctx, presenceCount, "")
	require.NoError(t, err)
	total := 0
	for _, ans := range answers {
		total += ans.Conns
	}
	require.Equal(t, 5, total, "both nodes' shares")

	// A node ignores its own broadcast: a's queue takes it before b's.
	require.NoError(t, ca.publish(ctx, route{scope: scopeAll}, o))
	<-b.delivered
	require.NoError(t, cb.publish(ctx, route{scope: scopeAll}, o))
	select {
	case d := <-a.delivered:
		require.Equal(t, scopeAll, d.rt.scope)
	case <-ctx.Done():
		t.Fatal("b's broadcast did not reach a")
	}
	require.Empty(t, a.delivered, "a node ignores its own sends")
}
