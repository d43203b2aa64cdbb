// Command compare measures gosignalr and github.com/centrifugal/centrifuge
// side by side, in one run, with the same scenarios and the same load
// generator (internal/loadgen): the idle footprint of 1,000 and 10,000
// WebSocket connections, and broadcast fan-out to 1,000 subscribers with
// 64 B and 1 KiB payloads. Each side speaks its own protocol with JSON:
// SignalR's JSON hub protocol, centrifuge's JSON protocol.
//
// Run it from the bench module:
//
//	cd bench && go run ./cmd/compare
//
// It builds both servers from the bench module (cmd/signalr-bench and
// cmd/centrifuge-server, in the bench directory of -repo, the repository's
// root), starts a fresh server as a child process for every run (so the
// memory reported is the server's alone), alternates which side goes
// first, and prints every raw row, then one table with ours, the peer's
// figure and the ratio ours/peer, then the performance targets. Load only
// ever goes to loopback addresses. The machine's other work moves absolute
// numbers; compare ratios taken in one run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gosignalr/signalr/bench/centrifugepeer"
	"github.com/gosignalr/signalr/internal/loadgen"
	"github.com/gosignalr/signalr/internal/loadgen/benchhub"
)

// peerDefaultFlags configure centrifuge-server for the comparison: its
// defaults (no write delay, 16 messages per frame, compression off) plus
// shared write buffers, which a deployment with many connections turns on
// and which gosignalr does by default, and gosignalr's default write
// timeout of 10 s instead of centrifuge's 1 s, so that on a starved machine
// neither side drops subscribers sooner than the other.
const peerDefaultFlags = "-write-buffer-pool -write-timeout 10s"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	p := plan{log: os.Stderr}
	repo := flag.String("repo", "..", "the repository's root directory (its bench module holds cmd/signalr-bench and cmd/centrifuge-server)")
	idle := flag.String("idle", "1000,10000", "idle: connection counts")
	flag.DurationVar(&p.idleHold, "idle-hold", 20*time.Second, "idle: how long connections are held (both servers ping within it)")
	fanout := flag.String("fanout", "1000", "fanout: subscriber counts")
	sizes := flag.String("sizes", "64,1024", "fanout: payload sizes in bytes")
	flag.IntVar(&p.deliveries, "deliveries", 300000, "fanout: deliveries per run (messages = deliveries / subscribers)")
	flag.IntVar(&p.window, "window", 8, "fanout: messages in flight")
	flag.IntVar(&p.rounds, "rounds", 3, "fanout: runs per side, alternating; the median by msgs/s is compared")
	flag.IntVar(&p.dial.Concurrency, "dial-concurrency", 64, "dials in flight")
	flag.IntVar(&p.dial.PerAddress, "per-address", 10000, "connections per source address")
	oursFlags := flag.String("ours-flags", "", "extra flags for signalr-bench server")
	peerFlags := flag.String("peer-flags", peerDefaultFlags, "flags for centrifuge-server")
	flag.Parse()

	var err error
	if p.idle, err = parseInts(*idle); err != nil {
		return fmt.Errorf("-idle: %w", err)
	}
	if p.fanout, err = parseInts(*fanout); err != nil {
		return fmt.Errorf("-fanout: %w", err)
	}
	if p.sizes, err = parseInts(*sizes); err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if _, err := loadgen.RaiseFileLimit(); err != nil {
		p.logf("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bin, err := os.MkdirTemp("", "gosignalr-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	repoDir, err := filepath.Abs(*repo)
	if err != nil {
		return err
	}
	benchDir := filepath.Join(repoDir, "bench")
	if _, err := os.Stat(filepath.Join(benchDir, "cmd", "signalr-bench")); err != nil {
		return fmt.Errorf("-repo %q: no bench/cmd/signalr-bench there; run compare from the bench directory or give -repo the repository's root", *repo)
	}
	oursBin, peerBin := filepath.Join(bin, "signalr-bench"), filepath.Join(bin, "centrifuge-server")
	p.logf("building signalr-bench and centrifuge-server")
	if err := goBuild(ctx, benchDir, oursBin, "./cmd/signalr-bench"); err != nil {
		return err
	}
	if err := goBuild(ctx, benchDir, peerBin, "./cmd/centrifuge-server"); err != nil {
		return err
	}

	ours := side{name: "gosignalr", start: func(ctx context.Context) (*server, error) {
		c, err := startChild(ctx, "signalr-bench", oursBin, append([]string{"server", "-addr", "127.0.0.1:0"}, strings.Fields(*oursFlags)...)...)
		if err != nil {
			return nil, err
		}
		d, err := loadgen.NewSignalR(loadgen.SignalROptions{URL: c.base + benchhub.Path, Protocol: loadgen.JSON, Name: "gosignalr/json"})
		if err != nil {
			c.stop()
			return nil, err
		}
		return &server{target: loadgen.Single(d, c.base+benchhub.StatsPath), stop: c.stop}, nil
	}}
	peer := side{name: "centrifuge", start: func(ctx context.Context) (*server, error) {
		c, err := startChild(ctx, "centrifuge-server", peerBin, append([]string{"-addr", "127.0.0.1:0"}, strings.Fields(*peerFlags)...)...)
		if err != nil {
			return nil, err
		}
		d := &centrifugepeer.Driver{URL: "ws" + strings.TrimPrefix(c.base, "http") + centrifugepeer.WebSocketPath}
		return &server{target: loadgen.Single(d, c.base+centrifugepeer.StatsPath), stop: c.stop}, nil
	}}

	setup := fmt.Sprintf("gosignalr (signalr-bench server%s) vs centrifuge v0.40.1 (centrifuge-server%s), JSON over WebSockets",
		flagsNote(*oursFlags), flagsNote(*peerFlags))
	p.logf("%s", setup)
	pairs, err := p.run(ctx, ours, peer)
	if len(pairs) > 0 {
		fmt.Printf("%s, one run\n\n", setup)
		writeRaw(os.Stdout, pairs)
		fmt.Println()
		writeComparison(os.Stdout, pairs, ours.name, peer.name)
		fmt.Println()
		writeTargets(os.Stdout, pairs, peer.name)
	}
	return err
}

// flagsNote prints a server's flags after its command name.
func flagsNote(flags string) string {
	if flags = strings.Join(strings.Fields(flags), " "); flags == "" {
		return ", defaults"
	}
	return " " + flags
}

// goBuild builds pkg in dir into out.
func goBuild(ctx context.Context, dir, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w", pkg, dir, err)
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
