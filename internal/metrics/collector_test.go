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

func TestMetricsCollectorHist(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: sizes, type: hist, events: x:y, value: ret, by: [comm]}
`)
	groups := []*aggregate.Group{
		// 0 → index 0; 1 → 1; [2,4) → 2; [8,16) → 4.
		{Key: comm("a"), Count: 6, Buckets: map[int]uint64{0: 1, 1: 2, 4: 3}},
		{Key: comm("b"), Count: 1, Buckets: map[int]uint64{2: 1}},
	}
	c, err := New(cfg, []Source{fakeSource(func() (*aggregate.Snapshot, error) {
		return &aggregate.Snapshot{Groups: groups}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	f := gather(t, c)["bpftrail_sizes"]
	if f.GetType() != dto.MetricType_HISTOGRAM || !strings.Contains(f.GetHelp(), "estimated from the bucket midpoints") {
		t.Fatalf("family %v", f)
	}
	hists := map[string]*dto.Histogram{}
	for _, m := range f.GetMetric() {
		hists[label(m, "comm")] = m.GetHistogram()
	}
	// Every series shows the family's range, indexes 0..4: le 1, 2, 4, 8, 16.
	wantA := [][2]float64{{1, 1}, {2, 3}, {4, 3}, {8, 3}, {16, 6}}
	if got := buckets(hists["a"]); !equal(got, wantA) {
		t.Errorf("a buckets %v, want %v", got, wantA)
	}
	if hists["a"].GetSampleCount() != 6 || hists["a"].GetSampleSum() != 0*1+1*2+11.5*3 {
		t.Errorf("a count %d sum %v", hists["a"].GetSampleCount(), hists["a"].GetSampleSum())
	}
	wantB := [][2]float64{{1, 0}, {2, 0}, {4, 1}, {8, 1}, {16, 1}}
	if got := buckets(hists["b"]); !equal(got, wantB) {
		t.Errorf("b buckets %v, want %v", got, wantB)
	}
	if hists["b"].GetSampleSum() != 2.5 {
		t.Errorf("b sum %v, want 2.5", hists["b"].GetSampleSum())
	}
	// The range only grows: once b's value leaves, le=16 stays.
	groups = []*aggregate.Group{{Key: comm("b"), Count: 1, Buckets: map[int]uint64{2: 1}}}
	f = gather(t, c)["bpftrail_sizes"]
	if got := buckets(f.GetMetric()[0].GetHistogram()); !equal(got, wantB) {
		t.Errorf("after shrink: %v, want %v", got, wantB)
	}
}

func TestMetricsCollectorLinear(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: sizes, type: hist, events: x:y, value: v, buckets: linear, min: 0, max: 30, step: 10}
`)
	// Indexes: 0 (<0), 1 [0,10), 2 [10,20), 3 [20,30), 4 (>=30, +Inf).
	c, _ := New(cfg, []Source{snap(&aggregate.Group{Count: 10, Buckets: map[int]uint64{0: 1, 1: 2, 3: 3, 4: 4}})})
	h := gather(t, c)["bpftrail_sizes"].GetMetric()[0].GetHistogram()
	want := [][2]float64{{0, 1}, {10, 3}, {20, 3}, {30, 6}}
	if got := buckets(h); !equal(got, want) {
		t.Errorf("buckets %v, want %v", got, want)
	}
	if h.GetSampleCount() != 10 || h.GetSampleSum() != 0+2*4.5+3*24.5+4*30 {
		t.Errorf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestMetricsCollectorLatency(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: fine_seconds, type: latency, from: x:y, to: x:z}
  - {name: coarse_seconds, type: latency, from: x:y, to: x:z, buckets: log2}
`)
	// LogLinear: 5 → 5 {5}; 1000 = 0b1111101000, k=9: 8*7+((1000>>6)&7)=56+7=63,
	// [960, 1024); 1100: k=10, 8*8+((1100>>7)&7)=64+0=64, [1024, 1152).
	g := &aggregate.Group{Count: 3, Sum: 5 + 1000 + 1100, Buckets: map[int]uint64{5: 1, 63: 1, 64: 1}}
	src := fakeSource(func() (*aggregate.Snapshot, error) {
		return &aggregate.Snapshot{Groups: []*aggregate.Group{g}, Unmatched: 9}, nil
	})
	c, _ := New(cfg, []Source{src, src})
	fams := gather(t, c)
	fine := fams["bpftrail_fine_seconds"].GetMetric()[0].GetHistogram()
	if fine.GetSampleCount() != 3 || fine.GetSampleSum() != 2105/1e9 {
		t.Errorf("fine count %d sum %v", fine.GetSampleCount(), fine.GetSampleSum())
	}
	b := buckets(fine)
	if len(b) != 64-5+1 || b[0] != [2]float64{6e-9, 1} || b[len(b)-2] != [2]float64{1024e-9, 2} || b[len(b)-1] != [2]float64{1152e-9, 3} {
		t.Errorf("fine buckets: %d, first %v, last two %v", len(b), b[0], b[len(b)-2:])
	}
	coarse := fams["bpftrail_coarse_seconds"].GetMetric()[0].GetHistogram()
	// Log2: 5 → [4,8) le 8; 1000 → [512,1024) le 1024; 1100 → [1024,2048) le 2048.
	want := [][2]float64{{8e-9, 1}, {16e-9, 1}, {32e-9, 1}, {64e-9, 1}, {128e-9, 1}, {256e-9, 1}, {512e-9, 1}, {1024e-9, 2}, {2048e-9, 3}}
	if got := buckets(coarse); !equal(got, want) {
		t.Errorf("coarse buckets %v, want %v", got, want)
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
