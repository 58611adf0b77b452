// Package bpfgen builds, at run time and without a compiler, the BPF
// programs that record events: for one resolved probe it emits instructions
// that fill a record (header, then each field from the probe context, at
// the offsets of its [record.Layout]), run the in-kernel filter over it,
// and copy it into the ring buffer, counting per CPU the records the ring
// had no room for; or, for aggregations, update maps instead.
//
// Errors are returned when a schema or filter cannot be expressed; the
// kernel verifier's own errors come from loading the returned spec.
package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// Maps are the maps the generated programs use; they are shared by every
// program of a session.
type Maps struct {
	Events  *ebpf.Map // BPF_MAP_TYPE_RINGBUF
	Scratch *ebpf.Map // per-CPU array, one value of MaxRecord bytes: where a record is built
	Lost    *ebpf.Map // per-CPU array of one u64: records the ring had no room for
	Pids    *ebpf.Map // hash u32 tgid -> u8; the processes to record when Options.Follow is set
	Control *ebpf.Map // array of one u32: programs record only while it is non-zero
	Globals *ebpf.Map // scripts: array of one value, u64s: start time (ns), CPU count, the command's pid

	// CPURing, when set, is where recording programs write instead of
	// Events and Lost: an mmapable array of one ring per CPU, each of
	// CPURingSize data bytes (a power of two) for records of at most
	// MaxRecord bytes (see CPURingValueSize).
	CPURing     *ebpf.Map
	CPURingSize int
	MaxRecord   int
}

// Options configure one program.
type Options struct {
	ClassID uint32
	// PID, when not 0, records only that process (tgid).
	PID uint32
	// Follow records only the processes in Maps.Pids (a command and its
	// descendants).
	Follow bool
	Filter *filter.Expr
	// Wakeup makes the ring buffer wake the reader for each record; by
	// default records are submitted without a wake-up and the reader polls.
	Wakeup bool
	// Guard makes a program writing to a per-CPU ring take the ring first
	// (a session whose programs may nest on a CPU: uprobes).
	Guard bool
	// TaskComm, when not 0, is the offset of comm in the kernel's struct
	// task_struct (resolve.TaskComm): the header's comm is then two loads
	// from bpf_get_current_task_btf() rather than bpf_get_current_comm,
	// a helper call and a string copy that cost about 35 ns per event.
	TaskComm int
}

// Registers with a fixed role in the generated code.
const (
	rCtx    = asm.R6 // probe context
	rPidTgd = asm.R7 // bpf_get_current_pid_tgid()
	rRec    = asm.R8 // the record being built (scratch map value)
	rTmp    = asm.R9
)

const (
	labelExit = "exit"
	// Stack: fp-8 holds map keys.
	stackKey = -8
)

// Program returns the spec of the program recording probe p into records
// laid out by l, which must fit in a scratch value of maxRecord bytes.
func Program(p *resolve.Probe, l record.Layout, m Maps, maxRecord int, o Options) (*ebpf.ProgramSpec, error) {
	s := p.Event
	size := l.Size
	if size > maxRecord {
		return nil, fmt.Errorf("bpfgen: record of %d bytes exceeds the %d-byte scratch", size, maxRecord)
	}
	g := &gen{taskComm: o.TaskComm}
	g.emit(asm.Mov.Reg(rCtx, asm.R1))
	if m.CPURing != nil {
		return g.cpuProgram(p, l, m, o)
	}
	if err := g.prologue(m, o); err != nil {
		return nil, err
	}
	// Without a filter every record is kept: build it in place in the ring
	// (no scratch lookup, no copy). With one, build it in the scratch value
	// and copy it only when it passes, so that a record filtered out never
	// counts as lost when the ring is full.
	direct := o.Filter == nil
	if direct {
		g.reserve(m, size)
	} else if err := g.scratch(m); err != nil {
		return nil, err
	}
	g.emit(asm.StoreImm(rRec, record.OffClass, int64(o.ClassID), asm.Word))
	g.header()
	if err := g.fields(p, l, nil); err != nil {
		return nil, err
	}
	if direct {
		g.submit(o)
	} else {
		if err := g.filter(o.Filter, s, l); err != nil {
			return nil, fmt.Errorf("bpfgen: %s: %w", s.Name, err)
		}
		g.emit(asm.Mov.Imm(asm.R3, int32(size)))
		g.output(m, o, asm.R3)
	}
	return g.spec(p), nil
}

