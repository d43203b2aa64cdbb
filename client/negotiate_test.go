package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/client"
	"github.com/gosignalr/signalr/protocol"
	"github.com/gosignalr/signalr/transport"
)

// requestLog records what reaches a server.
type requestLog struct {
	mu   sync.Mutex
	reqs []string // "METHOD path?query auth"
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, fmt.Sprintf("%s %s %s|%s", kind(r), r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization")))
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
}

// kind names a request as the hub dispatches it.
func kind(r *http.Request) string {
	switch {
	case strings.HasSuffix(r.URL.Path, "/negotiate"):
		return "negotiate"
	case websocket.IsWebSocketUpgrade(r):
		return "websocket"
	case r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
		return "events"
	}
	return r.Method
}

func TestAccessTokenAndHeaders(t *testing.T) {
	for _, cb := range combos {
		t.Run(cb.String(), func(t *testing.T) {
			log := &requestLog{}
			srv := startServer(t, newTestHub(), log.wrap)
			cl := newClient(t, srv.URL+"?tenant=blue", cb,
				client.WithAccessTokenProvider(func(context.Context) (string, error) { return "s3cret", nil }),
				client.WithHeader("X-Test", "custom"))
			start(t, cl)
			var h string
			require.NoError(t, cl.Invoke(ctxT(t), &h, "Header"))
			assert.Equal(t, "custom", h, "the hub sees the client's header")
			require.NoError(t, cl.Stop(ctxT(t)))

			kinds := map[string]bool{}
			for _, r := range log.all() {
				k, rest, _ := strings.Cut(r, " ")
				kinds[k] = true
				assert.True(t, strings.HasSuffix(r, "|Bearer s3cret"), "no token on %s", r)
				assert.Contains(t, rest, "tenant=blue", "the URL's query is kept on %s", r)
			}
			want := map[string][]string{
				transport.WebSockets:       {"negotiate", "websocket"},
				transport.ServerSentEvents: {"negotiate", "events", "POST"},
				transport.LongPolling:      {"negotiate", "GET", "POST", "DELETE"},
			}[cb.transport]
			for _, k := range want {
				assert.True(t, kinds[k], "no %s request in %v", k, log.all())
			}
		})
	}
}

func TestAccessTokenRefreshedOn401(t *testing.T) {
	var calls atomic.Int32
	provider := func(context.Context) (string, error) {
		return fmt.Sprintf("t%d", calls.Add(1)), nil
	}
	expired := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.Header.Get("Authorization") == "Bearer t1" && !strings.HasSuffix(r.URL.Path, "/negotiate") {
				http.Error(w, "token expired", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := startServer(t, newTestHub(), expired)
	cl := newClient(t, srv.URL, combos[3], client.WithAccessTokenProvider(provider))
	start(t, cl)
	var sum int
	require.NoError(t, cl.Invoke(ctxT(t), &sum, "Add", 1, 2))
	assert.Equal(t, 3, sum)
	assert.Equal(t, int32(2), calls.Load(), "one token for negotiate, a new one after the 401")

	failing := newClient(t, srv.URL, combos[0], client.WithAccessTokenProvider(func(context.Context) (string, error) {
		return "", errors.New("vault sealed")
	}))
	err := failing.Start(ctxT(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "vault sealed")
}

// redirector answers every negotiate with a redirect to next (with a new
// access token), recording the tokens it saw.
func redirector(t *testing.T, next, token string, seen *requestLog) *httptest.Server {
	srv := httptest.NewServer(seen.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/negotiate") || r.URL.Query().Get("negotiateVersion") != "1" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"url": next, "accessToken": token})
	})))
	t.Cleanup(srv.Close)
	return srv
}

func TestNegotiateRedirect(t *testing.T) {
	for _, cb := range []combo{combos[0], combos[2], combos[4]} {
		t.Run(cb.String(), func(t *testing.T) {
			realLog, hopLog := &requestLog{}, &requestLog{}
			real := startServer(t, newTestHub(), realLog.wrap)
			second := redirector(t, real.URL, "final", hopLog)
			first := redirector(t, second.URL+"/hub2", "middle", hopLog)

			cl := newClient(t, first.URL+"/hub1", cb,
				client.WithAccessTokenProvider(func(context.Context) (string, error) { return "original", nil }))
			start(t, cl)
			var id string
			require.NoError(t, cl.Invoke(ctxT(t), &id, "ID"))
			assert.Equal(t, cl.ConnectionID(), id)
			require.NoError(t, cl.Stop(ctxT(t)))

			hops := hopLog.all()
			require.Len(t, hops, 2)
			assert.Equal(t, "negotiate /hub1/negotiate negotiateVersion=1|Bearer original", hops[0])
			assert.Equal(t, "negotiate /hub2/negotiate negotiateVersion=1|Bearer middle", hops[1])
			for _, r := range realLog.all() {
				assert.True(t, strings.HasSuffix(r, "|Bearer final"), "the redirect's token is used from then on: %s", r)
			}
		})
	}
}

func TestNegotiateRedirectLimit(t *testing.T) {
	var n atomic.Int32
	var self *httptest.Server
	self = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{"url": self.URL + "/hub"})
	}))
	defer self.Close()
	cl := newClient(t, self.URL+"/hub", combos[0])
	err := cl.Start(ctxT(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than 100 redirects")
	assert.Equal(t, int32(100), n.Load())
}

func TestNegotiateErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		check  func(t *testing.T, err error)
	}{
		{"error field", 200, `{"error":"the hub is full"}`, func(t *testing.T, err error) {
			var ne *client.NegotiateError
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, "the hub is full", ne.Message)
		}},
		{"status", 403, "not you", func(t *testing.T, err error) {
			var se *client.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 403, se.StatusCode)
			assert.Equal(t, "not you", se.Body)
		}},
		{"legacy server", 200, `{"ProtocolVersion":"1.5","ConnectionToken":"x"}`, func(t *testing.T, err error) {
			assert.Contains(t, err.Error(), "ASP.NET SignalR server")
		}},
		{"not JSON", 200, `<html>`, func(t *testing.T, err error) {
			assert.Contains(t, err.Error(), "invalid response")
		}},
		{"unasked stateful", 200, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"useStatefulReconnect":true,"availableTransports":[]}`, func(t *testing.T, err error) {
			assert.Contains(t, err.Error(), "did not ask for")
		}},
		{"no transports", 200, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[{"transport":"Carrier","transferFormats":["Text"]}]}`, func(t *testing.T, err error) {
			var te *client.TransportError
			require.ErrorAs(t, err, &te)
			assert.Contains(t, err.Error(), "WebSockets: not offered by the server")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			cl := newClient(t, srv.URL+"/hub", combos[0])
			err := cl.Start(ctxT(t))
			require.Error(t, err)
			tc.check(t, err)
			assert.Equal(t, client.Disconnected, cl.State())
		})
	}
}

