package signalr

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"

	"github.com/gosignalr/signalr/protocol"
)

var (
	typeContext     = reflect.TypeFor[context.Context]()
	typeHubContext  = reflect.TypeFor[*Context]()
	typeError       = reflect.TypeFor[error]()
	typeRawArgument = reflect.TypeFor[RawArgument]()
)

// RawArgument is a hub method parameter left undecoded until the method
// decides what it holds. It is valid only during the call.
type RawArgument struct {
	p   protocol.HubProtocol
	raw protocol.Raw
}

// Decode decodes the argument into v, a non-nil pointer.
func (a RawArgument) Decode(v any) error {
	if a.p == nil {
		return errors.New("signalr: empty RawArgument")
	}
	return a.p.Unmarshal(a.raw, v)
}

// method is one callable hub method, checked once at registration and then
// called through reflection.
type method struct {
	name      string
	fn        reflect.Value // bound to the hub value
	ctxIndex  int           // position of a context.Context parameter, or -1
	hubIndex  int           // position of a *Context parameter, or -1
	params    []param       // the parameters after the contexts
	nArgs     int           // params that are ordinary arguments
	nStreams  int           // params that receive client uploads
	hasResult bool
	hasError  bool
	stream    streamShape // how the result streams, if it does
}

// param is one parameter: an ordinary argument, or an upload stream when
// shape is not streamNone.
type param struct {
	t     reflect.Type
	shape streamShape
	elem  reflect.Type // item type of a stream
}

// streamShape is the Go shape of a stream of items.
type streamShape uint8

const (
	streamNone streamShape = iota
	streamChan             // chan T or <-chan T
	streamSeq              // iter.Seq[T]: func(yield func(T) bool)
	streamSeq2             // iter.Seq2[T, error]: func(yield func(T, error) bool)
)

// streamShapeOf classifies t as a stream type and returns its item type.
func streamShapeOf(t reflect.Type) (streamShape, reflect.Type) {
	switch t.Kind() {
	case reflect.Chan:
		if t.ChanDir()&reflect.RecvDir != 0 {
			return streamChan, t.Elem()
		}
	case reflect.Func:
		if t.NumIn() != 1 || t.NumOut() != 0 || t.IsVariadic() {
			return streamNone, nil
		}
		y := t.In(0)
		if y.Kind() != reflect.Func || y.NumOut() != 1 || y.Out(0).Kind() != reflect.Bool || y.IsVariadic() {
			return streamNone, nil
		}
		switch y.NumIn() {
		case 1:
			return streamSeq, y.In(0)
		case 2:
			if y.In(1) == typeError {
				return streamSeq2, y.In(0)
			}
		}
	}
	return streamNone, nil
}

// hooks are the hub value's lifecycle methods.
type hooks struct {
	onConnected    func(*Context) error
	onDisconnected func(*Context, error)
}

// Lifecycle hooks a hub value may implement. Neither is callable by clients.
type (
	// Connecter is implemented by hubs that run code when a client connects.
	// The connection is already addressable (Caller, groups) during the
	// call. A non-nil error refuses the connection: the client receives a
	// Close message and the connection ends.
	Connecter interface {
		OnConnected(c *Context) error
	}
	// Disconnecter is implemented by hubs that run code when a connection
	// ends. err is nil when the client closed the connection itself;
	// otherwise it says why, and matches (errors.Is) one of
	// [ErrClientTimeout], [ErrSlowConsumer], [ErrClosedByHub], [ErrHubClosed],
	// [ErrBackplaneInterrupted], [ErrAuthExpired] and
	// [ErrProtocolViolation], or is the transport's error when the
	// connection was lost without a close.
	Disconnecter interface {
		OnDisconnected(c *Context, err error)
	}
)

// methodSelection is what the options say about which exported methods
// of the hub value clients may call.
type methodSelection struct {
	hidden map[string]bool // lower-case names
	listed map[string]bool // lower-case names; nil: not listed explicitly
}

