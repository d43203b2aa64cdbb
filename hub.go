package signalr

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// Hub serves one hub: it is the http.Handler that clients connect to, and
// the way the rest of the program reaches them. Create it with New, mount
// it on the hub path and on everything below it:
//
//	mux.Handle("/chat", hub)
//	mux.Handle("/chat/", hub) // /chat/negotiate
//
// A Hub is safe for concurrent use. Stop it with Shutdown.
type Hub struct {
	cfg       config
	protocols []protocol.HubProtocol
	methods   map[string]*method // lower-case name
	exact     map[string]*method // declared name
	hooks     hooks
	reg       registry
	metrics   *hubMetrics // nil without WithMeterProvider

	// The lifecycle hooks wrapped in the connection filters; nil when
	// there is neither a hook nor a filter.
	onConnected    func(*Context) error
	onDisconnected func(*Context, error)
	cluster        *cluster // nil without a backplane
	transports     []transport.Handler
	writers        *writerPool
	clock          atomic.Int64 // unix nanos, updated every tick; see conn.wrote

	closed atomic.Bool

	// lingering holds WebSockets that wait for their clients' close
	// frames; Shutdown waits for them, within its context.
	lingering transport.Lingering

	mu       sync.Mutex
	pending  map[string]*pendingConn // by tokenKey of the connection token
	live     map[string]*conn        // by tokenKey of the connection token
	active   int                     // connections being served
	drained  chan struct{}           // closed when closed and active == 0
	tickStop chan struct{}
	tickDone chan struct{}

	// Admission accounting (admission.go), guarded by mu; made on first
	// use.
	pendingByAddr map[string]int    // pending negotiations per client address
	userSlots     map[string]int    // WithMaxConnectionsPerUser: slots taken per user
	liveSlots     map[string]string // user holding a slot, by tokenKey of a live token
}

type pendingConn struct {
	id       string
	timer    *time.Timer
	stateful bool
	user     string // who negotiated; the transport must be the same user
	addr     string // the negotiating client's address (see clientAddress)
}

// New returns a Hub serving the exported methods of hub. Every exported
// method (except OnConnected and OnDisconnected, methods promoted from
// embedded fields, and methods of standard interfaces such as String,
// Error, MarshalJSON or Close, see [WithMethods]) becomes callable by
// clients under its name, matched case-insensitively; [WithHiddenMethods]
// hides more and [WithMethods] lists them explicitly. A hub whose methods
// have pointer receivers must be passed as a pointer; New fails otherwise.
// A method may take a context.Context and/or a
// *Context first, then any number of parameters that the protocols can
// decode; it may return nothing, an error, a value, or a value and an error.
// New reports a *SignatureError for any method that does not fit.
//
// The hub value is shared by every connection, and its methods run
// concurrently for different connections: keep per-connection state in
// [Context.Items].
func New(hub any, opts ...Option) (*Hub, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	cfg.logger = cfg.logger.With("component", "signalr")
	methods, hk, err := buildMethods(hub, cfg.methodSel)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		cfg:       cfg,
		protocols: cfg.protocols,
		methods:   methods,
		exact:     make(map[string]*method, len(methods)),
		writers:   newWriterPool(),
		hooks:     hk,
		pending:   make(map[string]*pendingConn),
		live:      make(map[string]*conn),
		drained:   make(chan struct{}),
	}
	for _, m := range methods {
		h.exact[m.name] = m
	}
	h.transports = transport.Handlers(transport.Config{
		WebSocket:      transport.WebSocketOptions{CheckOrigin: h.checkOrigin, WriteTimeout: cfg.writeTimeout, IdleAfter: cfg.wsIdleAfter, CloseTimeout: cfg.wsCloseTimeout, Lingering: &h.lingering},
		LongPolling:    transport.LongPollingOptions{PollTimeout: cfg.pollTimeout, DisconnectTimeout: cfg.disconnectTimeout, WriteTimeout: cfg.writeTimeout},
		WriteTimeout:   cfg.writeTimeout,
		MaxRequestBody: cfg.maxRequestBody,
	})
	if hk.onConnected != nil || hk.onDisconnected != nil || len(cfg.connectionFilters) > 0 {
		h.onConnected, h.onDisconnected = h.connectHook(), h.disconnectHook()
	}
	for name := range cfg.methodPolicies {
		if methods[name] == nil {
			return nil, fmt.Errorf("signalr: WithMethodPolicy: the hub has no method %q", name)
		}
	}
	if h.metrics, err = newHubMetrics(cfg.metrics.provider, methods); err != nil {
		return nil, err
	}
	if cfg.backplane != nil {
		name := cfg.backplaneName
		if name == "" {
			name = defaultHubName(hub)
		}
		if _, err = newCluster(h, cfg.backplane, name); err != nil {
			h.metrics.close()
			return nil, err
		}
	}
	h.clock.Store(time.Now().UnixNano())
	return h, nil
}

