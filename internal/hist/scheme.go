// Package hist maps the histogram buckets that bpftrail's BPF programs fill
// in BPF maps back to value ranges, merges and summarises them (totals,
// estimated percentiles) and renders them as text in the style bcc users
// know (print_log2_hist / print_linear_hist).
//
// # Bucket schemes
//
// The BPF side computes a bucket index and increments a counter; this
// package owns the definition of those indexes. The BPF code generator must
// mirror the index functions exactly; they are written below as the shift
// and mask sequences a BPF program can execute. Throughout, for v > 0,
// k = floor(log2 v) = 63 - clz64(v), and bits.Len64(v) = k + 1 (0 for v = 0).
//
// Log2 ([Log2], [Log2Index], [Log2Range]), 65 buckets, indexes 0..64:
//
//	idx = (v == 0) ? 0 : k + 1              // == bits.Len64(v)
//	index 0 holds {0}; index i >= 1 holds [2^(i-1), 2^i)
//	1 -> 1, 2..3 -> 2, 4..7 -> 3, ..., [2^63, 2^64) -> 64
//
// The indexes i >= 1 coincide with bcc's bpf_log2l(); bcc also puts 0 into
// index 1, here 0 has its own index 0.
//
// LogLinear ([LogLinear], [LogLinearIndex], [LogLinearRange]), 496 buckets,
// indexes 0..495: every power-of-two range [2^k, 2^(k+1)) with k >= 3 is split
// into 8 equal sub-buckets of width 2^(k-3); values below 16 get one bucket
// each (for v < 8 by definition, for 8..15 because the width is 2^0 = 1).
//
//	if v < 8 { idx = v }                          // k < 3
//	else     { idx = 8*(k-2) + ((v >> (k-3)) & 7) }
//
// Equivalently, with s = max(k-3, 0) (s = 0 for v < 16, including v = 0):
//
//	idx = (s << 3) + (v >> s)
//
// which needs no branch on v < 8 (for v < 16, s = 0 and idx = v). The
// inverse, for i >= 8 with s = (i >> 3) - 1 and m = 8 + (i & 7):
//
//	index i holds [m << s, (m+1) << s)
//
// The mapping is monotone and contiguous: index 8*(k-2)+j holds
// [(8+j)*2^(k-3), (9+j)*2^(k-3)), the last sub-bucket of k ends where the
// first one of k+1 starts, and 2^64-1 (k = 63) maps to the maximum index
// 8*61 + 7 = 495. The relative width of a bucket is at most 1/8 (12.5%).
//
// Upper-inclusive schemes ([Log2Upper], [LogLinearUpper]) bucket v - 1
// with Log2 or LogLinear, one index up, and keep index 0 for 0 (and for the
// negative values of signed fields):
//
//	idx = (v == 0) ? 0 : 1 + base(v - 1)
//
// so the base's [low, high) becomes (low, high]: the buckets of Prometheus
// (a value counts in every bucket whose "le" is >= the value) and of
// OpenTelemetry (explicit bounds (b[i-1], b[i]]; exponential index j holds
// (base^j, base^(j+1)]). Log2Upper (66 indexes):
//
//	idx = (v == 0) ? 0 : 1 + bits.Len64(v - 1)   // 1 + ceil(log2 v) for v >= 1
//	index 0 holds {0}; index 1 holds {1}; index i >= 2 holds (2^(i-2), 2^(i-1)]
//	4096 -> 13 = (2048, 4096], 4097 -> 14 = (4096, 8192], 2^64-1 -> 65
//
// which is OpenTelemetry's exponential histogram at scale 0 (base 2) with
// zero_count = index 0 and exponential index i - 2 for i >= 1 (see
// [Log2Upper.ExpIndex]). LogLinearUpper (497 indexes) does the same with 8
// sub-buckets per power of two: index i >= 1 holds (low, high] of LogLinear
// index i - 1, e.g. (16, 18], (18, 20], ..., (960, 1024]. [Scheme.Le] is
// the inclusive upper bound of every scheme, the "le" of a bucket.
//
// Linear ([Linear]): Buckets() = (Max-Min)/Step + 2 indexes:
//
//	index 0            values v < Min
//	index 1+j          [Min + j*Step, Min + (j+1)*Step), j = 0..(Max-Min)/Step-1
//	index Buckets()-1  values v >= Max
//	idx = v < Min ? 0 : v >= Max ? Buckets()-1 : 1 + (v-Min)/Step
//
// (v-Min) is non-negative after the comparisons, so the division can be done
// unsigned. (Max-Min) must be a multiple of Step: rounding up would make the
// last regular bucket reach beyond Max and overlap the ">= Max" bucket.
//
// # Ranges
//
// The *Range functions and methods return inclusive ranges (low, last):
// the bucket holds the integers low <= v <= last. Inclusive bounds always
// fit the value type (the top Log2 bucket ends at 2^64, which a uint64 cannot
// hold). [Histogram.Buckets] reports half-open [Low, High) ranges as float64;
// every bound Log2, LogLinear and Linear produce is exactly representable
// (log bounds have at most four significant bits, linear bounds are limited
// to ±2^53), so High of the top Log2 bucket is exactly 18446744073709551616
// and encodes to JSON as that integer. The upper-inclusive schemes' Low
// bounds (2^k + 1) are exact up to 2^53; their [Scheme.Le] bounds are the
// powers of two and log-linear edges, always exact.
//
// # Units
//
// Latency histograms keep nanosecond buckets in the kernel. [Scale] converts
// single values, and [Histogram.RenderScaled] displays a nanosecond
// histogram in us, ms or s without re-bucketing: each row shows the range of
// truncated values (v / factor, as bcc's runqlat computes them in the kernel)
// that the samples of a bucket have. Rows whose scaled ranges coincide are
// merged (exact, since they describe the same set of displayed values); rows
// may still overlap at one end ("1 -> 2", "2 -> 4") because power-of-two
// nanosecond boundaries are not aligned with the unit.
package hist

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Scheme is a bucket layout: Log2, LogLinear, Linear, or the
// upper-inclusive Log2Upper and LogLinearUpper. The set is closed; the BPF
// code generator must implement each one's index function.
type Scheme interface {
	// Buckets returns the number of indexes; valid indexes are
	// 0..Buckets()-1. It is 0 for an invalid Linear.
	Buckets() int
	// Bounds returns the half-open range [low, high) of index i as exact
	// float64 values. It panics if i is out of range.
	Bounds(i int) (low, high float64)
	// Le returns the inclusive upper bound of index i: for the integer
	// values the schemes bucket, index i holds exactly the values v with
	// Le(i-1) < v <= Le(i), as Prometheus' "le" and OpenTelemetry's
	// explicit bounds count them; +Inf for Linear's overflow bucket. It
	// panics if i is out of range.
	Le(i int) float64
	// Validate reports whether the scheme's parameters are usable.
	Validate() error
	String() string
	sealed()
}