// fields emits the code that fills the fields of p at their offsets in l;
// when need is not nil, only the fields it names.
func (g *gen) fields(p *resolve.Probe, l record.Layout, need map[string]bool) error {
	s := p.Event
	for i := range s.Fields {
		if need != nil && !need[s.Fields[i].Name] {
			continue
		}
		if err := g.field(&s.Fields[i], p.Reads[i], l.Off[i]); err != nil {
			return fmt.Errorf("bpfgen: %s: field %s: %w", s.Name, s.Fields[i].Name, err)
		}
	}
	return nil
}

// ProgramType is the type of the programs of an attach target.
func ProgramType(t resolve.Target) ebpf.ProgramType {
	switch {
	case t.TakesRegs():
		return ebpf.Kprobe
	case t.Kind == resolve.TargetPerfEvent:
		return ebpf.PerfEvent
	}
	return ebpf.TracePoint
}

// spec wraps the generated instructions of p's program.
func (g *gen) spec(p *resolve.Probe) *ebpf.ProgramSpec {
	return &ebpf.ProgramSpec{
		Name:         progName(p.Event.Name),
		Type:         ProgramType(p.Target),
		License:      "GPL",
		Instructions: g.insns,
	}
}

// progName makes a kernel program name (at most 15 characters of
// [A-Za-z0-9_]) from an event name.
func progName(name string) string {
	b := []byte{}
	for i := len(name) - 1; i >= 0 && len(b) < 15; i-- {
		c := name[i]
		if c == ':' {
			break
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			c = '_'
		}
		b = append([]byte{c}, b...)
	}
	return string(b)
}

// prologue emits the checks every recording program starts with: the
// session's control switch, then the process target. It leaves the result
// of bpf_get_current_pid_tgid in rPidTgd.
func (g *gen) prologue(m Maps, o Options) error {
	if m.Control != nil {
		// Start and stop all programs of a session at once.
		g.emit(
			asm.LoadMapValue(asm.R1, m.Control.FD(), 0),
			asm.LoadMem(asm.R1, asm.R1, 0, asm.Word),
			asm.JEq.Imm(asm.R1, 0, labelExit),
		)
	}
	g.emit(asm.FnGetCurrentPidTgid.Call(), asm.Mov.Reg(rPidTgd, asm.R0))
	switch {
	case o.PID != 0:
		g.emit(
			asm.Mov.Reg(asm.R1, rPidTgd),
			asm.RSh.Imm(asm.R1, 32),
			asm.JNE.Imm(asm.R1, int32(o.PID), labelExit),
		)
	case o.Follow:
		if m.Pids == nil {
			return fmt.Errorf("bpfgen: no pid map")
		}
		g.emit(
			asm.Mov.Reg(asm.R1, rPidTgd),
			asm.RSh.Imm(asm.R1, 32),
		)
		g.emit(lookupKey(asm.R1, m.Pids, labelExit)...)
	}
	return nil
}

// scratch points rRec at this CPU's scratch record.
func (g *gen) scratch(m Maps) error {
	if m.Scratch == nil {
		return fmt.Errorf("bpfgen: no scratch map")
	}
	g.emit(
		asm.Mov.Imm(asm.R1, 0),
	)
	g.emit(lookupKey(asm.R1, m.Scratch, labelExit)...)
	g.emit(asm.Mov.Reg(rRec, asm.R0))
	return nil
}

