package signalr

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// Authentication and authorization.
//
// An Authenticator runs on every HTTP request of a connection: negotiate,
// the WebSocket upgrade or SSE stream, and each send, poll and stop. A
// refused request is answered 401 and never reaches the hub. The identity
// of the request that opens the connection becomes the connection's; a
// later request of the same connection must carry the same user (403
// otherwise). Policies then decide, per hub (at connect) and per method
// (at each call), what an identity may do.

// Identity is who is behind a connection.
type Identity struct {
	// UserID groups connections for Clients.User and presence; "" is an
	// anonymous connection. It wins over [WithUserIDFunc], which names
	// the user only when UserID is "".
	UserID string
	// Claims are whatever the authenticator learned (from a JWT, a
	// session, ...), for policies and hub methods.
	Claims map[string]any
	// ExpiresAt, if set, is when the credentials end. With
	// WithCloseOnAuthExpiration the connection is closed then.
	ExpiresAt time.Time
}

// Authenticator turns a request into an identity. It returns (nil, nil)
// for an anonymous request and an error to refuse it (401, with the
// error's text as the body when it is an *AuthError, and the
// WWW-Authenticate header WithAuthChallenge describes).
type Authenticator func(r *http.Request) (*Identity, error)

// BearerToken returns the access token of r: the Authorization header's
// bearer token, or the access_token query parameter that browsers use for
// WebSockets and Server-Sent Events (they cannot set headers there).
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.URL.Query().Get("access_token")
}

// WithAuthenticator sets how requests are authenticated. The default
// accepts every request as anonymous (or as WithUserIDFunc says). The
// UserID of the identity it returns wins over [WithUserIDFunc].
func WithAuthenticator(a Authenticator) Option {
	return func(c *config) { c.authenticator = a }
}

// WithCloseOnAuthExpiration closes a connection when its identity's
// ExpiresAt passes, with a Close message that lets the client reconnect
// (and so authenticate again). The identity of the request that opened the
// connection decides; a token refreshed on later requests (long polling)
// does not extend it.
func WithCloseOnAuthExpiration() Option {
	return func(c *config) { c.closeOnAuthExpiry = true }
}

// WithAuthChallenge sets the WWW-Authenticate header of every 401 the hub
// answers (a refused authentication, or a hub policy refusing an anonymous
// user); "" sends none. By default a 401 carries
//
//	WWW-Authenticate: Bearer
//
// when the request carried a bearer token (an Authorization: Bearer header
// or an access_token query parameter), as ASP.NET Core's JWT bearer
// authentication does, and no WWW-Authenticate header otherwise (cookie or
// other authentication). An app that authenticates by bearer token and
// wants token-less requests challenged too sets WithAuthChallenge("Bearer").
func WithAuthChallenge(challenge string) Option {
	return func(c *config) { c.authChallenge = &challenge }
}

// unauthorized answers w with 401, msg as the body, and the challenge
// WithAuthChallenge describes.
func (h *Hub) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	challenge := ""
	if h.cfg.authChallenge != nil {
		challenge = *h.cfg.authChallenge
	} else if BearerToken(r) != "" {
		challenge = "Bearer"
	}
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	http.Error(w, msg, http.StatusUnauthorized)
}

// Policy decides whether the caller may connect (hub policies) or call a
// method (method policies). It returns nil to allow, or an error to
// refuse; an *AuthError's text reaches the client.
//
// A hub policy runs before the connection exists (at negotiate and at
// connect): its Context has the identity, the request and the request's
// context, but no connection. There, ConnectionID is "", Items is a map
// that lives only for the policy call, Clients().Caller() Send and Invoke
// return [ErrNoConnection], Others and OthersInGroup leave no one out,
// CloseConnection returns [ErrNoConnection] and Abort does nothing: a
// policy refuses a connection by returning an error. Clients and Groups
// reach other connections as usual. A method policy runs within the
// connection, with a Context like the method's.
type Policy func(c *Context) error

// RequireAuthenticated allows identified users only.
func RequireAuthenticated() Policy {
	return func(c *Context) error {
		if c.UserID() == "" {
			return &AuthError{Message: "user is not authenticated"}
		}
		return nil
	}
}

