package signalr

import (
	"reflect"
)

// Hub filters: middleware around hub method calls and around connect and
// disconnect, in the order given to the options (the first is outermost).
// Logging, metrics, argument checks and custom authorization fit here.

// Call is one hub method call as filters see it.
type Call struct {
	// Method is the method's declared name.
	Method string
	// Args are the decoded arguments, without the context parameters.
	// Stream parameters appear as the channel or iterator the method will
	// receive. A filter may replace an argument with a value of the same
	// type.
	Args []any
}

// Invoker runs a call: the next filter, or the method itself.
type Invoker func(c *Context, call *Call) (any, error)

// InvocationFilter wraps hub method calls. It may inspect or change the
// call, run it by calling next, change its result, or refuse it by
// returning an error without calling next (the client receives the error
// completion the error maps to: a *HubError's text is shown).
type InvocationFilter interface {
	InvokeMethod(c *Context, call *Call, next Invoker) (any, error)
}

// InvocationFilterFunc adapts a function to InvocationFilter.
type InvocationFilterFunc func(c *Context, call *Call, next Invoker) (any, error)

// InvokeMethod implements InvocationFilter.
func (f InvocationFilterFunc) InvokeMethod(c *Context, call *Call, next Invoker) (any, error) {
	return f(c, call, next)
}

// ConnectionFilter wraps the connect and disconnect hooks. OnConnected may
// refuse a connection by returning an error without calling next.
type ConnectionFilter interface {
	OnConnected(c *Context, next func(*Context) error) error
	OnDisconnected(c *Context, err error, next func(*Context, error))
}

// WithInvocationFilter adds f around every hub method call. Filters run in
// the order added.
func WithInvocationFilter(f InvocationFilter) Option {
	return func(c *config) { c.invocationFilters = append(c.invocationFilters, f) }
}

// WithConnectionFilter adds f around connect and disconnect. Filters run in
// the order added.
func WithConnectionFilter(f ConnectionFilter) Option {
	return func(c *config) { c.connectionFilters = append(c.connectionFilters, f) }
}

// callFiltered runs m with its bound arguments through the invocation
// filters.
func (h *Hub) callFiltered(m *method, hc *Context, in []reflect.Value) (any, error) {
	if len(h.cfg.invocationFilters) == 0 {
		return m.call(in)
	}
	off := len(in) - len(m.params)
	call := &Call{Method: m.name, Args: make([]any, len(m.params))}
	for i := range m.params {
		call.Args[i] = in[off+i].Interface()
	}
	final := func(_ *Context, call *Call) (any, error) {
		for i, pm := range m.params {
			v := reflect.ValueOf(call.Args[i])
			if !v.IsValid() {
				v = reflect.Zero(pm.t)
			}
			if !v.Type().AssignableTo(pm.t) {
				return nil, NewHubError("a filter changed argument %d of %s to the wrong type", i+1, m.name)
			}
			in[off+i] = v
		}
		return m.call(in)
	}
	next := Invoker(final)
	for i := len(h.cfg.invocationFilters) - 1; i >= 0; i-- {
		f, inner := h.cfg.invocationFilters[i], next
		next = func(c *Context, call *Call) (result any, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &panicError{value: r}
				}
			}()
			return f.InvokeMethod(c, call, inner)
		}
	}
	return next(hc, call)
}

// connectHook is OnConnected wrapped in the connection filters.
func (h *Hub) connectHook() func(*Context) error {
	next := h.hooks.onConnected
	if next == nil {
		next = func(*Context) error { return nil }
	}
	for i := len(h.cfg.connectionFilters) - 1; i >= 0; i-- {
		f, inner := h.cfg.connectionFilters[i], next
		next = func(c *Context) error { return f.OnConnected(c, inner) }
	}
	return next
}

// disconnectHook is OnDisconnected wrapped in the connection filters.
func (h *Hub) disconnectHook() func(*Context, error) {
	next := h.hooks.onDisconnected
	if next == nil {
		next = func(*Context, error) {}
	}
	for i := len(h.cfg.connectionFilters) - 1; i >= 0; i-- {
		f, inner := h.cfg.connectionFilters[i], next
		next = func(c *Context, err error) { f.OnDisconnected(c, err, inner) }
	}
	return next
}
