package metrics

import (
	"bytes"
	"context"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	colmetricspb "go.opentelemetry.io/proto/slim/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/slim/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

func TestOTLPURL(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "http://127.0.0.1:4318", want: "http://127.0.0.1:4318/v1/metrics"},
		{in: "http://127.0.0.1:4318/", want: "http://127.0.0.1:4318/v1/metrics"},
		{in: "https://otel.example:443/custom/path", want: "https://otel.example:443/custom/path"},
		{in: "127.0.0.1:4318", err: "want an http:// or https:// URL"},
		{in: "grpc://x:4317", err: "want an http:// or https:// URL"},
		{in: "http:///v1/metrics", err: "no host"},
		{in: "http://a b", err: "want an http:// or https:// URL"},
	} {
		got, err := OTLPURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("OTLPURL(%q) = %q, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("OTLPURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// log2Group buckets values as the kernel does for a Log2Upper hist.
func log2Group(key record.Key, vals ...uint64) *aggregate.Group {
	g := &aggregate.Group{Key: key, Buckets: map[int]uint64{}}
	for _, v := range vals {
		g.Buckets[hist.Log2UpperIndex(v)]++
		g.Count++
		g.Sum += v
	}
	return g
}

func otlpMetrics(t *testing.T, req *colmetricspb.ExportMetricsServiceRequest) map[string]*metricspb.Metric {
	t.Helper()
	if len(req.ResourceMetrics) != 1 || len(req.ResourceMetrics[0].ScopeMetrics) != 1 {
		t.Fatalf("request: %v", req)
	}
	out := map[string]*metricspb.Metric{}
	for _, m := range req.ResourceMetrics[0].ScopeMetrics[0].Metrics {
		out[m.Name] = m
	}
	return out
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.Key] = v.IntValue
		}
	}
	return out
}

func TestOTLPRequest(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: writes_total, type: count, events: x:y, by: [comm, pid]}
  - {name: write_bytes, type: hist, events: x:y, value: count}
  - {name: lin, type: hist, events: x:y, value: v, buckets: linear, min: 0, max: 100, step: 10}
  - {name: lat_seconds, type: latency, from: a:b, to: c:d}
