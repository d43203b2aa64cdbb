package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
)

// Calc is the hub of the examples.
type Calc struct{}

// Add returns a + b.
func (Calc) Add(a, b int) int { return a + b }

// Shout sends text back to the caller's "shout" handler.
func (Calc) Shout(c *signalr.Context, text string) error {
	return c.Clients().Caller().Send(c, "shout", text+"!")
}

// Range streams from..to.
func (Calc) Range(ctx context.Context, from, to int) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := from; i <= to; i++ {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// serveCalc serves Calc on an httptest server and returns its hub URL and
// a function that stops it.
func serveCalc() (string, func()) {
	hub, err := signalr.New(Calc{}, signalr.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/calc", hub)
	mux.Handle("/calc/", hub)
	srv := httptest.NewServer(mux)
	return srv.URL + "/calc", func() {
		_ = hub.Shutdown(context.Background())
		srv.Close()
	}
}

func Example() {
	url, stop := serveCalc()
	defer stop()
	ctx := context.Background()

	c, err := client.New(url, client.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	shouts := make(chan string, 1)
	if err := client.On1(c, "shout", func(s string) { shouts <- s }); err != nil {
		panic(err)
	}
	if err := c.Start(ctx); err != nil {
		panic(err)
	}
	defer c.Stop(ctx)

	var sum int
	if err := c.Invoke(ctx, &sum, "Add", 40, 2); err != nil {
		panic(err)
	}
	fmt.Println("sum:", sum)

	if err := c.Send(ctx, "Shout", "hello"); err != nil {
		panic(err)
	}
	fmt.Println("heard:", <-shouts)
	// Output:
	// sum: 42
	// heard: hello!
}

func ExampleStream() {
	url, stop := serveCalc()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(url, client.WithLogger(slog.New(slog.DiscardHandler)))
	if err := c.Start(ctx); err != nil {
		panic(err)
	}
	defer c.Stop(ctx)

	for n, err := range client.Stream[int](ctx, c, "Range", 1, 3) {
		if err != nil {
			panic(err)
		}
		fmt.Println(n)
	}
	// Output:
	// 1
	// 2
	// 3
}
