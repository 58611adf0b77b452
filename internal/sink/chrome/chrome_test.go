package chrome_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/analyze/tracetest"
	"github.com/bpftrail/bpftrail/internal/sink/chrome"
)

var (
	idle = tracetest.Ctx{PID: 0, TID: 0, Comm: "swapper/0"}
	a10  = tracetest.Ctx{PID: 10, TID: 10, Comm: "alpha"}
	a11  = tracetest.Ctx{PID: 10, TID: 11, Comm: "alpha-w"}
	b20  = tracetest.Ctx{PID: 20, TID: 20, Comm: "beta \"q\""}
)

// small writes the trace of the golden tests: two CPUs, switches, a
// wake-up, openat pairs (one unfinished, one exit without entry, one
// nested mismatch), an exec, and discarded events.
func small(t testing.TB, layout tracetest.Layout) *ctf.Trace {
	b := tracetest.New(t, filepath.Join(t.TempDir(), "trace"), layout, 1_000_000)
	b.Exec(0, 1_000_500, a10, "/bin/alpha")
	b.OpenatExit(1, 1_000_700, b20, 5) // entry before the trace
	b.OpenatEnter(0, 1_001_000, a10, "/etc/passwd")
	b.Switch(0, 1_001_500, a10, 1, a11) // blocked inside openat
	b.Wakeup(0, 1_002_000, a11, a10)
	b.Switch(0, 1_002_250, a11, 0, a10)
	b.OpenatExit(0, 1_002_600, a10, 3)
	b.Discard(1, 42, 1_002_700)
	b.Switch(1, 1_003_000, b20, 1, idle)
	b.OpenatEnter(0, 1_003_333, a10, "/etc/\u00e9t\u00e9\n")
	b.Switch(0, 1_004_000, a10, 0x100, a11) // preempted in openat: unfinished at the end
	b.Exec(0, 1_005_001, a11, "/bin/w")
	return b.Close()
}

