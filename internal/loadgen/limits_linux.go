package loadgen

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises this process's soft limit on open files to its
// hard limit and returns the new limit.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("loadgen: reading the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("loadgen: raising the open-file limit to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT from linux/in.h.
const ipBindAddressNoPort = 24

// bindNoPort lets a socket bound to a source address pick its port at
// connect time, per destination, rather than at bind time: one source
// address then serves a full ephemeral range for every server port, and
// ports in TIME_WAIT are reused for new connections.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