`)
	key := func(c string, pid int64) record.Key {
		return record.Key{{Name: "comm", Str: c}, {Name: "pid", Int: pid, IsInt: true}}
	}
	lin := cfg.Metrics[2].Scheme().(hist.Linear)
	linG := &aggregate.Group{Buckets: map[int]uint64{}}
	for _, v := range []uint64{0, 10, 11, 100, 101, 5000} {
		linG.Buckets[lin.Index(int64(v))]++
		linG.Count++
		linG.Sum += v
	}
	latG := &aggregate.Group{Buckets: map[int]uint64{}}
	for _, v := range []uint64{1000, 1000, 20000} {
		latG.Buckets[hist.LogLinearUpperIndex(v)]++
		latG.Count++
		latG.Sum += v
	}
	c, err := New(cfg, []Source{
		func() fakeSource {
			return func() (*aggregate.Snapshot, error) {
				return &aggregate.Snapshot{MapFull: 2, Groups: []*aggregate.Group{
					{Key: key("cat", 42), Count: 37},
					{Key: key("sh", 7), Count: 5},
				}}, nil
			}
		}(),
		snap(log2Group(nil, 0, 0, 1, 4095, 4096, 4096, 4097)),
		snap(linG),
		fakeSource(func() (*aggregate.Snapshot, error) {
			return &aggregate.Snapshot{Unmatched: 4, Groups: []*aggregate.Group{latG}}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1000, 0)
	p, err := NewPusher(c, PushOptions{URL: "http://127.0.0.1:1", HostName: "h1", Version: "9.9", Start: start})
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.Request(time.Unix(1010, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := attrs(req.ResourceMetrics[0].Resource.Attributes), map[string]any{
		"service.name": "bpftrail", "host.name": "h1", "service.version": "9.9",
	}; !cmp.Equal(got, want) {
		t.Errorf("resource %v, want %v", got, want)
	}
	ms := otlpMetrics(t, req)

	sum := ms["bpftrail_writes_total"].GetSum()
	if sum == nil || !sum.IsMonotonic || sum.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Fatalf("bpftrail_writes_total: %v", ms["bpftrail_writes_total"])
	}
	counts := map[string]int64{}
	for _, dp := range sum.DataPoints {
		a := attrs(dp.Attributes)
		counts[a["comm"].(string)] = dp.GetAsInt()
		if a["pid"] == nil || dp.StartTimeUnixNano != 1000e9 || dp.TimeUnixNano != 1010e9 {
			t.Errorf("point %v", dp)
		}
	}
	if !cmp.Equal(counts, map[string]int64{"cat": 37, "sh": 5}) {
		t.Errorf("counts %v", counts)
	}

	// Scale 0: 1 in (0.5, 1] = bucket -1; 4095 and 4096 in (2048, 4096] =
	// bucket 11; 4097 in (4096, 8192] = bucket 12; the zeros in zero_count.
	eh := ms["bpftrail_write_bytes"].GetExponentialHistogram()
	if eh == nil || len(eh.DataPoints) != 1 {
		t.Fatalf("bpftrail_write_bytes: %v", ms["bpftrail_write_bytes"])
	}
	dp := eh.DataPoints[0]
	want := make([]uint64, 14)
	want[0], want[12], want[13] = 1, 3, 1
	if dp.Scale != 0 || dp.Count != 7 || dp.GetSum() != 0+0+1+4095+4096+4096+4097 || dp.ZeroCount != 2 ||
		dp.Positive.Offset != -1 || !cmp.Equal(dp.Positive.BucketCounts, want) {
		t.Errorf("exponential point: scale %d count %d sum %v zero %d offset %d buckets %v",
			dp.Scale, dp.Count, dp.GetSum(), dp.ZeroCount, dp.Positive.Offset, dp.Positive.BucketCounts)
	}
	// Every value v lands in (2^k, 2^(k+1)] with k = offset + position.
	for _, v := range []float64{1, 4095, 4096, 4097} {
		k := int32(math.Ceil(math.Log2(v))) - 1
		if dp.Positive.BucketCounts[k-dp.Positive.Offset] == 0 {
			t.Errorf("%v: bucket %d (%v, %v] empty", v, k, math.Ldexp(1, int(k)), math.Ldexp(1, int(k+1)))
		}
	}

	// Linear 0..100 step 10: upper bounds 0 (v < 1... the kernel's index 0
	// holds v <= 0), 10, 20, ..., 100, then +Inf for 101 and 5000.
	h := ms["bpftrail_lin"].GetHistogram()
	if h == nil || len(h.DataPoints) != 1 {
		t.Fatalf("bpftrail_lin: %v", ms["bpftrail_lin"])
	}
	hp := h.DataPoints[0]
	if hp.Count != 6 || hp.GetSum() != 5222 || len(hp.BucketCounts) != len(hp.ExplicitBounds)+1 {
		t.Errorf("linear point %v", hp)
	}
	for i, v := range []float64{0, 10, 11, 100, 101, 5000} {
		k := 0
		for k < len(hp.ExplicitBounds) && v > hp.ExplicitBounds[k] {
			k++
		}
		if hp.BucketCounts[k] == 0 {
			t.Errorf("value %d (%v): OTLP bucket %d empty: bounds %v counts %v", i, v, k, hp.ExplicitBounds, hp.BucketCounts)
		}
	}
	if hp.BucketCounts[len(hp.BucketCounts)-1] != 2 {
		t.Errorf("overflow bucket %v", hp.BucketCounts)
	}

	// Latencies in seconds with the log-linear bounds.
	lm := ms["bpftrail_lat_seconds"]
	lh := lm.GetHistogram()
	if lm.Unit != "s" || lh == nil || len(lh.DataPoints) != 1 {
		t.Fatalf("bpftrail_lat_seconds: %v", lm)
	}
	lp := lh.DataPoints[0]
	bottom := hist.LogLinearUpper{}.Le(hist.LogLinearUpperIndex(1000)) / 1e9
	top := hist.LogLinearUpper{}.Le(hist.LogLinearUpperIndex(20000)) / 1e9
	if lp.Count != 3 || math.Abs(lp.GetSum()-22e-6) > 1e-15 || lp.BucketCounts[0] != 2 || lp.BucketCounts[len(lp.BucketCounts)-2] != 1 ||
		lp.ExplicitBounds[0] != bottom || lp.ExplicitBounds[len(lp.ExplicitBounds)-1] != top {
		t.Errorf("latency point: count %d sum %v bounds %v counts %v", lp.Count, lp.GetSum(), lp.ExplicitBounds, lp.BucketCounts)
	}

	full := ms[MapFullName].GetSum()
	if full == nil || len(full.DataPoints) != 4 || full.DataPoints[0].GetAsInt() != 2 {
		t.Errorf("%s: %v", MapFullName, ms[MapFullName])
	}
	un := ms[UnmatchedName].GetSum()
	if un == nil || len(un.DataPoints) != 1 || un.DataPoints[0].GetAsInt() != 4 || attrs(un.DataPoints[0].Attributes)["metric"] != "lat_seconds" {
		t.Errorf("%s: %v", UnmatchedName, ms[UnmatchedName])
	}
}

// TestOTLPPush posts to a receiver that decodes the request with the
// official protobuf types, and checks that failures are logged once, then
// the recovery, and that Run pushes a last time when stopped.
func TestOTLPPush(t *testing.T) {
	cfg := parse(t, `metrics:
  - {name: n_total, type: count, events: x:y}
