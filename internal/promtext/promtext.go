// Package promtext serves OpenTelemetry metrics in the Prometheus text
// exposition format (version 0.0.4), so that the examples can offer a
// /metrics page for Prometheus to scrape without a Prometheus client
// library.
//
// Names follow the OpenTelemetry-to-Prometheus compatibility rules: dots
// and other characters Prometheus does not allow become underscores, the
// unit is appended (s → _seconds, By → _bytes; units in braces are
// dropped) unless the name already ends with it, and monotonic sums get
// _total. Monotonic sums are counters, other sums and gauges are gauges,
// explicit-bucket histograms are histograms; other aggregations are left
// out.
package promtext

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Collector is where metrics come from: an SDK reader such as
// metric.ManualReader.
type Collector interface {
	Collect(ctx context.Context, rm *metricdata.ResourceMetrics) error
}

// Handler returns a handler that collects from c on every request and
// answers with the metrics in the text format.
func Handler(c Collector) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rm metricdata.ResourceMetrics
		if err := c.Collect(r.Context(), &rm); err != nil {
			http.Error(w, "collecting metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		_ = Write(w, &rm)
	})
}

// family is one Prometheus metric family: the data points of every metric
// that maps to its name.
type family struct {
	name, help, typ string
	data            []metricdata.Aggregation
}

// Write writes rm to w in the text format. Metrics of several scopes that
// map to one name are written as one family; one whose type differs from
// the first is left out.
func Write(w io.Writer, rm *metricdata.ResourceMetrics) error {
	var order []*family
	byName := map[string]*family{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			typ, monotonic := kind(m.Data)
			if typ == "" {
				continue
			}
			name := Name(m.Name, m.Unit, monotonic)
			f := byName[name]
			if f == nil {
				f = &family{name: name, help: m.Description, typ: typ}
				byName[name] = f
				order = append(order, f)
			} else if f.typ != typ {
				continue
			}
			f.data = append(f.data, m.Data)
		}
	}
	bw := bufio.NewWriter(w)
	for _, f := range order {
		if f.help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n", f.name, escapeHelp(f.help))
		}
		fmt.Fprintf(bw, "# TYPE %s %s\n", f.name, f.typ)
		for _, d := range f.data {
			writeData(bw, f.name, d)
		}
	}
	return bw.Flush()
}

// kind returns the Prometheus type of an aggregation ("" if it has none)
// and whether it is a monotonic sum.
func kind(a metricdata.Aggregation) (typ string, monotonic bool) {
	switch d := a.(type) {
	case metricdata.Sum[int64]:
		return sumType(d.IsMonotonic), d.IsMonotonic
	case metricdata.Sum[float64]:
		return sumType(d.IsMonotonic), d.IsMonotonic
	case metricdata.Gauge[int64], metricdata.Gauge[float64]:
		return "gauge", false
	case metricdata.Histogram[int64], metricdata.Histogram[float64]:
		return "histogram", false
	}
	return "", false
}

func sumType(monotonic bool) string {
	if monotonic {
		return "counter"
	}
	return "gauge"
}

func writeData(w *bufio.Writer, name string, a metricdata.Aggregation) {
	switch d := a.(type) {
	case metricdata.Sum[int64]:
		writePoints(w, name, d.DataPoints)
	case metricdata.Sum[float64]:
		writePoints(w, name, d.DataPoints)
	case metricdata.Gauge[int64]:
		writePoints(w, name, d.DataPoints)
	case metricdata.Gauge[float64]:
		writePoints(w, name, d.DataPoints)
	case metricdata.Histogram[int64]:
		writeHistogram(w, name, d.DataPoints)
	case metricdata.Histogram[float64]:
		writeHistogram(w, name, d.DataPoints)
	}
}

func writePoints[N int64 | float64](w *bufio.Writer, name string, dps []metricdata.DataPoint[N]) {
	for _, dp := range dps {
		w.WriteString(name)
		writeLabels(w, dp.Attributes, "", 0)
		w.WriteByte(' ')
		w.WriteString(formatNumber(dp.Value))
		w.WriteByte('\n')
	}
}

func writeHistogram[N int64 | float64](w *bufio.Writer, name string, dps []metricdata.HistogramDataPoint[N]) {
	for _, dp := range dps {
		var cum uint64
		for i, bound := range dp.Bounds {
			if i < len(dp.BucketCounts) {
				cum += dp.BucketCounts[i]
			}
			w.WriteString(name + "_bucket")
			writeLabels(w, dp.Attributes, "le", bound)
			fmt.Fprintf(w, " %d\n", cum)
		}
		w.WriteString(name + "_bucket")
		writeLabels(w, dp.Attributes, "le", math.Inf(1))
		fmt.Fprintf(w, " %d\n", dp.Count)
		w.WriteString(name + "_sum")
		writeLabels(w, dp.Attributes, "", 0)
		fmt.Fprintf(w, " %s\n", formatNumber(dp.Sum))
		w.WriteString(name + "_count")
		writeLabels(w, dp.Attributes, "", 0)
		fmt.Fprintf(w, " %d\n", dp.Count)
	}
}

// writeLabels writes the attributes as labels, plus le="bound" when le is
// set.
func writeLabels(w *bufio.Writer, attrs attribute.Set, le string, bound float64) {
	if attrs.Len() == 0 && le == "" {
		return
	}
	w.WriteByte('{')
	first := true
	for it := attrs.Iter(); it.Next(); {
		kv := it.Attribute()
		if !first {
			w.WriteByte(',')
		}
		first = false
		w.WriteString(sanitize(string(kv.Key), false))
		w.WriteString(`="`)
		w.WriteString(escapeValue(kv.Value.String()))
		w.WriteByte('"')
	}
	if le != "" {
		if !first {
			w.WriteByte(',')
		}
		w.WriteString(le + `="` + formatFloat(bound) + `"`)
	}
	w.WriteByte('}')
}

// Name is the Prometheus name of an OpenTelemetry metric.
func Name(name, unit string, monotonic bool) string {
	n := sanitize(name, true)
	if u := unitSuffix(unit); u != "" && !strings.HasSuffix(n, "_"+u) {
		n += "_" + u
	}
	if monotonic && !strings.HasSuffix(n, "_total") {
		n += "_total"
	}
	return n
}

// unitSuffix is the name suffix of a unit; "" for none.
func unitSuffix(unit string) string {
	if i := strings.IndexByte(unit, '{'); i >= 0 {
		unit = unit[:i] // annotations say what is counted; they are not units
	}
	switch unit {
	case "", "1":
		return ""
	case "s":
		return "seconds"
	case "ms":
		return "milliseconds"
	case "By":
		return "bytes"
	}
	return sanitize(unit, false)
}

// sanitize replaces the characters Prometheus does not allow in a metric
// name (colons allowed) or a label name with underscores, collapses runs
// of them, and prefixes a leading digit.
func sanitize(s string, metric bool) string {
	var b strings.Builder
	lastUnderscore := false
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (r >= '0' && r <= '9' && i > 0) || (metric && r == ':')
		if !ok && r >= '0' && r <= '9' {
			b.WriteByte('_') // a leading digit
			b.WriteRune(r)
			lastUnderscore = false
			continue
		}
		if !ok {
			r = '_'
		}
		if r == '_' && lastUnderscore {
			continue
		}
		lastUnderscore = r == '_'
		b.WriteRune(r)
	}
	return b.String()
}

func escapeValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func formatNumber[N int64 | float64](v N) string {
	switch x := any(v).(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	}
	return ""
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
