package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// writeSession writes an LTTng session output directory under root: a
// kernel trace in kernel/ and a user-space one in ust/uid/0/64-bit/, with
// their own UUIDs, event classes and per-CPU streams, and events that
// alternate between the two. The user-space stream of CPU 1 reports 2
// discarded events after its last event. It returns the events as
// "SECONDS.NS NAME cpu=CPU PAYLOAD", in time order.
func writeSession(t *testing.T, root string) []string {
	t.Helper()
	const offset = 1_700_000_000_000_000_000
	open := func(dir, tracer, domain string) *ctf.Writer {
		w, err := ctf.Create(filepath.Join(root, dir), ctf.Options{Hostname: "testhost", TracerName: tracer,
			TracerMajor: 2, TracerMinor: 13, Domain: domain, Clock: func() uint64 { return 500 }, ClockOffset: offset,
			ClockUUID: "2b3c8f6e-6a4f-4d2b-9f0e-5f1c2d3e4a5b"})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	kw, uw := open("kernel", "lttng-modules", "kernel"), open("ust/uid/0/64-bit", "lttng-ust", "ust")
	add := func(w *ctf.Writer, name string, fields *ctf.Type) *ctf.EventClass {
		ec, err := w.AddEventClass(name, fields)
		if err != nil {
			t.Fatal(err)
		}
		return ec
	}
	sw := add(kw, "sched_switch", ctf.Struct(ctf.F("prev_tid", ctf.Int(32)), ctf.F("next_tid", ctf.Int(32))))
	op := add(kw, "syscall_entry_openat", ctf.Struct(ctf.F("filename", ctf.String())))
	tick := add(uw, "app:tick", ctf.Struct(ctf.F("n", ctf.Uint(64))))
	var want []string
	ts := uint64(1000)
	for i := range 12 {
		cpu := (i / 2) % 2
		w, ec, vals, payload := kw, sw, []any{int32(i), int32(-i)}, fmt.Sprintf("{ prev_tid = %d, next_tid = %d }", i, -i)
		switch i % 3 {
		case 1:
			w, ec, vals, payload = uw, tick, []any{uint64(i)}, fmt.Sprintf("{ n = %d }", i)
		case 2:
			w, ec, vals, payload = kw, op, []any{fmt.Sprintf("/f%d", i)}, fmt.Sprintf(`{ filename = "/f%d" }`, i)
		}
		s, err := w.Stream(cpu)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ec, ts, vals...); err != nil {
			t.Fatal(err)
		}
		ns := offset + int64(ts)
		want = append(want, fmt.Sprintf("%d.%09d %s cpu=%d %s", ns/1e9, ns%1e9, ec.Name, cpu, payload))
		ts += uint64(5 + i)
	}
	s, err := uw.Stream(1)
	if err != nil {
		t.Fatal(err)
	}
	s.AddDiscarded(2, ts)
	for _, w := range []*ctf.Writer{kw, uw} {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

var (
	// printLine is an event line of bpftrail print.
	printLine = regexp.MustCompile(`^\[\d\d:\d\d:\d\d\.(\d{9})\] \(\S+\) cpu (\d+) (\S+): (\{.*\})$`)
	// bt2Line is an event line of babeltrace2 --clock-seconds --no-delta.
	bt2Line = regexp.MustCompile(`^\[(\d+\.\d{9})\] \S+ (\S+): \{ cpu_id = (\d+) \}, (\{.*\})$`)
)

// TestPrintLTTngSession reads an LTTng session directory with bpftrail
// print and with babeltrace2: both show every event of both traces, in
// time order, with the same payloads.
func TestPrintLTTngSession(t *testing.T) {
	root := filepath.Join(t.TempDir(), "session")
	want := writeSession(t, root)

	var out, errb bytes.Buffer
	if err := printTrace(root, false, &out, &errb); err != nil {
		t.Fatalf("print %s: %s", root, oneLine(err))
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		m := printLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("print line not understood: %q", l)
		}
		// print shows the time of day; the seconds come from want's.
		got = append(got, fmt.Sprintf("1700000000.%s %s cpu=%s %s", m[1], m[3], m[2], m[4]))
	}
	compareLines(t, "bpftrail print", got, want)
	if w := "stream ust/uid/0/64-bit/stream_1 (cpu 1) discarded 2 events"; !strings.Contains(errb.String(), w) {
		t.Errorf("stderr does not say %q:\n%s", w, errb.String())
	}

	bt := bpftest.RequireTool(t, "babeltrace2")
	cmd := exec.Command(bt, "--clock-seconds", "--no-delta", "--color=never", root)
	var bterr bytes.Buffer
	cmd.Stderr = &bterr
	bout, err := cmd.Output()
	if err != nil {
		t.Fatalf("babeltrace2 %s: %v\n%s", root, err, bterr.String())
	}
	got = got[:0]
	for _, l := range strings.Split(strings.TrimSpace(string(bout)), "\n") {
		m := bt2Line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("babeltrace2 line not understood: %q", l)
		}
		got = append(got, fmt.Sprintf("%s %s cpu=%s %s", m[1], m[2], m[3], m[4]))
	}
	compareLines(t, "babeltrace2", got, want)
	if !strings.Contains(bterr.String(), "discarded 2 events") {
		t.Errorf("babeltrace2 does not report the 2 discarded events:\n%s", bterr.String())
	}
}

func compareLines(t *testing.T, who string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d events, want %d:\n%s", who, len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: event %d:\n got %s\nwant %s", who, i, got[i], want[i])
		}
	}
}
