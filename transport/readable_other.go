//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package transport

// readable always reports true where a non-blocking peek is not available:
// the reader then waits inside its read, as usual.
func (c *wsConn) readable(uintptr) bool { return true }
