package stacks_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pprof "github.com/google/pprof/profile"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/sink/stacks"
	"github.com/bpftrail/bpftrail/internal/symbolize"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// offset is the clock offset of the test traces.
const offset = 1_700_000_000_000_000_000

// sample is one event with stacks, as record --stack and profile write them.
type sample struct {
	cpu      int
	ns       uint64
	pid, tid int32
	comm     string
	event    string   // "profile" (profile:hz:100) or "openat" (count only)
	kstack   []uint64 // leaf first
	ustack   []uint64
}

// writeStacks writes a trace of samples with bpftrail's stream event
// context, and syms as its symbol table when not nil.
func writeStacks(t *testing.T, samples []sample, syms *symbolize.Table) *ctf.Trace {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := ctf.Create(dir, ctf.Options{Clock: func() uint64 { return 0 }, ClockOffset: offset, EventContext: ctftrace.ContextType()})
	if err != nil {
		t.Fatal(err)
	}
	stack := func(name string) []ctf.Field {
		ln := "__" + name + "_length"
		return []ctf.Field{ctf.F(ln, ctf.Uint(16)), ctf.F("_"+name, ctf.Sequence(ctf.Hex(ctf.Uint(64)), ln))}
	}
	prof, err := w.AddEventClass("profile:hz:100", ctf.Struct(append(stack("kstack"), stack("ustack")...)...))
	if err != nil {
		t.Fatal(err)
	}
	openat, err := w.AddEventClass("syscalls:sys_enter_openat", ctf.Struct(append([]ctf.Field{ctf.F("_dfd", ctf.Int(32))}, stack("ustack")...)...))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		st, err := w.Stream(s.cpu)
		if err != nil {
			t.Fatal(err)
		}
		var enc *ctf.Encoder
		if s.event == "profile" {
			enc = st.Begin(prof, s.ns).I32(s.pid).I32(s.tid).String(s.comm).U16(uint16(len(s.kstack)))
			for _, a := range s.kstack {
				enc.U64(a)
			}
		} else {
			enc = st.Begin(openat, s.ns).I32(s.pid).I32(s.tid).String(s.comm).I32(-100)
		}
		enc.U16(uint16(len(s.ustack)))
		for _, a := range s.ustack {
			enc.U64(a)
		}
		if err := enc.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if syms != nil {
		if err := tracedir.WriteJSON(dir, tracedir.Symbols, syms); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// readBack reads the profile of tr with the symbols saved beside it, and
// its pprof profile as go tool pprof would: encoded, then parsed.
func readBack(t *testing.T, tr *ctf.Trace) (*stacks.Profile, string, *pprof.Profile) {
	t.Helper()
	var syms *symbolize.Table
	var tab symbolize.Table
	if ok, err := tracedir.ReadJSON(tr.Dir, tracedir.Symbols, &tab); err != nil {
		t.Fatal(err)
	} else if ok {
		syms = &tab
	}
	p, err := stacks.Read(tr, syms)
	if err != nil {
		t.Fatal(err)
	}
	var folded bytes.Buffer
	if err := p.WriteFolded(&folded); err != nil {
		t.Fatal(err)
	}
	prof, err := p.PPROF()
	if err != nil {
		t.Fatal(err)
	}
	var enc, again bytes.Buffer
	if err := prof.Write(&enc); err != nil {
		t.Fatal(err)
	}
	// The same samples give the same bytes (profile and convert agree).
	prof2, _ := p.PPROF()
	if err := prof2.Write(&again); err != nil || !bytes.Equal(enc.Bytes(), again.Bytes()) {
		t.Errorf("two encodings of one profile differ (%v)", err)
	}
	back, err := pprof.Parse(&enc)
	if err != nil {
		t.Fatal(err)
	}
	return p, folded.String(), back
}

// stackOf is a pprof sample as "comm pid: leaf<-...<-root = values".
func stackOf(s *pprof.Sample) string {
	var names []string
	for _, l := range s.Location {
		names = append(names, l.Line[0].Function.Name)
	}
	return fmt.Sprintf("%s %d: %s = %s", s.Label["comm"][0], s.NumLabel["pid"][0], strings.Join(names, "<-"),
		strings.Trim(fmt.Sprint(s.Value), "[]"))
}

const (
	kOpen    = 0xffffffff81000010 // in the table
	kLost    = 0xffffffff81999999 // not in the table
	uWork    = 0x401010
	uMain    = 0x401500
	uLibc    = 0x7f0000001000 // a module without a symbol
	period   = 10_000_000     // profile:hz:100
	buildApp = "abcd"
	buildLib = "ef01"
)

func table() *symbolize.Table {
	syms := symbolize.NewTable()
	syms.Add(0, false, kOpen, symbolize.Frame{Addr: kOpen, Function: "do_sys_openat2", Offset: 0x10, Module: symbolize.ModuleKernel, ModuleOffset: kOpen})
	syms.Add(7, true, uWork, symbolize.Frame{Addr: uWork, Function: "work", Offset: 0x10, Module: "/bin/app", ModuleOffset: 0x1010, BuildID: buildApp})
	syms.Add(7, true, uMain, symbolize.Frame{Addr: uMain, Function: "main;x", Module: "/bin/app", ModuleOffset: 0x1500, BuildID: buildApp})
	syms.Add(7, true, uLibc, symbolize.Frame{Addr: uLibc, Module: "/lib/libc.so.6", ModuleOffset: 0x1000, BuildID: buildLib})
	return syms
}

func TestFoldedAndPPROF(t *testing.T) {
	tr := writeStacks(t, []sample{
		{0, 100, 7, 7, "app", "profile", nil, []uint64{uWork, uMain}},
		{1, 150, 7, 8, "app", "profile", nil, []uint64{uWork, uMain}},
		{0, 200, 7, 7, "app", "profile", []uint64{kOpen, kLost}, []uint64{uLibc, uMain}},
		{1, 250, 9, 9, "app", "profile", nil, []uint64{uWork, uMain}}, // another process: not in the table
		{0, 300, 7, 7, "app", "openat", nil, []uint64{uWork, uMain}},  // a stack that only counts
	}, table())
	p, folded, back := readBack(t, tr)
	want := strings.Join([]string{
		"app;[unknown]+0x401500;[unknown]+0x401010 1",
		"app;main:x;/lib/libc.so.6+0x1000;[kernel]+0xffffffff81999999;do_sys_openat2 1",
		"app;main:x;work 3",
	}, "\n") + "\n"
	if folded != want {
		t.Errorf("folded:\n%s\nwant:\n%s", folded, want)
	}
	if p.Samples != 5 || len(p.Stacks) != 4 || p.PeriodNs != period {
		t.Errorf("%d samples in %d stacks, period %d; want 5 in 4, %d", p.Samples, len(p.Stacks), p.PeriodNs, period)
	}

	var got []string
	for _, s := range back.Sample {
		got = append(got, stackOf(s))
	}
	wantSamples := []string{
		"app 7: work<-main;x = 2 20000000",
		"app 7: do_sys_openat2<-[kernel]+0xffffffff81999999<-/lib/libc.so.6+0x1000<-main;x = 1 10000000",
		"app 9: [unknown]+0x401010<-[unknown]+0x401500 = 1 10000000",
		"app 7: work<-main;x = 1 0",
	}
	if d := cmp.Diff(wantSamples, got); d != "" {
		t.Errorf("pprof samples (-want +got):\n%s", d)
	}
	types := []string{}
	for _, st := range back.SampleType {
		types = append(types, st.Type+"/"+st.Unit)
	}
	if d := cmp.Diff([]string{"samples/count", "cpu/nanoseconds"}, types); d != "" || back.PeriodType == nil ||
		back.PeriodType.Type != "cpu" || back.PeriodType.Unit != "nanoseconds" || back.Period != period {
		t.Errorf("sample types %v, period %v %d", types, back.PeriodType, back.Period)
	}
	if back.TimeNanos != offset+100 || back.DurationNanos != 200 {
		t.Errorf("time %d, duration %d; want %d, 200", back.TimeNanos, back.DurationNanos, int64(offset+100))
	}
	mappings := map[string]string{}
	for _, m := range back.Mapping {
		mappings[m.File] = m.BuildID
	}
	wantMappings := map[string]string{"/bin/app": buildApp, "/lib/libc.so.6": buildLib, "[kernel]": "", "[unknown]": ""}
	if d := cmp.Diff(wantMappings, mappings); d != "" {
		t.Errorf("mappings and build ids (-want +got):\n%s", d)
	}
	// One location per address of a process or of the kernel, with it.
	var locs []string
	for _, l := range back.Location {
		locs = append(locs, fmt.Sprintf("%s@%x", l.Mapping.File, l.Address))
	}
	sort.Strings(locs)
	wantLocs := []string{"/bin/app@401010", "/bin/app@401500", "/lib/libc.so.6@7f0000001000",
		"[kernel]@ffffffff81000010", "[kernel]@ffffffff81999999", "[unknown]@401010", "[unknown]@401500"}
	if d := cmp.Diff(wantLocs, locs); d != "" {
		t.Errorf("locations (-want +got):\n%s", d)
	}
	if len(back.Function) != 7 {
		t.Errorf("%d functions, want 7 (one per name and module)", len(back.Function))
	}
}

// TestWithoutSymbols: a trace without its symbol table still converts, with
// every address an unknown frame of its module.
func TestWithoutSymbols(t *testing.T) {
	tr := writeStacks(t, []sample{{0, 100, 7, 7, "app", "profile", []uint64{kOpen}, []uint64{uWork}}}, nil)
	_, folded, _ := readBack(t, tr)
	if want := "app;[unknown]+0x401010;[kernel]+0xffffffff81000010 1\n"; folded != want {
		t.Errorf("folded %q, want %q", folded, want)
	}
}

// legacySample is one profile:sample event as earlier versions of bpftrail
// profile wrote them.
type legacySample struct {
	cpu      int
	ns       uint64
	pid, tid int32
	comm     string
	stack    []string // leaf first
}

func writeLegacy(t *testing.T, samples []legacySample) *ctf.Trace {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prof")
	w, err := ctf.Create(dir, ctf.Options{Clock: func() uint64 { return 0 }, ClockOffset: 1e18})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("profile:sample", ctf.Struct(
		ctf.F("_pid", ctf.Int(32)), ctf.F("_tid", ctf.Int(32)), ctf.F("_comm", ctf.String()),
		ctf.F("__stack_length", ctf.Uint(16)), ctf.F("_stack", ctf.Sequence(ctf.String(), "__stack_length"))))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		st, err := w.Stream(s.cpu)
		if err != nil {
			t.Fatal(err)
		}
		enc := st.Begin(ec, s.ns).I32(s.pid).I32(s.tid).String(s.comm).U16(uint16(len(s.stack)))
		for _, f := range s.stack {
			enc.String(f)
		}
		if err := enc.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestLegacyProfileSamples(t *testing.T) {
	leafA := []string{"work+0x10 (/bin/app)", "main+0x5 (/bin/app)"}
	leafB := []string{"do_sys_openat2+0x7 ([kernel])", "open;at+0x1 (/lib/libc.so)", "main+0x9 (/bin/app)"}
	tr := writeLegacy(t, []legacySample{
		{0, 100, 7, 7, "app", leafA},
		{1, 150, 7, 8, "app", leafA},
		{0, 200, 7, 7, "app", leafB},
		{1, 250, 9, 9, "other app", leafA},
		{0, 300, 7, 7, "app", leafA},
		{1, 350, 7, 7, "app", []string{"[jit]+0xad", "0x7f00deadbeef"}},
	})
	p, folded, back := readBack(t, tr)
	want := strings.Join([]string{
		"app;[unknown]+0x7f00deadbeef;[jit]+0xad 1",
		"app;main;open:at;do_sys_openat2 1",
		"app;main;work 3",
		"other app;main;work 1",
	}, "\n") + "\n"
	if folded != want {
		t.Errorf("folded:\n%s\nwant:\n%s", folded, want)
	}
	if p.PeriodNs != 0 || len(back.SampleType) != 1 || back.SampleType[0].Type != "samples" {
		t.Errorf("untimed samples: period %d, sample types %v", p.PeriodNs, back.SampleType)
	}
	var got []string
	for _, s := range back.Sample {
		got = append(got, stackOf(s))
	}
	wantSamples := []string{
		"app 7: work<-main = 3",
		"app 7: do_sys_openat2<-open;at<-main = 1",
		"other app 9: work<-main = 1",
		"app 7: [jit]+0xad<-[unknown]+0x7f00deadbeef = 1",
	}
	if d := cmp.Diff(wantSamples, got); d != "" {
		t.Errorf("pprof samples (-want +got):\n%s", d)
	}
	// main+0x5 and main+0x9 are one function of /bin/app.
	if len(back.Function) != 6 || back.DurationNanos != 250 {
		t.Errorf("%d functions, duration %d; want 6, 250", len(back.Function), back.DurationNanos)
	}
	for _, s := range p.Stacks {
		if wantK := map[bool]int{true: 1, false: 0}[s.Frames[0].Function == "do_sys_openat2"]; s.Kernel != wantK {
			t.Errorf("stack %v: %d kernel frames, want %d", s.Frames, s.Kernel, wantK)
		}
	}
}

func TestNoSamples(t *testing.T) {
	tr := writeLegacy(t, nil)
	if _, err := stacks.Read(tr, nil); err == nil || !strings.Contains(err.Error(), "no stack samples") {
		t.Errorf("err = %v", err)
	}
}
