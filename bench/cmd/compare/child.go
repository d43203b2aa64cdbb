package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// readyPrefix starts the line a bench server prints once it listens, as
// "listening http://127.0.0.1:PORT".
const readyPrefix = "listening "

// child is a bench server running as a child process. It exits when its
// standard input closes (-exit-with-stdin), and dies with this process.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	base  string        // "http://127.0.0.1:PORT"
	done  chan struct{} // closed when the process has exited
}

// startChild runs path with args plus -exit-with-stdin and waits until it
// prints its ready line. The rest of its standard output goes to our
// standard error, prefixed with name; its standard error is ours.
func startChild(ctx context.Context, name, path string, args ...string) (*child, error) {
	cmd := exec.Command(path, append(args, "-exit-with-stdin")...)
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
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		announced := false
		for sc.Scan() {
			line := sc.Text()
			if base, ok := strings.CutPrefix(line, readyPrefix); ok && !announced {
				announced = true
				ready <- strings.TrimSuffix(strings.TrimSpace(base), "/")
				continue
			}
			fmt.Fprintf(os.Stderr, "[%s] %s\n", name, line)
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait() // after reading all of stdout, which Wait closes
		close(c.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case base := <-ready:
		c.base = base
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s exited before listening: %v", name, cmd.ProcessState)
	case <-ctx.Done():
		c.stop()
		return nil, fmt.Errorf("%s: waiting for it to listen: %w", name, ctx.Err())
	}
}

// stop closes the child's input, which makes it shut down, and kills it if
// it has not exited within ten seconds.
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}