// tokenKey is what the token tables are keyed by: a hash of the token, so
// that the time a lookup takes tells nothing about the secret.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:16])
}

// newToken returns a connection token. With a backplane it starts with
// this node's id, so that another node can claim it (no sticky sessions).
func (h *Hub) newToken() string {
	if h.cluster != nil {
		return h.cluster.nodeID + "." + newID()
	}
	return newID()
}

func (h *Hub) protocolByName(name string) (int, protocol.HubProtocol) {
	for i, p := range h.protocols {
		if p.Name() == name {
			return i, p
		}
	}
	return -1, nil
}

// ServeHTTP answers negotiate requests (a path ending in /negotiate) and
// transport requests (any other path): WebSocket upgrades, Server-Sent
// Events streams (GET with Accept: text/event-stream), long polls (other
// GETs), sends (POST) and long-polling stops (DELETE). Every transport
// request names its connection with the id query parameter.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.handleCORS(w, r) {
		return
	}
	if strings.HasSuffix(r.URL.Path, "/negotiate") {
		h.serveNegotiate(w, r)
		return
	}
	var live transport.Conn
	if c, _, _ := h.liveConn(r.URL.Query().Get("id")); c != nil {
		live = c.t0
	}
	for _, hd := range h.transports {
		if hd.Match(r, live) {
			hd.Serve(transportHost{h}, w, r)
			return
		}
	}
	w.Header().Set("Allow", "GET, POST, DELETE")
	transport.Error(w, http.StatusMethodNotAllowed, "Method not allowed.")
}

func (h *Hub) serveNegotiate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		transport.Error(w, http.StatusMethodNotAllowed, "Negotiate requires POST.")
		return
	}
	ident, ok := h.admit(w, r)
	if !ok {
		return
	}
	addr := h.clientAddress(r)
	version := transport.NegotiateVersion(r)
	if version == 0 && !h.cfg.allowNegotiateV0 {
		transport.Error(w, http.StatusBadRequest, "The client requested version '0', but the server does not support this version.")
		return
	}
	id := newID()
	token := id
	if version >= 1 {
		token = h.newToken()
	}
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		transport.Error(w, http.StatusServiceUnavailable, "The hub is shutting down.")
		return
	}
	if len(h.pending) >= h.cfg.maxPendingNegotiations {
		h.mu.Unlock()
		h.cfg.logger.WarnContext(r.Context(), "too many pending negotiations", "limit", h.cfg.maxPendingNegotiations)
		transport.Error(w, http.StatusServiceUnavailable, "Too many pending connections; try again later.")
		return
	}
	if status, msg := h.admitPendingLocked(r.Context(), addr, ident.UserID); status != 0 {
		h.mu.Unlock()
		transport.Error(w, status, "%s", msg)
		return
	}
	stateful := h.cfg.statefulReconnect && r.URL.Query().Get("useStatefulReconnect") == "true"
	p := &pendingConn{id: id, stateful: stateful, user: ident.UserID, addr: addr}
	h.pending[tokenKey(token)] = p
	p.timer = time.AfterFunc(h.cfg.negotiateTimeout, func() { h.expirePending(token, p) })
	h.mu.Unlock()

	resp := &transport.NegotiateResponse{
		ConnectionID:         id,
		NegotiateVersion:     version,
		AvailableTransports:  h.availableTransports(),
		UseStatefulReconnect: stateful,
	}
	if version >= 1 {
		resp.ConnectionToken = token
	}
	if err := transport.WriteNegotiate(w, resp); err != nil {
		h.cfg.logger.DebugContext(r.Context(), "writing negotiate response", "error", err)
	}
}