// WithHiddenMethods keeps the named methods of the hub value (matched
// case-insensitively) from clients: they stay ordinary Go methods. New
// fails if the hub has no such exported method.
func WithHiddenMethods(names ...string) Option {
	return func(c *config) {
		if c.methodSel.hidden == nil {
			c.methodSel.hidden = map[string]bool{}
		}
		for _, n := range names {
			c.methodSel.hidden[strings.ToLower(n)] = true
		}
	}
}

// WithMethods lists the methods of the hub value that clients may call
// (matched case-insensitively); no other method is a hub method. A listed
// method is served even if it implements a standard interface (String,
// MarshalJSON, ...), which is otherwise hidden. New fails if the hub has no
// such exported method. Several WithMethods add up.
func WithMethods(names ...string) Option {
	return func(c *config) {
		if c.methodSel.listed == nil {
			c.methodSel.listed = map[string]bool{}
		}
		for _, n := range names {
			c.methodSel.listed[strings.ToLower(n)] = true
		}
	}
}

// standardMethods are the methods of interfaces that the standard library
// (and this library's codec) call on values of any type: a hub value that
// implements one did so for Go code, not for clients, and without
// WithMethods they are not hub methods. Each is matched by name and
// signature.
var standardMethods = map[string]reflect.Type{
	"String":           reflect.TypeFor[func() string](),                // fmt.Stringer
	"GoString":         reflect.TypeFor[func() string](),                // fmt.GoStringer
	"Format":           reflect.TypeFor[func(fmt.State, rune)](),        // fmt.Formatter
	"Error":            reflect.TypeFor[func() string](),                // error
	"Unwrap":           reflect.TypeFor[func() error](),                 // errors.Unwrap
	"MarshalText":      reflect.TypeFor[func() ([]byte, error)](),       // encoding.TextMarshaler
	"UnmarshalText":    reflect.TypeFor[func([]byte) error](),           // encoding.TextUnmarshaler
	"AppendText":       reflect.TypeFor[func([]byte) ([]byte, error)](), // encoding.TextAppender
	"MarshalBinary":    reflect.TypeFor[func() ([]byte, error)](),       // encoding.BinaryMarshaler
	"UnmarshalBinary":  reflect.TypeFor[func([]byte) error](),           // encoding.BinaryUnmarshaler
	"AppendBinary":     reflect.TypeFor[func([]byte) ([]byte, error)](), // encoding.BinaryAppender
	"MarshalJSON":      reflect.TypeFor[func() ([]byte, error)](),       // json.Marshaler
	"UnmarshalJSON":    reflect.TypeFor[func([]byte) error](),           // json.Unmarshaler
	"GobEncode":        reflect.TypeFor[func() ([]byte, error)](),       // gob.GobEncoder
	"GobDecode":        reflect.TypeFor[func([]byte) error](),           // gob.GobDecoder
	"MarshalMsgpack":   reflect.TypeFor[func() ([]byte, error)](),       // msgpack.Marshaler
	"UnmarshalMsgpack": reflect.TypeFor[func([]byte) error](),           // msgpack.Unmarshaler
	"Close":            reflect.TypeFor[func() error](),                 // io.Closer
}

// isStandardMethod reports whether m (from a method set, receiver first)
// is one of standardMethods, or this library's lifecycle hooks.
func isStandardMethod(m reflect.Method) bool {
	want, ok := standardMethods[m.Name]
	if !ok {
		return false
	}
	ft := m.Type
	if ft.NumIn() != want.NumIn()+1 || ft.NumOut() != want.NumOut() || ft.IsVariadic() != want.IsVariadic() {
		return false
	}
	for i := 0; i < want.NumIn(); i++ {
		if ft.In(i+1) != want.In(i) {
			return false
		}
	}
	for i := 0; i < want.NumOut(); i++ {
		if ft.Out(i) != want.Out(i) {
			return false
		}
	}
	return true
}

