package bpfgen

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpftrail/bpftrail/internal/event"
)

// Stack sampling: a perf_event program that writes one record per sample
// with the user and kernel stacks copied by bpf_get_stack, so that no stack
// map can lose or mix stacks. Record layout after the header:
//
//	i64 user stack bytes (or a negative error), i64 kernel stack bytes,
//	u64 user[MaxFrames], u64 kernel[MaxFrames]
const (
	MaxFrames        = 127
	SampleOffUserLen = event.HeaderSize
	SampleOffKernLen = event.HeaderSize + 8
	SampleOffUser    = event.HeaderSize + 16
	SampleOffKern    = SampleOffUser + MaxFrames*8
	SampleSize       = SampleOffKern + MaxFrames*8
)

// ProfileProgram returns the sampler: user stacks when user, kernel stacks
// when kernel.
func ProfileProgram(m Maps, o Options, user, kernel bool) (*ebpf.ProgramSpec, error) {
	g := &gen{}
	g.emit(asm.Mov.Reg(rCtx, asm.R1))
	if err := g.prologue(m, o); err != nil {
		return nil, err
	}
	g.reserve(m, SampleSize)
	g.emit(asm.StoreImm(rRec, event.OffClass, int64(o.ClassID), asm.Word))
	g.header()
	for _, st := range []struct {
		want   bool
		lenOff int16
		bufOff int32
		flags  int32
	}{
		{user, SampleOffUserLen, SampleOffUser, 1 << 8 /* BPF_F_USER_STACK */},
		{kernel, SampleOffKernLen, SampleOffKern, 0},
	} {
		if !st.want {
			g.emit(storeImm64(rRec, st.lenOff, 0))
			continue
		}
		g.emit(
			asm.Mov.Reg(asm.R1, rCtx),
			asm.Mov.Reg(asm.R2, rRec),
			asm.Add.Imm(asm.R2, st.bufOff),
			asm.Mov.Imm(asm.R3, MaxFrames*8),
			asm.Mov.Imm(asm.R4, st.flags),
			asm.FnGetStack.Call(),
			asm.StoreMem(rRec, st.lenOff, asm.R0, asm.DWord),
		)
	}
	g.submit(o)
	return &ebpf.ProgramSpec{
		Name:         "bt_profile",
		Type:         ebpf.PerfEvent,
		License:      "GPL",
		Instructions: g.insns,
	}, nil
}
