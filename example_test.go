package signalr_test

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/contract"
)

// Calculator is the hub of the package example: clients may call Add.
type Calculator struct{}

// Add returns a+b to the calling client.
func (Calculator) Add(a, b int) int { return a + b }

func Example() {
	hub, err := signalr.New(Calculator{})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/calc", hub)
	mux.Handle("/calc/", hub) // negotiate lives below the hub path
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	// A client: the Go client here, as connection.Invoke("Add", 40, 2)
	// in JavaScript.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.New(srv.URL + "/calc")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Stop(context.Background())
	var sum int
	err = c.Invoke(ctx, &sum, "Add", 40, 2)
	fmt.Println(sum, err)
	// Output: 42 <nil>
}

// Chat is a hub whose Send broadcasts to every connection. The user id
// comes from the request (see [signalr.WithUserIDFunc]).
type Chat struct{}

// Send calls every client's "message" handler with the caller's user id
// and text.
func (Chat) Send(c *signalr.Context, text string) error {
	return c.Clients().All().Send(c, "message", c.UserID(), text)
}

// userFromRequest takes the user id from the query string. Real
// applications authenticate (see signalr.WithAuthenticator).
func userFromRequest(r *http.Request) string { return r.URL.Query().Get("user") }

// onMessage passes each "message" the client receives to ch, formatted.
func onMessage(ch chan<- string) func(*client.Client) error {
	return func(c *client.Client) error {
		return client.On2(c, "message", func(from, text string) { ch <- from + ": " + text })
	}
}

func ExampleClientProxy_Send() {
	hub, _ := signalr.New(Chat{}, signalr.WithUserIDFunc(userFromRequest))
	url, stop := serve(hub)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	toAlice, toBob := make(chan string, 8), make(chan string, 8)

	// Inside a hub method: alice calls Send, then bob does.
	alice := connect(ctx, url+"?user=alice", onMessage(toAlice))
	defer alice.Stop(context.Background())
	_ = alice.Invoke(ctx, nil, "Send", "hello")
	fmt.Println("alice got", receive(ctx, toAlice))
	bob := connect(ctx, url+"?user=bob", onMessage(toBob))
	defer bob.Stop(context.Background())
	_ = bob.Invoke(ctx, nil, "Send", "hi alice")
	fmt.Println("alice got", receive(ctx, toAlice))
	fmt.Println("bob got", receive(ctx, toBob))

	// Anywhere else in the program.
	err := hub.Clients().All().Send(ctx, "message", "server", "back at noon")
	fmt.Println(err)
	fmt.Println("alice got", receive(ctx, toAlice))
	fmt.Println("bob got", receive(ctx, toBob))
	// Output:
	// alice got alice: hello
	// alice got bob: hi alice
	// bob got bob: hi alice
	// <nil>
	// alice got server: back at noon
	// bob got server: back at noon
}

// Rooms is a hub with groups: Join adds the caller to a room, and Say
// speaks to the room.
type Rooms struct{}

// Join adds the caller to room.
func (Rooms) Join(c *signalr.Context, room string) error {
	return c.Groups().Add(c, c.ConnectionID(), room)
}

// Say sends text to everyone in room but the caller.
func (Rooms) Say(c *signalr.Context, room, text string) error {
	return c.Clients().OthersInGroup(room).Send(c, "said", room, c.UserID(), text)
}

// onRoom passes each "said" and "alert" the client receives to ch,
// formatted.
func onRoom(ch chan<- string) func(*client.Client) error {
	return func(c *client.Client) error {
		if err := client.On3(c, "said", func(room, from, text string) {
			ch <- fmt.Sprintf("%s in %s: %s", from, room, text)
		}); err != nil {
			return err
		}
		return client.On1(c, "alert", func(text string) { ch <- "alert: " + text })
	}
}

