package stacks_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	pprof "github.com/google/pprof/profile"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/sink/stacks"
)

// sample is one profile:sample event as bpftrail profile writes it.
type sample struct {
	cpu      int
	ns       uint64
	pid, tid int32
	comm     string
	stack    []string // leaf first
}

func writeProfile(t *testing.T, samples []sample) *ctf.Trace {
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

func TestFoldedAndPPROF(t *testing.T) {
	leafA := []string{"work+0x10 (/bin/app)", "main+0x5 (/bin/app)"}
	leafB := []string{"do_sys_openat2+0x7 ([kernel])", "open;at+0x1 (/lib/libc.so)", "main+0x9 (/bin/app)"}
	samples := []sample{
		{0, 100, 7, 7, "app", leafA},
		{1, 150, 7, 8, "app", leafA},
		{0, 200, 7, 7, "app", leafB},
		{1, 250, 9, 9, "other app", leafA},
		{0, 300, 7, 7, "app", leafA},
	}
	tr := writeProfile(t, samples)
	p, err := stacks.Read(tr)
	if err != nil {
		t.Fatal(err)
	}
	var folded bytes.Buffer
	if err := p.WriteFolded(&folded); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"app;main+0x5 (/bin/app);work+0x10 (/bin/app) 3",
		"app;main+0x9 (/bin/app);open:at+0x1 (/lib/libc.so);do_sys_openat2+0x7 ([kernel]) 1",
		"other app;main+0x5 (/bin/app);work+0x10 (/bin/app) 1",
	}, "\n") + "\n"
	if folded.String() != want {
		t.Errorf("folded:\n%s\nwant:\n%s", folded.String(), want)
	}
	prof, err := p.PPROF()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := prof.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := pprof.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Function) != 5 || len(back.Sample) != 3 {
		t.Errorf("%d functions, %d samples; want 5 (one per frame string), 3", len(back.Function), len(back.Sample))
	}
	var total int64
	for _, s := range back.Sample {
		total += s.Value[0]
		if s.Location[0].Line[0].Function.Name == leafB[0] && s.Value[0] != 1 {
			t.Errorf("openat stack has %d samples, want 1", s.Value[0])
		}
		if s.Label["comm"][0] == "other app" && s.NumLabel["pid"][0] != 9 {
			t.Errorf("pid label %v", s.NumLabel["pid"])
		}
	}
	if total != 5 || back.DurationNanos != 200 {
		t.Errorf("total %d samples, duration %d; want 5, 200", total, back.DurationNanos)
	}
}

func TestNoSamples(t *testing.T) {
	tr := writeProfile(t, nil)
	if _, err := stacks.Read(tr); err == nil || !strings.Contains(err.Error(), "no stack samples") {
		t.Errorf("err = %v", err)
	}
}
