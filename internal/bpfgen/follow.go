package bpfgen

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// lookupCurrentTgid emits: fp-8 = current tgid; r0 = lookup(m, fp-8).
func lookupCurrentTgid(m *ebpf.Map) asm.Instructions {
	return append(asm.Instructions{
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
	}, lookupKey(asm.R0, m, "")...)
}

// putKeyAt emits: pids[*(u32 *)(fp+keyOff)] = 1.
func putKeyAt(pids *ebpf.Map, keyOff int16) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, -16, 1, asm.Byte),
		asm.LoadMapPtr(asm.R1, pids.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -16),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
	}
}

// ForkFollower returns a program for sched:sched_process_fork that adds the
// child to pids when the forking process is in pids. childPidOffset is the
// offset of child_pid in the tracepoint's record.
func ForkFollower(pids *ebpf.Map, childPidOffset int) *ebpf.ProgramSpec {
	insns := asm.Instructions{asm.Mov.Reg(rCtx, asm.R1)}
	insns = append(insns, lookupCurrentTgid(pids)...)
	insns = append(insns,
		asm.JEq.Imm(asm.R0, 0, labelExit),
		asm.LoadMem(asm.R1, rCtx, int16(childPidOffset), asm.Word),
		asm.StoreMem(asm.RFP, stackKey, asm.R1, asm.Word),
	)
	insns = append(insns, putKeyAt(pids, stackKey)...)
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit), asm.Return())
	return &ebpf.ProgramSpec{Name: "bt_follow_fork", Type: ebpf.TracePoint, License: "GPL", Instructions: insns}
}

// ExecPromoter returns a program for sched:sched_process_exec that moves a
// process from pending to pids when it execs: a command started by the
// tracer is recorded from its exec on, not while it waits to be released.
func ExecPromoter(pending, pids *ebpf.Map) *ebpf.ProgramSpec {
	insns := asm.Instructions{asm.Mov.Reg(rCtx, asm.R1)}
	insns = append(insns, lookupCurrentTgid(pending)...)
	insns = append(insns, asm.JEq.Imm(asm.R0, 0, labelExit))
	insns = append(insns, putKeyAt(pids, stackKey)...)
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit), asm.Return())
	return &ebpf.ProgramSpec{Name: "bt_follow_exec", Type: ebpf.TracePoint, License: "GPL", Instructions: insns}
}
