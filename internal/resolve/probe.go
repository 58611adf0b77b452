// Package resolve turns probe specs into probes: for each, the logical
// event (an [event.Schema]), how a BPF program reads each of its fields
// ([Read]) and where the program attaches ([Target]). Tracepoint fields
// come from their tracefs format files, with the C types of syscall
// arguments restored and user-space strings read behind `const char *`;
// uprobe, kprobe and USDT arguments from the probe context's registers;
// task fields from the kernel's BTF.
//
// A resolved probe is never modified; [Probe.With] makes a new one.
package resolve

import (
	"errors"
	"fmt"
	"os"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// Source says where a BPF program finds a field's value.
type Source uint8

// Field sources.
const (
	FromContext     Source = iota + 1 // bytes at Offset in the probe context (tracepoint record, pt_regs)
	FromDataLoc                       // a __data_loc u32 at Offset: offset (low 16 bits) and length (high 16)
	FromUserPtr                       // a pointer at Offset into user memory: the string it points to
	FromKernelPtr                     // a pointer at Offset into kernel memory: the string it points to
	FromTask                          // kernel memory reached from the current task by TaskPath
	FromConst                         // the constant Const
	FromUserDeref                     // user memory at (register at Offset) + Disp
	FromUserStack                     // the user stack (bpf_get_stack with BPF_F_USER_STACK)
	FromKernelStack                   // the kernel stack
)

// Read says how a program reads one field.
type Read struct {
	Src    Source
	Offset int // in the context
	Size   int // bytes at Offset (more than the field's for syscall arguments stored as longs)
	// TaskPath (FromTask) is a chain of byte offsets from the current
	// task_struct: every offset but the last is a pointer to follow; the
	// field's bytes are read at the last (e.g. real_parent, then tgid).
	TaskPath []int
	Const    int64 // FromConst
	Disp     int64 // FromUserDeref: added to the register
	// Shift is a right shift applied to a register before its low bytes
	// are kept (USDT arguments in %ah and friends).
	Shift int
}

// TargetKind is what a program attaches to.
type TargetKind uint8

// Attach target kinds.
const (
	TargetTracepoint TargetKind = iota + 1
	TargetUprobe
	TargetUretprobe
	TargetUSDT
	TargetKprobe
	TargetKretprobe
	TargetPerfEvent // a sampling software event (the CPU clock) on every CPU
)

func (k TargetKind) String() string {
	switch k {
	case TargetTracepoint:
		return "tracepoint"
	case TargetUprobe:
		return "uprobe"
	case TargetUretprobe:
		return "uretprobe"
	case TargetUSDT:
		return "usdt"
	case TargetKprobe:
		return "kprobe"
	case TargetKretprobe:
		return "kretprobe"
	case TargetPerfEvent:
		return "perf event"
	}
	return fmt.Sprintf("TargetKind(%d)", uint8(k))
}

// Target is where a probe's program attaches.
type Target struct {
	Kind TargetKind
	// Tracepoint.
	Category, Event string
	// Uprobes and USDT: the binary, and a symbol plus offset or file
	// offsets (every location of a USDT probe).
	Path      string
	Symbol    string // uprobes and kprobes; "" with Addresses
	Offset    uint64 // from Symbol
	Addresses []uint64
	RefCtr    uint64 // USDT semaphore, as a file offset (0: none)
	// PerfEvent: samples per second (Frequency) or ns between samples
	// (Period) on each CPU.
	Frequency uint64
	Period    uint64
	// Perf selects the perf event (nil: the software CPU clock); OneCPU
	// opens it on one CPU only (intervals).
	Perf   *PerfEvent
	OneCPU bool
}

// PerfEvent is a perf event type and its config (perf_event_attr's type
// and config).
type PerfEvent struct {
	Type   uint32
	Config uint64
}

// TakesRegs reports whether the target's programs get pt_regs rather
// than a tracepoint record or perf event data.
func (t Target) TakesRegs() bool {
	switch t.Kind {
	case TargetUprobe, TargetUretprobe, TargetUSDT, TargetKprobe, TargetKretprobe:
		return true
	}
	return false
}

// Probe is a resolved probe.
type Probe struct {
	Event  *event.Schema
	Reads  []Read // Reads[i] reads Event.Fields[i]
	Target Target
}

// With returns a new probe with the fields of p followed by more, read by
// reads.
func (p *Probe) With(more []event.Field, reads []Read) *Probe {
	return &Probe{
		Event:  p.Event.With(more...),
		Reads:  append(append(make([]Read, 0, len(p.Reads)+len(reads)), p.Reads...), reads...),
		Target: p.Target,
	}
}

// Options tune how specs are resolved.
type Options struct {
	// StringSize is the slot, in bytes, for strings copied from memory
	// (user strings, __data_loc strings); longer ones are cut. Default 256.
	StringSize int
	// Fields selects what uprobes and kprobes record; empty means every
	// argument at entry and the return value at return.
	Fields []FieldSpec
	// PID is the process whose mappings locate bare library names.
	PID int
	// Stack adds the stack to every event: "user", "kernel" or "both".
	Stack string
	// TaskFields are added to every event.
	TaskFields []TaskFieldSpec
}

// TaskFieldSpec names a value read from the current task: name and the
// member path from task_struct (e.g. "ppid", "real_parent.tgid").
type TaskFieldSpec struct{ Name, Path string }

// DefaultStringSize is the default slot for copied strings.
const DefaultStringSize = 256

func (o Options) stringSize() int {
	if o.StringSize > 0 {
		return o.StringSize
	}
	return DefaultStringSize
}

// ParseSpecs parses and expands probe specs.
func ParseSpecs(specs []string) ([]probe.Spec, error) {
	var out []probe.Spec
	for _, raw := range specs {
		sp, err := probe.Parse(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, sp.Expand()...)
	}
	return out, nil
}

// ErrNoProbe is returned for an empty list of specs.
var ErrNoProbe = errors.New("no probe given (use -e SPEC, e.g. -e syscalls:sys_enter_openat)")

// Specs parses and resolves probe specs, in the order given (tracepoints
// first), adding the stack and task fields o asks for to every probe. It
// needs tracefs for tracepoints (opened with openFS when there is one) but
// no BPF.
func Specs(openFS func() (tracefs.FS, error), specs []string, o Options) ([]*Probe, error) {
	parsed, err := ParseSpecs(specs)
	if err != nil {
		return nil, err
	}
	if len(parsed) == 0 {
		return nil, ErrNoProbe
	}
	var tps, others []probe.Spec
	for _, sp := range parsed {
		switch sp.Kind {
		case probe.Tracepoint:
			tps = append(tps, sp)
		case probe.Uprobe, probe.Uretprobe, probe.USDT, probe.Kprobe, probe.Kretprobe, probe.Profile:
			others = append(others, sp)
		default:
			return nil, fmt.Errorf("%s: %s probes cannot be recorded yet; use tracepoints (bpftrail list)", sp.Raw, sp.Kind)
		}
	}
	var out []*Probe
	if len(tps) > 0 {
		fsys, err := openFS()
		if err != nil {
			return nil, err
		}
		if out, err = Tracepoints(fsys, tps, o); err != nil {
			return nil, err
		}
	}
	for _, sp := range others {
		p, err := one(sp, o)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return extras(out, o)
}

// one resolves a spec that is not a tracepoint.
func one(sp probe.Spec, o Options) (*Probe, error) {
	switch sp.Kind {
	case probe.USDT:
		return USDT(sp, o.PID)
	case probe.Kprobe, probe.Kretprobe:
		if err := kprobeSupport(sp); err != nil {
			return nil, err
		}
		return Kprobe(sp, o.Fields, o)
	case probe.Profile:
		return Profile(sp)
	}
	return Uprobe(sp, o.Fields, o.PID, o)
}

// extras adds the stack and task fields of o to every probe.
func extras(ps []*Probe, o Options) ([]*Probe, error) {
	var more []event.Field
	var reads []Read
	switch o.Stack {
	case "":
	case "user", "kernel", "both":
		if o.Stack != "kernel" {
			more, reads = append(more, event.StackField(true)), append(reads, Read{Src: FromUserStack})
		}
		if o.Stack != "user" {
			more, reads = append(more, event.StackField(false)), append(reads, Read{Src: FromKernelStack})
		}
	default:
		return nil, fmt.Errorf("--stack %q: want user, kernel or both", o.Stack)
	}
	for _, tf := range o.TaskFields {
		f, r, err := TaskField(tf.Name, tf.Path)
		if err != nil {
			return nil, err
		}
		more, reads = append(more, f), append(reads, r)
	}
	if len(more) == 0 {
		return ps, nil
	}
	out := make([]*Probe, len(ps))
	for i, p := range ps {
		out[i] = p.With(more, reads)
	}
	return out, nil
}

// Profile resolves a profile:UNIT:N spec: a perf event sampling the CPU
// clock on every CPU, with no field of its own (stacks are added with
// Options.Stack).
func Profile(sp probe.Spec) (*Probe, error) {
	t := Target{Kind: TargetPerfEvent}
	unitNs := map[string]uint64{"s": 1e9, "ms": 1e6, "us": 1e3}
	switch sp.Unit {
	case "hz", "":
		if sp.Rate == 0 || sp.Rate > 10000 {
			return nil, fmt.Errorf("%s: the sampling frequency must be between 1 and 10000 Hz", sp.Raw)
		}
		t.Frequency = sp.Rate
	case "s", "ms", "us":
		// Checked before multiplying, which could wrap around.
		const maxPeriod = 3600 * 1e9
		if sp.Rate > maxPeriod/unitNs[sp.Unit] || sp.Rate*unitNs[sp.Unit] < 100_000 {
			return nil, fmt.Errorf("%s: the sampling period must be between 100us and 1h", sp.Raw)
		}
		t.Period = sp.Rate * unitNs[sp.Unit]
	default:
		return nil, fmt.Errorf("%s: unknown unit %q (hz, s, ms, us)", sp.Raw, sp.Unit)
	}
	unit := sp.Unit
	if unit == "" {
		unit = "hz"
	}
	return &Probe{Event: &event.Schema{Name: fmt.Sprintf("profile:%s:%d", unit, sp.Rate)}, Target: t}, nil
}

// ErrNoKprobes is returned for kprobe specs on a kernel without kprobes.
var ErrNoKprobes = errors.New("this kernel has no kprobe support")

// kprobeSupport reports, as an error naming the alternatives, a kernel that
// cannot attach kprobes: neither the kprobe PMU nor tracefs's
// kprobe_events exists (cilium/ebpf would only report the missing file).
func kprobeSupport(sp probe.Spec) error {
	_, errPMU := os.Stat("/sys/bus/event_source/devices/kprobe/type")
	root, _ := tracefs.Root()
	_, errTFS := os.Stat(root + "/kprobe_events")
	if errPMU != nil && errTFS != nil {
		return fmt.Errorf("%s: %w (no kprobe PMU and no %s/kprobe_events: CONFIG_KPROBES is off); use tracepoints instead, e.g. syscalls:sys_enter_* or sched:* (bpftrail list)", sp.Raw, ErrNoKprobes, root)
	}
	return nil
}
