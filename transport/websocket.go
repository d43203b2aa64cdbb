package transport

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
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
	// IdleAfter is how long NextReader waits for a frame before it returns
	// ErrIdle. Zero means 2 seconds; a negative value turns ErrIdle off.
	IdleAfter time.Duration
	// ReadBufferSize is the size of the buffer that frame headers and small
	// frames are read through; larger payloads are read straight into the
	// caller's buffer. Zero means 384 bytes, which keeps an idle
	// connection small; smaller values are raised to 384.
	ReadBufferSize int
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
	tap := &hijackTap{ResponseWriter: w, size: max(opts.ReadBufferSize, 384)}
	ws, err := up.Upgrade(tap, r, nil)
	if err != nil {
		return nil, err
	}
	wt := opts.WriteTimeout
	if wt <= 0 {
		wt = 10 * time.Second
	}
	idle := opts.IdleAfter
	if idle == 0 {
		idle = 2 * time.Second
	}
	// A new connection's first two frames are its handshake and, from
	// the official clients, a ping.
	c := &wsConn{ws: ws, writeTimeout: wt, br: tap.br, idleAfter: idle, quick: 2}
	if sc, ok := ws.NetConn().(syscall.Conn); ok && tap.br != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.readableFn = c.readable
		}
	}
	return c, nil
}

// hijackTap hands gorilla a read buffer of the size asked for (gorilla
// reuses a hijacked reader of more than 256 bytes as its own), and keeps
// it, so the connection can tell whether a frame is already buffered.
type hijackTap struct {
	http.ResponseWriter
	size int
	br   *bufio.Reader
}

func (h *hijackTap) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return nc, brw, err // gorilla refuses a client that sent early
	}
	h.br = bufio.NewReaderSize(nc, h.size)
	return nc, bufio.NewReadWriter(h.br, brw.Writer), nil
}

type wsConn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	// br is gorilla's read buffer; raw, when set, lets an idle reader wait
	// for the socket to become readable on a shallow stack (see
	// waitReadable), so that its goroutine's stack can shrink to the
	// minimum while the connection is idle.
	br         *bufio.Reader
	raw        syscall.RawConn
	readableFn func(fd uintptr) bool
	peek       [1]byte
	idle       bool  // NextReader returned ErrIdle
	sinceWake  uint8 // frames read since the start or the last wake, counted up to quick+1
	quick      uint8 // frames after a wake that are followed by a short wait
	idleAfter  time.Duration
	wokeAt     int64 // unix nanoseconds of the last wake from idle
	closeOnce  sync.Once
	wmu        sync.Mutex // gorilla allows one writer at a time
}

func (c *wsConn) Name() string { return WebSockets }

// Capabilities implements Capable.
func (c *wsConn) Capabilities() Capabilities {
	return Capabilities{TypedFrames: true, Binary: true, Resumable: true, Pings: true}
}

func (c *wsConn) NextReader() (bool, io.Reader, error) {
	if c.raw != nil && c.br.Buffered() == 0 {
		if c.idle || c.idleAfter < 0 {
			// Errors (a closed connection) show in the read that follows.
			_ = c.raw.Read(c.readableFn)
			if c.idle {
				c.idle = false
				c.wake()
			}
		} else {
			wait := c.idleAfter
			if c.sinceWake > 0 && c.sinceWake <= c.quick {
				// The frames so far are what an idle connection sends
				// (its handshake and first ping, or a keep-alive ping),
				// and handling them grew this goroutine's stack: move to
				// a small stack at once unless more is already on its
				// way. Thousands of clients that connected or pinged
				// together would otherwise hold as many grown stacks
				// for IdleAfter.
				wait = time.Millisecond
			}
			nc := c.ws.NetConn()
			_ = nc.SetReadDeadline(time.Now().Add(wait))
			err := c.raw.Read(c.readableFn)
			_ = nc.SetReadDeadline(time.Time{})
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.idle = true
				return false, nil, ErrIdle
			}
		}
	}
	if c.sinceWake <= c.quick {
		c.sinceWake++
	}
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

// wake notes that an idle connection has something to read. A connection
// that was idle for IdleAfter most likely sent a lone keep-alive ping, and
// goes idle again right after it; one that wakes again within IdleAfter is
// busy, and keeps its goroutine until it has been quiet for IdleAfter, so
// that a steady trickle of messages does not move it to a new goroutine
// for each one.
func (c *wsConn) wake() {
	now := time.Now().UnixNano()
	c.sinceWake, c.quick = 0, 0
	if now-c.wokeAt >= int64(c.idleAfter) {
		c.quick = 1
	}
	c.wokeAt = now
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

// webSocketHandler serves WebSocket upgrades: a new connection, or a new
// socket for a stateful connection that lost its own.
type webSocketHandler struct{ opts WebSocketOptions }

func newWebSocketHandler(cfg Config) *webSocketHandler {
	return &webSocketHandler{opts: cfg.WebSocket}
}

func (*webSocketHandler) Name() string { return WebSockets }

func (*webSocketHandler) Binary() bool { return true }

// Match takes upgrades, and POSTs to a WebSocket connection (refused).
func (hd *webSocketHandler) Match(r *http.Request, live Conn) bool {
	if IsWebSocketUpgrade(r) {
		return true
	}
	return r.Method == http.MethodPost && live != nil && live.Name() == hd.Name()
}

// Serve upgrades r: for a live connection the socket resumes it, else it
// opens a new connection (without a token: skipNegotiation).
func (hd *webSocketHandler) Serve(host Host, w http.ResponseWriter, r *http.Request) {
	if !IsWebSocketUpgrade(r) {
		serveLive(host, w, r, hd.ServeConn)
		return
	}
	if s, _, _ := host.Lookup(r.URL.Query().Get("id")); s != nil {
		if s.Authorize(w, r) {
			hd.resume(host, w, r, s)
		}
		return
	}
	claim := host.Claim(w, r, WebSockets, true)
	if claim == nil {
		return
	}
	t, err := hd.upgrade(host, w, r)
	if err != nil {
		claim.Release()
		return
	}
	claim.Start(t, nil)
}

// ServeConn refuses: a WebSocket connection has no later requests.
func (*webSocketHandler) ServeConn(w http.ResponseWriter, r *http.Request, t Conn) { refuse(w, r, t) }

// resume answers an upgrade for a live connection: a stateful one takes
// the socket as its new transport (no handshake), any other gets 409, a
// closing one 404, one of another transport 400.
func (hd *webSocketHandler) resume(host Host, w http.ResponseWriter, r *http.Request, s Session) {
	if s.Transport().Name() != hd.Name() {
		Error(w, http.StatusBadRequest, "Cannot change transports mid-connection.")
		return
	}
	if status, msg := s.CanResume(); status != 0 {
		Error(w, status, "%s", msg)
		return
	}
	t, err := hd.upgrade(host, w, r)
	if err != nil {
		return
	}
	if !s.Resume(t) {
		t.Close()
	}
}

func (hd *webSocketHandler) upgrade(host Host, w http.ResponseWriter, r *http.Request) (Conn, error) {
	if err := checkWriter(host, w, r, WebSockets); err != nil {
		return nil, err
	}
	t, err := UpgradeWebSocket(w, r, hd.opts)
	if err != nil {
		host.Logger().DebugContext(r.Context(), "WebSocket upgrade failed", "transport", WebSockets, "error", err)
	}
	return t, err
}
