package faultsuite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/gosignalr/signalr/internal/redistest"
)

// bus is a real NATS or Redis server that can be stopped and started
// again on the same port.
type bus struct {
	kind  string // "nats" or "redis"
	t     *testing.T
	port  int
	stopF func()
}

func startBus(t *testing.T, kind string) *bus {
	t.Helper()
	b := &bus{kind: kind, t: t}
	b.start()
	return b
}

// addr is the server's host:port.
func (b *bus) addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

// url is the bus URL of a node that reaches it at addr.
func (b *bus) url(addr string) string { return b.kind + "://" + addr }

// start runs the server (on its former port after a stop).
func (b *bus) start() {
	t := b.t
	t.Helper()
	switch b.kind {
	case "redis":
		srv := redistest.Start(t, b.port)
		b.port, b.stopF = srv.Port, srv.Stop
	case "nats":
		if b.port == 0 {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			b.port = ln.Addr().(*net.TCPAddr).Port
			_ = ln.Close()
		}
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: b.port, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			ns.Shutdown()
			t.Fatalf("nats-server did not start on port %d", b.port)
		}
		var once sync.Once
		b.stopF = func() {
			once.Do(func() {
				ns.Shutdown()
				ns.WaitForShutdown()
			})
		}
		t.Cleanup(b.stopF)
	default:
		t.Fatalf("unknown bus %q", b.kind)
	}
}

// stop ends the server at once: redis-server gets SIGKILL, the embedded
// NATS server closes every connection.
func (b *bus) stop() { b.stopF() }

// node is a hub node: a process running this test binary as runNode.
type node struct {
	name  string
	t     *testing.T
	cmd   *exec.Cmd
	addr  string // host:port of its HTTP server
	stdin interface{ Close() error }
	out   *syncBuffer // stderr
	done  chan struct{}

	mu     sync.Mutex
	killed bool // by the test, on purpose
}

// startNode starts a node whose bus is at busURL and waits for its
// address.
func startNode(t *testing.T, name, kind, busURL string) *node {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+kind, busURLEnv+"="+busURL)
	// A process group of its own, so that a kill reaches everything it
	// started, and SIGKILL when the test process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	n := &node{name: name, t: t, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = n.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node %s: %v", name, err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				select {
				case addrc <- a:
				default:
				}
			}
		}
		_ = cmd.Wait() // after stdout is read to its end
		close(n.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-n.done
	})
	select {
	case n.addr = <-addrc:
	case <-n.done:
		t.Fatalf("node %s exited before serving: %v\n%s", name, cmd.ProcessState, n.out.tail())
	case <-time.After(60 * time.Second):
		t.Fatalf("node %s did not report its address within 60s\n%s", name, n.out.tail())
	}
	return n
}

// hubURL is the node's hub endpoint.
func (n *node) hubURL() string { return "http://" + n.addr + "/hub" }

// kill sends SIGKILL to the node's process group.
func (n *node) kill() {
	n.mu.Lock()
	n.killed = true
	n.mu.Unlock()
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.done
}

func (n *node) wasKilled() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.killed
}

// alive reports whether the process still runs.
func (n *node) alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// stats asks the node for its goroutine count and live heap.
func (n *node) stats(ctx context.Context) (nodeStats, error) {
	var s nodeStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.addr+"/stats", nil)
	if err != nil {
		return s, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// shutdown stops a live node with SIGTERM (a clean Hub.Shutdown) and
// reports how it ended: an error when it exited with a failure, did not
// exit, or the race detector reported something.
func (n *node) shutdown() error {
	if !n.alive() {
		return fmt.Errorf("node %s had exited: %v", n.name, n.cmd.ProcessState)
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		return fmt.Errorf("node %s did not exit 20s after SIGTERM", n.name)
	}
	_ = n.stdin.Close()
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("node %s exited with %v", n.name, n.cmd.ProcessState)
	}
	if strings.Contains(n.out.String(), "DATA RACE") {
		return fmt.Errorf("node %s: the race detector reported a race", n.name)
	}
	if strings.Contains(n.out.String(), "panic:") {
		return fmt.Errorf("node %s panicked", n.name)
	}
	return nil
}

// syncBuffer collects a node's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the end of the output, for failure messages.
func (b *syncBuffer) tail() string {
	s := b.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}
