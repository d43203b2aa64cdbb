package signalr

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// No sticky sessions for the HTTP transports: a POST, long poll or DELETE
// that reaches a node which does not hold its connection is forwarded
// through the backplane to the node that does, which serves it as if it
// had arrived there and sends back the response.

const opHTTP uint8 = 16

// envelopeRoom is what the envelope of a forwarded request or response
// may need besides its body (fields, the user id aside) on the bus.
const envelopeRoom = 512

// errBackplanePayload closes a connection that has a message the
// backplane cannot carry to the node that received its poll.
var errBackplanePayload = errors.New("signalr: message too large for the backplane")

// maxForwardBody is the largest HTTP body, request or response, that fits
// in one message on the bus beside extra bytes of envelope fields; 0 means
// no limit.
func (cl *cluster) maxForwardBody(extra int) int {
	if cl.limiter == nil {
		return 0
	}
	mp := cl.limiter.MaxPayload()
	if mp <= 0 {
		return 0
	}
	return max(mp-envelopeRoom-extra, 1)
}

// tokenSubject names a connection by a hash of its token: the token itself
// never travels on the bus.
func (cl *cluster) tokenSubject(token string) string {
	return cl.subject("k", base64.RawURLEncoding.EncodeToString([]byte(tokenKey(token))))
}

// serveToken makes an HTTP-transport connection reachable by its token
// from other nodes; the returned function undoes it.
func (cl *cluster) serveToken(c *conn) func() {
	if cl == nil {
		return func() {}
	}
	subject := cl.tokenSubject(c.token)
	cl.ref(subject, func(m *backplane.Message) { go cl.serveForwarded(m, c) })
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
func (cl *cluster) forwardHTTP(w http.ResponseWriter, r *http.Request, token string) bool {
	if cl == nil || token == "" {
		return false
	}
	env := &envelope{Op: opHTTP, Method: r.Method}
	if cl.cfg.authenticator != nil {
		id, ok := cl.node.authenticate(w, r)
		if !ok {
			return true
		}
		env.User = id.UserID
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, cl.cfg.maxRequestBody+1))
		if err != nil {
			transport.Error(w, http.StatusBadRequest, "Reading the request body failed.")
			return true
		}
		if limit := cl.maxForwardBody(len(env.User)); limit > 0 && len(body) > limit {
			transport.Error(w, http.StatusRequestEntityTooLarge,
				"The request body (%d bytes) is larger than the backplane can carry to the server holding this connection (%d bytes).", len(body), limit)
			return true
		}
		env.Result = body
	}
	timeout := 30 * time.Second
	if r.Method == http.MethodGet {
		timeout += cl.cfg.pollTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	reply, err := cl.request(ctx, cl.tokenSubject(token), env)
	switch {
	case err == ErrConnectionNotFound:
		return false
	case err != nil:
		transport.Error(w, http.StatusBadGateway, "The node holding this connection did not answer.")
		return true
	}
	status := int(reply.Status)
	switch {
	case status == 0:
		status = http.StatusOK // the handler wrote nothing, as net/http answers
	case status < 100 || status > 999:
		transport.Error(w, http.StatusBadGateway, "The node holding this connection sent an invalid answer.")
		return true
	}
	if reply.Proto != "" {
		w.Header().Set("Content-Type", reply.Proto)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(cl.cfg.writeTimeout)) // a client that stops reading
	w.WriteHeader(status)
	_, err = w.Write(reply.Result)
	var ne net.Error
	if reply.Conn != "" && (errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		// The owner handed these messages over as delivered, and the
		// client, still there, did not take them within the write
		// timeout: their loss is reported by closing the connection, as a
		// failed poll write on the owner does. A client that gave up its
		// poll itself is leaving and is not closed here.
		cl.closeLostPoll(r.Context(), reply.Conn, token == reply.Conn, err)
	}
	return true
}

// closeLostPoll asks the node holding connection id to close it: a poll
// answer carrying its messages could not be written to the client.
func (cl *cluster) closeLostPoll(rctx context.Context, id string, v0 bool, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cl.request(ctx, cl.connSubject(id), &envelope{Op: opCloseConn, Close: &closeRequest{Lost: cause.Error()}})
	if err != nil {
		logID := id
		if v0 { // the id is the connection's token
			logID = logStandIn(id)
		}
		cl.cfg.logger.WarnContext(rctx, "could not close a connection whose forwarded poll answer was lost", "connection", logID, "error", err)
	}
}

