package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Transport names how a SignalR driver's connections reach the hub.
type Transport string

// SignalR transports.
const (
	WebSockets       Transport = "ws"
	ServerSentEvents Transport = "sse"
	LongPolling      Transport = "lp"
)

// ParseTransport accepts "ws", "sse" and "lp", and the names SignalR's
// negotiate reply uses ("WebSockets", "ServerSentEvents", "LongPolling").
func ParseTransport(s string) (Transport, error) {
	switch strings.ToLower(s) {
	case "ws", "websockets", "websocket":
		return WebSockets, nil
	case "sse", "serversentevents":
		return ServerSentEvents, nil
	case "lp", "longpolling":
		return LongPolling, nil
	}
	return "", fmt.Errorf("loadgen: unknown transport %q (ws, sse or lp)", s)
}

// NewDriver returns the SignalR driver for transport tr: NewSignalR for
// WebSockets, NewSignalRHTTP for the others.
func NewDriver(tr Transport, opts SignalROptions) (Driver, error) {
	if tr == "" || tr == WebSockets {
		return NewSignalR(opts)
	}
	return NewSignalRHTTP(tr, opts)
}

// SignalRHTTP is the Driver for a SignalR hub over Server-Sent Events or
// long polling. Every connection negotiates first (these transports need
// a connection token), then receives on one long-lived request (the event
// stream, or one poll after another) and sends by POST, one at a time, as
// the official clients do. A connection costs one goroutine, which
// receives; sends happen on the caller's goroutine. The HTTP connections
// of one source address are pooled, so sends reuse a few kept-alive TCP
// connections while every receiving request holds one of its own.
//
// Server-Sent Events carry text only, so they take JSON only; a
// connection pings the hub every SignalROptions.PingInterval, as on
// WebSockets. Long polling takes JSON and MessagePack, and does not ping
// (the polls keep it alive); one poll returns every message queued for
// the connection, so Counters.Frames counts poll responses that carried
// data, and messages per frame show the batching.
//
// The hub methods, broadcasts and options are those of SignalR, except
// that Negotiate is implied.
type SignalRHTTP struct {
	opts      SignalROptions
	transport Transport
	hubURL    string // http(s), without a query

	mu       sync.Mutex
	clients  map[string]*http.Client // by source address
	conns    map[*httpConn]struct{}
	pingStop chan struct{}
}

var _ Driver = (*SignalRHTTP)(nil)

// NewSignalRHTTP returns a driver for the hub at opts.URL over transport
// tr (ServerSentEvents or LongPolling).
func NewSignalRHTTP(tr Transport, opts SignalROptions) (*SignalRHTTP, error) {
	if tr != ServerSentEvents && tr != LongPolling {
		return nil, fmt.Errorf("loadgen: NewSignalRHTTP: transport %q is not sse or lp", tr)
	}
	if opts.Protocol == "" {
		opts.Protocol = JSON
	}
	if tr == ServerSentEvents && opts.Protocol != JSON {
		return nil, fmt.Errorf("loadgen: Server-Sent Events carry text only: protocol %q is not available", opts.Protocol)
	}
	if opts.Name == "" {
		opts.Name = "gosignalr/" + string(tr) + "/" + string(opts.Protocol)
	}
	d, err := NewSignalR(opts) // checks and completes the options
	if err != nil {
		return nil, err
	}
	return &SignalRHTTP{
		opts: d.opts, transport: tr, hubURL: d.httpURL,
		clients: make(map[string]*http.Client), conns: make(map[*httpConn]struct{}),
	}, nil
}

// Name implements Driver.
func (d *SignalRHTTP) Name() string { return d.opts.Name }

// Transport reports the driver's transport.
func (d *SignalRHTTP) Transport() Transport { return d.transport }

