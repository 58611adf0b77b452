package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// The cost breakdown (-breakdown) loads hand-built programs on
// syscalls:sys_enter_getpid, each one step more than the last, and runs the
// load under each: what every helper of a recording program costs, what the
// ring's reserve and submit cost with nobody reading, with a reader that
// gives the space back unread, and with one that reads every record.

// bdStep is one program of the breakdown.
type bdStep struct {
	name string
	// build returns the program's instructions; ring is the ring buffer.
	build func(ring *ebpf.Map, ctl *ebpf.Map) asm.Instructions
	// consume: how the bench reads the ring while the load runs.
	consume consumeMode
}

type consumeMode int

const (
	consumeNone    consumeMode = iota // no ring
	consumeDiscard                    // give the space back unread, every 10 ms
	consumeRead                       // read every record's words, every 10 ms
	consumePercpu                     // per-CPU array ring, given back unread
)

// Program pieces. R6 holds the context, R7 pid_tgid, R8 the record.
func bdHelpers(pid, ktime, cpu, ctl, comm bool, ctlMap *ebpf.Map) asm.Instructions {
	var in asm.Instructions
	if ctl {
		in = append(in,
			asm.LoadMapValue(asm.R1, ctlMap.FD(), 0),
			asm.LoadMem(asm.R1, asm.R1, 0, asm.Word),
			asm.JEq.Imm(asm.R1, 0, "exit"),
		)
	}
	if pid {
		in = append(in, asm.FnGetCurrentPidTgid.Call(), asm.Mov.Reg(asm.R7, asm.R0))
	}
	if ktime {
		in = append(in, asm.FnKtimeGetNs.Call(), asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord))
	}
	if cpu {
		in = append(in, asm.FnGetSmpProcessorId.Call(), asm.StoreMem(asm.RFP, -16, asm.R0, asm.Word))
	}
	if comm {
		in = append(in,
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, -40),
			asm.Mov.Imm(asm.R2, 16),
			asm.FnGetCurrentComm.Call(),
		)
	}
	return in
}

func bdExit() asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"), asm.Return()}
}

// bdRecord reserves size bytes, fills them as a record program does when
// full is set (time, class, cpu, tid, pid, comm), and submits without a
// wake-up.
func bdRecord(size int32, full bool, ctl bool) func(ring, ctlMap *ebpf.Map) asm.Instructions {
	return func(ring, ctlMap *ebpf.Map) asm.Instructions {
		in := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
		if ctl {
			in = append(in,
				asm.LoadMapValue(asm.R1, ctlMap.FD(), 0),
				asm.LoadMem(asm.R1, asm.R1, 0, asm.Word),
				asm.JEq.Imm(asm.R1, 0, "exit"),
			)
		}
		if full {
			in = append(in, asm.FnGetCurrentPidTgid.Call(), asm.Mov.Reg(asm.R7, asm.R0))
		}
		in = append(in,
			asm.LoadMapPtr(asm.R1, ring.FD()),
			asm.Mov.Imm(asm.R2, size),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnRingbufReserve.Call(),
			asm.JEq.Imm(asm.R0, 0, "exit"),
			asm.Mov.Reg(asm.R8, asm.R0),
		)
		if full {
			in = append(in,
				asm.FnKtimeGetNs.Call(),
				asm.StoreMem(asm.R8, 0, asm.R0, asm.DWord),
				asm.StoreImm(asm.R8, 8, 1, asm.Word),
				asm.FnGetSmpProcessorId.Call(),
				asm.StoreMem(asm.R8, 12, asm.R0, asm.Word),
				asm.StoreMem(asm.R8, 16, asm.R7, asm.Word),
				asm.RSh.Imm(asm.R7, 32),
				asm.StoreMem(asm.R8, 20, asm.R7, asm.Word),
				asm.Mov.Reg(asm.R1, asm.R8),
				asm.Add.Imm(asm.R1, 24),
				asm.Mov.Imm(asm.R2, 16),
				asm.FnGetCurrentComm.Call(),
			)
			for off := int16(40); off < int16(size); off += 4 {
				in = append(in, asm.LoadMem(asm.R1, asm.R6, 8, asm.Word), asm.StoreMem(asm.R8, off, asm.R1, asm.Word))
			}
		} else {
			for off := int16(0); off < int16(size); off += 8 {
				in = append(in, asm.StoreMem(asm.R8, off, asm.R6, asm.DWord))
			}
		}
		in = append(in,
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Mov.Imm(asm.R2, 1), // BPF_RB_NO_WAKEUP
			asm.FnRingbufSubmit.Call(),
		)
		return append(in, bdExit()...)
	}
}

