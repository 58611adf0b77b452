package main

// Tests of "bpftrail metrics" as a user runs it: the built binary, a config
// file, a scrape over loopback and Ctrl-C. The end-to-end test needs root;
// bpftest.Require skips it elsewhere and fails it under CI=true.

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
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
	metricsWorkloadEnv  = "BPFTRAIL_METRICS_CMD_WORKLOAD" // PATH,N: be the workload
	metricsWorkloadComm = "btmetrics-cmd"
	metricsWorkloadN    = 37
)

// TestMetricsCmdWorkload is the workload when run with metricsWorkloadEnv
// set (and skipped otherwise): on one thread named metricsWorkloadComm it
// opens PATH N times.
func TestMetricsCmdWorkload(t *testing.T) {
	spec := os.Getenv(metricsWorkloadEnv)
	if spec == "" {
		t.Skip("only the workload of TestMetricsCmdServe")
	}
	runtime.LockOSThread() // comm is per thread
	i := strings.LastIndexByte(spec, ',')
	n, err := strconv.Atoi(spec[i+1:])
	if i < 0 || err != nil {
		fmt.Fprintln(os.Stderr, "workload: bad spec", spec)
		os.Exit(2)
	}
	name, _ := unix.BytePtrFromString(metricsWorkloadComm)
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(name)), 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "workload: prctl:", err)
		os.Exit(2)
	}
	for range n {
		fd, err := unix.Openat(unix.AT_FDCWD, spec[:i], unix.O_RDONLY|unix.O_CLOEXEC, 0o640)
		if err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			os.Exit(2)
		}
		unix.Close(fd)
	}
	os.Exit(0)
}

// buildMetricsBinary builds bpftrail into a temporary directory.
func buildMetricsBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bpftrail")
	if err := bpftest.Build(".", bin, true); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMetricsCmdConfigErrors(t *testing.T) {
	bin := buildMetricsBinary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("metrics:\n  - name: x\n    type: histogram\n    events: [a:b]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad type", []string{"metrics", "-f", bad}, `bpftrail: bad.yaml:2: metric "x": type: "histogram" is unknown (want count, hist or latency)`},
		{"no config", []string{"metrics"}, "bpftrail: no configuration: use -f CONFIG (see bpftrail metrics --help)"},
		{"missing file", []string{"metrics", "-f", filepath.Join(dir, "missing.yaml")}, "bpftrail: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{"extra argument", []string{"metrics", "-f", bad, "extra"}, `bpftrail: unknown command "extra" for "bpftrail metrics"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("exit: %v, want status 1", err)
			}
			if got := strings.TrimSpace(stderr.String()); got != tc.want {
				t.Errorf("stderr\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
}

var servingRE = regexp.MustCompile(`serving metrics on (http://127\.0\.0\.1:\d+/metrics)`)

func TestMetricsCmdServe(t *testing.T) {
	bpftest.Require(t)
	bin := buildMetricsBinary(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "metrics.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `metrics:
  - name: opens_total
    type: count
    events: syscalls:sys_enter_openat
    by: [comm]
    filter: 'filename == %q'
  - name: open_modes
    type: hist
    events: syscalls:sys_enter_openat
    value: mode
    by: comm
    filter: 'filename == %q'
`, target, target), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "metrics", "-f", conf, "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	var output []string
	for url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("bpftrail metrics exited before serving:\n%s", strings.Join(output, "\n"))
			}
			output = append(output, l)
			if m := servingRE.FindStringSubmatch(l); m != nil {
				url = m[1]
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no \"serving metrics on\" line after 30s:\n%s", strings.Join(output, "\n"))
		}
	}

	wl := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMetricsCmdWorkload$", "-test.count=1")
	wl.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", metricsWorkloadEnv, target, metricsWorkloadN))
	if out, err := wl.CombinedOutput(); err != nil {
		t.Fatalf("workload: %v\n%s", err, out)
	}

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	find := func(name string) *dto.Metric {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "comm" && l.GetValue() == metricsWorkloadComm {
					return m
				}
			}
		}
		t.Fatalf("no %s{comm=%q} in the exposition", name, metricsWorkloadComm)
		return nil
	}
	if got := find("bpftrail_opens_total").GetCounter().GetValue(); got != metricsWorkloadN {
		t.Errorf("bpftrail_opens_total{comm=%q} = %v, want %d", metricsWorkloadComm, got, metricsWorkloadN)
	}
	// Only the workload opens target (with mode 0o640 = 416): exact counts
	// whatever else runs, threads of the workload included.
	h := find("bpftrail_open_modes").GetHistogram()
	bs := h.GetBucket()
	if fams["bpftrail_open_modes"].GetType() != dto.MetricType_HISTOGRAM || h.GetSampleCount() != metricsWorkloadN || len(bs) < 2 {
		t.Fatalf("bpftrail_open_modes: %v", h)
	}
	for _, b := range bs {
		if le := b.GetUpperBound(); le <= 256 && b.GetCumulativeCount() != 0 || le >= 512 && b.GetCumulativeCount() != metricsWorkloadN {
			t.Errorf("bpftrail_open_modes{le=%v} = %d", le, b.GetCumulativeCount())
		}
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() || bs[i].GetUpperBound() <= bs[i-1].GetUpperBound() {
			t.Errorf("bucket %d (le=%v, %d) after le=%v, %d: not cumulative", i, bs[i].GetUpperBound(), bs[i].GetCumulativeCount(), bs[i-1].GetUpperBound(), bs[i-1].GetCumulativeCount())
		}
	}
	if last := bs[len(bs)-1]; !math.IsInf(last.GetUpperBound(), 1) || last.GetCumulativeCount() != h.GetSampleCount() {
		t.Errorf("last bucket le=%v %d, want +Inf %d", last.GetUpperBound(), last.GetCumulativeCount(), h.GetSampleCount())
	}

	// Ctrl-C stops it cleanly.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		output = append(output, l)
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Errorf("after SIGINT: %v\n%s", err, strings.Join(output, "\n"))
	}
}
