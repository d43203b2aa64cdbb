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
	"runtime/debug"
	"syscall"
	"time"

	"github.com/gosignalr/signalr"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	"github.com/gosignalr/signalr/internal/loadgen"
	"github.com/gosignalr/signalr/internal/loadgen/benchhub"
)

// readyPrefix starts the line a server prints once it listens.
const readyPrefix = "listening "

func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	natsURL := fs.String("nats", "", "join other nodes over the NATS server at this URL")
	name := fs.String("name", "bench", "hub name on the backplane (every node of one hub uses the same)")
	coalesce := fs.Bool("coalesce", true, "pack queued messages into one frame per write")
	maxOutbound := fs.Int("max-outbound", 0, "outbound queue limit per connection in bytes (0: the library default)")
	writeTimeout := fs.Duration("write-timeout", 0, "write timeout (0: the library default)")
	pprofOn := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/")
	logLevel := fs.String("log", "warn", "log level: debug, info, warn, error")
	stdinExit := fs.Bool("exit-with-stdin", false, "exit when standard input closes (for child processes)")
	memLimit := fs.Int("memlimit-mib", 0, "soft memory limit for the Go runtime in MiB, as GOMEMLIMIT sets (0: none)")
	gogc := fs.Int("gogc", 0, "the collector's target percentage, as GOGC sets (0: GOGC's, or 100; -1: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loadgen.CheckLoopbackAddr(*addr); err != nil {
		return err
	}
	if *memLimit > 0 {
		debug.SetMemoryLimit(int64(*memLimit) << 20)
	}
	if *gogc != 0 {
		debug.SetGCPercent(*gogc)
	}
	if _, err := loadgen.RaiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "signalr-bench server:", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := []signalr.Option{signalr.WithLogger(logger), signalr.WithWriteCoalescing(*coalesce)}
	if *maxOutbound > 0 {
		opts = append(opts, signalr.WithMaxOutboundBuffer(*maxOutbound))
	}
	if *writeTimeout > 0 {
		opts = append(opts, signalr.WithWriteTimeout(*writeTimeout))
	}
	if *natsURL != "" {
		if err := loadgen.CheckLoopback(*natsURL); err != nil {
			return err
		}
		bp, err := natsbp.Connect(*natsURL, natsbp.WithPrefix("signalr-bench"))
		if err != nil {
			return fmt.Errorf("NATS: %w", err)
		}
		defer bp.Close()
		// Connect returns before the connection is up; serve only once it is.
		for deadline := time.Now().Add(10 * time.Second); !bp.Conn().IsConnected(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				return fmt.Errorf("NATS: not connected to %s after 10 s", *natsURL)
			}
		}
		opts = append(opts, signalr.WithBackplane(bp), signalr.WithHubName(*name))
	}
	s, err := benchhub.New(benchhub.Options{Hub: opts, Pprof: *pprofOn})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *stdinExit {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("%shttp://%s\n", readyPrefix, ln.Addr())

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
