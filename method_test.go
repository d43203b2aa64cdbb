package signalr_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/internal/hubtest"
)

// Hub types that New must refuse.
type (
	variadicHub       struct{}
	sendChanParamHub  struct{}
	badStreamItemHub  struct{}
	funcParamHub      struct{}
	funcResultHub     struct{}
	threeResultsHub   struct{}
	notErrorHub       struct{}
	customErrorHub    struct{}
	ctxLateHub        struct{}
	hubCtxLateHub     struct{}
	twoContextsHub    struct{}
	twoHubContextsHub struct{}
	caseHub           struct{}
	badConnectHub     struct{}
	badDisconnectHub  struct{}
	errorParamHub     struct{}
)

type concreteError struct{}

func (*concreteError) Error() string { return "custom" }

func (variadicHub) Sum(xs ...int) int                      { return len(xs) }
func (sendChanParamHub) Feed(ch chan<- int)                {}
func (badStreamItemHub) Upload(ch <-chan func())           {}
func (funcParamHub) Apply(f func(int) int) int             { return f(1) }
func (funcResultHub) Maker() func()                        { return nil }
func (threeResultsHub) Triple() (int, int, error)          { return 0, 0, nil }
func (notErrorHub) Pair() (int, string)                    { return 0, "" }
func (customErrorHub) Custom() (int, *concreteError)       { return 0, nil }
func (ctxLateHub) Late(n int, ctx context.Context)         {}
func (hubCtxLateHub) LateHub(n int, c *signalr.Context)    {}
func (twoContextsHub) Twice(a, b context.Context)          {}
func (twoHubContextsHub) TwiceHub(a, b *signalr.Context)   {}
func (caseHub) Ping() string                               { return "a" }
func (caseHub) PING() string                               { return "b" }
func (badConnectHub) OnConnected() error                   { return nil }
func (badDisconnectHub) OnDisconnected(c *signalr.Context) {}
func (errorParamHub) TakesError(err error) string          { return "" }

func TestNewRefusesBadSignatures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hub    any
		method string
	}{
		{"variadic", variadicHub{}, "Sum"},
		// A receive channel is an upload stream; a send-only one is not.
		{"send-only chan parameter", sendChanParamHub{}, "Feed"},
		{"stream of funcs", badStreamItemHub{}, "Upload"},
		{"func parameter", funcParamHub{}, "Apply"},
		{"func result", funcResultHub{}, "Maker"},
		{"three results", threeResultsHub{}, "Triple"},
		{"second result not error", notErrorHub{}, "Pair"},
		{"second result a concrete error type", customErrorHub{}, "Custom"},
		{"context.Context not first", ctxLateHub{}, "Late"},
		{"*signalr.Context not first", hubCtxLateHub{}, "LateHub"},
		{"two context.Context", twoContextsHub{}, "Twice"},
		{"two *signalr.Context", twoHubContextsHub{}, "TwiceHub"},
		{"error parameter", errorParamHub{}, "TakesError"},
		{"OnConnected with a wrong signature", badConnectHub{}, "OnConnected"},
		{"OnDisconnected with a wrong signature", badDisconnectHub{}, "OnDisconnected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := signalr.New(tc.hub)
			require.Error(t, err)
			require.Nil(t, h)
			var se *signalr.SignatureError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.method, se.Method)
			assert.NotEmpty(t, se.Reason)
			assert.Contains(t, err.Error(), tc.method)
		})
	}
}

func TestNewRefusesMethodsDifferingOnlyInCase(t *testing.T) {
	_, err := signalr.New(caseHub{})
	var se *signalr.SignatureError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, []string{"Ping", "PING"}, se.Method)
	assert.Contains(t, err.Error(), "Ping")
	assert.Contains(t, err.Error(), "PING")
}

func TestNewRefusesNilHub(t *testing.T) {
	h, err := signalr.New(nil)
	require.Error(t, err)
	require.Nil(t, h)

	h, err = signalr.New((*dispatchHub)(nil))
	require.Error(t, err)
	require.Nil(t, h)
}

// lockingHub embeds a sync.Mutex: Lock, Unlock and TryLock are promoted
// methods and must not be callable.
type lockingHub struct {
	sync.Mutex
	n int
}