// refuseWebSockets answers WebSocket upgrades with 400, as some proxies
// do, counting negotiates.
type refuseWebSockets struct{ negotiates atomic.Int32 }

func (f *refuseWebSockets) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch kind(r) {
		case "negotiate":
			f.negotiates.Add(1)
		case "websocket":
			http.Error(w, "no WebSockets here", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestTransportFallback(t *testing.T) {
	for _, tc := range []struct {
		proto protocol.HubProtocol
		want  string // the transport that ends up used
	}{
		{protocol.JSON{}, "events"},
		{protocol.MessagePack{}, "GET"}, // binary skips Server-Sent Events
	} {
		t.Run(tc.proto.Name(), func(t *testing.T) {
			f := &refuseWebSockets{}
			log := &requestLog{}
			srv := startServer(t, newTestHub(), func(h http.Handler) http.Handler { return log.wrap(f.wrap(h)) })
			cl, err := client.New(srv.URL, client.WithLogger(quiet()), client.WithProtocol(tc.proto))
			require.NoError(t, err)
			t.Cleanup(func() { _ = cl.Stop(ctxT(t)) })
			start(t, cl)
			var sum int
			require.NoError(t, cl.Invoke(ctxT(t), &sum, "Add", 2, 2))
			assert.Equal(t, 4, sum)
			assert.Equal(t, int32(2), f.negotiates.Load(), "a new negotiate after the failed transport")
			var used bool
			for _, r := range log.all() {
				used = used || strings.HasPrefix(r, tc.want+" ")
			}
			assert.True(t, used, "no %s request in %v", tc.want, log.all())
		})
	}
}

func TestSkipNegotiation(t *testing.T) {
	log := &requestLog{}
	srv := startServer(t, newTestHub(), log.wrap)
	cl := newClient(t, srv.URL, combos[1], client.WithSkipNegotiation())
	start(t, cl)
	assert.Empty(t, cl.ConnectionID())
	var sum int
	require.NoError(t, cl.Invoke(ctxT(t), &sum, "Add", 20, 22))
	assert.Equal(t, 42, sum)
	for _, r := range log.all() {
		assert.False(t, strings.HasPrefix(r, "negotiate"), "no negotiate: %s", r)
	}
}

// fakeHub is a WebSocket endpoint that answers the handshake with reply
// (or never, when reply is empty).
func fakeHub(t *testing.T, reply string) string {
	up := websocket.Upgrader{}
	var mu sync.Mutex
	var sockets []*websocket.Conn
	var done []chan struct{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		end := make(chan struct{})
		mu.Lock()
		sockets, done = append(sockets, ws), append(done, end)
		mu.Unlock()
		defer close(end)
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		if reply != "" {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(reply))
		}
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for i, ws := range sockets {
			ws.Close()
			<-done[i]
		}
	})
	return srv.URL + "/hub"
}

func TestHandshakeFailures(t *testing.T) {
	cl := newClient(t, fakeHub(t, `{"error":"The protocol 'json' is not supported."}`+"\x1e"), combos[0], client.WithSkipNegotiation())
	err := cl.Start(ctxT(t))
	var he *client.HandshakeError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "The protocol 'json' is not supported.", he.Message)

	cl = newClient(t, fakeHub(t, `{"type":1,"target":"x","arguments":[]}`+"\x1e"), combos[0], client.WithSkipNegotiation())
	err = cl.Start(ctxT(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expected a handshake response")

	cl = newClient(t, fakeHub(t, ""), combos[0], client.WithSkipNegotiation(), client.WithHandshakeTimeout(100*time.Millisecond))
	err = cl.Start(ctxT(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "handshake timed out")
	assert.Equal(t, client.Disconnected, cl.State())
}
