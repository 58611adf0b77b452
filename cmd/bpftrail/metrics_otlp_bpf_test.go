package main

// A real OpenTelemetry Collector, built from the Collector's Go modules by
// scripts/otelcol.sh (OTLP receiver, file exporter), receives what
// "bpftrail metrics --otlp" pushes while the workload writes buffers of
// known sizes; the OTLP JSON the Collector writes must hold the exact
// counter, histogram count, sum and buckets. It needs root and the
// Collector: bpftest skips it elsewhere and fails it under CI=true.

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/slim/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/slim/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// otelcolPath is where scripts/otelcol.sh leaves the Collector, unless
// BPFTRAIL_OTELCOL names one.
func otelcolPath() string {
	if p := os.Getenv("BPFTRAIL_OTELCOL"); p != "" {
		return p
	}
	cache := os.Getenv("BPFTRAIL_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(dir, "bpftrail")
	}
	return filepath.Join(cache, "otelcol-v0.165.0", "otelcol-bpftrail")
}

// otlpMetrics returns the metrics of the last request in the Collector's
// file output that has a metric called name, by name.
func lastOTLP(t *testing.T, file, name string) map[string]*metricspb.Metric {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var last map[string]*metricspb.Metric
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var req colmetricspb.ExportMetricsServiceRequest
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(sc.Bytes(), &req); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, sc.Bytes())
		}
		ms := map[string]*metricspb.Metric{}
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					ms[m.Name] = m
				}
			}
			ms["resource"] = &metricspb.Metric{Metadata: rm.GetResource().GetAttributes()}
		}
		if ms[name] != nil {
			last = ms
		}
	}
	return last
}

