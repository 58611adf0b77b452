package bpfgen_test

// The generated programs are tracepoint, kprobe and perf event programs,
// and BPF_PROG_TEST_RUN runs none of those types. A raw tracepoint
// program's context is also read-only memory at fixed offsets (up to 96
// bytes), and the kernel runs raw tracepoint programs under
// BPF_PROG_TEST_RUN with a context the test gives, in the calling thread:
// the tests below load the generated instructions as raw tracepoint
// programs and run them with contexts laid out as the tracepoint records
// (and registers) they read, then check what they wrote in the ring and
// the maps.

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// ctxSize is the largest context of a raw tracepoint program.
const ctxSize = 96

// thread pins the test's goroutine to its thread and that thread to CPU
// 0, names it comm, and returns its tid. The thread is not reused after
// the test (it stays locked and ends with the goroutine).
func thread(t *testing.T, comm string) int {
	t.Helper()
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatalf("pin to CPU 0: %v", err)
	}
	tid := unix.Gettid()
	setComm(t, tid, comm)
	return tid
}

func setComm(t *testing.T, tid int, comm string) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/self/task/%d/comm", tid), []byte(comm), 0); err != nil {
		t.Fatalf("set comm: %v", err)
	}
}

// runEnv is an env whose programs record: the control switch is on.
func runEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	if err := e.maps.Control.Put(uint32(0), uint32(1)); err != nil {
		t.Fatal(err)
	}
	return e
}