// headerOnly fills the parts of the header that are asked for, and always
// the pid and tid (already in a register).
func (g *gen) headerOnly(time, cpu, comm bool) {
	if time {
		g.emit(asm.FnKtimeGetNs.Call(), asm.StoreMem(rRec, record.OffTime, asm.R0, asm.DWord))
	}
	if cpu {
		g.emit(asm.FnGetSmpProcessorId.Call(), asm.StoreMem(rRec, record.OffCPU, asm.R0, asm.Word))
	}
	g.emit(
		asm.StoreMem(rRec, record.OffTID, rPidTgd, asm.Word),
		asm.Mov.Reg(asm.R1, rPidTgd),
		asm.RSh.Imm(asm.R1, 32),
		asm.StoreMem(rRec, record.OffPID, asm.R1, asm.Word),
	)
	if comm {
		g.comm()
	}
}

// comm writes the current thread's name into the record's header.
func (g *gen) comm() { g.commAt(record.OffComm) }

// commAt writes the current thread's name, 16 bytes padded with NULs, at
// rRec+off.
func (g *gen) commAt(off int) {
	if g.taskComm == 0 {
		g.emit(
			asm.Mov.Reg(asm.R1, rRec),
			asm.Add.Imm(asm.R1, int32(off)),
			asm.Mov.Imm(asm.R2, record.CommSize),
			asm.FnGetCurrentComm.Call(),
		)
		return
	}
	// task->comm always ends in a NUL (the kernel writes it with
	// strscpy_pad), so the 16 bytes copied as they are hold the name.
	g.emit(asm.FnGetCurrentTaskBtf.Call())
	for i := 0; i < record.CommSize; i += 8 {
		g.emit(
			asm.LoadMem(asm.R1, asm.R0, int16(g.taskComm+i), asm.DWord),
			asm.StoreMem(rRec, int16(off+i), asm.R1, asm.DWord),
		)
	}
}

// header fills the record header but its class id.
func (g *gen) header() {
	g.emit(
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(rRec, record.OffTime, asm.R0, asm.DWord),
		asm.FnGetSmpProcessorId.Call(),
		asm.StoreMem(rRec, record.OffCPU, asm.R0, asm.Word),
		asm.StoreMem(rRec, record.OffTID, rPidTgd, asm.Word),
		asm.Mov.Reg(asm.R1, rPidTgd),
		asm.RSh.Imm(asm.R1, 32),
		asm.StoreMem(rRec, record.OffPID, asm.R1, asm.Word),
	)
	g.comm()
}

// output copies the record (its size in sizeReg) into the ring, counts a
// failure in the loss counter, and ends the program.
func (g *gen) output(m Maps, o Options, sizeReg asm.Register) {
	flags := int32(1) // BPF_RB_NO_WAKEUP
	if o.Wakeup {
		flags = 0
	}
	if sizeReg != asm.R3 {
		g.emit(asm.Mov.Reg(asm.R3, sizeReg))
	}
	g.emit(
		asm.LoadMapPtr(asm.R1, m.Events.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Mov.Imm(asm.R4, flags),
		asm.FnRingbufOutput.Call(),
		asm.JEq.Imm(asm.R0, 0, labelExit),
	)
	g.countLost(m)
	g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit), asm.Return())
}

// reserve points rRec at a record of size bytes reserved in the ring; when
// the ring is full it counts the loss and exits.
func (g *gen) reserve(m Maps, size int) {
	ok := g.label("rsv")
	g.emit(
		asm.LoadMapPtr(asm.R1, m.Events.FD()),
		asm.Mov.Imm(asm.R2, int32(size)),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JNE.Imm(asm.R0, 0, ok),
	)
	g.countLost(m)
	g.emit(
		asm.Ja.Label(labelExit),
		asm.Mov.Reg(rRec, asm.R0).WithSymbol(ok),
	)
}

// countLost emits lost[0]++ (this CPU's count of records the ring had no
// room for).
func (g *gen) countLost(m Maps) {
	g.emit(
		asm.Mov.Imm(asm.R1, 0),
	)
	g.emit(lookupKey(asm.R1, m.Lost, labelExit)...)
	g.emit(
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	)
}

