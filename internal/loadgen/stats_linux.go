package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// residentSet reads VmRSS and VmHWM from /proc/self/status, in bytes.
func residentSet() (rss, hwm uint64) {
	rss, hwm, _ = procMemory("self")
	return rss, hwm
}

// ProcessMemory reads the resident set (VmRSS) and its peak (VmHWM) of
// process pid, in bytes, as the operating system reports them in
// /proc/<pid>/status.
func ProcessMemory(pid int) (rss, hwm uint64, err error) {
	if pid <= 0 {
		return 0, 0, fmt.Errorf("loadgen: no process %d", pid)
	}
	return procMemory(strconv.Itoa(pid))
}

func procMemory(pid string) (rss, hwm uint64, err error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("loadgen: %w", err)
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
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("loadgen: /proc/%s/status: %w", pid, err)
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("loadgen: /proc/%s/status has no VmRSS", pid)
	}
	return rss, hwm, nil
}

// cpuNanos is the process's user plus system CPU time.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
