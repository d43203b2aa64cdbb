// Command auth shows authentication and authorization on a hub: a login
// endpoint issues JSON Web Tokens, the hub admits signed-in users only, one
// method is for admins only, messages can target every connection of one
// user, and a connection is closed when its token expires.
//
//	go run ./examples/auth                  # random signing secret, 1 h tokens
//	go run ./examples/auth -secret s3cret -ttl 10m
//
// then open http://localhost:8080 in a few browser windows, sign in as
// different users (role "admin" may broadcast) and send messages.
//
// The login is a demonstration: it asks for no password and hands out any
// role asked for. A real service checks credentials there, or gets its
// tokens from an identity provider and only verifies them in the hub.
//
// Endpoints:
//
//	POST /login            {"user": "alice", "role": "admin", "ttl": 60} (JSON or form; role defaults
//	                       to "user", ttl in seconds may only shorten -ttl) → {"token": "...", "expiresAt": "..."}
//	/hub                   the hub: WhoAmI(), Send(text), Broadcast(text) (role admin);
//	                       the clients' "message" (from, text) and "broadcast" (from, text) handlers
//	GET /                  the web page
//	GET /signalr.min.js    the browser client (-client-js file, or a redirect to a CDN)
package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gosignalr/signalr"
	"github.com/gosignalr/signalr/examples/chathub"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	secretFlag := flag.String("secret", "", "HS256 signing secret (default: a random one; tokens then do not survive a restart)")
	ttl := flag.Duration("ttl", time.Hour, "lifetime of the tokens /login issues")
	clientJS := flag.String("client-js", "", "serve the SignalR browser client from this file instead of a CDN")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	secret := []byte(*secretFlag)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // never fails (crypto/rand panics instead)
	}
	if *ttl < time.Second {
		logger.Error("-ttl must be at least 1s")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		err = run(ctx, ln, secret, *ttl, *clientJS, logger)
	}
	if err != nil {
		logger.Error("auth", "error", err)
		os.Exit(1)
	}
}

// run serves the example on ln until ctx ends. Tokens are signed with
// secret and live for ttl.
func run(ctx context.Context, ln net.Listener, secret []byte, ttl time.Duration, clientJS string, logger *slog.Logger) error {
	hub, err := newHub(secret, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newMux(hub, secret, ttl, clientJS, logger), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(shutdownCtx)
		_ = srv.Shutdown(shutdownCtx)
	}()
	logger.Info("auth example listening", "url", fmt.Sprintf("http://%s", ln.Addr()))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Hub is the hub. Every caller is signed in (the hub policy sees to it).
type Hub struct{}

// WhoAmI returns the caller's user id.
func (Hub) WhoAmI(c *signalr.Context) string { return c.UserID() }

// Send sends text to every connection of the caller's user (all their
// tabs and devices), as "message" (from, text).
func (Hub) Send(c *signalr.Context, text string) error {
	if err := checkText(text); err != nil {
		return err
	}
	return c.Clients().User(c.UserID()).Send(c, "message", c.UserID(), text)
}

// Broadcast sends text to everyone, as "broadcast" (from, text). Only
// callers with the "admin" role get here (see the method policy).
func (Hub) Broadcast(c *signalr.Context, text string) error {
	if err := checkText(text); err != nil {
		return err
	}
	return c.Clients().All().Send(c, "broadcast", c.UserID(), text)
}

func checkText(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return signalr.NewHubError("empty message")
	case len(text) > 2000:
		return signalr.NewHubError("message too long")
	}
	return nil
}

// newHub builds the hub with its authentication and policies.
func newHub(secret []byte, logger *slog.Logger) (*signalr.Hub, error) {
	return signalr.New(Hub{},
		signalr.WithLogger(logger),
		signalr.WithAuthenticator(authenticator(secret, logger)),
		// Anonymous requests get 401: nobody reaches the hub without a token.
		signalr.WithHubPolicy(signalr.RequireAuthenticated()),
		// Every 401 says "WWW-Authenticate: Bearer", token or not, as
		// ASP.NET Core's JWT bearer authentication does.
		signalr.WithAuthChallenge("Bearer"),
		// Others get "Failed to invoke 'Broadcast' because user is unauthorized".
		signalr.WithMethodPolicy("Broadcast", signalr.RequireClaim("role", "admin")),
		// The server closes a connection when its token expires; the client
		// may reconnect with a fresh token.
		signalr.WithCloseOnAuthExpiration(),
	)
}

// issuer names this example in the tokens it issues, and only its tokens
// are accepted.
const issuer = "gosignalr-auth-example"

// claims are the JWT claims of the example's tokens: sub (the user), exp,
// iat, iss, and the user's role.
type claims struct {
	Role string `json:"role,omitempty"`
	jwt.RegisteredClaims
}

