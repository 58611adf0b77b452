package metrics

// End-to-end test: real BPF programs behind a real HTTP server on loopback,
// a workload with a known number of system calls, and the exposition parsed
// as a Prometheus server would. It needs root; bpftest.Require skips it
// elsewhere and fails it under CI=true.

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

const (
	workloadEnv  = "BPFTRAIL_METRICS_WORKLOAD" // PATH,N: be the workload
	workloadComm = "btmetrics-wl"
	workloadN    = 37
	// workloadMode is the mode the workload passes to openat: a value only
	// its calls have, that the hist metric buckets (in [256, 512)).
	workloadMode = 0o640
)

// TestMetricsWorkload is the workload when run with workloadEnv set (and a
// no-op otherwise): on one locked thread named workloadComm, it opens PATH
// N times with openat(2) and closes it again.
func TestMetricsWorkload(t *testing.T) {
	spec := os.Getenv(workloadEnv)
	if spec == "" {
		t.Skip("only the workload of TestMetricsEndToEnd")
	}
	os.Exit(runWorkload(spec))
}

func runWorkload(spec string) int {
	runtime.LockOSThread() // comm is per thread: name the one that opens
	path, ns, _ := cutLast(spec, ',')
	n, err := strconv.Atoi(ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		return 2
	}
	name, err := unix.BytePtrFromString(workloadComm)
	if err != nil {
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(name)), 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "workload: prctl:", err)
		return 2
	}
	for range n {
		fd, err := unix.Openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_CLOEXEC, workloadMode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			return 2
		}
		unix.Close(fd)
	}
	return 0
}

func cutLast(s string, sep byte) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// startWorkload runs the test binary as the workload on path.
func startWorkload(t *testing.T, path string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMetricsWorkload$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", workloadEnv, path, n))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("workload: %v\n%s", err, out)
	}
}

// scrape fetches url and parses the text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// series returns the metric of family name whose label lname is lvalue.
func series(fams map[string]*dto.MetricFamily, name, lname, lvalue string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		if label(m, lname) == lvalue {
			return m
		}
	}
	return nil
}

// checkHistogram checks that h's buckets are cumulative, end at count and
// that the +Inf bucket (which the text format always has) equals count.
func checkHistogram(t *testing.T, name string, h *dto.Histogram, count uint64) {
	t.Helper()
	if h.GetSampleCount() != count {
		t.Errorf("%s: count %d, want %d", name, h.GetSampleCount(), count)
	}
	bs := h.GetBucket()
	if len(bs) < 2 {
		t.Fatalf("%s: %d buckets", name, len(bs))
	}
	prevLe, prevN := bs[0].GetUpperBound()-1, uint64(0)
	for _, b := range bs {
		if b.GetUpperBound() <= prevLe || b.GetCumulativeCount() < prevN {
			t.Errorf("%s: bucket le=%v count %d after le=%v count %d: not cumulative", name, b.GetUpperBound(), b.GetCumulativeCount(), prevLe, prevN)
		}
		prevLe, prevN = b.GetUpperBound(), b.GetCumulativeCount()
	}
	last := bs[len(bs)-1]
	if le := last.GetUpperBound(); !math.IsInf(le, 1) || last.GetCumulativeCount() != count {
		t.Errorf("%s: last bucket le=%v count %d, want +Inf and %d", name, le, last.GetCumulativeCount(), count)
	}
	if last2 := bs[len(bs)-2]; last2.GetCumulativeCount() != count {
		t.Errorf("%s: highest finite bucket le=%v has %d, want all %d", name, last2.GetUpperBound(), last2.GetCumulativeCount(), count)
	}
}

