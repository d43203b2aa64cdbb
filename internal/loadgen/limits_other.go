//go:build !linux

package loadgen

import (
	"errors"
	"syscall"
)

// RaiseFileLimit raises this process's soft limit on open files to its
// hard limit. It is only implemented on Linux.
func RaiseFileLimit() (uint64, error) {
	return 0, errors.New("loadgen: raising the open-file limit is only implemented on Linux")
}

// bindNoPort does nothing outside Linux.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
