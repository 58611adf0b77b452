package bpfgen_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// fixtures is the tracefs fixture tree of package tracefs.
var fixtures = tracefs.FS{Root: filepath.Join("..", "tracefs", "testdata")}

// tracepoint resolves a fixture tracepoint ("sched:sched_switch").
func tracepoint(t testing.TB, name string, o resolve.Options) *resolve.Probe {
	t.Helper()
	ps, err := resolve.Specs(func() (tracefs.FS, error) { return fixtures, nil }, []string{name}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%s resolves to %d probes", name, len(ps))
	}
	return ps[0]
}

func parseFilter(t testing.TB, src string, s *event.Schema) *filter.Expr {
	t.Helper()
	e, err := filter.Parse(src, bpfgen.FilterFields(s))
	if err != nil {
		t.Fatalf("filter %q: %v", src, err)
	}
	return e
}

func TestFilterFields(t *testing.T) {
	builtins := filter.Fields{
		{Name: "pid", Type: filter.Int, Size: 4, Signed: true},
		{Name: "tid", Type: filter.Int, Size: 4, Signed: true},
		{Name: "comm", Type: filter.String, Size: 16},
		{Name: "cpu", Type: filter.Int, Size: 4},
	}
	tests := []struct {
		name string
		p    *resolve.Probe
		want filter.Fields
	}{
		{"syscall arguments with their C types", tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{StringSize: 64}), append(append(filter.Fields(nil), builtins...),
			filter.FieldInfo{Name: "__syscall_nr", Type: filter.Int, Size: 4, Signed: true},
			filter.FieldInfo{Name: "dfd", Type: filter.Int, Size: 4, Signed: true},
			filter.FieldInfo{Name: "filename", Type: filter.String, Size: 64},
			filter.FieldInfo{Name: "flags", Type: filter.Int, Size: 4, Signed: true},
			filter.FieldInfo{Name: "mode", Type: filter.Int, Size: 2},
		)},
		{"text fields are strings", tracepoint(t, "sched:sched_switch", resolve.Options{}), append(append(filter.Fields(nil), builtins...),
			filter.FieldInfo{Name: "prev_comm", Type: filter.String, Size: 16},
			filter.FieldInfo{Name: "prev_pid", Type: filter.Int, Size: 4, Signed: true},
			filter.FieldInfo{Name: "prev_prio", Type: filter.Int, Size: 4, Signed: true},
			filter.FieldInfo{Name: "prev_state", Type: filter.Int, Size: 8, Signed: true},
			filter.FieldInfo{Name: "next_comm", Type: filter.String, Size: 16},
			filter.FieldInfo{Name: "next_pid", Type: filter.Int, Size: 4, Signed: true},
			filter.FieldInfo{Name: "next_prio", Type: filter.Int, Size: 4, Signed: true},
		)},
		{"arrays, bytes and stacks are not filterable", tracepoint(t, "ipi:ipi_send_cpumask", resolve.Options{Stack: "both"}), append(append(filter.Fields(nil), builtins...),
			filter.FieldInfo{Name: "callsite", Type: filter.Int, Size: 8},
			filter.FieldInfo{Name: "callback", Type: filter.Int, Size: 8},
		)},
		{"a profile probe offers the builtins", tracepoint(t, "profile:hz:99", resolve.Options{}), builtins},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, bpfgen.FilterFields(tt.p.Event)); diff != "" {
				t.Errorf("FilterFields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuiltinsMatchTheRecordHeader(t *testing.T) {
	want := map[string]int{"pid": record.OffPID, "tid": record.OffTID, "comm": record.OffComm, "cpu": record.OffCPU}
	for _, b := range bpfgen.Builtins {
		off, ok := want[b.Info.Name]
		if !ok {
			t.Errorf("builtin %s is not in the record header", b.Info.Name)
			continue
		}
		if b.Off != off {
			t.Errorf("builtin %s at %d, the header has it at %d", b.Info.Name, b.Off, off)
		}
		delete(want, b.Info.Name)
	}
	if len(want) != 0 {
		t.Errorf("header members without a builtin: %v", want)
	}
}

func TestBuiltinsOnly(t *testing.T) {
	s := tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{}).Event
	tests := []struct {
		src  string
		want bool
	}{
		{"", true},
		{"pid == 1", true},
		{`comm == "bash" && (tid != 3 || cpu < 2)`, true},
		{`!(comm == "sh*")`, true},
		{"dfd < 0", false},
		{"pid == 1 || dfd == -100", false},
		{`pid == 1 && filename == "/etc/*"`, false},
		{"__syscall_nr == 257", false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			var e *filter.Expr
			if tt.src != "" {
				e = parseFilter(t, tt.src, s)
			}
			if got := bpfgen.BuiltinsOnly(e, s); got != tt.want {
				t.Errorf("BuiltinsOnly(%s) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
	// A field named like a builtin replaces it: kill's pid is its target,
	// which the dispatcher cannot test.
	kill := &event.Schema{Name: "syscalls:sys_enter_kill", Fields: []event.Field{{Name: "pid", Kind: event.Int, Size: 4, Signed: true}}}
	for _, tt := range []struct {
		src  string
		want bool
	}{{"pid == 1", false}, {"tid == 1", true}} {
		t.Run("kill "+tt.src, func(t *testing.T) {
			e := parseFilter(t, tt.src, kill)
			if got := bpfgen.BuiltinsOnly(e, kill); got != tt.want {
				t.Errorf("BuiltinsOnly(%s) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

// synthetic returns a probe of syscall-like fields read from the context
// at the offsets given (offset -1: a user string at 16).
func synthetic(name string, fields []event.Field, reads []resolve.Read) *resolve.Probe {
	return &resolve.Probe{
		Event:  &event.Schema{Name: name, Fields: fields},
		Reads:  reads,
		Target: resolve.Target{Kind: resolve.TargetTracepoint, Category: "syscalls", Event: strings.TrimPrefix(name, "syscalls:")},
	}
}

func userString(name string, off, size int) (event.Field, resolve.Read) {
	return event.Field{Name: name, Kind: event.String, Size: size}, resolve.Read{Src: resolve.FromUserPtr, Offset: off, Size: 8}
}

func longArg(name string, off int) (event.Field, resolve.Read) {
	return event.Field{Name: name, Kind: event.Int, Size: 8, Signed: true}, resolve.Read{Src: resolve.FromContext, Offset: off, Size: 8}
}

func TestDispatchLayout(t *testing.T) {
	const ss = 256
	h := record.HeaderSize
	id, args, fixed := bpfgen.DispatchOffID, bpfgen.DispatchOffArgs, bpfgen.DispatchFixed
	if id != h || args != h+8 || fixed != h+56 {
		t.Fatalf("dispatch record offsets id %d args %d fixed %d", id, args, fixed)
	}
	four := func() *resolve.Probe {
		var fs []event.Field
		var rs []resolve.Read
		for i, n := range []string{"a", "b", "c", "d"} {
			f, r := userString(n, 16+8*i, ss)
			fs, rs = append(fs, f), append(rs, r)
		}
		return synthetic("syscalls:sys_enter_four", fs, rs)
	}
	argAt := func(name string, off int) *resolve.Probe {
		f, r := longArg(name, off)
		return synthetic("syscalls:sys_enter_x", []event.Field{f}, []resolve.Read{r})
	}
	tests := []struct {
		name   string
		p      *resolve.Probe
		enter  bool
		layout record.Layout
		entry  bpfgen.DispatchEntry
		ok     bool
	}{
		{"openat enter", tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{}), true,
			// __syscall_nr, dfd (arg0), filename (slot 0, arg 1), flags (arg2), mode (arg3)
			record.Layout{Off: []int{id, args, fixed, args + 16, args + 24}, Size: fixed + ss},
			bpfgen.DispatchEntry{Slots: 1, Args: [3]uint8{1}}, true},
		{"openat exit", tracepoint(t, "syscalls:sys_exit_openat", resolve.Options{}), false,
			record.Layout{Off: []int{id, args}, Size: args + 8}, bpfgen.DispatchEntry{}, true},
		{"execve: a string and two pointers", tracepoint(t, "syscalls:sys_enter_execve", resolve.Options{}), true,
			record.Layout{Off: []int{id, fixed, args + 8, args + 16}, Size: fixed + ss},
			bpfgen.DispatchEntry{Slots: 1, Args: [3]uint8{0}}, true},
		{"three strings fill the slots", func() *resolve.Probe {
			p := four()
			p.Event.Fields, p.Reads = p.Event.Fields[1:], p.Reads[1:]
			return p
		}(), true,
			record.Layout{Off: []int{fixed, fixed + ss, fixed + 2*ss}, Size: fixed + 3*ss},
			bpfgen.DispatchEntry{Slots: 3, Args: [3]uint8{1, 2, 3}}, true},
		{"arg5 is the last argument", argAt("f", 16+8*5), true, record.Layout{Off: []int{args + 40}, Size: args + 48}, bpfgen.DispatchEntry{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, e, ok := bpfgen.DispatchLayout(tt.p, tt.enter, ss)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.layout, l); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.entry, e); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			if l.Size > bpfgen.DispatchRecordSize(ss) {
				t.Errorf("record of %d bytes beyond DispatchRecordSize %d", l.Size, bpfgen.DispatchRecordSize(ss))
			}
		})
	}

	refused := []struct {
		name  string
		p     *resolve.Probe
		enter bool
	}{
		{"four user strings", four(), true},
		{"a user string at exit", tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{}), false},
		{"a string slot of another size", tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{StringSize: 100}), true},
		{"a seventh argument", argAt("g", 16+8*6), true},
		{"a second value at exit", argAt("x", 24), false},
		{"an unaligned argument", argAt("u", 20), true},
		{"a data_loc string", tracepoint(t, "sched:sched_process_exec", resolve.Options{}), true},
		{"a char array", tracepoint(t, "sched:sched_switch", resolve.Options{}), true},
		{"a stack", tracepoint(t, "syscalls:sys_exit_openat", resolve.Options{Stack: "kernel"}), false},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			if l, e, ok := bpfgen.DispatchLayout(tt.p, tt.enter, ss); ok {
				t.Errorf("DispatchLayout = %v, %v, true; want it refused", l, e)
			}
		})
	}
}

func TestDispatchEntryMarshal(t *testing.T) {
	tests := []struct {
		e    bpfgen.DispatchEntry
		want []byte
	}{
		{bpfgen.DispatchEntry{}, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{bpfgen.DispatchEntry{ClassPlus1: 1}, []byte{1, 0, 0, 0, 0, 0, 0, 0}},
		{bpfgen.DispatchEntry{ClassPlus1: 0x01020304, Slots: 2, Args: [3]uint8{1, 3, 0}}, []byte{4, 3, 2, 1, 2, 1, 3, 0}},
		{bpfgen.DispatchEntry{ClassPlus1: 0xffffffff, Slots: 3, Args: [3]uint8{5, 4, 2}}, []byte{0xff, 0xff, 0xff, 0xff, 3, 5, 4, 2}},
	}
	for _, tt := range tests {
		got := tt.e.Marshal()
		if len(got) != bpfgen.DispatchEntrySize {
			t.Errorf("Marshal(%+v) is %d bytes, want %d", tt.e, len(got), bpfgen.DispatchEntrySize)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Marshal(%+v) (-want +got):\n%s", tt.e, diff)
		}
	}
}

func TestProgramType(t *testing.T) {
	tests := []struct {
		kind resolve.TargetKind
		want ebpf.ProgramType
	}{
		{resolve.TargetTracepoint, ebpf.TracePoint},
		{resolve.TargetUprobe, ebpf.Kprobe},
		{resolve.TargetUretprobe, ebpf.Kprobe},
		{resolve.TargetUSDT, ebpf.Kprobe},
		{resolve.TargetKprobe, ebpf.Kprobe},
		{resolve.TargetKretprobe, ebpf.Kprobe},
		{resolve.TargetPerfEvent, ebpf.PerfEvent},
	}
	for _, tt := range tests {
		if got := bpfgen.ProgramType(resolve.Target{Kind: tt.kind}); got != tt.want {
			t.Errorf("ProgramType(%v) = %v, want %v", tt.kind, got, tt.want)
		}
	}
}

func TestAggKeySize(t *testing.T) {
	comm := record.KeyLayout{{Name: "comm", Kind: record.KeyString, Size: 16}}
	tests := []struct {
		a         bpfgen.Agg
		key, sums int
	}{
		{bpfgen.Agg{Mode: bpfgen.AggCount}, 8, 8},
		{bpfgen.Agg{Mode: bpfgen.AggCount, Keys: comm}, 16, 16},
		{bpfgen.Agg{Mode: bpfgen.AggHist, Keys: comm}, 24, 16},
		{bpfgen.Agg{Mode: bpfgen.AggEnd, Keys: comm}, 24, 16},
		{bpfgen.Agg{Mode: bpfgen.AggStart, Keys: comm}, 16, 16},
		{bpfgen.Agg{Mode: bpfgen.AggHist}, 16, 8},
	}
	for _, tt := range tests {
		if got := tt.a.KeySize(); got != tt.key {
			t.Errorf("KeySize(mode %d, %d keys) = %d, want %d", tt.a.Mode, len(tt.a.Keys), got, tt.key)
		}
		if got := tt.a.SumsKeySize(); got != tt.sums {
			t.Errorf("SumsKeySize(mode %d, %d keys) = %d, want %d", tt.a.Mode, len(tt.a.Keys), got, tt.sums)
		}
	}
}

// TestErrorsWithoutMaps checks what the generator refuses before it needs
// a map.
func TestErrorsWithoutMaps(t *testing.T) {
	open := tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{})
	l := record.Sequential(open.Event)
	tests := []struct {
		name string
		gen  func() error
		want string
	}{
		{"record past the scratch", func() error {
			_, err := bpfgen.Program(open, l, bpfgen.Maps{}, l.Size-1, bpfgen.Options{})
			return err
		}, fmt.Sprintf("bpfgen: record of %d bytes exceeds the %d-byte scratch", l.Size, l.Size-1)},
		{"follow without a pid map", func() error {
			_, err := bpfgen.Program(open, l, bpfgen.Maps{}, 4096, bpfgen.Options{Follow: true})
			return err
		}, "bpfgen: no pid map"},
		{"filter without a scratch map", func() error {
			_, err := bpfgen.Program(open, l, bpfgen.Maps{}, 4096, bpfgen.Options{Filter: parseFilter(t, "pid == 1", open.Event)})
			return err
		}, "bpfgen: no scratch map"},
		{"aggregation without a scratch map", func() error {
			_, err := bpfgen.AggProgram(open, l, bpfgen.Maps{}, 4096, bpfgen.Options{}, &bpfgen.Agg{Mode: bpfgen.AggCount})
			return err
		}, "bpfgen: no scratch map"},
		{"dispatcher record past the scratch", func() error {
			_, err := bpfgen.Dispatcher(true, bpfgen.Maps{}, nil, 256, bpfgen.DispatchRecordSize(256)-1, bpfgen.Options{})
			return err
		}, "bpfgen: dispatcher record exceeds the scratch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.gen()
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