// submit commits the reserved record in rRec and ends the program.
func (g *gen) submit(o Options) {
	flags := int32(1) // BPF_RB_NO_WAKEUP
	if o.Wakeup {
		flags = 0
	}
	g.emit(
		asm.Mov.Reg(asm.R1, rRec),
		asm.Mov.Imm(asm.R2, flags),
		asm.FnRingbufSubmit.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit),
		asm.Return(),
	)
}

// lookupKey emits r0 = lookup(m, key) for the u32 key in src, stored at
// stackKey; with onNull set, a jump there when there is no such element.
func lookupKey(src asm.Register, m *ebpf.Map, onNull string) asm.Instructions {
	in := asm.Instructions{
		asm.StoreMem(asm.RFP, stackKey, src, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackKey),
		asm.FnMapLookupElem.Call(),
	}
	if onNull != "" {
		in = append(in, asm.JEq.Imm(asm.R0, 0, onNull))
	}
	return in
}

type gen struct {
	insns    asm.Instructions
	labels   int
	reject   string // where to go to keep no record: labelExit when empty
	taskComm int    // Options.TaskComm
}

func (g *gen) emit(ins ...asm.Instruction) { g.insns = append(g.insns, ins...) }

func (g *gen) label(prefix string) string {
	g.labels++
	return fmt.Sprintf("%s_%d", prefix, g.labels)
}

// field emits the code that fills one field of the record, at off, as r
// says.
func (g *gen) field(f *event.Field, r resolve.Read, off int) error {
	switch r.Src {
	case resolve.FromContext:
		return g.copyContext(f, r, off)
	case resolve.FromDataLoc:
		return g.dataLoc(f, r, off)
	case resolve.FromUserStack, resolve.FromKernelStack:
		g.stack(r.Src == resolve.FromUserStack, off)
		return nil
	case resolve.FromConst:
		g.emit(asm.LoadImm(asm.R1, r.Const, asm.DWord))
		return g.storeN(asm.R1, off, f.Size)
	case resolve.FromUserDeref:
		g.emit(
			asm.LoadMem(asm.R3, rCtx, int16(r.Offset), asm.DWord),
			asm.LoadImm(asm.R1, r.Disp, asm.DWord),
			asm.Add.Reg(asm.R3, asm.R1),
		)
		g.read(asm.FnProbeReadUser, off, f.Size)
		return nil
	case resolve.FromTask:
		return g.task(f, r, off)
	case resolve.FromUserPtr, resolve.FromKernelPtr:
		fn := asm.FnProbeReadUserStr
		if r.Src == resolve.FromKernelPtr {
			fn = asm.FnProbeReadKernelStr
		}
		// Clear the first byte so that a failed read records "".
		g.emit(
			asm.StoreImm(rRec, int16(off), 0, asm.Byte),
			asm.LoadMem(asm.R3, rCtx, int16(r.Offset), asm.DWord),
		)
		g.read(fn, off, f.Size)
		return nil
	}
	return fmt.Errorf("unsupported source %d", r.Src)
}

// read emits fn(rec+off, size, R3): a probe-read helper copying from the
// address in R3.
func (g *gen) read(fn asm.BuiltinFunc, off, size int) {
	g.emit(
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, int32(off)),
		asm.Mov.Imm(asm.R2, int32(size)),
		fn.Call(),
	)
}

// dataLoc copies the data a __data_loc u32 points to: a string, or bytes
// after a u16 length.
func (g *gen) dataLoc(f *event.Field, r resolve.Read, off int) error {
	// loc = *(u32 *)(ctx + off): data at ctx + (loc & 0xffff), length loc >> 16.
	g.emit(
		asm.LoadMem(asm.R3, rCtx, int16(r.Offset), asm.Word),
		asm.Mov.Reg(rTmp, asm.R3),
		asm.RSh.Imm(rTmp, 16),
		asm.And.Imm(asm.R3, 0xffff),
		asm.Add.Reg(asm.R3, rCtx),
	)
	if f.Kind == event.String {
		g.read(asm.FnProbeReadKernelStr, off, f.Size)
		return nil
	}
	if f.Kind != event.Bytes || f.Size < 3 {
		return fmt.Errorf("a __data_loc field must be a string or bytes")
	}
	// Bytes: u16 length, then up to Size-2 bytes.
	max := int32(f.Size - 2)
	skip := g.label("dl")
	g.emit(
		asm.JLE.Imm(rTmp, max, skip),
		asm.Mov.Imm(rTmp, max),
		asm.Mov.Reg(rTmp, rTmp).WithSymbol(skip),
		asm.StoreMem(rRec, int16(off), rTmp, asm.Half),
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, int32(off+2)),
		asm.Mov.Reg(asm.R2, rTmp),
		asm.FnProbeReadKernel.Call(),
	)
	return nil
}