// served reports whether the exported, non-promoted method m of the hub
// value is a hub method under sel.
func (sel methodSelection) served(m reflect.Method) bool {
	l := strings.ToLower(m.Name)
	if sel.hidden[l] {
		return false
	}
	if sel.listed != nil {
		return sel.listed[l]
	}
	return !isStandardMethod(m)
}

// buildMethods returns the hub value's callable methods keyed by name and
// its lifecycle hooks.
func buildMethods(hub any, sel methodSelection) (map[string]*method, hooks, error) {
	v := reflect.ValueOf(hub)
	if !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return nil, hooks{}, errors.New("signalr: New needs a non-nil hub value")
	}
	if err := checkReceivers(v.Type(), sel); err != nil {
		return nil, hooks{}, err
	}
	if err := sel.check(v.Type()); err != nil {
		return nil, hooks{}, err
	}
	var hk hooks
	if c, ok := hub.(Connecter); ok {
		hk.onConnected = c.OnConnected
	}
	if d, ok := hub.(Disconnecter); ok {
		hk.onDisconnected = d.OnDisconnected
	}
	promoted := promotedMethods(v.Type())
	methods := make(map[string]*method)
	lower := make(map[string]string)
	t := v.Type()
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if promoted[m.Name] {
			continue
		}
		switch m.Name {
		case "OnConnected":
			if hk.onConnected == nil {
				return nil, hooks{}, &SignatureError{m.Name, "must be func(*signalr.Context) error"}
			}
			continue
		case "OnDisconnected":
			if hk.onDisconnected == nil {
				return nil, hooks{}, &SignatureError{m.Name, "must be func(*signalr.Context, error)"}
			}
			continue
		}
		if !sel.served(m) {
			continue
		}
		md, err := newMethod(m.Name, v.Method(i))
		if err != nil {
			return nil, hooks{}, err
		}
		l := strings.ToLower(m.Name)
		if other, ok := lower[l]; ok {
			return nil, hooks{}, &SignatureError{m.Name, fmt.Sprintf("differs from %s only in case; hub methods are matched case-insensitively", other)}
		}
		lower[l] = m.Name
		methods[l] = md
	}
	return methods, hk, nil
}