// Open reports how many of the driver's connections are open.
func (d *SignalRHTTP) Open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// client returns the pooled HTTP client of source address src.
func (d *SignalRHTTP) client(src net.IP) *http.Client {
	key := ""
	if src != nil {
		key = src.String()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.clients[key]; c != nil {
		return c
	}
	nd := &net.Dialer{Control: bindNoPort, Timeout: d.opts.DialTimeout}
	if src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	c := &http.Client{Transport: &http.Transport{
		DialContext:         nd.DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      clientReadBufferSize,
		WriteBufferSize:     clientReadBufferSize,
	}}
	d.clients[key] = c
	return c
}

// closeIdle closes the kept-alive connections of every pooled client.
func (d *SignalRHTTP) closeIdle() {
	for _, c := range d.clients {
		c.CloseIdleConnections()
	}
}

// Dial implements Driver.
func (d *SignalRHTTP) Dial(ctx context.Context, src net.IP, opts DialOptions) (Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.DialTimeout)
	defer cancel()
	client := d.client(src)
	token, err := d.negotiate(ctx, client)
	if err != nil {
		d.idleIfNone()
		return nil, err
	}
	recvCtx, recvCancel := context.WithCancel(context.Background())
	c := &httpConn{
		d:          d,
		client:     client,
		url:        addQuery(d.hubURL, "id", token),
		recvCtx:    recvCtx,
		recvCancel: recvCancel,
	}
	c.init(d.opts.Protocol, opts, c.write)
	// The receiving request outlives Dial, but not a Dial that fails.
	stop := context.AfterFunc(ctx, recvCancel)
	rest, err := c.start(ctx)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		recvCancel()
		if c.body != nil {
			c.body.Close()
		}
		d.idleIfNone()
		return nil, err
	}
	if len(rest) > 0 {
		if err := c.handleFrame(rest, time.Now(), false); err != nil {
			c.abort()
			return nil, err
		}
	}
	if d.transport == ServerSentEvents {
		// Like the official clients, ping once right after the handshake.
		if err := c.ping(); err != nil {
			c.abort()
			return nil, fmt.Errorf("loadgen: first ping: %w", err)
		}
	}
	d.register(c)
	go c.readLoop()
	if opts.Subscribe && opts.Group != "" {
		if err := c.invoke(ctx, "Join", nil, []byte(opts.Group)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("loadgen: joining group %q: %w", opts.Group, err)
		}
	}
	return c, nil
}

// idleIfNone closes the pooled connections when no connection is open.
func (d *SignalRHTTP) idleIfNone() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.conns) == 0 {
		d.closeIdle()
	}
}

// negotiate POSTs to the negotiate endpoint and returns the connection
// token.
func (d *SignalRHTTP) negotiate(ctx context.Context, client *http.Client) (string, error) {
	req, err := negotiateRequest(ctx, d.hubURL)
	if err != nil {
		return "", err
	}
	return negotiateReply(client.Do(req))
}

func (d *SignalRHTTP) register(c *httpConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns[c] = struct{}{}
	if d.transport == ServerSentEvents && d.pingStop == nil {
		d.pingStop = make(chan struct{})
		go pingLoop(d.opts.PingInterval, d.pingStop, &d.mu, d.conns)
	}
}

// unregister removes c; with the last connection the pinger stops and the
// pooled connections close.
func (d *SignalRHTTP) unregister(c *httpConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.conns, c)
	if len(d.conns) > 0 {
		return
	}
	if d.pingStop != nil {
		close(d.pingStop)
		d.pingStop = nil
	}
	d.closeIdle()
}

// httpConn is one SignalR client connection over SSE or long polling.
type httpConn struct {
	connCore
	d      *SignalRHTTP
	client *http.Client
	url    string // the hub URL with ?id=<token>

	wmu sync.Mutex // one POST at a time, as the clients send

	// recvCtx carries the receiving requests; recvCancel ends them.
	recvCtx    context.Context
	recvCancel context.CancelFunc
	body       io.ReadCloser // SSE: the event stream
	br         *bufio.Reader // SSE: reads body
}

// start opens the receiving side and completes the handshake; it returns
// what followed the handshake reply.
func (c *httpConn) start(ctx context.Context) ([]byte, error) {
	if c.d.transport == ServerSentEvents {
		return c.startSSE(ctx)
	}
	return c.startLP(ctx)
}

func (c *httpConn) startSSE(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(c.recvCtx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: opening the event stream: %w", err)
	}
	c.body = resp.Body
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("loadgen: opening the event stream: HTTP %d: %s", resp.StatusCode, truncate(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("loadgen: event stream of type %q", ct)
	}
	c.br = bufio.NewReaderSize(resp.Body, clientReadBufferSize)
	if err := c.write(func(b []byte) []byte { return appendHandshake(b, c.proto) }); err != nil {
		return nil, fmt.Errorf("loadgen: sending the handshake: %w", err)
	}
	ev, err := readEvent(c.br, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: reading the handshake reply: %w", err)
	}
	rest, err := splitHandshake(ev)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), rest...), nil
}

