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

// Syscall dispatch: many syscalls recorded through raw_syscalls:sys_enter
// and sys_exit instead of one tracepoint each. Attaching (and detaching) a
// tracepoint costs tens of milliseconds; with every syscall selected that
// is a minute, against two attachments here.
//
// A table (an array map indexed by syscall number) says which event class
// each syscall is and which of its arguments are user strings. Records
// share one layout:
//
//	header (record.HeaderSize) | id u64 | args u64[6] (enter) or ret u64 (exit) | string slots
const (
	DispatchOffID    = record.HeaderSize
	DispatchOffArgs  = record.HeaderSize + 8
	DispatchFixed    = record.HeaderSize + 8 + 48 // where string slots start
	DispatchMaxSlots = 3
	// DispatchEntrySize is the size of a table value: u32 class+1, u8 slots, u8 args[3].
	DispatchEntrySize = 8
	// DispatchTableSize is the number of syscall numbers a table holds.
	DispatchTableSize = 1024
)

// DispatchLayout returns where the dispatcher's records put the fields of
// a syscalls:sys_enter_*/sys_exit_* probe, and its table entry (without
// the class). It reports false when a field cannot be dispatched.
func DispatchLayout(p *resolve.Probe, enter bool, stringSize int) (record.Layout, DispatchEntry, bool) {
	var e DispatchEntry
	l := record.Layout{Off: make([]int, len(p.Event.Fields)), Size: record.HeaderSize}
	for i, f := range p.Event.Fields {
		r := p.Reads[i]
		argAt := r.Offset >= 16 && (r.Offset-16)%8 == 0
		switch {
		case f.Name == "__syscall_nr" && f.Kind == event.Int && f.Size <= 8:
			l.Off[i] = DispatchOffID
		case r.Src == resolve.FromContext && f.Kind == event.Int && argAt && f.Size <= 8:
			arg := (r.Offset - 16) / 8
			if enter && arg > 5 || !enter && arg > 0 {
				return l, e, false
			}
			l.Off[i] = DispatchOffArgs + 8*arg
		case enter && r.Src == resolve.FromUserPtr && argAt && f.Size == stringSize:
			if e.Slots >= DispatchMaxSlots {
				return l, e, false
			}
			e.Args[e.Slots] = uint8((r.Offset - 16) / 8)
			l.Off[i] = DispatchFixed + int(e.Slots)*stringSize
			e.Slots++
		default:
			return l, e, false
		}
		l.Size = max(l.Size, l.Off[i]+f.Size)
	}
	return l, e, true
}

// DispatchEntry is the table value for one syscall.
type DispatchEntry struct {
	ClassPlus1 uint32   // event class id + 1; 0 means not recorded
	Slots      uint8    // number of user-string arguments (≤ DispatchMaxSlots)
	Args       [3]uint8 // which argument fills each slot
}

// Marshal encodes the entry as the table stores it.
func (e DispatchEntry) Marshal() []byte {
	b := make([]byte, DispatchEntrySize)
	b[0], b[1], b[2], b[3] = byte(e.ClassPlus1), byte(e.ClassPlus1>>8), byte(e.ClassPlus1>>16), byte(e.ClassPlus1>>24)
	b[4] = e.Slots
	copy(b[5:], e.Args[:])
	return b
}

// DispatchRecordSize is the largest record of a dispatcher with string
// slots of stringSize bytes.
func DispatchRecordSize(stringSize int) int { return DispatchFixed + DispatchMaxSlots*stringSize }

