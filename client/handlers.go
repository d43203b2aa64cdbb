package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/gosignalr/signalr/protocol"
)

// handlerFunc is a registered handler in its one internal shape: it
// decodes args with p, runs, and reports its result (hasResult is false
// for a handler that returns no value).
type handlerFunc func(ctx context.Context, args []any, p protocol.HubProtocol) (result any, hasResult bool, err error)

// handlerTable maps lower-cased method names to their handlers.
type handlerTable struct {
	mu sync.RWMutex
	m  map[string][]handlerFunc

	// unhandled holds the lower-cased methods the server called without a
	// handler, at most maxWarnedMethods of them: each is logged at Warn
	// once, later calls at Debug.
	unhandledMu sync.Mutex
	unhandled   map[string]struct{}
}

// maxWarnedMethods bounds how many distinct method names without a
// handler are remembered (and logged at Warn), whatever names the server
// sends.
const maxWarnedMethods = 64

// firstUnhandled reports whether this is the first call of method without
// a handler that should be logged at Warn.
func (t *handlerTable) firstUnhandled(method string) bool {
	key := strings.ToLower(method)
	t.unhandledMu.Lock()
	defer t.unhandledMu.Unlock()
	if _, seen := t.unhandled[key]; seen || len(t.unhandled) >= maxWarnedMethods {
		return false
	}
	if t.unhandled == nil {
		t.unhandled = map[string]struct{}{}
	}
	t.unhandled[key] = struct{}{}
	return true
}

func (t *handlerTable) add(method string, h handlerFunc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string][]handlerFunc{}
	}
	key := strings.ToLower(method)
	t.m[key] = append(t.m[key], h)
}

func (t *handlerTable) remove(method string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, strings.ToLower(method))
}

func (t *handlerTable) get(method string) []handlerFunc {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[strings.ToLower(method)]
}

var (
	contextType  = reflect.TypeFor[context.Context]()
	rawValueType = reflect.TypeFor[RawValue]()
)

// On registers handler for the client method named method, which the
// server calls (names match case-insensitively, as in the official
// client). handler is any func: an optional context.Context first (it is
// cancelled when the connection ends), then one parameter per argument,
// each decoded from the server's value into the parameter's type (a
// RawValue parameter receives the argument undecoded). It may return
// nothing, an error, a value, or a value and an error.
//
// A handler that returns a value or an error answers the server's
// invocations that expect a result ("client results"): the value, or the
// error's text, goes back to the server; a nil error alone answers null.
// A handler that returns nothing answers "Client didn't provide a
// result.", as does a method with no handler. The first call of a method
// without a handler is logged at Warn (for up to 64 method names), later
// ones at Debug, so that a handler registered under a misspelt name shows
// without a line per message.
//
// Several handlers may be registered for one method; all run, in
// registration order. Handlers run one at a time, in the order the
// server's invocations arrive, on a goroutine of the connection's (never
// the reader's), so a handler may call Invoke. A handler that panics is
// treated as one that returned an error. An invocation whose arguments do
// not fit the handler is answered with an error (or logged if no answer is
// expected).
//
// On returns an error, and registers nothing, when handler is not a func,
// is variadic, takes a parameter that cannot be decoded (a channel, a
// func, a non-empty interface) or returns anything else than described.
func (c *Client) On(method string, handler any) error {
	h, err := reflectHandler(handler)
	if err != nil {
		return fmt.Errorf("signalr client: On(%q): %w", method, err)
	}
	c.handlers.add(method, h)
	return nil
}

// Off removes every handler of method.
func (c *Client) Off(method string) {
	c.handlers.remove(method)
}

