package bpfgen_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

const (
	// maxRecord holds the largest record of the cases: both stacks.
	maxRecord  = 2304
	stringSize = resolve.DefaultStringSize
)

// env holds the maps of one test's programs and names them, so that a
// listing shows "map: events" rather than a file descriptor.
type env struct {
	t       testing.TB
	maps    bpfgen.Maps
	cpu     bpfgen.Maps // maps with per-CPU rings
	pending *ebpf.Map
	table   *ebpf.Map
	names   map[int]string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	bpftest.Require(t)
	e := &env{t: t, names: map[int]string{}}
	e.maps = bpfgen.Maps{
		Events:  e.newMap("events", &ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 1 << 16}),
		Scratch: e.newMap("scratch", &ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: maxRecord + 128, MaxEntries: 1}),
		Lost:    e.newMap("lost", &ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}),
		Pids:    e.newMap("pids", &ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 64}),
		Control: e.newMap("control", &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}),
	}
	e.cpu = e.maps
	e.cpu.CPURingSize, e.cpu.MaxRecord = 1<<16, maxRecord
	e.cpu.CPURing = e.newMap("cpurings", &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, MaxEntries: 2,
		ValueSize: uint32(bpfgen.CPURingValueSize(e.cpu.CPURingSize, maxRecord)), Flags: unix.BPF_F_MMAPABLE})
	e.pending = e.newMap("pending", &ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 64})
	e.table = e.newMap("sysdisp", &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: bpfgen.DispatchEntrySize, MaxEntries: bpfgen.DispatchTableSize})
	return e
}

func (e *env) newMap(name string, spec *ebpf.MapSpec) *ebpf.Map {
	e.t.Helper()
	m, err := ebpf.NewMap(spec)
	if err != nil {
		e.t.Fatalf("create map %s: %v", name, err)
	}
	e.t.Cleanup(func() { m.Close() })
	e.names[m.FD()] = name
	return m
}

// agg returns an aggregation with its maps.
func (e *env) agg(a bpfgen.Agg) *bpfgen.Agg {
	e.t.Helper()
	a.Counts = e.newMap("counts", &ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: uint32(a.KeySize()), ValueSize: 8, MaxEntries: 1024})
	a.Stats = e.newMap("aggstats", &ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: record.StatCount})
	if a.Mode == bpfgen.AggStart || a.Mode == bpfgen.AggEnd {
		a.Sums = e.newMap("sums", &ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: uint32(a.SumsKeySize()), ValueSize: record.SumsValueSize, MaxEntries: 64})
		a.Starts = e.newMap("starts", &ebpf.MapSpec{Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: 64})
	}
	return &a
}

var fdRE = regexp.MustCompile(`fd: (-?[0-9]+)`)

// listing formats a spec's instructions with its maps named.
func (e *env) listing(spec *ebpf.ProgramSpec) string {
	e.t.Helper()
	text := fdRE.ReplaceAllStringFunc(fmt.Sprint(spec.Instructions), func(m string) string {
		fd, _ := strconv.Atoi(fdRE.FindStringSubmatch(m)[1])
		name, ok := e.names[fd]
		if !ok {
			e.t.Errorf("%s uses fd %d, which is none of the test's maps", spec.Name, fd)
			return m
		}
		return "map: " + name
	})
	return fmt.Sprintf("name: %s\ntype: %v\nlicense: %s\n%s", spec.Name, spec.Type, spec.License, text)
}

// Hand-made probes for the sources tracefs does not give.

// uprobeStr is a uprobe recording str(arg0) and arg1.
func uprobeStr() *resolve.Probe {
	return &resolve.Probe{
		Event: &event.Schema{Name: "uprobe:/usr/bin/prog:open_file", Fields: []event.Field{
			{Name: "arg0", Kind: event.String, Size: 64, CType: "register"},
			{Name: "arg1", Kind: event.Int, Size: 8, Signed: true, CType: "register"},
		}},
		Reads: []resolve.Read{
			{Src: resolve.FromUserPtr, Offset: 112, Size: 8},
			{Src: resolve.FromContext, Offset: 104, Size: 8},
		},
		Target: resolve.Target{Kind: resolve.TargetUprobe, Path: "/usr/bin/prog", Symbol: "open_file"},
	}
}