// availableTransports lists the configured transports with the transfer
// formats of the configured protocols (a transport without Binary, such as
// SSE, carries text only).
func (h *Hub) availableTransports() []transport.AvailableTransport {
	var formats []string
	for _, f := range []protocol.TransferFormat{protocol.Text, protocol.Binary} {
		for _, p := range h.protocols {
			if p.TransferFormat() == f {
				formats = append(formats, f.String())
				break
			}
		}
	}
	var out []transport.AvailableTransport
	for _, name := range h.cfg.transports {
		hd := h.transportHandler(name)
		if hd == nil {
			continue
		}
		fs := formats
		if !hd.Binary() {
			if len(formats) == 0 || formats[0] != protocol.Text.String() {
				continue
			}
			fs = formats[:1]
		}
		out = append(out, transport.AvailableTransport{Transport: name, TransferFormats: fs})
	}
	return out
}

func (h *Hub) allowsTransport(name string) bool {
	for _, t := range h.cfg.transports {
		if t == name {
			return true
		}
	}
	return false
}

func (h *Hub) expirePending(token string, p *pendingConn) {
	h.mu.Lock()
	if h.pending[tokenKey(token)] == p {
		h.dropPendingLocked(tokenKey(token), p, false)
	}
	h.mu.Unlock()
}

// newID returns 128 random bits, base64url without padding (22 characters,
// safe in a URL without encoding).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// claim turns a connection token from a transport request into a
// connection id. An empty token (skipNegotiation) makes a new connection.
// On failure it returns the HTTP status and message to answer with.
func (h *Hub) claim(token, transportName, user string, allowNew bool) (id, tok string, stateful bool, status int, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if token == "" && !allowNew {
		return "", "", false, http.StatusBadRequest, "Connection ID required."
	}
	if token != "" && h.pending[tokenKey(token)] == nil {
		c, ok := h.live[tokenKey(token)]
		switch {
		case !ok:
			return "", "", false, http.StatusNotFound, "No Connection with that ID."
		case c != nil && c.t0.Name() != transportName:
			return "", "", false, http.StatusBadRequest, "Cannot change transports mid-connection."
		}
		return "", "", false, http.StatusConflict, "Connection already has a transport."
	}
	if h.closed.Load() {
		return "", "", false, http.StatusServiceUnavailable, "The hub is shutting down."
	}
	if token == "" {
		id, tok = newID(), h.newToken()
		if !h.takeUserSlotLocked(user) {
			return "", "", false, http.StatusTooManyRequests, h.userCapText()
		}
	} else {
		p := h.pending[tokenKey(token)]
		if h.cfg.authenticator != nil && p.user != user {
			return "", "", false, http.StatusForbidden, "The connection was negotiated by another user."
		}
		if p.user != user && !h.takeUserSlotLocked(user) {
			return "", "", false, http.StatusTooManyRequests, h.userCapText()
		}
		h.dropPendingLocked(tokenKey(token), p, p.user == user) // the negotiated slot passes on
		id, tok, stateful = p.id, token, p.stateful
	}
	h.holdUserSlotLocked(tok, user)
	h.live[tokenKey(tok)] = nil // reserved until the connection object exists
	h.active++
	return id, tok, stateful, 0, ""
}