const (
	// Log2Buckets is the number of Log2 indexes (0..64).
	Log2Buckets = 65
	// LogLinearSubBits is log2 of the number of sub-buckets per power of two.
	LogLinearSubBits = 3
	// LogLinearSub is the number of sub-buckets per power of two (8).
	LogLinearSub = 1 << LogLinearSubBits
	// LogLinearBuckets is the number of LogLinear indexes (0..495).
	LogLinearBuckets = LogLinearSub * (64 - LogLinearSubBits + 1) // 8*62 = 496
	// MaxLinearBuckets bounds Linear.Buckets(), including the two open ends.
	MaxLinearBuckets = 1000
	// MaxLinearAbs bounds |Min| and |Max| of a Linear scheme (2^53), so that
	// every bucket bound is exact as a float64.
	MaxLinearAbs = 1 << 53
)

// Log2Index returns the Log2 bucket of v: 0 for v == 0, else
// floor(log2 v) + 1, i.e. bits.Len64(v).
func Log2Index(v uint64) int { return bits.Len64(v) }

// Log2Range returns the inclusive range of Log2 index i: {0} for i == 0,
// [2^(i-1), 2^i - 1] for 1 <= i <= 64. It panics if i is out of range.
func Log2Range(i int) (low, last uint64) {
	if i < 0 || i >= Log2Buckets {
		panic(fmt.Sprintf("hist: log2 index %d out of range [0,%d)", i, Log2Buckets))
	}
	if i == 0 {
		return 0, 0
	}
	low = 1 << (i - 1)
	return low, low | (low - 1)
}

