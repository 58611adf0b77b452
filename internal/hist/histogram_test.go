package hist

import (
	"encoding/json"
	"math"
	"testing"
)

func mustAdd(t *testing.T, h *Histogram, index int, count uint64) {
	t.Helper()
	if err := h.Add(index, count); err != nil {
		t.Fatal(err)
	}
}

func TestHistogramBasics(t *testing.T) {
	h := &Histogram{Scheme: Log2{}}
	if h.Total() != 0 || h.Buckets() != nil || h.Percentile(50) != 0 {
		t.Fatal("empty histogram not empty")
	}
	mustAdd(t, h, 3, 2)
	mustAdd(t, h, 5, 1)
	mustAdd(t, h, 3, 1)
	if err := h.Add(65, 1); err == nil {
		t.Error("Add(65) succeeded")
	}
	if err := h.Add(-1, 1); err == nil {
		t.Error("Add(-1) succeeded")
	}
	if got := h.Total(); got != 4 {
		t.Errorf("Total = %d", got)
	}
	want := []Bucket{{3, 4, 8, 3}, {4, 8, 16, 0}, {5, 16, 32, 1}}
	got := h.Buckets()
	if len(got) != len(want) {
		t.Fatalf("Buckets = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Buckets[%d] = %v, want %v", i, got[i], want[i])
		}
	}

	o := &Histogram{Scheme: Log2{}}
	mustAdd(t, o, 0, 5)
	mustAdd(t, o, 3, math.MaxUint64)
	if err := h.Merge(o); err != nil {
		t.Fatal(err)
	}
	if h.Counts[0] != 5 || h.Counts[3] != math.MaxUint64 || h.Total() != math.MaxUint64 {
		t.Errorf("after merge: %v total %d", h.Counts[:6], h.Total())
	}
	if err := h.Merge(&Histogram{Scheme: LogLinear{}}); err == nil {
		t.Error("merged loglinear into log2")
	}
	if err := h.Merge(&Histogram{Scheme: Log2{}, Counts: make([]uint64, 3)}); err == nil {
		t.Error("merged short counts")
	}
	l1, l2 := &Histogram{Scheme: Linear{0, 10, 1}}, &Histogram{Scheme: Linear{0, 10, 1}}
	mustAdd(t, l2, 11, 1)
	if err := l1.Merge(l2); err != nil || l1.Counts[11] != 1 {
		t.Errorf("linear merge: %v %v", err, l1.Counts)
	}
	if err := l1.Merge(&Histogram{Scheme: Linear{0, 10, 2}}); err == nil {
		t.Error("merged different linear schemes")
	}
	if err := (&Histogram{}).Add(0, 1); err == nil {
		t.Error("Add without scheme succeeded")
	}
}

