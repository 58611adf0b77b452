package hist

import (
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"math/rand"
	"strings"
	"testing"
)

const (
	p32  = uint64(1) << 32
	p63  = uint64(1) << 63
	maxU = uint64(math.MaxUint64)
)

func TestLog2Index(t *testing.T) {
	tests := []struct {
		v    uint64
		want int
	}{
		{0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {7, 3}, {8, 4}, {15, 4}, {16, 5},
		{p32 - 1, 32}, {p32, 33}, {p63 - 1, 63}, {p63, 64}, {maxU, 64},
	}
	for _, tt := range tests {
		if got := Log2Index(tt.v); got != tt.want {
			t.Errorf("Log2Index(%d) = %d, want %d", tt.v, got, tt.want)
		}
		if got := (Log2{}).Index(tt.v); got != tt.want {
			t.Errorf("Log2{}.Index(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestLog2Range(t *testing.T) {
	tests := []struct {
		i         int
		low, last uint64
	}{
		{0, 0, 0}, {1, 1, 1}, {2, 2, 3}, {3, 4, 7}, {4, 8, 15},
		{32, 1 << 31, p32 - 1}, {33, p32, 1<<33 - 1}, {64, p63, maxU},
	}
	for _, tt := range tests {
		low, last := Log2Range(tt.i)
		if low != tt.low || last != tt.last {
			t.Errorf("Log2Range(%d) = %d, %d; want %d, %d", tt.i, low, last, tt.low, tt.last)
		}
	}
}

func TestLogLinearIndex(t *testing.T) {
	tests := []struct {
		v    uint64
		want int
	}{
		{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}, {7, 7}, {8, 8}, {15, 15},
		{16, 16}, {17, 16}, {18, 17}, {31, 23}, {32, 24}, {35, 24}, {36, 25},
		{1000, 8*7 + (1000>>6)&7}, // k=9: [960,1024) -> 63
		{p32 - 1, 8*29 + 7}, {p32, 8 * 30}, {p63, 8 * 61}, {maxU, 495},
	}
	for _, tt := range tests {
		if got := LogLinearIndex(tt.v); got != tt.want {
			t.Errorf("LogLinearIndex(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
	if got := LogLinearIndex(maxU); got != LogLinearBuckets-1 {
		t.Errorf("max index %d, LogLinearBuckets %d", got, LogLinearBuckets)
	}
}

func TestLogLinearRange(t *testing.T) {
	tests := []struct {
		i         int
		low, last uint64
	}{
		{0, 0, 0}, {7, 7, 7}, {8, 8, 8}, {15, 15, 15}, {16, 16, 17}, {23, 30, 31},
		{24, 32, 35}, {63, 960, 1023}, {239, 15 << 28, p32 - 1}, {240, p32, p32 + 1<<29 - 1},
		{488, p63, p63 + 1<<60 - 1}, {495, 15 << 60, maxU},
	}
	for _, tt := range tests {
		low, last := LogLinearRange(tt.i)
		if low != tt.low || last != tt.last {
			t.Errorf("LogLinearRange(%d) = %d, %d; want %d, %d", tt.i, low, last, tt.low, tt.last)
		}
	}
}

// briefFormula is the branchy form given in the package documentation.
func briefFormula(v uint64) int {
	if v == 0 {
		return 0
	}
	k := 63 - bits.LeadingZeros64(v)
	if k < 3 {
		return int(v)
	}
	return 8*(k-2) + int((v>>(k-3))&7)
}

// TestContiguous checks that every scheme's ranges tile the value domain in
// order: each range starts right after the previous one and both ends map
// back to their index.
func TestContiguous(t *testing.T) {
	type uscheme struct {
		name  string
		n     int
		index func(uint64) int
		rng   func(int) (uint64, uint64)
	}
	for _, s := range []uscheme{
		{"log2", Log2Buckets, Log2Index, Log2Range},
		{"loglinear", LogLinearBuckets, LogLinearIndex, LogLinearRange},
	} {
		var next uint64
		for i := 0; i < s.n; i++ {
			low, last := s.rng(i)
			if low != next || last < low {
				t.Fatalf("%s: range %d = [%d, %d], want start %d", s.name, i, low, last, next)
			}
			if s.index(low) != i || s.index(last) != i {
				t.Fatalf("%s: index(%d) = %d, index(%d) = %d, want %d", s.name, low, s.index(low), last, s.index(last), i)
			}
			next = last + 1
		}
		if next != 0 { // wrapped: the last range ends at 2^64-1
			t.Errorf("%s: ranges end before 2^64-1 (next %d)", s.name, next)
		}
	}
	l := Linear{Min: -50, Max: 50, Step: 10}
	next := int64(math.MinInt64)
	for i := 0; i < l.Buckets(); i++ {
		low, last := l.Range(i)
		if low != next || l.Index(low) != i || l.Index(last) != i {
			t.Fatalf("linear: range %d = [%d, %d], want start %d", i, low, last, next)
		}
		next = last + 1
	}
	if next != math.MinInt64 {
		t.Errorf("linear: ranges end at %d", next-1)
	}
}

func randValue(r *rand.Rand) uint64 { return r.Uint64() >> r.Intn(65) }

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	lin := []Linear{{0, 100, 10}, {-1000, 1000, 20}, {-5, 5, 1}, {1 << 40, 1<<40 + 998, 1}}
	for n := 0; n < 200000; n++ {
		v := randValue(r)
		if i := Log2Index(v); !in(v, Log2Range, i) {
			t.Fatalf("log2: %d -> %d not in range", v, i)
		}
		i := LogLinearIndex(v)
		if !in(v, LogLinearRange, i) {
			t.Fatalf("loglinear: %d -> %d not in range", v, i)
		}
		if b := briefFormula(v); b != i {
			t.Fatalf("loglinear: %d -> %d, documented formula %d", v, i, b)
		}
		if w := LogLinearIndex(v + 1); v != maxU && w != i && w != i+1 {
			t.Fatalf("loglinear not monotone/contiguous at %d: %d then %d", v, i, w)
		}
		for _, l := range lin {
			x := int64(r.Uint64())
			if r.Intn(2) == 0 {
				x = l.Min - 20 + r.Int63n(l.Max-l.Min+40)
			}
			j := l.Index(x)
			lo, hi := l.Range(j)
			if x < lo || x > hi {
				t.Fatalf("%v: %d -> %d = [%d, %d]", l, x, j, lo, hi)
			}
		}
	}
}

func in(v uint64, rng func(int) (uint64, uint64), i int) bool {
	low, last := rng(i)
	return low <= v && v <= last
}

func TestLinear(t *testing.T) {
	l := Linear{Min: 0, Max: 100, Step: 10}
	if n := l.Buckets(); n != 12 {
		t.Fatalf("Buckets = %d, want 12", n)
	}
	tests := []struct {
		v    int64
		want int
	}{
		{math.MinInt64, 0}, {-1, 0}, {0, 1}, {9, 1}, {10, 2}, {99, 10}, {100, 11}, {math.MaxInt64, 11},
	}
	for _, tt := range tests {
		if got := l.Index(tt.v); got != tt.want {
			t.Errorf("Index(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
	lo, hi := l.Bounds(0)
	if lo != -math.Ldexp(1, 63) || hi != 0 {
		t.Errorf("Bounds(0) = %v, %v", lo, hi)
	}
	lo, hi = l.Bounds(11)
	if lo != 100 || hi != math.Ldexp(1, 63) {
		t.Errorf("Bounds(11) = %v, %v", lo, hi)
	}
	if lo, hi := l.Bounds(3); lo != 20 || hi != 30 {
		t.Errorf("Bounds(3) = %v, %v", lo, hi)
	}
}

func TestLinearValidate(t *testing.T) {
	tests := []struct {
		l    Linear
		want error
	}{
		{Linear{0, 100, 10}, nil},
		{Linear{-5, 5, 1}, nil},
		{Linear{0, 998, 1}, nil},
		{Linear{0, 999, 1}, ErrLinearBuckets},
		{Linear{0, 100, 0}, ErrLinearStep},
		{Linear{0, 100, -1}, ErrLinearStep},
		{Linear{100, 100, 1}, ErrLinearRange},
		{Linear{100, 0, 1}, ErrLinearRange},
		{Linear{0, 100, 30}, ErrLinearDivide},
		{Linear{math.MinInt64, 0, 1 << 62}, ErrLinearBounds},
		{Linear{0, 1<<53 + 1, 1}, ErrLinearBounds},
	}
	for _, tt := range tests {
		err := tt.l.Validate()
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%v.Validate() = %v, want %v", tt.l, err, tt.want)
		}
		if err != nil && tt.l.Buckets() != 0 {
			t.Errorf("%v.Buckets() = %d for invalid scheme", tt.l, tt.l.Buckets())
		}
	}
	if _, err := New(Linear{0, 100, 30}); !errors.Is(err, ErrLinearDivide) {
		t.Errorf("New: %v", err)
	}
}

func TestBoundsExact(t *testing.T) {
	for _, s := range []Scheme{Log2{}, LogLinear{}} {
		for i := 0; i < s.Buckets(); i++ {
			lo, hi := s.Bounds(i)
			var l, last uint64
			if _, ok := s.(Log2); ok {
				l, last = Log2Range(i)
			} else {
				l, last = LogLinearRange(i)
			}
			if lo != float64(l) || uint64(lo) != l {
				t.Fatalf("%v: Bounds(%d) low %v != %d", s, i, lo, l)
			}
			if last == maxU {
				if hi != math.Ldexp(1, 64) {
					t.Fatalf("%v: top high %v", s, hi)
				}
			} else if uint64(hi) != last+1 {
				t.Fatalf("%v: Bounds(%d) high %v != %d", s, i, hi, last+1)
			}
		}
	}
	h := &Histogram{Scheme: Log2{}}
	if err := h.Add(64, 1); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(h.Buckets())
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"index":64,"low":9223372036854775808,"high":18446744073709551616,"count":1}]`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	if !strings.Contains(Linear{1, 2, 1}.String(), "min=1") {
		t.Error(Linear{1, 2, 1}.String())
	}
}

// otelScale0Index is the exponential histogram index of v > 0 at scale 0
// as OpenTelemetry's data model computes it ("MapToIndex" for scale <= 0,
// exact for powers of two): bucket j holds (2^j, 2^(j+1)].
func otelScale0Index(v float64) int32 {
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	if frac == 0.5 {
		return int32(exp - 2) // a power of two is the upper end of its bucket
	}
	return int32(exp - 1)
}

// promBucket returns the index of the first bound that v counts in under
// Prometheus' rule (a value counts in every bucket with v <= le), as
// client_golang's Histogram.Observe finds it: sort.SearchFloat64s.
func promBucket(les []float64, v float64) int {
	for i, le := range les {
		if v <= le {
			return i
		}
	}
	return len(les)
}

func TestUpperInclusiveBoundaries(t *testing.T) {
	tests := []struct {
		v  uint64
		le float64 // the Prometheus bucket: the smallest power of two >= v
	}{
		// p63+1<<11: the first float64 above 2^63 (the oracles take float64s).
		{0, 0}, {1, 1}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {4095, 4096}, {4096, 4096}, {4097, 8192},
		{p32, 1 << 32}, {p32 + 1, 1 << 33}, {p63, 1 << 63}, {p63 + 1<<11, math.Ldexp(1, 64)}, {maxU, math.Ldexp(1, 64)},
	}
	s := Log2Upper{}
	les := make([]float64, s.Buckets())
	for i := range les {
		les[i] = s.Le(i)
	}
	for _, tt := range tests {
		i := s.Index(tt.v)
		if got := s.Le(i); got != tt.le {
			t.Errorf("Log2Upper: %d in index %d with le=%v, want le=%v", tt.v, i, got, tt.le)
		}
		if got := promBucket(les, float64(tt.v)); got != i {
			t.Errorf("Log2Upper: %d in index %d, Prometheus counts it first in le=%v (index %d)", tt.v, i, les[got], got)
		}
		j, zero := s.ExpIndex(i)
		switch {
		case tt.v == 0 && !zero:
			t.Errorf("Log2Upper: 0 in index %d, exponential index %d, want the zero bucket", i, j)
		case tt.v > 0 && (zero || j != otelScale0Index(float64(tt.v))):
			t.Errorf("Log2Upper: %d in exponential index %d (zero %v), OpenTelemetry scale 0: %d", tt.v, j, zero, otelScale0Index(float64(tt.v)))
		}
		if low, last := s.Range(i); tt.v < low || tt.v > last {
			t.Errorf("Log2Upper: %d in index %d, whose range is [%d, %d]", tt.v, i, low, last)
		}
	}
}

func TestUpperInclusiveSchemes(t *testing.T) {
	var vals []uint64
	for k := 0; k < 64; k++ {
		p := uint64(1) << k
		vals = append(vals, p-1, p, p+1, p+p/3, p+p/8, p+p/8+1)
	}
	r := rand.New(rand.NewSource(13))
	for range 2000 {
		vals = append(vals, r.Uint64()>>r.Intn(64))
	}
	vals = append(vals, maxU, maxU-1)
	for _, s := range []interface {
		Scheme
		Index(uint64) int
		Range(int) (uint64, uint64)
	}{Log2Upper{}, LogLinearUpper{}} {
		les := make([]float64, s.Buckets())
		for i := range les {
			les[i] = s.Le(i)
			if i > 0 && les[i] <= les[i-1] {
				t.Fatalf("%v: le(%d) = %v after %v", s, i, les[i], les[i-1])
			}
			low, last := s.Range(i)
			if s.Index(low) != i || s.Index(last) != i {
				t.Errorf("%v: range [%d, %d] of %d indexes to %d, %d", s, low, last, i, s.Index(low), s.Index(last))
			}
			if i > 0 {
				if _, prev := s.Range(i - 1); low != prev+1 {
					t.Errorf("%v: index %d starts at %d, index %d ended at %d", s, i, low, i-1, prev)
				}
			}
		}
		if _, last := s.Range(s.Buckets() - 1); last != maxU {
			t.Errorf("%v: the top index ends at %d", s, last)
		}
		for _, v := range vals {
			i := s.Index(v)
			if v >= 1<<53 {
				continue // float64(v) rounds: Le compared exactly below 2^53
			}
			if got := promBucket(les, float64(v)); got != i {
				t.Errorf("%v: %d in index %d (le=%v), Prometheus counts it first in le=%v", s, v, i, les[i], les[got])
			}
		}
	}
	// Every LogLinearUpper bucket nests in one Log2Upper bucket, so a
	// latency kept log-linear re-buckets exactly into powers of two.
	for i := 1; i < LogLinearUpperBuckets; i++ {
		low, last := LogLinearUpperRange(i)
		if Log2UpperIndex(low) != Log2UpperIndex(last) {
			t.Errorf("LogLinearUpper index %d [%d, %d] straddles Log2Upper %d and %d", i, low, last, Log2UpperIndex(low), Log2UpperIndex(last))
		}
	}
	if got := (LogLinearUpper{}).Le(17); got != 18 {
		t.Errorf("LogLinearUpper le(17) = %v, want 18 (16, 18]", got)
	}
}

func TestLe(t *testing.T) {
	// The floor schemes' le is the last integer they hold.
	if got := (Log2{}).Le(13); got != 8191 {
		t.Errorf("Log2 le(13) = %v, want 8191", got)
	}
	l := Linear{Min: 0, Max: 100, Step: 10}
	if got := l.Le(1); got != 9 {
		t.Errorf("%v le(1) = %v, want 9", l, got)
	}
	if got := l.Le(l.Buckets() - 1); !math.IsInf(got, 1) {
		t.Errorf("%v le(overflow) = %v, want +Inf", l, got)
	}
}