// claimAny is claim, extended to tokens negotiated by another node of the
// cluster: that node hands the connection id over.
func (h *Hub) claimAny(r *http.Request, transportName, user string, allowNew bool) (id, tok string, stateful bool, status int, msg string) {
	token := r.URL.Query().Get("id")
	id, tok, stateful, status, msg = h.claim(token, transportName, user, allowNew)
	if status != http.StatusNotFound {
		return
	}
	rid, rstateful, ok := h.remoteClaim(r.Context(), token, user)
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return "", "", false, http.StatusServiceUnavailable, "The hub is shutting down."
	}
	if _, taken := h.live[tokenKey(token)]; taken {
		return "", "", false, http.StatusConflict, "Connection already has a transport."
	}
	if !h.takeUserSlotLocked(user) {
		return "", "", false, http.StatusTooManyRequests, h.userCapText()
	}
	h.holdUserSlotLocked(token, user)
	h.live[tokenKey(token)] = nil
	h.active++
	return rid, token, rstateful, 0, ""
}

// open admits a request that opens a connection on the named transport:
// the transport must be enabled, the request authenticated and allowed,
// and its token claimable (with allowNew, r may also name none:
// skipNegotiation). On refusal it has answered w.
func (h *Hub) open(w http.ResponseWriter, r *http.Request, transportName string, allowNew bool) (id, token string, ident *Identity, stateful, ok bool) {
	if !h.allowsTransport(transportName) {
		transport.Error(w, http.StatusBadRequest, "The %s transport is not enabled on this hub.", transportName)
		return
	}
	if ident, ok = h.admit(w, r); !ok {
		return
	}
	id, token, stateful, status, msg := h.claimAny(r, transportName, ident.UserID, allowNew)
	if status != 0 {
		transport.Error(w, status, "%s", msg)
		return "", "", nil, false, false
	}
	return id, token, ident, stateful, true
}

// release undoes claim once the connection is over.
func (h *Hub) release(token string) {
	h.mu.Lock()
	delete(h.live, tokenKey(token))
	h.releaseUserSlotLocked(token)
	h.active--
	if h.active == 0 && h.closed.Load() {
		select {
		case <-h.drained:
		default:
			close(h.drained)
		}
	}
	h.mu.Unlock()
}

// isPending reports whether token names a negotiated connection that no
// transport request has started yet.
func (h *Hub) isPending(token string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return token != "" && h.pending[tokenKey(token)] != nil
}

// liveConn finds the connection a transport request names.
func (h *Hub) liveConn(token string) (*conn, int, string) {
	if token == "" {
		return nil, http.StatusBadRequest, "Connection ID required."
	}
	h.mu.Lock()
	c, ok := h.live[tokenKey(token)]
	h.mu.Unlock()
	switch {
	case c != nil:
		return c, 0, ""
	case ok:
		return nil, http.StatusConflict, "The connection is starting."
	}
	return nil, http.StatusNotFound, "No Connection with that ID."
}

// start makes c findable by its token; when the hub is already shutting
// down, c starts closed.
func (h *Hub) start(c *conn) *conn {
	h.mu.Lock()
	h.live[tokenKey(c.token)] = c
	closed := h.closed.Load()
	h.mu.Unlock()
	if closed {
		c.closeWith(nil, ErrHubClosed)
	}
	return c
}

// register makes c addressable and starts the keep-alive ticker.
func (h *Hub) register(c *conn) error {
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		return ErrHubClosed
	}
	h.reg.add(c)
	if h.tickStop == nil {
		h.tickStop = make(chan struct{})
		h.tickDone = make(chan struct{})
		go h.tickLoop(h.tickStop, h.tickDone)
	}
	h.mu.Unlock()
	// Bus round trips, outside the hub's lock.
	h.clusterRegister(c)
	return nil
}

func (h *Hub) unregister(c *conn) {
	groups := h.reg.remove(c)
	h.clusterUnregister(c, groups)
}

// tickInterval is how often keep-alive and client timeouts are checked.
func (h *Hub) tickInterval() time.Duration {
	d := time.Second
	for _, x := range []time.Duration{h.cfg.keepAlive / 2, h.cfg.clientTimeout / 4} {
		if x > 0 && x < d {
			d = x
		}
	}
	return max(d, 10*time.Millisecond)
}

