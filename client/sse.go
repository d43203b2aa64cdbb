package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/gosignalr/signalr/transport"
)

// sseConn is the Server-Sent Events transport: an event stream from the
// server, and a POST for each frame the client sends.
type sseConn struct {
	env       *httpEnv
	url       string
	cancel    context.CancelFunc // ends the event stream
	body      io.ReadCloser
	r         *bufio.Reader
	closeOnce sync.Once
	closed    chan struct{}
}

var _ transportConn = (*sseConn)(nil)

// dialSSE opens the event stream at u and returns once the server has
// answered, which is when the official client's EventSource opens.
func dialSSE(ctx context.Context, env *httpEnv, u string) (*sseConn, error) {
	// The stream outlives ctx, which only bounds opening it.
	streamCtx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	resp, err := env.do(streamCtx, http.MethodGet, u, nil, http.Header{
		"Accept":        {"text/event-stream"},
		"Cache-Control": {"no-cache"},
	}, false)
	if !stop() {
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, fmt.Errorf("signalr client: event stream: %w", context.Cause(ctx))
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("signalr client: event stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		err := statusError("event stream", resp)
		cancel()
		return nil, err
	}
	return &sseConn{
		env:    env,
		url:    u,
		cancel: cancel,
		body:   resp.Body,
		r:      bufio.NewReader(resp.Body),
		closed: make(chan struct{}),
	}, nil
}

func (c *sseConn) Name() string { return transport.ServerSentEvents }

// Receive returns the data of the next event, its data lines joined by
// newlines as EventSource does. Comments and events without data are
// skipped.
func (c *sseConn) Receive() ([]byte, error) {
	var data []byte
	hasData := false
	for {
		line, err := c.readLine()
		if err != nil {
			select {
			case <-c.closed:
				return nil, errTransportClosed
			default:
			}
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("signalr client: event stream: %w", err)
		}
		if len(line) == 0 {
			if hasData {
				return data, nil
			}
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if len(field) == 0 {
			continue // a comment
		}
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if string(field) != "data" {
			continue // event, id and retry mean nothing to SignalR
		}
		if hasData {
			data = append(data, '\n')
		}
		data = append(data, value...)
		hasData = true
	}
}

// readLine reads one line without its ending (\n or \r\n).
func (c *sseConn) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (c *sseConn) Send(ctx context.Context, data []byte, binary bool) error {
	return postFrame(ctx, c.env, c.url, data, binary)
}

// Close ends the event stream.
func (c *sseConn) Close(context.Context) error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.cancel()
		c.body.Close()
	})
	return nil
}

// postFrame sends one frame of an HTTP transport.
func postFrame(ctx context.Context, env *httpEnv, u string, data []byte, binary bool) error {
	ct := "text/plain;charset=UTF-8"
	if binary {
		ct = "application/octet-stream"
	}
	resp, err := env.do(ctx, http.MethodPost, u, data, http.Header{"Content-Type": {ct}}, false)
	if err != nil {
		return fmt.Errorf("signalr client: send: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return statusError("send", resp)
	}
	drain(resp)
	return nil
}
