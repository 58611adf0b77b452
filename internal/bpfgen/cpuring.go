package bpfgen

import (
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// Per-CPU rings: the transport of recording programs.
//
// A BPF ring buffer is one ring that every CPU reserves in under a spin
// lock with interrupts off, and whose positions live on pages of their
// own. On a machine where every system call flushes the TLB (page-table
// isolation) and interrupt masking is paravirtualized, those pages and the
// lock cost as much as the rest of a recording program. A recording needs
// no order across CPUs (a CTF trace has a stream per CPU), so each CPU gets
// its own ring, as in LTTng and perf: one element of an mmapable array map,
// with no lock and no atomic operation on the way.
//
// An element is a page of positions, then the data, then a slack for the
// record that wraps (it runs on past the end of the data, into the slack,
// and the reader sees it whole), then a scratch record:
//
//	0     head     u64  producer position in bytes (the programs')
//	8     enabled  u32  record only while non-zero (user space's switch)
//	16    lost     u64  records there was no room for, or that nested
//	24    busy     u32  a program is writing (guarded sessions only)
//	32    followed u32  1 + the last process found followed on this CPU
//	64    tail     u64  consumer position (user space's)
//	4096  data     [size]byte, size a power of two
//	      slack    [CPURingSlack(max)]byte
//	      scratch  [CPURingSlack(max)]byte
//
// Each record is a u32 length (of the record, without this prefix), 4
// unused bytes, then the record, padded to 8 bytes. A record is published
// by the store of the new head, after its bytes (a store-release where
// stores may be reordered).
//
// Only one program writes an element at a time: tracepoint, kprobe and
// perf-event programs never nest on a CPU (the kernel skips a program when
// another runs there). A uprobe program may be preempted, so a session
// with uprobes sets Options.Guard: each program then takes the element's
// busy word with a compare-and-exchange, and one that finds it taken is
// counted lost.
const (
	CPURingHead    = 0
	CPURingEnabled = 8
	CPURingLost    = 16
	CPURingBusy    = 24
	CPURingFollow  = 32
	CPURingTail    = 64
	CPURingData    = 4096
	// CPURingPrefix is the length word before each record.
	CPURingPrefix = 8
)

// CPURingSlack is the size of the slack and of the scratch of an element
// whose records are at most maxRecord bytes.
func CPURingSlack(maxRecord int) int { return (CPURingPrefix + maxRecord + 4095) &^ 4095 }

// CPURingValueSize is the size of an element with size bytes of data.
func CPURingValueSize(size, maxRecord int) int { return CPURingData + size + 2*CPURingSlack(maxRecord) }

// CPURingRecordSize is the room a record of n bytes takes in a ring.
func CPURingRecordSize(n int) int { return (CPURingPrefix + n + 7) &^ 7 }

// Stack slots of the per-CPU ring code.
const (
	stackElem   = -16 // this CPU's element
	stackInRing = -24 // 1: the record is in the ring; 0: in the scratch
)

const labelRelease = "release"

// cpuElem looks up this CPU's element, keeps it at stackElem and returns
// at once unless the session's switch, in the element, is on (when m has
// a control switch: programs attached held off have none).
func (g *gen) cpuElem(m Maps) {
	g.emit(
		asm.FnGetSmpProcessorId.Call(),
	)
	g.emit(lookupKey(asm.R0, m.CPURing, labelExit)...)
	g.emit(asm.StoreMem(asm.RFP, stackElem, asm.R0, asm.DWord))
	if m.Control != nil {
		g.emit(
			asm.LoadMem(asm.R1, asm.R0, CPURingEnabled, asm.Word),
			asm.JEq.Imm(asm.R1, 0, labelExit),
		)
	}
}

// claim points rRec at room for a record of up to size bytes in this
// CPU's ring. When there is none it counts the record lost and returns,
// or, with scratch set (a filter is still to decide whether the record is
// kept), points rRec at the element's scratch and clears stackInRing so
// that commit counts the record lost only if it passes.
func (g *gen) claim(m Maps, o Options, size int, scratch bool) {
	rsize := CPURingRecordSize(size)
	data := m.CPURingSize
	if o.Guard {
		owned := g.label("owned")
		g.emit(
			asm.LoadMem(asm.R1, asm.RFP, stackElem, asm.DWord),
			asm.Mov.Imm(asm.R0, 0),
			asm.Mov.Imm(asm.R2, 1),
			asm.CmpXchg.Mem(asm.R1, asm.R2, asm.Word, CPURingBusy),
			asm.JEq.Imm(asm.R0, 0, owned),
		)
		// A program nested in another's write: lost, and the busy word
		// stays the other's.
		g.lostInElem()
		g.emit(asm.Ja.Label(labelExit))
		g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(owned))
		g.reject = labelRelease
	}
	full, fill := g.label("full"), g.label("fill")
	g.emit(
		asm.LoadMem(asm.R1, asm.RFP, stackElem, asm.DWord),
		asm.LoadMem(asm.R2, asm.R1, CPURingHead, asm.DWord),
		asm.LoadMem(asm.R3, asm.R1, CPURingTail, asm.DWord),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Sub.Reg(asm.R4, asm.R3),
		asm.JGT.Imm(asm.R4, int32(data-rsize), full),
		asm.And.Imm(asm.R2, int32(data-1)),
		asm.Mov.Reg(rRec, asm.R1),
		asm.Add.Reg(rRec, asm.R2),
		asm.Add.Imm(rRec, CPURingData+CPURingPrefix),
	)
	if scratch {
		g.emit(
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreMem(asm.RFP, stackInRing, asm.R1, asm.DWord),
			asm.Ja.Label(fill),
			asm.Mov.Reg(rRec, asm.R1).WithSymbol(full),
			asm.Add.Imm(rRec, int32(CPURingData+data+CPURingSlack(m.MaxRecord)+CPURingPrefix)),
			asm.Mov.Imm(asm.R1, 0),
			asm.StoreMem(asm.RFP, stackInRing, asm.R1, asm.DWord),
		)
	} else {
		g.emit(asm.Ja.Label(fill), asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(full))
		g.lostInElem()
		g.emit(asm.Ja.Label(g.rejectLabel()))
	}
	g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(fill))
}