func (h *lockingHub) Incr() int {
	h.Lock()
	defer h.Unlock()
	h.n++
	return h.n
}

func TestPromotedMethodsAreNotCallable(t *testing.T) {
	_, url := hubtest.StartHub(t, &lockingHub{})
	c := hubtest.ConnectJSON(t, url)
	for _, name := range []string{"Lock", "Unlock", "TryLock", "lock"} {
		assert.Equal(t,
			fmt.Sprintf("Failed to invoke '%s' due to an error on the server. HubException: Method does not exist.", name),
			c.CallError(name), name)
	}
	assert.Equal(t, float64(1), c.Result("Incr"))
	assert.Equal(t, float64(2), c.Result("incr"))
}

type embeddedGreeter struct{}

func (embeddedGreeter) Greet() string { return "embedded" }
func (embeddedGreeter) Wave() string  { return "wave" }

// shadowingHub declares Greet itself; only Wave is promoted.
type shadowingHub struct{ embeddedGreeter }

func (shadowingHub) Greet() string { return "own" }

// ptrShadowingHub declares Greet on its pointer.
type ptrShadowingHub struct{ embeddedGreeter }

func (*ptrShadowingHub) Greet() string { return "own, on the pointer" }

func TestOwnMethodShadowingAnEmbeddedOneIsCallable(t *testing.T) {
	for _, tc := range []struct {
		hub  any
		want string
	}{
		{shadowingHub{}, "own"},
		{&shadowingHub{}, "own"},
		{&ptrShadowingHub{}, "own, on the pointer"},
	} {
		_, url := hubtest.StartHub(t, tc.hub)
		c := hubtest.ConnectJSON(t, url)
		assert.Equal(t, tc.want, c.Result("Greet"))
		assert.Contains(t, c.CallError("Wave"), "Method does not exist.")
	}
}

type xyPoint struct {
	X int `json:"x"`
	Y int `json:"y"`
}

type taggedPerson struct {
	FirstName string   `json:"first_name"`
	Age       int      `json:"age,omitempty"`
	Secret    string   `json:"-"`
	Tags      []string `json:"tags"`
	Home      *xyPoint `json:"home"`
}

// dispatchHub covers parameter kinds, result kinds and errors.
type dispatchHub struct{}

func (dispatchHub) Add(a, b int) int { return a + b }

func (dispatchHub) Pointer(p *xyPoint) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%d,%d", p.X, p.Y)
}

func (dispatchHub) Reverse(xs []int) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

func (dispatchHub) Pairs(m map[string]int) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

func (dispatchHub) Birthday(p taggedPerson) taggedPerson {
	p.Age++
	p.Secret = "never sent"
	return p
}

func (dispatchHub) Describe(v any) string { return fmt.Sprintf("%T:%v", v, v) }

func (dispatchHub) Mixed(s string, n int64, f float64, b bool, u uint8) string {
	return fmt.Sprintf("%s|%d|%g|%t|%d", s, n, f, b, u)
}

func (dispatchHub) Nothing()                 {}
func (dispatchHub) NilError() error          { return nil }
func (dispatchHub) Value() string            { return "v" }
func (dispatchHub) NilPointer() *xyPoint     { return nil }
func (dispatchHub) Fail(msg string) error    { return errors.New(msg) }
func (dispatchHub) FailHub(msg string) error { return signalr.NewHubError("%s", msg) }
func (dispatchHub) FailWrapped(msg string) error {
	return fmt.Errorf("context: %w", signalr.NewHubError("%s", msg))
}
func (dispatchHub) Panic() { panic("boom") }

func (dispatchHub) ValueOrError(fail bool) (int, error) {
	if fail {
		return 7, errors.New("no value")
	}
	return 7, nil
}

func (dispatchHub) BothContexts(ctx context.Context, c *signalr.Context, n int) string {
	if ctx == nil || ctx.Err() != nil {
		return "bad ctx"
	}
	return fmt.Sprintf("%s:%d", c.ConnectionID(), n)
}

func (dispatchHub) BothContextsSwapped(c *signalr.Context, ctx context.Context, n int) string {
	if ctx == nil || ctx.Err() != nil {
		return "bad ctx"
	}
	return fmt.Sprintf("%s:%d", c.ConnectionID(), n)
}

