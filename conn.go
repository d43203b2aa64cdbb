package signalr

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// Connection states.
const (
	stateHandshake int32 = iota
	stateReplying        // handshake accepted, reply being written
	stateConnected
	stateClosed
)

const (
	// handshakeMaxSize bounds the handshake request.
	handshakeMaxSize = 4096
	// maxQueuedInvocations bounds invocations waiting to run on one
	// connection; past it the connection stops reading until one starts.
	maxQueuedInvocations = 64
	// readChunk is how much is read from a frame at a time.
	readChunk = 4096
)

var (
	errClientClosed = errors.New("signalr: client closed the connection")
	errAborted      = fmt.Errorf("%w: aborted", ErrClosedByHub)
	closeMsgAborted = protocol.Close{Error: "Connection closed with an error."}
)

// conn is one client connection: it owns the transport, reads and
// dispatches messages in the goroutine that serves the transport request,
// and writes through a bounded queue drained by a writer goroutine that
// exists only while there is something to write.
type conn struct {
	// Read by every broadcast: the first cache line. Set before serving;
	// t changes only when a stateful connection resumes (under qmu).
	hub        *Hub
	t          transport.Conn // current transport; replaced by a stateful resume
	t0         transport.Conn // the transport the connection started with
	id         string
	protoIndex int

	connQueue     // the outbound queue: the second and third cache lines
	connQueueTail // the rest of the outbound state, also guarded by qmu
	connIdent     // who and what the connection is
	connReader    // the reader goroutine's state

	streams streamSet // streams both ways (streams.go), with their own lock
	results resultSet // client results awaited (results.go), with their own lock

	// Stateful reconnect (stateful.go): set at handshake when the client
	// asks for it, nil otherwise; guarded by qmu.
	rs *resumeState

	connInvocations
	connGroups
}

// A conn is made of parts, each with one owner or lock, laid out so that
// a broadcast reads three cache lines of each recipient (TestConnLayout,
// beside this file, keeps it so). Fields of embedded parts are used as
// the conn's own (c.queue, c.imu).

// connQueue is the outbound queue (writer.go, writepool.go,
// flowcontrol.go). The broadcaster and the writer both change it: it fills
// one cache line, and the queue's first array the next, so that the lines
// the writer dirties hold nothing else. Guarded by qmu unless marked.
type connQueue struct {
	qmu       sync.Mutex
	queue     []outMsg
	queued    int           // bytes queued, the frame being written included
	lastWrite atomic.Int64  // unix nanoseconds (the hub's coarse clock); atomic
	drained   chan struct{} // closed when the queue is taken; see waitQueueRoom
	// Exactly eight flags, so that qbuf starts the next line.
	writing         bool
	closing         bool
	closeAfterFlush bool
	writeFailed     bool
	waited          bool // writer-owned: a transport that waits for polls has one ready
	stateful        bool
	gated           bool      // hold output until the client's first message
	suspended       bool      // transport lost, waiting for a resume
	qbuf            [2]outMsg // queue's first array; see resetQueueLocked
}

// connQueueTail is the outbound state no broadcast touches. Guarded by
// qmu, except the channels, which are made once and closed once.
type connQueueTail struct {
	closeReason     error
	transportClosed chan struct{} // closed when the writer closed the transport
	writerIdle      chan struct{} // closed when the writer goroutine exits
	// writeFn and continueFn are c.writeLoop and c.continueServing, made
	// once: a method value made where it is used (go c.writeLoop())
	// allocates a closure each time, and these start a goroutine on every
	// burst of writes and every idle wake-up.
	writeFn    func()
	continueFn func()
	onServed   func() // after the connection ends, when serve returned false
}