// serveForwarded serves a transport request forwarded by another node.
func (cl *cluster) serveForwarded(m *backplane.Message, c *conn) {
	env, ok := cl.decode(m)
	if !ok || env.Op != opHTTP {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.cfg.pollTimeout+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, env.Method, "/", bytes.NewReader(env.Result))
	if err != nil {
		return
	}
	rec := &recorder{header: http.Header{}}
	if cl.cfg.authenticator != nil && env.User != c.identity.UserID {
		http.Error(rec, "The request's user does not own this connection.", http.StatusForbidden)
		env.Method = "-"
	}
	if env.Method == http.MethodGet {
		// The poll's answer travels on the bus: what does not fit stays
		// queued for the next poll.
		rec.limit, rec.c = cl.maxForwardBody(0), c
	}
	switch env.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
		if hd := cl.node.transportHandler(c.t0.Name()); hd != nil {
			hd.ServeConn(rec, req, c.t0) // a send, a poll or a stop
		} else {
			transport.Error(rec, http.StatusMethodNotAllowed, "Method not allowed.")
		}
	case "-":
	default:
		transport.Error(rec, http.StatusMethodNotAllowed, "Method not allowed.")
	}
	if rec.tooLarge > 0 {
		c.logger().WarnContext(c.ctx, "closing a connection with a message too large for the backplane", "size", rec.tooLarge, "limit", rec.limit)
		c.closeQueued(&protocol.Close{Error: fmt.Sprintf(
			"Connection closed with an error. A message of %d bytes is larger than the backplane can carry to the server that received the poll (%d bytes).",
			rec.tooLarge, rec.limit)}, errBackplanePayload, true)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK // nothing written, as net/http answers
	}
	answer := &envelope{Status: uint16(status), Result: rec.body.Bytes(), Proto: rec.header.Get("Content-Type")}
	if len(rec.ends) > 0 {
		answer.Conn = c.id // the front node reports a failed write of these messages
	}
	err = cl.reply(m, answer)
	if err != nil && rec.c != nil && rec.status == http.StatusOK && len(rec.ends) > 0 {
		// The poll's messages did not leave: they go back to the front
		// of the queue, for the next poll.
		parts := make([][]byte, len(rec.ends))
		b, start := rec.body.Bytes(), 0
		for i, end := range rec.ends {
			parts[i] = b[start:end:end]
			start = end
		}
		c.requeueAt(0, parts...)
	}
}

// requeueAt puts messages taken by the writer back into the queue at
// position k, ahead of what was queued since, and makes sure a writer
// will send them.
func (c *conn) requeueAt(k int, msgs ...[]byte) {
	c.qmu.Lock()
	k = min(k, len(c.queue))
	add := make([]outMsg, len(msgs))
	for i, b := range msgs {
		add[i] = outMsg{b: b}
		c.queued += len(b)
	}
	c.queue = slices.Insert(c.queue, k, add...)
	start := c.startWriterLocked()
	c.qmu.Unlock()
	if start {
		c.startWriter()
	}
}

// recorder is the http.ResponseWriter of a forwarded request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer

	// For a forwarded poll, whose transport writes one message per Write
	// after a 200:
	// the room in the answer (0: no limit), the connection whose messages
	// that do not fit go back to its queue, how many did so far, where
	// each written message ends in body, and the size of a message that
	// could never fit (it is dropped, and the connection closed).
	limit    int
	c        *conn
	requeued int
	ends     []int
	tooLarge int
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.c != nil && r.limit > 0 && r.status == http.StatusOK {
		switch {
		case r.tooLarge > 0:
			return len(b), nil // the queue is dropped: the connection closes
		case r.requeued == 0 && r.body.Len() == 0 && len(b) > r.limit:
			r.tooLarge = len(b)
			return len(b), nil
		case r.requeued > 0 || r.body.Len()+len(b) > r.limit:
			// The writer is still in this write: nothing it takes
			// later can get ahead of these.
			r.c.requeueAt(r.requeued, bytes.Clone(b))
			r.requeued++
			return len(b), nil
		}
	}
	n, err := r.body.Write(b)
	r.ends = append(r.ends, r.body.Len())
	return n, err
}