func (dispatchHub) ConnectionID(c *signalr.Context) string { return c.ConnectionID() }

func TestContextParametersInEitherOrder(t *testing.T) {
	_, url := hubtest.StartHub(t, dispatchHub{})
	c := hubtest.ConnectJSON(t, url)
	id := c.Result("ConnectionID").(string)
	require.NotEmpty(t, id)
	assert.Equal(t, id+":5", c.Result("BothContexts", 5))
	assert.Equal(t, id+":6", c.Result("BothContextsSwapped", 6))
	assert.Equal(t, "Failed to invoke 'BothContexts' due to an error on the server.", c.CallError("BothContexts"))
}

func TestMethodNamesAreCaseInsensitive(t *testing.T) {
	_, url := hubtest.StartHub(t, dispatchHub{})
	c := hubtest.ConnectJSON(t, url)
	for _, name := range []string{"Add", "add", "ADD", "aDd"} {
		assert.Equal(t, float64(42), c.Result(name, 40, 2), name)
	}
}

func TestParameterKindsDecode(t *testing.T) {
	_, url := hubtest.StartHub(t, dispatchHub{})
	c := hubtest.ConnectJSON(t, url)

	assert.Equal(t, "3,4", c.Result("Pointer", map[string]any{"x": 3, "y": 4}))
	assert.Equal(t, "nil", c.Result("Pointer", nil))
	assert.Equal(t, []any{3.0, 2.0, 1.0}, c.Result("Reverse", []int{1, 2, 3}))
	assert.Equal(t, []any{}, c.Result("Reverse", []int{}))
	assert.Equal(t, []any{"a=1", "b=2"}, c.Result("Pairs", map[string]int{"b": 2, "a": 1}))

	// Struct: json tag names in both directions, "-" never decoded or sent.
	got := c.Result("Birthday", map[string]any{
		"first_name": "Ada", "age": 36, "Secret": "in", "-": "in",
		"tags": []string{"x"}, "home": map[string]any{"x": 1, "y": 2},
	})
	assert.Equal(t, map[string]any{
		"first_name": "Ada", "age": 37.0, "tags": []any{"x"},
		"home": map[string]any{"x": 1.0, "y": 2.0},
	}, got)
	// omitempty and a nil pointer: Age 0 -> 1, home null.
	assert.Equal(t, map[string]any{"first_name": "", "age": 1.0, "tags": nil, "home": nil},
		c.Result("Birthday", map[string]any{}))

	// any gets what encoding/json gives an interface{}.
	assert.Equal(t, "float64:1.5", c.Result("Describe", 1.5))
	assert.Equal(t, "string:s", c.Result("Describe", "s"))
	assert.Equal(t, "<nil>:<nil>", c.Result("Describe", nil))
	assert.Equal(t, "[]interface {}:[1 a]", c.Result("Describe", []any{1, "a"}))
	assert.Equal(t, "map[string]interface {}:map[k:true]", c.Result("Describe", map[string]any{"k": true}))

	assert.Equal(t, "s|-9007199254740991|0.25|true|255",
		c.Result("Mixed", "s", int64(-9007199254740991), 0.25, true, 255))
}

func TestResultKinds(t *testing.T) {
	_, url := hubtest.StartHub(t, dispatchHub{}, signalr.WithDetailedErrors(true))
	c := hubtest.ConnectJSON(t, url)

	id := c.Invoke("Nothing")
	assert.Equal(t, map[string]any{"type": 3.0, "invocationId": id}, c.Completion(id), "no result: no result key")
	id = c.Invoke("NilError")
	assert.Equal(t, map[string]any{"type": 3.0, "invocationId": id}, c.Completion(id), "nil error: no result key")
	id = c.Invoke("Value")
	assert.Equal(t, map[string]any{"type": 3.0, "invocationId": id, "result": "v"}, c.Completion(id))
	id = c.Invoke("NilPointer")
	assert.Equal(t, map[string]any{"type": 3.0, "invocationId": id, "result": nil}, c.Completion(id), "a nil result is null, not absent")
	id = c.Invoke("ValueOrError", false)
	assert.Equal(t, map[string]any{"type": 3.0, "invocationId": id, "result": 7.0}, c.Completion(id))
	id = c.Invoke("ValueOrError", true)
	assert.Equal(t, map[string]any{"type": 3.0, "invocationId": id,
		"error": "An unexpected error occurred invoking 'ValueOrError' on the server. Error: no value"}, c.Completion(id),
		"(T, error) with an error: error only, the value is dropped")
}

