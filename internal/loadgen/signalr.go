package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// BroadcastTarget is the client method a SignalR bench hub calls to
// deliver a broadcast; its one argument is the payload.
const BroadcastTarget = "msg"

// SignalROptions configures a SignalR driver.
type SignalROptions struct {
	// URL is the hub's URL, http:// or ws:// (for example
	// http://127.0.0.1:8080/hub). Only loopback hosts are accepted.
	URL string
	// Protocol is the hub protocol; the default is JSON.
	Protocol Protocol
	// Name labels result rows; the default is "gosignalr/<protocol>".
	Name string
	// Negotiate makes every connection POST to the negotiate endpoint
	// first, as the official clients do by default. Without it connections
	// skip negotiation (the clients' skipNegotiation option) and open the
	// WebSocket at once.
	Negotiate bool
	// PingInterval is how often every connection sends a Ping, which keeps
	// it within the server's client timeout (30 s by default). Zero means
	// 15 s. The pings of all a driver's connections are sent by one
	// goroutine.
	PingInterval time.Duration
	// DialTimeout bounds one Dial: connect, upgrade, handshake and joining
	// a group. Zero means 15 s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to the socket. Zero means 10 s.
	WriteTimeout time.Duration
}

// SignalR is the Driver for an ASP.NET Core SignalR compatible hub
// (gosignalr's bench hub: see the signalr-bench command) over WebSockets.
// A connection costs one goroutine, which reads; writes happen on the
// caller's goroutine, and one goroutine per driver pings every connection
// while any is open.
//
// Publish invokes the hub method Publish(group, payload); Echo invokes
// Echo(payload) and checks that the result is the payload; Subscribe with
// a group invokes Join(group). Broadcasts arrive as invocations of
// BroadcastTarget. A broadcast to everyone reaches every connection of
// the hub, subscribed or not, as SignalR's Clients.All does; connections
// without OnMessage read and drop it.
type SignalR struct {
	opts    SignalROptions
	wsURL   string
	httpURL string // for negotiate

	mu       sync.Mutex
	conns    map[*sigConn]struct{}
	pingStop chan struct{} // closed to stop the pinger; nil when none runs
}

var _ Driver = (*SignalR)(nil)

