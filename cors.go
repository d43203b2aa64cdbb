package signalr

import (
	"net/http"
	"net/url"
	"strings"
)

// originAllowed reports whether a browser page from origin may use the hub
// through WithAllowedOrigins.
func (h *Hub) originAllowed(origin string) bool {
	for _, o := range h.cfg.allowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// checkOrigin decides WebSocket upgrades: WithCheckOrigin if set, else the
// allowed origins, else same origin only.
func (h *Hub) checkOrigin(r *http.Request) bool {
	if h.cfg.checkOrigin != nil {
		return h.cfg.checkOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if h.originAllowed(origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// handleCORS adds CORS headers for allowed origins and answers preflight
// requests. It reports whether the request has been answered.
func (h *Hub) handleCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(h.cfg.allowedOrigins) == 0 {
		return false
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	if !h.originAllowed(origin) {
		return false
	}
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Set("Access-Control-Allow-Credentials", "true")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		hdr.Set("Access-Control-Allow-Headers", req)
	} else {
		hdr.Set("Access-Control-Allow-Headers", "X-Requested-With, X-SignalR-User-Agent, Authorization, Content-Type")
	}
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