func ExampleGroups() {
	hub, _ := signalr.New(Rooms{}, signalr.WithUserIDFunc(userFromRequest))
	url, stop := serve(hub)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	toAlice, toBob, toCarol := make(chan string, 8), make(chan string, 8), make(chan string, 8)
	alice := connect(ctx, url+"?user=alice", onRoom(toAlice))
	defer alice.Stop(context.Background())
	bob := connect(ctx, url+"?user=bob", onRoom(toBob))
	defer bob.Stop(context.Background())
	carol := connect(ctx, url+"?user=carol", onRoom(toCarol))
	defer carol.Stop(context.Background())

	_ = alice.Invoke(ctx, nil, "Join", "ops")
	_ = bob.Invoke(ctx, nil, "Join", "ops")
	_ = carol.Invoke(ctx, nil, "Join", "dev")
	_ = alice.Invoke(ctx, nil, "Say", "ops", "deploying")
	fmt.Println("bob got", receive(ctx, toBob))

	// From outside a hub method: the group, then everyone.
	_ = hub.Clients().Group("ops").Send(ctx, "alert", "disk full")
	_ = hub.Clients().All().Send(ctx, "alert", "all clear")
	fmt.Println("alice got", receive(ctx, toAlice), "and", receive(ctx, toAlice))
	fmt.Println("bob got", receive(ctx, toBob), "and", receive(ctx, toBob))
	fmt.Println("carol got", receive(ctx, toCarol)) // not in ops
	// Output:
	// bob got alice in ops: deploying
	// alice got alert: disk full and alert: all clear
	// bob got alert: disk full and alert: all clear
	// carol got alert: all clear
}

// Quiz is a hub that reports each new connection's id on connected.
type Quiz struct {
	connected chan string
}

// OnConnected reports the connection's id.
func (q *Quiz) OnConnected(c *signalr.Context) error {
	q.connected <- c.ConnectionID()
	return nil
}

func ExampleSingleClientProxy_Invoke() {
	quiz := &Quiz{connected: make(chan string, 1)}
	hub, _ := signalr.New(quiz)
	url, stop := serve(hub)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A handler that returns a value answers the server, as
	// connection.on("Ask", question => 42) in JavaScript.
	alice := connect(ctx, url, func(c *client.Client) error {
		return client.Handle1(c, "Ask", func(_ context.Context, question string) (int, error) {
			fmt.Println("alice was asked", question)
			return 42, nil
		})
	})
	defer alice.Stop(context.Background())

	id := receive(ctx, quiz.connected)
	var answer int
	err := hub.Clients().Client(id).Invoke(ctx, &answer, "Ask", "6 x 7?")
	fmt.Println(answer, err)
	// Output:
	// alice was asked 6 x 7?
	// 42 <nil>
}

// Numbers is a hub that streams in both directions.
type Numbers struct{}

// Count streams 1 … n to the caller (connection.stream("Count", n) in
// JavaScript). It stops early when the client disposes the subscription.
func (Numbers) Count(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 1; i <= n; i++ {
			if !yield(i) {
				return
			}
		}
	}
}