func bdSteps() []bdStep {
	helpers := func(pid, ktime, cpu, ctl, comm bool) func(ring, ctlMap *ebpf.Map) asm.Instructions {
		return func(_, ctlMap *ebpf.Map) asm.Instructions {
			return append(bdHelpers(pid, ktime, cpu, ctl, comm, ctlMap), bdExit()...)
		}
	}
	return []bdStep{
		{"empty program", helpers(false, false, false, false, false), consumeNone},
		{"+ get_current_pid_tgid", helpers(true, false, false, false, false), consumeNone},
		{"+ ktime_get_ns", helpers(true, true, false, false, false), consumeNone},
		{"+ get_smp_processor_id", helpers(true, true, true, false, false), consumeNone},
		{"+ control flag (map load)", helpers(true, true, true, true, false), consumeNone},
		{"+ get_current_comm", helpers(true, true, true, true, true), consumeNone},
		{"24 B reserve+submit, unread", bdRecord(24, false, false), consumeDiscard},
		{"24 B reserve+submit, read", bdRecord(24, false, false), consumeRead},
		{"44 B record, unread", bdRecord(44, true, true), consumeDiscard},
		{"44 B record, read", bdRecord(44, true, true), consumeRead},
		{"ktime_get_boot_ns alone", bdTime(asm.FnKtimeGetBootNs), consumeNone},
		{"jiffies64 alone", bdTime(asm.FnJiffies64), consumeNone},
		{"get_current_comm alone", helpers(false, false, false, false, true), consumeNone},
		{"percpu array 24 B", bdPercpu(24, false, false, false), consumePercpu},
		{"percpu array 44 B record", bdPercpu(44, true, true, true), consumePercpu},
		{"percpu, flag in ring", bdPercpu(44, true, false, true), consumePercpu},
		{"percpu, flag in ring, no comm", bdPercpu(44, true, false, false), consumePercpu},
	}
}

// runBreakdown runs every step once per round and prints the medians.
func (b *bench) runBreakdown(out io.Writer) error {
	_ = rlimit.RemoveMemlock()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err == nil {
		defer stats.Close()
	}
	steps := bdSteps()
	ns := make([][]float64, len(steps))
	prog := make([][]float64, len(steps))
	base := []float64{}
	for r := 0; r < b.rounds; r++ {
		res, err := b.runUntraced()
		if err != nil {
			return err
		}
		base = append(base, res.nsPerCall)
		for i, s := range steps {
			c, p, err := b.runStep(s)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d  %-30s %7.1f ns/call, %6.1f ns in program\n", r+1, s.name, c, p)
			ns[i] = append(ns[i], c)
			prog[i] = append(prog[i], p)
		}
	}
	untraced := median(base)
	empty := median(ns[0])
	fmt.Fprintf(out, "\nCost breakdown on sys_enter_getpid (%d calls × %d rounds, medians; untraced %.0f ns/call):\n", b.n, b.rounds, untraced)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "program\tns/call\tabove empty\tstep\tbpf_stats ns/run\t")
	prev := empty
	for i, s := range steps {
		c := median(ns[i])
		step := c - prev
		if s.consume != consumeNone && (i == 0 || steps[i-1].consume == consumeNone) {
			step = c - empty
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%+.0f\t%+.0f\t%.0f\t\n", s.name, c, c-empty, step, median(prog[i]))
		prev = c
	}
	return tw.Flush()
}

