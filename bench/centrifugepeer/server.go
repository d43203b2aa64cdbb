// Package centrifugepeer measures github.com/centrifugal/centrifuge side by
// side with gosignalr: a bench server built on a centrifuge Node, and a
// loadgen.Driver that speaks centrifuge's own JSON protocol over WebSockets.
//
// The server accepts anonymous connections, lets every client subscribe to
// any channel and publish into it, answers the RPC "echo" with its argument,
// and keeps publications in centrifuge's in-memory broker. It serves
// WebSocket connections on [WebSocketPath] and process figures on
// GET /debug/stats (see the procstats package), like gosignalr's bench
// server.
package centrifugepeer

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/centrifugal/centrifuge"

	"github.com/gosignalr/signalr/bench/internal/procstats"
)

// WebSocketPath is where [Server] accepts WebSocket connections.
const WebSocketPath = "/connection/websocket"

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
	return fmt.Sprintf("writeBufferPool=%t offReadLoop=%t maxMessagesInFrame=%d writeDelay=%s writeWithTimer=%t compression=off",
		c.WriteBufferPool, c.ProcessCommandsOffReadLoop, mm, c.WriteDelay, c.WriteWithTimer)
}

// Server is a centrifuge node serving bench clients. It is an http.Handler.
type Server struct {
	node *centrifuge.Node
	mux  *http.ServeMux
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

	node.OnConnecting(func(ctx context.Context, _ centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{
			Credentials:        &centrifuge.Credentials{}, // anonymous
			MaxMessagesInFrame: cfg.MaxMessagesInFrame,
			WriteDelay:         cfg.WriteDelay,
			WriteWithTimer:     cfg.WriteWithTimer,
		}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {
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
		PingPongConfig: centrifuge.PingPongConfig{
			PingInterval: cfg.PingInterval,
			PongTimeout:  cfg.PongTimeout,
		},
		// Bench clients are Go programs on loopback; they send no Origin.
		CheckOrigin: func(*http.Request) bool { return true },
	})
	mux := http.NewServeMux()
	mux.Handle(WebSocketPath, ws)
	mux.Handle("/debug/stats", procstats.Handler())
	return &Server{node: node, mux: mux}, nil
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