// connIdent is who and what the connection is. Set before the
// connection serves and read-only after, except proto, which the reader
// sets at the handshake before anything else reads it.
type connIdent struct {
	token    string
	userID   string
	identity *Identity   // never nil once serving
	expiry   *time.Timer // WithCloseOnAuthExpiration
	req      *keptRequest
	proto    protocol.HubProtocol
	ctx      context.Context // the request's values; canceled when the connection closes
	cancel   context.CancelCauseFunc
	items    atomic.Pointer[sync.Map] // Context.Items; made on first use
	created  time.Time
	// wantStateful: negotiated; takes effect with handshake version 2.
	wantStateful bool
	// typedFrames: the transport tells text frames from binary ones
	// (WebSockets); the server writes the protocol's type and reads both.
	typedFrames bool
	binary      bool // the protocol's transfer format is binary; set at the handshake
	// waitsForPoll: the transport writes only when the client asks (long
	// polling). Cached from its Capabilities, which a resume (same kind
	// of transport) does not change.
	waitsForPoll bool
}

// connReader is the reader goroutine's state (conn.go: serve, read,
// handshake, dispatch). Other goroutines read only the atomics.
type connReader struct {
	state      atomic.Int32 // stateHandshake, stateReplying, stateConnected, stateClosed
	pingSeen   atomic.Bool  // the client timeout's clock has started
	lastRead   atomic.Int64 // unix nanoseconds
	hsTimer    *time.Timer
	readLimit  int32 // WithMaxReceiveMessageSize, at most 2 GiB; Disabled: no limit
	registered bool  // set before the reader starts dispatching
	connected  bool  // OnConnected accepted the connection
	handshaken bool  // the reader's copy of state >= stateConnected
	awaitSeq   bool  // drop input until the client's Sequence message
}

// connInvocations runs the client's invocations (conn.go: enqueue,
// invokeLoop), guarded by imu.
type connInvocations struct {
	imu    sync.Mutex
	iq     []*protocol.Invocation
	ispace chan struct{}
	idle   chan struct{} // closed when the last running invocation ends
	iwg    sync.WaitGroup
	// invokeFn is c.invokeLoop, made once (see connQueueTail.writeFn).
	invokeFn func()
	irunning int32 // at most WithMaxParallelInvocations
	draining bool  // Shutdown: no new invocations
}

// connGroups is the connection's group memberships (groups.go), guarded
// by gmu.
type connGroups struct {
	gmu     sync.Mutex
	groups  map[string]struct{}
	removed bool // unregistered: no more joins
}

func newConn(h *Hub, t transport.Conn, id, token string, r *http.Request, ident *Identity) *conn {
	c := &conn{hub: h, t: t, t0: t, id: id}
	c.token, c.created = token, time.Now()
	c.readLimit = int32(min(h.cfg.maxReceiveMessageSize, math.MaxInt32))
	c.transportClosed = make(chan struct{})
	caps := transport.Caps(t)
	c.typedFrames, c.waitsForPoll = caps.TypedFrames, caps.WaitsForPoll
	if ident == nil {
		ident = &Identity{}
	}
	c.identity, c.userID = ident, ident.UserID
	c.ctx, c.cancel = context.WithCancelCause(context.WithoutCancel(r.Context()))
	c.req = keepRequest(r, c.ctx)
	c.queue = c.qbuf[:0]
	c.writeFn = c.writeLoop
	c.continueFn = c.continueServing
	c.invokeFn = c.invokeLoop
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastWrite.Store(now)
	if h.cfg.closeOnAuthExpiry && !ident.ExpiresAt.IsZero() {
		c.expiry = time.AfterFunc(time.Until(ident.ExpiresAt), func() {
			c.logger().InfoContext(c.ctx, "credentials expired")
			c.closeWith(&protocol.Close{Error: "Connection closed with an error. The credentials expired.", AllowReconnect: true}, ErrAuthExpired)
		})
	}
	return c
}

// logger is the hub's logger with the connection's attributes: its id,
// transport, protocol once the handshake chose it, and user when known.
// Log through it with c.ctx, which carries the values of the request that
// opened the connection.
func (c *conn) logger() *slog.Logger {
	l := c.hub.cfg.logger
	if c.id == c.token { // negotiated with version 0: the id is a secret
		l = redactedLogger(l, c.id)
	}
	args := make([]any, 0, 8)
	args = append(args, "connection", c.id, "transport", c.t0.Name())
	if p := c.req.logProto.Load(); p != nil {
		args = append(args, "protocol", *p)
	}
	if c.userID != "" {
		args = append(args, "user", c.userID)
	}
	return l.With(args...)
}