func TestBPFMetricsOTLP(t *testing.T) {
	bpftest.Require(t)
	otelcol := bpftest.RequireFile(t, otelcolPath(), "build it with scripts/otelcol.sh, or set BPFTRAIL_OTELCOL")
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := t.TempDir()

	// The Collector: OTLP/HTTP on a loopback port of its own, every
	// request written as one line of OTLP JSON; its own telemetry off (it
	// would listen on :8888).
	colAddr := freePort(t)
	out := filepath.Join(dir, "otlp.jsonl")
	colConf := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(colConf, fmt.Appendf(nil, `receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
exporters:
  file:
    path: %s
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
`, colAddr, out), 0o644); err != nil {
		t.Fatal(err)
	}
	col := start(t, otelcol, "--config", colConf)
	defer col.interrupt(t)
	deadline := time.Now().Add(runTimeout)
	for {
		c, err := net.DialTimeout("tcp", colAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if col.exited() || time.Now().After(deadline) {
			t.Fatalf("the Collector does not listen on %s: %v\n%s", colAddr, err, col.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	var args []string
	var count, sum int
	for _, w := range promWrites {
		args = append(args, fmt.Sprintf("%d=%d", w.size, w.n))
		count += w.n
		sum += w.size * w.n
	}
	w := startWorkload(t, append([]string{"write"}, args...)...)
	pid := w.cmd.Process.Pid
	filter := fmt.Sprintf("pid == %d && fd == 77", pid)
	conf := filepath.Join(dir, "metrics.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `metrics:
  - name: otlptest_writes_total
    type: count
    events: ["syscalls:sys_enter_write"]
    filter: '%s'
  - name: otlptest_write_bytes
    type: hist
    events: ["syscalls:sys_enter_write"]
    value: count
    filter: '%s'
  - name: otlptest_write_seconds
    type: latency
    from: ["syscalls:sys_enter_write"]
    to: ["syscalls:sys_exit_write"]
    filter: 'pid == %d'
    from_filter: 'fd == 77'
`, filter, filter, pid), 0o644); err != nil {
		t.Fatal(err)
	}
	m := start(t, bpftrailBn, "metrics", "-f", conf, "--otlp", "http://"+colAddr, "--otlp-interval", "300ms")
	// The first push arrives once the programs are attached.
	for lastOTLP(t, out, "bpftrail_otlptest_writes_total") == nil {
		if m.exited() || time.Now().After(deadline) {
			t.Fatalf("no push reached the Collector\nbpftrail:\n%s\nCollector:\n%s", m.stderr.String(), col.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.run(t)
	// Ctrl-C: bpftrail pushes the last values and ends.
	if code := m.interrupt(t); code != 0 {
		t.Fatalf("bpftrail metrics: exit status %d\n%s", code, m.stderr.String())
	}
	var ms map[string]*metricspb.Metric
	for {
		ms = lastOTLP(t, out, "bpftrail_otlptest_writes_total")
		if pts := ms["bpftrail_otlptest_writes_total"].GetSum().GetDataPoints(); len(pts) == 1 && pts[0].GetAsInt() == int64(count) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out)
			t.Fatalf("the Collector never wrote the final counter %d:\n%s\nbpftrail:\n%s", count, b, m.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	res := map[string]string{}
	for _, kv := range ms["resource"].Metadata {
		res[kv.Key] = kv.Value.GetStringValue()
	}
	host, _ := os.Hostname()
	if res["service.name"] != "bpftrail" || res["host.name"] != host {
		t.Errorf("resource attributes %v, want service.name=bpftrail host.name=%s", res, host)
	}
	if s := ms["bpftrail_otlptest_writes_total"].GetSum(); !s.IsMonotonic ||
		s.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Errorf("counter: monotonic %v, temporality %v", s.IsMonotonic, s.AggregationTemporality)
	}

	eh := ms["bpftrail_otlptest_write_bytes"].GetExponentialHistogram()
	if eh == nil || len(eh.DataPoints) != 1 {
		t.Fatalf("bpftrail_otlptest_write_bytes: %v", ms["bpftrail_otlptest_write_bytes"])
	}
	dp := eh.DataPoints[0]
	if dp.Scale != 0 || dp.Count != uint64(count) || dp.GetSum() != float64(sum) {
		t.Errorf("write bytes: scale %d, count %d, sum %v; want 0, %d, the exact %d", dp.Scale, dp.Count, dp.GetSum(), count, sum)
	}
	// Bucket k holds (2^k, 2^(k+1)]: each size in the bucket whose upper
	// bound is the first power of two >= the size; 0 in zero_count.
	want := map[int32]uint64{}
	var zeros uint64
	for _, w := range promWrites {
		if w.size == 0 {
			zeros += uint64(w.n)
			continue
		}
		want[int32(math.Ceil(math.Log2(float64(w.size))))-1] += uint64(w.n)
	}
	got := map[int32]uint64{}
	for i, n := range dp.GetPositive().GetBucketCounts() {
		if n > 0 {
			got[dp.Positive.Offset+int32(i)] = n
		}
	}
	if dp.ZeroCount != zeros || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("write bytes buckets: zero %d, %v; want zero %d, %v", dp.ZeroCount, got, zeros, want)
	}
	if got[11] != 16+64 { // 4095 and 4096: (2048, 4096]
		t.Errorf("bucket (2048, 4096] = %d, want %d (the writes of 4095 and of exactly 4096 bytes)", got[11], 16+64)
	}

	lat := ms["bpftrail_otlptest_write_seconds"]
	lh := lat.GetHistogram()
	if lat.GetUnit() != "s" || lh == nil || len(lh.DataPoints) != 1 {
		t.Fatalf("bpftrail_otlptest_write_seconds: %v", lat)
	}
	lp := lh.DataPoints[0]
	var n uint64
	for _, c := range lp.BucketCounts {
		n += c
	}
	if lp.Count != uint64(count) || n != lp.Count || len(lp.BucketCounts) != len(lp.ExplicitBounds)+1 || lp.GetSum() <= 0 {
		t.Errorf("write latencies: count %d, buckets sum to %d, %d bounds, %d counts, sum %v s",
			lp.Count, n, len(lp.ExplicitBounds), len(lp.BucketCounts), lp.GetSum())
	}
	t.Logf("Collector: %d writes, sum %d, zero %d, buckets %v; latency %d in %d bounds, sum %v s",
		dp.Count, int64(dp.GetSum()), dp.ZeroCount, got, lp.Count, len(lp.ExplicitBounds), lp.GetSum())
}

// A receiver that is not there is reported on one line, retried, and
// never stops bpftrail; a bad URL is a one-line error at once.
func TestBPFMetricsOTLPUnreachable(t *testing.T) {
	bpftest.Require(t)
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	conf := filepath.Join(t.TempDir(), "metrics.yaml")
	if err := os.WriteFile(conf, []byte(`metrics:
  - name: otlpdown_total
    type: count
    events: ["syscalls:sys_enter_getppid"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t) // nothing listens there
	m := start(t, bpftrailBn, "metrics", "-f", conf, "--otlp", "http://"+addr, "--otlp-interval", "100ms")
	time.Sleep(1500 * time.Millisecond)
	if m.exited() {
		t.Fatalf("bpftrail metrics ended: %v\n%s", m.err, m.stderr.String())
	}
	if code := m.interrupt(t); code != 0 {
		t.Fatalf("bpftrail metrics: exit status %d\n%s", code, m.stderr.String())
	}
	var refused int
	for _, l := range strings.Split(m.stderr.String(), "\n") {
		if strings.Contains(l, "connection refused") {
			refused++
			if !strings.HasPrefix(l, "bpftrail: otlp: ") || !strings.Contains(l, "retrying every 100ms") {
				t.Errorf("failure line %q", l)
			}
		}
	}
	if refused != 1 {
		t.Errorf("%d lines say the connection was refused, want 1 (once until the error changes):\n%s", refused, m.stderr.String())
	}

	for _, url := range []string{"127.0.0.1:4318", "ftp://127.0.0.1/v1/metrics"} {
		p := start(t, bpftrailBn, "metrics", "-f", conf, "--otlp", url)
		code := p.wait(t)
		checkOneLineError(t, code, p.stderr.String())
		if !strings.Contains(p.stderr.String(), "--otlp") {
			t.Errorf("--otlp %s: %q does not name the flag", url, p.stderr.String())
		}
	}
}