// issue signs a token for user with role, valid for ttl from now.
func issue(secret []byte, user, role string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	// Token times have a precision of one second; exp is rounded down, so
	// the token never outlives ttl.
	exp := jwt.NewNumericDate(now.Add(ttl))
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   user,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: exp,
		},
	})
	s, err := tok.SignedString(secret)
	return s, exp.Time, err
}

// verify checks a token: HS256 signed with secret (no other algorithm, in
// particular not "none"), issued by this example, not expired, with a
// subject. It returns the identity the token stands for.
func verify(secret []byte, token string) (*signalr.Identity, error) {
	var cl claims
	_, err := jwt.ParseWithClaims(token, &cl,
		func(t *jwt.Token) (any, error) {
			if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
				return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
			}
			return secret, nil
		},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		return nil, err
	}
	if cl.Subject == "" {
		return nil, errors.New("token has no subject")
	}
	id := &signalr.Identity{
		UserID:    cl.Subject,
		Claims:    map[string]any{},
		ExpiresAt: cl.ExpiresAt.Time,
	}
	if cl.Role != "" {
		id.Claims["role"] = cl.Role
	}
	return id, nil
}

// authenticator verifies the bearer token of every hub request: the
// Authorization header, or the access_token query parameter browsers use
// for WebSockets and Server-Sent Events. No token is an anonymous request
// (which the hub policy refuses); a bad one is refused with 401 at once.
func authenticator(secret []byte, logger *slog.Logger) signalr.Authenticator {
	return func(r *http.Request) (*signalr.Identity, error) {
		token := signalr.BearerToken(r)
		if token == "" {
			return nil, nil
		}
		id, err := verify(secret, token)
		if err != nil {
			logger.Debug("token refused", "error", err, "remote", r.RemoteAddr)
			if errors.Is(err, jwt.ErrTokenExpired) {
				return nil, &signalr.AuthError{Message: "token expired"}
			}
			return nil, &signalr.AuthError{Message: "invalid token"}
		}
		return id, nil
	}
}

// Login requests: who to sign in as.
type loginRequest struct {
	User string `json:"user"`
	Role string `json:"role"`
	// TTL, in seconds, shortens the token's lifetime (tests use it to see
	// tokens expire); it cannot lengthen it past the server's -ttl.
	TTL int `json:"ttl"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// login answers POST /login with a token for the user and role asked for.
func login(secret []byte, maxTTL time.Duration, logger *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		req, err := readLogin(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.User = strings.TrimSpace(req.User)
		if req.Role == "" {
			req.Role = "user"
		}
		switch {
		case req.User == "" || utf8.RuneCountInString(req.User) > 64 || !utf8.ValidString(req.User):
			http.Error(w, "user: 1 to 64 characters required", http.StatusBadRequest)
			return
		case req.Role != "user" && req.Role != "admin":
			http.Error(w, `role: "user" or "admin"`, http.StatusBadRequest)
			return
		case req.TTL < 0:
			http.Error(w, "ttl: a positive number of seconds", http.StatusBadRequest)
			return
		}
		ttl := maxTTL
		if req.TTL > 0 && time.Duration(req.TTL)*time.Second < ttl {
			ttl = time.Duration(req.TTL) * time.Second
		}
		token, exp, err := issue(secret, req.User, req.Role, time.Now(), ttl)
		if err != nil {
			logger.Error("signing a token", "error", err)
			http.Error(w, "cannot issue a token", http.StatusInternalServerError)
			return
		}
		logger.Info("login", "user", req.User, "role", req.Role, "expires", exp)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(loginResponse{Token: token, User: req.User, Role: req.Role, ExpiresAt: exp})
	}
}

// readLogin reads a login request from a JSON body or a form.
func readLogin(r *http.Request) (loginRequest, error) {
	var req loginRequest
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return req, fmt.Errorf("bad JSON: %v", err)
		}
		return req, nil
	}
	if err := r.ParseForm(); err != nil {
		return req, fmt.Errorf("bad form: %v", err)
	}
	req.User, req.Role = r.PostForm.Get("user"), r.PostForm.Get("role")
	if s := r.PostForm.Get("ttl"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return req, errors.New("ttl: a number of seconds")
		}
		req.TTL = n
	}
	return req, nil
}

//go:embed index.html
var page embed.FS

// newMux serves the login endpoint, the hub at /hub, the page and the
// browser client.
func newMux(hub http.Handler, secret []byte, ttl time.Duration, clientJS string, logger *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /login", login(secret, ttl, logger))
	mux.Handle("/hub", hub)
	mux.Handle("/hub/", hub)
	mux.Handle("GET /{$}", http.FileServerFS(page))
	mux.HandleFunc("GET /signalr.min.js", func(w http.ResponseWriter, r *http.Request) {
		if clientJS != "" {
			http.ServeFile(w, r, clientJS)
			return
		}
		http.Redirect(w, r, chathub.CDNClient, http.StatusFound)
	})
	return mux
}
