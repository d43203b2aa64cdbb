// Command goclient shows the Go client (package client) talking to a hub:
// it invokes a method and reads its result, receives messages the hub
// sends, answers a question the hub asks it (a client result), reads a
// stream from the hub and uploads one to it.
//
//	go run ./examples/goclient
//
// starts a small hub in-process on a loopback port and runs the client
// against it. To see the two sides in separate processes, serve the hub in
// one terminal and point the client at it from another:
//
//	go run ./examples/goclient -serve localhost:8080
//	go run ./examples/goclient -url http://localhost:8080/hub -transport LongPolling -msgpack
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/protocol"
)

// Demo is the hub: a few methods of each kind.
type Demo struct{}

// Add returns a + b.
func (Demo) Add(a, b int) int { return a + b }

// Announce sends text to every client's "announcement" handler.
func (Demo) Announce(c *signalr.Context, text string) error {
	return c.Clients().All().Send(c, "announcement", c.ConnectionID(), text)
}

// Greet asks the caller for its name (a client result) and greets it.
func (Demo) Greet(c *signalr.Context) (string, error) {
	ctx, cancel := context.WithTimeout(c, 5*time.Second)
	defer cancel()
	var name string
	if err := c.Clients().Caller().Invoke(ctx, &name, "name"); err != nil {
		return "", err
	}
	return "hello, " + name, nil
}

// Countdown streams from n down to 1, one number every 100 ms.
func (Demo) Countdown(ctx context.Context, n int) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := n; i > 0; i-- {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ch
}

// Total adds up the numbers the client uploads.
func (Demo) Total(numbers <-chan float64) float64 {
	var t float64
	for x := range numbers {
		t += x
	}
	return t
}

func main() {
	serve := flag.String("serve", "", "only serve the hub at this address, on /hub")
	url := flag.String("url", "", "connect to this hub URL instead of starting one")
	transportName := flag.String("transport", "", "WebSockets, ServerSentEvents or LongPolling (default: the best the server offers)")
	msgpack := flag.Bool("msgpack", false, "use the MessagePack protocol instead of JSON")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *serve != "" {
		if err := serveHub(ctx, *serve, logger, nil); err != nil {
			logger.Error("serve", "error", err)
			os.Exit(1)
		}
		return
	}
	if *url == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			logger.Error("listen", "error", err)
			os.Exit(1)
		}
		*url = "http://" + ln.Addr().String() + "/hub"
		srvCtx, stopServer := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- serveHub(srvCtx, "", logger, ln) }()
		defer func() {
			stopServer()
			<-served
		}()
	}

	opts := []client.Option{client.WithLogger(logger)}
	if *transportName != "" {
		opts = append(opts, client.WithTransports(*transportName))
	}
	if *msgpack {
		opts = append(opts, client.WithProtocol(protocol.MessagePack{}))
	}
	if err := run(ctx, os.Stdout, *url, opts); err != nil {
		logger.Error("client", "error", err)
		os.Exit(1)
	}
}

// run connects a client to url and goes through the demo, telling w what
// happens.
func run(ctx context.Context, w io.Writer, url string, opts []client.Option) error {
	c, err := client.New(url, opts...)
	if err != nil {
		return err
	}
	// Handlers are registered before Start, so nothing is missed.
	announcements := make(chan string, 1)
	if err := client.On2(c, "announcement", func(from, text string) {
		announcements <- fmt.Sprintf("%s says %q", from, text)
	}); err != nil {
		return err
	}
	if err := c.On("name", func() (string, error) { return "the Go client", nil }); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = c.Stop(context.Background()) }()
	fmt.Fprintln(w, "connected to", url, "as", c.ConnectionID())

	var sum int
	if err := c.Invoke(ctx, &sum, "Add", 40, 2); err != nil {
		return err
	}
	fmt.Fprintln(w, "Add(40, 2) =", sum)

	if err := c.Send(ctx, "Announce", "hi, everyone"); err != nil {
		return err
	}
	select {
	case a := <-announcements:
		fmt.Fprintln(w, "received:", a)
	case <-ctx.Done():
		return ctx.Err()
	}

	var greeting string
	if err := c.Invoke(ctx, &greeting, "Greet"); err != nil {
		return err
	}
	fmt.Fprintln(w, "Greet() =", greeting)

	fmt.Fprint(w, "Countdown(5):")
	for n, err := range client.Stream[int](ctx, c, "Countdown", 5) {
		if err != nil {
			return err
		}
		fmt.Fprint(w, " ", n)
	}
	fmt.Fprintln(w)

	var total float64
	if err := c.Invoke(ctx, &total, "Total", slices.Values([]float64{1.5, 2.5, 3})); err != nil {
		return err
	}
	fmt.Fprintln(w, "Total(upload of 1.5, 2.5, 3) =", total)

	var se *client.ServerError
	if err := c.Invoke(ctx, nil, "NoSuchMethod"); errors.As(err, &se) {
		fmt.Fprintln(w, "NoSuchMethod() failed on the server:", se.Message)
	}
	return nil
}

// serveHub serves the Demo hub on /hub, on ln or else at addr, until ctx
// ends.
func serveHub(ctx context.Context, addr string, logger *slog.Logger, ln net.Listener) error {
	hub, err := signalr.New(Demo{}, signalr.WithLogger(logger))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/hub", hub)
	mux.Handle("/hub/", hub)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(shutdownCtx)
		_ = srv.Shutdown(shutdownCtx)
	}()
	if ln == nil {
		logger.Warn("serving the demo hub", "url", "http://"+addr+"/hub")
		err = srv.ListenAndServe()
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
