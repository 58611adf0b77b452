package analyze_test

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/hist"
)

// refLatency summarizes ns by sorting all of them.
func refLatency(ns []int64) analyze.Latency {
	if len(ns) == 0 {
		return analyze.Latency{}
	}
	s := make([]int64, len(ns))
	for i, v := range ns {
		s[i] = max(v, 0)
	}
	slices.Sort(s)
	l := analyze.Latency{Count: len(s), Min: s[0], Max: s[len(s)-1],
		P50: analyze.Percentile(s, 50), P90: analyze.Percentile(s, 90), P99: analyze.Percentile(s, 99)}
	h := hist.Histogram{Scheme: hist.Log2{}}
	for _, v := range s {
		l.Sum += v
		if err := h.Add(hist.Log2Index(uint64(v)), 1); err != nil {
			panic(err)
		}
	}
	l.Buckets = h.Buckets()
	return l
}

// TestDurations checks the summary against sorting every duration, below
// and across many compactions, with few and with many distinct durations.
func TestDurations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 100, 16383, 16384, 16385, 100_000} {
		for _, distinct := range []int64{1, 50, 1 << 40} {
			var d analyze.Durations
			var all []int64
			for range n {
				v := r.Int64N(distinct) - distinct/10 // some negative ones
				if r.IntN(100) == 0 {
					v = r.Int64N(1 << 62) // a long one now and then
				}
				d.Add(v)
				all = append(all, v)
			}
			if d.Len() != n {
				t.Errorf("n %d, distinct %d: Len %d", n, distinct, d.Len())
			}
			if diff := cmp.Diff(refLatency(all), d.Latency()); diff != "" {
				t.Errorf("n %d, distinct %d: latency (-sorted +got):\n%s", n, distinct, diff)
			}
		}
	}
}

// TestDurationsMemory checks that a million durations of a thousand
// distinct values take memory for the thousand values, not the million.
func TestDurationsMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var d analyze.Durations
	for i := range 1 << 20 {
		d.Add(int64(1000 + i*7919%1000))
	}
	runtime.ReadMemStats(&after)
	if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
		t.Errorf("a million durations allocated %d bytes", a)
	}
	if l := d.Latency(); l.Count != 1<<20 || l.Min != 1000 || l.Max != 1999 {
		t.Errorf("latency %+v", l)
	}
}