// commit publishes the record in rRec, of size bytes or of the size in
// sizeReg when it is not 0, or counts it lost if it was built in the
// scratch; it releases the element and ends the program.
func (g *gen) commit(o Options, size int, sizeReg asm.Register, scratch bool) {
	if scratch {
		inRing := g.label("inring")
		g.emit(
			asm.LoadMem(asm.R1, asm.RFP, stackInRing, asm.DWord),
			asm.JNE.Imm(asm.R1, 0, inRing),
			asm.LoadMem(asm.R1, asm.RFP, stackElem, asm.DWord),
		)
		g.lostInElem()
		g.emit(
			asm.Ja.Label(g.rejectLabel()),
			asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(inRing),
		)
	}
	if sizeReg != 0 {
		g.emit(
			asm.StoreMem(rRec, -CPURingPrefix, sizeReg, asm.Word),
			asm.Mov.Reg(asm.R2, sizeReg),
			asm.Add.Imm(asm.R2, CPURingPrefix+7),
			asm.And.Imm(asm.R2, -8),
		)
	} else {
		g.emit(
			asm.StoreImm(rRec, -CPURingPrefix, int64(size), asm.Word),
			asm.Mov.Imm(asm.R2, int32(CPURingRecordSize(size))),
		)
	}
	g.emit(
		asm.LoadMem(asm.R1, asm.RFP, stackElem, asm.DWord),
		asm.LoadMem(asm.R3, asm.R1, CPURingHead, asm.DWord),
		asm.Add.Reg(asm.R3, asm.R2),
	)
	if runtime.GOARCH == "amd64" {
		// Stores are not reordered with other stores: the record's bytes
		// are visible before the head that publishes them.
		g.emit(asm.StoreMem(asm.R1, CPURingHead, asm.R3, asm.DWord))
	} else {
		g.emit(storeRelease.Mem(asm.R1, asm.R3, asm.DWord, CPURingHead))
	}
	g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(labelRelease))
	if o.Guard {
		g.emit(
			asm.LoadMem(asm.R1, asm.RFP, stackElem, asm.DWord),
			asm.StoreImm(asm.R1, CPURingBusy, 0, asm.Word),
		)
	}
	g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit), asm.Return())
}

