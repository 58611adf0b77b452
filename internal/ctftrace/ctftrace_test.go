package ctftrace

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/record/recordtest"
	"github.com/bpftrail/bpftrail/internal/syscalls"
)

// class declares schema s as class id with a sequential layout.
func class(id uint32, s *event.Schema) *record.Class {
	return &record.Class{ID: id, Schema: s, Layout: record.Sequential(s)}
}

// every kind of field, and sizes and signs of integers.
var allKinds = &event.Schema{Name: "test:all", Fields: []event.Field{
	{Name: "s8", Kind: event.Int, Size: 1, Signed: true},
	{Name: "u16", Kind: event.Int, Size: 2},
	{Name: "s32", Kind: event.Int, Size: 4, Signed: true},
	{Name: "flags", Kind: event.Int, Size: 8, Hex: true},
	{Name: "comm2", Kind: event.Text, Size: 16},
	{Name: "path", Kind: event.String, Size: 32},
	{Name: "buf", Kind: event.Bytes, Size: 10},
	{Name: "arr", Kind: event.Array, Size: 8, ElemSize: 2, Len: 4, Signed: true},
	{Name: "ustack", Kind: event.Stack, Size: event.StackSize},
}}

func writeTrace(t *testing.T, dir string, classes []*record.Class, opts Options, recs [][]byte, lost map[int]uint64) *Writer {
	t.Helper()
	w, err := ctf.Create(dir, ctf.Options{EventContext: ContextType(), Clock: func() uint64 { return 0 }, ClockOffset: 1e18})
	if err != nil {
		t.Fatal(err)
	}
	tw, err := NewWriter(w, classes, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	dec := record.Decoder{Classes: classes}
	for _, b := range recs {
		r, err := dec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	for cpu, n := range lost {
		if err := tw.AddDiscarded(cpu, n, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return tw
}

func readAll(t *testing.T, dir string) (*ctf.Trace, []ctf.Event) {
	t.Helper()
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []ctf.Event
	it := tr.Events()
	defer it.Close()
	for it.Next() {
		e := *it.Event()
		e.Payload = clone(e.Payload)
		e.StreamContext = clone(e.StreamContext)
		out = append(out, e)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return tr, out
}

// clone copies a value out of the reader's buffers.
func clone(v ctf.Value) ctf.Value {
	v.Bytes = append([]byte(nil), v.Bytes...)
	if v.Elems != nil {
		elems := make([]ctf.Value, len(v.Elems))
		for i, e := range v.Elems {
			elems[i] = clone(e)
		}
		v.Elems = elems
	}
	return v
}

// TestRoundTrip writes records of every field kind through the Writer and
// reads them back with package ctf: values, context, CPU streams, losses.
func TestRoundTrip(t *testing.T) {
	c := class(0, allKinds)
	h := recordtest.Header{Time: 1000, CPU: 1, PID: 42, TID: 43, Comm: "worker"}
	vals := map[string]any{
		"s8": int64(-5), "u16": int64(65000), "s32": int64(-100000), "flags": int64(-0x7fff_ffff_ffff_ffff),
		"comm2": "bash", "path": "/etc/passwd", "buf": []byte{1, 2, 3},
		"arr": []byte{0xff, 0xff, 2, 0, 3, 0, 0x80, 0xff}, "ustack": []uint64{0x401000, 0x402000},
	}
	var stacks [][]uint64
	dir := filepath.Join(t.TempDir(), "trace")
	tw := writeTrace(t, dir, []*record.Class{c}, Options{OnStack: func(pid int, user bool, addrs []uint64) {
		if pid != 42 || !user {
			t.Errorf("OnStack(pid %d, user %v)", pid, user)
		}
		stacks = append(stacks, append([]uint64(nil), addrs...))
	}}, [][]byte{recordtest.Build(c, h, vals)}, map[int]uint64{0: 7})
	if len(tw.Classes()) != 1 || tw.Classes()[0].CTF.Name != "test:all" {
		t.Fatalf("classes %v", tw.Classes())
	}
	if !reflect.DeepEqual(stacks, [][]uint64{{0x401000, 0x402000}}) {
		t.Errorf("OnStack saw %v", stacks)
	}
	tr, evs := readAll(t, dir)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	e := evs[0]
	if e.CPU != 1 || e.Class.Name != "test:all" {
		t.Errorf("event on cpu %d of class %q", e.CPU, e.Class.Name)
	}
	ctx := map[string]any{}
	for _, kv := range e.StreamContext.Interface().(ctf.Fields) {
		ctx[kv.Key] = kv.Value
	}
	if ctx["pid"] != int64(42) || ctx["tid"] != int64(43) || ctx["comm"] != "worker" {
		t.Errorf("context %v", ctx)
	}
	get := func(name string) ctf.Value {
		v, ok := e.Payload.Get(name)
		if !ok {
			t.Fatalf("no field %s in %s", name, e.Payload)
		}
		return v
	}
	if get("s8").Int != -5 || get("u16").Uint != 65000 || get("s32").Int != -100000 || get("flags").Uint != 0x8000_0000_0000_0001 {
		t.Errorf("integers: %s", e.Payload)
	}
	if string(get("comm2").Bytes) != "bash" || string(get("path").Bytes) != "/etc/passwd" {
		t.Errorf("strings: %s", e.Payload)
	}
	var buf []byte
	for _, el := range get("buf").Elems {
		buf = append(buf, byte(el.Uint))
	}
	if !reflect.DeepEqual(buf, []byte{1, 2, 3}) {
		t.Errorf("bytes %v", buf)
	}
	var arr []int64
	for _, el := range get("arr").Elems {
		arr = append(arr, el.Int)
	}
	if !reflect.DeepEqual(arr, []int64{-1, 2, 3, -128}) {
		t.Errorf("array %v", arr)
	}
	var st []uint64
	for _, el := range get("ustack").Elems {
		st = append(st, el.Uint)
	}
	if !reflect.DeepEqual(st, []uint64{0x401000, 0x402000}) {
		t.Errorf("stack %v", st)
	}
	if n := tr.DiscardedTotal(); n != 7 {
		t.Errorf("discarded %d, want 7", n)
	}
}

// TestLTTngNaming writes tracefs scheduler and syscall events in LTTng's
// layout: renamed events and fields, priorities without MAX_RT_PRIO, the
// fork's tgids, no __syscall_nr; other events stay as they are.
func TestLTTngNaming(t *testing.T) {
	sw := &event.Schema{Name: "sched:sched_switch", Fields: []event.Field{
		{Name: "prev_comm", Kind: event.Text, Size: 16},
		{Name: "prev_pid", Kind: event.Int, Size: 4, Signed: true},
		{Name: "prev_prio", Kind: event.Int, Size: 4, Signed: true},
		{Name: "prev_state", Kind: event.Int, Size: 8, Signed: true},
		{Name: "next_comm", Kind: event.Text, Size: 16},
		{Name: "next_pid", Kind: event.Int, Size: 4, Signed: true},
		{Name: "next_prio", Kind: event.Int, Size: 4, Signed: true},
	}}
	fork := &event.Schema{Name: "sched:sched_process_fork", Fields: []event.Field{
		{Name: "parent_comm", Kind: event.Text, Size: 16},
		{Name: "parent_pid", Kind: event.Int, Size: 4, Signed: true},
		{Name: "child_comm", Kind: event.Text, Size: 16},
		{Name: "child_pid", Kind: event.Int, Size: 4, Signed: true},
	}}
	enter := &event.Schema{Name: "syscalls:sys_enter_close", Fields: []event.Field{
		{Name: "__syscall_nr", Kind: event.Int, Size: 4, Signed: true},
		{Name: "fd", Kind: event.Int, Size: 4},
	}}
	other := &event.Schema{Name: "sched:sched_stat_runtime", Fields: []event.Field{{Name: "pid", Kind: event.Int, Size: 4, Signed: true}}}
	mine := &event.Schema{Name: "uprobe:/bin/x:f", Fields: []event.Field{{Name: "arg0", Kind: event.Int, Size: 8, Signed: true}}}
	classes := []*record.Class{class(0, sw), class(1, fork), class(2, enter), class(3, other), class(4, mine)}
	h := recordtest.Header{Time: 10, PID: 7, TID: 8, Comm: "sh"}
	recs := [][]byte{
		recordtest.Build(classes[0], h, map[string]any{"prev_comm": "a", "prev_pid": int64(8), "prev_prio": int64(120), "prev_state": int64(1), "next_comm": "b", "next_pid": int64(9), "next_prio": int64(100)}),
		recordtest.Build(classes[1], h, map[string]any{"parent_comm": "sh", "parent_pid": int64(8), "child_comm": "sh", "child_pid": int64(11)}),
		recordtest.Build(classes[2], h, map[string]any{"__syscall_nr": int64(3), "fd": int64(5)}),
		recordtest.Build(classes[3], h, map[string]any{"pid": int64(8)}),
		recordtest.Build(classes[4], h, map[string]any{"arg0": int64(-1)}),
	}
	dir := filepath.Join(t.TempDir(), "trace")
	writeTrace(t, dir, classes, Options{LTTng: true}, recs, nil)
	_, evs := readAll(t, dir)
	want := []string{
		"sched_switch: { prev_comm = \"a\", prev_tid = 8, prev_prio = 20, prev_state = 1, next_comm = \"b\", next_tid = 9, next_prio = 0 }",
		"sched_process_fork: { parent_comm = \"sh\", parent_tid = 8, child_comm = \"sh\", child_tid = 11, child_pid = 11, parent_pid = 7 }",
		"syscall_entry_close: { fd = 5 }",
		"sched_stat_runtime: { pid = 8 }",
		"uprobe:/bin/x:f: { arg0 = -1 }",
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, e := range evs {
		if got := e.Class.Name + ": " + e.Payload.String(); got != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}

// TestSyscallNrLeftOut writes syscall events without their __syscall_nr
// when the syscall's number is known, refuses a record holding another
// number, and keeps the field of a syscall it does not know.
func TestSyscallNrLeftOut(t *testing.T) {
	getpid, ok := syscalls.Number("getpid")
	if !ok {
		t.Skip("no syscall table for this architecture")
	}
	closeNr, _ := syscalls.Number("close")
	nr := event.Field{Name: "__syscall_nr", Kind: event.Int, Size: 4, Signed: true}
	enter := &event.Schema{Name: "syscalls:sys_enter_getpid", Fields: []event.Field{nr}}
	exit := &event.Schema{Name: "syscalls:sys_exit_close", Fields: []event.Field{nr, {Name: "ret", Kind: event.Int, Size: 8, Signed: true}}}
	unknown := &event.Schema{Name: "syscalls:sys_enter_nosuchcall", Fields: []event.Field{nr}}
	classes := []*record.Class{class(0, enter), class(1, exit), class(2, unknown)}
	h := recordtest.Header{Time: 10, PID: 7, TID: 8, Comm: "sh"}
	recs := [][]byte{
		recordtest.Build(classes[0], h, map[string]any{"__syscall_nr": int64(getpid)}),
		recordtest.Build(classes[1], h, map[string]any{"__syscall_nr": int64(closeNr), "ret": int64(-9)}),
		recordtest.Build(classes[2], h, map[string]any{"__syscall_nr": int64(1000)}),
	}
	dir := filepath.Join(t.TempDir(), "trace")
	writeTrace(t, dir, classes, Options{}, recs, nil)
	_, evs := readAll(t, dir)
	want := []string{
		"syscalls:sys_enter_getpid: { }",
		"syscalls:sys_exit_close: { ret = -9 }",
		"syscalls:sys_enter_nosuchcall: { __syscall_nr = 1000 }",
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, e := range evs {
		if got := e.Class.Name + ": " + e.Payload.String(); got != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want[i])
		}
	}

	w, err := ctf.Create(filepath.Join(t.TempDir(), "trace"), ctf.Options{EventContext: ContextType()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tw, err := NewWriter(w, classes[:1], 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := recordtest.Build(classes[0], h, map[string]any{"__syscall_nr": int64(getpid + 1)})
	if err := tw.WriteRecord(record.Record{Class: classes[0], B: bad}); err == nil {
		t.Error("a getpid event with another __syscall_nr was written without it")
	}
	good := recordtest.Build(classes[0], h, map[string]any{"__syscall_nr": int64(getpid)})
	if err := tw.WriteRecord(record.Record{Class: classes[0], B: good}); err != nil {
		t.Errorf("a getpid event: %v", err)
	}

	// A number held in 8 bytes is compared whole: the same low 32 bits
	// with others above are another number.
	wide := class(0, &event.Schema{Name: "syscalls:sys_enter_getpid", Fields: []event.Field{{Name: "__syscall_nr", Kind: event.Int, Size: 8, Signed: true}}})
	w2, err := ctf.Create(filepath.Join(t.TempDir(), "trace"), ctf.Options{EventContext: ContextType()})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if tw, err = NewWriter(w2, []*record.Class{wide}, 1, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		nr int64
		ok bool
	}{{int64(getpid), true}, {int64(getpid) | 1<<32, false}, {int64(getpid) - 1<<32, false}} {
		b := recordtest.Build(wide, h, map[string]any{"__syscall_nr": tc.nr})
		if err := tw.WriteRecord(record.Record{Class: wide, B: b}); (err == nil) != tc.ok {
			t.Errorf("8-byte __syscall_nr %#x: error %v, want one: %v", tc.nr, err, !tc.ok)
		}
	}
}

// TestUndeclaredClass refuses a record of a class the writer does not
// know, rather than writing a corrupt event.
func TestUndeclaredClass(t *testing.T) {
	w, err := ctf.Create(filepath.Join(t.TempDir(), "trace"), ctf.Options{EventContext: ContextType()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tw, err := NewWriter(w, []*record.Class{class(0, allKinds)}, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	other := class(3, allKinds)
	if err := tw.WriteRecord(record.Record{Class: other, B: recordtest.Build(other, recordtest.Header{}, nil)}); err == nil {
		t.Error("a record of class 3 was written")
	}
}

func TestTypeName(t *testing.T) {
	for _, c := range []struct {
		f    event.Field
		want string
	}{
		{event.Field{Kind: event.Int, Size: 4, Signed: true}, "int32"},
		{event.Field{Kind: event.Int, Size: 8, Hex: true}, "uint64 (hex)"},
		{event.Field{Kind: event.Text, Size: 16}, "char[16]"},
		{event.Field{Kind: event.String, Size: 256}, "string"},
		{event.Field{Name: "b", Kind: event.Bytes, Size: 10}, "uint8 (hex)[]"},
		{event.Field{Kind: event.Array, Size: 8, ElemSize: 2, Len: 4}, "uint16[4]"},
	} {
		if got := TypeName(FieldType(c.f)); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}
}

// BenchmarkWriteRecord measures the transcoding of a getpid-like record
// (header and one int field) into CTF, the collector's per-event work.
func BenchmarkWriteRecord(b *testing.B) {
	s := &event.Schema{Name: "syscalls:sys_enter_getpid", Fields: []event.Field{
		{Name: "__syscall_nr", Kind: event.Int, Size: 4, Signed: true},
	}}
	c := class(0, s)
	w, err := ctf.Create(b.TempDir()+"/t", ctf.Options{EventContext: ContextType(), Clock: func() uint64 { return 0 }})
	if err != nil {
		b.Fatal(err)
	}
	tw, err := NewWriter(w, []*record.Class{c}, 1, Options{})
	if err != nil {
		b.Fatal(err)
	}
	nr, _ := syscalls.Number("getpid")
	rec := recordtest.Build(c, recordtest.Header{PID: 1234, TID: 1234, Comm: "btload"}, map[string]any{"__syscall_nr": int64(nr)})
	r := record.Record{Class: c, B: rec}
	b.ReportAllocs()
	ts := uint64(1)
	for b.Loop() {
		ts += 100
		rec[0], rec[1], rec[2], rec[3] = byte(ts), byte(ts>>8), byte(ts>>16), byte(ts>>24)
		if err := tw.WriteRecord(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	st := w.Stats()
	b.ReportMetric(float64(st.Bytes)/float64(st.Events), "B/event")
}