func (h *Hub) tickLoop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(h.tickInterval())
	defer t.Stop()
	pings := make([][]byte, len(h.protocols))
	for i, p := range h.protocols {
		pings[i], _ = p.AppendMessage(nil, &protocol.Ping{})
	}
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			h.tick(now.UnixNano(), pings)
		}
	}
}

func (h *Hub) tick(now int64, pings [][]byte) {
	h.clock.Store(now)
	keepAlive, timeout := int64(h.cfg.keepAlive), int64(h.cfg.clientTimeout)
	var expired []*conn
	h.reg.eachConn(func(c *conn) {
		if !transport.Caps(c.t0).Pings {
			return // long polling has its own liveness rule and no pings
		}
		if timeout > 0 && c.pingSeen.Load() && now-c.lastRead.Load() > timeout {
			expired = append(expired, c)
			return
		}
		if c.stateful {
			if in := c.rs.inSeq.Load(); in > c.rs.lastAckSent {
				c.rs.lastAckSent = in
				b, _ := c.proto.AppendMessage(nil, &protocol.Ack{SequenceID: in})
				c.enqueueMsg(outMsg{b: b, untracked: true})
			}
		}
		idleFor := now - c.lastWrite.Load()
		if keepAlive > 0 && idleFor >= keepAlive {
			c.enqueueIfIdle(pings[c.protoIndex])
		} else if idleFor >= 2*int64(time.Second) {
			// lastWrite is the tick before the last write (the coarse
			// clock, at most a second behind), so this is at least a
			// second of real quiet: a busy connection keeps its array.
			c.trimQueue()
		}
	})
	for _, c := range expired {
		c.logger().InfoContext(c.ctx, "client timed out")
		c.closeWith(&protocol.Close{Error: "Connection closed with an error. The client sent nothing within the client timeout."}, ErrClientTimeout)
	}
}

// Shutdown stops the hub gracefully: new connections, negotiations and
// invocations are refused, hub methods already running finish and their
// results are sent, then every client receives a Close message that allows
// it to reconnect (elsewhere, behind a load balancer), and Shutdown waits
// for the connections to end, or for ctx to be done, whichever comes
// first. Streams end when their connection does. Sends after Shutdown
// return ErrHubClosed.
//
// A WebSocket's socket stays open after its close frame until the client
// answers with its own, for at most the close timeout (see
// WithCloseTimeout), so that the answer does not meet a closed socket.
// Shutdown waits for those sockets too, all at once, and closes the ones
// still open when ctx is done: with clients that do not answer it returns
// after the close timeout or when ctx is done, whichever comes first. It
// returns ctx's error only if connections were still running.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed.Swap(true) {
		for _, p := range h.pending {
			p.timer.Stop() // kept, so that using one answers 503, not 404
		}
		if h.active == 0 {
			close(h.drained)
		}
	}
	conns := make([]*conn, 0, len(h.live))
	for _, c := range h.live {
		if c != nil {
			conns = append(conns, c)
		}
	}
	stop, done := h.tickStop, h.tickDone
	h.tickStop = nil
	h.mu.Unlock()

	// Let running hub methods finish and queue their completions first, so
	// that clients get their answers before the Close message.
	idle := make([]<-chan struct{}, len(conns))
	for i, c := range conns {
		idle[i] = c.drain()
	}
	for i, c := range conns {
		select {
		case <-idle[i]:
		case <-ctx.Done():
		}
		c.closeWith(&protocol.Close{AllowReconnect: true}, ErrHubClosed)
	}
	if stop != nil {
		close(stop)
		<-done
	}
	if h.cluster != nil {
		defer h.cluster.close()
	}
	defer h.metrics.close()
	var err error
	select {
	case <-h.drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	// Closed WebSockets wait for their clients' close frames, each up to
	// the close timeout; the ones still waiting when ctx ends are closed.
	h.lingering.Wait(ctx)
	return err
}
