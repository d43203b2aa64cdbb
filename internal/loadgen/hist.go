package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values below histSub are counted exactly; above, every
// power of two is split into histSub buckets, so a bucket's width is at most
// 1/histSub (6.25%) of its values.
const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits + 1) * histSub
)

// Histogram records durations in logarithmic buckets with a relative error
// of at most 6.25%, like an HDR histogram with one significant hex digit.
// Record is lock-free and safe for concurrent use; the zero value is ready.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
}

func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v >> e has histSubBits+1 bits
	return (e+1)*histSub + int(v>>uint(e))&(histSub-1)
}

// bucketHigh is the largest value bucket i holds.
func bucketHigh(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := uint(i/histSub - 1)
	m := uint64(histSub + i%histSub)
	return (m+1)<<e - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest duration recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average of the durations recorded, or 0.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the duration below which a fraction q (0..1) of the
// recorded durations fall: the upper edge of the bucket that holds it,
// capped at Max. It returns 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(bucketHigh(i)), h.Max())
		}
	}
	return h.Max()
}

// Merge adds every duration recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	h.AddSnapshot(o.Snapshot())
}

// HistogramSnapshot is a Histogram in a form that can be sent between
// processes as JSON: only the non-empty buckets.
type HistogramSnapshot struct {
	Buckets map[int]uint64 `json:"buckets,omitempty"`
	Sum     uint64         `json:"sum"`
	Max     uint64         `json:"max"`
}

// Snapshot copies the histogram's counts.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Buckets: make(map[int]uint64), Sum: h.sum.Load(), Max: h.max.Load()}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			s.Buckets[i] = c
		}
	}
	return s
}

// AddSnapshot adds the counts of s to h. Buckets out of range are ignored.
func (h *Histogram) AddSnapshot(s HistogramSnapshot) {
	for i, c := range s.Buckets {
		if i < 0 || i >= histBuckets {
			continue
		}
		h.counts[i].Add(c)
		h.n.Add(c)
	}
	h.sum.Add(s.Sum)
	for {
		m := h.max.Load()
		if s.Max <= m || h.max.CompareAndSwap(m, s.Max) {
			return
		}
	}
}
