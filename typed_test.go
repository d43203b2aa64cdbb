package signalr_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/contract"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// Every target is a contract.Sender, and a single client an Invoker too.
var (
	_ contract.Sender  = signalr.ClientProxy{}
	_ contract.Sender  = signalr.SingleClientProxy{}
	_ contract.Invoker = signalr.SingleClientProxy{}
)

// scoreClient is the client side of typedHub's contract.
type scoreClient struct {
	Score contract.Method2[string, int]
	Reset contract.Method0 `signalr:"reset"`
	Ask   contract.Func1[string, string]
}

var scoreClients = contract.MustDeclare[scoreClient]()

// targetSet is what Clients and CallerClients have in common.
type targetSet interface {
	All() signalr.ClientProxy
	AllExcept(connectionIDs ...string) signalr.ClientProxy
	Client(connectionID string) signalr.SingleClientProxy
	Clients(connectionIDs ...string) signalr.ClientProxy
	Group(name string) signalr.ClientProxy
	Groups(names ...string) signalr.ClientProxy
	GroupExcept(name string, excludedConnectionIDs ...string) signalr.ClientProxy
	User(userID string) signalr.ClientProxy
	Users(userIDs ...string) signalr.ClientProxy
}

// typedTarget picks a target by kind; names are its connection ids,
// group names or user ids, and for groupExcept the group, then the
// excluded connection ids.
func typedTarget(ts targetSet, kind string, names []string) (contract.Sender, error) {
	switch kind {
	case "all":
		return ts.All(), nil
	case "allExcept":
		return ts.AllExcept(names...), nil
	case "client":
		return ts.Client(names[0]), nil
	case "clients":
		return ts.Clients(names...), nil
	case "group":
		return ts.Group(names[0]), nil
	case "groups":
		return ts.Groups(names...), nil
	case "groupExcept":
		return ts.GroupExcept(names[0], names[1:]...), nil
	case "user":
		return ts.User(names[0]), nil
	case "users":
		return ts.Users(names...), nil
	}
	cc, ok := ts.(signalr.CallerClients)
	if !ok {
		return nil, fmt.Errorf("target %q needs a caller", kind)
	}
	switch kind {
	case "caller":
		return cc.Caller(), nil
	case "others":
		return cc.Others(), nil
	case "othersInGroup":
		return cc.OthersInGroup(names[0]), nil
	}
	return nil, fmt.Errorf("unknown target %q", kind)
}

// typedHub calls its clients only through scoreClients.
type typedHub struct{}

func (typedHub) ID(c *signalr.Context) string { return c.ConnectionID() }

func (typedHub) Join(c *signalr.Context, group string) error {
	return c.Groups().Add(c, c.ConnectionID(), group)
}

// Notify sends Score(label, n) to a target chosen by the caller.
func (typedHub) Notify(c *signalr.Context, kind string, names []string, label string, n int) error {
	to, err := typedTarget(c.Clients(), kind, names)
	if err != nil {
		return err
	}
	return scoreClients.Score.Send(c, to, label, n)
}

// ResetCaller sends the caller a Reset, which has no arguments.
func (typedHub) ResetCaller(c *signalr.Context) error {
	return scoreClients.Reset.Send(c, c.Clients().Caller())
}

// AskCaller asks the caller a question and returns its answer.
func (typedHub) AskCaller(c *signalr.Context, question string) (string, error) {
	return scoreClients.Ask.Invoke(c, c.Clients().Caller(), question)
}

// typedMembers connects four clients: a (user alice, group g1), b (bob;
// g1 and g2), c (carol; g2) and d (alice again; no group).
func typedMembers(t *testing.T, url string) (map[string]*hubtest.JSONClient, map[string]string) {
	t.Helper()
	clients := map[string]*hubtest.JSONClient{}
	ids := map[string]string{}
	for _, m := range []struct {
		name, user string
		groups     []string
	}{
		{"a", "alice", []string{"g1"}},
		{"b", "bob", []string{"g1", "g2"}},
		{"c", "carol", []string{"g2"}},
		{"d", "alice", nil},
	} {
		c := hubtest.ConnectJSONQuery(t, url, "?user="+m.user)
		id, ok := c.Result("ID").(string)
		require.True(t, ok)
		for _, g := range m.groups {
			c.Call("Join", g)
		}
		clients[m.name], ids[m.name] = c, id
	}
	return clients, ids
}

// typedCase is a target and the clients it must reach.
type typedCase struct {
	kind  string
	names func(ids map[string]string) []string
	want  []string
}

func literal(names ...string) func(map[string]string) []string {
	return func(map[string]string) []string { return names }
}

func connIDs(members ...string) func(map[string]string) []string {
	return func(ids map[string]string) []string {
		out := make([]string, len(members))
		for i, m := range members {
			out[i] = ids[m]
		}
		return out
	}
}

