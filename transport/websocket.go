package transport

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocketOptions configures WebSocket upgrades. The zero value is usable.
type WebSocketOptions struct {
	// CheckOrigin decides whether a browser's Origin may connect. nil means
	// same origin only (requests without an Origin header, such as Node and
	// Go clients, are allowed).
	CheckOrigin func(r *http.Request) bool
	// WriteTimeout bounds one frame write. Zero means 10 seconds.
	WriteTimeout time.Duration
}

// writeBufferPool lends write buffers to connections only while they write,
// so an idle connection holds none.
var writeBufferPool = &sync.Pool{}

// UpgradeWebSocket upgrades r to a WebSocket. On failure an HTTP error has
// been written to w.
func UpgradeWebSocket(w http.ResponseWriter, r *http.Request, opts WebSocketOptions) (Conn, error) {
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		WriteBufferPool:  writeBufferPool,
		CheckOrigin:      opts.CheckOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			Error(w, status, "%s", reason.Error())
		},
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	wt := opts.WriteTimeout
	if wt <= 0 {
		wt = 10 * time.Second
	}
	return &wsConn{ws: ws, writeTimeout: wt}, nil
}

type wsConn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	closeOnce    sync.Once
	wmu          sync.Mutex // gorilla allows one writer at a time
}

func (c *wsConn) Name() string { return WebSockets }

func (c *wsConn) NextReader() (bool, io.Reader, error) {
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				return false, nil, io.EOF
			}
			return false, nil, err
		}
		switch typ {
		case websocket.TextMessage:
			return false, r, nil
		case websocket.BinaryMessage:
			return true, r, nil
		}
	}
}

func (c *wsConn) WriteFrame(binary bool, parts ...[]byte) error {
	typ := websocket.TextMessage
	if binary {
		typ = websocket.BinaryMessage
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return err
	}
	w, err := c.ws.NextWriter(typ)
	if err != nil {
		if errors.Is(err, websocket.ErrCloseSent) {
			return ErrClosed
		}
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		err = c.ws.Close()
	})
	return err
}

// IsWebSocketUpgrade reports whether r asks to upgrade to a WebSocket.
func IsWebSocketUpgrade(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }
