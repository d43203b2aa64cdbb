package hubtest

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosignalr/signalr"
)

// Streaming and client-result methods of the interop hub.

// producers records which InfiniteStream producers have stopped.
var producers sync.Map // name -> chan struct{} closed when the producer stops

func (Hub) Counter(ctx context.Context, n, delayMs int) <-chan int {
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

func (Hub) CounterSeq(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 1; i <= n; i++ {
			if !yield(i) {
				return
			}
		}
	}
}

func (Hub) FailingStream(n int) iter.Seq2[int, error] {
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
func (Hub) InfiniteStream(ctx context.Context, name string) <-chan int {
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

func (Hub) StreamStopped(name string) bool {
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

func (Hub) UploadSum(xs <-chan int) int {
	s := 0
	for x := range xs {
		s += x
	}
	return s
}

func (Hub) UploadConcat(parts iter.Seq[string]) string {
	var b strings.Builder
	for p := range parts {
		b.WriteString(p)
	}
	return b.String()
}

func (Hub) UploadZip(a, b <-chan string) string {
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

func (Hub) UploadFailing(xs iter.Seq2[int, error]) string {
	for _, err := range xs {
		if err != nil {
			return "error:" + err.Error()
		}
	}
	return "completed"
}

func (Hub) UploadMixed(prefix string, xs <-chan int) string {
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

func (Hub) AskClient(c *signalr.Context, method, arg string) string {
	ctx, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	var answer string
	err := c.Clients().Caller().Invoke(ctx, &answer, method, arg)
	return askResult(err, answer)
}

func (Hub) AskClientTimeout(c *signalr.Context, method string, timeoutMs int) string {
	ctx, cancel := context.WithTimeout(c, time.Duration(timeoutMs)*time.Millisecond)
	defer cancel()
	var answer string
	err := c.Clients().Caller().Invoke(ctx, &answer, method)
	return askResult(err, answer)
}

func (Hub) AskOther(c *signalr.Context, connectionID, method, arg string) string {
	ctx, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	var answer string
	err := c.Clients().Client(connectionID).Invoke(ctx, &answer, method, arg)
	return askResult(err, answer)
}

// UploadNotify reads an uploaded stream of strings and sends their
// concatenation to the caller as "receive": for clients whose uploads are
// fire-and-forget (no completion to carry a result).
func (Hub) UploadNotify(c *signalr.Context, parts <-chan string) error {
	var b strings.Builder
	for p := range parts {
		b.WriteString(p)
	}
	return c.Clients().Caller().Send(c, "receive", "upload:"+b.String())
}
