package contract

import "context"

// The descriptors, by the number of parameters. Method descriptors are for
// methods that return nothing, Func descriptors for methods that return a
// result.

// Method0 describes a method with no parameters that returns nothing.
type Method0 struct{ desc }

// NewMethod0 returns the descriptor of the method called name.
func NewMethod0(name string) Method0 { return Method0{desc{name}} }

// Send invokes the method on every recipient of to without waiting for
// them.
func (m Method0) Send(ctx context.Context, to Sender) error {
	return m.send(ctx, to)
}

// Invoke invokes the method and waits until it has run, ignoring any
// result: a Go client calling a hub method that returns nothing or only
// an error. SignalR clients answer only the invocations of handlers that
// return a result, so the server sends a Method to clients and invokes a
// Func.
func (m Method0) Invoke(ctx context.Context, on Invoker) error {
	return m.invoke(ctx, on, nil)
}

// On registers handler for the method's invocations.
func (m Method0) On(r Registrar, handler func()) error {
	return m.on(r, handler, handler == nil)
}

// Method1 describes a method with one parameter that returns nothing.
type Method1[A any] struct{ desc }

// NewMethod1 returns the descriptor of the method called name.
func NewMethod1[A any](name string) Method1[A] { return Method1[A]{desc{name}} }

// Send invokes the method on every recipient of to without waiting for
// them.
func (m Method1[A]) Send(ctx context.Context, to Sender, a A) error {
	return m.send(ctx, to, a)
}

// Invoke invokes the method and waits until it has run, ignoring any
// result: a Go client calling a hub method that returns nothing or only
// an error. SignalR clients answer only the invocations of handlers that
// return a result, so the server sends a Method to clients and invokes a
// Func.
func (m Method1[A]) Invoke(ctx context.Context, on Invoker, a A) error {
	return m.invoke(ctx, on, nil, a)
}

// On registers handler for the method's invocations.
func (m Method1[A]) On(r Registrar, handler func(A)) error {
	return m.on(r, handler, handler == nil)
}

// Method2 describes a method with two parameters that returns nothing.
type Method2[A, B any] struct{ desc }

// NewMethod2 returns the descriptor of the method called name.
func NewMethod2[A, B any](name string) Method2[A, B] { return Method2[A, B]{desc{name}} }

// Send invokes the method on every recipient of to without waiting for
// them.
func (m Method2[A, B]) Send(ctx context.Context, to Sender, a A, b B) error {
	return m.send(ctx, to, a, b)
}

// Invoke invokes the method and waits until it has run, ignoring any
// result: a Go client calling a hub method that returns nothing or only
// an error. SignalR clients answer only the invocations of handlers that
// return a result, so the server sends a Method to clients and invokes a
// Func.
func (m Method2[A, B]) Invoke(ctx context.Context, on Invoker, a A, b B) error {
	return m.invoke(ctx, on, nil, a, b)
}

// On registers handler for the method's invocations.
func (m Method2[A, B]) On(r Registrar, handler func(A, B)) error {
	return m.on(r, handler, handler == nil)
}

// Method3 describes a method with three parameters that returns nothing.
type Method3[A, B, C any] struct{ desc }

// NewMethod3 returns the descriptor of the method called name.
func NewMethod3[A, B, C any](name string) Method3[A, B, C] { return Method3[A, B, C]{desc{name}} }

// Send invokes the method on every recipient of to without waiting for
// them.
func (m Method3[A, B, C]) Send(ctx context.Context, to Sender, a A, b B, c C) error {
	return m.send(ctx, to, a, b, c)
}

// Invoke invokes the method and waits until it has run, ignoring any
// result: a Go client calling a hub method that returns nothing or only
// an error. SignalR clients answer only the invocations of handlers that
// return a result, so the server sends a Method to clients and invokes a
// Func.
func (m Method3[A, B, C]) Invoke(ctx context.Context, on Invoker, a A, b B, c C) error {
	return m.invoke(ctx, on, nil, a, b, c)
}

// On registers handler for the method's invocations.
func (m Method3[A, B, C]) On(r Registrar, handler func(A, B, C)) error {
	return m.on(r, handler, handler == nil)
}

// Method4 describes a method with four parameters that returns nothing.
type Method4[A, B, C, D any] struct{ desc }

// NewMethod4 returns the descriptor of the method called name.
func NewMethod4[A, B, C, D any](name string) Method4[A, B, C, D] {
	return Method4[A, B, C, D]{desc{name}}
}

// Send invokes the method on every recipient of to without waiting for
// them.
func (m Method4[A, B, C, D]) Send(ctx context.Context, to Sender, a A, b B, c C, d D) error {
	return m.send(ctx, to, a, b, c, d)
}

