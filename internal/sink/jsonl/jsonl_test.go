package jsonl_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
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

// refLine is how the lines were written before they were appended by
// hand: encoding/json on the values' Interface, the stacks replaced by
// their frames. The writer must give the same bytes.
func refLine(t *testing.T, ev *ctf.Event, syms *symbolize.Table) string {
	t.Helper()
	type event struct {
		TimestampNs int64  `json:"timestamp_ns"`
		Name        string `json:"name"`
		CPU         *int   `json:"cpu"`
		Fields      any    `json:"fields"`
		Context     any    `json:"context,omitempty"`
	}
	je := event{TimestampNs: ev.Ns, Name: ev.Class.Name, Fields: ctf.Fields{}}
	if ev.CPU >= 0 {
		cpu := ev.CPU
		je.CPU = &cpu
	}
	if ev.Payload.Type != nil {
		je.Fields = ev.Payload.Interface()
		if fs, ok := je.Fields.(ctf.Fields); ok && syms != nil {
			var dec analyze.Decoder
			c := dec.Class(ev.Class)
			em, _ := dec.Emitter(ev, c)
			for i, f := range ev.Payload.Type.Fields {
				user, ok := c.Stack(i)
				if !ok || i >= len(ev.Payload.Elems) {
					continue
				}
				frames := []string{}
				for _, a := range ev.Payload.Elems[i].Elems {
					frames = append(frames, syms.Frame(em.PID, user, a.Uint).String())
				}
				for k := range fs {
					if fs[k].Key == ctf.StripName(f.Name) {
						fs[k].Value = frames
					}
				}
			}
		}
	}
	var ctx ctf.Fields
	for _, v := range []ctf.Value{ev.StreamContext, ev.Context} {
		if f, ok := v.Interface().(ctf.Fields); ok {
			ctx = append(ctx, f...)
		}
	}
	if len(ctx) > 0 {
		je.Context = ctx
	}
	j, err := json.Marshal(je)
	if err != nil {
		t.Fatal(err)
	}
	return string(j) + "\n"
}

// TestLinesAsEncodingJSON compares the lines with encoding/json's on
// events with every shape of context, payload and stack.
func TestLinesAsEncodingJSON(t *testing.T) {
	u64 := func(u uint64) ctf.Value { return ctf.Value{Type: ctf.Hex(ctf.Uint(64)), Uint: u, Int: int64(u)} }
	i32 := func(i int64) ctf.Value { return ctf.Value{Type: ctf.Int(32), Int: i, Uint: uint64(i)} }
	str := func(s string) ctf.Value { return ctf.Value{Type: ctf.String(), Bytes: []byte(s)} }
	stack := ctf.Sequence(ctf.Hex(ctf.Uint(64)), "__ustack_length")
	payload := ctf.Struct(ctf.F("_fd", ctf.Int(32)), ctf.F("__ustack_length", ctf.Uint(16)), ctf.F("_ustack", stack),
		ctf.F("_kstack", stack), ctf.F("ustack", ctf.Int(32)), ctf.F("_x", ctf.Float64()), ctf.F("_s", ctf.String()))
	pv := ctf.Value{Type: payload, Elems: []ctf.Value{i32(3), {Type: ctf.Uint(16), Uint: 2}, {Type: stack, Elems: []ctf.Value{u64(0x401010), u64(0x401500)}},
		{Type: stack, Elems: []ctf.Value{u64(0xffffffff81000010)}}, i32(-1), {Type: ctf.Float64(), Float: 2}, str("<a&b>\u2028\xff")}}
	ctxT := ctftrace.ContextType()
	ctx := ctf.Value{Type: ctxT, Elems: []ctf.Value{i32(7), i32(8), str("app")}}
	evCtxT := ctf.Struct(ctf.F("_prio", ctf.Int(32)))
	evCtx := ctf.Value{Type: evCtxT, Elems: []ctf.Value{i32(-20)}}
	empty := ctf.Value{Type: ctf.Struct()}
	classes := []*ctf.EventClass{{Name: "syscalls:sys_enter_close", Fields: payload}, {Name: `odd "name" <&>`, Fields: payload}}
	syms := symbolize.NewTable()
	syms.Add(7, true, 0x401010, symbolize.Frame{Addr: 0x401010, Function: "work<T>", Offset: 0x10, Module: "/bin/app"})
	syms.Add(0, false, 0xffffffff81000010, symbolize.Frame{Addr: 0xffffffff81000010, Function: "ksys_close", Module: "[kernel]"})
	var events []ctf.Event
	for _, ec := range classes {
		for _, cpu := range []int{-1, 0, 3} {
			for _, sc := range []ctf.Value{{}, empty, ctx} {
				for _, c := range []ctf.Value{{}, empty, evCtx} {
					for _, p := range []ctf.Value{{}, empty, pv, {Type: payload, Elems: pv.Elems[:2]}} {
						events = append(events, ctf.Event{Class: ec, Ns: -5 + int64(len(events))*1_000_000_007, CPU: cpu, StreamContext: sc, Context: c, Payload: p})
					}
				}
			}
		}
	}
	for _, syms := range []*symbolize.Table{nil, syms} {
		var out bytes.Buffer
		w := jsonl.NewWriter(&out, syms)
		var want strings.Builder
		for i := range events {
			if err := w.WriteEvent(&events[i]); err != nil {
				t.Fatal(err)
			}
			want.WriteString(refLine(t, &events[i], syms))
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got, wantL := strings.Split(out.String(), "\n"), strings.Split(want.String(), "\n")
		if len(got) != len(wantL) {
			t.Fatalf("symbols %v: %d lines, want %d", syms != nil, len(got), len(wantL))
		}
		for i := range got {
			if got[i] != wantL[i] {
				t.Fatalf("symbols %v, event %d:\n got %s\nwant %s", syms != nil, i, got[i], wantL[i])
			}
		}
	}
}
