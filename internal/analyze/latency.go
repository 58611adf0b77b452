package analyze

import (
	"math"
	"slices"

	"github.com/bpftrail/bpftrail/internal/hist"
)

// Latency summarizes durations in ns: exact count, sum, minimum, maximum
// and nearest-rank percentiles, and their log2 histogram (the buckets of
// [hist.Log2] from the first to the last non-empty one).
type Latency struct {
	Count   int           `json:"count"`
	Sum     int64         `json:"sum"`
	Min     int64         `json:"min"`
	Max     int64         `json:"max"`
	P50     int64         `json:"p50"`
	P90     int64         `json:"p90"`
	P99     int64         `json:"p99"`
	Buckets []hist.Bucket `json:"buckets"`
}

// Durations collects durations for a [Latency].
type Durations struct {
	ns []int64
}

// Add adds one duration; a negative one counts as 0.
func (d *Durations) Add(ns int64) { d.ns = append(d.ns, max(ns, 0)) }

// Len is the number of durations added.
func (d *Durations) Len() int { return len(d.ns) }

// Latency summarizes the durations added.
func (d *Durations) Latency() Latency {
	if len(d.ns) == 0 {
		return Latency{}
	}
	slices.Sort(d.ns)
	l := Latency{Count: len(d.ns), Min: d.ns[0], Max: d.ns[len(d.ns)-1],
		P50: Percentile(d.ns, 50), P90: Percentile(d.ns, 90), P99: Percentile(d.ns, 99)}
	h := hist.Histogram{Scheme: hist.Log2{}}
	for _, v := range d.ns {
		l.Sum += v
		if err := h.Add(hist.Log2Index(uint64(v)), 1); err != nil {
			panic(err) // unreachable: every uint64 has a Log2 index
		}
	}
	l.Buckets = h.Buckets()
	return l
}

// Percentile returns the nearest-rank p-th percentile of sorted values.
func Percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}
