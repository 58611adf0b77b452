package metrics

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

// fakeSource returns snapshots from a function.
type fakeSource func() (*aggregate.Snapshot, error)

func (f fakeSource) Read() (*aggregate.Snapshot, error) { return f() }

func snap(groups ...*aggregate.Group) fakeSource {
	return func() (*aggregate.Snapshot, error) { return &aggregate.Snapshot{Groups: groups}, nil }
}

func comm(s string) record.Key { return record.Key{{Name: "comm", Str: s}} }

// gather collects c through a registry, as a scrape does.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func parse(t *testing.T, y string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(y), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// buckets returns a histogram's (upper bound, cumulative count) pairs.
func buckets(h *dto.Histogram) [][2]float64 {
	var out [][2]float64
	for _, b := range h.GetBucket() {
		out = append(out, [2]float64{b.GetUpperBound(), float64(b.GetCumulativeCount())})
	}
	return out
}

func TestMetricsCollectorCounts(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: opens_total, type: count, events: x:y, by: [comm, pid]}
  - {name: all_total, type: count, events: x:y}
`)
	key := func(c string, pid int64) record.Key {
		return record.Key{{Name: "comm", Str: c}, {Name: "pid", Int: pid, IsInt: true}}
	}
	c, err := New(cfg, []Source{
		func() fakeSource {
			return func() (*aggregate.Snapshot, error) {
				return &aggregate.Snapshot{MapFull: 3, Groups: []*aggregate.Group{
					{Key: key("cat", 42), Count: 37},
					{Key: key("sh", -1), Count: 5},
					{Key: key("bad\xffname", 7), Count: 1},
					{Key: key("bad\xfename", 7), Count: 2}, // same labels once made UTF-8: merged
				}}, nil
			}
		}(),
		snap(), // nothing counted yet: a zero series
	})
	if err != nil {
		t.Fatal(err)
	}
	fams := gather(t, c)
	f := fams["bpftrail_opens_total"]
	if f == nil || f.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("bpftrail_opens_total: %v", f)
	}
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		got[label(m, "comm")+"/"+label(m, "pid")] = m.GetCounter().GetValue()
	}
	want := map[string]float64{"cat/42": 37, "sh/-1": 5, "bad\uFFFDname/7": 3}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	all := fams["bpftrail_all_total"]
	if len(all.GetMetric()) != 1 || all.GetMetric()[0].GetCounter().GetValue() != 0 {
		t.Errorf("bpftrail_all_total = %v, want one zero series", all)
	}
	full := map[string]float64{}
	for _, m := range fams[MapFullName].GetMetric() {
		full[label(m, "metric")] = m.GetCounter().GetValue()
	}
	if full["opens_total"] != 3 || full["all_total"] != 0 || len(full) != 2 {
		t.Errorf("%s = %v", MapFullName, full)
	}
	if _, ok := fams[UnmatchedName]; ok {
		t.Errorf("%s exposed without latency metrics", UnmatchedName)
	}
}

// kernelGroup is what the kernel keeps for vals under scheme s: the count
// per bucket index, the count and the wrapping u64 sum (signed values
// sign-extended, negative ones in bucket 0 of the log schemes).
func kernelGroup(s hist.Scheme, key record.Key, vals ...int64) *aggregate.Group {
	g := &aggregate.Group{Key: key, Buckets: map[int]uint64{}}
	for _, v := range vals {
		var i int
		switch s := s.(type) {
		case hist.Linear:
			i = s.Index(v)
		case hist.Log2Upper:
			i = s.Index(uint64(max(v, 0)))
		case hist.LogLinearUpper:
			i = s.Index(uint64(max(v, 0)))
		}
		g.Buckets[i]++
		g.Count++
		g.Sum += uint64(v)
	}
	return g
}

// oracle observes vals (divided by div) in a client_golang histogram with
// the bounds les, which counts them by Prometheus' rule, and returns its
// buckets and sum.
func oracle(t *testing.T, les []float64, div float64, vals ...float64) ([][2]float64, float64) {
	t.Helper()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "oracle", Buckets: les})
	for _, v := range vals {
		h.Observe(v / div)
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return buckets(m.GetHistogram()), m.GetHistogram().GetSampleSum()
}

// les returns the finite upper bounds of a histogram.
func les(h *dto.Histogram) []float64 {
	var out []float64
	for _, b := range h.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			out = append(out, b.GetUpperBound())
		}
	}
	return out
}

// checkOracle compares a series with what client_golang makes of the same
// values in the same bounds.
func checkOracle(t *testing.T, name string, h *dto.Histogram, div float64, vals ...float64) {
	t.Helper()
	want, sum := oracle(t, les(h), div, vals...)
	if got := buckets(h); !equal(got, want) {
		t.Errorf("%s: buckets %v\nPrometheus counts %v", name, got, want)
	}
	if h.GetSampleSum() != sum || h.GetSampleCount() != uint64(len(vals)) {
		t.Errorf("%s: count %d sum %v, want %d and %v", name, h.GetSampleCount(), h.GetSampleSum(), len(vals), sum)
	}
}

// cumulativeAt returns the cumulative count of the bucket le of h.
func cumulativeAt(t *testing.T, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Errorf("no bucket le=%v in %v", le, buckets(h))
	return 0
}

func floats(vals []int64) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = float64(v)
	}
	return out
}

func TestMetricsCollectorHist(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: sizes, type: hist, events: x:y, value: ret, by: [comm]}
`)
	if cfg.Metrics[0].Scheme() != (hist.Log2Upper{}) || !cfg.Metrics[0].Aggregation().Sum {
		t.Fatalf("a hist's kernel scheme %v, sum %v", cfg.Metrics[0].Scheme(), cfg.Metrics[0].Aggregation().Sum)
	}
	s := hist.Log2Upper{}
	a := []int64{0, 1, 2, 3, 4, 4095, 4096, 4096, 4097}
	b := []int64{-5, 3, 1 << 40}
	groups := []*aggregate.Group{kernelGroup(s, comm("a"), a...), kernelGroup(s, comm("b"), b...)}
	c, err := New(cfg, []Source{fakeSource(func() (*aggregate.Snapshot, error) {
		// The value is signed: b's sum is the int64 -5+3+2^40.
		return &aggregate.Snapshot{Signed: true, Groups: groups}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	f := gather(t, c)["bpftrail_sizes"]
	if f.GetType() != dto.MetricType_HISTOGRAM || strings.Contains(f.GetHelp(), "estimated") {
		t.Fatalf("family %v", f)
	}
	hists := map[string]*dto.Histogram{}
	for _, m := range f.GetMetric() {
		hists[label(m, "comm")] = m.GetHistogram()
	}
	checkOracle(t, "a", hists["a"], 1, floats(a)...)
	checkOracle(t, "b", hists["b"], 1, floats(b)...)
	// Exactly 4096 counts in le="4096": (2048, 4096] holds 4095 and 4096.
	for le, want := range map[float64]uint64{0: 1, 1: 2, 2: 3, 4: 5, 2048: 5, 4096: 8, 8192: 9} {
		if got := cumulativeAt(t, hists["a"], le); got != want {
			t.Errorf("a{le=%v} = %d, want %d", le, got, want)
		}
	}
	if got := hists["a"].GetSampleSum(); got != 0+1+2+3+4+4095+4096+4096+4097 {
		t.Errorf("a sum %v, want the exact sum 16394", got)
	}
	if got := hists["b"].GetSampleSum(); got != -5+3+1<<40 {
		t.Errorf("b sum %v, want %v", got, -5+3+1<<40)
	}
	// Every series shows the family's range, from le=0 to le=2^40.
	if got := les(hists["b"]); len(got) != 42 || got[0] != 0 || got[41] != 1<<40 {
		t.Errorf("b's bounds %v, want 0, 1, 2, 4, ..., 2^40", got)
	}
	// The range only grows: with only a value 3 left, le=0 and le=2^40 stay.
	groups = []*aggregate.Group{kernelGroup(s, comm("b"), 3)}
	h := gather(t, c)["bpftrail_sizes"].GetMetric()[0].GetHistogram()
	if got := les(h); len(got) != 42 || cumulativeAt(t, h, 4) != 1 || cumulativeAt(t, h, 1<<40) != 1 {
		t.Errorf("after shrink: %v", buckets(h))
	}
}

func TestMetricsCollectorHistMax(t *testing.T) {
	// The largest u64 counts in the top bucket, le = 2^64 (as float64s
	// compare it: 2^64-1 rounds to 2^64), and 2^63 in le = 2^63.
	cfg := parse(t, `metrics:
  - {name: sizes, type: hist, events: x:y, value: ret}
`)
	maxU := ^uint64(0)
	g := &aggregate.Group{Count: 2, Sum: 1 << 63, Buckets: map[int]uint64{hist.Log2UpperIndex(maxU): 1, hist.Log2UpperIndex(1 << 63): 1}}
	g.Sum += maxU // wraps, as the kernel's sum does
	c, _ := New(cfg, []Source{snap(g)})
	h := gather(t, c)["bpftrail_sizes"].GetMetric()[0].GetHistogram()
	want, _ := oracle(t, les(h), 1, float64(maxU), 1<<63)
	if got := buckets(h); !equal(got, want) || len(got) != 2 {
		t.Errorf("buckets %v, Prometheus counts %v", got, want)
	}
}

func TestMetricsCollectorLinear(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: sizes, type: hist, events: x:y, value: v, buckets: linear, min: 0, max: 30, step: 10}
`)
	// Buckets (-Inf, 0], (0, 10], (10, 20], (20, 30], (30, +Inf).
	vals := []int64{-3, 0, 5, 10, 11, 20, 30, 31, 100}
	c, _ := New(cfg, []Source{fakeSource(func() (*aggregate.Snapshot, error) {
		return &aggregate.Snapshot{Signed: true, Groups: []*aggregate.Group{kernelGroup(cfg.Metrics[0].Scheme(), nil, vals...)}}, nil
	})})
	h := gather(t, c)["bpftrail_sizes"].GetMetric()[0].GetHistogram()
	want := [][2]float64{{0, 2}, {10, 4}, {20, 6}, {30, 7}} // +Inf: 9, the count
	if got := buckets(h); !equal(got, want) {
		t.Errorf("buckets %v, want %v", got, want)
	}
	checkOracle(t, "linear", h, 1, floats(vals)...)
}

func TestMetricsCollectorLatency(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: fine_seconds, type: latency, from: x:y, to: x:z}
  - {name: coarse_seconds, type: latency, from: x:y, to: x:z, buckets: log2}
`)
	vals := []int64{5, 16, 17, 18, 1000, 1024, 1100}
	mk := func(s hist.Scheme) fakeSource {
		return func() (*aggregate.Snapshot, error) {
			return &aggregate.Snapshot{Groups: []*aggregate.Group{kernelGroup(s, nil, vals...)}, Unmatched: 9}, nil
		}
	}
	c, _ := New(cfg, []Source{mk(cfg.Metrics[0].Scheme()), mk(cfg.Metrics[1].Scheme())})
	fams := gather(t, c)
	fine := fams["bpftrail_fine_seconds"].GetMetric()[0].GetHistogram()
	coarse := fams["bpftrail_coarse_seconds"].GetMetric()[0].GetHistogram()
	checkOracle(t, "fine", fine, 1e9, floats(vals)...)
	checkOracle(t, "coarse", coarse, 1e9, floats(vals)...)
	// Log-linear: ..., (16, 18], ..., (960, 1024], (1024, 1152]: 18 ns
	// and 1024 ns count in the buckets they bound.
	for le, want := range map[float64]uint64{5e-9: 1, 16e-9: 2, 18e-9: 4, 1024e-9: 6, 1152e-9: 7} {
		if got := cumulativeAt(t, fine, le); got != want {
			t.Errorf("fine{le=%v} = %d, want %d", le, got, want)
		}
	}
	if b := buckets(fine); b[0][0] != 5e-9 || b[len(b)-1][0] != 1152e-9 {
		t.Errorf("fine buckets from %v to %v, want 5e-09 to 1.152e-06", b[0], b[len(b)-1])
	}
	want := [][2]float64{{8e-9, 1}, {16e-9, 2}, {32e-9, 4}, {64e-9, 4}, {128e-9, 4}, {256e-9, 4}, {512e-9, 4}, {1024e-9, 6}, {2048e-9, 7}}
	if got := buckets(coarse); !equal(got, want) {
		t.Errorf("coarse buckets %v, want %v", got, want)
	}
	if coarse.GetSampleSum() != 3180/1e9 {
		t.Errorf("coarse sum %v, want %v", coarse.GetSampleSum(), 3180/1e9)
	}
	un := map[string]float64{}
	for _, m := range fams[UnmatchedName].GetMetric() {
		un[label(m, "metric")] = m.GetCounter().GetValue()
	}
	if un["fine_seconds"] != 9 || un["coarse_seconds"] != 9 {
		t.Errorf("%s = %v", UnmatchedName, un)
	}
}

func equal(a, b [][2]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i][0]-b[i][0]) > 1e-12*math.Abs(b[i][0]) || a[i][1] != b[i][1] {
			return false
		}
	}
	return true
}

func TestMetricsCollectorReadError(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: broken_total, type: count, events: x:y}
  - {name: fine_total, type: count, events: x:y}
`)
	c, _ := New(cfg, []Source{
		fakeSource(func() (*aggregate.Snapshot, error) { return nil, errors.New("map gone") }),
		snap(&aggregate.Group{Count: 4}),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(reg, cfg, nil)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "bpftrail_fine_total 4\n") || strings.Contains(body, "bpftrail_broken_total ") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	code, body = get("/")
	if code != 200 || !strings.Contains(body, `href="/metrics"`) || !strings.Contains(body, "bpftrail_broken_total") {
		t.Errorf("/: %d\n%s", code, body)
	}
	if code, _ = get("/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
}
