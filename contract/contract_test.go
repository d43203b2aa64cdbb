package contract_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/contract"
)

// call is one call a fake target received.
type call struct {
	method string
	args   []any
}

// recorder is a Sender, an Invoker and a Registrar that records what it
// is asked to do. Invoke answers with answer, round-tripped through JSON
// as a real target decodes a result; err, when set, is returned instead.
type recorder struct {
	calls    []call
	handlers map[string]any
	answer   any
	err      error
}

func (r *recorder) Send(_ context.Context, method string, args ...any) error {
	r.calls = append(r.calls, call{method, args})
	return r.err
}

func (r *recorder) Invoke(_ context.Context, result any, method string, args ...any) error {
	r.calls = append(r.calls, call{method, args})
	if r.err != nil {
		return r.err
	}
	if result == nil {
		return nil
	}
	b, err := json.Marshal(r.answer)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, result)
}

func (r *recorder) On(method string, handler any) error {
	if r.err != nil {
		return r.err
	}
	if r.handlers == nil {
		r.handlers = map[string]any{}
	}
	r.handlers[method] = handler
	return nil
}

// call runs the handler registered for method with args, as a client does
// once it has decoded them into the handler's parameter types.
func (r *recorder) call(t *testing.T, method string, args ...any) []any {
	t.Helper()
	h, ok := r.handlers[method]
	require.True(t, ok, "no handler for %q", method)
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		in[i] = reflect.ValueOf(a)
	}
	var out []any
	for _, v := range reflect.ValueOf(h).Call(in) {
		out = append(out, v.Interface())
	}
	return out
}

type point struct {
	X, Y int
}

func TestMethodSendPassesNameAndArguments(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}
	require.NoError(t, contract.NewMethod0("m0").Send(ctx, r))
	require.NoError(t, contract.NewMethod1[string]("m1").Send(ctx, r, "a"))
	require.NoError(t, contract.NewMethod2[string, int]("m2").Send(ctx, r, "a", 2))
	require.NoError(t, contract.NewMethod3[string, int, bool]("m3").Send(ctx, r, "a", 2, true))
	require.NoError(t, contract.NewMethod4[string, int, bool, point]("m4").Send(ctx, r, "a", 2, true, point{1, 2}))
	assert.Equal(t, []call{
		{"m0", nil},
		{"m1", []any{"a"}},
		{"m2", []any{"a", 2}},
		{"m3", []any{"a", 2, true}},
		{"m4", []any{"a", 2, true, point{1, 2}}},
	}, r.calls)
}

func TestMethodInvokeWaitsWithoutResult(t *testing.T) {
	ctx := context.Background()
	r := &recorder{answer: "ignored"}
	require.NoError(t, contract.NewMethod0("m0").Invoke(ctx, r))
	require.NoError(t, contract.NewMethod1[int]("m1").Invoke(ctx, r, 1))
	require.NoError(t, contract.NewMethod2[int, int]("m2").Invoke(ctx, r, 1, 2))
	require.NoError(t, contract.NewMethod3[int, int, int]("m3").Invoke(ctx, r, 1, 2, 3))
	require.NoError(t, contract.NewMethod4[int, int, int, int]("m4").Invoke(ctx, r, 1, 2, 3, 4))
	assert.Equal(t, []call{
		{"m0", nil}, {"m1", []any{1}}, {"m2", []any{1, 2}}, {"m3", []any{1, 2, 3}}, {"m4", []any{1, 2, 3, 4}},
	}, r.calls)
}

func TestFuncInvokeDecodesResult(t *testing.T) {
	ctx := context.Background()
	r := &recorder{answer: point{3, 4}}
	p0, err := contract.NewFunc0[point]("f0").Invoke(ctx, r)
	require.NoError(t, err)
	p1, err := contract.NewFunc1[string, point]("f1").Invoke(ctx, r, "a")
	require.NoError(t, err)
	p2, err := contract.NewFunc2[string, int, point]("f2").Invoke(ctx, r, "a", 2)
	require.NoError(t, err)
	p3, err := contract.NewFunc3[string, int, bool, point]("f3").Invoke(ctx, r, "a", 2, true)
	require.NoError(t, err)
	p4, err := contract.NewFunc4[string, int, bool, []int, point]("f4").Invoke(ctx, r, "a", 2, true, []int{5})
	require.NoError(t, err)
	for _, p := range []point{p0, p1, p2, p3, p4} {
		assert.Equal(t, point{3, 4}, p)
	}
	assert.Equal(t, []call{
		{"f0", nil}, {"f1", []any{"a"}}, {"f2", []any{"a", 2}}, {"f3", []any{"a", 2, true}}, {"f4", []any{"a", 2, true, []int{5}}},
	}, r.calls)
}

func TestFuncInvokeErrorGivesZeroResult(t *testing.T) {
	boom := errors.New("boom")
	r := &recorder{answer: 7, err: boom}
	n, err := contract.NewFunc1[string, int]("f").Invoke(context.Background(), r, "a")
	require.ErrorIs(t, err, boom)
	assert.Zero(t, n)

	// A result that does not decode into R is an error, not a half value.
	r = &recorder{answer: "not a number"}
	n, err = contract.NewFunc0[int]("f").Invoke(context.Background(), r)
	require.Error(t, err)
	assert.Zero(t, n)
}

