package loadgen

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Row is the result of one scenario run: one line of the results table.
// Fields that do not apply to a scenario are zero and print as "-".
type Row struct {
	Scenario string `json:"scenario"`
	Server   string `json:"server"`
	Nodes    int    `json:"nodes"`
	Conns    int    `json:"conns"` // client connections (subscribers, callers)
	Size     int    `json:"size,omitempty"`
	Note     string `json:"note,omitempty"`

	Elapsed time.Duration `json:"elapsedNs"`
	// Ops counts what the scenario measures: calls completed, or messages
	// delivered to subscribers.
	Ops  uint64  `json:"ops"`
	Lost uint64  `json:"lost"` // expected deliveries that never came
	Rate float64 `json:"rate"` // Ops per second

	P50 time.Duration `json:"p50Ns"`
	P99 time.Duration `json:"p99Ns"`
	Max time.Duration `json:"maxNs"`

	// MsgsPerFrame is how many messages a subscriber's WebSocket frame
	// carried on average.
	MsgsPerFrame float64 `json:"msgsPerFrame"`
	// CPUPerOp is the server processes' CPU time per op.
	CPUPerOp time.Duration `json:"cpuPerOpNs"`

	// Per connection, after garbage collection: growth of the server's
	// resident set, heap in use and goroutine stacks, and goroutines.
	RSSPerConn        float64 `json:"rssPerConn"`
	HeapPerConn       float64 `json:"heapPerConn"`
	StackPerConn      float64 `json:"stackPerConn"`
	GoroutinesPerConn float64 `json:"goroutinesPerConn"`

	ServerRSS uint64 `json:"serverRss"` // all nodes, after garbage collection at the end
	PeakRSS   uint64 `json:"peakRss"`   // all nodes' peak resident sets (VmHWM)

	// The raw figures are the servers' resident sets as the operating
	// system reports them (VmRSS, read from outside the server process
	// when its PID is known), without a forced collection. RawRSS is taken
	// at steady state (idle: after the hold; others: at the end of the
	// run), RawRSSPerConn is its growth per connection from before the
	// connections opened (idle only), and RampPeakRSS is the peak (VmHWM)
	// once every connection had opened (idle), or at the end (others).
	RawRSS        uint64  `json:"rawRss,omitempty"`
	RawRSSPerConn float64 `json:"rawRssPerConn,omitempty"`
	RampPeakRSS   uint64  `json:"rampPeakRss,omitempty"`
	// RawHeapPerConn and RawStackPerConn are the growth per connection of
	// the heap in use and of the goroutine stacks at steady state, before
	// a collection (idle only).
	RawHeapPerConn  float64 `json:"rawHeapPerConn,omitempty"`
	RawStackPerConn float64 `json:"rawStackPerConn,omitempty"`
	// GOGC and MemLimit are the server's collector settings (see Stats).
	GOGC     int   `json:"gogc,omitempty"`
	MemLimit int64 `json:"memLimit,omitempty"`

	Errors int `json:"errors"` // failed calls, connections lost
	// Cut is how many slow consumers the server closed, and CutReason
	// the reason it gave.
	Cut       int    `json:"cut,omitempty"`
	CutReason string `json:"cutReason,omitempty"`
}

var columns = []string{
	"scenario", "server", "nodes", "conns", "size", "note", "ops", "lost", "rate/s",
	"p50", "p99", "max", "msgs/frame", "srv CPU/op", "RSS/conn", "heap/conn",
	"stack/conn", "gor/conn", "srv RSS", "peak RSS", "raw RSS/conn", "raw RSS", "ramp peak", "GC",
	"errors",
}

// MarkdownHeader is the two header lines of the results table.
func MarkdownHeader() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(columns)))
	return b.String()
}

// Markdown formats r as one row of the results table.
func (r Row) Markdown() string {
	note := r.Note
	if r.Cut > 0 {
		note = strings.TrimSpace(note + fmt.Sprintf(" cut %d: %q", r.Cut, r.CutReason))
	}
	cells := []string{
		r.Scenario, r.Server, intCell(r.Nodes), intCell(r.Conns), bytesCell(float64(r.Size)),
		strings.ReplaceAll(note, "|", "/"),
		intCell(int(r.Ops)), fmt.Sprint(r.Lost), floatCell(r.Rate),
		durCell(r.P50), durCell(r.P99), durCell(r.Max), ratioCell(r.MsgsPerFrame),
		durCell(r.CPUPerOp), bytesCell(r.RSSPerConn), bytesCell(r.HeapPerConn),
		bytesCell(r.StackPerConn), ratioCell(r.GoroutinesPerConn),
		bytesCell(float64(r.ServerRSS)), bytesCell(float64(r.PeakRSS)),
		bytesCell(r.RawRSSPerConn), bytesCell(float64(r.RawRSS)), bytesCell(float64(r.RampPeakRSS)), gcCell(r.GOGC, r.MemLimit),
		fmt.Sprint(r.Errors),
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

// JSON formats r as one line of JSON.
func (r Row) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}

func intCell(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func floatCell(f float64) string {
	switch {
	case f == 0:
		return "-"
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.3g", f)
}

func ratioCell(f float64) string {
	if f == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", f)
}

func durCell(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// bytesCell prints a byte count in binary units; negative values (memory
// that shrank) keep their sign.
func bytesCell(f float64) string {
	if f == 0 {
		return "-"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	switch {
	case f < 1024:
		return fmt.Sprintf("%s%.0f B", sign, f)
	case f < 1<<20:
		return fmt.Sprintf("%s%.1f KiB", sign, f/(1<<10))
	case f < 1<<30:
		return fmt.Sprintf("%s%.1f MiB", sign, f/(1<<20))
	}
	return fmt.Sprintf("%s%.2f GiB", sign, f/(1<<30))
}

// FormatBytes prints a byte count as the table does (1.5 KiB, 20.0 MiB).
func FormatBytes(n float64) string { return bytesCell(n) }

// FormatDuration prints a duration as the table does (950µs, 1.2ms).
func FormatDuration(d time.Duration) string { return durCell(d) }

// gcCell prints the collector settings: "GOGC=100", "GOGC=100, limit 64.0 MiB".
func gcCell(gogc int, limit int64) string {
	if gogc == 0 && limit == 0 {
		return "-"
	}
	c := "GOGC=" + strconv.Itoa(gogc)
	if gogc < 0 {
		c = "GOGC=off"
	}
	if limit > 0 {
		c += ", limit " + bytesCell(float64(limit))
	}
	return c
}
