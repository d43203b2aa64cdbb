package contract_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
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

// RoomClient is what the room hub calls on its clients.
type RoomClient struct {
	Said contract.Method2[string, string] // who, text
}

// RoomHub is what clients call on the room hub.
type RoomHub struct {
	Say    contract.Method1[string]
	WhoAmI contract.Func0[string]
}

var (
	roomClient = contract.MustDeclare[RoomClient]()
	roomHub    = contract.MustDeclare[RoomHub]()
)

// room implements RoomHub, reaching its clients through roomClient.
type room struct{}

func (room) Say(c *signalr.Context, text string) error {
	return roomClient.Said.Send(c, c.Clients().All(), c.UserID(), text)
}

func (room) WhoAmI(c *signalr.Context) string { return c.UserID() }

// Both ends of a connection typed by one contract: a hub and a Go client.
func Example_bothEnds() {
	hub, _ := signalr.New(room{}, signalr.WithUserIDFunc(func(r *http.Request) string {
		return r.URL.Query().Get("user")
	}))
	mux := http.NewServeMux()
	mux.Handle("/room", hub)
	mux.Handle("/room/", hub)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _ := client.New(srv.URL + "/room?user=alice")
	said := make(chan string, 1)
	_ = roomClient.Said.On(conn, func(who, text string) { said <- who + ": " + text })
	if err := conn.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Stop(ctx)

	if err := roomHub.Say.Invoke(ctx, conn, "hello"); err != nil {
		fmt.Println(err)
	}
	select {
	case s := <-said:
		fmt.Println(s)
	case <-ctx.Done():
		fmt.Println("nothing said")
	}
	me, err := roomHub.WhoAmI.Invoke(ctx, conn)
	fmt.Println(me, err)
	// Output:
	// alice: hello
	// alice <nil>
}
