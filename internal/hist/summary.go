package hist

import (
	"fmt"
	"math"
)

// Summary is the exact companion of a latency histogram: count, sum,
// minimum and maximum, which buckets cannot provide.
type Summary struct {
	Count uint64 `json:"count"`
	Sum   uint64 `json:"sum"`
	Min   uint64 `json:"min"`
	Max   uint64 `json:"max"`
}

// Add records one value.
func (s *Summary) Add(v uint64) {
	if s.Count == 0 || v < s.Min {
		s.Min = v
	}
	if s.Count == 0 || v > s.Max {
		s.Max = v
	}
	s.Count++
	s.Sum = satAdd(s.Sum, v)
}

// Merge adds the values summarised by o.
func (s *Summary) Merge(o Summary) {
	if o.Count == 0 {
		return
	}
	if s.Count == 0 {
		*s = o
		return
	}
	s.Min = min(s.Min, o.Min)
	s.Max = max(s.Max, o.Max)
	s.Count = satAdd(s.Count, o.Count)
	s.Sum = satAdd(s.Sum, o.Sum)
}

// Avg returns Sum/Count, or 0 when Count is 0.
func (s Summary) Avg() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Sum) / float64(s.Count)
}

// Clamp limits an estimate (such as a [Histogram.Percentile]) to
// [Min, Max]; it returns v unchanged when Count is 0.
func (s Summary) Clamp(v float64) float64 {
	if s.Count == 0 {
		return v
	}
	return math.Max(float64(s.Min), math.Min(v, float64(s.Max)))
}

// Latency is a latency summary with estimated percentiles, all in the
// histogram's unit (nanoseconds for bpftrail's latency maps).
type Latency struct {
	Summary
	Avg float64 `json:"avg"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// Summarize combines s with p50/p90/p99 estimated from h (usually
// LogLinear) and clamped to [s.Min, s.Max].
func Summarize(h *Histogram, s Summary) Latency {
	return Latency{
		Summary: s,
		Avg:     s.Avg(),
		P50:     s.Clamp(h.Percentile(50)),
		P90:     s.Clamp(h.Percentile(90)),
		P99:     s.Clamp(h.Percentile(99)),
	}
}

// Unit describes a time unit for --unit.
type Unit struct {
	Name   string // "ns", "us", "ms", "s"
	Label  string // header title as bcc prints it: "nsecs", "usecs", "msecs", "secs"
	Factor uint64 // nanoseconds per unit
}

var units = []Unit{
	{"ns", "nsecs", 1},
	{"us", "usecs", 1e3},
	{"ms", "msecs", 1e6},
	{"s", "secs", 1e9},
}

// ParseUnit returns the Unit named name: ns, us, ms or s.
func ParseUnit(name string) (Unit, error) {
	for _, u := range units {
		if u.Name == name {
			return u, nil
		}
	}
	return Unit{}, fmt.Errorf("hist: unknown unit %q (want ns, us, ms or s)", name)
}

// Scale converts v nanoseconds to unit (ns, us, ms or s): v / factor as a
// float64. An unknown unit is treated as ns (use ParseUnit to validate).
func Scale(v uint64, unit string) float64 {
	u, err := ParseUnit(unit)
	if err != nil {
		return float64(v)
	}
	return float64(v) / float64(u.Factor)
}

// InUnit re-buckets a LogLinear histogram of nanoseconds into power-of-two
// buckets of unit u, the way bcc's tools show latencies: each fine
// bucket's count goes to the power-of-two bucket of its lower bound in
// that unit.
func InUnit(h *Histogram, u Unit) *Histogram {
	out := &Histogram{Scheme: Log2{}, Counts: make([]uint64, Log2Buckets)}
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		low, _ := LogLinearRange(i)
		j := Log2Index(low / max(u.Factor, 1))
		out.Counts[j] = satAdd(out.Counts[j], n)
	}
	return out
}
