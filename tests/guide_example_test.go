package signalr_test

// The snippets of the guide in docs/ live here, so that they compile (and
// those with an Output line run); TestGuideSnippets checks that every Go
// block of the guide is found in this file.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/gosignalr/signalr"
	natsbp "github.com/gosignalr/signalr/backplane/nats"
	redisbp "github.com/gosignalr/signalr/backplane/redis"
	"github.com/gosignalr/signalr/client"
)

// Me is the hub of the guide's examples.
type Me struct{}

// Whoami returns the caller's user id.
func (Me) Whoami(c *signalr.Context) string { return c.UserID() }

// Tenant returns the tenant a middleware put in the opening request's
// context.
func (Me) Tenant(c *signalr.Context) string {
	tenant, _ := c.Value(tenantKey{}).(string)
	return tenant
}

// whoami connects a Go client to url and prints what Whoami answers.
func whoami(url string, opts ...client.Option) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.New(url, opts...)
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer c.Stop(context.Background())
	var user string
	err = c.Invoke(ctx, &user, "Whoami")
	fmt.Printf("%q %v\n", user, err)
}

func ExampleHub_ServeHTTP_patterns() {
	hub, _ := signalr.New(Me{})
	defer hub.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/chat", hub)                // WebSockets, SSE, long polls, sends, stops
	mux.Handle("POST /chat/negotiate", hub) // negotiate

	srv := httptest.NewServer(mux)
	defer srv.Close()
	whoami(srv.URL + "/chat")
	// Output: "" <nil>
}

func ExampleHub_ServeHTTP_prefix() {
	hub, _ := signalr.New(Me{})
	defer hub.Shutdown(context.Background())

	// The application's API router; the hub is one of its routes.
	api := http.NewServeMux()
	api.Handle("/chat", hub)
	api.Handle("/chat/", hub)

	// The server mounts the router under /api.
	root := http.NewServeMux()
	root.Handle("/api/", http.StripPrefix("/api", api))

	srv := httptest.NewServer(root)
	defer srv.Close()
	whoami(srv.URL + "/api/chat") // the client's URL has the prefix
	// Output: "" <nil>
}

// sessions stands for the application's session store.
var sessions = map[string]string{"7f3a9c": "alice"}

func ExampleWithAuthenticator_cookie() {
	sessionAuth := func(r *http.Request) (*signalr.Identity, error) {
		cookie, err := r.Cookie("session")
		if err != nil {
			return nil, nil // no session: anonymous
		}
		user, ok := sessions[cookie.Value]
		if !ok {
			return nil, &signalr.AuthError{Message: "session expired"}
		}
		return &signalr.Identity{UserID: user}, nil
	}
	hub, _ := signalr.New(Me{},
		signalr.WithAuthenticator(sessionAuth),
		signalr.WithHubPolicy(signalr.RequireAuthenticated()))
	defer hub.Shutdown(context.Background())

	srv := httptest.NewServer(hub)
	defer srv.Close()
	// A browser sends the cookie by itself; the Go client is told to.
	whoami(srv.URL, client.WithHeader("Cookie", "session=7f3a9c"))
	whoami(srv.URL, client.WithHeader("Cookie", "session=0000"))
	// Output:
	// "alice" <nil>
	// connect: signalr client: negotiate: unexpected status 401: session expired
}

// jwtAuth accepts HS256 tokens signed with key that carry a subject and an
// expiry time.
func jwtAuth(key []byte) signalr.Authenticator {
	return func(r *http.Request) (*signalr.Identity, error) {
		raw := signalr.BearerToken(r) // Authorization header or access_token
		if raw == "" {
			return nil, nil // anonymous
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(raw, &claims,
			func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
		if err != nil || claims.Subject == "" {
			return nil, &signalr.AuthError{Message: "invalid token"}
		}
		return &signalr.Identity{UserID: claims.Subject, ExpiresAt: claims.ExpiresAt.Time}, nil
	}
}

func ExampleWithAuthenticator_jwt() {
	key := []byte("a secret of at least 32 bytes....")
	hub, _ := signalr.New(Me{},
		signalr.WithAuthenticator(jwtAuth(key)),
		signalr.WithHubPolicy(signalr.RequireAuthenticated()),
		signalr.WithAuthChallenge("Bearer"),
		signalr.WithCloseOnAuthExpiration())
	defer hub.Shutdown(context.Background())
	srv := httptest.NewServer(hub)
	defer srv.Close()

	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   "bob",
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(key)
	whoami(srv.URL, client.WithAccessTokenProvider(func(context.Context) (string, error) {
		return token, nil
	}))
	// Output: "bob" <nil>
}

// tenantKey is the context key under which withTenant stores the tenant.
type tenantKey struct{}

// withTenant is a middleware that puts a value in the request's context.
func withTenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), tenantKey{}, r.Header.Get("X-Tenant"))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func ExampleContext_middlewareValues() {
	hub, _ := signalr.New(Me{})
	defer hub.Shutdown(context.Background())
	srv := httptest.NewServer(withTenant(hub))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tr := range []string{"WebSockets", "ServerSentEvents", "LongPolling"} {
		c, _ := client.New(srv.URL, client.WithHeader("X-Tenant", "acme"), client.WithTransports(tr))
		if err := c.Start(ctx); err != nil {
			fmt.Println(err)
			return
		}
		var tenant string
		err := c.Invoke(ctx, &tenant, "Tenant")
		fmt.Println(tr, tenant, err)
		_ = c.Stop(ctx)
	}
	// Output:
	// WebSockets acme <nil>
	// ServerSentEvents acme <nil>
	// LongPolling acme <nil>
}

// Compiled, not run: it waits for a signal.
func ExampleHub_Shutdown() {
	bus, err := natsbp.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	hub, err := signalr.New(Me{}, signalr.WithBackplane(bus), signalr.WithHubName("chat"))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/chat", hub)
	mux.Handle("/chat/", hub)
	srv := &http.Server{Addr: ":8080", Handler: mux}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	<-ctx.Done()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// 1. The hub: running methods finish, every client gets a Close
	//    message that lets it reconnect (to another node), event streams
	//    and long polls end.
	if err := hub.Shutdown(shutdownCtx); err != nil {
		log.Println("hub:", err)
	}
	// 2. The HTTP server: no new requests; the ones in flight finish.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Println("http:", err)
	}
	// 3. The backplane, which the hub used until Shutdown returned.
	if err := bus.Close(); err != nil {
		log.Println("backplane:", err)
	}
}

// Compiled, not run: it needs an exporter (see docs/metrics.md).
func ExampleWithMeterProvider() {
	var reader sdkmetric.Reader = sdkmetric.NewManualReader() // or the Prometheus exporter
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	hub, err := signalr.New(Me{}, signalr.WithMeterProvider(provider))
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Shutdown(context.Background())
}

// Compiled, not run: it needs a NATS server.
func ExampleWithBackplane_nats() {
	bus, err := natsbp.Connect(os.Getenv("NATS_URL"), natsbp.WithPrefix("myapp"))
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	hub, err := signalr.New(Me{}, signalr.WithBackplane(bus), signalr.WithHubName("chat"))
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Shutdown(context.Background())
}

// Compiled, not run: it needs a Redis server.
func ExampleWithBackplane_redis() {
	bus, err := redisbp.Connect(os.Getenv("REDIS_URL"), redisbp.WithPrefix("myapp"))
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	hub, err := signalr.New(Me{}, signalr.WithBackplane(bus), signalr.WithHubName("chat"))
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Shutdown(context.Background())
}