// LogLinearIndex returns the LogLinear bucket of v:
// s = max(floor(log2 v) - 3, 0); idx = (s << 3) + (v >> s).
// The result is in [0, 495].
func LogLinearIndex(v uint64) int {
	s := bits.Len64(v) - 1 - LogLinearSubBits // k - 3
	if s < 0 {
		s = 0
	}
	return s<<LogLinearSubBits + int(v>>uint(s))
}

// LogLinearRange returns the inclusive range of LogLinear index i. For
// i < 16 it is {i}; otherwise, with s = i/8 - 1 and m = 8 + i%8, it is
// [m << s, ((m+1) << s) - 1]. It panics if i is out of range.
func LogLinearRange(i int) (low, last uint64) {
	if i < 0 || i >= LogLinearBuckets {
		panic(fmt.Sprintf("hist: loglinear index %d out of range [0,%d)", i, LogLinearBuckets))
	}
	if i < 2*LogLinearSub {
		return uint64(i), uint64(i)
	}
	s := uint(i>>LogLinearSubBits) - 1
	m := uint64(LogLinearSub + i&(LogLinearSub-1))
	low = m << s
	return low, low + (1<<s - 1)
}

// Log2 is the power-of-two scheme (see [Log2Index]).
type Log2 struct{}

// Index returns Log2Index(v).
func (Log2) Index(v uint64) int { return Log2Index(v) }

// Buckets returns Log2Buckets.
func (Log2) Buckets() int { return Log2Buckets }

// Range returns Log2Range(i).
func (Log2) Range(i int) (low, last uint64) { return Log2Range(i) }

// Bounds implements Scheme.
func (Log2) Bounds(i int) (low, high float64) {
	l, h := Log2Range(i)
	return float64(l), float64(l) + float64(h-l+1)
}

// Le implements Scheme: 2^i - 1, the last integer of index i.
func (Log2) Le(i int) float64 {
	_, last := Log2Range(i)
	return float64(last)
}

// Validate implements Scheme; Log2 is always valid.
func (Log2) Validate() error { return nil }
func (Log2) String() string  { return "log2" }
func (Log2) sealed()         {}

// LogLinear is the log-linear scheme with 8 sub-buckets per power of two
// (see [LogLinearIndex]).
type LogLinear struct{}

// Index returns LogLinearIndex(v).
func (LogLinear) Index(v uint64) int { return LogLinearIndex(v) }

// Buckets returns LogLinearBuckets.
func (LogLinear) Buckets() int { return LogLinearBuckets }

// Range returns LogLinearRange(i).
func (LogLinear) Range(i int) (low, last uint64) { return LogLinearRange(i) }

// Bounds implements Scheme.
func (LogLinear) Bounds(i int) (low, high float64) {
	l, h := LogLinearRange(i)
	return float64(l), float64(l) + float64(h-l+1)
}

// Le implements Scheme: the last integer of index i.
func (LogLinear) Le(i int) float64 {
	_, last := LogLinearRange(i)
	return float64(last)
}

// Validate implements Scheme; LogLinear is always valid.
func (LogLinear) Validate() error { return nil }
func (LogLinear) String() string  { return "loglinear" }
func (LogLinear) sealed()         {}

// Linear is a linear scheme over signed values: an underflow bucket
// (v < Min), (Max-Min)/Step buckets of width Step, and an overflow bucket
// (v >= Max). See the package documentation for the index formula.
type Linear struct {
	Min, Max, Step int64
}

// Errors returned by Linear.Validate (wrapped with the offending values).
var (
	ErrLinearStep    = errors.New("hist: linear step must be > 0")
	ErrLinearRange   = errors.New("hist: linear max must be > min")
	ErrLinearDivide  = errors.New("hist: linear max-min must be a multiple of step")
	ErrLinearBuckets = errors.New("hist: too many linear buckets")
	ErrLinearBounds  = errors.New("hist: linear min/max out of range ±2^53")
)