func convert(t testing.TB, tr *ctf.Trace) []byte {
	var buf bytes.Buffer
	if _, err := chrome.Convert(&buf, tr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, layout := range []tracetest.Layout{tracetest.Tracefs, tracetest.LTTng} {
		t.Run(layout.String(), func(t *testing.T) {
			got := convert(t, small(t, layout))
			golden.Check(t, filepath.Join("testdata", "small-"+layout.String()+".json"), got)
			checkChrome(t, got)
		})
	}
}

// event is a Chrome trace event with ts and dur kept as ns.
type event struct {
	Ph   string         `json:"ph"`
	PID  int            `json:"pid"`
	TID  int            `json:"tid"`
	Name string         `json:"name"`
	TS   json.Number    `json:"ts"`
	Dur  json.Number    `json:"dur"`
	S    string         `json:"s"`
	Args map[string]any `json:"args"`
	ts   int64
	dur  int64
}

// micros parses a µs number with at most 3 decimals to exact ns.
func micros(t testing.TB, n json.Number) int64 {
	if n == "" {
		return 0
	}
	s := string(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 3 {
		t.Fatalf("ts %s: more than ns precision", n)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		t.Fatalf("ts %s: %v", n, err)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt((frac + "00")[:3], 10, 64)
	}
	v := w*1000 + f
	if neg {
		v = -v
	}
	return v
}

// parse decodes a Chrome JSON trace.
func parse(t testing.TB, b []byte) (events []event, doc map[string]json.RawMessage) {
	t.Helper()
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(doc["traceEvents"]))
	d.UseNumber()
	if err := d.Decode(&events); err != nil {
		t.Fatalf("traceEvents: %v", err)
	}
	for i := range events {
		events[i].ts = micros(t, events[i].TS)
		events[i].dur = micros(t, events[i].Dur)
	}
	return events, doc
}

type track struct{ pid, tid int }

// checkChrome checks what viewers rely on: every B has its E on the same
// (pid, tid), and B/E and X slices nest on each track.
func checkChrome(t *testing.T, b []byte) []event {
	t.Helper()
	events, doc := parse(t, b)
	if string(doc["displayTimeUnit"]) != `"ns"` {
		t.Errorf("displayTimeUnit = %s", doc["displayTimeUnit"])
	}
	type span struct {
		begin, end int64
		name       string
	}
	spans := map[track][]span{}
	open := map[track][]event{}
	// B/E in file order per track (the converter writes them in time order).
	for _, e := range events {
		k := track{e.PID, e.TID}
		switch e.Ph {
		case "B":
			open[k] = append(open[k], e)
		case "E":
			st := open[k]
			if len(st) == 0 {
				t.Errorf("E without B on pid %d tid %d at %d ns", e.PID, e.TID, e.ts)
				continue
			}
			bg := st[len(st)-1]
			open[k] = st[:len(st)-1]
			if e.ts < bg.ts {
				t.Errorf("E at %d before its B at %d", e.ts, bg.ts)
			}
			spans[k] = append(spans[k], span{bg.ts, e.ts, bg.Name})
		case "X":
			if e.dur < 0 {
				t.Errorf("X %q with negative dur", e.Name)
			}
			spans[k] = append(spans[k], span{e.ts, e.ts + e.dur, e.Name})
		case "i":
			if e.S != "t" && e.S != "g" {
				t.Errorf("instant %q with scope %q", e.Name, e.S)
			}
		case "M":
		case "C":
			if len(e.Args) == 0 {
				t.Errorf("counter %q without values", e.Name)
			}
		default:
			t.Errorf("unexpected phase %q", e.Ph)
		}
		if e.Ph != "M" && e.ts < 0 {
			t.Errorf("%s %q at negative ts %d", e.Ph, e.Name, e.ts)
		}
	}
	for k, st := range open {
		if len(st) > 0 {
			t.Errorf("pid %d tid %d: %d B without E", k.pid, k.tid, len(st))
		}
	}
	for k, ss := range spans {
		sort.SliceStable(ss, func(i, j int) bool {
			if ss[i].begin != ss[j].begin {
				return ss[i].begin < ss[j].begin
			}
			return ss[i].end > ss[j].end
		})
		var stack []span
		for _, s := range ss {
			for len(stack) > 0 && stack[len(stack)-1].end <= s.begin {
				stack = stack[:len(stack)-1]
			}
			if len(stack) > 0 && s.end > stack[len(stack)-1].end {
				t.Errorf("pid %d tid %d: %q [%d,%d] overlaps %q [%d,%d] without nesting", k.pid, k.tid,
					s.name, s.begin, s.end, stack[len(stack)-1].name, stack[len(stack)-1].begin, stack[len(stack)-1].end)
			}
			stack = append(stack, s)
		}
	}
	return events
}

// runningPerThread sums the Running slices of each thread's state track.
func runningPerThread(events []event) map[int]int64 {
	m := map[int]int64{}
	for _, e := range events {
		if e.Ph == "X" && e.Name == "Running" && e.TID >= chrome.StateTID(0) {
			m[e.TID-chrome.StateTID(0)] += e.dur
		}
	}
	return m
}

// cpuPerThread sums the slices of the CPU tracks per thread.
func cpuPerThread(events []event) map[int]int64 {
	m := map[int]int64{}
	for _, e := range events {
		if e.Ph == "X" && e.PID >= chrome.CPUPID(0) && e.PID < chrome.StateTID(0) {
			tid, _ := e.Args["tid"].(json.Number).Int64()
			m[int(tid)] += e.dur
		}
	}
	return m
}

func analyzed(t testing.TB, tr *ctf.Trace) map[int]int64 {
	r, err := analyze.Run(tr)
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]int64{}
	for _, th := range r.Threads {
		if th.RunningNs > 0 {
			m[th.TID] = th.RunningNs
		}
	}
	return m
}