// serve runs the connection until it ends, and then reports true. On a
// transport that reports idleness it may return false early, and the
// connection goes on being served on another goroutine, which calls
// c.onServed once it ends.
func (c *conn) serve() bool {
	c.hub.metrics.connectionStarted(c)
	c.hsTimer = time.AfterFunc(c.hub.cfg.handshakeTimeout, c.handshakeExpired)
	return c.serveLoop()
}

// continueServing is serve's continuation on a new goroutine: it starts
// with the smallest stack, which is all an idle connection's reader needs.
func (c *conn) continueServing() {
	if c.serveLoop() && c.onServed != nil {
		c.onServed()
	}
}

func (c *conn) serveLoop() bool {
	for {
		err := c.readLoop()
		if err == transport.ErrIdle {
			if p, ok := c.t.(transport.Parker); ok {
				p.Park(c.continueFn) // on the next request or the end
			} else {
				go c.continueFn()
			}
			return false
		}
		if c.suspendable(err) && c.awaitResume() {
			continue
		}
		transport.StopReading(c.t) // answer the POST that ended the connection
		c.teardown(err)
		return true
	}
}

func (c *conn) readLoop() error {
	for {
		binary, r, err := c.t.NextReader()
		if err != nil {
			return err
		}
		if err := c.readFrame(binary, r); err != nil {
			return err
		}
	}
}