// runStep loads and attaches one step's program, consumes its ring as the
// step says while the load runs, and returns the load's ns per call and the
// program's bpf_stats run time per run.
func (b *bench) runStep(s bdStep) (float64, float64, error) {
	var ring *ebpf.Map
	var err error
	if s.consume == consumePercpu {
		ring, err = pcRing()
	} else {
		ring, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 16 << 20})
	}
	if err != nil {
		return 0, 0, err
	}
	defer ring.Close()
	ctl, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return 0, 0, err
	}
	defer ctl.Close()
	if err := ctl.Put(uint32(0), uint32(1)); err != nil {
		return 0, 0, err
	}
	in := s.build(ring, ctl)
	if in[0].OpCode != asm.Mov.Reg(asm.R6, asm.R1).OpCode || in[0].Dst != asm.R6 {
		in = append(asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}, in...)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_step", Type: ebpf.TracePoint, License: "GPL", Instructions: in})
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	l, err := link.Tracepoint("syscalls", "sys_enter_getpid", p, nil)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	var stop atomic.Bool
	done := make(chan error, 1)
	if s.consume != consumeNone {
		go func() {
			if s.consume == consumePercpu {
				done <- drainPercpu(ring, &stop)
				return
			}
			done <- consumeRing(ring, s.consume, &stop)
		}()
	} else {
		close(done)
	}
	res, err := b.runUntraced()
	stop.Store(true)
	if cerr := <-done; err == nil {
		err = cerr
	}
	pn, _ := progStats(p)
	return res.nsPerCall, pn, err
}

// consumeRing maps ring and, every 10 ms until stop, gives back what the
// producer committed: unread, or after reading every record's words.
func consumeRing(m *ebpf.Map, mode consumeMode, stop *atomic.Bool) error {
	page := os.Getpagesize()
	size := int(m.MaxEntries())
	cons, err := unix.Mmap(m.FD(), 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(cons)
	prod, err := unix.Mmap(m.FD(), int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(prod)
	consPos := (*uint64)(unsafe.Pointer(&cons[0]))
	prodPos := (*uint64)(unsafe.Pointer(&prod[0]))
	data := prod[page:]
	mask := uint64(size - 1)
	var sink uint64
	for !stop.Load() {
		time.Sleep(10 * time.Millisecond)
		c := atomic.LoadUint64(consPos)
		p := atomic.LoadUint64(prodPos)
		if mode == consumeRead {
			for c < p {
				hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&data[c&mask])))
				if hdr&(1<<31) != 0 {
					break // not committed yet
				}
				n := uint64(hdr &^ (3 << 30))
				rec := data[c&mask+8 : c&mask+8+n]
				for i := 0; i+8 <= len(rec); i += 8 {
					sink += *(*uint64)(unsafe.Pointer(&rec[i]))
				}
				c += (8 + n + 7) &^ 7
			}
			p = c
		}
		atomic.StoreUint64(consPos, p)
	}
	if sink == 42 {
		fmt.Fprint(io.Discard, sink)
	}
	return nil
}

// Per-CPU ring in an mmapable array: one element per CPU, a page of
// positions (head at 0, tail at 64) and then the data.
const (
	pcData = 1 << 20
	pcHead = 4096
)

func pcRing() (*ebpf.Map, error) {
	return ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: pcHead + pcData + 4096, MaxEntries: uint32(runtimeNumCPU()), Flags: unix.BPF_F_MMAPABLE})
}

