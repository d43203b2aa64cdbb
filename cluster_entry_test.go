package signalr

import (
	"context"

	"github.com/gosignalr/signalr/backplane"
)

// The cluster's forwarding paths, reached from the hub as the internal
// tests of forwarded requests call them.

func (h *Hub) closeLostPoll(rctx context.Context, id string, v0 bool, cause error) {
	h.cluster.closeLostPoll(rctx, id, v0, cause)
}

func (h *Hub) serveForwarded(m *backplane.Message, c *conn) { h.cluster.serveForwarded(m, c) }
