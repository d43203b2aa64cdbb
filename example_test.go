package signalr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/backplane"
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

	// A client, as connection.invoke("Add", 40, 2) in JavaScript.
	c := dial(srv.URL + "/calc")
	defer c.close()
	fmt.Println(c.invoke("Add", 40, 2))
	// Output: 42
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

func ExampleClientProxy_Send() {
	hub, _ := signalr.New(Chat{}, signalr.WithUserIDFunc(userFromRequest))
	url, stop := serve(hub)
	defer stop()
	alice, bob := dial(url+"?user=alice"), dial(url+"?user=bob")
	defer alice.close()
	defer bob.close()

	// Inside a hub method: alice calls Send.
	alice.invoke("Send", "hello")
	fmt.Println("alice got", alice.next())
	fmt.Println("bob got", bob.next())

	// Anywhere else in the program.
	err := hub.Clients().All().Send(context.Background(), "message", "server", "back at noon")
	fmt.Println(err)
	fmt.Println("alice got", alice.next())
	fmt.Println("bob got", bob.next())
	// Output:
	// alice got message("alice", "hello")
	// bob got message("alice", "hello")
	// <nil>
	// alice got message("server", "back at noon")
	// bob got message("server", "back at noon")
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

func ExampleGroups() {
	hub, _ := signalr.New(Rooms{}, signalr.WithUserIDFunc(userFromRequest))
	url, stop := serve(hub)
	defer stop()
	alice, bob, carol := dial(url+"?user=alice"), dial(url+"?user=bob"), dial(url+"?user=carol")
	defer alice.close()
	defer bob.close()
	defer carol.close()

	alice.invoke("Join", "ops")
	bob.invoke("Join", "ops")
	alice.invoke("Say", "ops", "deploying")
	fmt.Println("bob got", bob.next())

	// From outside a hub method: the group, then everyone.
	ctx := context.Background()
	_ = hub.Clients().Group("ops").Send(ctx, "alert", "disk full")
	_ = hub.Clients().All().Send(ctx, "alert", "all clear")
	fmt.Println("alice got", alice.next(), "and", alice.next())
	fmt.Println("bob got", bob.next(), "and", bob.next())
	fmt.Println("carol got", carol.next()) // not in ops
	// Output:
	// bob got said("ops", "alice", "deploying")
	// alice got alert("disk full") and alert("all clear")
	// bob got alert("disk full") and alert("all clear")
	// carol got alert("all clear")
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
	alice := dial(url)
	defer alice.close()
	// As connection.on("Ask", question => 42) in JavaScript: a handler
	// that returns a value answers the server.
	alice.on("Ask", func(args []json.RawMessage) any {
		fmt.Println("alice was asked", string(args[0]))
		return 42
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var id string
	select {
	case id = <-quiz.connected:
	case <-ctx.Done():
		fmt.Println("no connection")
		return
	}
	var answer int
	err := hub.Clients().Client(id).Invoke(ctx, &answer, "Ask", "6 x 7?")
	fmt.Println(answer, err)
	// Output:
	// alice was asked "6 x 7?"
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
	c := dial(url)
	defer c.close()

	fmt.Println(c.stream("Count", 3))
	fmt.Println(c.upload("Sum", 1, 2, 3, 4))
	// Output:
	// [1 2 3]
	// 10
}

func ExampleWithBackplane() {
	// Two nodes of one hub, here in one process; across processes, use
	// backplane/nats or backplane/redis.
	bus := backplane.NewMemory()
	defer bus.Close()
	node1, _ := signalr.New(Chat{}, signalr.WithBackplane(bus, "chat"), signalr.WithUserIDFunc(userFromRequest))
	node2, _ := signalr.New(Chat{}, signalr.WithBackplane(bus, "chat"), signalr.WithUserIDFunc(userFromRequest))
	url1, stop1 := serve(node1)
	defer stop1()
	url2, stop2 := serve(node2)
	defer stop2()
	alice, bob := dial(url1+"?user=alice"), dial(url2+"?user=bob")
	defer alice.close()
	defer bob.close()

	alice.invoke("Send", "hi from node 1")
	fmt.Println("bob got", bob.next())
	_ = node2.Clients().User("alice").Send(context.Background(), "message", "node 2", "hi alice")
	fmt.Println("alice got", alice.next(), "and", alice.next())
	// Output:
	// bob got message("alice", "hi from node 1")
	// alice got message("alice", "hi from node 1") and message("node 2", "hi alice")
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
	alice, bob := dial(url+"?user=alice"), dial(url+"?user=bob")
	defer alice.close()
	defer bob.close()

	alice.invoke("Send", "hello")
	fmt.Println("bob got", bob.next())
	_ = chatClient.Welcome.Send(context.Background(), hub.Clients().User("alice"), 2)
	fmt.Println("alice got", alice.next())
	// Output:
	// bob got Message("alice", "hello")
	// alice got Welcome(2)
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

// exampleClient is a minimal SignalR client for the examples: the JSON
// protocol over a WebSocket, without negotiate. Programs use the official
// clients or the Go client instead. Failures are printed, so that they
// show in an example's output.
type exampleClient struct {
	ws       *websocket.Conn
	wmu      sync.Mutex // one writer at a time
	mu       sync.Mutex
	nextID   int
	waiting  map[string]chan exampleMessage
	handlers map[string]func(args []json.RawMessage) any
	received chan string // invocations without a handler, formatted
	done     chan struct{}
}

type exampleMessage struct {
	Type         int               `json:"type"`
	InvocationID string            `json:"invocationId"`
	Target       string            `json:"target"`
	Arguments    []json.RawMessage `json:"arguments"`
	Item         json.RawMessage   `json:"item"`
	Result       json.RawMessage   `json:"result"`
	Error        string            `json:"error"`
}

const exampleTimeout = 5 * time.Second

// dial connects to the hub at url (http://…) and completes the handshake.
func dial(url string) *exampleClient {
	c := &exampleClient{
		waiting:  map[string]chan exampleMessage{},
		handlers: map[string]func([]json.RawMessage) any{},
		received: make(chan string, 64),
		done:     make(chan struct{}),
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http"), nil)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		fmt.Println("dial:", err)
		close(c.done)
		return c
	}
	c.ws = ws
	c.write(map[string]any{"protocol": "json", "version": 1})
	_ = ws.SetReadDeadline(time.Now().Add(exampleTimeout))
	_, frame, err := ws.ReadMessage()
	records := strings.Split(strings.TrimSuffix(string(frame), "\x1e"), "\x1e")
	if err != nil || records[0] != "{}" {
		fmt.Println("handshake:", err, string(frame))
	}
	_ = ws.SetReadDeadline(time.Time{})
	go c.readLoop(records[1:])
	// The hub answers the handshake before it registers the connection,
	// as ASP.NET Core does; the answer to a first call comes after.
	if _, res := await(c.call(1, "ready?", nil, nil)); !strings.HasPrefix(res, "error: ") {
		fmt.Println("no answer to the first call:", res)
	}
	return c
}

func (c *exampleClient) write(v any) {
	b, err := json.Marshal(v)
	if err == nil {
		c.wmu.Lock()
		err = c.ws.WriteMessage(websocket.TextMessage, append(b, 0x1e))
		c.wmu.Unlock()
	}
	if err != nil {
		fmt.Println("write:", err)
	}
}

// readLoop dispatches every message until the connection ends: results
// and stream items to the call waiting for them, invocations to their
// handler (answering the server when it waits for a result) or to
// received.
func (c *exampleClient) readLoop(records []string) {
	defer close(c.done)
	for {
		for _, rec := range records {
			var m exampleMessage
			if err := json.Unmarshal([]byte(rec), &m); err != nil {
				fmt.Println("bad message:", rec)
				return
			}
			switch m.Type {
			case 1: // Invocation
				c.mu.Lock()
				h := c.handlers[m.Target]
				c.mu.Unlock()
				switch {
				case h != nil && m.InvocationID != "":
					c.write(map[string]any{"type": 3, "invocationId": m.InvocationID, "result": h(m.Arguments)})
				case h != nil:
					h(m.Arguments)
				default:
					c.received <- format(m.Target, m.Arguments)
				}
			case 2, 3: // StreamItem, Completion
				c.mu.Lock()
				ch := c.waiting[m.InvocationID]
				c.mu.Unlock()
				if ch != nil {
					ch <- m
				}
			case 7: // Close
				return
			}
		}
		_, frame, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		records = strings.Split(strings.TrimSuffix(string(frame), "\x1e"), "\x1e")
	}
}

func format(target string, args []json.RawMessage) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = string(a)
	}
	return target + "(" + strings.Join(s, ", ") + ")"
}

// on registers a handler for the server's invocations of method.
func (c *exampleClient) on(method string, h func(args []json.RawMessage) any) {
	c.mu.Lock()
	c.handlers[method] = h
	c.mu.Unlock()
}

// call sends an invocation of type typ and returns the channel of its
// stream items and completion.
func (c *exampleClient) call(typ int, method string, args []any, streamIDs []string) chan exampleMessage {
	ch := make(chan exampleMessage, 64)
	c.mu.Lock()
	c.nextID++
	id := fmt.Sprint(c.nextID)
	c.waiting[id] = ch
	c.mu.Unlock()
	if args == nil {
		args = []any{}
	}
	msg := map[string]any{"type": typ, "invocationId": id, "target": method, "arguments": args}
	if streamIDs != nil {
		msg["streamIds"] = streamIDs
	}
	c.write(msg)
	return ch
}

// await returns the stream items up to the completion, then its result or
// error.
func await(ch chan exampleMessage) (items []string, result string) {
	for {
		select {
		case m := <-ch:
			switch {
			case m.Type == 2:
				items = append(items, string(m.Item))
			case m.Error != "":
				return items, "error: " + m.Error
			default:
				return items, string(m.Result)
			}
		case <-time.After(exampleTimeout):
			return items, "timeout"
		}
	}
}

// invoke calls a hub method and returns its result as JSON, "" for none.
func (c *exampleClient) invoke(method string, args ...any) string {
	_, result := await(c.call(1, method, args, nil))
	if strings.HasPrefix(result, "error: ") || result == "timeout" {
		fmt.Println(method+":", result)
	}
	return result
}

// stream calls a streaming hub method and returns its items.
func (c *exampleClient) stream(method string, args ...any) []string {
	items, result := await(c.call(4, method, args, nil))
	if result != "" {
		fmt.Println(method+":", result)
	}
	return items
}

// upload calls a hub method whose only argument is a stream of items.
func (c *exampleClient) upload(method string, items ...any) string {
	ch := c.call(1, method, nil, []string{"up"})
	for _, it := range items {
		c.write(map[string]any{"type": 2, "invocationId": "up", "item": it})
	}
	c.write(map[string]any{"type": 3, "invocationId": "up"})
	_, result := await(ch)
	return result
}

// next returns the next invocation the server sent without a handler.
func (c *exampleClient) next() string {
	select {
	case s := <-c.received:
		return s
	case <-time.After(exampleTimeout):
		return "timeout"
	}
}

// close ends the connection and waits for the read loop.
func (c *exampleClient) close() {
	if c.ws != nil {
		c.ws.Close()
	}
	<-c.done
}
