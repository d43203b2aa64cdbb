package transport

import (
	"bufio"
	"context"
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
	// CloseTimeout bounds how long the socket stays open after Close has
	// sent the close frame, waiting for the peer's close frame (as ASP.NET
	// Core's WebSocketOptions.CloseTimeout). Zero means
	// DefaultCloseTimeout; a negative value closes the socket right after
	// the close frame.
	CloseTimeout time.Duration
	// Lingering, when set, tracks the sockets that wait for their peers'
	// close frames, so that their owner can wait for them and cut the
	// wait short (see Lingering.Wait).
	Lingering *Lingering
}

// DefaultCloseTimeout is WebSocketOptions.CloseTimeout's default, as in
// ASP.NET Core.
const DefaultCloseTimeout = 5 * time.Second

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
	ct := opts.CloseTimeout
	if ct == 0 {
		ct = DefaultCloseTimeout
	}
	c := &wsConn{ws: ws, writeTimeout: wt, br: tap.br, idleAfter: idle, quick: 2, closeTimeout: ct, lingering: opts.Lingering}
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

	// The closing handshake (see Close). lmu guards the fields below, and
	// the read deadline while a reader may be reading.
	lmu          sync.Mutex
	started      bool          // NextReader has been called: the reader owns reads
	closing      bool          // Close has been called
	gone         bool          // the reader has stopped for good
	peerDone     bool          // ... because the peer closed or the connection broke
	settled      bool          // the socket's end has been decided
	sockClosed   bool          // the TCP connection has been closed
	closeTimeout time.Duration // negative: no wait for the peer
	lingering    *Lingering
	cl           *wsClosing // set by Close
}

// wsClosing is the state of a closing WebSocket, made by Close so that an
// open connection does not carry it.
type wsClosing struct {
	by    time.Time   // when the socket closes at the latest
	force *time.Timer // closes the socket at by
}

func (c *wsConn) Name() string { return WebSockets }

// Capabilities implements Capable.
func (c *wsConn) Capabilities() Capabilities {
	return Capabilities{TypedFrames: true, Binary: true, Resumable: true, Pings: true}
}