// RequireClaim allows users whose claim name holds one of values (or any
// value when none are given). String and []string (or []any of strings)
// claims are understood.
func RequireClaim(name string, values ...string) Policy {
	return func(c *Context) error {
		v, ok := c.Identity().Claims[name]
		if !ok {
			return &AuthError{Message: "missing claim " + name}
		}
		if len(values) == 0 {
			return nil
		}
		for _, have := range claimStrings(v) {
			for _, want := range values {
				if have == want {
					return nil
				}
			}
		}
		return &AuthError{Message: "claim " + name + " does not allow this"}
	}
}

func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// WithHubPolicy requires every connection to satisfy p. It is checked at
// negotiate and at connect: a refused anonymous user gets 401, a refused
// identified user 403.
func WithHubPolicy(p Policy) Option {
	return func(c *config) { c.hubPolicies = append(c.hubPolicies, p) }
}

// WithMethodPolicy requires callers of the hub method named method (any
// case) to satisfy p. A refused call gets the error completion
//
//	Failed to invoke '<method>' because user is unauthorized
//
// and never runs. New fails if no such method exists.
func WithMethodPolicy(method string, p Policy) Option {
	return func(c *config) {
		if c.methodPolicies == nil {
			c.methodPolicies = map[string][]Policy{}
		}
		k := strings.ToLower(method)
		c.methodPolicies[k] = append(c.methodPolicies[k], p)
	}
}

// WithMaxConnectionsPerUser caps the connections one user may hold on this
// node (default: no cap; [Disabled] is the same). Past it, negotiating or connecting is answered
// 429. A slot is taken when it is asked for, not at the handshake: a
// negotiation holds one from negotiate until its connection ends, or until
// its token expires unused (WithNegotiateTimeout); a connection opened
// without negotiating (skipNegotiation) takes one when its transport
// opens. Sockets opened at once therefore cannot pass the cap together.
// Anonymous connections are not counted.
func WithMaxConnectionsPerUser(n int) Option {
	return func(c *config) { setOrDisable(&c.maxConnsPerUser, n) }
}

// authenticate runs the authenticator on r. On refusal it has answered w.
func (h *Hub) authenticate(w http.ResponseWriter, r *http.Request) (*Identity, bool) {
	var id *Identity
	if a := h.cfg.authenticator; a != nil {
		var err error
		if id, err = a(r); err != nil {
			msg := "Unauthorized"
			var ae *AuthError
			if errors.As(err, &ae) {
				msg = ae.Message
			}
			h.unauthorized(w, r, msg)
			return nil, false
		}
	}
	if id == nil {
		id = &Identity{}
	} else {
		copied := *id // the authenticator may cache and share its values
		id = &copied
	}
	if id.UserID == "" && h.cfg.userID != nil {
		id.UserID = h.cfg.userID(r)
	}
	return id, true
}

// admit authenticates a request that opens a connection (or negotiates
// one) and applies the hub policies (the per-user cap is applied with the
// token bookkeeping, see takeUserSlotLocked). On refusal it has answered
// w.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) (*Identity, bool) {
	id, ok := h.authenticate(w, r)
	if !ok || !h.admitUserID(w, id.UserID) {
		return nil, false
	}
	c := &Context{Context: r.Context(), c: &conn{hub: h, connIdent: connIdent{identity: id, userID: id.UserID, req: keptAs(r)}}, noConn: true}
	for _, p := range h.cfg.hubPolicies {
		if err := p(c); err != nil {
			if id.UserID == "" {
				h.unauthorized(w, r, policyText(err))
				return nil, false
			}
			http.Error(w, policyText(err), http.StatusForbidden)
			return nil, false
		}
	}
	return id, true
}

// sameUser checks a later request of a connection (a send, poll or stop).
// On refusal it has answered w.
func (h *Hub) sameUser(w http.ResponseWriter, r *http.Request, c *conn) bool {
	if h.cfg.authenticator == nil {
		return true
	}
	id, ok := h.authenticate(w, r)
	if !ok {
		return false
	}
	if id.UserID != c.identity.UserID {
		http.Error(w, "The request's user does not own this connection.", http.StatusForbidden)
		return false
	}
	return true
}

func policyText(err error) string {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return "Forbidden"
}

// authorize applies the method policies of m to a call.
func (c *conn) authorize(m *method, hc *Context) error {
	for _, p := range c.hub.cfg.methodPolicies[strings.ToLower(m.name)] {
		if err := p(hc); err != nil {
			return err
		}
	}
	return nil
}

// Identity is who is behind the connection (never nil).
func (c *Context) Identity() *Identity { return c.c.identity }