// checkReceivers fails for a hub passed by value whose type has hub
// methods or hooks with pointer receivers: those are not in the value's
// method set, and clients would find them missing.
func checkReceivers(t reflect.Type, sel methodSelection) error {
	if t.Kind() == reflect.Pointer {
		return nil
	}
	pt := reflect.PointerTo(t)
	promoted := promotedMethods(pt)
	var missing []string
	for i := 0; i < pt.NumMethod(); i++ {
		m := pt.Method(i)
		hook := m.Name == "OnConnected" || m.Name == "OnDisconnected"
		if promoted[m.Name] || (!hook && !sel.served(m)) {
			continue
		}
		if _, ok := t.MethodByName(m.Name); !ok {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	name := t.String()
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return fmt.Errorf("signalr: New(%s{}): methods %s have pointer receivers and are not in the method set of a %s value; pass a pointer: New(&%s{})",
		name, strings.Join(missing, ", "), t, name)
}

// check fails for a name given to WithHiddenMethods or WithMethods that is
// not an exported method of the hub type t.
func (sel methodSelection) check(t reflect.Type) error {
	have := make(map[string]bool, t.NumMethod())
	for i := 0; i < t.NumMethod(); i++ {
		have[strings.ToLower(t.Method(i).Name)] = true
	}
	for _, set := range []struct {
		opt   string
		names map[string]bool
	}{{"WithHiddenMethods", sel.hidden}, {"WithMethods", sel.listed}} {
		for n := range set.names {
			if !have[n] {
				return fmt.Errorf("signalr: %s: the hub has no method %q", set.opt, n)
			}
		}
	}
	return nil
}

// promotedMethods names the methods that t gets from embedded fields. They
// are not hub methods: embedding a sync.Mutex must not expose Lock.
func promotedMethods(t reflect.Type) map[string]bool {
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() != reflect.Struct {
		return nil
	}
	var out map[string]bool
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		if !f.Anonymous {
			continue
		}
		for _, ft := range []reflect.Type{f.Type, reflect.PointerTo(f.Type)} {
			for j := 0; j < ft.NumMethod(); j++ {
				name := ft.Method(j).Name
				if declaredOn(st, name) {
					continue // the hub's own method shadows the embedded one
				}
				if out == nil {
					out = make(map[string]bool)
				}
				out[name] = true
			}
		}
	}
	return out
}

// declaredOn reports whether the struct type st (or *st) declares the
// method name itself. A promoted method is a wrapper the compiler
// generates, which the runtime reports at "<autogenerated>"; so is the
// *st wrapper of a method declared on st, hence both method sets are
// looked at.
func declaredOn(st reflect.Type, name string) bool {
	for _, t := range []reflect.Type{st, reflect.PointerTo(st)} {
		m, ok := t.MethodByName(name)
		if !ok {
			continue
		}
		if f := runtime.FuncForPC(m.Func.Pointer()); f != nil {
			if file, _ := f.FileLine(f.Entry()); file != "<autogenerated>" {
				return true
			}
		}
	}
	return false
}

func newMethod(name string, fn reflect.Value) (*method, error) {
	ft := fn.Type()
	m := &method{name: name, fn: fn, ctxIndex: -1, hubIndex: -1}
	if ft.IsVariadic() {
		return nil, &SignatureError{name, "variadic methods are not supported"}
	}
	for i := 0; i < ft.NumIn(); i++ {
		pt := ft.In(i)
		switch {
		case pt == typeContext:
			if i > 1 || m.ctxIndex >= 0 || (i == 1 && m.hubIndex != 0) {
				return nil, &SignatureError{name, "a context.Context parameter must come first"}
			}
			m.ctxIndex = i
			continue
		case pt == typeHubContext:
			if i > 1 || m.hubIndex >= 0 || (i == 1 && m.ctxIndex != 0) {
				return nil, &SignatureError{name, "a *signalr.Context parameter must come first"}
			}
			m.hubIndex = i
			continue
		}
		if shape, elem := streamShapeOf(pt); shape != streamNone {
			if err := checkParamType(elem); err != nil {
				return nil, &SignatureError{name, fmt.Sprintf("parameter %d: stream items: %v", i, err)}
			}
			m.params = append(m.params, param{t: pt, shape: shape, elem: elem})
			m.nStreams++
			continue
		}
		if err := checkParamType(pt); err != nil {
			return nil, &SignatureError{name, fmt.Sprintf("parameter %d: %v", i, err)}
		}
		m.params = append(m.params, param{t: pt})
		m.nArgs++
	}
	switch ft.NumOut() {
	case 0:
	case 1:
		if ft.Out(0) == typeError {
			m.hasError = true
		} else {
			m.hasResult = true
		}
	case 2:
		if ft.Out(1) != typeError {
			return nil, &SignatureError{name, "the second result must be error"}
		}
		m.hasResult, m.hasError = true, true
	default:
		return nil, &SignatureError{name, "a hub method returns nothing, error, T or (T, error)"}
	}
	if m.hasResult {
		rt := ft.Out(0)
		if shape, elem := streamShapeOf(rt); shape != streamNone {
			if err := checkParamType(elem); err != nil {
				return nil, &SignatureError{name, fmt.Sprintf("stream items: %v", err)}
			}
			m.stream = shape
		} else if err := checkParamType(rt); err != nil {
			return nil, &SignatureError{name, fmt.Sprintf("result: %v", err)}
		}
	}
	return m, nil
}

func checkParamType(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Uintptr, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("type %s cannot be sent over the wire", t)
	}
	if t == typeContext || t == typeHubContext || t == typeError {
		return fmt.Errorf("type %s is not allowed here", t)
	}
	return nil
}