// kprobeStr is a kprobe recording the kernel string str(arg1).
func kprobeStr() *resolve.Probe {
	return &resolve.Probe{
		Event: &event.Schema{Name: "kprobe:do_sys_openat2", Fields: []event.Field{
			{Name: "arg1", Kind: event.String, Size: 128, CType: "register"},
		}},
		Reads:  []resolve.Read{{Src: resolve.FromKernelPtr, Offset: 104, Size: 8}},
		Target: resolve.Target{Kind: resolve.TargetKprobe, Symbol: "do_sys_openat2"},
	}
}

// usdtArgs is a USDT probe with a constant, a shifted register (%ah) and
// a memory operand (-8(%rbp)).
func usdtArgs() *resolve.Probe {
	return &resolve.Probe{
		Event: &event.Schema{Name: "usdt:/usr/bin/prog:app:req", Fields: []event.Field{
			{Name: "arg0", Kind: event.Int, Size: 4, Signed: true, CType: "-4@$42"},
			{Name: "arg1", Kind: event.Int, Size: 1, CType: "1@%ah"},
			{Name: "arg2", Kind: event.Int, Size: 8, Signed: true, CType: "-8@-8(%rbp)"},
		}},
		Reads: []resolve.Read{
			{Src: resolve.FromConst, Const: 42},
			{Src: resolve.FromContext, Offset: 80, Size: 8, Shift: 8},
			{Src: resolve.FromUserDeref, Offset: 32, Disp: -8},
		},
		Target: resolve.Target{Kind: resolve.TargetUSDT, Path: "/usr/bin/prog", Addresses: []uint64{0x1234}},
	}
}

// withTask adds a task field read through two offsets (a pointer, then
// the value), as resolve.TaskField makes for real_parent.tgid.
func withTask(p *resolve.Probe) *resolve.Probe {
	return p.With([]event.Field{{Name: "ppid", Kind: event.Int, Size: 4, Signed: true, CType: "task_struct.real_parent.tgid"}},
		[]resolve.Read{{Src: resolve.FromTask, TaskPath: []int{1280, 1256}}})
}

var (
	comm     = record.KeyPart{Name: "comm", Kind: record.KeyString, Size: 16}
	class    = record.KeyPart{Name: "event", Kind: record.KeyClass, Size: 8}
	pidKey   = record.KeyPart{Name: "pid", Kind: record.KeyInt, Size: 8}
	filename = record.KeyPart{Name: "filename", Kind: record.KeyString, Size: record.KeyStringCap}
)

// genCase is one program of the golden listings and the verifier test.
type genCase struct {
	name  string
	build func(t testing.TB, e *env) (*ebpf.ProgramSpec, error)
}

func record1(p func(t testing.TB) *resolve.Probe, o bpfgen.Options, filterSrc string) func(testing.TB, *env) (*ebpf.ProgramSpec, error) {
	return func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
		pr := p(t)
		if filterSrc != "" {
			o.Filter = parseFilter(t, filterSrc, pr.Event)
		}
		return bpfgen.Program(pr, record.Sequential(pr.Event), e.maps, maxRecord, o)
	}
}

// cpuRecord1 is record1 writing to per-CPU rings.
func cpuRecord1(p func(t testing.TB) *resolve.Probe, o bpfgen.Options, filterSrc string) func(testing.TB, *env) (*ebpf.ProgramSpec, error) {
	return func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
		pr := p(t)
		if filterSrc != "" {
			o.Filter = parseFilter(t, filterSrc, pr.Event)
		}
		m := e.cpu
		if pr.Target.Kind == resolve.TargetPerfEvent {
			m.Control = nil // attached held off
		}
		return bpfgen.Program(pr, record.Sequential(pr.Event), m, maxRecord, o)
	}
}

func agg1(p func(t testing.TB) *resolve.Probe, o bpfgen.Options, filterSrc string, a bpfgen.Agg) func(testing.TB, *env) (*ebpf.ProgramSpec, error) {
	return func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
		pr := p(t)
		if filterSrc != "" {
			o.Filter = parseFilter(t, filterSrc, pr.Event)
		}
		return bpfgen.AggProgram(pr, record.Sequential(pr.Event), e.maps, maxRecord, o, e.agg(a))
	}
}