func TestInvocationErrors(t *testing.T) {
	_, url := hubtest.StartHub(t, dispatchHub{})
	c := hubtest.ConnectJSON(t, url)

	assert.Equal(t, "Failed to invoke 'X' due to an error on the server. HubException: Method does not exist.", c.CallError("X"))
	// Binding failures: ASP.NET Core's text, details only with detailed
	// errors (TestBindingErrorText).
	assert.Equal(t, "Failed to invoke 'Add' due to an error on the server.", c.CallError("Add", 1))
	assert.Equal(t, "Failed to invoke 'Add' due to an error on the server.", c.CallError("Add", 1, 2, 3))
	assert.Equal(t, "Failed to invoke 'Add' due to an error on the server.", c.CallError("Add", "x", 2))
	assert.Equal(t, "Failed to invoke 'Pointer' due to an error on the server.", c.CallError("Pointer", []int{1}))

	assert.Equal(t, "An unexpected error occurred invoking 'Fail' on the server.", c.CallError("Fail", "secret detail"))
	assert.Equal(t, "An unexpected error occurred invoking 'Panic' on the server.", c.CallError("Panic"))
	assert.Equal(t, "An unexpected error occurred invoking 'ValueOrError' on the server.", c.CallError("ValueOrError", true))
	assert.Equal(t, "An unexpected error occurred invoking 'FailHub' on the server. HubException: for you", c.CallError("FailHub", "for you"))
	assert.Equal(t, "An unexpected error occurred invoking 'FailWrapped' on the server. HubException: wrapped", c.CallError("FailWrapped", "wrapped"))

	// The connection survives every error.
	assert.Equal(t, float64(3), c.Result("Add", 1, 2))
}

func TestDetailedErrors(t *testing.T) {
	_, url := hubtest.StartHub(t, dispatchHub{}, signalr.WithDetailedErrors(true))
	c := hubtest.ConnectJSON(t, url)
	assert.Equal(t, "An unexpected error occurred invoking 'Fail' on the server. Error: secret detail", c.CallError("Fail", "secret detail"))
	assert.Equal(t, "An unexpected error occurred invoking 'Panic' on the server. Panic: boom", c.CallError("Panic"))
	assert.Equal(t, "An unexpected error occurred invoking 'FailHub' on the server. HubException: for you", c.CallError("FailHub", "for you"))
	assert.Equal(t, "Failed to invoke 'X' due to an error on the server. HubException: Method does not exist.", c.CallError("X"))
}

func TestFailedNonBlockingInvocationsSendNothing(t *testing.T) {
	_, url := hubtest.StartHub(t, dispatchHub{}, signalr.WithDetailedErrors(true))
	c := hubtest.ConnectJSON(t, url)
	c.SendNonBlocking("X")
	c.SendNonBlocking("Add", 1)
	c.SendNonBlocking("Add", "x", 2)
	c.SendNonBlocking("Fail", "boom")
	c.SendNonBlocking("FailHub", "boom")
	c.SendNonBlocking("Panic")
	c.SendNonBlocking("Value")
	c.SendNonBlocking("Nothing")
	// Everything above ran first (one invocation at a time, in order): the
	// very next message must be this call's completion.
	assert.Equal(t, float64(3), c.Result("Add", 1, 2))
}

// orderHub records when its invocations start and end.
type orderHub struct {
	mu      sync.Mutex
	events  []string
	entered chan string
	release chan struct{}
}

func (h *orderHub) record(e string) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *orderHub) Slow(name string) string {
	h.record("start " + name)
	time.Sleep(10 * time.Millisecond)
	h.record("end " + name)
	return name
}

// Block reports that it runs, then waits for the test (or the connection)
// to let it go.
func (h *orderHub) Block(ctx context.Context, name string) string {
	h.entered <- name
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return name
}

