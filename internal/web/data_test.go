package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// smallTrace writes the trace the exact tests check:
//
//	ev 0  t=0    CPU0 tid 10  sched_wakeup of 20
//	ev 1  t=50   CPU1 tid 0   sched_switch swapper/0 → c/30
//	ev 2  t=100  CPU0 tid 10  sched_switch a/10 → b/20
//	ev 3  t=150  CPU0 tid 20  sys_enter_read
//	ev 4  t=400  CPU0 tid 20  sys_exit_read
//	ev 5  t=500  CPU0 tid 20  sched_switch b/20 → swapper/0
//	ev 6  t=600  CPU1 tid 30  sys_enter_read (never exits)
//	ev 7  t=700  CPU1 tid 30  profile:sample
func smallTrace(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "trace")
	s := newSynth(t, dir)
	a := who{10, 10, "a"}
	b := who{20, 20, "b"}
	c := who{30, 30, "c"}
	idle := who{0, 0, "swapper/0"}
	s.write(0, 0, s.wk, a, "b", int32(20), int32(120), int32(0))
	s.switchTo(1, 50, idle, c)
	s.switchTo(0, 100, a, b)
	s.sysEnter(0, 150, "read", b, 3)
	s.sysExit(0, 400, "read", b, 4096)
	s.switchTo(0, 500, b, idle)
	s.sysEnter(1, 600, "read", c, 4)
	s.write(1, 700, s.prof, c, uint16(2), []string{"f2+0x10 ([kernel])", "f1"})
	s.close()
	return dir
}

// laneView is a lane with names resolved, for comparison.
type laneView struct {
	Name  string
	Start []int64
	Dur   []int64
	Names []string
	Ev    []int64
	Ev2   []int64
	TID   []int32
	State []int8
	CPU   []int32
}

func view(d *Data, l *Lane) laneView {
	v := laneView{Name: l.Name, Start: l.Start, Dur: l.Dur, Ev: l.Ev, Ev2: l.Ev2, TID: l.TID, State: l.State, CPU: l.CPU}
	for _, n := range l.Nm {
		v.Names = append(v.Names, d.Strings[n])
	}
	return v
}

// States of state lanes.
const (
	running  = int8(analyze.StateRunning)
	runnable = int8(analyze.StateRunnable)
	blocked  = int8(analyze.StateBlocked)
)

