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

// Durations collects durations for a [Latency]. It keeps each distinct
// duration once with its count, so that its memory is bounded by the
// number of distinct durations (at most a few hundred thousand for
// syscall latencies in ns), not by the number added: the summary stays
// exact.
type Durations struct {
	pending []int64  // added since the last compaction
	runs    []durRun // distinct durations in increasing order
	spare   []durRun // the buffer the next compaction merges into
	n       int
}

// durRun is a duration and how many times it was added.
type durRun struct {
	ns    int64
	count uint64
}

// durPending is how many durations wait before they are merged into the
// runs.
const durPending = 1 << 14

// Add adds one duration; a negative one counts as 0.
func (d *Durations) Add(ns int64) {
	d.pending = append(d.pending, max(ns, 0))
	d.n++
	if len(d.pending) >= durPending {
		d.compact()
	}
}

// Len is the number of durations added.
func (d *Durations) Len() int { return d.n }

// compact merges the pending durations into the runs.
func (d *Durations) compact() {
	if len(d.pending) == 0 {
		return
	}
	slices.Sort(d.pending)
	out := d.spare[:0]
	runs, p := d.runs, d.pending
	for len(runs) > 0 || len(p) > 0 {
		var r durRun
		switch {
		case len(p) == 0 || len(runs) > 0 && runs[0].ns < p[0]:
			r, runs = runs[0], runs[1:]
		default:
			r = durRun{ns: p[0]}
			if len(runs) > 0 && runs[0].ns == p[0] {
				r, runs = runs[0], runs[1:]
			}
		}
		for len(p) > 0 && p[0] == r.ns {
			r.count++
			p = p[1:]
		}
		out = append(out, r)
	}
	d.spare, d.runs = d.runs, out
	d.pending = d.pending[:0]
}

// Latency summarizes the durations added.
func (d *Durations) Latency() Latency {
	d.compact()
	if d.n == 0 {
		return Latency{}
	}
	l := Latency{Count: d.n, Min: d.runs[0].ns, Max: d.runs[len(d.runs)-1].ns,
		P50: d.percentile(50), P90: d.percentile(90), P99: d.percentile(99)}
	h := hist.Histogram{Scheme: hist.Log2{}}
	for _, r := range d.runs {
		l.Sum += r.ns * int64(r.count)
		if err := h.Add(hist.Log2Index(uint64(r.ns)), r.count); err != nil {
			panic(err) // unreachable: every uint64 has a Log2 index
		}
	}
	l.Buckets = h.Buckets()
	return l
}

// percentile is [Percentile] of the durations, which are compacted.
func (d *Durations) percentile(p float64) int64 {
	rank := int(math.Ceil(p/100*float64(d.n))) - 1
	rank = max(0, min(rank, d.n-1))
	for _, r := range d.runs {
		if uint64(rank) < r.count {
			return r.ns
		}
		rank -= int(r.count)
	}
	return d.runs[len(d.runs)-1].ns
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
