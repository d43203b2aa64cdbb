// Package procstats reports the memory, goroutines and CPU time of the
// running process, the figures a bench server serves on GET /debug/stats.
package procstats

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
)

// Snapshot is what GET /debug/stats answers, in JSON.
type Snapshot struct {
	RSS        uint64 `json:"rss"`        // resident set size (VmRSS), bytes
	HeapInuse  uint64 `json:"heapInuse"`  // runtime.MemStats.HeapInuse, bytes
	StackInuse uint64 `json:"stackInuse"` // runtime.MemStats.StackInuse, bytes
	Goroutines int    `json:"goroutines"` // runtime.NumGoroutine
	CPUNanos   int64  `json:"cpuNanos"`   // user + system CPU time, nanoseconds
}

// Take reads the process's figures now. With collect set it first runs a
// garbage collection and returns freed memory to the operating system, so
// that RSS and HeapInuse count live memory only.
func Take(collect bool) (Snapshot, error) {
	if collect {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Snapshot{
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		Goroutines: runtime.NumGoroutine(),
	}
	rss, err := readRSS()
	if err != nil {
		return s, err
	}
	s.RSS = rss
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, fmt.Errorf("procstats: getrusage: %w", err)
	}
	s.CPUNanos = ru.Utime.Nano() + ru.Stime.Nano()
	return s, nil
}

// readRSS returns VmRSS from /proc/self/status, in bytes.
func readRSS() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("procstats: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("procstats: unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseUint(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstats: VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("procstats: no VmRSS in /proc/self/status")
}

// Handler serves a Snapshot as JSON. The query parameter gc=1 collects
// garbage first (see Take).
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s, err := Take(r.URL.Query().Get("gc") == "1")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
}