func TestSemantics(t *testing.T) {
	tr := small(t, tracetest.Tracefs)
	events := checkChrome(t, convert(t, tr))
	find := func(ph, name string, tid int) *event {
		for i := range events {
			if e := &events[i]; e.Ph == ph && e.Name == name && e.TID == tid {
				return e
			}
		}
		t.Fatalf("no %s %q on tid %d", ph, name, tid)
		return nil
	}
	tests := []struct {
		what string
		got  any
		want any
	}{
		{"openat B ts (µs from the first event)", find("B", "openat", 10).TS, json.Number("0.500")},
		{"openat B filename", find("B", "openat", 10).Args["filename"], "/etc/passwd"},
		{"exec instant args", find("i", "sched:sched_process_exec", 10).Args["filename"], "/bin/alpha"},
		{"wakeup instant on the waker", find("i", "sched:sched_wakeup", 11).Args["comm"], "alpha"},
		{"lost events count", find("i", "42 events discarded", chrome.CPUPID(1)).Args["count"], json.Number("42")},
		{"lost events scope", find("i", "42 events discarded", chrome.CPUPID(1)).S, "g"},
		{"CPU 0 slice of alpha-w", find("X", "alpha-w", chrome.CPUPID(0)).TS, json.Number("1")},
		{"blocked alpha", find("X", "Blocked", chrome.StateTID(10)).dur, int64(500)},
		{"runnable after wake-up", find("X", "Runnable", chrome.StateTID(10)).dur, int64(250)},
		{"process name", metaName(events, "process_name", 20, 20), "beta \"q\""},
		{"thread name", metaName(events, "thread_name", 10, 11), "alpha-w"},
		{"cpu process", metaName(events, "process_name", chrome.CPUPID(1), chrome.CPUPID(1)), "CPU 1"},
	}
	for _, tt := range tests {
		if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.what, tt.got, tt.want)
		}
	}
	want := analyzed(t, tr)
	if got := runningPerThread(events); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Running slices per thread %v, analyze says %v", got, want)
	}
	if got := cpuPerThread(events); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CPU track slices per thread %v, analyze says %v", got, want)
	}
	// The exit without entry is an instant, the unfinished openat ends at the end.
	find("i", "syscalls:sys_exit_openat", 20)
	var unfinished int
	for _, e := range events {
		if e.Ph == "E" && e.Args["unfinished"] == true {
			unfinished++
			if e.ts != 1_005_001-1_000_500 {
				t.Errorf("unfinished openat ends at %d ns, want the trace end", e.ts)
			}
		}
	}
	if unfinished != 1 {
		t.Errorf("%d unfinished syscalls, want 1", unfinished)
	}
}

func metaName(events []event, what string, pid, tid int) any {
	var name any
	for _, e := range events {
		if e.Ph == "M" && e.Name == what && e.PID == pid && e.TID == tid {
			name = e.Args["name"]
		}
	}
	return name
}

func TestMicros(t *testing.T) {
	// A long trace keeps ns precision: 3 days + 1 ns after the first event.
	b := tracetest.New(t, filepath.Join(t.TempDir(), "trace"), tracetest.Tracefs, 0)
	b.Exec(0, 5, a10, "x")
	b.Exec(0, 5+3*86400e9+1, a10, "y")
	events, _ := parse(t, convert(t, b.Close()))
	var ts []json.Number
	for _, e := range events {
		if e.Ph == "i" {
			ts = append(ts, e.TS)
		}
	}
	if fmt.Sprint(ts) != "[0 259200000000.001]" {
		t.Errorf("ts = %v", ts)
	}
	if f, _ := ts[1].Float64(); math.Round(f*1000) != 259200000000001 {
		t.Errorf("as a double: %v", f)
	}
}

// TestAggregateCounters: the count aggregates logged over time by record
// --aggregate become counter tracks, one "C" event per snapshot.
func TestAggregateCounters(t *testing.T) {
	tr := small(t, tracetest.Tracefs)
	sub := filepath.Join(tr.Dir, "bpftrail")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	base := tr.Metadata.Clocks[0].Offset + 1_000_500 // near the first event
	log := fmt.Sprintf(`{"aggregate":"count:comm","time_ns":%d,"final":false,"counts":[{"key":{"comm":"alpha"},"count":3},{"key":{"comm":"beta"},"count":1}],"lost":0}
{"aggregate":"count:comm","time_ns":%d,"final":true,"counts":[{"key":{"comm":"alpha"},"count":5}],"lost":0}
{"aggregate":"hist:count","time_ns":%d,"final":true,"histograms":[],"lost":0}
`, base+1000, base+3000, base+3000)
	if err := os.WriteFile(filepath.Join(sub, "aggregates.jsonl"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	events := checkChrome(t, convert(t, tr))
	var counters []event
	for _, e := range events {
		if e.Ph == "C" {
			counters = append(counters, e)
		}
	}
	if len(counters) != 2 {
		t.Fatalf("%d counter events, want 2 (histograms are not counters)", len(counters))
	}
	if counters[0].Name != "count:comm" || counters[0].Args["comm=alpha"] != json.Number("3") || counters[0].Args["comm=beta"] != json.Number("1") {
		t.Errorf("first counter: %+v", counters[0])
	}
	if counters[1].Args["comm=alpha"] != json.Number("5") || counters[1].ts-counters[0].ts != 2000 {
		t.Errorf("second counter: %+v (dt %d ns)", counters[1], counters[1].ts-counters[0].ts)
	}
	if metaName(events, "process_name", counters[0].PID, 0) != "aggregates" {
		t.Errorf("counter process not named")
	}
}
