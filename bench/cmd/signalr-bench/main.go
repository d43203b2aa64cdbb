// Command signalr-bench measures gosignalr under load on this machine:
// idle footprint, echo calls, broadcast fan-out, groups, write coalescing,
// slow consumers and a NATS backplane, with numbers anyone can reproduce.
//
//	go run ./bench/cmd/signalr-bench suite             # the default suite, a few minutes on 2 cores
//	go run ./bench/cmd/signalr-bench suite -big        # 19k on one server, 100k over six NATS-joined hubs
//	go run ./bench/cmd/signalr-bench suite -pairs all -scenario idle,echo,fanout   # on every transport and protocol
//	go run ./bench/cmd/signalr-bench suite -soak 10m   # churn soak at 5,000 connections
//	go run ./bench/cmd/signalr-bench server -addr 127.0.0.1:8080 -pprof
//	go run ./bench/cmd/signalr-bench load -url http://127.0.0.1:8080/hub -scenario fanout
//
// from the repository root (the bench module, joined by go.work), or
// go run ./cmd/signalr-bench ... from the bench directory.
//
// The suite starts every server it measures as a child process, so that
// the memory it reports is the server's alone, and a fresh one for every
// row. Load only ever goes to loopback addresses. Client connections are
// spread over source addresses 127.0.0.1, 127.0.0.2, ... so that they can
// outnumber one address's ephemeral ports, and over several processes
// when one process's open-file limit is not enough.
//
// Every scenario runs over WebSockets with JSON unless -transport (ws, sse,
// lp), -protocol (json, messagepack) or -pairs (ws/json,lp/msgpack,...)
// choose others; the big runs and the soak hold WebSockets.
//
// Results print as a markdown table (one row per run), or as JSON lines
// with -json.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `usage: signalr-bench <command> [flags]

commands:
  suite    run scenarios against servers it starts as child processes
  load     run scenarios against a server that is already running
  server   run the bench hub

Run "signalr-bench <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "server":
		err = runServer(args)
	case "suite":
		err = runSuite(args, true)
	case "load":
		err = runSuite(args, false)
	case "worker": // started by the suite for connections beyond one process
		err = runWorker(args)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "signalr-bench: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "signalr-bench:", err)
		os.Exit(1)
	}
}