func TestLinearJSON(t *testing.T) {
	h, err := New(Linear{Min: -10, Max: 10, Step: 10})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, h, h.Scheme.(Linear).Index(-11), 1)
	mustAdd(t, h, h.Scheme.(Linear).Index(10), 2)
	b, err := json.Marshal(h.Buckets())
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"index":0,"low":-9223372036854775808,"high":-10,"count":1},` +
		`{"index":1,"low":-10,"high":0,"count":0},{"index":2,"low":0,"high":10,"count":0},` +
		`{"index":3,"low":10,"high":9223372036854775808,"count":2}]`
	if string(b) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", b, want)
	}
	var back []Bucket
	if err := json.Unmarshal(b, &back); err != nil || back[0].Low != -math.Ldexp(1, 63) || back[3].Count != 2 {
		t.Errorf("round trip: %v %v", back, err)
	}
}

func TestPercentile(t *testing.T) {
	// 1..10 once each: LogLinear buckets below 16 hold single values, so
	// percentiles are exact.
	h := &Histogram{Scheme: LogLinear{}}
	for v := uint64(1); v <= 10; v++ {
		mustAdd(t, h, LogLinearIndex(v), 1)
	}
	// 990 samples of 5 ns and 10 of 1000 ns (bucket [960, 1024)).
	tail := &Histogram{Scheme: LogLinear{}}
	mustAdd(t, tail, LogLinearIndex(5), 990)
	mustAdd(t, tail, LogLinearIndex(1000), 10)
	// Log2: 4 samples in [4, 8), 4 in [8, 16).
	l2 := &Histogram{Scheme: Log2{}}
	mustAdd(t, l2, 3, 4)
	mustAdd(t, l2, 4, 4)
	lin := &Histogram{Scheme: Linear{Min: 0, Max: 100, Step: 10}}
	mustAdd(t, lin, 0, 1)  // < 0
	mustAdd(t, lin, 3, 2)  // [20, 30)
	mustAdd(t, lin, 11, 1) // >= 100

	tests := []struct {
		name string
		h    *Histogram
		p    float64
		want float64
	}{
		{"exact p0", h, 0, 1},
		{"exact p10", h, 10, 1},
		{"exact p50", h, 50, 5},
		{"exact p51", h, 51, 6},
		{"exact p90", h, 90, 9},
		{"exact p99", h, 99, 10},
		{"exact p100", h, 100, 10},
		{"clamp high p", h, 150, 10},
		{"clamp low p", h, -1, 1},
		{"nan p", h, math.NaN(), 1},
		{"tail p50", tail, 50, 5},
		{"tail p99", tail, 99, 5},
		{"tail p99.5", tail, 99.5, 960 + 64*0.5}, // rank 995: 5 of 10 into [960,1024)
		{"tail p99.9", tail, 99.9, 960 + 64*0.9},
		{"tail p100", tail, 100, 1023},
		{"log2 p25", l2, 25, 4 + 4*0.5},
		{"log2 p50", l2, 50, 7},         // rank 4 ends bucket [4,8): clamped to 7
		{"log2 p75", l2, 75, 8 + 8*0.5}, // 2 of 4 into [8,16)
		{"log2 p62.5", l2, 62.5, 8 + 8*0.25},
		{"linear underflow", lin, 10, -1},
		{"linear p50", lin, 50, 20 + 10*0.5},
		{"linear overflow", lin, 100, 100},
	}
	for _, tt := range tests {
		if got := tt.h.Percentile(tt.p); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Percentile(%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	var s Summary
	if s.Avg() != 0 || s.Clamp(7) != 7 {
		t.Fatal("empty summary")
	}
	h := &Histogram{Scheme: LogLinear{}}
	for _, v := range []uint64{100, 200, 300, 400, 1000} {
		s.Add(v)
		mustAdd(t, h, LogLinearIndex(v), 1)
	}
	if s != (Summary{Count: 5, Sum: 2000, Min: 100, Max: 1000}) || s.Avg() != 400 {
		t.Errorf("summary %+v avg %v", s, s.Avg())
	}
	var m Summary
	m.Merge(Summary{})
	m.Merge(Summary{Count: 1, Sum: 50, Min: 50, Max: 50})
	m.Merge(s)
	if m != (Summary{Count: 6, Sum: 2050, Min: 50, Max: 1000}) {
		t.Errorf("merged %+v", m)
	}
	lat := Summarize(h, s)
	// p50: rank 2.5 -> 0.5 into 300's bucket [288, 320) = 304.
	// p99: rank 4.95 -> 0.95 into [960, 1024) = 1020.8, clamped to max 1000.
	if lat.Avg != 400 || lat.P50 != 304 || lat.P99 != 1000 || lat.Count != 5 {
		t.Errorf("Summarize = %+v", lat)
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		v    uint64
		unit string
		want float64
	}{
		{1500, "ns", 1500}, {1500, "us", 1.5}, {2500000, "ms", 2.5}, {3e9, "s", 3}, {7, "bogus", 7},
	}
	for _, tt := range tests {
		if got := Scale(tt.v, tt.unit); got != tt.want {
			t.Errorf("Scale(%d, %q) = %v, want %v", tt.v, tt.unit, got, tt.want)
		}
	}
	if u, err := ParseUnit("us"); err != nil || u.Label != "usecs" || u.Factor != 1000 {
		t.Errorf("ParseUnit(us) = %+v, %v", u, err)
	}
	if _, err := ParseUnit("sec"); err == nil {
		t.Error("ParseUnit(sec) succeeded")
	}
}
