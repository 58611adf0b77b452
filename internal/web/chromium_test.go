package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/analyze"
)

// chromium returns the headless browser to test with: $BPFTRAIL_CHROMIUM or
// /usr/bin/chromium (Debian package "chromium"). Without it the test is
// skipped, unless CI=true.
func chromium(tb testing.TB) string {
	p := os.Getenv("BPFTRAIL_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing (apt-get install chromium)", p)
		}
		tb.Skipf("%s is missing (apt-get install chromium)", p)
	}
	return p
}

// runChromium runs headless Chromium on url with extra flags (--dump-dom,
// --screenshot=...), in a fresh profile, with no network.
func runChromium(tb testing.TB, timeout time.Duration, url string, flags ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	profile := tb.TempDir()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile, "--window-size=1400,900"}, flags...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, chromium(tb), args...)
	cmd.Dir = profile
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("chromium %s: %v\n%s", url, err, tail(stderr.String(), 2000))
	}
	return string(out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var (
	bodyTag  = regexp.MustCompile(`<body[^>]*>`)
	dataAttr = regexp.MustCompile(`data-([a-z-]+)="([^"]*)"`)
)

// bodyData returns the data-* attributes the viewer sets on <body> once it
// has drawn its first view.
func bodyData(dom string) map[string]string {
	m := map[string]string{}
	for _, a := range dataAttr.FindAllStringSubmatch(bodyTag.FindString(dom), -1) {
		m[a[1]] = a[2]
	}
	return m
}

// screenshotDir is where screenshots go: $BPFTRAIL_SCREENSHOTS, or a
// temporary directory.
func screenshotDir(tb testing.TB) string {
	if d := os.Getenv("BPFTRAIL_SCREENSHOTS"); d != "" {
		os.MkdirAll(d, 0o755)
		return d
	}
	return tb.TempDir()
}

func TestChromiumReport(t *testing.T) {
	chromium(t)
	dir := filepath.Join(t.TempDir(), "trace")
	genTrace(t, dir, 20000, 4)
	out := writeTestReport(t, dir)
	d, _, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	running, futex := 0, 0
	sums := map[string]int64{}
	for _, tk := range d.Tracks {
		for _, l := range tk.Lanes {
			for i, du := range l.Dur {
				key := l.Name
				if l.State != nil {
					key = strings.ToLower(analyze.State(l.State[i]).String())
					if l.State[i] == int8(analyze.StateRunning) {
						running++
					}
				}
				sums[tk.Kind+"-"+key] += du
			}
		}
	}
	var keys []string
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var laneNs []string
	for _, k := range keys {
		laneNs = append(laneNs, fmt.Sprintf("%s:%d", k, sums[k]))
	}
	for _, c := range d.Classes {
		if strings.Contains(c.Name, "futex") {
			futex += c.Count
		}
	}
	shots := screenshotDir(t)
	for _, tab := range []string{"timeline", "events", "latency", "flame"} {
		url := "file://" + out + "#" + tab
		dom := runChromium(t, 2*time.Minute, url, "--dump-dom")
		d := bodyData(dom)
		if d["error"] != "" || d["tab"] != tab || d["events"] != "20000" {
			t.Fatalf("%s: body data %v", tab, d)
		}
		if n, _ := strconv.Atoi(d["ready"]); n <= 0 {
			t.Errorf("%s: nothing drawn: %v", tab, d)
		}
		// The page draws the lanes of the data, as they are.
		if d["running"] != strconv.Itoa(running) {
			t.Errorf("%s: %s running slices in the page, %d in the data", tab, d["running"], running)
		}
		if want := strings.Join(laneNs, ","); d["lane-ns"] != want {
			t.Errorf("%s: slice durations in the page %s, in the data %s", tab, d["lane-ns"], want)
		}
		t.Logf("%s: %v", tab, d)
		png := filepath.Join(shots, "report-"+tab+".png")
		runChromium(t, 2*time.Minute, url, "--screenshot="+png)
		if fi, err := os.Stat(png); err != nil || fi.Size() < 10_000 {
			t.Errorf("%s: screenshot %v %v", tab, fi, err)
		}
	}
	// Deep links: a search in the event table, a selected event, a frame search.
	dd := bodyData(runChromium(t, 2*time.Minute, "file://"+out+"#events?q=futex", "--dump-dom"))
	if dd["rows"] != strconv.Itoa(futex) {
		t.Errorf("search futex: %s rows, want %d", dd["rows"], futex)
	}
	png := filepath.Join(shots, "report-timeline-selected.png")
	runChromium(t, 2*time.Minute, "file://"+out+"#timeline?ev=1000", "--screenshot="+png)
	dd = bodyData(runChromium(t, 2*time.Minute, "file://"+out+"#flame?q=hash", "--dump-dom"))
	if n, _ := strconv.ParseInt(dd["flame-match"], 10, 64); n <= 0 || n > d.Flame.Samples {
		t.Errorf("flame search: %v (of %d samples)", dd, d.Flame.Samples)
	}
	// The event table is virtualized: only the rows in view exist.
	dom := runChromium(t, 2*time.Minute, "file://"+out+"#events", "--dump-dom")
	if n := strings.Count(dom, `class="ev-row`); n == 0 || n > 200 {
		t.Errorf("event table has %d rows in the DOM", n)
	}
}

func TestChromiumView(t *testing.T) {
	chromium(t)
	dir := filepath.Join(t.TempDir(), "trace")
	genTrace(t, dir, 5000, 2)
	h, _, err := NewHandler(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: LoopbackHosts(h)}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	// The page fetches data.json: give it virtual time to finish.
	dom := runChromium(t, 2*time.Minute, url, "--dump-dom", "--virtual-time-budget=10000")
	d := bodyData(dom)
	if n, _ := strconv.Atoi(d["ready"]); n <= 0 || d["events"] != "5000" {
		t.Errorf("view page: %v", d)
	}
}

// BenchmarkChromiumOpen measures how long headless Chromium takes to open a
// report of $BPFTRAIL_BENCH_EVENTS (default 1,000,000) events and draw its
// timeline, as the page measures it (performance.now() when the first view
// is drawn, from navigation start), and the whole browser run.
//
//	go test ./internal/web -run '^$' -bench ChromiumOpen -benchtime 3x
func BenchmarkChromiumOpen(b *testing.B) {
	chromium(b)
	n := 1_000_000
	if s := os.Getenv("BPFTRAIL_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := filepath.Join(b.TempDir(), "trace")
	start := time.Now()
	genTrace(b, dir, n, 8)
	gen := time.Since(start)
	start = time.Now()
	out := writeTestReport(b, dir)
	build := time.Since(start)
	fi, _ := os.Stat(out)
	b.Logf("%d events: trace written in %s, report built in %s, %.1f MiB", n, gen.Round(time.Millisecond), build.Round(time.Millisecond), float64(fi.Size())/(1<<20))
	var load, wall float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		dom := runChromium(b, 10*time.Minute, "file://"+out, "--dump-dom")
		wall += time.Since(t0).Seconds()
		d := bodyData(dom)
		ms, err := strconv.ParseFloat(d["load-ms"], 64)
		if err != nil || d["events"] != strconv.Itoa(n) {
			b.Fatalf("page did not load: %v", d)
		}
		load += ms
		if i == 0 {
			b.Logf("page timings (ms since navigation start): script %s, JSON text %s, parsed %s, model %s, first view drawn %s (%s slices/markers drawn)",
				d["script-ms"], d["text-ms"], d["parse-ms"], d["model-ms"], d["load-ms"], d["ready"])
		}
	}
	b.ReportMetric(load/float64(b.N), "ms-first-draw")
	b.ReportMetric(wall*1000/float64(b.N), "ms-chromium-run")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "report of %d events (%.1f MiB): first view drawn %.0f ms after navigation start (goal < 2000 ms); headless run %.0f ms\n",
		n, float64(fi.Size())/(1<<20), load/float64(b.N), wall*1000/float64(b.N))
}

// TestChromium10M checks that a 10M-event trace still opens (set
// BPFTRAIL_TEST_10M=1; it takes minutes).
func TestChromium10M(t *testing.T) {
	if os.Getenv("BPFTRAIL_TEST_10M") == "" {
		t.Skip("set BPFTRAIL_TEST_10M=1 to open a 10M-event report")
	}
	chromium(t)
	const n = 10_000_000
	dir := filepath.Join(t.TempDir(), "trace")
	start := time.Now()
	genTrace(t, dir, n, 8)
	t.Logf("trace written in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	out := writeTestReport(t, dir)
	fi, _ := os.Stat(out)
	t.Logf("report built in %s: %.1f MiB", time.Since(start).Round(time.Millisecond), float64(fi.Size())/(1<<20))
	start = time.Now()
	dom := runChromium(t, 20*time.Minute, "file://"+out, "--dump-dom")
	d := bodyData(dom)
	t.Logf("chromium run %s, page %v", time.Since(start).Round(time.Millisecond), d)
	if n, _ := strconv.Atoi(d["ready"]); n <= 0 || d["events"] != "10000000" {
		t.Fatalf("10M-event report did not open: %v", d)
	}
}
