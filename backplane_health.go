package signalr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gosignalr/signalr/backplane"
	"github.com/gosignalr/signalr/protocol"
)

// The hub's side of the backplane's health: what the application sees
// (Hub.BackplaneErr, the signalr.backplane.connected metric) and the
// closing of connections that may have missed messages from other nodes.

// busHealth is the last state a backplane reported.
type busHealth struct {
	state backplane.State
	err   error
}

// closeMsgInterrupted is the Close message of connections closed because
// the backplane was interrupted.
var closeMsgInterrupted = protocol.Close{
	Error:          "Connection closed with an error. The server's link to the other servers was interrupted: messages may have been lost.",
	AllowReconnect: true,
}

// WithBackplaneInterruptionClose sets whether a node closes its
// connections when its link to the backplane is interrupted (default
// true): each connection that may have missed messages from other nodes
// is closed with a Close message that allows the client to reconnect,
// and OnDisconnected receives an error that matches
// ErrBackplaneInterrupted. With false, connections stay open and may miss
// messages without being told; the interruption is still logged and
// reported by Hub.BackplaneErr and the metrics. See the package
// documentation's Scaling section.
func WithBackplaneInterruptionClose(enabled bool) Option {
	return func(c *config) { c.keepConnsOnBusLoss = !enabled }
}

// BackplaneErr reports the health of the hub's link to its backplane: nil
// while connected, and while there is no backplane or the backplane does
// not report its health (backplane.Memory); otherwise an error that says
// why the link is down or that the bus stopped answering, matching
// ErrBackplaneInterrupted. Sends that must reach other nodes fail while it
// is not nil.
func (h *Hub) BackplaneErr() error {
	cl := h.cluster
	if cl == nil {
		return nil
	}
	bh := cl.health.Load()
	if bh == nil || bh.state == backplane.Connected {
		if cl.stalled.Load() {
			return errBusStalled
		}
		return nil
	}
	return fmt.Errorf("%w: backplane %s: %w", ErrBackplaneInterrupted, bh.state, bh.err)
}

// watchBackplane follows hr's health, when the backplane reports it.
func (h *Hub) watchBackplane(hr backplane.HealthReporter) {
	if hr == nil {
		return
	}
	cl := h.cluster
	// Events that come before the initial state is stored are applied
	// after it, in order, since Watch reports from now on.
	cl.stopWatch = hr.Watch(h.onBackplaneEvent)
	state, err := hr.Health()
	cl.health.CompareAndSwap(nil, &busHealth{state: state, err: err})
	h.metrics.watchBackplane(cl)
}

// onBackplaneEvent records a change of the backplane's health and closes
// the connections that may have missed messages because of it.
func (h *Hub) onBackplaneEvent(ev backplane.Event) {
	cl := h.cluster
	cl.health.Store(&busHealth{state: ev.State, err: ev.Err})
	if !ev.Lost {
		return
	}
	h.metrics.backplaneInterrupted()
	level := slog.LevelWarn
	if ev.State == backplane.Connected && ev.Subject == "" {
		level = slog.LevelInfo
	}
	h.cfg.logger.Log(context.Background(), level, "backplane interrupted, messages from other servers may have been lost",
		"state", ev.State.String(), "subject", ev.Subject, "error", ev.Err)
	if h.cfg.keepConnsOnBusLoss {
		return
	}
	reason := ErrBackplaneInterrupted
	if ev.Err != nil {
		reason = fmt.Errorf("%w: %w", ErrBackplaneInterrupted, ev.Err)
	}
	for _, c := range h.missedBy(ev.Subject) {
		c.closeWith(&closeMsgInterrupted, reason)
	}
}

// missedBy returns the local connections that may have missed messages
// published on subject ("" for any).
func (h *Hub) missedBy(subject string) []*conn {
	cl := h.cluster
	switch subject {
	case cl.subject("hb"), cl.subject("presence"), cl.subject("n", cl.nodeID):
		// Presence and requests to this node: their senders see the loss
		// (a node missing from presence, a request that times out).
		return nil
	}
	if id, ok := strings.CutPrefix(subject, cl.subject("c")+"."); ok {
		if c := h.reg.conn(id); c != nil {
			return []*conn{c}
		}
		return nil
	}
	// Broadcasts, groups and users: any connection may be concerned.
	var conns []*conn
	h.reg.eachConn(func(c *conn) { conns = append(conns, c) })
	return conns
}

// A stalled link: the bus stopped answering without the backplane noticing
// a disconnection yet (a network path that drops everything, a server
// that hangs). Each cross-node send would wait out its publish timeout in
// turn, holding up the local deliveries that follow it on the same
// goroutine. After one publish fails while its caller still waited, sends
// that must cross nodes fail at once (local recipients are still served)
// until a probe publish gets through again.

// stallProbeEvery is how often a stalled link is probed.
const stallProbeEvery = 100 * time.Millisecond

// errBusStalled is what sends return while the link is stalled.
var errBusStalled = fmt.Errorf("%w: the backplane stopped answering", ErrBackplaneInterrupted)

// publishFailed notes a failed publish; ctx is the caller's. A failure
// the caller caused by ending ctx says nothing about the bus.
func (cl *cluster) publishFailed(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, backplane.ErrClosed) || !cl.stalled.CompareAndSwap(false, true) {
		return
	}
	cl.cfg.logger.WarnContext(ctx, "the backplane stopped answering; cross-node sends fail until it answers again", "error", err)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.noProbes {
		return // the cluster is closing: nothing would stop a probe
	}
	cl.probes.Add(1)
	go cl.probeStalled()
}

// probeStalled publishes to a subject nobody subscribes to until the bus
// takes a message again, then lets sends through.
func (cl *cluster) probeStalled() {
	defer cl.probes.Done()
	t := time.NewTicker(stallProbeEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cl.bp.Publish(ctx, cl.subject("probe"), nil)
		cancel()
		if err == nil || errors.Is(err, backplane.ErrClosed) {
			cl.stalled.Store(false)
			if err == nil {
				cl.cfg.logger.InfoContext(context.Background(), "the backplane answers again")
			}
			return
		}
		select {
		case <-t.C:
		case <-cl.probeStop:
			return
		}
	}
}