func (c *httpConn) startLP(ctx context.Context) ([]byte, error) {
	// The first poll is answered at once, empty: the connection is open.
	status, body, err := c.poll(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: first poll: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("loadgen: first poll: HTTP %d: %s", status, truncate(body))
	}
	if err := c.write(func(b []byte) []byte { return appendHandshake(b, c.proto) }); err != nil {
		return nil, fmt.Errorf("loadgen: sending the handshake: %w", err)
	}
	for {
		status, body, err = c.poll(ctx, body[:0])
		if err != nil {
			return nil, fmt.Errorf("loadgen: polling for the handshake reply: %w", err)
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("loadgen: polling for the handshake reply: HTTP %d: %s", status, truncate(body))
		}
		if len(body) > 0 {
			break
		}
	}
	return splitHandshake(body)
}

// poll sends one poll and reads its answer into buf.
func (c *httpConn) poll(ctx context.Context, buf []byte) (int, []byte, error) {
	u := c.url + "&_=" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, buf, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, buf, err
	}
	defer resp.Body.Close()
	buf, err = readAll(io.LimitReader(resp.Body, clientReadLimit), buf[:0])
	return resp.StatusCode, buf, err
}

// write builds one request body and POSTs it.
func (c *httpConn) write(build func([]byte) []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.d.opts.WriteTimeout)
	defer cancel()
	return c.post(ctx, build(nil))
}

func (c *httpConn) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if c.proto == JSON {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	} else {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("send: HTTP %d: %s", resp.StatusCode, truncate(reply))
	}
	return nil
}

// Close implements Conn: it sends a Close message, then (long polling) a
// DELETE, ends the receiving request and waits for the receiver to return.
func (c *httpConn) Close() error {
	return c.closeWith(func() {
		c.wmu.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.post(ctx, appendClose(nil, c.proto))
		if c.d.transport == LongPolling {
			if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil); err == nil {
				if resp, err := c.client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
					resp.Body.Close()
				}
			}
		}
		cancel()
		c.wmu.Unlock()
		c.recvCancel()
	})
}

// abort ends a connection whose receiver has not started.
func (c *httpConn) abort() {
	c.recvCancel()
	if c.body != nil {
		c.body.Close()
	}
	c.d.idleIfNone()
}

func (c *httpConn) readLoop() {
	var err error
	if c.d.transport == ServerSentEvents {
		err = c.readSSE()
		c.body.Close()
	} else {
		err = c.pollLoop()
	}
	c.recvCancel()
	c.d.unregister(c)
	c.finish(err)
}

func (c *httpConn) readSSE() error {
	var ev []byte
	for {
		if c.parked() {
			return errConnClosed
		}
		var err error
		ev, err = readEvent(c.br, ev[:0])
		if err == nil {
			err = c.handleFrame(ev, time.Now(), true)
			if err != nil {
				return err
			}
		} else {
			if err == io.EOF {
				err = errors.New("the event stream ended")
			}
			return c.endErr("receive", err)
		}
		if cap(ev) > 64<<10 {
			ev = nil
		}
	}
}

func (c *httpConn) pollLoop() error {
	for {
		if c.parked() {
			return errConnClosed
		}
		bp := getReadBuf()
		status, body, err := c.poll(c.recvCtx, (*bp)[:0])
		*bp = body
		switch {
		case err != nil:
		case status == http.StatusOK:
			if len(body) > 0 {
				err = c.handleFrame(body, time.Now(), true)
				if err != nil {
					putReadBuf(bp)
					return err
				}
			}
		case status == http.StatusNoContent:
			err = errors.New("the server ended the connection (HTTP 204)")
		default:
			err = fmt.Errorf("poll: HTTP %d: %s", status, truncate(body))
		}
		putReadBuf(bp)
		if err != nil {
			return c.endErr("receive", err)
		}
	}
}

// maxEventSize bounds one server-sent event.
const maxEventSize = clientReadLimit

// readEvent reads one server-sent event and appends its data to ev: the
// values of its "data" fields, joined by newlines. Comments, other fields
// and events without data are skipped.
func readEvent(br *bufio.Reader, ev []byte) ([]byte, error) {
	start := len(ev)
	hasData := false
	var long []byte // a line longer than the reader's buffer
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, line...)
			if len(long) > maxEventSize {
				return ev, errors.New("an event past the size limit")
			}
			continue
		}
		if err != nil {
			return ev, err
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
		if len(line) == 0 {
			if hasData {
				return ev, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		if len(field) == 0 || string(field) != "data" {
			continue // a comment (":...") or a field we do not use
		}
		value = bytes.TrimPrefix(value, []byte{' '})
		if hasData {
			ev = append(ev, '\n')
		}
		ev = append(ev, value...)
		hasData = true
		if len(ev)-start > maxEventSize {
			return ev, errors.New("an event past the size limit")
		}
	}
}
