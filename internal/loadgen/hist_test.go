package loadgen_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gosignalr/signalr/internal/loadgen"
)

func TestHistogramQuantiles(t *testing.T) {
	var h loadgen.Histogram
	assert.Zero(t, h.Quantile(0.5))
	r := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	for range 100_000 {
		v := time.Duration(r.ExpFloat64() * float64(time.Millisecond))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	assert.Equal(t, uint64(len(vals)), h.Count())
	assert.Equal(t, vals[len(vals)-1], h.Max())
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		assert.InEpsilon(t, float64(exact), float64(got), 0.07, "q%v: exact %v, histogram %v", q, exact, got)
	}
	assert.Equal(t, h.Max(), h.Quantile(1))
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h loadgen.Histogram
	for i := range 16 {
		h.Record(time.Duration(i))
	}
	h.Record(-5)
	assert.Equal(t, time.Duration(0), h.Quantile(0.01))
	assert.Equal(t, time.Duration(7), h.Quantile(0.5))
	assert.Equal(t, time.Duration(15), h.Max())
}

func TestHistogramSnapshotTravels(t *testing.T) {
	var a, b loadgen.Histogram
	for i := range 1000 {
		a.Record(time.Duration(i) * time.Microsecond)
		b.Record(time.Duration(i) * time.Millisecond)
	}
	raw, err := json.Marshal(b.Snapshot())
	require.NoError(t, err)
	var s loadgen.HistogramSnapshot
	require.NoError(t, json.Unmarshal(raw, &s))
	var m loadgen.Histogram
	m.Merge(&a)
	m.AddSnapshot(s)
	assert.Equal(t, uint64(2000), m.Count())
	assert.Equal(t, b.Max(), m.Max())
	assert.InEpsilon(t, float64(a.Max()), float64(m.Quantile(0.5)), 0.07, "the lower half is a's")
	assert.Equal(t, b.Quantile(0.99), m.Quantile(0.995))
}

func TestStamp(t *testing.T) {
	now := time.Unix(1_700_000_000, 123456789)
	for _, size := range []int{0, loadgen.MinPayloadSize, 64, 1024} {
		p := loadgen.AppendStamp(nil, size, 4242, now)
		assert.GreaterOrEqual(t, len(p), size)
		seq, sent, ok := loadgen.ParseStamp(p)
		require.True(t, ok, "%q", p)
		assert.Equal(t, uint64(4242), seq)
		assert.True(t, now.Equal(sent))
	}
	assert.Len(t, loadgen.AppendStamp(nil, 1024, 1<<40, now), 1024)
	for _, bad := range []string{"", "123", "1700000000123456789 x ", "1700000000123456789 12", "17000000001234567890 1 ", "abc0000000123456789 1 "} {
		_, _, ok := loadgen.ParseStamp([]byte(bad))
		assert.False(t, ok, "%q", bad)
	}
}

func TestRowFormats(t *testing.T) {
	r := loadgen.Row{
		Scenario: "fanout", Server: "gosignalr/json", Nodes: 1, Conns: 1000, Size: 1024,
		Ops: 50000, Rate: 123456.7, P50: 1500 * time.Microsecond, P99: 12 * time.Millisecond, Max: 2 * time.Second,
		MsgsPerFrame: 3.5, RSSPerConn: 7800, ServerRSS: 150 << 20, Cut: 1, CutReason: "overflow|x",
	}
	line := r.Markdown()
	header := strings.Split(loadgen.MarkdownHeader(), "\n")[0]
	assert.Equal(t, strings.Count(header, "|"), strings.Count(line, "|"))
	for _, want := range []string{"| fanout |", "1.0 KiB", "123457", "1.5ms", "12ms", "2s", "3.50", "7.6 KiB", "150.0 MiB", `cut 1: "overflow/x"`} {
		assert.Contains(t, line, want)
	}
	var back loadgen.Row
	require.NoError(t, json.Unmarshal([]byte(r.JSON()), &back))
	assert.Equal(t, r, back)
}