// storeRelease is BPF_STX | BPF_ATOMIC with BPF_STORE_REL (Linux 6.15).
const storeRelease = asm.AtomicOp(0x0001_1000)

// lostInElem adds one to the lost count of the element in R1.
func (g *gen) lostInElem() {
	g.emit(
		asm.Mov.Imm(asm.R2, 1),
		asm.AddAtomic.Mem(asm.R1, asm.R2, asm.DWord, CPURingLost),
	)
}

// rejectLabel is where a program goes when it keeps no record after
// claiming room.
func (g *gen) rejectLabel() string {
	if g.reject != "" {
		return g.reject
	}
	return labelExit
}

// cpuProgram is Program writing to a per-CPU ring: the record is built in
// place in the ring (or, when the ring is full and a filter has to decide,
// in the scratch) and published when it is complete and kept.
func (g *gen) cpuProgram(p *resolve.Probe, l record.Layout, m Maps, o Options) (*ebpf.ProgramSpec, error) {
	if err := g.cpuPrologue(m, o); err != nil {
		return nil, err
	}
	scratch := o.Filter != nil
	g.claim(m, o, l.Size, scratch)
	g.emit(asm.StoreImm(rRec, record.OffClass, int64(o.ClassID), asm.Word))
	g.header()
	if err := g.fields(p, l, nil); err != nil {
		return nil, err
	}
	if scratch {
		if err := g.filter(o.Filter, p.Event, l); err != nil {
			return nil, fmt.Errorf("bpfgen: %s: %w", p.Event.Name, err)
		}
	}
	g.commit(o, l.Size, 0, scratch)
	return g.spec(p), nil
}

// cpuPrologue finds this CPU's ring, tests the session's switch in it,
// then the process target.
func (g *gen) cpuPrologue(m Maps, o Options) error {
	if m.CPURingSize <= 0 || m.CPURingSize&(m.CPURingSize-1) != 0 {
		return fmt.Errorf("bpfgen: per-CPU ring of %d bytes: want a power of two", m.CPURingSize)
	}
	g.cpuElem(m)
	m.Control = nil
	follow := o.Follow
	o.Follow = false
	if err := g.prologue(m, o); err != nil {
		return err
	}
	if follow {
		return g.cpuFollow(m)
	}
	return nil
}

// cpuFollow returns unless the current process is followed. The set of
// followed processes only grows, so the last process found in it on this
// CPU is kept in the ring's page, which the program reads anyway: a
// process that keeps the CPU is not looked up again.
func (g *gen) cpuFollow(m Maps) error {
	if m.Pids == nil {
		return fmt.Errorf("bpfgen: no pid map")
	}
	followed := g.label("followed")
	g.emit(
		asm.Mov.Reg(asm.R1, rPidTgd),
		asm.RSh.Imm(asm.R1, 32),
		asm.Add.Imm(asm.R1, 1),
		asm.LoadMem(asm.R2, asm.RFP, stackElem, asm.DWord),
		asm.LoadMem(asm.R2, asm.R2, CPURingFollow, asm.Word),
		asm.JEq.Reg(asm.R1, asm.R2, followed),
		asm.Add.Imm(asm.R1, -1),
	)
	g.emit(lookupKey(asm.R1, m.Pids, labelExit)...)
	g.emit(
		asm.Mov.Reg(asm.R1, rPidTgd),
		asm.RSh.Imm(asm.R1, 32),
		asm.Add.Imm(asm.R1, 1),
		asm.LoadMem(asm.R2, asm.RFP, stackElem, asm.DWord),
		asm.StoreMem(asm.R2, CPURingFollow, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(followed),
	)
	return nil
}