// stack fills a stack slot at off: bpf_get_stack's byte count (or error),
// then the addresses.
func (g *gen) stack(user bool, off int) {
	flags := int32(0)
	if user {
		flags = 1 << 8 // BPF_F_USER_STACK
	}
	g.emit(
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(off+8)),
		asm.Mov.Imm(asm.R3, event.StackFrames*8),
		asm.Mov.Imm(asm.R4, flags),
		asm.FnGetStack.Call(),
		asm.StoreMem(rRec, int16(off), asm.R0, asm.DWord),
	)
}

// task reads kernel memory reached from the current task through the
// pointer chain of r.TaskPath.
func (g *gen) task(f *event.Field, r resolve.Read, off int) error {
	if len(r.TaskPath) == 0 {
		return fmt.Errorf("empty task path")
	}
	g.emit(asm.FnGetCurrentTask.Call(), asm.Mov.Reg(asm.R3, asm.R0))
	for _, o := range r.TaskPath[:len(r.TaskPath)-1] {
		g.emit(
			asm.Add.Imm(asm.R3, int32(o)),
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, -32),
			asm.Mov.Imm(asm.R2, 8),
			asm.FnProbeReadKernel.Call(),
			asm.LoadMem(asm.R3, asm.RFP, -32, asm.DWord),
		)
	}
	g.emit(asm.Add.Imm(asm.R3, int32(r.TaskPath[len(r.TaskPath)-1])))
	g.read(asm.FnProbeReadKernel, off, f.Size)
	return nil
}

// copyContext copies the field's bytes at r.Offset of the context into the
// record at dst with aligned loads (the verifier requires context loads to
// be aligned).
func (g *gen) copyContext(f *event.Field, r resolve.Read, dst int) error {
	src, n := r.Offset, f.Size
	if f.Kind == event.Int && (r.Size > f.Size || r.Shift > 0) {
		// A syscall argument stored as a long, or a register: keep the low
		// bytes (little endian), loaded as one aligned word when possible.
		if src%8 == 0 && r.Size == 8 {
			g.emit(asm.LoadMem(asm.R1, rCtx, int16(src), asm.DWord))
			if r.Shift > 0 {
				g.emit(asm.RSh.Imm(asm.R1, int32(r.Shift)))
			}
			return g.storeN(asm.R1, dst, n)
		}
	}
	for n > 0 {
		w := 8
		for w > 1 && (src%w != 0 || n < w) {
			w /= 2
		}
		sz := sizeOf(w)
		g.emit(
			asm.LoadMem(asm.R1, rCtx, int16(src), sz),
			asm.StoreMem(rRec, int16(dst), asm.R1, sz),
		)
		src, dst, n = src+w, dst+w, n-w
	}
	return nil
}

// storeN stores the low n bytes of r at rec+dst.
func (g *gen) storeN(r asm.Register, dst, n int) error {
	switch n {
	case 1, 2, 4, 8:
		g.emit(asm.StoreMem(rRec, int16(dst), r, sizeOf(n)))
		return nil
	}
	return fmt.Errorf("cannot store %d bytes", n)
}

func sizeOf(n int) asm.Size {
	switch n {
	case 1:
		return asm.Byte
	case 2:
		return asm.Half
	case 4:
		return asm.Word
	}
	return asm.DWord
}
