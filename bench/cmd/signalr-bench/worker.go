package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gosignalr/signalr/internal/loadgen"
)

// A worker is a child process that holds subscribed connections for the
// suite when one process's open-file limit is not enough. It dials, says
// "ready", then answers "report" commands on standard input with what its
// connections received, until "quit" or the end of its input.

// workerEvent is one line a worker writes.
type workerEvent struct {
	Event    string                     `json:"event"` // ready, report, error
	Error    string                     `json:"error,omitempty"`
	Conns    int                        `json:"conns,omitempty"`
	DialNs   int64                      `json:"dialNs,omitempty"`
	Alive    int                        `json:"alive,omitempty"`
	Received uint64                     `json:"received"`
	Bad      uint64                     `json:"bad,omitempty"`
	Frames   uint64                     `json:"frames,omitempty"`
	Messages uint64                     `json:"messages,omitempty"`
	Hist     *loadgen.HistogramSnapshot `json:"hist,omitempty"`
}

func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	urls := fs.String("urls", "", "comma-separated hub URLs; connection i goes to URL i mod count")
	proto := fs.String("protocol", "json", "hub protocol: json or messagepack")
	n := fs.Int("n", 0, "connections to hold")
	first := fs.Int("first-address", 0, "index of the first source address (0 is 127.0.0.1)")
	perAddr := fs.Int("per-address", 10000, "connections per source address")
	conc := fs.Int("concurrency", 32, "dials in flight")
	negotiate := fs.Bool("negotiate", false, "negotiate before connecting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) error {
		_ = out.Encode(workerEvent{Event: "error", Error: err.Error()})
		return err
	}
	if _, err := loadgen.RaiseFileLimit(); err != nil {
		return fail(err)
	}
	p, err := loadgen.ParseProtocol(*proto)
	if err != nil {
		return fail(err)
	}
	var drivers []loadgen.Driver
	for u := range strings.SplitSeq(*urls, ",") {
		d, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: u, Protocol: p, Negotiate: *negotiate})
		if err != nil {
			return fail(err)
		}
		drivers = append(drivers, d)
	}
	if *n <= 0 || *n > loadgen.MaxConnsPerProcess {
		return fail(fmt.Errorf("-n %d: between 1 and %d", *n, loadgen.MaxConnsPerProcess))
	}

	var hist loadgen.Histogram
	var counters loadgen.Counters
	var received, bad atomic.Uint64
	onMessage := func(payload []byte, at time.Time) {
		_, sent, ok := loadgen.ParseStamp(payload)
		if !ok {
			bad.Add(1)
			return
		}
		hist.Record(at.Sub(sent))
		received.Add(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	conns, err := loadgen.DialN(ctx, drivers, *n, func(int) loadgen.DialOptions {
		return loadgen.DialOptions{Subscribe: true, OnMessage: onMessage, Counters: &counters}
	}, loadgen.DialConfig{Concurrency: *conc, PerAddress: *perAddr, FirstAddress: *first})
	if err != nil {
		return fail(err)
	}
	defer loadgen.CloseAll(conns)
	if err := out.Encode(workerEvent{Event: "ready", Conns: len(conns), DialNs: int64(time.Since(start))}); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch cmd := strings.TrimSpace(in.Text()); cmd {
		case "report":
			s := hist.Snapshot()
			if err := out.Encode(workerEvent{
				Event: "report", Alive: loadgen.Alive(conns), Received: received.Load(), Bad: bad.Load(),
				Frames: counters.Frames.Load(), Messages: counters.Messages.Load(), Hist: &s,
			}); err != nil {
				return err
			}
		case "quit":
			return nil
		default:
			return fail(errors.New("unknown command " + cmd))
		}
	}
	return nil
}

// workerChild is a worker process seen from the suite.
type workerChild struct {
	*child
	conns int
}

// startWorker starts a worker and waits until its connections are open.
func startWorker(name string, timeout time.Duration, args ...string) (*workerChild, error) {
	c, err := startChild(name, append([]string{"worker"}, args...)...)
	if err != nil {
		return nil, err
	}
	ev, err := readEvent(c, timeout)
	if err == nil && ev.Event != "ready" {
		err = fmt.Errorf("%s: %s", name, ev.Error)
	}
	if err != nil {
		c.stop(10 * time.Second)
		return nil, err
	}
	return &workerChild{child: c, conns: ev.Conns}, nil
}

func readEvent(c *child, timeout time.Duration) (workerEvent, error) {
	line, err := c.readLine(timeout)
	if err != nil {
		return workerEvent{}, err
	}
	var ev workerEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		return workerEvent{}, fmt.Errorf("%s: %q: %w", c.name, line, err)
	}
	return ev, nil
}

// report asks the worker what its connections have received.
func (w *workerChild) report() (workerEvent, error) {
	if err := w.send("report"); err != nil {
		return workerEvent{}, fmt.Errorf("%s: %w", w.name, err)
	}
	ev, err := readEvent(w.child, 30*time.Second)
	if err == nil && ev.Event != "report" {
		err = fmt.Errorf("%s: %s", w.name, ev.Error)
	}
	return ev, err
}
