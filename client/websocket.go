package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gosignalr/signalr/transport"
)

// wsConn is the WebSockets transport (gorilla/websocket).
type wsConn struct {
	ws        *websocket.Conn
	wmu       sync.Mutex // one writer at a time, as gorilla requires
	closeOnce sync.Once
}

var _ transportConn = (*wsConn)(nil)

// dialer returns a WebSocket dialer that goes the way the HTTP client
// does: same cookie jar, and the proxy, dialer and TLS settings of its
// *http.Transport.
func (e *httpEnv) dialer() *websocket.Dialer {
	d := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 45 * time.Second,
		Jar:              e.hc.Jar,
	}
	rt := e.hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t, ok := rt.(*http.Transport); ok {
		d.Proxy = t.Proxy
		d.NetDialContext = t.DialContext
		if t.TLSClientConfig != nil {
			d.TLSClientConfig = t.TLSClientConfig.Clone()
		}
	}
	return d
}

// wsURL turns an http(s) URL into a ws(s) one.
func wsURL(u string) string {
	switch {
	case strings.HasPrefix(u, "https://"):
		return "wss://" + u[len("https://"):]
	case strings.HasPrefix(u, "http://"):
		return "ws://" + u[len("http://"):]
	}
	return u
}

// dialWebSocket opens a WebSocket at u (an http(s) URL with the id query
// already added), sending the token as an Authorization header.
func dialWebSocket(ctx context.Context, env *httpEnv, u string) (*wsConn, error) {
	tok, _, err := env.tokens.get(ctx, false)
	if err != nil {
		return nil, err
	}
	h := env.headers(tok)
	h.Del("X-Requested-With")
	ws, resp, err := env.dialer().DialContext(ctx, wsURL(u), h)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, statusError("WebSocket", resp)
		}
		return nil, fmt.Errorf("signalr client: WebSocket: %w", err)
	}
	return &wsConn{ws: ws}, nil
}

func (c *wsConn) Name() string { return transport.WebSockets }

func (c *wsConn) Receive() ([]byte, error) {
	_, r, err := c.ws.NextReader()
	if err == nil {
		var b []byte
		if b, err = io.ReadAll(r); err == nil {
			return b, nil
		}
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Code == websocket.CloseNormalClosure {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("signalr client: WebSocket closed with status code %d (%s)", ce.Code, ce.Text)
	}
	return nil, fmt.Errorf("signalr client: WebSocket: %w", err)
}

func (c *wsConn) Send(ctx context.Context, data []byte, binary bool) error {
	typ := websocket.TextMessage
	if binary {
		typ = websocket.BinaryMessage
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	dl, _ := ctx.Deadline()
	_ = c.ws.SetWriteDeadline(dl)
	// A cancelled ctx interrupts a blocked write; the connection is of no
	// use after half a frame anyway.
	stop := context.AfterFunc(ctx, func() { _ = c.ws.NetConn().Close() })
	defer stop()
	if err := c.ws.WriteMessage(typ, data); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("signalr client: WebSocket write: %w", context.Cause(ctx))
		}
		return fmt.Errorf("signalr client: WebSocket write: %w", err)
	}
	return nil
}

// Close sends a normal closure frame (without waiting for the reply) and
// closes the TCP connection.
func (c *wsConn) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > time.Second {
			dl = time.Now().Add(time.Second)
		}
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), dl)
		_ = c.ws.Close()
	})
	return nil
}
