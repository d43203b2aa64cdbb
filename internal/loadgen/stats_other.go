//go:build !linux

package loadgen

// residentSet is only known on Linux.
func residentSet() (rss, hwm uint64) { return 0, 0 }

// cpuNanos is only known on Linux.
func cpuNanos() int64 { return 0 }