func reflectHandler(handler any) (handlerFunc, error) {
	v := reflect.ValueOf(handler)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("handler is %T, not a func", handler)
	}
	t := v.Type()
	if t.IsVariadic() {
		return nil, errors.New("a variadic handler is not supported")
	}
	first := 0
	if t.NumIn() > 0 && t.In(0) == contextType {
		first = 1
	}
	params := make([]reflect.Type, 0, t.NumIn()-first)
	for i := first; i < t.NumIn(); i++ {
		p := t.In(i)
		switch {
		case p.Kind() == reflect.Chan, p.Kind() == reflect.Func, p.Kind() == reflect.UnsafePointer:
			return nil, fmt.Errorf("parameter %d (%s) cannot be decoded", i, p)
		case p.Kind() == reflect.Interface && p.NumMethod() > 0:
			return nil, fmt.Errorf("parameter %d (%s) is an interface with methods, which cannot be decoded", i, p)
		}
		params = append(params, p)
	}
	var hasValue, hasErr bool
	switch t.NumOut() {
	case 0:
	case 1:
		hasErr = t.Out(0) == errorType
		hasValue = !hasErr
	case 2:
		if t.Out(1) != errorType {
			return nil, fmt.Errorf("the second result must be error, not %s", t.Out(1))
		}
		hasValue, hasErr = true, true
	default:
		return nil, errors.New("a handler returns at most a value and an error")
	}
	return func(ctx context.Context, args []any, p protocol.HubProtocol) (result any, hasResult bool, err error) {
		if len(args) != len(params) {
			return nil, false, fmt.Errorf("the handler takes %d arguments, the server sent %d", len(params), len(args))
		}
		in := make([]reflect.Value, 0, first+len(params))
		if first == 1 {
			in = append(in, reflect.ValueOf(ctx))
		}
		for i, pt := range params {
			raw, _ := args[i].(protocol.Raw)
			if pt == rawValueType {
				in = append(in, reflect.ValueOf(RawValue{raw: raw, proto: p}))
				continue
			}
			pv := reflect.New(pt)
			if err := p.Unmarshal(raw, pv.Interface()); err != nil {
				return nil, false, fmt.Errorf("argument %d: %w", i, err)
			}
			in = append(in, pv.Elem())
		}
		defer recoverHandler(&err)
		out := v.Call(in)
		if hasErr {
			if e := out[len(out)-1]; !e.IsNil() {
				return nil, false, e.Interface().(error)
			}
		}
		if hasValue {
			return out[0].Interface(), true, nil
		}
		return nil, hasErr, nil
	}, nil
}

func recoverHandler(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("handler panicked: %v", p)
	}
}

// decodeArg decodes one argument for the generic helpers.
func decodeArg[T any](args []any, i int, p protocol.HubProtocol) (T, error) {
	var v T
	raw, _ := args[i].(protocol.Raw)
	if rv, ok := any(&v).(*RawValue); ok {
		*rv = RawValue{raw: raw, proto: p}
		return v, nil
	}
	if err := p.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("argument %d: %w", i, err)
	}
	return v, nil
}

func checkArity(args []any, n int) error {
	if len(args) != n {
		return fmt.Errorf("the handler takes %d arguments, the server sent %d", n, len(args))
	}
	return nil
}

// On0 registers f for method, which the server calls without arguments.
// Like [Client.On], checked at compile time.
func On0(c *Client, method string, f func()) error {
	if f == nil {
		return fmt.Errorf("signalr client: On0(%q): nil handler", method)
	}
	c.handlers.add(method, func(_ context.Context, args []any, _ protocol.HubProtocol) (_ any, _ bool, err error) {
		if err := checkArity(args, 0); err != nil {
			return nil, false, err
		}
		defer recoverHandler(&err)
		f()
		return nil, false, nil
	})
	return nil
}

// On1 registers f for method, which the server calls with one argument.
func On1[A any](c *Client, method string, f func(A)) error {
	if f == nil {
		return fmt.Errorf("signalr client: On1(%q): nil handler", method)
	}
	c.handlers.add(method, func(_ context.Context, args []any, p protocol.HubProtocol) (_ any, _ bool, err error) {
		if err := checkArity(args, 1); err != nil {
			return nil, false, err
		}
		a, err := decodeArg[A](args, 0, p)
		if err != nil {
			return nil, false, err
		}
		defer recoverHandler(&err)
		f(a)
		return nil, false, nil
	})
	return nil
}

// On2 registers f for method, which the server calls with two arguments.
func On2[A, B any](c *Client, method string, f func(A, B)) error {
	if f == nil {
		return fmt.Errorf("signalr client: On2(%q): nil handler", method)
	}
	c.handlers.add(method, func(_ context.Context, args []any, p protocol.HubProtocol) (_ any, _ bool, err error) {
		if err := checkArity(args, 2); err != nil {
			return nil, false, err
		}
		a, err := decodeArg[A](args, 0, p)
		if err != nil {
			return nil, false, err
		}
		b, err := decodeArg[B](args, 1, p)
		if err != nil {
			return nil, false, err
		}
		defer recoverHandler(&err)
		f(a, b)
		return nil, false, nil
	})
	return nil
}

// On3 registers f for method, which the server calls with three
// arguments.
func On3[A, B, C any](c *Client, method string, f func(A, B, C)) error {
	if f == nil {
		return fmt.Errorf("signalr client: On3(%q): nil handler", method)
	}
	c.handlers.add(method, func(_ context.Context, args []any, p protocol.HubProtocol) (_ any, _ bool, err error) {
		if err := checkArity(args, 3); err != nil {
			return nil, false, err
		}
		a, err := decodeArg[A](args, 0, p)
		if err != nil {
			return nil, false, err
		}
		b, err := decodeArg[B](args, 1, p)
		if err != nil {
			return nil, false, err
		}
		cv, err := decodeArg[C](args, 2, p)
		if err != nil {
			return nil, false, err
		}
		defer recoverHandler(&err)
		f(a, b, cv)
		return nil, false, nil
	})
	return nil
}

