package web

// Browser tests: headless Chromium, driven through the DevTools protocol by
// chromedp, opens the viewer on a trace (served by the view handler, and as
// a report.html file with the network off), checks the timeline's rows and
// the number of slices it drew against the view data, clicks a known
// syscall slice with a real mouse event and reads the event's fields in the
// details panel, and saves a screenshot in the artifact directory
// ($BPFTRAIL_TEST_ARTIFACTS, or bpftrail-test-artifacts in the temporary
// directory). The page's test hook window.bpftrailTest (app.js) gives the
// rows as laid out and where an event's slice is drawn.
//
// Without Chromium (/usr/bin/chromium, or $BPFTRAIL_CHROMIUM) the tests are
// skipped, unless CI=true. TestBPFBrowserRecorded does the same on a trace
// recorded for real by the built "bpftrail record".

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// browserTimeout bounds the browser part of each test.
const browserTimeout = 25 * time.Second

// artifactDir is where the tests leave their screenshots:
// $BPFTRAIL_TEST_ARTIFACTS, or bpftrail-test-artifacts in the temporary
// directory (t.TempDir would be deleted).
func artifactDir(t *testing.T) string {
	d := os.Getenv("BPFTRAIL_TEST_ARTIFACTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "bpftrail-test-artifacts")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// browser is a headless Chromium with one tab, and what that tab did: the
// requests it sent and the errors of its scripts.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
}

// newBrowser starts headless Chromium in a fresh profile; it ends with the
// test, or after browserTimeout.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	}, extra...)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{ctx: bctx}
	err := chromedp.Listen(bctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *cdpruntime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.errors = append(b.errors, msg)
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.errors = append(b.errors, "console.error: "+strings.Join(args, " "))
			}
		}
	})
	if err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// offline cuts the tab off the network: every request fails, and
// navigator.onLine is false.
func (b *browser) offline(t *testing.T) {
	t.Helper()
	if _, err := chromedp.Call(b.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) sent() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

func (b *browser) scriptErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errors)
}

// wait evaluates the expression every 20 ms until it is true. It evaluates
// in the page's current context, which a navigation replaces (so does not
// chromedp.Poll, which keeps the context it started in).
func (b *browser) wait(expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%s still false after %s", expr, timeout)
			}
			return err
		}
		if err := b.ctx.Err(); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pageRow is a timeline row as bpftrailTest.rows() gives it.
type pageRow struct {
	Name  string   `json:"name"`
	Kind  string   `json:"kind"`
	Lanes []string `json:"lanes"`
	Y     float64  `json:"y"`
	H     float64  `json:"h"`
}

// pageState is the page once it has drawn its first view.
type pageState struct {
	Ready   string    `json:"ready"`
	Error   string    `json:"error"`
	Events  string    `json:"events"`
	Tab     string    `json:"tab"`
	Rows    []pageRow `json:"rows"`
	Drawn   int       `json:"drawn"`
	CanvasH float64   `json:"canvasH"`
	Details string    `json:"details"`
	Online  bool      `json:"online"`
}

// load opens url (after about:blank, so that a change of fragment alone
// loads the page again) and waits for the page to draw its first view.
func (b *browser) load(t *testing.T, url string) pageState {
	t.Helper()
	err := chromedp.Do(b.ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url))
	if err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	if err := b.wait(`document.body.dataset.ready !== undefined || document.body.dataset.error !== undefined`, 15*time.Second); err != nil {
		t.Fatalf("%s: page not ready: %v (script errors: %q)", url, err, b.scriptErrors())
	}
	st, err := chromedp.Run(b.ctx, chromedp.Evaluate[pageState](`(() => {
		const b = document.body.dataset, T = window.bpftrailTest;
		return { ready: b.ready, error: b.error || '', events: b.events, tab: b.tab,
			rows: T.rows(), drawn: T.drawn(), canvasH: document.getElementById('timeline').clientHeight,
			details: document.getElementById('details').textContent, online: navigator.onLine };
	})()`))
	if err != nil {
		t.Fatalf("%s: page state: %v", url, err)
	}
	if st.Error != "" {
		t.Fatalf("%s: the page failed: %s", url, st.Error)
	}
	return st
}