var typedCases = []typedCase{
	{"all", literal(), []string{"a", "b", "c", "d"}},
	{"allExcept", connIDs("b", "d"), []string{"a", "c"}},
	{"client", connIDs("c"), []string{"c"}},
	{"clients", connIDs("b", "c"), []string{"b", "c"}},
	{"group", literal("g1"), []string{"a", "b"}},
	{"groups", literal("g1", "g2"), []string{"a", "b", "c"}},
	{"groupExcept", func(ids map[string]string) []string { return []string{"g1", ids["a"]} }, []string{"b"}},
	{"user", literal("alice"), []string{"a", "d"}},
	{"users", literal("bob", "carol"), []string{"b", "c"}},
}

var callerCases = []typedCase{
	{"caller", literal(), []string{"a"}},
	{"others", literal(), []string{"b", "c", "d"}},
	{"othersInGroup", literal("g1"), []string{"b"}},
}

// expectScores checks that exactly the wanted clients received
// Score(label, n), and each once.
func expectScores(t *testing.T, clients map[string]*hubtest.JSONClient, skip string, want []string, label string, n int) {
	t.Helper()
	for _, name := range want {
		if name != skip {
			assert.Equal(t, []any{label, float64(n)}, clients[name].Invocation("Score"), "client %s", name)
		}
	}
	for _, c := range clients {
		c.Sync()
	}
}

func TestContractReachesEveryTargetFromAHubMethod(t *testing.T) {
	_, url := hubtest.StartHub(t, typedHub{})
	clients, ids := typedMembers(t, url)
	a := clients["a"]
	for i, tc := range append(append([]typedCase{}, typedCases...), callerCases...) {
		t.Run(tc.kind, func(t *testing.T) {
			label := "in-" + tc.kind
			id := a.Invoke("Notify", tc.kind, tc.names(ids), label, i)
			if slices.Contains(tc.want, "a") {
				// The caller's Score is queued before the completion.
				assert.Equal(t, []any{label, float64(i)}, a.Invocation("Score"))
			}
			m := a.Completion(id)
			require.NotContains(t, m, "error")
			expectScores(t, clients, "a", tc.want, label, i)
		})
	}
}

func TestContractReachesEveryTargetFromOutsideAHubMethod(t *testing.T) {
	h, url := hubtest.StartHub(t, typedHub{})
	clients, ids := typedMembers(t, url)
	ctx := context.Background()
	for i, tc := range typedCases {
		t.Run(tc.kind, func(t *testing.T) {
			to, err := typedTarget(h.Clients(), tc.kind, tc.names(ids))
			require.NoError(t, err)
			label := "out-" + tc.kind
			require.NoError(t, scoreClients.Score.Send(ctx, to, label, i))
			expectScores(t, clients, "", tc.want, label, i)
		})
	}
}

func TestContractMethodWithoutArguments(t *testing.T) {
	_, url := hubtest.StartHub(t, typedHub{})
	c := hubtest.ConnectJSON(t, url)
	id := c.Invoke("ResetCaller")
	assert.Equal(t, []any{}, c.Invocation("reset"))
	require.NotContains(t, c.Completion(id), "error")
}

// answerAsk requires the next message to be an invocation of Ask that waits
// for a result, and answers it with text.
func answerAsk(t *testing.T, c *hubtest.JSONClient, question, text string) {
	t.Helper()
	m := c.Next()
	require.Equal(t, float64(1), m["type"], "expected an invocation of Ask, got %v", m)
	require.Equal(t, "Ask", m["target"])
	require.Equal(t, []any{question}, m["arguments"])
	invID, ok := m["invocationId"].(string)
	require.True(t, ok, "Ask must wait for a result: %v", m)
	c.SendJSON(map[string]any{"type": 3, "invocationId": invID, "result": text})
}

func TestContractFuncFromAHubMethod(t *testing.T) {
	_, url := hubtest.StartHub(t, typedHub{})
	c := hubtest.ConnectJSON(t, url)
	id := c.Invoke("AskCaller", "name?")
	answerAsk(t, c, "name?", "ann")
	m := c.Completion(id)
	assert.Equal(t, "ann", m["result"], "completion: %v", m)
}

func TestContractFuncFromOutsideAHubMethod(t *testing.T) {
	h, url := hubtest.StartHub(t, typedHub{})
	c, id := connectMember(t, url, "")
	type answer struct {
		text string
		err  error
	}
	done := make(chan answer, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		text, err := scoreClients.Ask.Invoke(ctx, h.Clients().Client(id), "colour?")
		done <- answer{text, err}
	}()
	answerAsk(t, c, "colour?", "blue")
	got := waitFor(t, done, "Ask's answer")
	require.NoError(t, got.err)
	assert.Equal(t, "blue", got.text)

	// A client's error reaches the caller as a *ClientError.
	go func() {
		text, err := scoreClients.Ask.Invoke(ctx, h.Clients().Client(id), "why?")
		done <- answer{text, err}
	}()
	m := c.Next()
	invID, _ := m["invocationId"].(string)
	c.SendJSON(map[string]any{"type": 3, "invocationId": invID, "error": "no idea"})
	got = waitFor(t, done, "Ask's error")
	var ce *signalr.ClientError
	require.ErrorAs(t, got.err, &ce)
	assert.Equal(t, "no idea", ce.Message)
	assert.Empty(t, got.text)
}
