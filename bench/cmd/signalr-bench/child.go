package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gosignalr/signalr/internal/loadgen/benchhub"
)

// child is a signalr-bench process started by this one. It reads commands
// on standard input (and exits when it closes) and writes lines on
// standard output.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string   // standard output, closed at its end
	done  chan struct{} // closed when the process has exited
}

func startChild(name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	setDeathSignal(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64), done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	go func() {
		<-read // Wait closes stdout: read it all first
		_ = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

var errChildExited = errors.New("the process exited")

// readLine returns the child's next line of output.
func (c *child) readLine(timeout time.Duration) (string, error) {
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", fmt.Errorf("%s: %w", c.name, errChildExited)
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("%s: no answer within %s", c.name, timeout)
	}
}

// send writes one line to the child.
func (c *child) send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// stop closes the child's input, which makes it exit, and kills it if it
// has not exited within timeout.
func (c *child) stop(timeout time.Duration) {
	_ = c.stdin.Close()
	select {
	case <-c.done:
		return
	case <-time.After(timeout):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// serverChild is a bench server in a child process.
type serverChild struct {
	*child
	base string // http://127.0.0.1:port
}

func (s *serverChild) hubURL() string   { return s.base + benchhub.Path }
func (s *serverChild) statsURL() string { return s.base + benchhub.StatsPath }

// startServerChild starts "signalr-bench server" with args and waits until
// it listens.
func startServerChild(name string, args ...string) (*serverChild, error) {
	c, err := startChild(name, append([]string{"server", "-exit-with-stdin"}, args...)...)
	if err != nil {
		return nil, err
	}
	line, err := c.readLine(30 * time.Second)
	if err == nil && !strings.HasPrefix(line, readyPrefix) {
		err = fmt.Errorf("%s: unexpected output %q", name, line)
	}
	if err != nil {
		c.stop(5 * time.Second)
		return nil, err
	}
	return &serverChild{child: c, base: strings.TrimPrefix(line, readyPrefix)}, nil
}