func newOrderHub() *orderHub {
	return &orderHub{entered: make(chan string, 16), release: make(chan struct{})}
}

// waitFor receives from ch, failing the test after 5 s.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

func TestInvocationsRunOneAtATimeInOrder(t *testing.T) {
	h := newOrderHub()
	_, url := hubtest.StartHub(t, h)
	c := hubtest.ConnectJSON(t, url)
	// One frame, three invocations: they must not overlap or reorder.
	c.SendText(`{"type":1,"invocationId":"a","target":"Slow","arguments":["a"]}` + "\x1e" +
		`{"type":1,"invocationId":"b","target":"Slow","arguments":["b"]}` + "\x1e" +
		`{"type":1,"invocationId":"c","target":"Slow","arguments":["c"]}` + "\x1e")
	for _, id := range []string{"a", "b", "c"} {
		assert.Equal(t, id, c.Completion(id)["result"])
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Equal(t, []string{"start a", "end a", "start b", "end b", "start c", "end c"}, h.events)
}

func TestParallelInvocations(t *testing.T) {
	h := newOrderHub()
	_, url := hubtest.StartHub(t, h, signalr.WithMaxParallelInvocations(2))
	t.Cleanup(func() { close(h.release) }) // runs before the hub shuts down
	c := hubtest.ConnectJSON(t, url)
	c.Invoke("Block", "first")
	c.Invoke("Block", "second")
	// Both run at once: each has entered before either was released.
	got := []string{waitFor(t, h.entered, "the first Block"), waitFor(t, h.entered, "the second Block")}
	assert.ElementsMatch(t, []string{"first", "second"}, got)
	h.release <- struct{}{}
	h.release <- struct{}{}
	results := []any{c.Next()["result"], c.Next()["result"]}
	assert.ElementsMatch(t, []any{"first", "second"}, results)
}

// ctxHub blocks until its context is cancelled and reports the cause.
type ctxHub struct {
	started chan struct{}
	done    chan error
	release chan struct{}
}

func (h *ctxHub) Wait(ctx context.Context) {
	h.started <- struct{}{}
	select {
	case <-ctx.Done():
		h.done <- context.Cause(ctx)
	case <-h.release:
	}
}

func (h *ctxHub) WaitHub(c *signalr.Context) {
	h.started <- struct{}{}
	select {
	case <-c.Done():
		h.done <- context.Cause(c)
	case <-h.release:
	}
}

func (h *ctxHub) Nop() {}

func newCtxHub() *ctxHub {
	return &ctxHub{started: make(chan struct{}, 128), done: make(chan error, 128), release: make(chan struct{})}
}

func TestMethodContextCancelledWhenConnectionCloses(t *testing.T) {
	for _, method := range []string{"Wait", "WaitHub"} {
		t.Run(method, func(t *testing.T) {
			h := newCtxHub()
			_, url := hubtest.StartHub(t, h)
			t.Cleanup(func() { close(h.release) })
			c := hubtest.ConnectJSON(t, url)
			c.Invoke(method)
			waitFor(t, h.started, method+" to start")
			require.NoError(t, c.WS.Close())
			cause := waitFor(t, h.done, "the method's context to be cancelled")
			assert.ErrorIs(t, cause, signalr.ErrConnectionClosed)
		})
	}
}

// TestMethodContextCancelledByServerCloseWithFullQueue: with more than 64
// invocations waiting, the connection stops reading (backpressure), so a
// client that goes away is noticed only when reading resumes; a close by
// the server (here Shutdown, whose grace period ends) still cancels the
// running method at once.
func TestMethodContextCancelledByServerCloseWithFullQueue(t *testing.T) {
	h := newCtxHub()
	hub, url := hubtest.StartHub(t, h)
	t.Cleanup(func() { close(h.release) })
	c := hubtest.ConnectJSON(t, url)
	c.Invoke("Wait")
	waitFor(t, h.started, "Wait to start")
	for range 80 {
		c.SendNonBlocking("Nop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = hub.Shutdown(ctx) // the method ignores the grace period; ctx ends it
	cause := waitFor(t, h.done, "the method's context to be cancelled")
	assert.ErrorIs(t, cause, signalr.ErrConnectionClosed)
}