func TestBuildExactSlices(t *testing.T) {
	dir := smallTrace(t)
	d, _, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Events != 8 || d.Duration != 700 || d.Origin != 1_700_000_000_000_000_000+base {
		t.Fatalf("events %d duration %d origin %d", d.Events, d.Duration, d.Origin)
	}
	if diff := cmp.Diff([]int64{0, 50, 100, 150, 400, 500, 600, 700}, d.T); diff != "" {
		t.Errorf("times (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{10, 0, 10, 20, 20, 20, 30, 30}, d.TID); diff != "" {
		t.Errorf("tids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{0, 1, 0, 0, 0, 0, 1, 1}, d.CPU); diff != "" {
		t.Errorf("cpus (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{0, 1}, d.CPUs); diff != "" {
		t.Errorf("CPUs (-want +got):\n%s", diff)
	}

	var names []string
	for _, tk := range d.Tracks {
		names = append(names, tk.Kind+":"+tk.Name)
	}
	if diff := cmp.Diff([]string{"cpu:CPU 0", "cpu:CPU 1", "thread:a 10", "thread:b 20", "thread:c 30"}, names); diff != "" {
		t.Fatalf("tracks (-want +got):\n%s", diff)
	}
	// The slices are the intervals and pairs of analyze.Walk: a ran on
	// CPU 0 since its first event; b, woken before it ran, is runnable from
	// the wake-up; c's read never exits.
	tr := d.Tracks
	want := map[string][]laneView{
		"CPU 0": {{Name: "running", Start: []int64{0, 100}, Dur: []int64{100, 400}, Names: []string{"a", "b"},
			Ev: []int64{-1, 2}, Ev2: []int64{2, 5}, TID: []int32{10, 20}}},
		"CPU 1": {{Name: "running", Start: []int64{50}, Dur: []int64{650}, Names: []string{"c"},
			Ev: []int64{1}, Ev2: []int64{-1}, TID: []int32{30}}},
		"a 10": {{Name: "state", Start: []int64{0, 100}, Dur: []int64{100, 600}, Names: []string{"CPU 0", "Blocked"},
			Ev: []int64{-1, 2}, Ev2: []int64{2, -1}, State: []int8{running, blocked}, CPU: []int32{0, -1}}},
		"b 20": {
			{Name: "state", Start: []int64{0, 100, 500}, Dur: []int64{100, 400, 200}, Names: []string{"Runnable (woken)", "CPU 0", "Blocked"},
				Ev: []int64{0, 2, 5}, Ev2: []int64{2, 5, -1}, State: []int8{runnable, running, blocked}, CPU: []int32{-1, 0, -1}},
			{Name: "syscalls", Start: []int64{150}, Dur: []int64{250}, Names: []string{"read"}, Ev: []int64{3}, Ev2: []int64{4}},
		},
		"c 30": {
			{Name: "state", Start: []int64{50}, Dur: []int64{650}, Names: []string{"CPU 1"}, Ev: []int64{1}, Ev2: []int64{-1},
				State: []int8{running}, CPU: []int32{1}},
			{Name: "syscalls", Start: []int64{600}, Dur: []int64{100}, Names: []string{"read (unfinished)"}, Ev: []int64{6}, Ev2: []int64{-1}},
		},
	}
	for _, tk := range tr {
		var got []laneView
		for _, l := range tk.Lanes {
			got = append(got, view(d, l))
		}
		if diff := cmp.Diff(want[tk.Name], got); diff != "" {
			t.Errorf("track %s (-want +got):\n%s", tk.Name, diff)
		}
	}
	// Markers: the wakeup on a, the sample on c.
	if diff := cmp.Diff([]int64{0}, tr[2].MarkT); diff != "" || len(tr[2].MarkEv) != 1 || tr[2].MarkEv[0] != 0 {
		t.Errorf("markers of a: %v %v", tr[2].MarkT, tr[2].MarkEv)
	}
	if len(tr[3].MarkT) != 0 {
		t.Errorf("b has markers %v", tr[3].MarkT)
	}
	if diff := cmp.Diff([]int64{700}, tr[4].MarkT); diff != "" || d.Strings[tr[4].MarkNm[0]] != "profile:sample" {
		t.Errorf("markers of c: %v", tr[4].MarkT)
	}

	// Latency of the one complete read.
	if len(d.Latency) != 1 {
		t.Fatalf("latency %+v", d.Latency)
	}
	l := d.Latency[0]
	if l.Name != "read" || l.Count != 1 || l.Min != 250 || l.Max != 250 || l.P50 != 250 || l.P99 != 250 || l.Sum != 250 {
		t.Errorf("latency %+v", l)
	}
	if diff := cmp.Diff([]hist.Bucket{{Index: 8, Low: 128, High: 256, Count: 1}}, l.Buckets); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}

	// Flame graph: all → f1 → f2 (offset dropped), f2 of the kernel.
	f := d.Flame
	if f == nil || f.Samples != 1 {
		t.Fatalf("flame %+v", f)
	}
	var fn []string
	for _, n := range f.Nm {
		fn = append(fn, d.Strings[n])
	}
	if diff := cmp.Diff([]string{"all", "f1", "f2"}, fn); diff != "" {
		t.Errorf("flame frames (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{-1, 0, 1}, f.Parent); diff != "" {
		t.Errorf("flame parents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{1, 1, 1}, f.Value); diff != "" {
		t.Errorf("flame values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{0, 0, 1}, f.Self); diff != "" {
		t.Errorf("flame self (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false, false, true}, f.Kernel); diff != "" {
		t.Errorf("flame kernel frames (-want +got):\n%s", diff)
	}

	// Fields, column by column; names without "_", __syscall_nr left out.
	var sw *Class
	for _, c := range d.Classes {
		if c.Name == "sched:sched_switch" {
			sw = c
		}
		if c.Name == "syscalls:sys_enter_read" {
			if diff := cmp.Diff([]string{"fd", "buf", "count"}, c.Fields); diff != "" || c.Kinds != "ixi" {
				t.Errorf("enter_read fields %v kinds %q", c.Fields, c.Kinds)
			}
			if diff := cmp.Diff([]int64{3, 4}, c.Cols[0].Ints); diff != "" {
				t.Errorf("fd column (-want +got):\n%s", diff)
			}
		}
	}
	if sw == nil || sw.Count != 3 {
		t.Fatalf("sched_switch class %+v", sw)
	}
	if diff := cmp.Diff([]int64{30, 20, 0}, sw.Cols[5].Ints); diff != "" {
		t.Errorf("next_pid column (-want +got):\n%s", diff)
	}
	var comms []string
	for _, id := range sw.Cols[4].Ints {
		comms = append(comms, d.Strings[id])
	}
	if diff := cmp.Diff([]string{"c", "b", "swapper/0"}, comms); diff != "" {
		t.Errorf("next_comm column (-want +got):\n%s", diff)
	}
}

func TestWriteJSON(t *testing.T) {
	dir := smallTrace(t)
	d, _, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := d.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version int `json:"version"`
		Events  int `json:"events"`
		Ev      struct {
			T []int64 `json:"t"`
		} `json:"ev"`
		Tracks []struct {
			Name  string `json:"name"`
			Lanes []struct {
				Name  string  `json:"name"`
				ByEv  bool    `json:"byev"`
				Start []int64 `json:"start"`
				Ev    []int64 `json:"ev"`
				Ev2   []int64 `json:"ev2"`
				State []int8  `json:"state"`
				CPU   []int32 `json:"cpu"`
			} `json:"lanes"`
		} `json:"tracks"`
	}
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if v.Version != Version || v.Events != 8 {
		t.Errorf("version %d events %d", v.Version, v.Events)
	}
	// Delta-encoded times and starts.
	if diff := cmp.Diff([]int64{0, 50, 50, 50, 250, 100, 100, 100}, v.Ev.T); diff != "" {
		t.Errorf("ev.t deltas (-want +got):\n%s", diff)
	}
	// Slices from event to event leave their times to the viewer.
	cpu0 := v.Tracks[0].Lanes[0]
	if !cpu0.ByEv || cpu0.Start != nil {
		t.Errorf("CPU 0 lane: byev %v starts %v", cpu0.ByEv, cpu0.Start)
	}
	if diff := cmp.Diff([]int64{-1, 3}, cpu0.Ev); diff != "" {
		t.Errorf("CPU 0 ev deltas (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{3, 3}, cpu0.Ev2); diff != "" {
		t.Errorf("CPU 0 ev2 offsets (-want +got):\n%s", diff)
	}
	b := v.Tracks[3]
	if b.Name != "b 20" || len(b.Lanes) != 2 || b.Lanes[0].Name != "state" || b.Lanes[1].Name != "syscalls" {
		t.Fatalf("thread b: %+v", b)
	}
	st := b.Lanes[0]
	if !st.ByEv || st.Start != nil || fmt.Sprint(st.State, st.CPU) != "[2 1 3] [-1 0 -1]" {
		t.Errorf("state lane of b: %+v", st)
	}
	if bytes.Contains(buf.Bytes(), []byte("<")) {
		t.Errorf("JSON holds a raw <")
	}
}

func TestBigAndOddValues(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	s := newSynth(t, dir)
	w := who{1, 1, "x</script><b>"}
	s.sysEnter(0, 0, "read", w, -1)
	s.write(0, 10, s.enter["futex"], w, int32(0), int32(5), uint64(0xffffffff81000000), uint64(1<<63+5))
	s.close()
	d, _, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := d.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"18446744071578845184"`, `"9223372036854775813"`, `x\u003c/script\u003e\u003cb\u003e`} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	if strings.Contains(out, "</script") {
		t.Errorf("JSON can end a script element")
	}
	if !json.Valid(buf.Bytes()) {
		t.Errorf("invalid JSON")
	}
}

func TestFieldLimit(t *testing.T) {
	dir := smallTrace(t)
	d, _, err := Build(dir, Options{MaxFieldEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range d.Classes {
		total += c.Count
	}
	if total != 3 || len(d.Notes) != 1 || d.Events != 8 {
		t.Errorf("kept fields of %d events, notes %v", total, d.Notes)
	}
}

// TestPrepare: view and report read the trace once for both sidecars, and
// read it again only when one of them is stale.
func TestPrepare(t *testing.T) {
	dir := smallTrace(t)
	before, _ := os.ReadDir(dir)
	p, tmp, err := Prepare(dir, Options{})
	if err != nil || tmp {
		t.Fatal(err, tmp)
	}
	if p != filepath.Join(dir, "bpftrail", "view-data.json") {
		t.Errorf("view data at %s", p)
	}
	// Nothing but the bpftrail/ directory was added to the trace directory.
	after, _ := os.ReadDir(dir)
	if len(after) != len(before)+1 {
		t.Errorf("trace directory had %d entries, has %d", len(before), len(after))
	}
	// The analyses are those of bpftrail analyze, from the same walk.
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := analyze.Run(tr)
	if err != nil {
		t.Fatal(err)
	}
	var saved analyze.Report
	if ok, err := tracedir.ReadJSON(dir, tracedir.Analysis, &saved); !ok || err != nil {
		t.Fatalf("analysis.json: %v %v", ok, err)
	}
	if diff := cmp.Diff(r, &saved); diff != "" {
		t.Errorf("saved analyses differ from analyze.Run (-run +saved):\n%s", diff)
	}
	same := func(what string, want bool) {
		t.Helper()
		fi1, _ := os.Stat(p)
		fa1, _ := os.Stat(tracedir.Path(dir, tracedir.Analysis))
		if _, _, err := Prepare(dir, Options{}); err != nil {
			t.Fatal(err)
		}
		fi2, _ := os.Stat(p)
		fa2, _ := os.Stat(tracedir.Path(dir, tracedir.Analysis))
		if got := os.SameFile(fi1, fi2) && os.SameFile(fa1, fa2); got != want {
			t.Errorf("%s: sidecars kept %v, want %v", what, got, want)
		}
	}
	same("fresh", true)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "stream_0"), future, future); err != nil {
		t.Fatal(err)
	}
	same("a stream changed", false)
	same("fresh again", true)
	sig, _ := tracedir.Signature(dir)
	if err := tracedir.WriteDerived(dir, tracedir.Analysis, analyze.Version-1, sig, func(io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	same("analyses of another version", false)
	if err := tracedir.WriteDerived(dir, tracedir.ViewData, Version-1, sig, func(w io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	same("view data of another version", false)
	b, _ := os.ReadFile(p)
	if !bytes.HasPrefix(b, []byte(`{"version":`+strconv.Itoa(Version)+`,`)) {
		t.Errorf("view data: %.40s", b)
	}
}

// TestPrepareReadOnly: a trace directory that cannot be written still gets
// its view, from a temporary file.
func TestPrepareReadOnly(t *testing.T) {
	dir := smallTrace(t)
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount %s: %v (needs root)", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	p, tmp, err := Prepare(dir, Options{})
	if err != nil || !tmp {
		t.Fatalf("Prepare: %s %v %v", p, tmp, err)
	}
	defer os.Remove(p)
	if filepath.Dir(p) == filepath.Join(dir, tracedir.SubDir) {
		t.Errorf("view data at %s", p)
	}
	b, err := os.ReadFile(p)
	if err != nil || !json.Valid(b) || !bytes.Contains(b, []byte(`"events":8`)) {
		t.Errorf("view data in %s: %v %.80s", p, err, b)
	}
	if _, err := os.Stat(filepath.Join(dir, tracedir.SubDir)); err == nil {
		t.Errorf("%s created in a read-only trace", tracedir.SubDir)
	}
}

func TestAggregates(t *testing.T) {
	dir := smallTrace(t)
	os.MkdirAll(filepath.Join(dir, "bpftrail"), 0o755)
	agg := `{"aggregate":"count:comm","time_ns":1,"final":false,"counts":[{"key":{"comm":"<b>"},"count":1}],"lost":0}
{"aggregate":"count:comm","counts":[{"key":{"comm":"<b>"},"count":3}],"lost":0}
not json
{"aggregate":"hist:ret","histograms":[{"key":{},"buckets":[{"index":1,"low":1,"high":2,"count":5}]}],"lost":0}
`
	os.WriteFile(filepath.Join(dir, "bpftrail", "aggregates.jsonl"), []byte(agg), 0o644)
	p, _, err := Prepare(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var v struct {
		Aggregates []map[string]any `json:"aggregates"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Aggregates) != 2 || v.Aggregates[1]["aggregate"] != "hist:ret" {
		t.Errorf("aggregates %v", v.Aggregates)
	}
	if bytes.Contains(b, []byte("<b>")) {
		t.Errorf("aggregates not HTML-escaped")
	}
}

func TestThreadStates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	s := newSynth(t, dir)
	a, b := who{1, 1, "a"}, who{2, 2, "b"}
	idle := who{0, 0, "swapper/0"}
	s.switchTo(0, 0, idle, a)                // ev 0
	s.switchState(0, 100, a, 256, b)         // ev 1: a preempted ("R+")
	s.switchState(0, 300, b, 1, a)           // ev 2: b sleeps, a runs again
	s.write(0, 350, s.wk, a, "b", 2, 120, 0) // ev 3: a wakes b
	s.switchState(0, 400, a, 0, b)           // ev 4: a preempted again, b runs
	s.close()
	d, _, err := Build(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]laneView{}
	for _, tk := range d.Tracks {
		if tk.Kind == "thread" {
			got[tk.Name] = view(d, tk.Lanes[0])
		}
	}
	// The states that begin with the last event take no time: not drawn.
	want := map[string]laneView{
		"a 1": {Name: "state", Start: []int64{0, 100, 300}, Dur: []int64{100, 200, 100},
			Names: []string{"CPU 0", "Runnable (preempted)", "CPU 0"},
			Ev:    []int64{0, 1, 2}, Ev2: []int64{1, 2, 4},
			State: []int8{running, runnable, running}, CPU: []int32{0, -1, 0}},
		"b 2": {Name: "state", Start: []int64{100, 300, 350}, Dur: []int64{200, 50, 50},
			Names: []string{"CPU 0", "Blocked", "Runnable (woken)"},
			Ev:    []int64{1, 2, 3}, Ev2: []int64{2, 3, 4},
			State: []int8{running, blocked, runnable}, CPU: []int32{0, -1, -1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state lanes (-want +got):\n%s", diff)
	}
}

func TestLaneTimes(t *testing.T) {
	d := &Data{T: []int64{0, 10, 20, 30}, Duration: 40}
	l := &Lane{Start: []int64{0, 10, 30}, Dur: []int64{10, 10, 10}, Ev: []int64{-1, 1, 3}, Ev2: []int64{1, 2, -1}}
	if !d.byEvents(l) {
		t.Errorf("lane from event to event not recognized")
	}
	l.Dur[2] = 5
	if d.byEvents(l) {
		t.Errorf("lane ending before the trace's end taken as by events")
	}
	var buf bytes.Buffer
	d.Tracks = []*Track{{Kind: "cpu", Name: "CPU 0", Lanes: []*Lane{l}}}
	d.WriteJSON(&buf)
	if !strings.Contains(buf.String(), `"start":[0,10,20],"dur":[10,10,5]`) {
		t.Errorf("explicit lane times missing: %s", buf.String())
	}
}
