//go:build !linux

package loadgen

import "errors"

// residentSet is only known on Linux.
func residentSet() (rss, hwm uint64) { return 0, 0 }

// ProcessMemory is only known on Linux.
func ProcessMemory(int) (rss, hwm uint64, err error) {
	return 0, 0, errors.New("loadgen: process memory is only known on Linux")
}

// cpuNanos is only known on Linux.
func cpuNanos() int64 { return 0 }