// NewSignalR returns a driver for the hub at opts.URL.
func NewSignalR(opts SignalROptions) (*SignalR, error) {
	if err := CheckLoopback(opts.URL); err != nil {
		return nil, err
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: hub URL: %w", err)
	}
	if opts.Protocol == "" {
		opts.Protocol = JSON
	}
	if opts.Protocol != JSON && opts.Protocol != MessagePack {
		return nil, fmt.Errorf("loadgen: unknown protocol %q", opts.Protocol)
	}
	if opts.Name == "" {
		opts.Name = "gosignalr/" + string(opts.Protocol)
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 15 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 15 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	hu, wu := *u, *u
	switch u.Scheme {
	case "http", "ws":
		hu.Scheme, wu.Scheme = "http", "ws"
	case "https", "wss":
		hu.Scheme, wu.Scheme = "https", "wss"
	default:
		return nil, fmt.Errorf("loadgen: hub URL %q: scheme must be http or ws", opts.URL)
	}
	return &SignalR{opts: opts, wsURL: wu.String(), httpURL: hu.String(), conns: make(map[*sigConn]struct{})}, nil
}

// Name implements Driver.
func (d *SignalR) Name() string { return d.opts.Name }

// Open reports how many of the driver's connections are open.
func (d *SignalR) Open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// Write buffers are lent to connections only while they write.
var wsWriteBufferPool sync.Pool

const (
	clientReadBufferSize  = 1024
	clientWriteBufferSize = 16 << 10
	clientReadLimit       = 64 << 20
)

// Dial implements Driver.
func (d *SignalR) Dial(ctx context.Context, src net.IP, opts DialOptions) (Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.DialTimeout)
	defer cancel()
	nd := &net.Dialer{Control: bindNoPort}
	if src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	target := d.wsURL
	if d.opts.Negotiate {
		token, err := d.negotiate(ctx, nd)
		if err != nil {
			return nil, err
		}
		target = addQuery(target, "id", token)
	}
	wd := websocket.Dialer{
		NetDialContext:  nd.DialContext,
		ReadBufferSize:  clientReadBufferSize,
		WriteBufferSize: clientWriteBufferSize,
		WriteBufferPool: &wsWriteBufferPool,
	}
	ws, resp, err := wd.DialContext(ctx, target, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("loadgen: dial %s: %w (HTTP %d)", target, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("loadgen: dial %s: %w", target, err)
	}
	c, err := d.handshake(ctx, ws, opts)
	if err != nil {
		ws.Close()
		return nil, err
	}
	if opts.Subscribe && opts.Group != "" {
		if err := c.invoke(ctx, "Join", nil, []byte(opts.Group)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("loadgen: joining group %q: %w", opts.Group, err)
		}
	}
	return c, nil
}

func addQuery(u, key, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
}

// negotiate POSTs to the negotiate endpoint from the connection's source
// address and returns the connection token.
func (d *SignalR) negotiate(ctx context.Context, nd *net.Dialer) (string, error) {
	req, err := negotiateRequest(ctx, d.httpURL)
	if err != nil {
		return "", err
	}
	tr := &http.Transport{DialContext: nd.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	return negotiateReply((&http.Client{Transport: tr}).Do(req))
}

// negotiateRequest returns the POST to the negotiate endpoint of the hub
// at hubURL (http or https).
func negotiateRequest(ctx context.Context, hubURL string) (*http.Request, error) {
	u, err := url.Parse(hubURL)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/negotiate"
	q := u.Query()
	q.Set("negotiateVersion", "1")
	u.RawQuery = q.Encode()
	return http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
}

// negotiateReply reads the connection token from the negotiate endpoint's
// reply, or the error of sending the request; it closes the body.
func negotiateReply(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", fmt.Errorf("loadgen: negotiate: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("loadgen: negotiate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("loadgen: negotiate: HTTP %d: %s", resp.StatusCode, truncate(body))
	}
	var n struct {
		ConnectionToken string `json:"connectionToken"`
		ConnectionID    string `json:"connectionId"`
		Error           string `json:"error"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return "", fmt.Errorf("loadgen: negotiate reply: %w", err)
	}
	if n.Error != "" {
		return "", fmt.Errorf("loadgen: negotiate refused: %s", n.Error)
	}
	if n.ConnectionToken == "" {
		return n.ConnectionID, nil
	}
	return n.ConnectionToken, nil
}

func (d *SignalR) handshake(ctx context.Context, ws *websocket.Conn, opts DialOptions) (*sigConn, error) {
	deadline, _ := ctx.Deadline()
	ws.SetReadLimit(clientReadLimit)
	_ = ws.SetWriteDeadline(deadline)
	if err := ws.WriteMessage(websocket.TextMessage, appendHandshake(nil, d.opts.Protocol)); err != nil {
		return nil, fmt.Errorf("loadgen: sending the handshake: %w", err)
	}
	_ = ws.SetReadDeadline(deadline)
	_, r, err := ws.NextReader()
	if err != nil {
		return nil, fmt.Errorf("loadgen: reading the handshake reply: %w", err)
	}
	bp := getReadBuf()
	defer putReadBuf(bp)
	frame, err := readAll(r, (*bp)[:0])
	*bp = frame
	if err != nil {
		return nil, fmt.Errorf("loadgen: reading the handshake reply: %w", err)
	}
	rest, err := splitHandshake(frame)
	if err != nil {
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	c := &sigConn{d: d, ws: ws}
	c.init(d.opts.Protocol, opts, c.write)
	c.frameType = websocket.TextMessage
	if c.proto == MessagePack {
		c.frameType = websocket.BinaryMessage
	}
	if len(rest) > 0 {
		if err := c.handleFrame(rest, time.Now(), false); err != nil {
			return nil, err
		}
	}
	// Like the official clients, ping once right after the handshake.
	if err := c.ping(); err != nil {
		return nil, fmt.Errorf("loadgen: first ping: %w", err)
	}
	d.register(c)
	go c.readLoop()
	return c, nil
}

// register adds c to the connections the pinger walks, starting the
// pinger if none runs.
func (d *SignalR) register(c *sigConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns[c] = struct{}{}
	if d.pingStop == nil {
		d.pingStop = make(chan struct{})
		go pingLoop(d.opts.PingInterval, d.pingStop, &d.mu, d.conns)
	}
}

// unregister removes c; the pinger stops with the last connection.
func (d *SignalR) unregister(c *sigConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.conns, c)
	if len(d.conns) == 0 && d.pingStop != nil {
		close(d.pingStop)
		d.pingStop = nil
	}
}

// sigConn is one SignalR client connection over WebSockets.
type sigConn struct {
	connCore
	d         *SignalR
	ws        *websocket.Conn
	frameType int

	wmu  sync.Mutex // gorilla allows one writer at a time
	wbuf []byte
}

var errConnClosed = errors.New("loadgen: connection closed")

func (c *sigConn) write(build func([]byte) []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = build(c.wbuf[:0])
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.d.opts.WriteTimeout))
	err := c.ws.WriteMessage(c.frameType, c.wbuf)
	if cap(c.wbuf) > 512 {
		c.wbuf = nil // keep idle connections small
	}
	return err
}

// Close implements Conn: it sends a Close message and a WebSocket close
// frame, closes the socket and waits for the reader to return.
func (c *sigConn) Close() error {
	return c.closeWith(func() {
		c.wmu.Lock()
		deadline := time.Now().Add(time.Second)
		_ = c.ws.SetWriteDeadline(deadline)
		_ = c.ws.WriteMessage(c.frameType, appendClose(nil, c.proto))
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
		c.wmu.Unlock()
		c.ws.Close()
	})
}

func (c *sigConn) readLoop() {
	err := c.read()
	c.ws.Close()
	c.d.unregister(c)
	c.finish(err)
}

func (c *sigConn) read() error {
	for {
		if c.parked() {
			return errConnClosed
		}
		_, r, err := c.ws.NextReader()
		if err != nil {
			return c.endErr("read", err)
		}
		bp := getReadBuf()
		frame, err := readAll(r, (*bp)[:0])
		*bp = frame
		if err == nil {
			err = c.handleFrame(frame, time.Now(), true)
		}
		putReadBuf(bp)
		if err != nil {
			return err
		}
	}
}

// dispatch handles one received message for a connection of any
// transport: a broadcast goes to opts.OnMessage, a completion to the call
// take returns, a Close's error to setReason.
func dispatch(m *inMsg, now time.Time, opts *DialOptions, take func(id uint64) *call, setReason func(string)) {
	if cnt := opts.Counters; cnt != nil {
		cnt.Messages.Add(1)
	}
	switch m.typ {
	case msgInvocation:
		if m.hasArg0 && opts.OnMessage != nil && string(m.target) == BroadcastTarget {
			opts.OnMessage(m.arg0, now)
		}
	case msgCompletion:
		if !m.hasID {
			return
		}
		cl := take(m.id)
		if cl == nil {
			return
		}
		switch {
		case m.hasErr:
			cl.ch <- fmt.Errorf("server error: %s", m.errText)
		case cl.want != nil && (!m.hasResult || !bytes.Equal(m.result, cl.want)):
			cl.ch <- fmt.Errorf("result %q is not the argument %q", truncate(m.result), truncate(cl.want))
		default:
			cl.ch <- nil
		}
	case msgClose:
		if m.hasErr {
			setReason(string(m.errText))
		}
	}
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