// Handle0 registers f to answer the server's invocations of method that
// take no argument and expect a result (client results): f's value, or
// its error's text, is the answer.
func Handle0[R any](c *Client, method string, f func(context.Context) (R, error)) error {
	if f == nil {
		return fmt.Errorf("signalr client: Handle0(%q): nil handler", method)
	}
	c.handlers.add(method, func(ctx context.Context, args []any, _ protocol.HubProtocol) (_ any, _ bool, err error) {
		if err := checkArity(args, 0); err != nil {
			return nil, false, err
		}
		defer recoverHandler(&err)
		r, err := f(ctx)
		if err != nil {
			return nil, false, err
		}
		return r, true, nil
	})
	return nil
}

// Handle1 is Handle0 for invocations with one argument.
func Handle1[A, R any](c *Client, method string, f func(context.Context, A) (R, error)) error {
	if f == nil {
		return fmt.Errorf("signalr client: Handle1(%q): nil handler", method)
	}
	c.handlers.add(method, func(ctx context.Context, args []any, p protocol.HubProtocol) (_ any, _ bool, err error) {
		if err := checkArity(args, 1); err != nil {
			return nil, false, err
		}
		a, err := decodeArg[A](args, 0, p)
		if err != nil {
			return nil, false, err
		}
		defer recoverHandler(&err)
		r, err := f(ctx, a)
		if err != nil {
			return nil, false, err
		}
		return r, true, nil
	})
	return nil
}

// Handle2 is Handle0 for invocations with two arguments.
func Handle2[A, B, R any](c *Client, method string, f func(context.Context, A, B) (R, error)) error {
	if f == nil {
		return fmt.Errorf("signalr client: Handle2(%q): nil handler", method)
	}
	c.handlers.add(method, func(ctx context.Context, args []any, p protocol.HubProtocol) (_ any, _ bool, err error) {
		if err := checkArity(args, 2); err != nil {
			return nil, false, err
		}
		a, err := decodeArg[A](args, 0, p)
		if err != nil {
			return nil, false, err
		}
		b, err := decodeArg[B](args, 1, p)
		if err != nil {
			return nil, false, err
		}
		defer recoverHandler(&err)
		r, err := f(ctx, a, b)
		if err != nil {
			return nil, false, err
		}
		return r, true, nil
	})
	return nil
}

// Messages the official client answers with.
const (
	errNoResult        = "Client didn't provide a result."
	errMultipleResults = "Client provided multiple results."
)

// dispatch runs handlers for the server's invocations, in order, until
// the session ends and the queue is empty.
func (s *session) dispatch() {
	defer s.wg.Done()
	for {
		inv, err := s.inbox.pop(context.Background())
		if err != nil {
			return
		}
		s.invokeHandlers(inv)
	}
}

func (s *session) invokeHandlers(inv *protocol.Invocation) {
	hs := s.c.handlers.get(inv.Target)
	expects := inv.InvocationID != ""
	if len(hs) == 0 {
		if s.c.handlers.firstUnhandled(inv.Target) {
			s.log.WarnContext(s.logCtx, "no handler for a client method; later calls of it are logged at Debug", "method", inv.Target)
		} else {
			s.log.DebugContext(s.logCtx, "no handler for a client method", "method", inv.Target)
		}
		if expects {
			s.answer(&protocol.Completion{InvocationID: inv.InvocationID, Error: errNoResult})
		}
		return
	}
	var (
		results int
		result  any
		lastErr error
	)
	for _, h := range hs {
		r, has, err := h(s.ctx, inv.Arguments, s.proto)
		if err != nil {
			s.log.ErrorContext(s.logCtx, "handler failed", "method", inv.Target, "error", err)
			lastErr = err
			continue
		}
		if has {
			results++
			result = r
		}
	}
	if !expects {
		return
	}
	comp := &protocol.Completion{InvocationID: inv.InvocationID}
	switch {
	case lastErr != nil:
		comp.Error = lastErr.Error()
		if comp.Error == "" {
			comp.Error = "The client's handler failed."
		}
	case results > 1:
		comp.Error = errMultipleResults
	case results == 1:
		comp.HasResult, comp.Result = true, result
	default:
		comp.Error = errNoResult
	}
	s.answer(comp)
}

// answer sends a client result; one that cannot be encoded is answered
// with an error instead.
func (s *session) answer(comp *protocol.Completion) {
	err := s.send(s.ctx, comp, false)
	var enc *encodeError
	if errors.As(err, &enc) {
		s.log.ErrorContext(s.logCtx, "encoding a client result", "error", err)
		_ = s.send(s.ctx, &protocol.Completion{InvocationID: comp.InvocationID, Error: "Client result could not be encoded: " + enc.err.Error()}, false)
	}
}
