// Command centrifuge-server runs the centrifuge peer bench server on a
// loopback address: WebSocket connections on /connection/websocket, process
// figures on GET /debug/stats?gc=1.
//
// It prints one line, "listening http://ADDR", once it accepts
// connections (as signalr-bench server does), and stops on SIGINT or
// SIGTERM, or when standard input closes with -exit-with-stdin.
//
//	go run ./cmd/centrifuge-server -addr 127.0.0.1:8001 -write-buffer-pool
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gosignalr/signalr/bench/centrifugepeer"
	"github.com/gosignalr/signalr/internal/loadgen"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("centrifuge-server: ")
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	var cfg centrifugepeer.ServerConfig
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	flag.BoolVar(&cfg.WriteBufferPool, "write-buffer-pool", false, "share WebSocket write buffers between connections")
	flag.BoolVar(&cfg.ProcessCommandsOffReadLoop, "off-read-loop", false, "handle each incoming frame on a short-lived goroutine")
	flag.IntVar(&cfg.MaxMessagesInFrame, "max-messages-in-frame", 0, "messages per WebSocket frame at most (0: centrifuge's 16, -1: no cap)")
	flag.DurationVar(&cfg.WriteDelay, "write-delay", 0, "time a connection's writer waits to collect messages (0: none)")
	flag.BoolVar(&cfg.WriteWithTimer, "write-with-timer", false, "with -write-delay, schedule writes on a timer instead of a writer goroutine")
	flag.DurationVar(&cfg.WriteTimeout, "write-timeout", 0, "write timeout per client (0: centrifuge's 1s)")
	stdinExit := flag.Bool("exit-with-stdin", false, "exit when standard input closes (for child processes)")
	flag.Parse()

	if err := loadgen.CheckLoopbackAddr(*addr); err != nil {
		return err
	}
	if _, err := loadgen.RaiseFileLimit(); err != nil {
		log.Print(err)
	}

	srv, err := centrifugepeer.NewServer(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *stdinExit {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if herr := hs.Shutdown(shutdownCtx); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = errors.Join(err, herr)
	}
	return err
}
