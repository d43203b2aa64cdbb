package centrifugepeer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/gorilla/websocket"

	"github.com/gosignalr/signalr/internal/loadgen"
)

// ErrClosed is returned by a request on a connection that has ended.
var ErrClosed = errors.New("centrifugepeer: connection closed")

// Driver opens connections that speak centrifuge's JSON protocol over
// WebSockets to a [Server] (or any centrifuge endpoint that admits anonymous
// clients, lets them subscribe and publish, and answers the RPC "echo").
//
// It is built like loadgen's SignalR driver, so that both servers are
// loaded by clients of the same weight: one goroutine per connection, its
// reader, which also answers the server's pings; requests are written on
// the caller's goroutine; frames are read into pooled buffers and write
// buffers are lent only while writing. A Driver is safe for concurrent use.
type Driver struct {
	// URL is the WebSocket endpoint, for example
	// "ws://127.0.0.1:8000/connection/websocket".
	URL string
	// DialTimeout bounds one Dial: connect, upgrade, connect command and
	// subscription. Zero means 15 s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to the socket. Zero means 10 s.
	WriteTimeout time.Duration
}

var _ loadgen.Driver = (*Driver)(nil)

// Name returns "centrifuge".
func (d *Driver) Name() string { return "centrifuge" }

// Client buffer sizes, as in loadgen's SignalR driver.
const (
	clientReadBufferSize  = 1024
	clientWriteBufferSize = 16 << 10
	clientReadLimit       = 64 << 20
)

// Write buffers are lent to connections only while they write.
var wsWriteBufferPool sync.Pool