// Invoke invokes the method and waits until it has run, ignoring any
// result: a Go client calling a hub method that returns nothing or only
// an error. SignalR clients answer only the invocations of handlers that
// return a result, so the server sends a Method to clients and invokes a
// Func.
func (m Method4[A, B, C, D]) Invoke(ctx context.Context, on Invoker, a A, b B, c C, d D) error {
	return m.invoke(ctx, on, nil, a, b, c, d)
}

// On registers handler for the method's invocations.
func (m Method4[A, B, C, D]) On(r Registrar, handler func(A, B, C, D)) error {
	return m.on(r, handler, handler == nil)
}

// Func0 describes a method with no parameters that returns a result of
// type R.
type Func0[R any] struct{ desc }

// NewFunc0 returns the descriptor of the method called name.
func NewFunc0[R any](name string) Func0[R] { return Func0[R]{desc{name}} }

// Invoke invokes the method and waits for its result. On error the
// result is R's zero value.
func (f Func0[R]) Invoke(ctx context.Context, on Invoker) (R, error) {
	var r R
	if err := f.invoke(ctx, on, &r); err != nil {
		var zero R
		return zero, err
	}
	return r, nil
}

// On registers handler for the method's invocations; what it returns
// answers each one.
func (f Func0[R]) On(r Registrar, handler func() (R, error)) error {
	return f.on(r, handler, handler == nil)
}

// Func1 describes a method with one parameter that returns a result of
// type R.
type Func1[A, R any] struct{ desc }

// NewFunc1 returns the descriptor of the method called name.
func NewFunc1[A, R any](name string) Func1[A, R] { return Func1[A, R]{desc{name}} }

// Invoke invokes the method and waits for its result. On error the
// result is R's zero value.
func (f Func1[A, R]) Invoke(ctx context.Context, on Invoker, a A) (R, error) {
	var r R
	if err := f.invoke(ctx, on, &r, a); err != nil {
		var zero R
		return zero, err
	}
	return r, nil
}

// On registers handler for the method's invocations; what it returns
// answers each one.
func (f Func1[A, R]) On(r Registrar, handler func(A) (R, error)) error {
	return f.on(r, handler, handler == nil)
}

// Func2 describes a method with two parameters that returns a result of
// type R.
type Func2[A, B, R any] struct{ desc }

// NewFunc2 returns the descriptor of the method called name.
func NewFunc2[A, B, R any](name string) Func2[A, B, R] { return Func2[A, B, R]{desc{name}} }

// Invoke invokes the method and waits for its result. On error the
// result is R's zero value.
func (f Func2[A, B, R]) Invoke(ctx context.Context, on Invoker, a A, b B) (R, error) {
	var r R
	if err := f.invoke(ctx, on, &r, a, b); err != nil {
		var zero R
		return zero, err
	}
	return r, nil
}

// On registers handler for the method's invocations; what it returns
// answers each one.
func (f Func2[A, B, R]) On(r Registrar, handler func(A, B) (R, error)) error {
	return f.on(r, handler, handler == nil)
}

// Func3 describes a method with three parameters that returns a result of
// type R.
type Func3[A, B, C, R any] struct{ desc }

// NewFunc3 returns the descriptor of the method called name.
func NewFunc3[A, B, C, R any](name string) Func3[A, B, C, R] { return Func3[A, B, C, R]{desc{name}} }

// Invoke invokes the method and waits for its result. On error the
// result is R's zero value.
func (f Func3[A, B, C, R]) Invoke(ctx context.Context, on Invoker, a A, b B, c C) (R, error) {
	var r R
	if err := f.invoke(ctx, on, &r, a, b, c); err != nil {
		var zero R
		return zero, err
	}
	return r, nil
}

// On registers handler for the method's invocations; what it returns
// answers each one.
func (f Func3[A, B, C, R]) On(r Registrar, handler func(A, B, C) (R, error)) error {
	return f.on(r, handler, handler == nil)
}

// Func4 describes a method with four parameters that returns a result of
// type R.
type Func4[A, B, C, D, R any] struct{ desc }

// NewFunc4 returns the descriptor of the method called name.
func NewFunc4[A, B, C, D, R any](name string) Func4[A, B, C, D, R] {
	return Func4[A, B, C, D, R]{desc{name}}
}

// Invoke invokes the method and waits for its result. On error the
// result is R's zero value.
func (f Func4[A, B, C, D, R]) Invoke(ctx context.Context, on Invoker, a A, b B, c C, d D) (R, error) {
	var r R
	if err := f.invoke(ctx, on, &r, a, b, c, d); err != nil {
		var zero R
		return zero, err
	}
	return r, nil
}

// On registers handler for the method's invocations; what it returns
// answers each one.
func (f Func4[A, B, C, D, R]) On(r Registrar, handler func(A, B, C, D) (R, error)) error {
	return f.on(r, handler, handler == nil)
}
