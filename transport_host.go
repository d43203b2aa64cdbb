package signalr

import (
	"log/slog"
	"net/http"

	"github.com/gosignalr/signalr/transport"
)

// The hub runs the connections of the transports' handlers
// (transport.Handler): it is their transport.Host, a claimed token is a
// transport.Claim, and a live connection a transport.Session. Which
// handler serves a request is the handlers' business (Hub.ServeHTTP asks
// each in turn); the hub keeps negotiate, CORS, authentication, the token
// tables and the cluster's forwarding.

// transportHost is the hub as the host of its transports.
type transportHost struct{ h *Hub }

var _ transport.Host = transportHost{}

// Claim implements transport.Host.
func (th transportHost) Claim(w http.ResponseWriter, r *http.Request, name string, allowNew bool) transport.Claim {
	id, token, ident, stateful, ok := th.h.open(w, r, name, allowNew)
	if !ok {
		return nil
	}
	return &transportClaim{h: th.h, r: r, id: id, token: token, ident: ident, stateful: stateful}
}

// Lookup implements transport.Host.
func (th transportHost) Lookup(token string) (transport.Session, int, string) {
	c, status, msg := th.h.liveConn(token)
	if c == nil {
		return nil, status, msg
	}
	return c, 0, ""
}

// Pending implements transport.Host.
func (th transportHost) Pending(token string) bool { return th.h.isPending(token) }

// Forward implements transport.Host.
func (th transportHost) Forward(w http.ResponseWriter, r *http.Request, token string) bool {
	return th.h.forwardHTTP(w, r, token)
}

// Logger implements transport.Host.
func (th transportHost) Logger() *slog.Logger { return th.h.cfg.logger }

// transportHandler returns the handler of the transport named name, or nil.
func (h *Hub) transportHandler(name string) transport.Handler {
	for _, hd := range h.transports {
		if hd.Name() == name {
			return hd
		}
	}
	return nil
}

// transportClaim is a token claimed by a request that opens a connection.
type transportClaim struct {
	h        *Hub
	r        *http.Request
	id       string
	token    string
	ident    *Identity
	stateful bool
}

// Release implements transport.Claim.
func (cl *transportClaim) Release() { cl.h.release(cl.token) }

// begin makes the connection over t findable by its token, and by other
// nodes of a cluster when its client sends later requests; stop undoes
// the latter.
func (cl *transportClaim) begin(t transport.Conn) (c *conn, stop func()) {
	c = newConn(cl.h, t, cl.id, cl.token, cl.r, cl.ident)
	c.wantStateful = cl.stateful
	cl.h.start(c)
	stop = func() {}
	if transport.Caps(t).Requests {
		stop = cl.h.clusterServeToken(c)
	}
	return c, stop
}

// Start implements transport.Claim. The connection reads on a goroutine
// of its own, so that net/http's goroutine returns and lets go of its
// buffers and deep stack: an idle connection costs a few KiB.
func (cl *transportClaim) Start(t transport.Conn, ended func()) {
	c, stop := cl.begin(t)
	// Not cl: it holds the request, which must not outlive the handler
	// (the connection keeps what it needs of it in c.req).
	h, token := cl.h, cl.token
	c.onServed = func() {
		if ended != nil {
			ended()
		}
		stop()
		h.release(token)
	}
	go func() {
		if c.serve() {
			c.onServed()
		}
	}()
}

// Serve implements transport.Claim.
func (cl *transportClaim) Serve(t transport.Conn, ready func() error) {
	c, stop := cl.begin(t)
	served := make(chan struct{})
	c.onServed = func() {
		stop()
		cl.h.release(cl.token)
		close(served)
	}
	if ready != nil {
		if err := ready(); err != nil {
			c.logger().DebugContext(c.ctx, "opening the transport failed", "error", err)
			c.closeWith(nil, err)
		}
	}
	if c.serve() {
		c.onServed()
	}
	<-served // a transport that went idle goes on being served elsewhere
}

// Transport implements transport.Session.
func (c *conn) Transport() transport.Conn { return c.t0 }

// Authorize implements transport.Session.
func (c *conn) Authorize(w http.ResponseWriter, r *http.Request) bool {
	return c.hub.sameUser(w, r, c)
}

// CanResume implements transport.Session.
func (c *conn) CanResume() (int, string) {
	c.qmu.Lock()
	closing, stateful := c.closing, c.stateful
	c.qmu.Unlock()
	switch {
	case closing:
		return http.StatusNotFound, "No Connection with that ID."
	case !stateful:
		return http.StatusConflict, "Connection already has a transport."
	}
	return 0, ""
}

// Resume implements transport.Session.
func (c *conn) Resume(t transport.Conn) bool { return c.offerResume(t) }