func TestTargetErrorsAreReturnedUnchanged(t *testing.T) {
	boom := errors.New("boom")
	r := &recorder{err: boom}
	ctx := context.Background()
	assert.Same(t, boom, contract.NewMethod1[int]("m").Send(ctx, r, 1))
	assert.Same(t, boom, contract.NewMethod1[int]("m").Invoke(ctx, r, 1))
	assert.Same(t, boom, contract.NewMethod1[int]("m").On(r, func(int) {}))
	assert.Same(t, boom, contract.NewFunc1[int, int]("f").On(r, func(int) (int, error) { return 0, nil }))
}

func TestMethodOnRegistersTypedHandler(t *testing.T) {
	r := &recorder{}
	var got []any
	require.NoError(t, contract.NewMethod0("m0").On(r, func() { got = append(got, "m0") }))
	require.NoError(t, contract.NewMethod1[string]("m1").On(r, func(a string) { got = append(got, a) }))
	require.NoError(t, contract.NewMethod2[string, int]("m2").On(r, func(a string, b int) { got = append(got, a, b) }))
	require.NoError(t, contract.NewMethod3[string, int, bool]("m3").On(r, func(a string, b int, c bool) { got = append(got, a, b, c) }))
	require.NoError(t, contract.NewMethod4[string, int, bool, point]("m4").On(r, func(a string, b int, c bool, d point) { got = append(got, a, b, c, d) }))

	// The registrar sees the handler's own parameter types, which is what
	// a client decodes arguments into.
	assert.Equal(t, reflect.TypeFor[func(string, int)](), reflect.TypeOf(r.handlers["m2"]))
	assert.Equal(t, reflect.TypeFor[func(string, int, bool, point)](), reflect.TypeOf(r.handlers["m4"]))

	r.call(t, "m0")
	r.call(t, "m1", "x")
	r.call(t, "m2", "y", 2)
	r.call(t, "m3", "z", 3, true)
	r.call(t, "m4", "w", 4, false, point{1, 1})
	assert.Equal(t, []any{"m0", "x", "y", 2, "z", 3, true, "w", 4, false, point{1, 1}}, got)
}

func TestFuncOnRegistersHandlerWithResult(t *testing.T) {
	r := &recorder{}
	boom := errors.New("no")
	require.NoError(t, contract.NewFunc0[string]("f0").On(r, func() (string, error) { return "zero", nil }))
	require.NoError(t, contract.NewFunc1[int, int]("f1").On(r, func(a int) (int, error) { return a * 10, nil }))
	require.NoError(t, contract.NewFunc2[int, int, int]("f2").On(r, func(a, b int) (int, error) { return a + b, nil }))
	require.NoError(t, contract.NewFunc3[int, int, int, int]("f3").On(r, func(a, b, c int) (int, error) { return a + b + c, nil }))
	require.NoError(t, contract.NewFunc4[int, int, int, int, int]("f4").On(r, func(a, b, c, d int) (int, error) { return 0, boom }))

	assert.Equal(t, reflect.TypeFor[func(int, int) (int, error)](), reflect.TypeOf(r.handlers["f2"]))
	assert.Equal(t, []any{"zero", nil}, r.call(t, "f0"))
	assert.Equal(t, []any{10, nil}, r.call(t, "f1", 1))
	assert.Equal(t, []any{3, nil}, r.call(t, "f2", 1, 2))
	assert.Equal(t, []any{6, nil}, r.call(t, "f3", 1, 2, 3))
	assert.Equal(t, []any{0, boom}, r.call(t, "f4", 1, 2, 3, 4))
}

func TestNilHandlerIsRefused(t *testing.T) {
	r := &recorder{}
	require.ErrorContains(t, contract.NewMethod2[int, int]("m").On(r, nil), `nil handler for "m"`)
	require.ErrorContains(t, contract.NewFunc0[int]("f").On(r, nil), `nil handler for "f"`)
	assert.Empty(t, r.handlers)
}

func TestZeroDescriptorHasNoName(t *testing.T) {
	r := &recorder{}
	ctx := context.Background()
	var m contract.Method1[int]
	var f contract.Func1[int, int]
	require.ErrorIs(t, m.Send(ctx, r, 1), contract.ErrNoName)
	require.ErrorIs(t, m.Invoke(ctx, r, 1), contract.ErrNoName)
	require.ErrorIs(t, m.On(r, func(int) {}), contract.ErrNoName)
	_, err := f.Invoke(ctx, r, 1)
	require.ErrorIs(t, err, contract.ErrNoName)
	require.ErrorIs(t, f.On(r, func(int) (int, error) { return 0, nil }), contract.ErrNoName)
	assert.Empty(t, r.calls)
	assert.Empty(t, r.handlers)
}

func TestNameAndString(t *testing.T) {
	m := contract.NewMethod2[string, string]("ReceiveMessage")
	assert.Equal(t, "ReceiveMessage", m.Name())
	assert.Equal(t, "ReceiveMessage", m.String())
	assert.Equal(t, "askName", contract.NewFunc0[string]("askName").Name())
}
