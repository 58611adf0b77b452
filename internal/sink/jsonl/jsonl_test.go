package jsonl_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/sink/jsonl"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

func TestLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := ctf.Create(dir, ctf.Options{Clock: func() uint64 { return 0 }, ClockOffset: 1_700_000_000_000_000_000, EventContext: ctftrace.ContextType()})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("syscalls:sys_enter_close", ctf.Struct(ctf.F("_fd", ctf.Int(32)),
		ctf.F("__ustack_length", ctf.Uint(16)), ctf.F("_ustack", ctf.Sequence(ctf.Hex(ctf.Uint(64)), "__ustack_length"))))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := w.AddEventClass("sched:sched_process_exec", ctf.Struct(ctf.F("_filename", ctf.String())))
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.Stream(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ec, 1000).I32(7).I32(8).String("app").I32(3).U16(2).U64(0x401010).U64(0x401500).Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(plain, 2000, int32(7), int32(7), "app", "/bin/app \"x\""); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	syms := symbolize.NewTable()
	syms.Add(7, true, 0x401010, symbolize.Frame{Addr: 0x401010, Function: "work", Offset: 0x10, Module: "/bin/app"})
	tests := []struct {
		name string
		syms *symbolize.Table
		want string
	}{
		{"symbols", syms, `{"timestamp_ns":1700000000000001000,"name":"syscalls:sys_enter_close","cpu":1,"fields":{"fd":3,"_ustack_length":2,"ustack":["work+0x10 (/bin/app)","[unknown]+0x401500"]},"context":{"pid":7,"tid":8,"comm":"app"}}`},
		{"no symbols", nil, `{"timestamp_ns":1700000000000001000,"name":"syscalls:sys_enter_close","cpu":1,"fields":{"fd":3,"_ustack_length":2,"ustack":[4198416,4199680]},"context":{"pid":7,"tid":8,"comm":"app"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := jsonl.Write(&out, tr, tt.syms)
			if err != nil || n != 2 {
				t.Fatalf("%d events, %v", n, err)
			}
			want := tt.want + "\n" + `{"timestamp_ns":1700000000000002000,"name":"sched:sched_process_exec","cpu":1,"fields":{"filename":"/bin/app \"x\""},"context":{"pid":7,"tid":7,"comm":"app"}}` + "\n"
			if got := out.String(); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