// slicePos is where bpftrailTest.at() says an event's slice is drawn.
type slicePos struct {
	X, Y, W float64
}

func (b *browser) at(t *testing.T, ev int) *slicePos {
	t.Helper()
	p, err := chromedp.Run(b.ctx, chromedp.Evaluate[*slicePos](fmt.Sprintf("window.bpftrailTest.at(%d)", ev)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// details are the details panel's heading and table rows.
type details struct {
	Title string     `json:"title"`
	Subs  []string   `json:"subs"`
	Rows  [][]string `json:"rows"`
}

// field returns the values of key in the panel's rows, in order.
func (d details) field(key string) []string {
	var vs []string
	for _, r := range d.Rows {
		if len(r) == 2 && r[0] == key {
			vs = append(vs, r[1])
		}
	}
	return vs
}

// click sends a real left click (Input.dispatchMouseEvent) at (x, y) and
// returns the details panel once it shows an event.
func (b *browser) click(t *testing.T, x, y float64) details {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatal(err)
	}
	if err := b.wait(`document.querySelector('#details table') !== null`, 5*time.Second); err != nil {
		t.Fatalf("click at (%.0f, %.0f): no details shown: %v", x, y, err)
	}
	d, err := chromedp.Run(b.ctx, chromedp.Evaluate[details](`(() => {
		const el = document.getElementById('details');
		return { title: el.querySelector('h3').textContent,
			subs: [...el.querySelectorAll('.sub')].map((s) => s.textContent),
			rows: [...el.querySelectorAll('tr')].map((tr) => [...tr.cells].map((c) => c.textContent)) };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// screenshot saves the tab's viewport as name in the artifact directory.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 {
		t.Errorf("screenshot of %d bytes", len(png))
	}
	out := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)
	return out
}

// target is the syscall whose slice a test clicks: its entry and exit
// events, thread and fields.
type target struct {
	enter, exit int
	tid         int32
	thread      string // its row, "comm tid"
	path        string // filename
	ret         int64
}

// eventRows returns, for each event of d, its row in its class's columns.
func eventRows(d *Data) []int {
	rows := make([]int, len(d.Cls))
	next := make([]int, len(d.Classes))
	for i, c := range d.Cls {
		rows[i] = next[c]
		next[c]++
	}
	return rows
}

// fieldOf returns field name of event ev: a string or an integer.
func fieldOf(d *Data, rows []int, ev int, name string) (string, int64, bool) {
	c := d.Classes[d.Cls[ev]]
	f := slices.Index(c.Fields, name)
	if f < 0 || rows[ev] >= len(c.Cols[f].Ints) {
		return "", 0, false
	}
	v := c.Cols[f].Ints[rows[ev]]
	if c.Kinds[f] == KindString {
		return d.Strings[v], 0, true
	}
	return "", v, true
}

// findOpen finds the first openat of path in d, and its slice on its
// thread's syscalls lane.
func findOpen(t *testing.T, d *Data, path string) target {
	t.Helper()
	rows := eventRows(d)
	for ev := range d.Cls {
		if !strings.HasSuffix(d.Classes[d.Cls[ev]].Name, "sys_enter_openat") {
			continue
		}
		if s, _, _ := fieldOf(d, rows, ev, "filename"); s != path {
			continue
		}
		tg := target{enter: ev, exit: -1, tid: d.TID[ev], path: path}
		for _, tk := range d.Tracks {
			if tk.Kind != "thread" || tk.TID != tg.tid {
				continue
			}
			tg.thread = tk.Name
			for _, l := range tk.Lanes {
				if k := slices.Index(l.Ev, int64(ev)); l.Name == "syscalls" && k >= 0 {
					tg.exit = int(l.Ev2[k])
				}
			}
		}
		if tg.exit < 0 {
			t.Fatalf("openat of %s (event %d): no syscall slice with an exit", path, ev)
		}
		_, ret, ok := fieldOf(d, rows, tg.exit, "ret")
		if !ok {
			t.Fatalf("exit event %d of the openat of %s has no ret", tg.exit, path)
		}
		tg.ret = ret
		return tg
	}
	t.Fatalf("no openat of %s in the trace", path)
	return target{}
}

// wantTimeline returns the rows the timeline should show and the number of
// slices and markers it draws when the whole trace is in view: a slice is
// drawn when it starts before the end of the trace.
func wantTimeline(d *Data) (rows []string, drawn int) {
	for _, tk := range d.Tracks {
		n := len(tk.MarkT)
		for _, l := range tk.Lanes {
			for _, s := range l.Start {
				if s < max(d.Duration, 1) {
					n++
				}
			}
		}
		if len(tk.MarkT) == 0 && len(tk.Lanes) == 0 {
			continue // the page lays out no row for it
		}
		rows = append(rows, tk.Name)
		drawn += n
	}
	return rows, drawn
}

// checkViewer opens the viewer at url, checks its timeline against d,
// clicks tg's syscall slice, checks the details panel, and saves a
// screenshot named name. When the slice is too thin to click in the whole
// trace's view, it opens the viewer again zoomed on it (#timeline?t0=&t1=).
func checkViewer(t *testing.T, b *browser, url string, d *Data, tg target, name string) pageState {
	t.Helper()
	st := b.load(t, url)
	if st.Events != fmt.Sprint(len(d.T)) || st.Tab != "timeline" {
		t.Errorf("page: %s events on tab %q, want %d on the timeline", st.Events, st.Tab, len(d.T))
	}
	var names []string
	for _, r := range st.Rows {
		names = append(names, r.Name)
	}
	wantRows, wantDrawn := wantTimeline(d)
	if !slices.Equal(names, wantRows) {
		t.Errorf("timeline rows %q, want %q", names, wantRows)
	}
	if !slices.Contains(names, tg.thread) {
		t.Errorf("no row %q for the thread of the openat in %q", tg.thread, names)
	}
	var cpus int
	for _, r := range st.Rows {
		if r.Kind == "cpu" {
			cpus++
			if !slices.Equal(r.Lanes, []string{"running"}) {
				t.Errorf("CPU row %s has lanes %q", r.Name, r.Lanes)
			}
		}
		if r.Name == tg.thread && !slices.Contains(r.Lanes, "syscalls") {
			t.Errorf("thread row %s has lanes %q, no syscalls", r.Name, r.Lanes)
		}
	}
	if cpus == 0 {
		t.Errorf("no CPU row in %q", names)
	}
	// The count holds when every row is in view.
	last := st.Rows[len(st.Rows)-1]
	if fits := last.Y+last.H <= st.CanvasH-24; fits {
		if st.Drawn != wantDrawn {
			t.Errorf("the timeline drew %d slices and markers, the data has %d", st.Drawn, wantDrawn)
		}
	} else {
		t.Logf("rows are %.0f px high, the timeline %.0f px: not counting the slices drawn", last.Y+last.H, st.CanvasH)
	}
	t.Logf("%s: %d rows (%.0f of %.0f px), %d slices and markers drawn", url, len(st.Rows), last.Y+last.H, st.CanvasH, st.Drawn)
	if !strings.Contains(st.Details, "Click a slice") {
		t.Errorf("details panel before the click: %q", st.Details)
	}

	p := b.at(t, tg.enter)
	if p == nil || p.W < 20 {
		// Zoom on the slice: from a slice's length before it to one after.
		s, e := d.T[tg.enter], d.T[tg.exit]
		span := max(e-s, 1000)
		// Only the rows whose name holds the tid: the thread's row is in view.
		zoomed := url + fmt.Sprintf("#timeline?t0=%d&t1=%d&tracks=%d", s-span, e+span, tg.tid)
		b.screenshot(t, strings.TrimSuffix(name, ".png")+"-whole.png")
		t.Logf("slice at %+v: opening %s", p, zoomed)
		b.load(t, zoomed)
		if p = b.at(t, tg.enter); p == nil {
			t.Fatalf("the slice of event %d is not in view at %s", tg.enter, zoomed)
		}
	}
	det := b.click(t, p.X, p.Y)
	t.Logf("clicked (%.0f, %.0f), slice %.0f px wide: %s %q %q", p.X, p.Y, p.W, det.Title, det.Subs, det.Rows)
	if !strings.HasPrefix(det.Title, "openat") {
		t.Errorf("details title %q, want the openat slice", det.Title)
	}
	wantSubs := []string{
		fmt.Sprintf("entry #%d: %s", tg.enter, d.Classes[d.Cls[tg.enter]].Name),
		fmt.Sprintf("exit #%d: %s", tg.exit, d.Classes[d.Cls[tg.exit]].Name),
	}
	if !slices.Equal(det.Subs, wantSubs) {
		t.Errorf("details of %q, want %q", det.Subs, wantSubs)
	}
	if got := det.field("filename"); !slices.Equal(got, []string{tg.path}) {
		t.Errorf("filename %q, want %q", got, tg.path)
	}
	if got := det.field("ret"); !slices.Equal(got, []string{fmt.Sprint(tg.ret)}) {
		t.Errorf("ret %q, want %d", got, tg.ret)
	}
	if got, want := det.field("tid"), fmt.Sprint(tg.tid); !slices.Equal(got, []string{want, want}) {
		t.Errorf("tid %q, want %s for both events", got, want)
	}
	if got, want := det.field("track"), tg.thread+" · syscalls"; !slices.Equal(got, []string{want}) {
		t.Errorf("track %q, want %q", got, want)
	}
	b.screenshot(t, name)
	if errs := b.scriptErrors(); len(errs) > 0 {
		t.Errorf("script errors: %q", errs)
	}
	return st
}

// serve serves the viewer of the trace in dir on 127.0.0.1:0 until the end
// of the test, and returns its URL.
func serve(t *testing.T, dir string) string {
	t.Helper()
	h, remove, err := NewHandler(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if remove != "" {
		t.Cleanup(func() { os.Remove(remove) })
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: LoopbackHosts(h)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// checkView runs checkViewer on the viewer of "bpftrail view" and checks
// that the page asked its server for nothing but its own files.
func checkView(t *testing.T, dir string, d *Data, tg target, name string) {
	url := serve(t, dir)
	b := newBrowser(t)
	checkViewer(t, b, url, d, tg, name)
	for _, r := range b.sent() {
		// favicon.ico: the browser's own request, not the page's.
		if r != "about:blank" && !slices.Contains([]string{"", "app.js", "style.css", "data.json", "favicon.ico"}, strings.TrimPrefix(r, url)) {
			t.Errorf("request to %s", r)
		}
	}
}

// checkReport runs checkViewer on report.html opened from a file with the
// network off, and checks that the file was the only request.
func checkReport(t *testing.T, dir string, d *Data, tg target, name string) {
	out := writeTestReport(t, dir)
	// Any request that reaches for the network fails twice: through the
	// proxy (nothing listens on the discard port) and offline emulation.
	b := newBrowser(t, chromedp.ProxyServer("127.0.0.1:9"))
	b.offline(t)
	url := "file://" + out
	st := checkViewer(t, b, url, d, tg, name)
	if st.Online {
		t.Errorf("navigator.onLine is true: the network is not off")
	}
	sent := b.sent()
	for _, r := range sent {
		if r != url && r != "about:blank" {
			t.Errorf("request to %s (all: %q)", r, sent)
		}
	}
	if !slices.Contains(sent, url) {
		t.Errorf("requests %q, none for %s", sent, url)
	}
}

// browserTrace writes a trace of two threads on two CPUs whose syscalls are
// known: writer (pid 100) opens openPath, which returns openFD; reader (pid
// 200, tid 201) reads.
func browserTrace(t *testing.T, dir string) {
	s := newSynth(t, dir)
	enter := s.class("syscalls:sys_enter_openat", ctf.Struct(
		ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_dfd", ctf.Int(32)), ctf.F("_filename", ctf.String()),
		ctf.F("_flags", ctf.Int(32)), ctf.F("_mode", ctf.Uint(16))))
	exit := s.class("syscalls:sys_exit_openat", ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_ret", ctf.Int(64))))
	writer, reader := who{100, 100, "writer"}, who{200, 201, "reader"}
	idle0, idle1 := who{0, 0, "swapper/0"}, who{0, 0, "swapper/1"}
	s.switchTo(0, 0, idle0, writer)
	s.switchTo(1, 1_000, idle1, reader)
	s.write(0, 10_000, enter, writer, int32(257), int32(-100), openPath, int32(0), uint16(0))
	s.sysEnter(1, 20_000, "read", reader, 5)
	s.sysExit(1, 45_000, "read", reader, 42)
	s.write(0, 60_000, exit, writer, int32(257), int64(openFD))
	s.write(1, 65_000, s.wk, reader, "writer", int32(100), int32(120), int32(0))
	s.switchState(1, 70_000, reader, 0, idle1) // preempted: runnable
	s.switchTo(0, 80_000, writer, idle0)
	s.switchTo(0, 90_000, idle0, reader)
	s.sysEnter(0, 92_000, "futex", reader, 0)
	s.sysExit(0, 100_000, "futex", reader, 0)
	s.close()
}

const (
	openPath = "/etc/bpftrail/browser-test.conf"
	openFD   = 7
)

// synthTarget builds the view data of browserTrace's trace and checks the
// openat slice against what the trace holds.
func synthTarget(t *testing.T) (string, *Data, target) {
	dir := filepath.Join(t.TempDir(), "trace")
	browserTrace(t, dir)
	d, _, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tg := findOpen(t, d, openPath)
	if tg.ret != openFD || tg.thread != "writer 100" || tg.exit != tg.enter+3 {
		t.Fatalf("openat in the data: %+v", tg)
	}
	rows, _ := wantTimeline(d)
	if want := []string{"CPU 0", "CPU 1", "writer 100", "reader 201"}; !slices.Equal(rows, want) {
		t.Fatalf("rows in the data %q, want %q", rows, want)
	}
	return dir, d, tg
}

func TestBrowserView(t *testing.T) {
	chromium(t)
	dir, d, tg := synthTarget(t)
	checkView(t, dir, d, tg, "browser-view.png")
}

func TestBrowserReportOffline(t *testing.T) {
	chromium(t)
	dir, d, tg := synthTarget(t)
	checkReport(t, dir, d, tg, "browser-report.png")
}

// TestBPFBrowserRecorded records "cat FILE" with the built bpftrail (BPF,
// root), and checks the viewer and the report of that trace in the browser:
// the openat of FILE by cat, and the fd it returned.
func TestBPFBrowserRecorded(t *testing.T) {
	bpftest.Require(t)
	chromium(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bpftrail")
	if err := bpftest.Build("github.com/bpftrail/bpftrail/cmd/bpftrail", bin, true); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp, "bpftrail-browser-test.txt")
	if err := os.WriteFile(file, []byte("hello from the browser test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "trace")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "record", "-q", "-e", "syscall:openat", "-e", "sched:sched_switch",
		"-o", dir, "-d", "20s", "--", "cat", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpftrail record: %v\n%s", err, out)
	}
	d, _, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tg := findOpen(t, d, file)
	if tg.ret < 3 || !strings.HasPrefix(tg.thread, "cat ") {
		t.Fatalf("openat of %s in the recorded trace: %+v", file, tg)
	}
	t.Logf("recorded %d events; openat of %s: events %d-%d, thread %s, ret %d", len(d.T), file, tg.enter, tg.exit, tg.thread, tg.ret)
	t.Run("view", func(t *testing.T) { checkView(t, dir, d, tg, "browser-bpf-view.png") })
	t.Run("report", func(t *testing.T) { checkReport(t, dir, d, tg, "browser-bpf-report.png") })
}
