package transport

import (
	"fmt"
	"net/http"
)

// CheckResponseWriter reports whether the transport named name can be
// served through w. WebSockets take the connection over, so w must be
// able to hijack it (http.Hijacker); Server-Sent Events send each event at
// once, so w must flush (http.Flusher); long polling needs neither. Like
// http.ResponseController, it looks through every writer that has an
// Unwrap() http.ResponseWriter method. The error, if any, names what is
// missing and how to fix it: a middleware that wraps the ResponseWriter
// must implement Unwrap.
func CheckResponseWriter(name string, w http.ResponseWriter) error {
	var can func(http.ResponseWriter) bool
	var what string
	switch name {
	case WebSockets:
		what = "hijack the connection (http.Hijacker)"
		can = func(w http.ResponseWriter) bool { _, ok := w.(http.Hijacker); return ok }
	case ServerSentEvents:
		what = "flush (http.Flusher)"
		can = func(w http.ResponseWriter) bool {
			switch w.(type) {
			case http.Flusher, interface{ FlushError() error }:
				return true
			}
			return false
		}
	default:
		return nil
	}
	for rw := w; rw != nil; {
		if can(rw) {
			return nil
		}
		u, ok := rw.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return fmt.Errorf("transport: %s needs an http.ResponseWriter that can %s, and %T cannot; "+
				"a middleware that wraps the ResponseWriter must implement Unwrap() http.ResponseWriter", name, what, rw)
		}
		rw = u.Unwrap()
	}
	return fmt.Errorf("transport: %s needs an http.ResponseWriter that can %s; Unwrap returned nil", name, what)
}