// load loads spec as a raw tracepoint program.
func load(t *testing.T, spec *ebpf.ProgramSpec) *ebpf.Program {
	t.Helper()
	s := spec.Copy()
	s.Type, s.AttachType, s.AttachTo = ebpf.RawTracepoint, ebpf.AttachNone, ""
	prog, err := ebpf.NewProgram(s)
	if err != nil {
		t.Fatalf("load %s as a raw tracepoint program: %+v", spec.Name, err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// run runs prog once with the context ctx.
func run(t *testing.T, prog *ebpf.Program, ctx []byte) {
	t.Helper()
	if len(ctx) > ctxSize {
		t.Fatalf("context of %d bytes", len(ctx))
	}
	ret, err := prog.Run(&ebpf.RunOptions{Context: ctx})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if ret != 0 {
		t.Errorf("program returned %d", ret)
	}
}

// ctxBuf builds a context: u64 values at offsets.
type ctxBuf []byte

func newCtx() ctxBuf { return make(ctxBuf, ctxSize) }

func (c ctxBuf) u64(off int, v uint64) ctxBuf { binary.LittleEndian.PutUint64(c[off:], v); return c }
func (c ctxBuf) i64(off int, v int64) ctxBuf  { return c.u64(off, uint64(v)) }
func (c ctxBuf) u32(off int, v uint32) ctxBuf { binary.LittleEndian.PutUint32(c[off:], v); return c }

// userMem is user memory for the programs to read: a page of its own,
// populated and locked, outside the Go heap, so that no huge-page
// collapse or migration of the heap makes a read fail while a program
// runs (bpf_probe_read_user cannot fault a page in).
type userMem struct {
	page []byte
	used int
}

func newUserMem(t *testing.T) *userMem {
	t.Helper()
	page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE|unix.MAP_LOCKED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(page) })
	return &userMem{page: page}
}

// put copies b into the page and returns its address.
func (m *userMem) put(b []byte) uint64 {
	if m.used+len(b) > len(m.page) {
		panic("user memory page full")
	}
	n := copy(m.page[m.used:], b)
	addr := uint64(uintptr(unsafe.Pointer(&m.page[m.used])))
	m.used += (n + 7) &^ 7
	return addr
}

// str copies s and a NUL into the page and returns its address.
func (m *userMem) str(s string) uint64 { return m.put(append([]byte(s), 0)) }

// rec is a record read back: its class, header and fields.
type rec struct {
	Class    uint32
	PID, TID int32
	CPU      int
	Comm     string
	Time     uint64
	Fields   map[string]any
}

type sink struct {
	mu        sync.Mutex
	recs      []rec
	discarded map[int]uint64
}

func (s *sink) WriteRecord(r record.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := rec{Class: r.Class.ID, PID: r.PID(), TID: r.TID(), CPU: r.CPU(), Comm: string(r.Comm()), Time: r.Time(), Fields: map[string]any{}}
	// By index: Value answers the header first, and fields such as
	// sched_process_exec's pid share a builtin's name.
	for i, f := range r.Class.Schema.Fields {
		switch f.Kind {
		case event.Stack:
			g.Fields[f.Name] = r.Stack(i, nil)
		case event.Int:
			g.Fields[f.Name] = r.Int(i)
		case event.Text, event.String:
			g.Fields[f.Name] = string(r.Str(i))
		case event.Bytes:
			g.Fields[f.Name] = append([]byte(nil), r.Bytes(i)...)
		default:
			g.Fields[f.Name] = append([]byte(nil), r.Raw(i)...)
		}
	}
	s.recs = append(s.recs, g)
	return nil
}

func (s *sink) AddDiscarded(cpu int, n, ts uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discarded == nil {
		s.discarded = map[int]uint64{}
	}
	s.discarded[cpu] += n
	return nil
}

// drain reads the ring and the loss counters with a collector.
func drain(t *testing.T, e *env, classes ...*record.Class) (*sink, *collect.Collector) {
	t.Helper()
	rd, err := ringbuf.NewReader(e.maps.Events)
	if err != nil {
		t.Fatal(err)
	}
	byID := make([]*record.Class, 0)
	for _, c := range classes {
		for len(byID) <= int(c.ID) {
			byID = append(byID, nil)
		}
		byID[c.ID] = c
	}
	s := &sink{}
	c := collect.NewFrom(rd, collect.MapLosses(e.maps.Lost), &record.Decoder{Classes: byID}, s, 0)
	defer c.Close()
	if err := c.Drain(); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func classOf(id uint32, p *resolve.Probe) *record.Class {
	return &record.Class{ID: id, Schema: p.Event, Layout: record.Sequential(p.Event)}
}

func monotonic(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

func TestBPFRunRecordOpenat(t *testing.T) {
	e := runEnv(t)
	p := tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{})
	ptr := newUserMem(t).str("/etc/hosts")
	// sys_enter_openat: __syscall_nr at 8, then dfd, filename, flags and
	// mode as longs from 16 on.
	ctx := newCtx().u32(8, 257).i64(16, -100).u64(24, ptr).u64(32, 0x80241).u64(40, 0o644)
	want := map[string]any{"__syscall_nr": int64(257), "dfd": int64(-100), "filename": "/etc/hosts", "flags": int64(0x80241), "mode": int64(0o644)}
	taskComm, err := resolve.TaskComm()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		filtered bool
		taskComm int    // 0: bpf_get_current_comm
		comm     string // the thread's name, as the kernel keeps it
	}{
		{false, 0, "bpfgen-open"},
		{true, 0, "bpfgen-open"},
		{false, taskComm, "bpfgen-open"},
		{true, taskComm, "bpfgen-open"},
		{false, taskComm, "bpfgen-open-0123"[:15]}, // the longest name: its NUL is comm's last byte
	} {
		t.Run(fmt.Sprintf("filter=%v,taskComm=%d,%s", c.filtered, c.taskComm, c.comm), func(t *testing.T) {
			tid := thread(t, c.comm)
			o := bpfgen.Options{ClassID: 3, TaskComm: c.taskComm}
			if c.filtered {
				o.Filter = parseFilter(t, `dfd < 0 && filename == "/etc/*" && comm == "`+c.comm+`"`, p.Event)
			}
			spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, o)
			if err != nil {
				t.Fatal(err)
			}
			prog := load(t, spec)
			before := monotonic(t)
			run(t, prog, ctx)
			after := monotonic(t)
			s, col := drain(t, e, classOf(3, p))
			if len(s.recs) != 1 {
				t.Fatalf("%d records, want 1", len(s.recs))
			}
			r := s.recs[0]
			if r.Class != 3 || r.PID != int32(os.Getpid()) || r.TID != int32(tid) || r.CPU != 0 || r.Comm != c.comm {
				t.Errorf("header: class %d pid %d tid %d cpu %d comm %q; want 3 %d %d 0 %q", r.Class, r.PID, r.TID, r.CPU, r.Comm, os.Getpid(), tid, c.comm)
			}
			if r.Time < before || r.Time > after {
				t.Errorf("time %d outside the run [%d, %d]", r.Time, before, after)
			}
			if diff := cmp.Diff(want, r.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if col.Stats.Lost.Load() != 0 || len(s.discarded) != 0 {
				t.Errorf("lost %d, discarded %v", col.Stats.Lost.Load(), s.discarded)
			}
		})
	}
}

func TestBPFRunDataLoc(t *testing.T) {
	e := runEnv(t)
	t.Run("string", func(t *testing.T) {
		thread(t, "bpfgen-dl")
		p := tracepoint(t, "sched:sched_process_exec", resolve.Options{StringSize: 64})
		// filename's __data_loc at 8: length << 16 | offset; pid, old_pid.
		ctx := newCtx().u32(8, 14<<16|24).u32(12, 77).u32(16, 78)
		copy(ctx[24:], "/usr/bin/true\x00")
		spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, bpfgen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		run(t, load(t, spec), ctx)
		s, _ := drain(t, e, classOf(0, p))
		want := []map[string]any{{"filename": "/usr/bin/true", "pid": int64(77), "old_pid": int64(78)}}
		if diff := cmp.Diff(want, fields(s)); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		thread(t, "bpfgen-dl")
		// cpumask of 8 bytes in a 10-byte slot (u16 length, 8 bytes).
		p := tracepoint(t, "ipi:ipi_send_cpumask", resolve.Options{StringSize: 8})
		spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, bpfgen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		prog := load(t, spec)
		for _, n := range []uint32{3, 8, 20} { // 20: longer than the slot, cut to 8
			ctx := newCtx().u32(8, n<<16|40).u64(16, 0xffffffff81001000).u64(24, 0xffffffff81002000)
			copy(ctx[40:], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
			run(t, prog, ctx)
		}
		s, _ := drain(t, e, classOf(0, p))
		callsite, callback := int64(-0x7efff000), int64(-0x7effe000)
		want := []map[string]any{
			{"cpumask": []byte{1, 2, 3}, "callsite": callsite, "callback": callback},
			{"cpumask": []byte{1, 2, 3, 4, 5, 6, 7, 8}, "callsite": callsite, "callback": callback},
			{"cpumask": []byte{1, 2, 3, 4, 5, 6, 7, 8}, "callsite": callsite, "callback": callback},
		}
		if diff := cmp.Diff(want, fields(s)); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	})
}

func fields(s *sink) []map[string]any {
	var out []map[string]any
	for _, r := range s.recs {
		out = append(out, r.Fields)
	}
	return out
}

// filterProbe has a field of each filterable shape, read from the
// context as syscall arguments are (longs) and as char arrays are.
func filterProbe() *resolve.Probe {
	return &resolve.Probe{
		Event: &event.Schema{Name: "test:filter", Fields: []event.Field{
			{Name: "s64", Kind: event.Int, Size: 8, Signed: true},
			{Name: "u64", Kind: event.Int, Size: 8},
			{Name: "i32", Kind: event.Int, Size: 4, Signed: true},
			{Name: "u16", Kind: event.Int, Size: 2},
			{Name: "path", Kind: event.String, Size: 16},
			{Name: "name", Kind: event.Text, Size: 8},
		}},
		Reads: []resolve.Read{
			{Src: resolve.FromContext, Offset: 8, Size: 8},
			{Src: resolve.FromContext, Offset: 16, Size: 8},
			{Src: resolve.FromContext, Offset: 24, Size: 8},
			{Src: resolve.FromContext, Offset: 32, Size: 8},
			{Src: resolve.FromUserPtr, Offset: 40, Size: 8},
			{Src: resolve.FromContext, Offset: 48, Size: 8},
		},
		Target: resolve.Target{Kind: resolve.TargetTracepoint, Category: "test", Event: "filter"},
	}
}

// filterRow is one event for the filter tests: what the context holds
// and the thread's comm.
type filterRow struct {
	s64, u64, i32, u16 uint64 // the longs in the context
	path, name, comm   string
}

// values are what the record of a row holds: the fields as recorded
// (narrowed, strings cut to their slot) and the builtins.
func (r filterRow) values(tid int) map[string]any {
	cut := func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	}
	return map[string]any{
		"s64": int64(r.s64), "u64": int64(r.u64), "i32": int64(int32(r.i32)), "u16": int64(uint16(r.u16)),
		"path": cut(r.path, 15), "name": cut(r.name, 8), "comm": cut(r.comm, 15),
		"pid": int64(os.Getpid()), "tid": int64(tid), "cpu": int64(0),
	}
}

// eval is the filter language's meaning, evaluated in Go.
func eval(e *filter.Expr, v map[string]any) bool {
	switch e.Op {
	case filter.OpNot:
		return !eval(e.L, v)
	case filter.OpAnd:
		return eval(e.L, v) && eval(e.R, v)
	case filter.OpOr:
		return eval(e.L, v) || eval(e.R, v)
	}
	c := e.Cmp
	if c.Field.Type == filter.String {
		s := v[c.Field.Name].(string)
		eq := s == c.Str
		if c.Prefix {
			eq = strings.HasPrefix(s, c.Str)
		}
		return eq == (c.Op == filter.CmpEq)
	}
	x := v[c.Field.Name].(int64)
	var lt, eq bool
	if c.Field.Signed {
		lt, eq = x < c.Int, x == c.Int
	} else {
		lt, eq = uint64(x) < uint64(c.Int), x == c.Int
	}
	switch c.Op {
	case filter.CmpEq:
		return eq
	case filter.CmpNe:
		return !eq
	case filter.CmpLt:
		return lt
	case filter.CmpLe:
		return lt || eq
	case filter.CmpGt:
		return !lt && !eq
	case filter.CmpGe:
		return !lt
	}
	panic("unknown comparison")
}

// TestBPFRunFilters runs each filter over each row in the kernel and
// checks that a record is written exactly when the filter, evaluated in
// Go, holds.
func TestBPFRunFilters(t *testing.T) {
	e := runEnv(t)
	p := filterProbe()
	neg := func(v int64) uint64 { return uint64(v) }
	rows := []filterRow{
		{s64: 5, u64: 5, i32: 5, u16: 5, path: "/etc/hosts", name: "abc", comm: "bash"},
		{s64: neg(-1), u64: neg(-1), i32: neg(-1), u16: 0xffff, path: "/etc", name: "abcdefgh", comm: "zsh"},
		{s64: neg(-1 << 40), u64: 1 << 40, i32: 0x1_8000_0000, u16: 0x1_0001, path: "/proc/self/status-long-name", name: "", comm: "a-very-long-command"},
		{s64: 0, u64: 0xffffffff81000000, i32: 0x7fffffff, u16: 0x1ff, path: "", name: "abcdefg", comm: "bash-5"},
	}
	filters := []string{
		"s64 == 5", "s64 < 0", "s64 <= -1099511627776", "s64 > -1", "s64 >= 5", "s64 != 0",
		"u64 == 5", "u64 < 6", "u64 > 0xffffffff", "u64 == 0xffffffffffffffff", "u64 >= 0xffffffff81000000", "u64 <= 0x8000000000000000",
		"i32 < 0", "i32 == -2147483648", "i32 == 2147483647", "i32 > 4", "i32 >= -1",
		"u16 == 65535", "u16 > 0x1ff", "u16 >= 0x1ff", "u16 == 1", "u16 < 2",
		`path == "/etc/hosts"`, `path == "/etc/*"`, `path == "/etc"`, `path != "/etc/*"`, `path == ""`, `path == "/proc/self/stat"`, `path == "/proc/*"`,
		`name == "abc"`, `name == "abcdefg"`, `name == "abc*"`, `name != "abcdefg"`, `name == "abcdefg*"`,
		`comm == "bash"`, `comm == "bash*"`, `comm != "zsh"`, `comm == "a-very-long-com"`, `comm == "a-very-long-com*"`,
		"pid == " + fmt.Sprint(os.Getpid()), "pid != " + fmt.Sprint(os.Getpid()), "tid == TID", "tid != TID", "cpu == 0", "cpu > 0",
		`!(s64 == 5) && comm == "bash*"`, `s64 == 5 || u16 == 0x1ff`, `(i32 < 0 || u64 < 6) && !(path == "/etc*" || name == "")`,
		`!(!(u16 == 65535))`, `s64 < 0 && (comm == "zsh" || comm == "a-*") || name == "abcdefg"`,
	}
	var recorded, dropped int // over every filter and row
	defer func() {
		if recorded == 0 || dropped == 0 {
			t.Errorf("the filters recorded %d events and dropped %d: the table tests one outcome only", recorded, dropped)
		}
	}()
	for _, src := range filters {
		t.Run(src, func(t *testing.T) {
			tid := thread(t, "bpfgen-f")
			f := parseFilter(t, strings.ReplaceAll(src, "TID", fmt.Sprint(tid)), p.Event)
			mem := newUserMem(t)
			spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, bpfgen.Options{Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			prog := load(t, spec)
			var want []int
			for i, r := range rows {
				setComm(t, tid, r.comm)
				ptr := mem.str(r.path)
				ctx := newCtx().u64(8, r.s64).u64(16, r.u64).u64(24, r.i32).u64(32, r.u16).u64(40, ptr)
				copy(ctx[48:56], r.name)
				run(t, prog, ctx)
				if eval(f, r.values(tid)) {
					want = append(want, i)
				}
			}
			s, _ := drain(t, e, classOf(0, p))
			var got []int
			for _, r := range s.recs {
				// Find the row by its values.
				for i, row := range rows {
					v := row.values(tid)
					if r.Fields["s64"] == v["s64"] && r.Fields["u64"] == v["u64"] && r.Fields["path"] == v["path"] && r.Comm == v["comm"] {
						got = append(got, i)
						break
					}
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows recorded (-want +got):\n%s", diff)
			}
			recorded += len(want)
			dropped += len(rows) - len(want)
		})
	}
}

func TestBPFRunRingFull(t *testing.T) {
	// A ring of one page holds 12 records of 310 bytes (320 with their
	// header): 20 events lose 8, counted on this CPU.
	p := tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{})
	tests := []struct {
		name       string
		filter     string
		kept, lost int
	}{
		{"reserved in the ring", "", 12, 8},
		{"copied from the scratch", "dfd < 0", 12, 8},
		{"filtered out: not lost", "dfd >= 0", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := runEnv(t)
			e.maps.Events = e.newMap("events", &ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 4096})
			thread(t, "bpfgen-full")
			o := bpfgen.Options{}
			if tt.filter != "" {
				o.Filter = parseFilter(t, tt.filter, p.Event)
			}
			spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, o)
			if err != nil {
				t.Fatal(err)
			}
			prog := load(t, spec)
			ptr := newUserMem(t).str("/tmp/x")
			for range 20 {
				run(t, prog, newCtx().i64(16, -100).u64(24, ptr))
			}
			s, c := drain(t, e, classOf(0, p))
			if len(s.recs) != tt.kept || c.Stats.Records.Load() != uint64(tt.kept) {
				t.Errorf("%d records (Stats %d), want %d", len(s.recs), c.Stats.Records.Load(), tt.kept)
			}
			if c.Stats.Lost.Load() != uint64(tt.lost) {
				t.Errorf("Stats.Lost = %d, want %d", c.Stats.Lost.Load(), tt.lost)
			}
			var want map[int]uint64
			if tt.lost > 0 {
				want = map[int]uint64{0: uint64(tt.lost)}
			}
			if diff := cmp.Diff(want, s.discarded); diff != "" {
				t.Errorf("discarded per CPU (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBPFRunGates(t *testing.T) {
	p := tracepoint(t, "syscalls:sys_exit_openat", resolve.Options{})
	self := uint32(os.Getpid())
	tests := []struct {
		name    string
		control uint32
		o       bpfgen.Options
		pids    []uint32
		want    int
	}{
		{"control off", 0, bpfgen.Options{}, nil, 0},
		{"control on", 1, bpfgen.Options{}, nil, 1},
		{"this process", 1, bpfgen.Options{PID: self}, nil, 1},
		{"another process", 1, bpfgen.Options{PID: self + 1}, nil, 0},
		{"followed", 1, bpfgen.Options{Follow: true}, []uint32{1, self}, 1},
		{"not followed", 1, bpfgen.Options{Follow: true}, []uint32{1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := runEnv(t)
			thread(t, "bpfgen-gate")
			if err := e.maps.Control.Put(uint32(0), tt.control); err != nil {
				t.Fatal(err)
			}
			for _, pid := range tt.pids {
				if err := e.maps.Pids.Put(pid, uint8(1)); err != nil {
					t.Fatal(err)
				}
			}
			for _, direct := range []bool{true, false} {
				o := tt.o
				if !direct {
					o.Filter = parseFilter(t, "ret == -2", p.Event)
				}
				spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, o)
				if err != nil {
					t.Fatal(err)
				}
				run(t, load(t, spec), newCtx().i64(16, -2))
				s, _ := drain(t, e, classOf(0, p))
				if len(s.recs) != tt.want {
					t.Errorf("filter %v: %d records, want %d", !direct, len(s.recs), tt.want)
				}
			}
		})
	}
}

func TestBPFRunTaskFieldsAndStacks(t *testing.T) {
	e := runEnv(t)
	thread(t, "bpfgen-task")
	p := tracepoint(t, "syscalls:sys_exit_openat", resolve.Options{
		Stack: "both",
		TaskFields: []resolve.TaskFieldSpec{
			{Name: "ppid", Path: "real_parent.tgid"},
			{Name: "tgid", Path: "tgid"},
			{Name: "gl", Path: "group_leader.pid"},
		},
	})
	spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, bpfgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, load(t, spec), newCtx().i64(16, 3))
	s, _ := drain(t, e, classOf(0, p))
	if len(s.recs) != 1 {
		t.Fatalf("%d records", len(s.recs))
	}
	f := s.recs[0].Fields
	if f["ppid"] != int64(os.Getppid()) || f["tgid"] != int64(os.Getpid()) || f["gl"] != int64(os.Getpid()) || f["ret"] != int64(3) {
		t.Errorf("ppid %v tgid %v group leader %v ret %v; want %d %d %d 3", f["ppid"], f["tgid"], f["gl"], f["ret"], os.Getppid(), os.Getpid(), os.Getpid())
	}
	kstack, _ := f["kstack"].([]uint64)
	if len(kstack) == 0 {
		t.Error("no kernel stack")
	}
	for _, a := range kstack {
		if a < 0xffff800000000000 {
			t.Errorf("kernel stack address %#x is not a kernel address", a)
		}
	}
	ustack, _ := f["ustack"].([]uint64)
	if len(ustack) == 0 {
		t.Error("no user stack")
	}
	for _, a := range ustack {
		if a >= 0x800000000000 {
			t.Errorf("user stack address %#x is not a user address", a)
		}
	}
}

func TestBPFRunUSDTArgs(t *testing.T) {
	// A constant, %ah (rax >> 8, one byte) and -8(%rbp) read from user
	// memory; pt_regs has rbp at 32 and rax at 80.
	e := runEnv(t)
	thread(t, "bpfgen-usdt")
	p := usdtArgs()
	spec, err := bpfgen.Program(p, record.Sequential(p.Event), e.maps, maxRecord, bpfgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rbp := newUserMem(t).put(binary.LittleEndian.AppendUint64(nil, 0xfedcba9876543210)) + 8
	run(t, load(t, spec), newCtx().u64(32, rbp).u64(80, 0x12345))
	s, _ := drain(t, e, classOf(0, p))
	want := []map[string]any{{"arg0": int64(42), "arg1": int64(0x23), "arg2": int64(-0x123456789abcdf0)}}
	if diff := cmp.Diff(want, fields(s)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestBPFRunDispatcher(t *testing.T) {
	e := runEnv(t)
	enter := tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{})
	exit := tracepoint(t, "syscalls:sys_exit_openat", resolve.Options{})
	le, ee, ok := bpfgen.DispatchLayout(enter, true, stringSize)
	if !ok {
		t.Fatal("sys_enter_openat cannot be dispatched")
	}
	lx, ex, ok := bpfgen.DispatchLayout(exit, false, stringSize)
	if !ok {
		t.Fatal("sys_exit_openat cannot be dispatched")
	}
	ee.ClassPlus1, ex.ClassPlus1 = 4+1, 5+1
	const openat = 257
	if err := e.table.Put(uint32(openat), ee.Marshal()); err != nil {
		t.Fatal(err)
	}
	classes := []*record.Class{
		{ID: 4, Schema: enter.Event, Layout: le},
		{ID: 5, Schema: exit.Event, Layout: lx},
	}
	ptr := newUserMem(t).str("/etc/passwd")
	enterCtx := func(nr uint64) []byte {
		return newCtx().u64(8, nr).i64(16, -100).u64(24, ptr).u64(32, 0x80000).u64(40, 0o600)
	}

	t.Run("enter", func(t *testing.T) {
		tid := thread(t, "bpfgen-disp")
		spec, err := bpfgen.Dispatcher(true, e.maps, e.table, stringSize, maxRecord, bpfgen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		prog := load(t, spec)
		run(t, prog, enterCtx(openat))
		run(t, prog, enterCtx(0))    // read: not in the table
		run(t, prog, enterCtx(5000)) // past the table
		s, _ := drain(t, e, classes...)
		want := []map[string]any{{"__syscall_nr": int64(openat), "dfd": int64(-100), "filename": "/etc/passwd", "flags": int64(0x80000), "mode": int64(0o600)}}
		if diff := cmp.Diff(want, fields(s)); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
		if len(s.recs) == 1 && (s.recs[0].Class != 4 || s.recs[0].TID != int32(tid) || s.recs[0].Comm != "bpfgen-disp") {
			t.Errorf("header %+v", s.recs[0])
		}
	})
	t.Run("exit", func(t *testing.T) {
		thread(t, "bpfgen-disp")
		if err := e.table.Put(uint32(openat), ex.Marshal()); err != nil {
			t.Fatal(err)
		}
		spec, err := bpfgen.Dispatcher(false, e.maps, e.table, stringSize, maxRecord, bpfgen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		run(t, load(t, spec), newCtx().u64(8, openat).i64(16, -2))
		s, _ := drain(t, e, classes...)
		want := []map[string]any{{"__syscall_nr": int64(openat), "ret": int64(-2)}}
		if diff := cmp.Diff(want, fields(s)); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	})
	t.Run("filter on builtins", func(t *testing.T) {
		tid := thread(t, "bpfgen-disp")
		if err := e.table.Put(uint32(openat), ee.Marshal()); err != nil {
			t.Fatal(err)
		}
		f := parseFilter(t, `comm == "bpfgen-disp"`, &event.Schema{})
		spec, err := bpfgen.Dispatcher(true, e.maps, e.table, stringSize, maxRecord, bpfgen.Options{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		prog := load(t, spec)
		run(t, prog, enterCtx(openat))
		setComm(t, tid, "other")
		run(t, prog, enterCtx(openat))
		s, _ := drain(t, e, classes...)
		if len(s.recs) != 1 || s.recs[0].Comm != "bpfgen-disp" {
			t.Errorf("records %+v, want the one of comm bpfgen-disp", s.recs)
		}
	})
}

func TestBPFRunFollowers(t *testing.T) {
	e := runEnv(t)
	thread(t, "bpfgen-follow")
	self := uint32(os.Getpid())
	has := func(pid uint32) bool {
		var v uint8
		return e.maps.Pids.Lookup(pid, &v) == nil
	}
	fork := load(t, bpfgen.ForkFollower(e.maps.Pids, 20))
	// sched_process_fork has child_pid at 20.
	run(t, fork, newCtx().u32(20, 4242))
	if has(4242) {
		t.Error("the child of a process not followed was added")
	}
	if err := e.maps.Pids.Put(self, uint8(1)); err != nil {
		t.Fatal(err)
	}
	run(t, fork, newCtx().u32(20, 4242))
	if !has(4242) {
		t.Error("the child of a followed process was not added")
	}

	exec := load(t, bpfgen.ExecPromoter(e.pending, e.maps.Pids))
	if err := e.maps.Pids.Delete(self); err != nil {
		t.Fatal(err)
	}
	run(t, exec, newCtx())
	if has(self) {
		t.Error("a process that was not pending was promoted")
	}
	if err := e.pending.Put(self, uint8(1)); err != nil {
		t.Fatal(err)
	}
	run(t, exec, newCtx())
	if !has(self) {
		t.Error("a pending process was not promoted at its exec")
	}
}

// valueProbe is an event with one unsigned and one signed 8-byte value.
func valueProbe() *resolve.Probe {
	return &resolve.Probe{
		Event: &event.Schema{Name: "test:value", Fields: []event.Field{
			{Name: "u", Kind: event.Int, Size: 8},
			{Name: "s", Kind: event.Int, Size: 8, Signed: true},
			{Name: "s32", Kind: event.Int, Size: 4, Signed: true},
		}},
		Reads: []resolve.Read{
			{Src: resolve.FromContext, Offset: 8, Size: 8},
			{Src: resolve.FromContext, Offset: 16, Size: 8},
			{Src: resolve.FromContext, Offset: 24, Size: 8},
		},
		Target: resolve.Target{Kind: resolve.TargetTracepoint, Category: "test", Event: "value"},
	}
}

// aggregate runs an aggregation program once per context and reads its
// maps back.
func runAgg(t *testing.T, e *env, p *resolve.Probe, a *bpfgen.Agg, mode aggregate.Mode, f string, ctxs ...[]byte) *aggregate.Snapshot {
	t.Helper()
	o := bpfgen.Options{}
	if f != "" {
		o.Filter = parseFilter(t, f, p.Event)
	}
	spec, err := bpfgen.AggProgram(p, record.Sequential(p.Event), e.maps, maxRecord, o, a)
	if err != nil {
		t.Fatal(err)
	}
	prog := load(t, spec)
	for _, c := range ctxs {
		run(t, prog, c)
	}
	r := &aggregate.Reader{Name: "t", Mode: mode, Scheme: a.Scheme, Keys: a.Keys, Classes: []string{p.Event.Name},
		Maps: aggregate.Maps{Counts: a.Counts, Sums: a.Sums, Starts: a.Starts, Stats: a.Stats}}
	snap, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestBPFRunHistBuckets(t *testing.T) {
	// The generated bucket code must agree with package hist's index
	// functions, which the readers use to turn buckets into ranges.
	e := runEnv(t)
	p := valueProbe()
	var unsigned []uint64
	for k := 0; k < 64; k++ {
		v := uint64(1) << k
		unsigned = append(unsigned, v-1, v, v+1, v+v/3)
	}
	unsigned = append(unsigned, ^uint64(0), 12345, 999_999_999)
	signed := []int64{-1 << 63, -1000, -51, -50, -49, -1, 0, 1, 24, 25, 26, 199, 200, 201, 1 << 40, 1<<63 - 1}
	ctxs := func(field string) [][]byte {
		var out [][]byte
		if field == "u" {
			for _, v := range unsigned {
				out = append(out, newCtx().u64(8, v))
			}
		} else {
			for _, v := range signed {
				out = append(out, newCtx().i64(16, v).i64(24, v))
			}
		}
		return out
	}
	lin := hist.Linear{Min: -50, Max: 200, Step: 25}
	tests := []struct {
		name   string
		value  string
		scheme hist.Scheme
		index  func(i int) int // the expected bucket of the i-th value
		n      int
	}{
		{"log2 unsigned", "u", hist.Log2{}, func(i int) int { return hist.Log2Index(unsigned[i]) }, len(unsigned)},
		{"loglinear unsigned", "u", hist.LogLinear{}, func(i int) int { return hist.LogLinearIndex(unsigned[i]) }, len(unsigned)},
		// Negative values go to bucket 0 of the log scales.
		{"log2 signed", "s", hist.Log2{}, func(i int) int { return hist.Log2Index(uint64(max(signed[i], 0))) }, len(signed)},
		{"loglinear signed", "s", hist.LogLinear{}, func(i int) int { return hist.LogLinearIndex(uint64(max(signed[i], 0))) }, len(signed)},
		{"log2 upper unsigned", "u", hist.Log2Upper{}, func(i int) int { return hist.Log2UpperIndex(unsigned[i]) }, len(unsigned)},
		{"loglinear upper unsigned", "u", hist.LogLinearUpper{}, func(i int) int { return hist.LogLinearUpperIndex(unsigned[i]) }, len(unsigned)},
		{"log2 upper signed", "s", hist.Log2Upper{}, func(i int) int { return hist.Log2UpperIndex(uint64(max(signed[i], 0))) }, len(signed)},
		{"loglinear upper signed 32-bit", "s32", hist.LogLinearUpper{}, func(i int) int {
			return hist.LogLinearUpperIndex(uint64(max(int64(int32(signed[i])), 0)))
		}, len(signed)},
		{"linear signed", "s", lin, func(i int) int { return lin.Index(signed[i]) }, len(signed)},
		{"linear signed 32-bit", "s32", lin, func(i int) int { return lin.Index(int64(int32(signed[i]))) }, len(signed)},
		{"linear unsigned", "u", hist.Linear{Min: 0, Max: 1 << 20, Step: 1 << 12}, func(i int) int {
			if unsigned[i] >= 1<<63 {
				return 257
			}
			return hist.Linear{Min: 0, Max: 1 << 20, Step: 1 << 12}.Index(int64(unsigned[i]))
		}, len(unsigned)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			thread(t, "bpfgen-hist")
			a := e.agg(bpfgen.Agg{Mode: bpfgen.AggHist, Value: tt.value, Scheme: tt.scheme})
			src := tt.value
			if src == "s32" {
				src = "s"
			}
			snap := runAgg(t, e, p, a, aggregate.Hist, "", ctxs(src)...)
			want := map[int]uint64{}
			for i := 0; i < tt.n; i++ {
				want[tt.index(i)]++
			}
			if len(snap.Groups) != 1 {
				t.Fatalf("%d groups, want 1", len(snap.Groups))
			}
			if diff := cmp.Diff(want, snap.Groups[0].Buckets); diff != "" {
				t.Errorf("buckets (-want +got):\n%s", diff)
			}
			if snap.Groups[0].Count != uint64(tt.n) || snap.MapFull != 0 {
				t.Errorf("count %d, map full %d; want %d, 0", snap.Groups[0].Count, snap.MapFull, tt.n)
			}
		})
	}
}

func TestBPFRunHistSum(t *testing.T) {
	// With a Sums map, a hist keeps the exact sum of its values beside the
	// buckets: unsigned values add up modulo 2^64, signed ones as int64s.
	e := runEnv(t)
	p := valueProbe()
	vals := []int64{0, 1, 2, 3, 4, 4095, 4096, 4097, -4096, 1 << 40, -7}
	for _, tt := range []struct {
		field string
		want  func() uint64
	}{
		{"u", func() uint64 {
			var n uint64
			for _, v := range vals {
				n += uint64(v)
			}
			return n
		}},
		{"s32", func() uint64 {
			var n int64
			for _, v := range vals {
				n += int64(int32(v))
			}
			return uint64(n)
		}},
	} {
		t.Run(tt.field, func(t *testing.T) {
			thread(t, "bpfgen-hsum")
			a := e.agg(bpfgen.Agg{Mode: bpfgen.AggHist, Value: tt.field, Scheme: hist.Log2Upper{}})
			a.Sums = e.newMap("sums", &ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: uint32(a.SumsKeySize()), ValueSize: record.SumsValueSize, MaxEntries: 64})
			var ctxs [][]byte
			for _, v := range vals {
				ctxs = append(ctxs, newCtx().i64(8, v).i64(16, v).i64(24, v))
			}
			snap := runAgg(t, e, p, a, aggregate.Hist, "", ctxs...)
			if len(snap.Groups) != 1 {
				t.Fatalf("%d groups, want 1", len(snap.Groups))
			}
			g := snap.Groups[0]
			if g.Sum != tt.want() || g.Count != uint64(len(vals)) {
				t.Errorf("sum %d (int64 %d) of %d values, want %d (int64 %d) of %d", g.Sum, int64(g.Sum), g.Count, tt.want(), int64(tt.want()), len(vals))
			}
		})
	}
}

func TestBPFRunCount(t *testing.T) {
	e := runEnv(t)
	p := tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{})
	mem := newUserMem(t)
	ptr1, ptr2 := mem.str("/etc/a"), mem.str("/etc/bb")
	ctx := func(dfd int64, ptr uint64) []byte { return newCtx().i64(16, dfd).u64(24, ptr) }
	pid := int64(os.Getpid())

	t.Run("by comm and pid", func(t *testing.T) {
		tid := thread(t, "agg-a")
		a := e.agg(bpfgen.Agg{Mode: bpfgen.AggCount, Keys: record.KeyLayout{comm, pidKey}})
		spec, err := bpfgen.AggProgram(p, record.Sequential(p.Event), e.maps, maxRecord, bpfgen.Options{}, a)
		if err != nil {
			t.Fatal(err)
		}
		prog := load(t, spec)
		for i := 0; i < 5; i++ {
			if i == 3 {
				setComm(t, tid, "agg-b")
			}
			run(t, prog, ctx(-100, ptr1))
		}
		snap, err := (&aggregate.Reader{Mode: aggregate.Count, Keys: a.Keys, Maps: aggregate.Maps{Counts: a.Counts, Stats: a.Stats}}).Read()
		if err != nil {
			t.Fatal(err)
		}
		want := []*aggregate.Group{
			{Key: record.Key{{Name: "comm", Str: "agg-a"}, {Name: "pid", Int: pid, IsInt: true}}, Count: 3},
			{Key: record.Key{{Name: "comm", Str: "agg-b"}, {Name: "pid", Int: pid, IsInt: true}}, Count: 2},
		}
		if diff := cmp.Diff(want, snap.Groups); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
	})
	t.Run("by event and a user string, filtered", func(t *testing.T) {
		thread(t, "agg-c")
		a := e.agg(bpfgen.Agg{Mode: bpfgen.AggCount, Keys: record.KeyLayout{class, filename}})
		snap := runAgg(t, e, p, a, aggregate.Count, "dfd < 0",
			ctx(-100, ptr1), ctx(-100, ptr2), ctx(3, ptr2), ctx(-100, ptr2), ctx(-1, ptr1), ctx(-1, ptr2))
		want := []*aggregate.Group{
			{Key: record.Key{{Name: "event", Str: "syscalls:sys_enter_openat"}, {Name: "filename", Str: "/etc/bb"}}, Count: 3},
			{Key: record.Key{{Name: "event", Str: "syscalls:sys_enter_openat"}, {Name: "filename", Str: "/etc/a"}}, Count: 2},
		}
		if diff := cmp.Diff(want, snap.Groups); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
	})
	t.Run("key map full", func(t *testing.T) {
		thread(t, "agg-d")
		a := bpfgen.Agg{Mode: bpfgen.AggCount, Keys: record.KeyLayout{{Name: "dfd", Kind: record.KeyInt, Size: 8}}}
		a.Counts = e.newMap("counts", &ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: uint32(a.KeySize()), ValueSize: 8, MaxEntries: 2})
		a.Stats = e.newMap("aggstats", &ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: record.StatCount})
		snap := runAgg(t, e, p, &a, aggregate.Count, "", ctx(1, ptr1), ctx(2, ptr1), ctx(3, ptr1), ctx(3, ptr1), ctx(1, ptr1))
		want := []*aggregate.Group{
			{Key: record.Key{{Name: "dfd", Int: 1, IsInt: true}}, Count: 2},
			{Key: record.Key{{Name: "dfd", Int: 2, IsInt: true}}, Count: 1},
		}
		if diff := cmp.Diff(want, snap.Groups); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
		if snap.MapFull != 2 {
			t.Errorf("map full %d, want 2", snap.MapFull)
		}
	})
}

func TestBPFRunLatency(t *testing.T) {
	e := runEnv(t)
	thread(t, "bpfgen-lat")
	enter := tracepoint(t, "syscalls:sys_enter_openat", resolve.Options{})
	exit := tracepoint(t, "syscalls:sys_exit_openat", resolve.Options{})
	// The maps are made for the end's mode (the key with its bucket), and
	// shared with the start, as the engine does.
	end := e.agg(bpfgen.Agg{Mode: bpfgen.AggEnd, Keys: record.KeyLayout{comm}, Match: "tid", Scheme: hist.LogLinear{}})
	start := *end
	start.Mode = bpfgen.AggStart
	startSpec, err := bpfgen.AggProgram(enter, record.Sequential(enter.Event), e.maps, maxRecord, bpfgen.Options{}, &start)
	if err != nil {
		t.Fatal(err)
	}
	endSpec, err := bpfgen.AggProgram(exit, record.Sequential(exit.Event), e.maps, maxRecord, bpfgen.Options{ClassID: 1}, end)
	if err != nil {
		t.Fatal(err)
	}
	startProg, endProg := load(t, startSpec), load(t, endSpec)
	reader := &aggregate.Reader{Mode: aggregate.Latency, Scheme: hist.LogLinear{}, Keys: start.Keys,
		Maps: aggregate.Maps{Counts: start.Counts, Sums: start.Sums, Starts: start.Starts, Stats: start.Stats}}

	run(t, endProg, newCtx()) // an end without its start: not counted
	t0 := monotonic(t)
	run(t, startProg, newCtx())
	time.Sleep(2 * time.Millisecond)
	run(t, endProg, newCtx())
	elapsed := monotonic(t) - t0
	snap, err := reader.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Groups) != 1 {
		t.Fatalf("%d groups, want 1", len(snap.Groups))
	}
	g := snap.Groups[0]
	d := g.Sum
	if g.Count != 1 || g.Min != d || g.Max != d || d < uint64(2*time.Millisecond) || d > elapsed {
		t.Errorf("count %d sum %d min %d max %d; want one latency in [2ms, %d]", g.Count, g.Sum, g.Min, g.Max, elapsed)
	}
	if diff := cmp.Diff(map[int]uint64{hist.LogLinearIndex(d): 1}, g.Buckets); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(record.Key{{Name: "comm", Str: "bpfgen-lat"}}, g.Key); diff != "" {
		t.Errorf("key (-want +got):\n%s", diff)
	}
	if snap.Starts != 1 || snap.Matched != 1 || snap.Pending != 0 || snap.Unmatched != 0 {
		t.Errorf("starts %d matched %d pending %d unmatched %d; want 1 1 0 0", snap.Starts, snap.Matched, snap.Pending, snap.Unmatched)
	}

	// A second start replaces the first: one pending, one unmatched.
	run(t, startProg, newCtx())
	run(t, startProg, newCtx())
	snap, err = reader.Read()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Starts != 3 || snap.Matched != 1 || snap.Pending != 1 || snap.Unmatched != 1 {
		t.Errorf("starts %d matched %d pending %d unmatched %d; want 3 1 1 1", snap.Starts, snap.Matched, snap.Pending, snap.Unmatched)
	}
	// Its end: two latencies; min and max apart.
	run(t, endProg, newCtx())
	snap, err = reader.Read()
	if err != nil {
		t.Fatal(err)
	}
	g = snap.Groups[0]
	if g.Count != 2 || g.Min > g.Max || g.Max != max(d, g.Sum-d) || g.Min != min(d, g.Sum-d) {
		t.Errorf("count %d sum %d min %d max %d after a second latency (the first %d)", g.Count, g.Sum, g.Min, g.Max, d)
	}
}