// Validate checks Step > 0, Max > Min, |Min|, |Max| <= 2^53,
// (Max-Min) % Step == 0 and Buckets() <= MaxLinearBuckets.
func (l Linear) Validate() error {
	switch {
	case l.Step <= 0:
		return fmt.Errorf("%w (step %d)", ErrLinearStep, l.Step)
	case l.Max <= l.Min:
		return fmt.Errorf("%w (min %d, max %d)", ErrLinearRange, l.Min, l.Max)
	case l.Min < -MaxLinearAbs || l.Max > MaxLinearAbs:
		return fmt.Errorf("%w (min %d, max %d)", ErrLinearBounds, l.Min, l.Max)
	case (l.Max-l.Min)%l.Step != 0:
		return fmt.Errorf("%w (min %d, max %d, step %d)", ErrLinearDivide, l.Min, l.Max, l.Step)
	case (l.Max-l.Min)/l.Step+2 > MaxLinearBuckets:
		return fmt.Errorf("%w (%d > %d)", ErrLinearBuckets, (l.Max-l.Min)/l.Step+2, MaxLinearBuckets)
	}
	return nil
}

// Buckets returns (Max-Min)/Step + 2, or 0 if l is invalid.
func (l Linear) Buckets() int {
	if l.Validate() != nil {
		return 0
	}
	return int((l.Max-l.Min)/l.Step) + 2
}

// Index returns the bucket of v. l must be valid.
func (l Linear) Index(v int64) int {
	switch {
	case v < l.Min:
		return 0
	case v >= l.Max:
		return int((l.Max-l.Min)/l.Step) + 1
	}
	return 1 + int(uint64(v-l.Min)/uint64(l.Step))
}

// Range returns the inclusive range of index i: [math.MinInt64, Min-1] for
// index 0, [Max, math.MaxInt64] for the last index, else
// [Min+(i-1)*Step, Min+i*Step-1]. It panics if i is out of range.
func (l Linear) Range(i int) (low, last int64) {
	n := l.Buckets()
	if i < 0 || i >= n {
		panic(fmt.Sprintf("hist: linear index %d out of range [0,%d) for %v", i, n, l))
	}
	switch i {
	case 0:
		return math.MinInt64, l.Min - 1
	case n - 1:
		return l.Max, math.MaxInt64
	}
	low = l.Min + int64(i-1)*l.Step
	return low, low + l.Step - 1
}

// Bounds implements Scheme. The open ends are reported as [-2^63, Min) and
// [Max, 2^63).
func (l Linear) Bounds(i int) (low, high float64) {
	lo, hi := l.Range(i)
	if i == l.Buckets()-1 {
		return float64(lo), math.Ldexp(1, 63)
	}
	return float64(lo), float64(hi) + 1
}

// Le implements Scheme: the last integer of index i, +Inf for the
// overflow bucket (v >= Max).
func (l Linear) Le(i int) float64 {
	_, last := l.Range(i)
	if i == l.Buckets()-1 {
		return math.Inf(1)
	}
	return float64(last)
}

func (l Linear) String() string {
	return fmt.Sprintf("linear(min=%d,max=%d,step=%d)", l.Min, l.Max, l.Step)
}

func (Linear) sealed() {}

const (
	// Log2UpperBuckets is the number of Log2Upper indexes (0..65).
	Log2UpperBuckets = Log2Buckets + 1
	// LogLinearUpperBuckets is the number of LogLinearUpper indexes (0..496).
	LogLinearUpperBuckets = LogLinearBuckets + 1
)

// upperRange returns the inclusive range of index i of an upper-inclusive
// scheme over base: {0} for 0, else base's range of i-1 shifted up by one
// (the top index ends at 2^64-1, the largest value).
func upperRange(i, n int, base func(int) (uint64, uint64)) (low, last uint64) {
	if i < 0 || i >= n {
		panic(fmt.Sprintf("hist: upper-inclusive index %d out of range [0,%d)", i, n))
	}
	if i == 0 {
		return 0, 0
	}
	low, last = base(i - 1)
	if last == math.MaxUint64 {
		return low + 1, last
	}
	return low + 1, last + 1
}

// upperLe returns the inclusive upper bound of index i >= 1 of an
// upper-inclusive scheme over base: the exclusive high of base's index i-1.
func upperLe(i int, base func(int) (uint64, uint64)) float64 {
	low, last := base(i - 1)
	return float64(low) + float64(last-low+1)
}

// Log2UpperIndex returns the Log2Upper bucket of v: 0 for v == 0, else
// 1 + bits.Len64(v-1) = 1 + ceil(log2 v).
func Log2UpperIndex(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + bits.Len64(v-1)
}

// Log2UpperRange returns the inclusive range of Log2Upper index i: {0},
// {1}, {2}, [3, 4], [5, 8], ..., [2^(i-2)+1, 2^(i-1)], ..., [2^63+1,
// 2^64-1]. It panics if i is out of range.
func Log2UpperRange(i int) (low, last uint64) {
	return upperRange(i, Log2UpperBuckets, Log2Range)
}