func (c *wsConn) NextReader() (bool, io.Reader, error) {
	c.lmu.Lock()
	c.started = true
	closing := c.closing
	c.lmu.Unlock()
	if closing {
		c.readerGone(false)
		return false, nil, ErrClosed
	}
	if c.raw != nil && c.br.Buffered() == 0 {
		if c.idle || c.idleAfter < 0 {
			// Errors (a closed connection) show in the read that follows;
			// Close interrupts the wait with a past read deadline, which
			// leaves the WebSocket's own reader untouched.
			_ = c.raw.Read(c.readableFn)
			if c.interrupted() {
				return false, nil, ErrClosed
			}
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
			c.lmu.Lock()
			if c.closing {
				c.lmu.Unlock()
				c.readerGone(false)
				return false, nil, ErrClosed
			}
			_ = nc.SetReadDeadline(time.Now().Add(wait))
			c.lmu.Unlock()
			err := c.raw.Read(c.readableFn)
			c.lmu.Lock()
			if !c.closing { // Close's deadline stays
				_ = nc.SetReadDeadline(time.Time{})
			}
			c.lmu.Unlock()
			if c.interrupted() {
				return false, nil, ErrClosed
			}
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
			c.lmu.Lock()
			closing := c.closing
			c.lmu.Unlock()
			var ne net.Error
			// A frame read that Close interrupted: the peer's close
			// frame is still to come.
			if closing && errors.As(err, &ne) && ne.Timeout() {
				c.readerGone(false)
				return false, nil, ErrClosed
			}
			c.readerGone(true)
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

// interrupted reports whether Close has been called while the reader
// waited for the socket to become readable, and if so records that the
// reader is gone.
func (c *wsConn) interrupted() bool {
	c.lmu.Lock()
	closing := c.closing
	c.lmu.Unlock()
	if closing {
		c.readerGone(false)
	}
	return closing
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

// Close sends a normal closure (1000) and, as ASP.NET Core does, keeps the
// socket open until the peer's close frame arrives (data frames meanwhile
// are discarded) or CloseTimeout has passed, and only then closes it, so
// that the peer's answer does not meet a closed socket (which clients
// report as "Broken pipe" or "Connection reset"). Close does not wait for
// that: a reader waiting in NextReader returns ErrClosed at once, and the
// socket is read for the peer's close frame on a goroutine of its own once
// the reader has stopped (NextReader returned an error, or StopReading was
// called), so that there is never more than one reader. If the close frame
// cannot be written, the socket is closed at once.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		werr := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		c.lmu.Lock()
		c.closing = true
		c.cl = &wsClosing{}
		if werr != nil || c.closeTimeout < 0 {
			c.settled = true // nothing to wait for; closing interrupts the reader
			c.lmu.Unlock()
			c.closeSocket()
			return
		}
		c.cl.by = time.Now().Add(c.closeTimeout)
		// Whatever holds the reader up, the socket closes on time.
		c.cl.force = time.AfterFunc(c.closeTimeout, c.closeSocket)
		act := c.afterCloseLocked()
		c.lmu.Unlock()
		act()
	})
	return nil
}

// StopReading tells the connection that its reader will not call
// NextReader again, so that the socket may be read for the peer's close
// frame.
func (c *wsConn) StopReading() { c.readerGone(false) }

// readerGone records that the reader has stopped for good; peerDone means
// the peer has closed (or the connection broke), so that nothing is left
// to wait for.
func (c *wsConn) readerGone(peerDone bool) {
	c.lmu.Lock()
	if c.gone {
		c.lmu.Unlock()
		return
	}
	c.gone, c.peerDone = true, peerDone
	act := func() {}
	if c.closing {
		act = c.afterCloseLocked()
	}
	c.lmu.Unlock()
	act()
}

// afterCloseLocked decides, once the close frame is sent, what happens to
// the socket, and returns it as a function to call without lmu: interrupt
// a reader that is still reading (it reports back through readerGone),
// close the socket at once if the peer is done, or else wait for the
// peer's close frame.
func (c *wsConn) afterCloseLocked() func() {
	if c.settled {
		return func() {}
	}
	if c.started && !c.gone {
		_ = c.ws.NetConn().SetReadDeadline(time.Unix(1, 0))
		return func() {}
	}
	c.settled = true
	if c.peerDone {
		return c.closeSocket
	}
	return c.linger
}

// linger starts the wait for the peer's close frame, unless the owner of
// c.lingering has stopped waiting, when the socket closes at once.
func (c *wsConn) linger() {
	if !c.lingering.add(c) {
		c.closeSocket()
		return
	}
	go c.awaitPeerClose()
}

// awaitPeerClose reads until the peer's close frame arrives, the peer
// closes the connection or the close deadline passes, discarding data
// frames, and then closes the socket.
func (c *wsConn) awaitPeerClose() {
	defer c.lingering.done(c)
	defer c.closeSocket()
	c.lmu.Lock()
	by := c.cl.by
	c.lmu.Unlock()
	nc := c.ws.NetConn()
	_ = nc.SetReadDeadline(by)
	for {
		_, _, err := c.ws.NextReader()
		if err == nil {
			continue // a data message: the next call discards it
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Now().Before(by) {
			// Close interrupted a frame read, which leaves the WebSocket
			// reader failed: the frames that follow cannot be told
			// apart, so discard bytes until the peer closes its side or
			// the deadline passes.
			var r io.Reader = nc
			if c.br != nil {
				r = c.br
			}
			_, _ = io.Copy(io.Discard, r)
		}
		return
	}
}

// closeSocket closes the TCP connection.
func (c *wsConn) closeSocket() {
	c.lmu.Lock()
	if c.sockClosed {
		c.lmu.Unlock()
		return
	}
	c.sockClosed = true
	var force *time.Timer
	if c.cl != nil {
		force = c.cl.force
	}
	c.lmu.Unlock()
	if force != nil {
		force.Stop()
	}
	_ = c.ws.Close()
}

// Lingering tracks WebSockets that have sent their close frame and wait
// for their peers' (see WebSocketOptions.CloseTimeout). The zero value is
// ready to use; its methods are safe for concurrent use.
type Lingering struct {
	mu    sync.Mutex
	set   map[*wsConn]struct{}
	shut  bool          // Wait has been called: sockets close at once
	empty chan struct{} // closed when set becomes empty while Wait waits
	wg    sync.WaitGroup
}

// add registers c; false means Wait has been called, and c must close at
// once.
func (l *Lingering) add(c *wsConn) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shut {
		return false
	}
	if l.set == nil {
		l.set = make(map[*wsConn]struct{})
	}
	l.set[c] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *Lingering) done(c *wsConn) {
	if l == nil {
		return
	}
	l.mu.Lock()
	delete(l.set, c)
	if len(l.set) == 0 && l.empty != nil {
		close(l.empty)
		l.empty = nil
	}
	l.mu.Unlock()
	l.wg.Done()
}

// Wait waits until every tracked socket has received its peer's close
// frame or reached its CloseTimeout, or until ctx is done, when it closes
// the sockets still open; so it returns within its sockets' CloseTimeout
// and ctx, whichever ends first. From the first call on, sockets that
// would start waiting close at once instead. When Wait returns, no
// goroutine of a tracked socket is left.
func (l *Lingering) Wait(ctx context.Context) {
	l.mu.Lock()
	l.shut = true
	var empty chan struct{}
	if len(l.set) > 0 {
		if l.empty == nil {
			l.empty = make(chan struct{})
		}
		empty = l.empty
	}
	l.mu.Unlock()
	if empty != nil {
		select {
		case <-empty:
		case <-ctx.Done():
			l.mu.Lock()
			open := make([]*wsConn, 0, len(l.set))
			for c := range l.set {
				open = append(open, c)
			}
			l.mu.Unlock()
			for _, c := range open {
				c.closeSocket()
			}
		}
	}
	l.wg.Wait()
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
