package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// viewTrace writes a small trace with a thread switching in and a read.
func viewTrace(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := ctf.Create(dir, ctf.Options{Hostname: "testhost", EventContext: ctftrace.ContextType(),
		Clock: func() uint64 { return 1000 }, ClockOffset: 1_700_000_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := w.AddEventClass("sched:sched_switch", ctf.Struct(
		ctf.F("_prev_comm", ctf.String()), ctf.F("_prev_pid", ctf.Int(32)), ctf.F("_next_comm", ctf.String()), ctf.F("_next_pid", ctf.Int(32))))
	en, _ := w.AddEventClass("syscalls:sys_enter_read", ctf.Struct(ctf.F("_fd", ctf.Int(32))))
	ex, _ := w.AddEventClass("syscalls:sys_exit_read", ctf.Struct(ctf.F("_ret", ctf.Int(64))))
	s, _ := w.Stream(0)
	for _, e := range []struct {
		ec   *ctf.EventClass
		ts   uint64
		vals []any
	}{
		{sw, 2000, []any{0, 0, "swapper/0", "swapper/0", 0, "cat", 7}},
		{en, 3000, []any{7, 7, "cat", 3}},
		{ex, 9000, []any{7, 7, "cat", 100}},
		{sw, 10000, []any{7, 7, "cat", "cat", 7, "swapper/0", 0}},
	} {
		if err := s.Write(e.ec, e.ts, e.vals...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestViewCommand(t *testing.T) {
	dir := viewTrace(t)
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runView(ctx, dir, "127.0.0.1:0", false, func(u string) { urls <- u }) }()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("view did not start")
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(url) {
		t.Errorf("URL %q", url)
	}
	for path, want := range map[string]int{"": 200, "data.json": 200, "app.js": 200, "metadata": 404, "stream_0": 404, "bpftrail/view-data.json": 404} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /%s: %d, want %d", path, resp.StatusCode, want)
		}
		if path == "data.json" && !strings.Contains(string(b), `"events":4`) {
			t.Errorf("data.json: %.200s", b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The cache is in DIR/bpftrail/, not in the trace directory itself.
	if _, err := os.Stat(filepath.Join(dir, "bpftrail", "view-data.json")); err != nil {
		t.Error(err)
	}
	if tr, err := ctf.Open(dir); err != nil || len(tr.Streams) != 1 {
		t.Errorf("trace after view: %v", err)
	}
	if err := runView(context.Background(), filepath.Join(dir, "nope"), "127.0.0.1:0", false, func(string) {}); err == nil {
		t.Error("view of a missing trace did not fail")
	}
}

func TestReportCommand(t *testing.T) {
	dir := viewTrace(t)
	out := filepath.Join(t.TempDir(), "report.html")
	if err := writeReportFile(dir, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if !strings.Contains(page, `id="trace-data"`) || regexp.MustCompile(`(?i)https?://|src=|href=`).MatchString(page) {
		t.Errorf("report is not self-contained")
	}
	// The analyses and the view data travel with the trace, in its
	// bpftrail/ sub-directory, and nothing else is added beside the streams.
	var analysis struct {
		Threads []json.RawMessage `json:"threads"`
	}
	ab, err := os.ReadFile(tracedir.Path(dir, tracedir.Analysis))
	if err != nil {
		t.Fatalf("analyses not saved: %v", err)
	}
	if err := json.Unmarshal(ab, &analysis); err != nil || len(analysis.Threads) == 0 {
		t.Errorf("analysis.json: %v, %d threads", err, len(analysis.Threads))
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Type().IsRegular() && e.Name() != "metadata" && !strings.HasPrefix(e.Name(), "stream_") {
			t.Errorf("%s written into the trace directory", e.Name())
		}
	}
	// Never into the trace directory (CTF readers would take it for a stream).
	if err := writeReportFile(dir, filepath.Join(dir, "report.html")); err == nil {
		t.Error("report written into the trace directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err == nil {
		t.Error("report.html left in the trace directory")
	}
	cmd := newRoot()
	cmd.SetArgs([]string{"report", dir})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "-o") {
		t.Errorf("report without -o: %v", err)
	}
}

func TestViewRefusesPublicAddress(t *testing.T) {
	for _, c := range []struct {
		listen string
		public bool
		ok     bool
	}{
		{"127.0.0.1:0", false, true},
		{"[::1]:0", false, true},
		{"localhost:8080", false, true},
		{"0.0.0.0:8080", false, false},
		{":8080", false, false},
		{"10.0.0.1:8080", false, false},
		{"0.0.0.0:8080", true, true},
		{"nonsense", false, false},
	} {
		err := checkListen(c.listen, c.public)
		if (err == nil) != c.ok {
			t.Errorf("checkListen(%q, public=%v) = %v, want ok=%v", c.listen, c.public, err, c.ok)
		}
	}
}
