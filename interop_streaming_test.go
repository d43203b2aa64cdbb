package signalr_test

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr"
)

// Streaming and client-result methods of the interop hub.

// producers records which InfiniteStream producers have stopped.
var producers sync.Map // name -> chan struct{} closed when the producer stops

func (interopHub) Counter(ctx context.Context, n, delayMs int) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 1; i <= n; i++ {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
			if delayMs > 0 {
				time.Sleep(time.Duration(delayMs) * time.Millisecond)
			}
		}
	}()
	return ch
}

func (interopHub) CounterSeq(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 1; i <= n; i++ {
			if !yield(i) {
				return
			}
		}
	}
}

func (interopHub) FailingStream(n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := 1; i <= n; i++ {
			if !yield(i, nil) {
				return
			}
		}
		yield(0, signalr.NewHubError("stream failed"))
	}
}

// InfiniteStream produces until the client cancels or disconnects.
func (interopHub) InfiniteStream(ctx context.Context, name string) <-chan int {
	stopped := make(chan struct{})
	producers.Store(name, stopped)
	ch := make(chan int)
	go func() {
		defer close(stopped)
		defer close(ch)
		for i := 0; ; i++ {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

func (interopHub) StreamStopped(name string) bool {
	v, ok := producers.Load(name)
	if !ok {
		return false
	}
	select {
	case <-v.(chan struct{}):
		return true
	default:
		return false
	}
}

func (interopHub) UploadSum(xs <-chan int) int {
	s := 0
	for x := range xs {
		s += x
	}
	return s
}

func (interopHub) UploadConcat(parts iter.Seq[string]) string {
	var b strings.Builder
	for p := range parts {
		b.WriteString(p)
	}
	return b.String()
}

func (interopHub) UploadZip(a, b <-chan string) string {
	var as, bs []string
	for a != nil || b != nil {
		select {
		case s, ok := <-a:
			if !ok {
				a = nil
				continue
			}
			as = append(as, s)
		case s, ok := <-b:
			if !ok {
				b = nil
				continue
			}
			bs = append(bs, s)
		}
	}
	return "a:" + strings.Join(as, ",") + "|b:" + strings.Join(bs, ",")
}

func (interopHub) UploadFailing(xs iter.Seq2[int, error]) string {
	for _, err := range xs {
		if err != nil {
			return "error:" + err.Error()
		}
	}
	return "completed"
}

func (interopHub) UploadMixed(prefix string, xs <-chan int) string {
	s := 0
	for x := range xs {
		s += x
	}
	return prefix + strconv.Itoa(s)
}

func askResult(err error, answer string) string {
	var ce *signalr.ClientError
	switch {
	case err == nil:
		return "ok:" + answer
	case errors.As(err, &ce):
		return "error:" + ce.Message
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "failed:" + err.Error()
}

func (interopHub) AskClient(c *signalr.Context, method, arg string) string {
	ctx, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	var answer string
	err := c.Clients().Caller().Invoke(ctx, &answer, method, arg)
	return askResult(err, answer)
}

func (interopHub) AskClientTimeout(c *signalr.Context, method string, timeoutMs int) string {
	ctx, cancel := context.WithTimeout(c, time.Duration(timeoutMs)*time.Millisecond)
	defer cancel()
	var answer string
	err := c.Clients().Caller().Invoke(ctx, &answer, method)
	return askResult(err, answer)
}

func (interopHub) AskOther(c *signalr.Context, connectionID, method, arg string) string {
	ctx, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	var answer string
	err := c.Clients().Client(connectionID).Invoke(ctx, &answer, method, arg)
	return askResult(err, answer)
}

func TestOfficialClientStreaming(t *testing.T) {
	requireNodeClient(t)
	for _, tc := range interopMatrix {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			url := interopServer(t)
			passed, _ := runNodeFile(t, "streaming.test.mjs", url, tc.transport, tc.protocol)
			require.Positive(t, passed)
		})
	}
}
