//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package transport

import "syscall"

// readable reports whether a read on fd would not block: data, end of
// stream or an error is waiting. syscall.RawConn.Read calls it, and parks
// the goroutine until the socket is readable while it returns false.
func (c *wsConn) readable(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), c.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n > 0 || err != syscall.EAGAIN
}
