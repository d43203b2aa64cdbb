package transport

import (
	"crypto/sha256"
	"log/slog"
	"net/http"
	"time"
)

// Handler serves the HTTP requests of one transport: it opens connections
// (a WebSocket upgrade, an event stream, a first poll) and serves their
// later requests (sends, polls, stops, resumes). A server routes each
// transport request to the first handler of Handlers whose Match accepts
// it, and keeps negotiate, CORS and authentication to itself.
//
// A Handler is safe for concurrent use.
type Handler interface {
	// Name is the transport's name, as negotiate lists it.
	Name() string
	// Binary reports whether the transport carries the binary transfer
	// format; negotiate offers it with text only otherwise.
	Binary() bool
	// Match reports whether r is for this transport. live is the
	// transport of the live connection that r's id names, or nil.
	Match(r *http.Request, live Conn) bool
	// Serve answers r, which Match accepted, with the help of host.
	Serve(host Host, w http.ResponseWriter, r *http.Request)
	// ServeConn answers r, a later request (a send, a poll, a stop) of
	// the live connection whose transport is t, whose user the caller has
	// checked. A server of a cluster serves through it the requests that
	// another server received and passed on.
	ServeConn(w http.ResponseWriter, r *http.Request, t Conn)
}

// Host is the server the transports run their connections for: it owns
// the connection tokens, decides who may connect, and serves a connection
// once its transport has started it. The signalr package implements it.
//
// A Host is safe for concurrent use.
type Host interface {
	// Claim admits r as the request that opens a connection on the
	// transport named name: the transport is enabled, r is authenticated
	// and allowed, and the token in its id query parameter names a
	// negotiated connection that no transport has started (or, with
	// allowNew, r names none: a connection without negotiation). On
	// refusal it has answered w and returns nil.
	Claim(w http.ResponseWriter, r *http.Request, name string, allowNew bool) Claim
	// Lookup returns the live connection that token names. When there is
	// none, s is nil and status and msg are the answer: 400 for an empty
	// token, 404 for one the server does not hold, 409 for a connection
	// still starting.
	Lookup(token string) (s Session, status int, msg string)
	// Pending reports whether token names a connection negotiated with
	// this server that no transport has started.
	Pending(token string) bool
	// Forward passes r on to the server of a cluster that holds the
	// connection token names and answers w with its answer. It reports
	// false, having written nothing, when no server holds it.
	Forward(w http.ResponseWriter, r *http.Request, token string) bool
	// Logger is where transports log; never nil.
	Logger() *slog.Logger
}

// Claim is a connection token that a request has claimed. Exactly one of
// its methods must be called, once.
type Claim interface {
	// Start runs the connection over t on goroutines of its own and
	// returns at once. ended, if not nil, is called once the connection
	// is over, before its token is let go.
	Start(t Conn, ended func())
	// Serve runs the connection over t and returns when it is over.
	// ready, if not nil, is called once the connection can be found by
	// its token and before anything is read; an error from it ends the
	// connection with that error.
	Serve(t Conn, ready func() error)
	// Release gives the claim up: no connection starts.
	Release()
}

// Session is a live connection as its transport sees it.
type Session interface {
	// Transport is the transport the connection started with.
	Transport() Conn
	// Authorize reports whether r comes from the user that opened the
	// connection. On refusal it has answered w.
	Authorize(w http.ResponseWriter, r *http.Request) bool
	// CanResume reports whether the connection waits for a new transport
	// (stateful reconnect); when it does not, status and msg are the
	// answer: 404 for a connection that is closing, 409 for one that is
	// not stateful.
	CanResume() (status int, msg string)
	// Resume hands t to the connection as its new transport. It reports
	// false when the connection does not take it (it closed meanwhile);
	// the caller then closes t.
	Resume(t Conn) bool
}

// Config is what a server sets for the handlers of its transports. The
// zero value is usable.
type Config struct {
	// WebSocket configures WebSocket upgrades.
	WebSocket WebSocketOptions
	// LongPolling configures long polling.
	LongPolling LongPollingOptions
	// WriteTimeout bounds each write of an event stream and of the answer
	// to a POST (default 10 s).
	WriteTimeout time.Duration
	// MaxRequestBody is the largest POST body (the client's messages)
	// accepted, in bytes; larger ones are answered 413. Zero means no
	// limit.
	MaxRequestBody int64
}

// Handlers returns a handler for each transport of this package, in the
// server's order of preference, configured by cfg. A new transport is a
// file of this package and one entry here.
func Handlers(cfg Config) []Handler {
	return []Handler{
		newWebSocketHandler(cfg),
		newSSEHandler(cfg),
		newLongPollingHandler(cfg),
	}
}

// Names lists the transports of this package, in the server's order of
// preference.
func Names() []string {
	hs := Handlers(Config{})
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name()
	}
	return names
}

// tokenKey is what a handler keys a connection token by: a hash, so that
// the time a lookup takes tells nothing about the secret.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:16])
}

// serveLive answers a later request of a live connection: it finds the
// connection r's id names, checks r's user and hands r to serve. For a
// connection it does not hold, the host passes r on to the server of a
// cluster that does, or r gets the lookup's error.
func serveLive(host Host, w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request, Conn)) {
	token := r.URL.Query().Get("id")
	s, status, msg := host.Lookup(token)
	if s == nil {
		if status == http.StatusNotFound && host.Forward(w, r, token) {
			return
		}
		Error(w, status, "%s", msg)
		return
	}
	if s.Authorize(w, r) {
		serve(w, r, s.Transport())
	}
}

// refuse answers a request that t's transport does not serve.
func refuse(w http.ResponseWriter, r *http.Request, t Conn) {
	switch r.Method {
	case http.MethodGet:
		Error(w, http.StatusBadRequest, "This connection uses the %s transport.", t.Name())
	case http.MethodDelete:
		Error(w, http.StatusBadRequest, "DELETE is only for long-polling connections.")
	case http.MethodPost:
		w.Header().Set("Allow", "GET")
		Error(w, http.StatusMethodNotAllowed, "POST requests are not allowed on %s connections.", t.Name())
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		Error(w, http.StatusMethodNotAllowed, "Method not allowed.")
	}
}

// checkWriter checks that w can carry the transport named name (see
// CheckResponseWriter). When it cannot, the server is misconfigured, not
// the client: it logs why at Warn and answers 500 with a text that says
// so, and returns the error.
func checkWriter(host Host, w http.ResponseWriter, r *http.Request, name string) error {
	err := CheckResponseWriter(name, w)
	if err == nil {
		return nil
	}
	host.Logger().WarnContext(r.Context(), "cannot serve this transport through the http.ResponseWriter this handler was given",
		"transport", name, "error", err)
	Error(w, http.StatusInternalServerError,
		"The server cannot serve %s: a middleware hides what its HTTP response can do (see the server's log).", name)
	return err
}