func TestMetricsEndToEnd(t *testing.T) {
	bpftest.Require(t)
	path := filepath.Join(t.TempDir(), "metrics-e2e-target")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`metrics:
  - name: opens_total
    help: openat calls on the test file.
    type: count
    events: ["syscalls:sys_enter_openat"]
    by: [comm]
    filter: 'filename == %q'
  - name: open_modes
    type: hist
    events: ["syscalls:sys_enter_openat"]
    value: mode
    by: [comm]
    filter: 'filename == %q'
  - name: open_seconds
    type: latency
    from: ["syscalls:sys_enter_openat"]
    to: ["syscalls:sys_exit_openat"]
    by: [comm]
    from_filter: 'filename == %q'
`, path, path, path)
	cfg, err := Parse([]byte(conf), "e2e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	col, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	reg, err := NewRegistry(col)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(reg, cfg, nil)) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	}()
	url := "http://" + ln.Addr().String() + "/metrics"

	before := scrape(t, url)
	if m := series(before, "bpftrail_opens_total", "comm", workloadComm); m != nil {
		t.Fatalf("counted before the workload ran: %v", m)
	}
	startWorkload(t, path, workloadN)
	fams := scrape(t, url) // read at scrape time: no waiting for an interval

	m := series(fams, "bpftrail_opens_total", "comm", workloadComm)
	if m == nil {
		t.Fatalf("no bpftrail_opens_total{comm=%q}; families: %v", workloadComm, fams["bpftrail_opens_total"])
	}
	if fams["bpftrail_opens_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("bpftrail_opens_total is a %v", fams["bpftrail_opens_total"].GetType())
	}
	if got := m.GetCounter().GetValue(); got != workloadN {
		t.Errorf("bpftrail_opens_total{comm=%q} = %v, want %d", workloadComm, got, workloadN)
	}
	if n := len(fams["bpftrail_opens_total"].GetMetric()); n != 1 {
		t.Errorf("bpftrail_opens_total has %d series, want 1 (only the workload opens %s)", n, path)
	}

	// Every filter names the file only the workload opens: other threads
	// (the Go runtime's, which inherit the workload's comm) count nowhere.
	for _, name := range []string{"bpftrail_open_modes", "bpftrail_open_seconds"} {
		f := fams[name]
		if f.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s is a %v, want a histogram", name, f.GetType())
			continue
		}
		m := series(fams, name, "comm", workloadComm)
		if m == nil {
			t.Errorf("no %s{comm=%q}", name, workloadComm)
			continue
		}
		checkHistogram(t, name, m.GetHistogram(), workloadN)
	}
	// Every mode is 0o640 = 416: all in the bucket [256, 512), none below.
	if h := series(fams, "bpftrail_open_modes", "comm", workloadComm).GetHistogram(); h != nil {
		for _, b := range h.GetBucket() {
			want := uint64(0)
			if b.GetUpperBound() > workloadMode {
				want = workloadN
			}
			if b.GetUpperBound() <= 256 || b.GetUpperBound() >= 512 {
				if b.GetCumulativeCount() != want {
					t.Errorf("bpftrail_open_modes{le=%v} = %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
				}
			}
		}
	}
	// The hist's sum is exact, kept in kernel.
	if h := series(fams, "bpftrail_open_modes", "comm", workloadComm).GetHistogram(); h != nil && h.GetSampleSum() != workloadN*workloadMode {
		t.Errorf("bpftrail_open_modes sum %v, want %d", h.GetSampleSum(), workloadN*workloadMode)
	}
	// The latency sum is exact: positive, and below a second per call.
	if h := series(fams, "bpftrail_open_seconds", "comm", workloadComm).GetHistogram(); h != nil {
		if s := h.GetSampleSum(); s <= 0 || s > workloadN {
			t.Errorf("bpftrail_open_seconds sum %v", s)
		}
	}
	for _, name := range []string{"opens_total", "open_modes", "open_seconds"} {
		m := series(fams, MapFullName, "metric", name)
		if m == nil || m.GetCounter().GetValue() != 0 {
			t.Errorf("%s{metric=%q} = %v, want 0", MapFullName, name, m)
		}
	}
	if m := series(fams, UnmatchedName, "metric", "open_seconds"); m == nil || m.GetCounter().GetValue() != 0 {
		t.Errorf("%s{metric=\"open_seconds\"} = %v, want 0", UnmatchedName, m)
	}

	// A second run adds up: the counter is cumulative.
	startWorkload(t, path, workloadN)
	fams = scrape(t, url)
	if m := series(fams, "bpftrail_opens_total", "comm", workloadComm); m == nil || m.GetCounter().GetValue() != 2*workloadN {
		t.Errorf("after two runs: %v, want %d", m, 2*workloadN)
	}
}

func TestMetricsOpenError(t *testing.T) {
	bpftest.Require(t)
	cfg, err := Parse([]byte(`metrics:
  - {name: fine_total, type: count, events: "syscalls:sys_enter_openat"}
  - name: broken
    type: hist
    events: "syscalls:sys_exit_read"
    value: nosuchfield
`), "open.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(cfg)
	const want = `open.yaml:3: metric "broken": --value nosuchfield: syscalls:sys_exit_read has no field "nosuchfield"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Open: %v\nwant prefix %s", err, want)
	}
}
