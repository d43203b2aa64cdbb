package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gosignalr/signalr/transport"
)

// lpConn is the long-polling transport: each Receive is one poll (GET),
// each Send one POST, and Close a DELETE.
type lpConn struct {
	env       *httpEnv
	url       string
	ctx       context.Context // cancelled by Close; polls run under it
	cancel    context.CancelFunc
	first     []byte // data of the first poll, if the server sent any
	closeOnce sync.Once
}

var _ transportConn = (*lpConn)(nil)

// dialLongPolling makes the first poll, which the server answers at once:
// the connection is open when it returns 200.
func dialLongPolling(ctx context.Context, env *httpEnv, u string) (*lpConn, error) {
	c := &lpConn{env: env, url: u}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, c.cancel)
	data, err := c.poll()
	if !stop() {
		c.cancel()
		return nil, fmt.Errorf("signalr client: long polling: %w", context.Cause(ctx))
	}
	if err != nil {
		c.cancel()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("signalr client: long polling: the server ended the connection at the first poll")
		}
		return nil, err
	}
	c.first = data
	return c, nil
}

func (c *lpConn) Name() string { return transport.LongPolling }

// poll makes one poll. It returns the body (empty when the server's poll
// timed out), io.EOF for 204 (the server ended the connection) or an
// error.
func (c *lpConn) poll() ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, pollTimeout)
	defer cancel()
	u := c.url + "&_=" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	resp, err := c.env.do(ctx, http.MethodGet, u, nil, nil, false)
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, errTransportClosed
		}
		if ctx.Err() != nil {
			return nil, nil // the client's own poll timeout: poll again
		}
		return nil, fmt.Errorf("signalr client: poll: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent:
		drain(resp)
		return nil, io.EOF
	default:
		return nil, statusError("poll", resp)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, errTransportClosed
		}
		return nil, fmt.Errorf("signalr client: poll: %w", err)
	}
	return body, nil
}

// Receive polls until the server sends data or ends the connection.
func (c *lpConn) Receive() ([]byte, error) {
	if data := c.first; len(data) > 0 {
		c.first = nil
		return data, nil
	}
	for {
		data, err := c.poll()
		if err != nil || len(data) > 0 {
			return data, err
		}
	}
}

func (c *lpConn) Send(ctx context.Context, data []byte, binary bool) error {
	if c.ctx.Err() != nil {
		return errTransportClosed
	}
	return postFrame(ctx, c.env, c.url, data, binary)
}

// Close stops polling and sends the DELETE that ends the connection on the
// server; its errors are ignored, as the official client does.
func (c *lpConn) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.cancel()
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
		}
		resp, err := c.env.do(ctx, http.MethodDelete, c.url, nil, nil, false)
		if err == nil {
			drain(resp)
		}
	})
	return nil
}
