package centrifugepeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
// Each connection keeps one goroutine, its reader, which also answers the
// server's pings; requests are written by the caller's goroutine. A Driver is
// safe for concurrent use.
type Driver struct {
	// URL is the WebSocket endpoint, for example
	// "ws://127.0.0.1:8000/connection/websocket".
	URL string
}

var _ loadgen.Driver = (*Driver)(nil)

// Name returns "centrifuge".
func (d *Driver) Name() string { return "centrifuge" }

// Dial connects from src, sends centrifuge's connect command and, when
// opts.Subscribe is set, subscribes to Channel(opts.Group) in the same frame.
// It returns once the server has answered both, or with an error when ctx
// ends first.
func (d *Driver) Dial(ctx context.Context, src net.IP, opts loadgen.DialOptions) (loadgen.Conn, error) {
	nd := &net.Dialer{}
	if src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	dialer := websocket.Dialer{
		NetDialContext: nd.DialContext,
		Subprotocols:   []string{"centrifuge-json"},
	}
	ws, resp, err := dialer.DialContext(ctx, d.URL, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("centrifugepeer: dial %s: %w", d.URL, err)
	}
	c := &conn{
		ws:      ws,
		opts:    opts,
		pending: make(map[uint32]chan *protocol.Reply),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := c.handshake(ctx); err != nil {
		_ = ws.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// Handshake commands use the first two ids; requests count on from there.
const (
	connectID   = 1
	subscribeID = 2
)

// conn is one client connection. Its reader goroutine is the only one that
// reads from ws; writes of whole frames are serialized by wmu.
type conn struct {
	ws   *websocket.Conn
	opts loadgen.DialOptions
	pong bool // the server wants its pings answered

	wmu sync.Mutex // serializes frame writes

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
		var err error
		if frame, err = appendJSONString(frame, Channel(c.opts.Group)); err != nil {
			return err
		}
		frame = append(frame, "}}"...)
		want = 2
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("centrifugepeer: send connect: %w", err)
	}
	dec := protocol.NewJSONReplyDecoder(nil)
	for want > 0 {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("centrifugepeer: read connect reply: %w", err)
		}
		c.countFrame()
		_ = dec.Reset(data)
		for {
			r, err := dec.Decode()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("centrifugepeer: decode connect reply: %w", err)
			}
			c.countMessage()
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
	dec := protocol.NewJSONReplyDecoder(nil)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			if c.stopped.Load() {
				// A hung client: keep the socket open until Close.
				<-c.closing
			} else {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.setCloseReason(ce.Text)
				}
			}
			c.end()
			return
		}
		received := time.Now()
		c.countFrame()
		_ = dec.Reset(data)
		for {
			r, err := dec.Decode()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				// The server broke the protocol; end the connection.
				c.end()
				return
			}
			c.countMessage()
			c.handle(r, received)
		}
	}
}

// handle dispatches one reply on the reader goroutine.
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

// end releases the socket and fails every request still waiting.
func (c *conn) end() {
	_ = c.ws.Close()
	c.mu.Lock()
	c.ended = true
	clear(c.pending)
	c.mu.Unlock()
}

// write sends one frame. ctx's deadline, if any, bounds the write.
func (c *conn) write(ctx context.Context, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline, _ := ctx.Deadline()
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("centrifugepeer: set write deadline: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("centrifugepeer: write: %w", err)
	}
	return nil
}

// request sends the command that build returns for a fresh id and waits for
// its reply.
func (c *conn) request(ctx context.Context, build func(frame []byte, id uint32) ([]byte, error)) (*protocol.Reply, error) {
	id := c.nextID.Add(1)
	frame, err := build(make([]byte, 0, 128), id)
	if err != nil {
		return nil, err
	}
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
// for the server's reply. payload must be valid UTF-8.
func (c *conn) Publish(ctx context.Context, group string, payload []byte) error {
	_, err := c.request(ctx, func(b []byte, id uint32) ([]byte, error) {
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, uint64(id), 10)
		b = append(b, `,"publish":{"channel":`...)
		b, err := appendJSONString(b, Channel(group))
		if err != nil {
			return nil, err
		}
		b = append(b, `,"data":`...)
		if b, err = appendJSONString(b, payload); err != nil {
			return nil, err
		}
		return append(b, "}}"...), nil
	})
	if err != nil {
		return fmt.Errorf("centrifugepeer: publish: %w", err)
	}
	return nil
}

// Echo calls the RPC "echo" with payload, as a JSON string, and checks that
// the result is payload. payload must be valid UTF-8.
func (c *conn) Echo(ctx context.Context, payload []byte) error {
	r, err := c.request(ctx, func(b []byte, id uint32) ([]byte, error) {
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, uint64(id), 10)
		b = append(b, `,"rpc":{"method":"`+EchoMethod+`","data":`...)
		b, err := appendJSONString(b, payload)
		if err != nil {
			return nil, err
		}
		return append(b, "}}"...), nil
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

// appendJSONString appends s as a JSON string. s must be valid UTF-8: the
// JSON protocol carries text, and the bench payloads are ASCII.
func appendJSONString[T string | []byte](b []byte, s T) ([]byte, error) {
	if !utf8.Valid([]byte(s)) {
		return nil, errors.New("centrifugepeer: payload is not valid UTF-8")
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		default:
			b = append(b, ch)
		}
	}
	return append(b, '"'), nil
}

// decodePayload turns a publication's data, a JSON string as Publish sends
// it, back into the payload. Data that is not a JSON string is returned as
// is.
func decodePayload(data []byte) []byte {
	n := len(data)
	if n < 2 || data[0] != '"' || data[n-1] != '"' {
		return data
	}
	if bytes.IndexByte(data[1:n-1], '\\') < 0 {
		return data[1 : n-1]
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return data
	}
	return []byte(s)
}