func tp(name string, o resolve.Options) func(t testing.TB) *resolve.Probe {
	return func(t testing.TB) *resolve.Probe { return tracepoint(t, name, o) }
}

func fixed(p func() *resolve.Probe) func(t testing.TB) *resolve.Probe {
	return func(testing.TB) *resolve.Probe { return p() }
}

func genCases() []genCase {
	openat := tp("syscalls:sys_enter_openat", resolve.Options{})
	exitOpenat := tp("syscalls:sys_exit_openat", resolve.Options{})
	return []genCase{
		{"record_openat", record1(openat, bpfgen.Options{ClassID: 3}, "")},
		{"record_sched_switch_wakeup", record1(tp("sched:sched_switch", resolve.Options{}), bpfgen.Options{Wakeup: true}, "")},
		{"record_exec_stacks", record1(tp("sched:sched_process_exec", resolve.Options{Stack: "both", StringSize: 64}), bpfgen.Options{ClassID: 1}, "")},
		{"record_cpumask", record1(tp("ipi:ipi_send_cpumask", resolve.Options{StringSize: 64}), bpfgen.Options{}, "")},
		{"record_openat_filter", record1(openat, bpfgen.Options{ClassID: 3}, `comm == "bash" && dfd < 0 || filename == "/etc/*"`)},
		{"record_openat_filter_unsigned", record1(openat, bpfgen.Options{}, `mode > 0x1ff && !(pid == 1)`)},
		{"record_filter_large_literal", record1(tp("ipi:ipi_send_cpumask", resolve.Options{StringSize: 64}), bpfgen.Options{}, `callsite == 0xffffffff81000000 && cpu != 1`)},
		{"record_pid", record1(exitOpenat, bpfgen.Options{PID: 1234}, "")},
		{"record_follow", record1(exitOpenat, bpfgen.Options{Follow: true}, "")},
		{"record_task_field", record1(func(t testing.TB) *resolve.Probe { return withTask(exitOpenat(t)) }, bpfgen.Options{}, "")},
		{"uprobe_str", record1(fixed(uprobeStr), bpfgen.Options{}, "")},
		{"kprobe_str", record1(fixed(kprobeStr), bpfgen.Options{}, `arg1 == "/etc/*"`)},
		{"usdt_args", record1(fixed(usdtArgs), bpfgen.Options{}, "")},
		{"profile_stacks", record1(tp("profile:hz:99", resolve.Options{Stack: "both"}), bpfgen.Options{}, "")},
		{"agg_count_comm", agg1(openat, bpfgen.Options{}, "", bpfgen.Agg{Mode: bpfgen.AggCount, Keys: record.KeyLayout{comm}})},
		{"agg_count_event_pid_filter", agg1(openat, bpfgen.Options{ClassID: 2}, "dfd < 0", bpfgen.Agg{Mode: bpfgen.AggCount, Keys: record.KeyLayout{class, pidKey}})},
		{"agg_count_filename", agg1(openat, bpfgen.Options{}, "", bpfgen.Agg{Mode: bpfgen.AggCount, Keys: record.KeyLayout{filename}})},
		{"agg_count_no_key", agg1(exitOpenat, bpfgen.Options{}, "", bpfgen.Agg{Mode: bpfgen.AggCount})},
		{"agg_hist_log2", agg1(exitOpenat, bpfgen.Options{}, "", bpfgen.Agg{Mode: bpfgen.AggHist, Keys: record.KeyLayout{class}, Value: "ret", Scheme: hist.Log2{}})},
		{"agg_hist_linear", agg1(exitOpenat, bpfgen.Options{}, "", bpfgen.Agg{Mode: bpfgen.AggHist, Value: "ret", Scheme: hist.Linear{Min: -10, Max: 100, Step: 10}})},
		{"agg_hist_loglinear_unsigned", agg1(openat, bpfgen.Options{}, "", bpfgen.Agg{Mode: bpfgen.AggHist, Keys: record.KeyLayout{comm}, Value: "mode", Scheme: hist.LogLinear{}})},
		{"latency_start", agg1(openat, bpfgen.Options{}, "", bpfgen.Agg{Mode: bpfgen.AggStart, Keys: record.KeyLayout{comm}, Match: "tid", Scheme: hist.LogLinear{}})},
		{"latency_end", agg1(exitOpenat, bpfgen.Options{}, "ret >= 0", bpfgen.Agg{Mode: bpfgen.AggEnd, Keys: record.KeyLayout{comm}, Match: "tid", Scheme: hist.LogLinear{}})},
		{"dispatch_enter", func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
			return bpfgen.Dispatcher(true, e.maps, e.table, stringSize, maxRecord, bpfgen.Options{})
		}},
		{"dispatch_exit", func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
			return bpfgen.Dispatcher(false, e.maps, e.table, stringSize, maxRecord, bpfgen.Options{})
		}},
		{"dispatch_enter_filter_follow", func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
			f := parseFilter(t, `comm != "sshd" && tid > 1`, &event.Schema{})
			return bpfgen.Dispatcher(true, e.maps, e.table, stringSize, maxRecord, bpfgen.Options{Filter: f, Follow: true})
		}},
		{"cpu_record_openat", cpuRecord1(openat, bpfgen.Options{ClassID: 3}, "")},
		{"cpu_record_openat_filter", cpuRecord1(openat, bpfgen.Options{ClassID: 3}, `comm == "bash" && dfd < 0 || filename == "/etc/*"`)},
		{"cpu_record_exec_stacks", cpuRecord1(tp("sched:sched_process_exec", resolve.Options{Stack: "both", StringSize: 64}), bpfgen.Options{ClassID: 1}, "")},
		{"cpu_record_follow", cpuRecord1(exitOpenat, bpfgen.Options{Follow: true}, "")},
		{"cpu_uprobe_str_guard", cpuRecord1(fixed(uprobeStr), bpfgen.Options{Guard: true}, "")},
		{"cpu_usdt_filter_guard", cpuRecord1(fixed(usdtArgs), bpfgen.Options{Guard: true}, "arg0 == 42")},
		{"cpu_profile_stacks", cpuRecord1(tp("profile:hz:99", resolve.Options{Stack: "both"}), bpfgen.Options{}, "")},
		{"cpu_dispatch_enter_filter_follow", func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
			f := parseFilter(t, `comm != "sshd" && tid > 1`, &event.Schema{})
			return bpfgen.Dispatcher(true, e.cpu, e.table, stringSize, maxRecord, bpfgen.Options{Filter: f, Follow: true})
		}},
		{"cpu_dispatch_exit_guard", func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
			return bpfgen.Dispatcher(false, e.cpu, e.table, stringSize, maxRecord, bpfgen.Options{Guard: true})
		}},
		{"fork_follower", func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
			f, err := fixtures.Format("sched", "sched_process_fork")
			if err != nil {
				return nil, err
			}
			child, ok := f.Field("child_pid")
			if !ok {
				return nil, errors.New("sched_process_fork has no child_pid")
			}
			return bpfgen.ForkFollower(e.maps.Pids, child.Offset), nil
		}},
		{"exec_promoter", func(t testing.TB, e *env) (*ebpf.ProgramSpec, error) {
			return bpfgen.ExecPromoter(e.pending, e.maps.Pids), nil
		}},
	}
}

func TestBPFListingsGolden(t *testing.T) {
	e := newEnv(t)
	for _, c := range genCases() {
		t.Run(c.name, func(t *testing.T) {
			spec, err := c.build(t, e)
			if err != nil {
				t.Fatal(err)
			}
			got := e.listing(spec)
			golden.Check(t, filepath.Join("testdata", c.name+".golden"), []byte(got))
		})
	}
}

// TestBPFVerifierAccepts loads every generated program: the kernel's
// verifier must accept what the generator emits.
func TestBPFVerifierAccepts(t *testing.T) {
	e := newEnv(t)
	for _, c := range genCases() {
		t.Run(c.name, func(t *testing.T) {
			spec, err := c.build(t, e)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := ebpf.NewProgram(spec)
			if err != nil {
				t.Fatalf("load %s: %+v", spec.Name, err)
			}
			prog.Close()
		})
	}
}
