package main

// A real Prometheus server (Debian's prometheus binary, run by the test on
// loopback with its own configuration and storage, never the packaged
// service) scrapes "bpftrail metrics" while the workload writes buffers of
// known sizes; the counters, buckets, _sum and histogram_quantile read
// back through Prometheus' HTTP API must be the known values. It needs
// root and prometheus: bpftest skips it elsewhere and fails it under
// CI=true.

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/hist"
)

// promWrites is the workload: write(2) calls of each size, so chosen that
// the ranks of the quantiles checked below fall on bucket edges: 128
// writes, 96 of them (0.75) of at most 4096 bytes, 16 (0.125) of at most 1.
var promWrites = []struct{ size, n int }{{0, 8}, {1, 8}, {4095, 16}, {4096, 64}, {4097, 32}}

// freePort returns a loopback address with a port that was free a moment
// ago (prometheus needs a port number; bpftrail gets one too so that the
// scrape configuration can be written before it starts).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHTTP waits until GET url answers 200.
func waitHTTP(t *testing.T, p *proc, url string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(runTimeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.exited() || time.Now().After(deadline) {
			p.kill()
			t.Fatalf("%s: no answer at %s (%v); stderr:\n%s", p.cmd.Path, url, err, p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promSample is one element of an instant vector.
type promSample struct {
	labels map[string]string
	value  float64
}

// promQuery runs an instant PromQL query through the HTTP API.
func promQuery(t *testing.T, base, query string) []promSample {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" {
		t.Fatalf("query %s: %s %s (%s)", query, r.Status, r.Error, r.Data.ResultType)
	}
	var out []promSample
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", query, s.Value[1], err)
		}
		out = append(out, promSample{s.Metric, v})
	}
	return out
}

// promValue runs a query that must give one sample, and returns its value.
func promValue(t *testing.T, base, query string) float64 {
	t.Helper()
	s := promQuery(t, base, query)
	if len(s) != 1 {
		t.Fatalf("query %s: %d samples, want 1: %v", query, len(s), s)
	}
	return s[0].value
}

func TestBPFMetricsPrometheus(t *testing.T) {
	bpftest.Require(t)
	promBin := bpftest.RequireTool(t, "prometheus")
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := t.TempDir()

	var args []string
	var count, sum int
	for _, w := range promWrites {
		args = append(args, fmt.Sprintf("%d=%d", w.size, w.n))
		count += w.n
		sum += w.size * w.n
	}
	w := startWorkload(t, append([]string{"write"}, args...)...)
	pid := w.cmd.Process.Pid

	// Only the workload's writes to its fd 77 (/dev/null) count: other
	// tests may run at the same time.
	filter := fmt.Sprintf("pid == %d && fd == 77", pid)
	conf := filepath.Join(dir, "metrics.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `metrics:
  - name: promtest_writes_total
    type: count
    events: ["syscalls:sys_enter_write"]
    filter: '%s'
  - name: promtest_write_bytes
    type: hist
    events: ["syscalls:sys_enter_write"]
    value: count
    filter: '%s'
  - name: promtest_write_seconds
    type: latency
    from: ["syscalls:sys_enter_write"]
    to: ["syscalls:sys_exit_write"]
    filter: 'pid == %d'
    from_filter: 'fd == 77'
`, filter, filter, pid), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freePort(t)
	m := start(t, bpftrailBn, "metrics", "-f", conf, "--listen", metricsAddr)
	defer m.interrupt(t)
	waitHTTP(t, m, "http://"+metricsAddr+"/metrics")

	promAddr := freePort(t)
	promConf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promConf, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: bpftrail
    static_configs:
      - targets: [%q]
`, metricsAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := start(t, promBin, "--config.file="+promConf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	defer prom.interrupt(t)
	base := "http://" + promAddr
	waitHTTP(t, prom, base+"/-/ready")

	w.run(t)
	done := float64(time.Now().UnixNano()) / 1e9

	// Wait for a scrape that began after the workload ended: its samples
	// hold every write.
	deadline := time.Now().Add(runTimeout)
	for {
		s := promQuery(t, base, `timestamp(up{job="bpftrail"} == 1)`)
		if len(s) == 1 && s[0].value > done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful scrape after the workload within %s: %v\nbpftrail metrics:\n%s", runTimeout, s, m.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	if got := promValue(t, base, "bpftrail_promtest_writes_total"); got != float64(count) {
		t.Errorf("bpftrail_promtest_writes_total = %v, want %d", got, count)
	}
	if got := promValue(t, base, "bpftrail_promtest_write_bytes_count"); got != float64(count) {
		t.Errorf("bpftrail_promtest_write_bytes_count = %v, want %d", got, count)
	}
	if got := promValue(t, base, "bpftrail_promtest_write_bytes_sum"); got != float64(sum) {
		t.Errorf("bpftrail_promtest_write_bytes_sum = %v, want the exact %d", got, sum)
	}

	// Every bucket holds the writes of at most le bytes, Prometheus' rule.
	got := map[float64]float64{}
	for _, s := range promQuery(t, base, "bpftrail_promtest_write_bytes_bucket") {
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil {
			t.Fatalf("bucket le=%q: %v", s.labels["le"], err)
		}
		got[le] = s.value
	}
	var les []float64
	for le := range got {
		les = append(les, le)
	}
	sort.Float64s(les)
	for _, le := range les {
		want := 0
		for _, w := range promWrites {
			if float64(w.size) <= le {
				want += w.n
			}
		}
		if got[le] != float64(want) {
			t.Errorf("bpftrail_promtest_write_bytes_bucket{le=\"%v\"} = %v, want %d (the writes of at most %v bytes)", le, got[le], want, le)
		}
	}
	for _, le := range []float64{0, 1, 2048, 4096, 8192, math.Inf(1)} {
		if _, ok := got[le]; !ok {
			t.Errorf("no bucket le=\"%v\" among %v", le, les)
		}
	}

	// histogram_quantile interpolates inside a bucket; at a bucket's
	// upper edge it gives the bound, which the known values reach.
	for _, q := range []struct{ q, want float64 }{{0.0625, 0}, {0.125, 1}, {0.75, 4096}} {
		query := fmt.Sprintf("histogram_quantile(%v, bpftrail_promtest_write_bytes_bucket)", q.q)
		if got := promValue(t, base, query); got != q.want {
			t.Errorf("%s = %v, want %v", query, got, q.want)
		}
	}
	// The latencies of the same writes: every one counted and matched, in
	// seconds, with the log-linear bounds (16, 18], ... ns as le.
	if got := promValue(t, base, "bpftrail_promtest_write_seconds_count"); got != float64(count) {
		t.Errorf("bpftrail_promtest_write_seconds_count = %v, want %d", got, count)
	}
	if got := promValue(t, base, `bpftrail_latency_unmatched_total{metric="promtest_write_seconds"}`); got != 0 {
		t.Errorf("unmatched write latencies: %v", got)
	}
	bounds := map[float64]bool{}
	for i := 0; i < hist.LogLinearUpperBuckets; i++ {
		bounds[hist.LogLinearUpper{}.Le(i)/1e9] = true
	}
	lat := promQuery(t, base, "bpftrail_promtest_write_seconds_bucket")
	for _, s := range lat {
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil || !bounds[le] && !math.IsInf(le, 1) {
			t.Errorf("latency bucket le=%q is no log-linear bound (%v)", s.labels["le"], err)
		}
	}
	q := promValue(t, base, "histogram_quantile(1, bpftrail_promtest_write_seconds_bucket)")
	latSum := promValue(t, base, "bpftrail_promtest_write_seconds_sum")
	if len(lat) < 2 || !bounds[q] || latSum <= 0 || latSum > q*float64(count) {
		t.Errorf("write latencies: %d buckets, max quantile %v (a bound: %v), sum %v", len(lat), q, bounds[q], latSum)
	}
	t.Logf("write latencies: %d buckets, histogram_quantile(1) %v s, sum %v s", len(lat), q, latSum)

	var b strings.Builder
	for _, le := range les {
		fmt.Fprintf(&b, " le=%v:%v", le, got[le])
	}
	t.Logf("Prometheus: %d writes, sum %d, buckets:%s", count, sum, b.String())
}
