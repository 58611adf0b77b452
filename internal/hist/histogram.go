package hist

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// Histogram holds per-index counts for a Scheme. The zero value with a
// Scheme set is ready to use; Counts is allocated on the first Add or Merge
// with length Scheme.Buckets() (as read from a BPF array map).
type Histogram struct {
	Scheme Scheme
	Counts []uint64
}

// Bucket is one bucket of [Histogram.Buckets]: Count samples in the
// half-open range [Low, High). The bounds are exact (see the package
// documentation); for Linear the open ends are [-2^63, Min) and [Max, 2^63).
type Bucket struct {
	Index int     `json:"index"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
	Count uint64  `json:"count"`
}

// MarshalJSON encodes b as {"index":i,"low":L,"high":H,"count":c} with the
// bounds written as exact integers (encoding/json would write 2^63 as
// 9223372036854776000, the shortest float64 round trip).
func (b Bucket) MarshalJSON() ([]byte, error) {
	out := []byte(`{"index":`)
	out = strconv.AppendInt(out, int64(b.Index), 10)
	out = append(out, `,"low":`...)
	out = appendBound(out, b.Low)
	out = append(out, `,"high":`...)
	out = appendBound(out, b.High)
	out = append(out, `,"count":`...)
	out = strconv.AppendUint(out, b.Count, 10)
	return append(out, '}'), nil
}

func appendBound(out []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(out, "null"...)
	}
	if f == math.Trunc(f) {
		return strconv.AppendFloat(out, f, 'f', 0, 64)
	}
	return strconv.AppendFloat(out, f, 'g', -1, 64)
}

// New returns an empty histogram for s, or the error of s.Validate().
func New(s Scheme) (*Histogram, error) {
	h := &Histogram{Scheme: s}
	if err := h.init(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Histogram) init() error {
	if h.Scheme == nil {
		return fmt.Errorf("hist: histogram has no scheme")
	}
	if h.Counts != nil {
		if len(h.Counts) != h.Scheme.Buckets() {
			return fmt.Errorf("hist: %d counts for %v with %d buckets", len(h.Counts), h.Scheme, h.Scheme.Buckets())
		}
		return nil
	}
	if err := h.Scheme.Validate(); err != nil {
		return err
	}
	h.Counts = make([]uint64, h.Scheme.Buckets())
	return nil
}

func satAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}

// Add adds count samples to bucket index. Counts saturate at
// math.MaxUint64. It fails if index is out of range for the scheme.
func (h *Histogram) Add(index int, count uint64) error {
	if err := h.init(); err != nil {
		return err
	}
	if index < 0 || index >= len(h.Counts) {
		return fmt.Errorf("hist: index %d out of range [0,%d) for %v", index, len(h.Counts), h.Scheme)
	}
	h.Counts[index] = satAdd(h.Counts[index], count)
	return nil
}

// Merge adds the counts of o (for example, another CPU's or key's
// histogram) to h. Both must have the same scheme.
func (h *Histogram) Merge(o *Histogram) error {
	if o.Scheme != h.Scheme {
		return fmt.Errorf("hist: cannot merge %v into %v", o.Scheme, h.Scheme)
	}
	if err := h.init(); err != nil {
		return err
	}
	if len(o.Counts) == 0 {
		return nil
	}
	if len(o.Counts) != len(h.Counts) {
		return fmt.Errorf("hist: cannot merge %d counts into %d", len(o.Counts), len(h.Counts))
	}
	for i, c := range o.Counts {
		h.Counts[i] = satAdd(h.Counts[i], c)
	}
	return nil
}

// Total returns the number of samples (saturating).
func (h *Histogram) Total() uint64 {
	var t uint64
	for _, c := range h.Counts {
		t = satAdd(t, c)
	}
	return t
}

// span returns the first and last non-empty index, or ok == false.
func (h *Histogram) span() (first, last int, ok bool) {
	first, last = -1, -1
	for i, c := range h.Counts {
		if c != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last, first >= 0
}

// Buckets returns the buckets from the first to the last non-empty one,
// including empty buckets in between (as bcc prints them), or nil if the
// histogram is empty.
func (h *Histogram) Buckets() []Bucket {
	first, last, ok := h.span()
	if !ok {
		return nil
	}
	out := make([]Bucket, 0, last-first+1)
	for i := first; i <= last; i++ {
		lo, hi := h.Scheme.Bounds(i)
		out = append(out, Bucket{Index: i, Low: lo, High: hi, Count: h.Counts[i]})
	}
	return out
}

// Percentile returns an estimate of the p-th percentile (p in [0, 100],
// clamped) of the samples, or 0 for an empty histogram.
//
// With N samples, the rank r = p/100 * N falls into the first non-empty
// bucket whose cumulative count reaches r; with c samples in that bucket and
// b samples before it, the estimate is Low + (High-Low) * (r-b)/c, clamped
// to High-1 (the largest integer in the bucket). A bucket that holds a
// single value returns that value exactly. Linear's open ends return their
// finite edge: Min-1 for the underflow and Max for the overflow bucket.
// Minimum and maximum are not known from buckets; clamp with
// [Summary.Clamp] when the caller tracked them.
func (h *Histogram) Percentile(p float64) float64 {
	total := h.Total()
	if total == 0 {
		return 0
	}
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	if p > 100 {
		p = 100
	}
	rank := p / 100 * float64(total)
	var before uint64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		cum := satAdd(before, c)
		if float64(cum) >= rank || cum == total {
			return h.estimate(i, (rank-float64(before))/float64(c))
		}
		before = cum
	}
	return 0 // unreachable: the last non-empty bucket has cum == total
}

func (h *Histogram) estimate(i int, frac float64) float64 {
	frac = math.Max(0, math.Min(1, frac))
	if l, ok := h.Scheme.(Linear); ok {
		switch i {
		case 0:
			return float64(l.Min - 1)
		case len(h.Counts) - 1:
			return float64(l.Max)
		}
	}
	lo, hi := h.Scheme.Bounds(i)
	if hi-lo <= 1 {
		return lo
	}
	return math.Min(lo+(hi-lo)*frac, hi-1)
}
