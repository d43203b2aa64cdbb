package signalr

import (
	"net/http"

	"github.com/gosignalr/signalr/transport"
)

// canServe checks that w can carry the transport named name (see
// transport.CheckResponseWriter). When it cannot, the server is
// misconfigured, not the client: it logs why at Warn and answers 500 with
// a text that says so, and returns the error.
func (h *Hub) canServe(w http.ResponseWriter, r *http.Request, name string) error {
	err := transport.CheckResponseWriter(name, w)
	if err == nil {
		return nil
	}
	h.cfg.logger.WarnContext(r.Context(), "cannot serve this transport through the http.ResponseWriter this handler was given",
		"transport", name, "error", err)
	transport.Error(w, http.StatusInternalServerError,
		"The server cannot serve %s: a middleware hides what its HTTP response can do (see the server's log).", name)
	return err
}
