package text_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/sink/text"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// stackTrace writes two events of pid 7 with a user and a kernel stack,
// as record --stack writes them.
func stackTrace(t *testing.T) *ctf.Trace {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := ctf.Create(dir, ctf.Options{Clock: func() uint64 { return 0 }, ClockOffset: 1_700_000_000_000_000_000, EventContext: ctftrace.ContextType()})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("syscalls:sys_enter_close", ctf.Struct(ctf.F("_fd", ctf.Int(32)),
		ctf.F("__ustack_length", ctf.Uint(16)), ctf.F("_ustack", ctf.Sequence(ctf.Hex(ctf.Uint(64)), "__ustack_length")),
		ctf.F("__kstack_length", ctf.Uint(16)), ctf.F("_kstack", ctf.Sequence(ctf.Hex(ctf.Uint(64)), "__kstack_length"))))
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	for i, ns := range []uint64{1000, 1500_001_000} {
		enc := s.Begin(ec, ns).I32(7).I32(7).String("app").I32(int32(3 + i))
		enc.U16(2).U64(0x401010).U64(0x401500)
		enc.U16(1).U64(0xffffffff81000010)
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

func TestStacks(t *testing.T) {
	tr := stackTrace(t)
	syms := symbolize.NewTable()
	syms.Add(7, true, 0x401010, symbolize.Frame{Addr: 0x401010, Function: "work", Offset: 0x10, Module: "/bin/app"})
	syms.Add(0, false, 0xffffffff81000010, symbolize.Frame{Addr: 0xffffffff81000010, Function: "ksys_close", Module: "[kernel]"})
	tests := []struct {
		name string
		syms *symbolize.Table
		want []string
	}{
		{"symbols", syms, []string{
			`[22:13:20.000001000] (+?.?????????) cpu 0 syscalls:sys_enter_close: { pid = 7, tid = 7, comm = "app" }, { fd = 3, _ustack_length = 2, ustack = [ "work+0x10 (/bin/app)", "[unknown]+0x401500" ], _kstack_length = 1, kstack = [ "ksys_close ([kernel])" ] }`,
			`[22:13:21.500001000] (+1.500000000) cpu 0 syscalls:sys_enter_close: { pid = 7, tid = 7, comm = "app" }, { fd = 4, _ustack_length = 2, ustack = [ "work+0x10 (/bin/app)", "[unknown]+0x401500" ], _kstack_length = 1, kstack = [ "ksys_close ([kernel])" ] }`,
		}},
		{"no symbols", nil, []string{
			`[22:13:20.000001000] (+?.?????????) cpu 0 syscalls:sys_enter_close: { pid = 7, tid = 7, comm = "app" }, { fd = 3, _ustack_length = 2, ustack = [ [0] = 0x401010, [1] = 0x401500 ], _kstack_length = 1, kstack = [ [0] = 0xFFFFFFFF81000010 ] }`,
			`[22:13:21.500001000] (+1.500000000) cpu 0 syscalls:sys_enter_close: { pid = 7, tid = 7, comm = "app" }, { fd = 4, _ustack_length = 2, ustack = [ [0] = 0x401010, [1] = 0x401500 ], _kstack_length = 1, kstack = [ [0] = 0xFFFFFFFF81000010 ] }`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := text.Write(&out, tr, tt.syms)
			if err != nil || n != 2 {
				t.Fatalf("%d events, %v", n, err)
			}
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("%d lines:\n%s", len(got), out.String())
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("line %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestClock checks the time and the time since the previous event across
// second, minute and day boundaries, before the epoch included, against
// package time's formatting.
func TestClock(t *testing.T) {
	ec := &ctf.EventClass{Name: "e"}
	times := []int64{-1, 0, 1_700_000_000_999_999_999, 1_700_000_001_000_000_000, 1_700_000_001_000_000_001,
		1_700_000_061_000_000_000, 1_700_006_400_000_000_007, 1_700_006_400_000_000_007}
	var out bytes.Buffer
	w := text.NewWriter(&out, nil)
	for _, ns := range times {
		if err := w.WriteEvent(&ctf.Event{Class: ec, Ns: ns, CPU: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, ns := range times {
		delta := "+?.?????????"
		if i > 0 {
			d := time.Duration(ns - times[i-1])
			delta = fmt.Sprintf("+%d.%09d", d/time.Second, d%time.Second)
		}
		want := fmt.Sprintf("[%s] (%s) e: { }", time.Unix(0, ns).UTC().Format("15:04:05.000000000"), delta)
		if i >= len(got) || got[i] != want {
			t.Errorf("event %d (%d ns):\n got %q\nwant %q", i, ns, got[min(i, len(got)-1)], want)
		}
	}
}