// Dial connects from src, sends centrifuge's connect command and, when
// opts.Subscribe is set, subscribes to Channel(opts.Group) in the same frame.
// It returns once the server has answered both.
func (d *Driver) Dial(ctx context.Context, src net.IP, opts loadgen.DialOptions) (loadgen.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp(d.DialTimeout, 15*time.Second))
	defer cancel()
	nd := &net.Dialer{Control: bindNoPort}
	if src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	dialer := websocket.Dialer{
		NetDialContext:  nd.DialContext,
		Subprotocols:    []string{"centrifuge-json"},
		ReadBufferSize:  clientReadBufferSize,
		WriteBufferSize: clientWriteBufferSize,
		WriteBufferPool: &wsWriteBufferPool,
	}
	ws, resp, err := dialer.DialContext(ctx, d.URL, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("centrifugepeer: dial %s: %w", d.URL, err)
	}
	ws.SetReadLimit(clientReadLimit)
	c := &conn{
		ws:           ws,
		opts:         opts,
		writeTimeout: cmp(d.WriteTimeout, 10*time.Second),
		pending:      make(map[uint32]chan *protocol.Reply),
		closing:      make(chan struct{}),
		done:         make(chan struct{}),
	}
	if err := c.handshake(ctx); err != nil {
		_ = ws.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// cmp returns v, or def when v is not positive.
func cmp(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Handshake commands use the first two ids; requests count on from there.
const (
	connectID   = 1
	subscribeID = 2
)

// conn is one client connection. Its reader goroutine is the only one that
// reads from ws; writes of whole frames are serialized by wmu.
type conn struct {
	ws           *websocket.Conn
	opts         loadgen.DialOptions
	writeTimeout time.Duration
	pong         bool // the server wants its pings answered

	wmu sync.Mutex // gorilla allows one writer at a time

	nextID atomic.Uint32

	mu          sync.Mutex
	pending     map[uint32]chan *protocol.Reply
	ended       bool
	closeReason string

	stopped   atomic.Bool
	closeOnce sync.Once
	closing   chan struct{} // closed by Close
	done      chan struct{} // closed when the reader has returned
}

// handshake connects and subscribes, reading the replies on the calling
// goroutine before the reader starts.
func (c *conn) handshake(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		past := time.Unix(1, 0)
		_ = c.ws.SetReadDeadline(past)
		_ = c.ws.SetWriteDeadline(past)
	})
	err := c.connectAndSubscribe()
	if !stop() {
		return fmt.Errorf("centrifugepeer: handshake: %w", context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	c.nextID.Store(subscribeID)
	return nil
}

func (c *conn) connectAndSubscribe() error {
	frame := []byte(`{"id":` + strconv.Itoa(connectID) + `,"connect":{}}`)
	want := 1
	if c.opts.Subscribe {
		frame = append(frame, "\n"+`{"id":`+strconv.Itoa(subscribeID)+`,"subscribe":{"channel":`...)
		frame = appendJSONString(frame, Channel(c.opts.Group))
		frame = append(frame, "}}"...)
		want = 2
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("centrifugepeer: send connect: %w", err)
	}
	bp := getReadBuf()
	defer putReadBuf(bp)
	for want > 0 {
		_, r, err := c.ws.NextReader()
		if err == nil {
			*bp, err = readAll(r, (*bp)[:0])
		}
		if err != nil {
			return fmt.Errorf("centrifugepeer: read connect reply: %w", err)
		}
		c.countFrame()
		for line := range lines(*bp) {
			c.countMessage()
			if _, ok := parsePublication(line); ok {
				continue // published before the subscribe reply
			}
			r, err := decodeReply(line)
			if err != nil {
				return fmt.Errorf("centrifugepeer: decode connect reply: %w", err)
			}
			switch {
			case r.Id == connectID && r.Error != nil:
				return fmt.Errorf("centrifugepeer: connect: %w", replyError(r.Error))
			case r.Id == connectID && r.Connect != nil:
				c.pong = r.Connect.Pong
				want--
			case r.Id == subscribeID && r.Error != nil:
				return fmt.Errorf("centrifugepeer: subscribe to %q: %w", Channel(c.opts.Group), replyError(r.Error))
			case r.Id == subscribeID && r.Subscribe != nil:
				want--
			case r.Push != nil && r.Push.Disconnect != nil:
				return fmt.Errorf("centrifugepeer: disconnected during connect: %s", r.Push.Disconnect.Reason)
			}
		}
	}
	return nil
}

// readLoop reads frames until the connection ends or StopReading is called.
func (c *conn) readLoop() {
	defer close(c.done)
	defer c.end()
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			if c.stopped.Load() {
				// A hung client: keep the socket open until Close.
				<-c.closing
				return
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.setCloseReason(ce.Text)
			}
			return
		}
		bp := getReadBuf()
		*bp, err = readAll(r, (*bp)[:0])
		if err == nil {
			err = c.handleFrame(*bp, time.Now())
		}
		putReadBuf(bp)
		if err != nil {
			// The server broke the protocol, or the socket failed
			// mid-frame; either way the connection is over.
			return
		}
	}
}

// handleFrame dispatches the messages of one frame on the reader
// goroutine.
func (c *conn) handleFrame(frame []byte, received time.Time) error {
	c.countFrame()
	for line := range lines(frame) {
		c.countMessage()
		if payload, ok := parsePublication(line); ok {
			if c.opts.OnMessage != nil {
				c.opts.OnMessage(payload, received)
			}
			continue
		}
		r, err := decodeReply(line)
		if err != nil {
			return err
		}
		c.handle(r, received)
	}
	return nil
}

// handle dispatches one reply that is not a plain publication.
func (c *conn) handle(r *protocol.Reply, received time.Time) {
	switch {
	case r.Id != 0:
		c.mu.Lock()
		ch := c.pending[r.Id]
		delete(c.pending, r.Id)
		c.mu.Unlock()
		if ch != nil {
			ch <- r // buffered, one reply per request
		}
	case r.Push != nil:
		switch p := r.Push; {
		case p.Pub != nil:
			if c.opts.OnMessage != nil {
				c.opts.OnMessage(decodePayload(p.Pub.Data), received)
			}
		case p.Disconnect != nil:
			c.setCloseReason(p.Disconnect.Reason)
		}
	case r.Error == nil:
		// An empty reply is the server's ping.
		if c.pong {
			_ = c.write(context.Background(), []byte("{}"))
		}
	}
}

