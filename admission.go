package signalr

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
)

// Admission limits: the share of pending negotiations one client address
// may hold, and the per-user connection cap. Both are counted under the
// hub's mu, at the moment a negotiation or connection is admitted, so
// that concurrent requests cannot slip past them together.

// clientAddress is what the per-address share of pending negotiations is
// keyed by: WithClientAddressFunc's answer, else the request's remote IP,
// with an IPv6 address cut to its /64 prefix (one host commonly owns a
// whole /64, and could otherwise take a fresh address per request).
func (h *Hub) clientAddress(r *http.Request) string {
	if f := h.cfg.clientAddress; f != nil {
		if a := f(r); a != "" {
			return a
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// pendingPerAddress is the share of the pending-negotiation cap one client
// address may hold.
func (h *Hub) pendingPerAddress() int {
	if n := h.cfg.maxPendingPerAddress; n > 0 {
		return n
	}
	return max(1, (h.cfg.maxPendingNegotiations+9)/10)
}

// admitPendingLocked checks a new negotiation against the client
// address's share and takes a connection slot for user; on refusal it
// returns the HTTP status and message to answer with. mu must be held.
func (h *Hub) admitPendingLocked(ctx context.Context, addr, user string) (int, string) {
	if n := h.pendingPerAddress(); h.pendingByAddr[addr] >= n {
		h.cfg.logger.DebugContext(ctx, "too many pending negotiations from one address", "address", addr, "limit", n)
		return http.StatusTooManyRequests, "Too many pending connections from this address; try again later."
	}
	if !h.takeUserSlotLocked(user) {
		return http.StatusTooManyRequests, h.userCapText()
	}
	if h.pendingByAddr == nil {
		h.pendingByAddr = make(map[string]int)
	}
	h.pendingByAddr[addr]++
	return 0, ""
}

// dropPendingLocked forgets the pending negotiation p (key is its token's
// tokenKey), and gives
// back its address share and, unless keepSlot (the connection that uses
// the token takes it over), its user's connection slot. mu must be held.
func (h *Hub) dropPendingLocked(key string, p *pendingConn, keepSlot bool) {
	p.timer.Stop()
	delete(h.pending, key)
	if n := h.pendingByAddr[p.addr] - 1; n > 0 {
		h.pendingByAddr[p.addr] = n
	} else {
		delete(h.pendingByAddr, p.addr)
	}
	if !keepSlot {
		h.putUserSlotLocked(p.user)
	}
}

// takeUserSlotLocked takes one of user's WithMaxConnectionsPerUser slots;
// it reports false when the user holds them all. Anonymous users and hubs
// without the cap always succeed. mu must be held.
func (h *Hub) takeUserSlotLocked(user string) bool {
	n := h.cfg.maxConnsPerUser
	if n <= 0 || user == "" {
		return true
	}
	if h.userSlots[user] >= n {
		return false
	}
	if h.userSlots == nil {
		h.userSlots = make(map[string]int)
	}
	h.userSlots[user]++
	return true
}

// putUserSlotLocked gives back a slot taken by takeUserSlotLocked. mu must
// be held.
func (h *Hub) putUserSlotLocked(user string) {
	if h.cfg.maxConnsPerUser <= 0 || user == "" {
		return
	}
	if n := h.userSlots[user] - 1; n > 0 {
		h.userSlots[user] = n
	} else {
		delete(h.userSlots, user)
	}
}

// holdUserSlotLocked records that the live connection of token holds one
// of user's slots, given back by releaseUserSlotLocked when it ends. mu
// must be held.
func (h *Hub) holdUserSlotLocked(token, user string) {
	if h.cfg.maxConnsPerUser <= 0 || user == "" {
		return
	}
	if h.liveSlots == nil {
		h.liveSlots = make(map[string]string)
	}
	h.liveSlots[tokenKey(token)] = user
}

// releaseUserSlotLocked gives back the slot of the live connection of
// token, if it holds one. mu must be held.
func (h *Hub) releaseUserSlotLocked(token string) {
	k := tokenKey(token)
	if user, ok := h.liveSlots[k]; ok {
		delete(h.liveSlots, k)
		h.putUserSlotLocked(user)
	}
}

func (h *Hub) userCapText() string {
	return fmt.Sprintf("Too many connections for this user (limit %d).", h.cfg.maxConnsPerUser)
}

// claimPending takes the connection negotiated on this node whose token's
// tokenKey is key, for another node that received its connect request:
// the connection is then that node's. With an authenticator, only the
// user who negotiated it may claim it.
func (h *Hub) claimPending(key, user string) (id string, stateful, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[key]
	if p == nil || h.closed.Load() || h.cfg.authenticator != nil && p.user != user {
		return "", false, false
	}
	h.dropPendingLocked(key, p, false)
	return p.id, p.stateful, true
}