// LogLinearUpperIndex returns the LogLinearUpper bucket of v: 0 for v == 0,
// else 1 + LogLinearIndex(v-1).
func LogLinearUpperIndex(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + LogLinearIndex(v-1)
}

// LogLinearUpperRange returns the inclusive range of LogLinearUpper index
// i: {0}, then (low, high] of LogLinear index i-1 as integers. It panics if
// i is out of range.
func LogLinearUpperRange(i int) (low, last uint64) {
	return upperRange(i, LogLinearUpperBuckets, LogLinearRange)
}

// Log2Upper is the upper-inclusive power-of-two scheme (see
// [Log2UpperIndex]): index i >= 2 holds (2^(i-2), 2^(i-1)], the buckets of
// a Prometheus histogram with le = 2^(i-1) and of an OpenTelemetry
// exponential histogram at scale 0.
type Log2Upper struct{}

// Index returns Log2UpperIndex(v).
func (Log2Upper) Index(v uint64) int { return Log2UpperIndex(v) }

// Buckets returns Log2UpperBuckets.
func (Log2Upper) Buckets() int { return Log2UpperBuckets }

// Range returns Log2UpperRange(i).
func (Log2Upper) Range(i int) (low, last uint64) { return Log2UpperRange(i) }

// Bounds implements Scheme: the integers [low, last+1) of index i, exact
// up to 2^53 (the low bound of the top index, 2^63+1, rounds to 2^63).
func (Log2Upper) Bounds(i int) (low, high float64) {
	l, h := Log2UpperRange(i)
	return float64(l), float64(l) + float64(h-l+1)
}

// Le implements Scheme: 0 for index 0, else 2^(i-1).
func (Log2Upper) Le(i int) float64 {
	Log2UpperRange(i) // range check
	if i == 0 {
		return 0
	}
	return math.Ldexp(1, i-1)
}

// ExpIndex returns the OpenTelemetry exponential histogram bucket at scale
// 0 of index i, whose values are (2^j, 2^(j+1)]: j = i - 2 for i >= 1;
// index 0 is the zero bucket (zero = true).
func (Log2Upper) ExpIndex(i int) (j int32, zero bool) {
	Log2UpperRange(i) // range check
	if i == 0 {
		return 0, true
	}
	return int32(i - 2), false
}

// Validate implements Scheme; Log2Upper is always valid.
func (Log2Upper) Validate() error { return nil }
func (Log2Upper) String() string  { return "log2-upper" }
func (Log2Upper) sealed()         {}

// LogLinearUpper is the upper-inclusive log-linear scheme (see
// [LogLinearUpperIndex]): index i >= 1 holds (low, high] of LogLinear index
// i-1.
type LogLinearUpper struct{}

// Index returns LogLinearUpperIndex(v).
func (LogLinearUpper) Index(v uint64) int { return LogLinearUpperIndex(v) }

// Buckets returns LogLinearUpperBuckets.
func (LogLinearUpper) Buckets() int { return LogLinearUpperBuckets }

// Range returns LogLinearUpperRange(i).
func (LogLinearUpper) Range(i int) (low, last uint64) { return LogLinearUpperRange(i) }

// Bounds implements Scheme: the integers [low, last+1) of index i (see
// [Log2Upper.Bounds]).
func (LogLinearUpper) Bounds(i int) (low, high float64) {
	l, h := LogLinearUpperRange(i)
	return float64(l), float64(l) + float64(h-l+1)
}

// Le implements Scheme: 0 for index 0, else the exclusive high bound of
// LogLinear index i-1.
func (LogLinearUpper) Le(i int) float64 {
	LogLinearUpperRange(i) // range check
	if i == 0 {
		return 0
	}
	return upperLe(i, LogLinearRange)
}

// Validate implements Scheme; LogLinearUpper is always valid.
func (LogLinearUpper) Validate() error { return nil }
func (LogLinearUpper) String() string  { return "loglinear-upper" }
func (LogLinearUpper) sealed()         {}

var (
	_ Scheme = Log2Upper{}
	_ Scheme = LogLinearUpper{}
	_ Scheme = Log2{}
	_ Scheme = LogLinear{}
	_ Scheme = Linear{}
)