// Dispatcher returns the program for raw_syscalls:sys_enter (enter) or
// sys_exit that records the syscalls its table selects. The filter, if any,
// may use only the builtins (pid, tid, comm, cpu).
func Dispatcher(enter bool, m Maps, table *ebpf.Map, stringSize, maxRecord int, o Options) (*ebpf.ProgramSpec, error) {
	if DispatchRecordSize(stringSize) > maxRecord {
		return nil, fmt.Errorf("bpfgen: dispatcher record exceeds the scratch")
	}
	g := &gen{taskComm: o.TaskComm}
	g.emit(asm.Mov.Reg(rCtx, asm.R1))
	perCPU := m.CPURing != nil
	if perCPU {
		if err := g.cpuPrologue(m, o); err != nil {
			return nil, err
		}
	} else if err := g.prologue(m, o); err != nil {
		return nil, err
	}
	// r9 = table[id], or exit.
	g.emit(
		asm.LoadMem(asm.R1, rCtx, 8, asm.DWord),
		asm.JGT.Imm(asm.R1, DispatchTableSize-1, labelExit),
	)
	g.emit(lookupKey(asm.R1, table, labelExit)...)
	g.emit(
		asm.Mov.Reg(rTmp, asm.R0),
		asm.LoadMem(asm.R1, rTmp, 0, asm.Word),
		asm.JEq.Imm(asm.R1, 0, labelExit),
	)
	if perCPU {
		g.claim(m, o, DispatchRecordSize(stringSize), o.Filter != nil)
	} else if err := g.scratch(m); err != nil {
		return nil, err
	}
	// Header, with the class from the table.
	g.emit(
		asm.LoadMem(asm.R1, rTmp, 0, asm.Word),
		asm.Add.Imm(asm.R1, -1),
		asm.StoreMem(rRec, record.OffClass, asm.R1, asm.Word),
	)
	g.header()
	// id and arguments (or ret): the raw tracepoint record has id at 8 and
	// args (or ret) from 16 on.
	n := 7
	if !enter {
		n = 2
	}
	for i := 0; i < n; i++ {
		g.emit(
			asm.LoadMem(asm.R1, rCtx, int16(8+8*i), asm.DWord),
			asm.StoreMem(rRec, int16(DispatchOffID+8*i), asm.R1, asm.DWord),
		)
	}
	if o.Filter != nil {
		if err := g.filter(o.Filter, &event.Schema{}, record.Layout{}); err != nil {
			return nil, fmt.Errorf("bpfgen: syscall dispatcher: %w", err)
		}
	}
	if enter {
		g.dispatchStrings(stringSize)
	} else {
		g.emit(asm.Mov.Imm(asm.R3, DispatchOffArgs+8))
	}
	if perCPU {
		g.commit(o, 0, asm.R3, o.Filter != nil)
	} else {
		g.output(m, o, asm.R3)
	}
	return &ebpf.ProgramSpec{
		Name:         map[bool]string{true: "bt_sys_enter", false: "bt_sys_exit"}[enter],
		Type:         ebpf.TracePoint,
		License:      "GPL",
		Instructions: g.insns,
	}, nil
}

// BuiltinsOnly reports whether a filter on schema s names only builtins
// (that no field of s replaces): the filters a dispatcher, which has only
// the header to test, can run.
func BuiltinsOnly(e *filter.Expr, s *event.Schema) bool {
	if e == nil {
		return true
	}
	for _, name := range e.Fields() {
		if _, ok := BuiltinOf(s, name); !ok {
			return false
		}
	}
	return true
}

// dispatchStrings copies up to three user strings (slot k gets the string
// at args[Args[k]] of the table entry in rTmp) and leaves the record's size
// in R3: fixed + slots*stringSize, bounded for the verifier.
func (g *gen) dispatchStrings(stringSize int) {
	for k := 0; k < DispatchMaxSlots; k++ {
		next := g.label("slot")
		g.emit(
			asm.LoadMem(asm.R1, rTmp, 4, asm.Byte),
			asm.JLE.Imm(asm.R1, int32(k), next),
			asm.LoadMem(asm.R3, rTmp, int16(5+k), asm.Byte),
			asm.And.Imm(asm.R3, 7),
			asm.JGT.Imm(asm.R3, 5, next),
			asm.LSh.Imm(asm.R3, 3),
			asm.Add.Reg(asm.R3, rRec),
			asm.LoadMem(asm.R3, asm.R3, DispatchOffArgs, asm.DWord),
			asm.StoreImm(rRec, int16(DispatchFixed+k*stringSize), 0, asm.Byte),
			asm.Mov.Reg(asm.R1, rRec),
			asm.Add.Imm(asm.R1, int32(DispatchFixed+k*stringSize)),
			asm.Mov.Imm(asm.R2, int32(stringSize)),
			asm.FnProbeReadUserStr.Call(),
			asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(next),
		)
	}
	g.emit(
		asm.LoadMem(asm.R3, rTmp, 4, asm.Byte),
		asm.JLE.Imm(asm.R3, DispatchMaxSlots, "sz"),
		asm.Mov.Imm(asm.R3, DispatchMaxSlots),
		asm.Mul.Imm(asm.R3, int32(stringSize)).WithSymbol("sz"),
		asm.Add.Imm(asm.R3, DispatchFixed),
	)
}