// Sum adds the numbers a client uploads (a signalR.Subject in
// JavaScript) until it completes the stream.
func (Numbers) Sum(ctx context.Context, numbers <-chan int) (int, error) {
	sum := 0
	for {
		select {
		case n, ok := <-numbers:
			if !ok {
				return sum, nil
			}
			sum += n
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func Example_streaming() {
	hub, _ := signalr.New(Numbers{})
	url, stop := serve(hub)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := connect(ctx, url, nil)
	defer c.Stop(context.Background())

	// From the server: a stream of items.
	for n, err := range client.Stream[int](ctx, c, "Count", 3) {
		fmt.Println(n, err)
	}
	// To the server: an iterator (or a channel) argument is uploaded.
	var sum int
	err := c.Invoke(ctx, &sum, "Sum", slices.Values([]int{1, 2, 3, 4}))
	fmt.Println(sum, err)
	// Output:
	// 1 <nil>
	// 2 <nil>
	// 3 <nil>
	// 10 <nil>
}

func ExampleWithBackplane() {
	// Two nodes of one hub, here in one process; across processes, use
	// backplane/nats or backplane/redis.
	bus := backplane.NewMemory()
	defer bus.Close()
	node1, _ := signalr.New(Chat{}, signalr.WithBackplane(bus), signalr.WithHubName("chat"), signalr.WithUserIDFunc(userFromRequest))
	node2, _ := signalr.New(Chat{}, signalr.WithBackplane(bus), signalr.WithHubName("chat"), signalr.WithUserIDFunc(userFromRequest))
	url1, stop1 := serve(node1)
	defer stop1()
	url2, stop2 := serve(node2)
	defer stop2()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	toAlice, toBob := make(chan string, 8), make(chan string, 8)

	alice := connect(ctx, url1+"?user=alice", onMessage(toAlice))
	defer alice.Stop(context.Background())
	_ = alice.Invoke(ctx, nil, "Send", "hi from node 1")
	fmt.Println("alice got", receive(ctx, toAlice))
	bob := connect(ctx, url2+"?user=bob", onMessage(toBob))
	defer bob.Stop(context.Background())
	_ = bob.Invoke(ctx, nil, "Send", "hi from node 2")
	fmt.Println("alice got", receive(ctx, toAlice))
	fmt.Println("bob got", receive(ctx, toBob))
	_ = node2.Clients().User("alice").Send(ctx, "message", "node 2", "hi alice")
	fmt.Println("alice got", receive(ctx, toAlice))
	// Output:
	// alice got alice: hi from node 1
	// alice got bob: hi from node 2
	// bob got bob: hi from node 2
	// alice got node 2: hi alice
}

// ChatClient is the contract of the typed chat: the methods the server
// calls on its clients, with their parameter types.
type ChatClient struct {
	Message contract.Method2[string, string] // from, text
	Welcome contract.Method1[int]            // number of connections
}

// chatClient names each method after its field.
var chatClient = contract.MustDeclare[ChatClient]()

// TypedChat reaches its clients only through chatClient: a call with the
// wrong argument types does not compile.
type TypedChat struct{}

// Send passes text to everyone but the caller.
func (TypedChat) Send(c *signalr.Context, text string) error {
	return chatClient.Message.Send(c, c.Clients().Others(), c.UserID(), text)
}

func Example_typedHub() {
	hub, _ := signalr.New(TypedChat{}, signalr.WithUserIDFunc(userFromRequest))
	url, stop := serve(hub)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan string, 8)

	// The Go client registers its handlers with the same descriptors.
	alice := connect(ctx, url+"?user=alice", func(c *client.Client) error {
		return chatClient.Message.On(c, func(from, text string) { got <- "alice got " + from + ": " + text })
	})
	defer alice.Stop(context.Background())
	_ = alice.Invoke(ctx, nil, "Send", "anyone here?") // nobody else yet
	bob := connect(ctx, url+"?user=bob", func(c *client.Client) error {
		return chatClient.Welcome.On(c, func(n int) { got <- fmt.Sprint("bob got welcome, ", n, " connected") })
	})
	defer bob.Stop(context.Background())
	_ = bob.Invoke(ctx, nil, "Send", "hello")
	fmt.Println(receive(ctx, got))
	_ = chatClient.Welcome.Send(ctx, hub.Clients().User("bob"), 2)
	fmt.Println(receive(ctx, got))
	// Output:
	// alice got bob: hello
	// bob got welcome, 2 connected
}

// serve mounts hub at /hub on an in-memory HTTP server and returns the
// hub's URL and a function that shuts both down.
func serve(hub *signalr.Hub) (url string, stop func()) {
	mux := http.NewServeMux()
	mux.Handle("/hub", hub)
	mux.Handle("/hub/", hub)
	srv := httptest.NewServer(mux)
	return srv.URL + "/hub", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			fmt.Println("shutdown:", err)
		}
		srv.Close()
	}
}

// connect starts a Go client (package client) for the hub at url, with
// the handlers setup registers. Failures are printed, so that they show
// in an example's output.
func connect(ctx context.Context, url string, setup func(c *client.Client) error) *client.Client {
	c, err := client.New(url, client.WithLogger(slog.New(slog.DiscardHandler)))
	if err == nil && setup != nil {
		err = setup(c)
	}
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		fmt.Println("connect:", err)
	}
	return c
}

// receive returns the next value from ch, or prints "timeout" when ctx
// ends first.
func receive[T any](ctx context.Context, ch <-chan T) T {
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		fmt.Println("timeout")
		var zero T
		return zero
	}
}
