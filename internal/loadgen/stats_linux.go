package loadgen

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// residentSet reads VmRSS and VmHWM from /proc/self/status, in bytes.
func residentSet() (rss, hwm uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		var dst *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &hwm
		default:
			continue
		}
		fields := bytes.Fields(line[6:])
		if len(fields) >= 1 {
			if kb, err := strconv.ParseUint(string(fields[0]), 10, 64); err == nil {
				*dst = kb << 10
			}
		}
	}
	return rss, hwm
}

// cpuNanos is the process's user plus system CPU time.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