func bdPercpu(size int32, full, ctlMap, comm bool) func(ring, ctlMap *ebpf.Map) asm.Instructions {
	return func(ring, ctl *ebpf.Map) asm.Instructions {
		in := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
		if full && ctlMap {
			in = append(in,
				asm.LoadMapValue(asm.R1, ctl.FD(), 0),
				asm.LoadMem(asm.R1, asm.R1, 0, asm.Word),
				asm.JEq.Imm(asm.R1, 0, "exit"))
		}
		if full {
			in = append(in, asm.FnGetCurrentPidTgid.Call(), asm.Mov.Reg(asm.R7, asm.R0))
		}
		in = append(in,
			asm.FnGetSmpProcessorId.Call(),
			asm.Mov.Reg(asm.R9, asm.R0),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.Word),
			asm.LoadMapPtr(asm.R1, ring.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "exit"),
			asm.Mov.Reg(asm.R5, asm.R0), // element
		)
		if full && !ctlMap {
			in = append(in,
				asm.LoadMem(asm.R1, asm.R5, 8, asm.Word),
				asm.JEq.Imm(asm.R1, 0, "exit"))
		}
		in = append(in,
			asm.LoadMem(asm.R1, asm.R5, 0, asm.DWord),
			asm.LoadMem(asm.R2, asm.R5, 64, asm.DWord),
			asm.Mov.Reg(asm.R3, asm.R1),
			asm.Sub.Reg(asm.R3, asm.R2),
			asm.JGT.Imm(asm.R3, pcData-64, "exit"),
			asm.Mov.Reg(asm.R8, asm.R1),
			asm.And.Imm(asm.R8, pcData-1),
			asm.Add.Reg(asm.R8, asm.R5),
			asm.Add.Imm(asm.R8, pcHead),
			asm.Add.Imm(asm.R1, size),
			asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
			asm.StoreMem(asm.RFP, -24, asm.R5, asm.DWord),
		)
		if full {
			in = append(in,
				asm.FnKtimeGetNs.Call(),
				asm.StoreMem(asm.R8, 0, asm.R0, asm.DWord),
				asm.StoreImm(asm.R8, 8, 1, asm.Word),
				asm.StoreMem(asm.R8, 12, asm.R9, asm.Word),
				asm.StoreMem(asm.R8, 16, asm.R7, asm.Word),
				asm.RSh.Imm(asm.R7, 32),
				asm.StoreMem(asm.R8, 20, asm.R7, asm.Word),
			)
			if comm {
				in = append(in,
					asm.Mov.Reg(asm.R1, asm.R8),
					asm.Add.Imm(asm.R1, 24),
					asm.Mov.Imm(asm.R2, 16),
					asm.FnGetCurrentComm.Call(),
				)
			}
			for off := int16(40); off < int16(size); off += 4 {
				in = append(in, asm.LoadMem(asm.R1, asm.R6, 8, asm.Word), asm.StoreMem(asm.R8, off, asm.R1, asm.Word))
			}
		} else {
			for off := int16(0); off < int16(size); off += 8 {
				in = append(in, asm.StoreMem(asm.R8, off, asm.R6, asm.DWord))
			}
		}
		in = append(in,
			asm.LoadMem(asm.R1, asm.RFP, -16, asm.DWord),
			asm.LoadMem(asm.R5, asm.RFP, -24, asm.DWord),
			asm.StoreMem(asm.R5, 0, asm.R1, asm.DWord),
		)
		return append(in, bdExit()...)
	}
}

// consumePercpu gives back, every 10 ms, what each CPU's ring holds.
func drainPercpu(m *ebpf.Map, stop *atomic.Bool) error {
	elem := int(m.ValueSize())
	n := int(m.MaxEntries())
	mem, err := unix.Mmap(m.FD(), 0, elem*n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	for !stop.Load() {
		time.Sleep(10 * time.Millisecond)
		for c := 0; c < n; c++ {
			atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[c*elem+8])), 1)
			head := atomic.LoadUint64((*uint64)(unsafe.Pointer(&mem[c*elem])))
			atomic.StoreUint64((*uint64)(unsafe.Pointer(&mem[c*elem+64])), head)
		}
	}
	return nil
}

func bdTime(fn asm.BuiltinFunc) func(ring, ctlMap *ebpf.Map) asm.Instructions {
	return func(_, _ *ebpf.Map) asm.Instructions {
		return append(asm.Instructions{fn.Call(), asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord)}, bdExit()...)
	}
}

func runtimeNumCPU() int { return runtime.NumCPU() }
