// Package centrifugepeer measures github.com/centrifugal/centrifuge side by
// side with gosignalr: a bench server built on a centrifuge Node, and a
// loadgen.Driver that speaks centrifuge's own JSON protocol over WebSockets.
//
// The server accepts anonymous connections, lets every client subscribe to
// any channel and publish into it, answers the RPC "echo" with its argument,
// and keeps publications in centrifuge's in-memory broker. It serves
// WebSocket connections on [WebSocketPath] and process figures on
// GET /debug/stats (loadgen.Stats, with the open connections and the
// reasons of the disconnections the server made), like gosignalr's bench
// server.
package centrifugepeer

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge"

	"github.com/gosignalr/signalr/internal/loadgen"
)

// WebSocketPath is where [Server] accepts WebSocket connections, and
// StatsPath where it serves loadgen.Stats.
const (
	WebSocketPath = "/connection/websocket"
	StatsPath     = "/debug/stats"
)

// EchoMethod is the RPC method that returns its argument.
const EchoMethod = "echo"

// Channel names the centrifuge channel that stands for a loadgen broadcast
// audience: "all" for everyone (group ""), "group.<name>" for a group.
func Channel(group string) string {
	if group == "" {
		return "all"
	}
	return "group." + group
}

// ServerConfig tunes the centrifuge node and its WebSocket handler. The zero
// value is centrifuge's own defaults, compression off.
type ServerConfig struct {
	// WriteBufferPool shares WebSocket write buffers between connections
	// (centrifuge's WebsocketConfig.UseWriteBufferPool) instead of giving
	// each connection its own 4 KiB buffer.
	WriteBufferPool bool
	// ProcessCommandsOffReadLoop handles each incoming frame on a short-lived
	// goroutine, so that an idle read loop keeps a small stack (centrifuge's
	// WebsocketConfig.ProcessCommandsOffReadLoop).
	ProcessCommandsOffReadLoop bool
	// MaxMessagesInFrame caps how many queued messages one WebSocket frame
	// carries (centrifuge's ConnectReply.MaxMessagesInFrame): 0 is
	// centrifuge's default of 16, -1 is no cap.
	MaxMessagesInFrame int
	// WriteDelay, when positive, lets a connection's writer wait this long to
	// collect more messages before it writes a frame (centrifuge's
	// ConnectReply.WriteDelay). 0 writes as soon as a message is queued.
	WriteDelay time.Duration
	// WriteWithTimer schedules delayed writes with a timer instead of a
	// writer goroutine per connection; it applies only with WriteDelay
	// (centrifuge's ConnectReply.WriteWithTimer).
	WriteWithTimer bool
	// WriteTimeout bounds one write to a client, which is disconnected with
	// "write error" when it passes; 0 is centrifuge's default of 1 s.
	WriteTimeout time.Duration
	// PingInterval and PongTimeout set how often the server pings a client
	// and how long it waits for the answer; 0 is centrifuge's default (25 s
	// and 10 s).
	PingInterval, PongTimeout time.Duration
}

// String describes the configuration in one line, for result tables.
func (c ServerConfig) String() string {
	mm := c.MaxMessagesInFrame
	if mm == 0 {
		mm = 16
	}
	wt := c.WriteTimeout
	if wt == 0 {
		wt = time.Second
	}
	return fmt.Sprintf("writeBufferPool=%t offReadLoop=%t maxMessagesInFrame=%d writeDelay=%s writeWithTimer=%t writeTimeout=%s compression=off",
		c.WriteBufferPool, c.ProcessCommandsOffReadLoop, mm, c.WriteDelay, c.WriteWithTimer, wt)
}

// Server is a centrifuge node serving bench clients. It is an http.Handler.
type Server struct {
	node *centrifuge.Node
	mux  *http.ServeMux

	conns       atomic.Int64
	mu          sync.Mutex
	disconnects map[string]int64 // by reason, for those the server made
}

// NewServer starts a centrifuge node configured by cfg. Call Shutdown to stop
// it.
func NewServer(cfg ServerConfig) (*Server, error) {
	node, err := centrifuge.New(centrifuge.Config{
		LogLevel: centrifuge.LogLevelError,
		LogHandler: func(centrifuge.LogEntry) {
			// Errors reach the bench through its clients; the node's own
			// log would only add noise to result tables.
		},
	})
	if err != nil {
		return nil, fmt.Errorf("centrifugepeer: new node: %w", err)
	}

	s := &Server{node: node, disconnects: make(map[string]int64)}
	node.OnConnecting(func(ctx context.Context, _ centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{
			Credentials:        &centrifuge.Credentials{}, // anonymous
			MaxMessagesInFrame: cfg.MaxMessagesInFrame,
			WriteDelay:         cfg.WriteDelay,
			WriteWithTimer:     cfg.WriteWithTimer,
		}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {
		s.conns.Add(1)
		client.OnDisconnect(s.disconnected)
		client.OnSubscribe(func(_ centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		client.OnPublish(func(_ centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			// An empty reply lets centrifuge publish into the broker itself.
			cb(centrifuge.PublishReply{}, nil)
		})
		client.OnRPC(func(e centrifuge.RPCEvent, cb centrifuge.RPCCallback) {
			if e.Method != EchoMethod {
				cb(centrifuge.RPCReply{}, centrifuge.ErrorMethodNotFound)
				return
			}
			cb(centrifuge.RPCReply{Data: e.Data}, nil)
		})
	})
	if err := node.Run(); err != nil {
		return nil, fmt.Errorf("centrifugepeer: run node: %w", err)
	}

	ws := centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		UseWriteBufferPool:         cfg.WriteBufferPool,
		ProcessCommandsOffReadLoop: cfg.ProcessCommandsOffReadLoop,
		WriteTimeout:               cfg.WriteTimeout,
		PingPongConfig: centrifuge.PingPongConfig{
			PingInterval: cfg.PingInterval,
			PongTimeout:  cfg.PongTimeout,
		},
		// Bench clients are Go programs on loopback; they send no Origin.
		CheckOrigin: func(*http.Request) bool { return true },
	})
	s.mux = http.NewServeMux()
	s.mux.Handle(WebSocketPath, ws)
	s.mux.Handle(StatsPath, loadgen.StatsHandler(s.fillStats))
	return s, nil
}

// disconnected counts a connection out and, unless the client closed it
// or the node shut down, the reason the server gave.
func (s *Server) disconnected(e centrifuge.DisconnectEvent) {
	s.conns.Add(-1)
	switch e.Code {
	case centrifuge.DisconnectConnectionClosed.Code, centrifuge.DisconnectShutdown.Code:
		return
	}
	s.mu.Lock()
	s.disconnects[e.Reason]++
	s.mu.Unlock()
}

// fillStats adds the open connections and disconnect reasons to st.
func (s *Server) fillStats(st *loadgen.Stats) {
	st.Conns = s.conns.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.disconnects) > 0 {
		st.Disconnects = maps.Clone(s.disconnects)
	}
}

// ServeHTTP serves WebSocket connections and /debug/stats.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Shutdown disconnects every client and stops the node. It returns when the
// node has stopped or ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.node.Shutdown(ctx); err != nil {
		return fmt.Errorf("centrifugepeer: shutdown: %w", err)
	}
	return nil
}
