package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Stats is what a bench server process reports about itself as JSON at
// GET /debug/stats; with ?gc=1 it first collects garbage and returns freed
// memory to the operating system, so that memory figures count live data
// only. Every bench server, gosignalr's and its peers', serves this same
// JSON (see StatsHandler), so scenarios treat them alike.
type Stats struct {
	RSS        uint64 `json:"rss"`        // resident set size, bytes (VmRSS)
	HWM        uint64 `json:"hwm"`        // peak resident set size, bytes (VmHWM)
	HeapInuse  uint64 `json:"heapInuse"`  // bytes in in-use heap spans
	StackInuse uint64 `json:"stackInuse"` // bytes of goroutine stacks
	Goroutines int    `json:"goroutines"`
	CPUNanos   int64  `json:"cpuNanos"` // user plus system CPU time used so far
	// Conns is the number of open client connections; -1 when the server
	// does not count them.
	Conns int64 `json:"conns"`
	// Disconnects counts the connections the server ended with an error,
	// by the error's text.
	Disconnects map[string]int64 `json:"disconnects,omitempty"`
	// GOGC is the collector's target percentage (GOGC, or
	// debug.SetGCPercent); -1 when collection is off.
	GOGC int `json:"gogc"`
	// MemLimit is the runtime's soft memory limit in bytes (GOMEMLIMIT,
	// or debug.SetMemoryLimit); 0 when there is none.
	MemLimit int64 `json:"memLimit,omitempty"`
}

// Add returns the sum of s and o, as for the nodes of one cluster. HWM,
// a peak, is summed too: it bounds the peak of the sum.
func (s Stats) Add(o Stats) Stats {
	r := Stats{
		RSS:        s.RSS + o.RSS,
		HWM:        s.HWM + o.HWM,
		HeapInuse:  s.HeapInuse + o.HeapInuse,
		StackInuse: s.StackInuse + o.StackInuse,
		Goroutines: s.Goroutines + o.Goroutines,
		CPUNanos:   s.CPUNanos + o.CPUNanos,
		Conns:      s.Conns + o.Conns,
		GOGC:       s.GOGC,
		MemLimit:   s.MemLimit,
	}
	if s.Conns < 0 || o.Conns < 0 {
		r.Conns = -1
	}
	if len(s.Disconnects)+len(o.Disconnects) > 0 {
		r.Disconnects = make(map[string]int64)
		maps.Copy(r.Disconnects, s.Disconnects)
		for k, v := range o.Disconnects {
			r.Disconnects[k] += v
		}
	}
	return r
}

// DisconnectsSince returns how many disconnects s counts beyond before,
// and the most frequent reason among them.
func (s Stats) DisconnectsSince(before Stats) (n int64, reason string) {
	var top int64
	for k, v := range s.Disconnects {
		d := v - before.Disconnects[k]
		n += d
		if d > top {
			top, reason = d, k
		}
	}
	return n, reason
}

// ReadStats reports on the calling process. With gc it first runs the
// garbage collector and returns freed memory to the operating system.
// Conns is -1: the caller knows its connections, ReadStats does not.
func ReadStats(gc bool) Stats {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Stats{
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		Goroutines: runtime.NumGoroutine(),
		CPUNanos:   cpuNanos(),
		Conns:      -1,
	}
	s.RSS, s.HWM = residentSet()
	s.GOGC, s.MemLimit = gcSettings()
	return s
}

// gcSettings reads the collector's GOGC and soft memory limit.
func gcSettings() (gogc int, limit int64) {
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		gogc = int(int32(samples[0].Value.Uint64())) // off is -1
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		if v := samples[1].Value.Uint64(); v < math.MaxInt64 {
			limit = int64(v)
		}
	}
	return gogc, limit
}

// StatsHandler serves the calling process's Stats as JSON; fill, when
// set, adds what only the server knows (Conns, Disconnects).
func StatsHandler(fill func(*Stats)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := ReadStats(r.URL.Query().Get("gc") == "1")
		if fill != nil {
			fill(&s)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s)
	})
}

// statsClient fetches stats; its idle connections are kept, few.
var statsClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 5 * time.Second}}

// FetchStats reads a server's Stats from its stats URL (such as
// http://127.0.0.1:8080/debug/stats), collecting garbage first when gc is
// set. Only loopback URLs are accepted.
func FetchStats(ctx context.Context, statsURL string, gc bool) (Stats, error) {
	if err := CheckLoopback(statsURL); err != nil {
		return Stats{}, err
	}
	u := statsURL
	if gc {
		u = addQuery(u, "gc", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Stats{}, fmt.Errorf("loadgen: stats: %w", err)
	}
	resp, err := statsClient.Do(req)
	if err != nil {
		return Stats{}, fmt.Errorf("loadgen: stats: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Stats{}, fmt.Errorf("loadgen: stats: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Stats{}, fmt.Errorf("loadgen: stats: HTTP %d: %s", resp.StatusCode, truncate(body))
	}
	var s Stats
	if err := json.Unmarshal(body, &s); err != nil {
		return Stats{}, fmt.Errorf("loadgen: stats: %w", err)
	}
	return s, nil
}

// CloseIdleStatsConnections closes the kept connections FetchStats used.
func CloseIdleStatsConnections() { statsClient.CloseIdleConnections() }
