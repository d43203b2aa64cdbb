package contract_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/gosignalr/signalr/contract"
)

// ChatClient is a contract: the methods a chat server calls on its
// clients.
type ChatClient struct {
	Message contract.Method2[string, string] // from, text
	Joined  contract.Method1[string]         // who
	AskName contract.Func0[string]           `signalr:"askName"` // the client's answer
}

// Client is ChatClient with every method named.
var Client = contract.MustDeclare[ChatClient]()

// wire stands in for a target in these examples: it prints the calls it
// is given as they would go on the wire, and answers invocations with
// "bob". In a program the target is a signalr.ClientProxy or
// signalr.SingleClientProxy on the server, or the Go client.
type wire struct{}

func (wire) Send(_ context.Context, method string, args ...any) error {
	b, _ := json.Marshal(args)
	fmt.Printf("send %s %s\n", method, b)
	return nil
}

func (wire) Invoke(_ context.Context, result any, method string, args ...any) error {
	b, _ := json.Marshal(append([]any{}, args...))
	fmt.Printf("invoke %s %s\n", method, b)
	return json.Unmarshal([]byte(`"bob"`), result)
}

// registry stands in for the Go client's On: it keeps handlers, and
// deliver calls one as the client does when a message arrives.
type registry map[string]any

func (r registry) On(method string, handler any) error {
	r[method] = handler
	return nil
}

func (r registry) deliver(method string, args ...any) {
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		in[i] = reflect.ValueOf(a)
	}
	reflect.ValueOf(r[method]).Call(in)
}

func ExampleDeclare() {
	c, err := contract.Declare[ChatClient]()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Message.Name(), c.Joined.Name(), c.AskName.Name())
	// Output: Message Joined askName
}

func ExampleMethod2_Send() {
	// In a hub method: Client.Message.Send(c, c.Clients().Group(room), from, text)
	ctx := context.Background()
	if err := Client.Message.Send(ctx, wire{}, "alice", "hello"); err != nil {
		fmt.Println(err)
	}
	// Client.Message.Send(ctx, wire{}, "alice", 42) does not compile.
	// Output: send Message ["alice","hello"]
}

func ExampleMethod2_On() {
	r := registry{} // the Go client
	err := Client.Message.On(r, func(from, text string) {
		fmt.Printf("%s says %q\n", from, text)
	})
	if err != nil {
		fmt.Println(err)
	}
	r.deliver("Message", "alice", "hello")
	// Output: alice says "hello"
}

func ExampleFunc0_Invoke() {
	// On the server: Client.AskName.Invoke(ctx, hub.Clients().Client(id))
	ctx := context.Background()
	name, err := Client.AskName.Invoke(ctx, wire{})
	fmt.Println(name, err)
	// Output:
	// invoke askName []
	// bob <nil>
}

func ExampleNewMethod1() {
	// One descriptor without a contract struct.
	joined := contract.NewMethod1[string]("Joined")
	_ = joined.Send(context.Background(), wire{}, "carol")
	// Output: send Joined ["carol"]
}