// readFrame reads one frame in chunks and handles every whole message as
// soon as it is complete, so memory stays bounded by the message size limit
// however long the frame is. A frame's type (text or binary) does not
// matter, as in ASP.NET Core: the official Java client sends JSON in binary
// frames.
func (c *conn) readFrame(_ bool, r io.Reader) error {
	buf := getReadBuf()
	for {
		if len(buf) == cap(buf) {
			buf = growReadBuf(buf, int(c.readLimit))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 {
			c.lastRead.Store(time.Now().UnixNano())
			used, perr := c.consume(buf)
			if perr != nil {
				return perr
			}
			buf = buf[:copy(buf, buf[used:])]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if len(buf) > 0 {
		if !c.handshaken {
			c.handshakeFail("The handshake request must end with the record separator (0x1E).")
		}
		return &protocolError{"the frame ended inside a message; messages must not span frames"}
	}
	// An idle connection keeps no read buffer: it goes back to a pool
	// shared by all connections (a large one is left to the collector).
	putReadBuf(buf)
	return nil
}

// resumeState is what a connection with stateful reconnect keeps; its
// fields are guarded by the conn's qmu unless marked.
type resumeState struct {
	replay      [][]byte // sent, not yet acknowledged
	replayBytes int
	replayFirst uint64 // sequence id of replay[0]
	resumeCh    chan transport.Conn
	closingCh   chan struct{} // closed when closing starts
	inSeq       atomic.Uint64 // last incoming sequence id processed
	inExpect    uint64        // reader-owned: id of the next incoming trackable message
	lastAckSent uint64        // ticker-owned
	pending     bool          // guarded by qmu: a resume transport is on resumeCh
}

// keptRequest is what a connection keeps of the request that opened it,
// in less memory than an *http.Request (whose copy and header map cost
// more than half a KiB per idle connection): the fields a hub may read,
// and the headers except those only the WebSocket handshake needed.
// Context.Request builds the *http.Request on first use, with the
// connection's context, since the request's own ends with the request.
type keptRequest struct {
	method, proto, host, remoteAddr, requestURI string
	protoMajor, protoMinor                      int
	url                                         *url.URL
	header                                      []headerField
	tls                                         *tls.ConnectionState
	ctx                                         context.Context
	built                                       atomic.Pointer[http.Request]
	logProto                                    atomic.Pointer[string] // the protocol's name, set at handshake
}

type headerField struct {
	name   string
	values []string
}

func keepRequest(r *http.Request, ctx context.Context) *keptRequest {
	k := &keptRequest{
		method: r.Method, proto: r.Proto, host: r.Host, remoteAddr: r.RemoteAddr, requestURI: r.RequestURI,
		protoMajor: r.ProtoMajor, protoMinor: r.ProtoMinor,
		url: r.URL, tls: r.TLS, ctx: ctx,
	}
	n := 0
	for name := range r.Header {
		if !handshakeHeader(name) {
			n++
		}
	}
	if n > 0 {
		k.header = make([]headerField, 0, n)
		for name, v := range r.Header {
			if !handshakeHeader(name) {
				k.header = append(k.header, headerField{name, v})
			}
		}
	}
	return k
}

func handshakeHeader(name string) bool {
	switch name {
	case "Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions":
		return true
	}
	return false
}

// keptAs wraps a request that is kept as it is (a check made before any
// connection exists).
func keptAs(r *http.Request) *keptRequest {
	k := &keptRequest{}
	k.built.Store(r)
	return k
}

// request returns the kept request as an *http.Request, the same one on
// every call.
func (k *keptRequest) request() *http.Request {
	if r := k.built.Load(); r != nil {
		return r
	}
	h := make(http.Header, len(k.header))
	for _, f := range k.header {
		h[f.name] = f.values
	}
	u := k.url
	if u == nil {
		u = &url.URL{}
	}
	r := (&http.Request{
		Method: k.method, URL: u, Proto: k.proto, ProtoMajor: k.protoMajor, ProtoMinor: k.protoMinor,
		Header: h, Body: http.NoBody, Host: k.host, RemoteAddr: k.remoteAddr, RequestURI: k.requestURI, TLS: k.tls,
	}).WithContext(k.ctx)
	k.built.CompareAndSwap(nil, r)
	return k.built.Load()
}

// readBufs lends readChunk-sized read buffers to connections while they
// read a frame, so that an idle connection holds none.
var readBufs = sync.Pool{New: func() any { return new([readChunk]byte) }}

func getReadBuf() []byte { return readBufs.Get().(*[readChunk]byte)[:0] }

// putReadBuf returns buf to the pool if it came from there; a buffer grown
// for a large message is left to the collector.
func putReadBuf(buf []byte) {
	if cap(buf) == readChunk {
		readBufs.Put((*[readChunk]byte)(buf[:readChunk]))
	}
}

func growReadBuf(buf []byte, limit int) []byte {
	n := max(2*cap(buf), 512)
	if limit > 0 {
		n = min(n, limit+readChunk)
	}
	if n <= cap(buf) {
		n = cap(buf) + readChunk
	}
	nb := make([]byte, len(buf), n)
	copy(nb, buf)
	return nb
}

// consume handles the whole messages at the start of data and returns how
// many bytes they used.
func (c *conn) consume(data []byte) (int, error) {
	used := 0
	if !c.handshaken {
		n, err := c.handshake(data)
		if err != nil || n == 0 {
			return 0, err
		}
		used = n
		c.hub.metrics.received(n)
	}
	for used < len(data) {
		msg, n, err := c.proto.ParseMessage(data[used:], int(c.readLimit))
		if err != nil {
			if errors.Is(err, protocol.ErrMessageTooLarge) {
				return used, &protocolError{fmt.Sprintf("message exceeds the maximum message size of %d bytes", c.readLimit)}
			}
			return used, &protocolError{err.Error()}
		}
		if n == 0 {
			break
		}
		used += n
		c.hub.metrics.received(n)
		if msg != nil && (!c.stateful || c.trackIncoming(msg)) {
			if err := c.handle(msg); err != nil {
				return used, err
			}
		}
	}
	return used, nil
}

// protocolError is bad input from the client; its text goes to the client
// in the Close message.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// handshake parses the handshake request at the start of data, answers it
// and registers the connection. It returns 0 while the request is
// incomplete.
func (c *conn) handshake(data []byte) (_ int, err error) {
	req, n, err := protocol.ParseHandshakeRequest(data, handshakeMaxSize)
	if err != nil {
		c.handshakeFail(err.Error())
		return 0, fmt.Errorf("%w: %w", ErrHandshakeFailed, err)
	}
	if n == 0 {
		return 0, nil
	}
	idx, p := c.hub.protocolByName(req.Protocol)
	if p == nil {
		msg := fmt.Sprintf("The protocol '%s' is not supported.", req.Protocol)
		c.handshakeFail(msg)
		return 0, fmt.Errorf("%w: %s", ErrHandshakeFailed, msg)
	}
	// Like ASP.NET Core (IsVersionSupported: version <= Version), any
	// version up to the protocol's own is accepted: some clients send 0
	// (signalrcore sends the negotiate version). Only version 2 and above
	// turn stateful reconnect on.
	if req.Version > p.Version() {
		msg := fmt.Sprintf("The server does not support version %d of the '%s' protocol.", req.Version, req.Protocol)
		c.handshakeFail(msg)
		return 0, fmt.Errorf("%w: %s", ErrHandshakeFailed, msg)
	}
	if p.TransferFormat() == protocol.Binary && !transport.Caps(c.t).Binary {
		msg := fmt.Sprintf("Cannot use the '%s' protocol on the current transport. The transport does not support 'Binary' transfer format.", p.Name())
		c.handshakeFail(msg)
		return 0, fmt.Errorf("%w: %s", ErrHandshakeFailed, msg)
	}
	if !c.state.CompareAndSwap(stateHandshake, stateReplying) {
		return 0, ErrHandshakeTimeout
	}
	c.hsTimer.Stop()
	c.hsTimer = nil
	c.proto, c.protoIndex = p, idx
	name := p.Name()
	c.req.logProto.Store(&name)
	c.binary = p.TransferFormat() == protocol.Binary
	if c.wantStateful && req.Version >= 2 && transport.Caps(c.t).Resumable {
		c.enableStateful()
	}
	reply := protocol.AppendHandshakeResponse(nil, "")
	if c.typedFrames {
		// WebSockets: write at once, before a stateful connection's gate.
		err = c.t.WriteFrame(c.binary, reply)
		c.hub.metrics.wroteFrame(reply, err)
	} else {
		// HTTP transports: a long poll may not be open yet, and the
		// reader must go on to answer the handshake POST.
		c.enqueueMsg(outMsg{b: reply, untracked: true})
	}
	c.state.Store(stateConnected) // from now on a Close message may follow
	if err != nil {
		return 0, err
	}
	c.lastWrite.Store(time.Now().UnixNano())
	c.handshaken = true
	if err := c.hub.register(c); err != nil {
		c.closeWith(&protocol.Close{Error: "Connection closed with an error."}, err)
		return 0, err
	}
	c.registered = true
	defer func() { c.connected = err == nil }()
	if hook := c.hub.onConnected; hook != nil {
		if err := c.callOnConnected(hook); err != nil {
			c.logger().InfoContext(c.ctx, "OnConnected refused the connection", "error", err)
			msg := "Connection closed with an error."
			var he *HubError
			if errors.As(err, &he) || c.hub.cfg.detailedErrors {
				msg += " " + errorText(err)
			}
			c.closeWith(&protocol.Close{Error: msg}, err)
			return 0, err
		}
	}
	return n, nil
}

func (c *conn) callOnConnected(hook func(*Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r}
		}
	}()
	return hook(&Context{Context: c.ctx, c: c})
}

func (c *conn) handshakeFail(msg string) {
	if c.state.CompareAndSwap(stateHandshake, stateClosed) {
		c.hsTimer.Stop()
		_ = c.t.WriteFrame(false, protocol.AppendHandshakeResponse(nil, msg))
	}
}

func (c *conn) handshakeExpired() {
	if c.state.CompareAndSwap(stateHandshake, stateClosed) {
		_ = c.t.WriteFrame(false, protocol.AppendHandshakeResponse(nil, "Handshake was canceled."))
		c.closeWith(nil, ErrHandshakeTimeout)
	}
}

// handle acts on one parsed message.
func (c *conn) handle(msg protocol.Message) error {
	switch m := msg.(type) {
	case *protocol.Invocation:
		if len(m.StreamIDs) > 0 {
			if hm := c.hub.lookup(m.Target); hm != nil {
				if errText := c.prepareUploads(hm, m.StreamIDs); errText != "" {
					c.refuse(call{id: m.InvocationID, target: m.Target, m: hm}, invokeInvalid, errText, nil)
					return nil
				}
			}
		}
		return c.enqueueInvocation(m)
	case *protocol.StreamInvocation:
		detachArgs(m.Arguments)
		c.startStream(m)
	case *protocol.StreamItem:
		c.pushUpload(m)
	case *protocol.Completion:
		if !c.completeUpload(m) && !c.completeResult(m) {
			c.logger().DebugContext(c.ctx, "completion for an unknown invocation", "invocation", m.InvocationID)
		}
	case *protocol.CancelInvocation:
		c.cancelStream(m.InvocationID)
	case *protocol.Ping:
		c.pingSeen.Store(true)
	case *protocol.Close:
		return errClientClosed
	case *protocol.Ack:
		if c.stateful {
			c.ack(m.SequenceID)
		}
	default:
		// Completions, stream items, cancellations, acks and sequences for
		// features this connection does not use are ignored.
		c.logger().DebugContext(c.ctx, "ignoring message", "type", int(msg.Type()))
	}
	return nil
}

// enqueueInvocation queues inv to run after the invocations before it, at
// most MaxParallelInvocations at a time.
func (c *conn) enqueueInvocation(inv *protocol.Invocation) error {
	detachArgs(inv.Arguments)
	c.imu.Lock()
	if c.draining {
		c.imu.Unlock()
		c.refuse(invocationCall(c.hub.lookup(inv.Target), inv), refusedShutdown, fmt.Sprintf("Failed to invoke '%s': the server is shutting down.", inv.Target), nil)
		return nil
	}
	for len(c.iq) >= maxQueuedInvocations {
		if c.ispace == nil {
			c.ispace = make(chan struct{})
		}
		ch := c.ispace
		c.imu.Unlock()
		select {
		case <-ch:
		case <-c.ctx.Done():
			return context.Cause(c.ctx)
		case <-c.transportClosed:
			return ErrConnectionClosed
		}
		c.imu.Lock()
	}
	c.iq = append(c.iq, inv)
	if int(c.irunning) < c.hub.cfg.maxParallelInvocations {
		c.irunning++
		c.iwg.Add(1)
		go c.invokeFn()
	}
	c.imu.Unlock()
	return nil
}

// detachArgs copies raw arguments out of the read buffer, which is reused.
func detachArgs(args []any) {
	total := 0
	for _, a := range args {
		if r, ok := a.(protocol.Raw); ok {
			total += len(r)
		}
	}
	buf := make([]byte, 0, total)
	for i, a := range args {
		if r, ok := a.(protocol.Raw); ok {
			start := len(buf)
			buf = append(buf, r...)
			args[i] = protocol.Raw(buf[start:len(buf):len(buf)])
		}
	}
}

func (c *conn) invokeLoop() {
	defer c.iwg.Done()
	for {
		c.imu.Lock()
		if len(c.iq) == 0 {
			c.iq = nil
			c.irunning--
			if c.irunning == 0 && c.idle != nil {
				close(c.idle)
				c.idle = nil
			}
			c.imu.Unlock()
			return
		}
		inv := c.iq[0]
		c.iq[0] = nil
		c.iq = c.iq[1:]
		if c.ispace != nil {
			close(c.ispace)
			c.ispace = nil
		}
		c.imu.Unlock()
		if c.ctx.Err() == nil {
			c.invoke(inv)
		}
	}
}

// invoke runs one hub method and sends its completion.
func (c *conn) invoke(inv *protocol.Invocation) {
	m := c.hub.lookup(inv.Target)
	k := invocationCall(m, inv)
	if m == nil {
		c.refuse(k, invokeUnknownMethod, fmt.Sprintf("Failed to invoke '%s' due to an error on the server. HubException: Method does not exist.", inv.Target), nil)
		return
	}
	if m.stream != streamNone {
		c.refuse(k, invokeInvalid, fmt.Sprintf("The client attempted to invoke the streaming '%s' method with a non-streaming invocation.", inv.Target), nil)
		return
	}
	hc := &Context{Context: c.ctx, c: c}
	if err := c.authorize(m, hc); err != nil {
		c.refuse(k, invokeUnauthorized, fmt.Sprintf("Failed to invoke '%s' because user is unauthorized", inv.Target), err)
		return
	}
	in, ups, err := m.bind(c, inv.Arguments, inv.StreamIDs, c.ctx, hc)
	if err != nil {
		c.refuse(k, invokeInvalid, c.bindErrorText(inv.Target, err), err)
		return
	}
	start := c.hub.metrics.now()
	result, err := c.hub.callFiltered(m, hc, in)
	c.hub.metrics.invoked(m, start, err)
	if len(ups) > 0 {
		c.releaseUploads(ups)
	}
	if err != nil {
		c.fail(k, err, false)
		return
	}
	if inv.InvocationID == "" {
		return
	}
	c.sendCompletion(&protocol.Completion{InvocationID: inv.InvocationID, HasResult: m.hasResult, Result: result})
}

// releaseStreamIDs drops uploads prepared for an invocation of m that will
// not run. Nothing was prepared for an unknown method or a wrong number of
// streams, and the ids may then belong to another invocation's uploads.
func (c *conn) releaseStreamIDs(m *method, ids []string) {
	if m == nil || len(ids) != m.nStreams {
		return
	}
	c.streams.mu.Lock()
	for _, id := range ids {
		delete(c.streams.uploads, id)
	}
	c.streams.mu.Unlock()
}

// call is one invocation, plain or streaming, as its outcome is reported
// by refuse or fail: each outcome has one path that logs, counts and
// answers the client.
type call struct {
	id, target string
	m          *method  // nil: the hub has no such method
	uploads    []string // upload stream ids prepared for it, given back if it does not run
	stream     bool     // a StreamInvocation: outside the invocation metrics
}

func invocationCall(m *method, inv *protocol.Invocation) call {
	return call{id: inv.InvocationID, target: inv.Target, m: m, uploads: inv.StreamIDs}
}

// refusedShutdown is refuse's kind for an invocation that arrives while
// the hub shuts down: the client did nothing wrong, and it is not counted.
const refusedShutdown = -1

// refuse answers an invocation that does not run: it logs why at debug
// level (the client caused it, or the server is shutting down), counts it
// in the invocation metrics as kind (invokeUnknownMethod, invokeInvalid or
// invokeUnauthorized; refusedShutdown is not counted), gives back the
// uploads prepared for it and sends the client an error completion with
// text.
func (c *conn) refuse(k call, kind int, text string, why error) {
	name := k.target
	if k.m != nil {
		name = k.m.name
	}
	msg := "invalid invocation"
	var be *bindError
	switch {
	case kind == invokeUnknownMethod:
		msg = "unknown hub method"
	case kind == invokeUnauthorized:
		msg = "call refused"
	case kind == refusedShutdown:
		msg = "invocation refused during shutdown"
	case errors.As(why, &be):
		msg = "invalid arguments"
	}
	if why != nil {
		c.logger().DebugContext(c.ctx, msg, "method", name, "error", why)
	} else {
		c.logger().DebugContext(c.ctx, msg, "method", name)
	}
	if !k.stream && kind != refusedShutdown {
		c.hub.metrics.refused(k.m, kind)
	}
	c.releaseStreamIDs(k.m, k.uploads)
	c.completeError(k.id, text)
}

// fail answers an invocation whose hub method returned err or panicked
// or, with streaming, whose stream ended with err after it had started.
// The log level says who has to act: debug for a *HubError (a message
// meant for the client), info when the client caused it (it refused a
// client result, went away or fell behind), error otherwise. The client
// receives the error's text only for a *HubError or with detailed errors.
func (c *conn) fail(k call, err error, streaming bool) {
	level := slog.LevelError
	var he *HubError
	var ce *ClientError
	isHub := errors.As(err, &he)
	switch {
	case isHub:
		level = slog.LevelDebug
	case errors.As(err, &ce), c.ctx.Err() != nil,
		errors.Is(err, ErrConnectionClosed), errors.Is(err, ErrSlowConsumer):
		level = slog.LevelInfo
	}
	logMsg := "hub method failed"
	text := fmt.Sprintf("An unexpected error occurred invoking '%s' on the server.", k.target)
	if streaming {
		logMsg = "stream failed"
		text = "An error occurred on the server while streaming results."
	}
	c.logger().Log(c.ctx, level, logMsg, "method", k.m.name, "error", err)
	if isHub || c.hub.cfg.detailedErrors {
		text += " " + errorText(err)
	}
	c.completeError(k.id, text)
}

// errorText is the detail added to a client-facing error message.
func errorText(err error) string {
	var he *HubError
	if errors.As(err, &he) {
		return "HubException: " + he.Message
	}
	var pe *panicError
	if errors.As(err, &pe) {
		return "Panic: " + fmt.Sprint(pe.value)
	}
	return "Error: " + err.Error()
}

func (c *conn) completeError(id, msg string) {
	if id == "" {
		return
	}
	c.sendCompletion(&protocol.Completion{InvocationID: id, Error: msg})
}

func (c *conn) sendCompletion(m *protocol.Completion) {
	b, err := c.proto.AppendMessage(nil, m)
	if err != nil {
		c.logger().ErrorContext(c.ctx, "cannot encode result", "error", err)
		b, err = c.proto.AppendMessage(nil, &protocol.Completion{
			InvocationID: m.InvocationID,
			Error:        "An unexpected error occurred: the result could not be serialized.",
		})
		if err != nil {
			return
		}
	}
	c.enqueue(b)
}

// teardown ends the connection after the reader stops: it flushes and
// closes the transport, unregisters the connection, cancels its context,
// runs OnDisconnected and waits for its invocations.
func (c *conn) teardown(readErr error) {
	if c.hsTimer != nil {
		c.hsTimer.Stop()
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	var pe *protocolError
	switch {
	case errors.As(readErr, &pe):
		c.logger().InfoContext(c.ctx, "closing connection after bad input", "error", pe.msg)
		c.closeWith(&protocol.Close{Error: "Connection closed with an error. InvalidDataException: " + pe.msg}, readErr)
	case errors.Is(readErr, io.EOF) && transport.TimedOut(c.t0):
		c.closeWith(nil, fmt.Errorf("%w: no poll within the disconnect timeout", ErrClientTimeout))
	case errors.Is(readErr, errClientClosed), errors.Is(readErr, io.EOF):
		c.closeWith(nil, nil)
	default:
		c.closeWith(nil, readErr)
	}
	<-c.transportClosed
	c.state.Store(stateClosed)
	c.qmu.Lock()
	reason := c.closeReason
	c.qmu.Unlock()
	if c.registered {
		c.hub.unregister(c)
	}
	c.cancel(ErrConnectionClosed)
	if c.connected {
		if hook := c.hub.onDisconnected; hook != nil {
			c.callOnDisconnected(hook, reason)
		}
	}
	// Uploads still open end as the client's stream would have, with an
	// error, so that a method ranging over one returns (only this
	// goroutine, the reader, sends on them).
	c.endAllUploads(connClosedWhileStreaming)
	c.iwg.Wait()
	c.hub.metrics.connectionEnded(c, reason)
	c.logger().DebugContext(c.ctx, "connection closed", "reason", reason)
}

func (c *conn) callOnDisconnected(hook func(*Context, error), reason error) {
	defer func() {
		if r := recover(); r != nil {
			c.logger().ErrorContext(c.ctx, "OnDisconnected panicked", "panic", r)
		}
	}()
	hook(&Context{Context: c.ctx, c: c}, reason)
}

// drain refuses new invocations and returns a channel that is closed once
// the running ones have finished and queued their completions.
func (c *conn) drain() <-chan struct{} {
	c.imu.Lock()
	defer c.imu.Unlock()
	c.draining = true
	if c.irunning == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if c.idle == nil {
		c.idle = make(chan struct{})
	}
	return c.idle
}