// bindError is an argument binding failure. msg is ASP.NET Core's text
// for it, which reaches the client only with detailed errors (a stream
// count mismatch, a HubException there, always); cause, the decoder's
// error, is only logged.
type bindError struct {
	msg     string
	cause   error
	streams bool // the number of upload streams does not match
}

func (e *bindError) Error() string {
	if e.cause != nil {
		return e.msg + " " + e.cause.Error()
	}
	return e.msg
}

// bindErrorText is the error completion text for a call of target whose
// arguments could not be bound, as ASP.NET Core words it.
func (c *conn) bindErrorText(target string, err error) string {
	var be *bindError
	if errors.As(err, &be) && be.streams {
		return fmt.Sprintf("An unexpected error occurred invoking '%s' on the server. HubException: %s", target, be.msg)
	}
	msg := fmt.Sprintf("Failed to invoke '%s' due to an error on the server.", target)
	if c.hub.cfg.detailedErrors && be != nil {
		msg += " InvalidDataException: " + be.msg
	}
	return msg
}

const errBindingArguments = "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked."

// bind decodes raw arguments straight into the method's parameter types,
// and connects upload stream parameters to the client's stream ids.
func (m *method) bind(c *conn, args []any, streamIDs []string, ctx context.Context, hc *Context) ([]reflect.Value, []*upload, error) {
	if len(args) != m.nArgs {
		return nil, nil, &bindError{msg: fmt.Sprintf("Invocation provides %d argument(s) but target expects %d.", len(args), m.nArgs)}
	}
	if len(streamIDs) != m.nStreams {
		return nil, nil, &bindError{msg: fmt.Sprintf("Client sent %d stream(s), Hub method expects %d.", len(streamIDs), m.nStreams), streams: true}
	}
	n := len(m.params)
	if m.ctxIndex >= 0 {
		n++
	}
	if m.hubIndex >= 0 {
		n++
	}
	in := make([]reflect.Value, n)
	if m.ctxIndex >= 0 {
		in[m.ctxIndex] = reflect.ValueOf(ctx)
	}
	if m.hubIndex >= 0 {
		in[m.hubIndex] = reflect.ValueOf(hc)
	}
	off := n - len(m.params)
	var ups []*upload
	ai, si := 0, 0
	for i, pm := range m.params {
		if pm.shape != streamNone {
			up := newUpload(c, streamIDs[si], pm)
			si++
			ups = append(ups, up)
			in[off+i] = up.param()
			continue
		}
		raw, ok := args[ai].(protocol.Raw)
		ai++
		if !ok {
			return nil, nil, &bindError{msg: errBindingArguments, cause: fmt.Errorf("argument %d is not a raw protocol value", ai)}
		}
		if pm.t == typeRawArgument {
			in[off+i] = reflect.ValueOf(RawArgument{p: c.proto, raw: raw})
			continue
		}
		pv := reflect.New(pm.t)
		if err := c.proto.Unmarshal(raw, pv.Interface()); err != nil {
			return nil, nil, &bindError{msg: errBindingArguments, cause: fmt.Errorf("argument %d: %w", ai, err)}
		}
		in[off+i] = pv.Elem()
	}
	return in, ups, nil
}

// call runs the method, turning a panic into an error.
func (m *method) call(in []reflect.Value) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r}
		}
	}()
	out := m.fn.Call(in)
	if m.hasError {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	if m.hasResult {
		return out[0].Interface(), nil
	}
	return nil, nil
}

type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// lookup finds the hub method a client names: exactly, or else without
// regard to case, as ASP.NET Core does.
func (h *Hub) lookup(name string) *method {
	if m := h.exact[name]; m != nil {
		return m
	}
	return h.methods[strings.ToLower(name)]
}