`)
	var (
		mu    sync.Mutex
		n     uint64
		fail  = true
		got   []*colmetricspb.ExportMetricsServiceRequest
		ctype string
	)
	c, err := New(cfg, []Source{fakeSource(func() (*aggregate.Snapshot, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		return &aggregate.Snapshot{Groups: []*aggregate.Group{{Count: n}}}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			http.Error(w, "not now\nlater", http.StatusServiceUnavailable)
			return
		}
		ctype = r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		var req colmetricspb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil || r.URL.Path != "/v1/metrics" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got = append(got, &req)
		b, _ = proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	}))
	defer srv.Close()

	var logBuf bytes.Buffer
	var logMu sync.Mutex
	lw := writerFunc(func(b []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logBuf.Write(b) })
	p, err := NewPusher(c, PushOptions{URL: srv.URL, Log: log.New(lw, "", 0), Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	fail = false
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done

	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 || ctype != "application/x-protobuf" {
		t.Fatalf("receiver got %d requests (%q)", len(got), ctype)
	}
	last := otlpMetrics(t, got[len(got)-1])["bpftrail_n_total"].GetSum().DataPoints[0].GetAsInt()
	if uint64(last) != n {
		t.Errorf("last push %d, want the last value read %d (the push at stop)", last, n)
	}
	logMu.Lock()
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	logMu.Unlock()
	if len(lines) != 2 || !strings.Contains(lines[0], "503 Service Unavailable not now later (retrying every 20ms)") ||
		!strings.Contains(lines[1], "pushing to "+srv.URL+"/v1/metrics again") {
		t.Errorf("log:\n%s", strings.Join(lines, "\n"))
	}
}

// TestOTLPUnreachable: a push to a port where nothing listens is a
// one-line error.
func TestOTLPUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(parse(t, "metrics:\n  - {name: n_total, type: count, events: x:y}\n"), []Source{snap()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPusher(c, PushOptions{URL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Push(context.Background())
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("push to a closed port: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
