// Package contract declares the methods of the other end of a SignalR
// connection once, as typed values, so that a call or a handler with the
// wrong argument types fails to compile instead of failing on the wire.
//
// A descriptor is a method name with its parameter types: [Method0] …
// [Method4] for methods that return nothing, [Func0] … [Func4] for methods
// that return a result. Declare a contract in one place, the package both
// ends import:
//
//	// ChatClient is what the server may call on a chat client.
//	type ChatClient struct {
//		ReceiveMessage contract.Method2[string, string] // from, text
//		UserJoined     contract.Method1[string]
//		AskName        contract.Func0[string] `signalr:"askName"`
//	}
//
//	var Client = contract.MustDeclare[ChatClient]()
//
// [Declare] names every descriptor after its field, or after its signalr
// tag; [NewMethod2] and the other constructors make a single descriptor.
//
// The server calls client methods through any target of the signalr
// package, inside a hub method or anywhere else in the program:
//
//	err := Client.ReceiveMessage.Send(ctx, c.Clients().Group(room), from, text)
//	name, err := Client.AskName.Invoke(ctx, hub.Clients().Client(id))
//
// and a Go client registers typed handlers for them:
//
//	err := Client.ReceiveMessage.On(conn, func(from, text string) { ... })
//	err = Client.AskName.On(conn, func() (string, error) { return "bob", nil })
//
// The same descriptors describe hub methods called by a Go client: Send
// and Invoke take the client connection as their target.
//
// The package depends on no other package of the module: targets are the
// small interfaces [Sender], [Invoker] and [Registrar], which
// signalr.ClientProxy, signalr.SingleClientProxy and the Go client
// satisfy. Descriptors are small immutable values, safe for concurrent use;
// their methods return the target's errors unchanged.
package contract

import (
	"context"
	"errors"
	"fmt"
)

// Sender sends an invocation without waiting for an answer:
// signalr.ClientProxy (every target of signalr.Clients) on the server, and
// the Go client for hub methods.
type Sender interface {
	Send(ctx context.Context, method string, args ...any) error
}

// Invoker invokes a method and waits for its result, which it decodes into
// result (a pointer, or nil to ignore it): signalr.SingleClientProxy for
// client results on the server, and the Go client for hub methods.
type Invoker interface {
	Invoke(ctx context.Context, result any, method string, args ...any) error
}

// Registrar registers a handler for the invocations of a method; the
// handler's parameter types say how arguments are decoded, and a handler
// that returns a value (and an error) answers invocations that wait for a
// result. The Go client is a Registrar.
type Registrar interface {
	On(method string, handler any) error
}

// ErrNoName is returned when a descriptor without a name is used: a zero
// value that neither a constructor nor [Declare] has named.
var ErrNoName = errors.New("contract: method descriptor has no name")

// named is implemented by the pointer of every descriptor type, so that
// Declare can name a struct's fields.
type named interface {
	setName(name string)
}

// desc is the part every descriptor shares.
type desc struct {
	name string
}

// Name returns the method name on the wire.
func (d desc) Name() string { return d.name }

// String returns the method name.
func (d desc) String() string { return d.name }

func (d *desc) setName(name string) { d.name = name }

func (d desc) send(ctx context.Context, to Sender, args ...any) error {
	if d.name == "" {
		return ErrNoName
	}
	return to.Send(ctx, d.name, args...)
}

func (d desc) invoke(ctx context.Context, on Invoker, result any, args ...any) error {
	if d.name == "" {
		return ErrNoName
	}
	return on.Invoke(ctx, result, d.name, args...)
}

func (d desc) on(r Registrar, handler any, isNil bool) error {
	if d.name == "" {
		return ErrNoName
	}
	if isNil {
		return fmt.Errorf("contract: nil handler for %q", d.name)
	}
	return r.On(d.name, handler)
}
