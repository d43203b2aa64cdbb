package signalr

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"time"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/transport"
)

// No sticky sessions for the HTTP transports: a POST, long poll or DELETE
// that reaches a node which does not hold its connection is forwarded
// through the backplane to the node that does, which serves it as if it
// had arrived there and sends back the response.

const opHTTP uint8 = 16

// tokenSubject names a connection by a hash of its token: the token itself
// never travels on the bus.
func (cl *cluster) tokenSubject(token string) string {
	return cl.subject("k", base64.RawURLEncoding.EncodeToString([]byte(tokenKey(token))))
}

// clusterServeToken makes an HTTP-transport connection reachable by its
// token from other nodes; the returned function undoes it.
func (h *Hub) clusterServeToken(c *conn) func() {
	cl := h.cluster
	if cl == nil {
		return func() {}
	}
	subject := cl.tokenSubject(c.token)
	cl.ref(subject, func(m *backplane.Message) { go h.serveForwarded(m, c) }, h.logBackplaneErr)
	// Keep answering for a moment after the connection ends: a request
	// already on its way (a stop, the poll racing it) then gets its 404 or
	// 204 instead of waiting for a reply that no one would send.
	return func() { time.AfterFunc(forwardLinger, func() { cl.unref(subject) }) }
}

// forwardLinger is how long a node keeps answering for a connection that
// ended.
const forwardLinger = 2 * time.Second

// forwardHTTP sends a transport request for a connection this node does
// not hold to the node that does. It reports false when no node holds it.
func (h *Hub) forwardHTTP(w http.ResponseWriter, r *http.Request, token string) bool {
	cl := h.cluster
	if cl == nil || token == "" {
		return false
	}
	env := &envelope{Op: opHTTP, Method: r.Method}
	if h.cfg.authenticator != nil {
		id, ok := h.authenticate(w, r)
		if !ok {
			return true
		}
		env.User = id.UserID
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.maxRequestBody+1))
		if err != nil {
			transport.Error(w, http.StatusBadRequest, "Reading the request body failed.")
			return true
		}
		env.Result = body
	}
	timeout := 30 * time.Second
	if r.Method == http.MethodGet {
		timeout += h.cfg.pollTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	reply, err := h.request(ctx, cl.tokenSubject(token), env)
	switch {
	case err == ErrConnectionNotFound:
		return false
	case err != nil:
		transport.Error(w, http.StatusBadGateway, "The node holding this connection did not answer.")
		return true
	}
	if reply.Proto != "" {
		w.Header().Set("Content-Type", reply.Proto)
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.cfg.writeTimeout)) // a client that stops reading
	w.WriteHeader(int(reply.Status))
	_, _ = w.Write(reply.Result)
	return true
}

// serveForwarded serves a transport request forwarded by another node.
func (h *Hub) serveForwarded(m *backplane.Message, c *conn) {
	env, ok := h.decodeEnvelope(m)
	if !ok || env.Op != opHTTP {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.pollTimeout+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, env.Method, "/", bytes.NewReader(env.Result))
	if err != nil {
		return
	}
	rec := &recorder{header: http.Header{}}
	if h.cfg.authenticator != nil && env.User != c.identity.UserID {
		http.Error(rec, "The request's user does not own this connection.", http.StatusForbidden)
		env.Method = ""
	}
	switch env.Method {
	case http.MethodPost:
		if p, ok := c.t0.(transport.Poster); ok {
			p.HandlePost(rec, req, h.cfg.maxRequestBody)
		} else {
			rec.WriteHeader(http.StatusMethodNotAllowed)
		}
	case http.MethodGet:
		if lp, ok := c.t0.(*transport.LongPoll); ok {
			lp.Poll(rec, req)
		} else {
			transport.Error(rec, http.StatusBadRequest, "This connection uses the %s transport.", c.t0.Name())
		}
	case http.MethodDelete:
		if lp, ok := c.t0.(*transport.LongPoll); ok {
			lp.Stop(rec)
		} else {
			transport.Error(rec, http.StatusBadRequest, "DELETE is only for long-polling connections.")
		}
	}
	h.reply(m, &envelope{Status: uint16(rec.status), Result: rec.body.Bytes(), Proto: rec.header.Get("Content-Type")})
}

// recorder is the http.ResponseWriter of a forwarded request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