func (c *conn) countFrame() {
	if c.opts.Counters != nil {
		c.opts.Counters.Frames.Add(1)
	}
}

func (c *conn) countMessage() {
	if c.opts.Counters != nil {
		c.opts.Counters.Messages.Add(1)
	}
}

func (c *conn) setCloseReason(reason string) {
	c.mu.Lock()
	if c.closeReason == "" {
		c.closeReason = reason
	}
	c.mu.Unlock()
}

// end releases the socket and forgets every request still waiting; they
// see done closed.
func (c *conn) end() {
	_ = c.ws.Close()
	c.mu.Lock()
	c.ended = true
	clear(c.pending)
	c.mu.Unlock()
}

// write sends one frame, within the write timeout and ctx's deadline.
func (c *conn) write(ctx context.Context, frame []byte) error {
	deadline := time.Now().Add(c.writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("centrifugepeer: set write deadline: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("centrifugepeer: write: %w", err)
	}
	return nil
}

// request sends the command that build appends for a fresh id and waits for
// its reply.
func (c *conn) request(ctx context.Context, build func(b []byte, id uint32) []byte) (*protocol.Reply, error) {
	id := c.nextID.Add(1)
	frame := build(make([]byte, 0, 128), id)
	ch := make(chan *protocol.Reply, 1)
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
	if err := c.write(ctx, frame); err != nil {
		forget()
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, replyError(r.Error)
		}
		return r, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrClosed
	}
}

// Publish publishes payload, as a JSON string, into Channel(group) and waits
// for the server's reply.
func (c *conn) Publish(ctx context.Context, group string, payload []byte) error {
	_, err := c.request(ctx, func(b []byte, id uint32) []byte {
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, uint64(id), 10)
		b = append(b, `,"publish":{"channel":`...)
		b = appendJSONString(b, Channel(group))
		b = append(b, `,"data":`...)
		b = appendJSONString(b, payload)
		return append(b, "}}"...)
	})
	if err != nil {
		return fmt.Errorf("centrifugepeer: publish: %w", err)
	}
	return nil
}

// Echo calls the RPC "echo" with payload, as a JSON string, and checks that
// the result is payload.
func (c *conn) Echo(ctx context.Context, payload []byte) error {
	r, err := c.request(ctx, func(b []byte, id uint32) []byte {
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, uint64(id), 10)
		b = append(b, `,"rpc":{"method":"`+EchoMethod+`","data":`...)
		b = appendJSONString(b, payload)
		return append(b, "}}"...)
	})
	if err != nil {
		return fmt.Errorf("centrifugepeer: echo: %w", err)
	}
	if r.Rpc == nil || !bytes.Equal(decodePayload(r.Rpc.Data), payload) {
		return errors.New("centrifugepeer: echo: result differs from argument")
	}
	return nil
}

// StopReading makes the reader stop at once, leaving unread frames in the
// socket; the server's pings go unanswered too.
func (c *conn) StopReading() {
	if c.stopped.CompareAndSwap(false, true) {
		// Unblocks a read in progress; the reader then waits for Close.
		_ = c.ws.SetReadDeadline(time.Unix(1, 0))
	}
}

// Done is closed when the connection has ended. A connection that stopped
// reading ends only when closed.
func (c *conn) Done() <-chan struct{} { return c.done }

// CloseReason is the reason text of the server's close frame or disconnect
// push.
func (c *conn) CloseReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeReason
}

// Close sends a normal close frame, closes the socket and waits for the
// reader to return.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		_ = c.ws.Close()
	})
	<-c.done
	return nil
}

// replyError turns a centrifuge error reply into an error.
func replyError(e *protocol.Error) error {
	return fmt.Errorf("server error %d: %s", e.Code, e.Message)
}

// Frames are read into pooled buffers, so that idle connections hold none.
var readBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getReadBuf() *[]byte { return readBufPool.Get().(*[]byte) }

func putReadBuf(bp *[]byte) {
	if cap(*bp) > 1<<20 {
		return
	}
	*bp = (*bp)[:0]
	readBufPool.Put(bp)
}

// readAll appends everything r yields to b.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
