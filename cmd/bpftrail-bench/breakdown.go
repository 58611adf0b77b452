package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// The cost breakdown (-breakdown) has two parts. First it loads
// hand-built programs on syscalls:sys_enter_getpid, each one part more of
// the program bpftrail record generates (pid, this CPU's ring, the
// switch, the time, comm, the record written and published), and two as
// it was before (comm by bpf_get_current_comm; the record through a BPF
// ring buffer), and runs the load under each, with the rings given back
// unread every 10 ms: in short alternating runs for their cost to the
// load, then with bpf_stats for their own run time. Then it runs bpftrail
// record itself with its collector stopping after each stage: the records
// given back unread, read and decoded, and the whole recording.

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
	consumePercpu                     // per-CPU array ring, given back unread
)

func bdExit() asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"), asm.Return()}
}

// bdRecord is the recording program as it was with a BPF ring buffer:
// the control map's switch, then size bytes reserved, filled (time, class,
// cpu, tid, pid, comm, then the tracepoint's word at 8) and submitted
// without a wake-up.
func bdRecord(size int32) func(ring, ctlMap *ebpf.Map) asm.Instructions {
	return func(ring, ctlMap *ebpf.Map) asm.Instructions {
		in := asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.LoadMapValue(asm.R1, ctlMap.FD(), 0),
			asm.LoadMem(asm.R1, asm.R1, 0, asm.Word),
			asm.JEq.Imm(asm.R1, 0, "exit"),
			asm.FnGetCurrentPidTgid.Call(),
			asm.Mov.Reg(asm.R7, asm.R0),
			asm.LoadMapPtr(asm.R1, ring.FD()),
			asm.Mov.Imm(asm.R2, size),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnRingbufReserve.Call(),
			asm.JEq.Imm(asm.R0, 0, "exit"),
			asm.Mov.Reg(asm.R8, asm.R0),
			asm.FnKtimeGetNs.Call(),
			asm.StoreMem(asm.R8, 0, asm.R0, asm.DWord),
			asm.StoreImm(asm.R8, 8, 1, asm.Word),
		}
		in = append(in, bdCPUAndIDs()...)
		in = append(in,
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Add.Imm(asm.R1, 24),
			asm.Mov.Imm(asm.R2, 16),
			asm.FnGetCurrentComm.Call(),
		)
		for off := int16(40); off < int16(size); off += 4 {
			in = append(in, asm.LoadMem(asm.R1, asm.R6, 8, asm.Word), asm.StoreMem(asm.R8, off, asm.R1, asm.Word))
		}
		in = append(in,
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Mov.Imm(asm.R2, 1), // BPF_RB_NO_WAKEUP
			asm.FnRingbufSubmit.Call(),
		)
		return append(in, bdExit()...)
	}
}

// bdCPUAndIDs stores the processor id and the pid and tid (r7 holds
// get_current_pid_tgid's value) into the record at r8, as the generated
// programs do.
func bdCPUAndIDs() asm.Instructions {
	return asm.Instructions{
		asm.FnGetSmpProcessorId.Call(),
		asm.StoreMem(asm.R8, 12, asm.R0, asm.Word),
		asm.StoreMem(asm.R8, 16, asm.R7, asm.Word),
		asm.RSh.Imm(asm.R7, 32),
		asm.StoreMem(asm.R8, 20, asm.R7, asm.Word),
	}
}

func bdSteps() []bdStep {
	step := func(o pcOpts) func(ring, ctlMap *ebpf.Map) asm.Instructions {
		return func(ring, _ *ebpf.Map) asm.Instructions { return bdPerCPU(ring, o) }
	}
	all := pcOpts{pid: true, elem: true, flag: true, ktime: true, comm: true, write: true}
	helper := all
	helper.helperComm = true
	return []bdStep{
		{"empty program", step(pcOpts{}), consumeNone},
		{"+ get_current_pid_tgid", step(pcOpts{pid: true}), consumeNone},
		{"+ this CPU's ring (processor id, lookup)", step(pcOpts{pid: true, elem: true}), consumePercpu},
		{"+ the session's switch, in the ring", step(pcOpts{pid: true, elem: true, flag: true}), consumePercpu},
		{"+ ktime_get_ns", step(pcOpts{pid: true, elem: true, flag: true, ktime: true}), consumePercpu},
		{"+ comm, two loads from the current task", step(pcOpts{pid: true, elem: true, flag: true, ktime: true, comm: true}), consumePercpu},
		{"+ 48 B record written, published", step(all), consumePercpu},
		{"same, comm by get_current_comm (before)", step(helper), consumePercpu},
		{"same record, BPF ring buffer (before)", bdRecord(bdSize), consumeDiscard},
	}
}

// bdSize is the size of the breakdown's record, as bpftrail record's for
// sys_enter_getpid: the header and the syscall number.
const bdSize = 44

// pcOpts are the parts of a per-CPU ring recording program bdPerCPU
// builds, in the generated program's order.
type pcOpts struct {
	pid, elem, flag, ktime, comm, write bool
	helperComm                          bool // comm by bpf_get_current_comm, as before
}

// bdPerCPU builds the generated recording program of a 44-byte record
// (bpfgen's per-CPU ring layout) up to the parts o names. Helpers whose
// record is not written store to the stack.
func bdPerCPU(ring *ebpf.Map, o pcOpts) asm.Instructions {
	const size = bdSize
	rsize := int32((8 + size + 7) &^ 7)
	in := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	if o.elem {
		in = append(in,
			asm.FnGetSmpProcessorId.Call(),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.Word),
			asm.LoadMapPtr(asm.R1, ring.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "exit"),
			asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
		)
	}
	if o.flag {
		in = append(in, asm.LoadMem(asm.R1, asm.R0, 8, asm.Word), asm.JEq.Imm(asm.R1, 0, "exit"))
	}
	if o.pid {
		in = append(in, asm.FnGetCurrentPidTgid.Call(), asm.Mov.Reg(asm.R7, asm.R0))
	}
	// The record: in the ring when written, else on the stack.
	if o.write {
		in = append(in,
			asm.LoadMem(asm.R1, asm.RFP, -16, asm.DWord),
			asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord),
			asm.LoadMem(asm.R3, asm.R1, 64, asm.DWord),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Sub.Reg(asm.R4, asm.R3),
			asm.JGT.Imm(asm.R4, pcData-rsize, "exit"),
			asm.And.Imm(asm.R2, pcData-1),
			asm.Mov.Reg(asm.R8, asm.R1),
			asm.Add.Reg(asm.R8, asm.R2),
			asm.Add.Imm(asm.R8, bpfgen.CPURingData+bpfgen.CPURingPrefix),
		)
	} else {
		in = append(in, asm.Mov.Reg(asm.R8, asm.RFP), asm.Add.Imm(asm.R8, -64))
	}
	if o.ktime {
		in = append(in, asm.FnKtimeGetNs.Call(), asm.StoreMem(asm.R8, 0, asm.R0, asm.DWord))
	}
	if o.comm && o.helperComm {
		in = append(in,
			asm.Mov.Reg(asm.R1, asm.R8),
			asm.Add.Imm(asm.R1, 24),
			asm.Mov.Imm(asm.R2, 16),
			asm.FnGetCurrentComm.Call(),
		)
	} else if o.comm {
		in = append(in, asm.FnGetCurrentTaskBtf.Call())
		for i := int16(0); i < 16; i += 8 {
			in = append(in,
				asm.LoadMem(asm.R1, asm.R0, int16(taskComm)+i, asm.DWord),
				asm.StoreMem(asm.R8, 24+i, asm.R1, asm.DWord),
			)
		}
	}
	if o.write {
		in = append(in,
			asm.StoreImm(asm.R8, 8, 0, asm.Word),
		)
		in = append(in, bdCPUAndIDs()...)
		in = append(in,
			asm.LoadMem(asm.R1, asm.R6, 8, asm.Word),
			asm.StoreMem(asm.R8, 40, asm.R1, asm.Word),
			asm.StoreImm(asm.R8, -8, size, asm.Word),
			asm.LoadMem(asm.R1, asm.RFP, -16, asm.DWord),
			asm.LoadMem(asm.R3, asm.R1, 0, asm.DWord),
			asm.Add.Imm(asm.R3, rsize),
			asm.StoreMem(asm.R1, 0, asm.R3, asm.DWord),
		)
	}
	return append(in, bdExit()...)
}

// bdPrev is the row step i's part is measured from: the one before, or
// for the two rows of how it was before, the generated program's.
func bdPrev(i, n int) int {
	switch {
	case i == 0:
		return -1
	case i >= n-2:
		return n - 3
	}
	return i - 1
}

// taskComm is the offset of comm in the kernel's task_struct, as the
// generated programs read it.
var taskComm int

// bdBlocks is how many short runs of each step the breakdown alternates
// per round: the load's speed drifts on a virtual machine by more than a
// helper's cost over the seconds a full run takes, and runs of a tenth
// of the calls, in ABBA order, see the same drift.
const bdBlocks = 10

// runBreakdown runs the steps in short alternating runs with bpf_stats
// off (their cost to the load), then each once per round with bpf_stats
// on (the programs' own run time: the statistics read the clock around
// every run, which warms what ktime_get_ns reads and so hides part of
// its cost), then bpftrail record with its collector stopping after each
// stage, and prints the medians.
func (b *bench) runBreakdown(out io.Writer) error {
	_ = rlimit.RemoveMemlock()
	var err error
	if taskComm, err = resolve.TaskComm(); err != nil {
		return err
	}
	steps := bdSteps()
	ns := make([][]float64, len(steps))
	prog := make([][]float64, len(steps))
	blockN := max(b.n/bdBlocks, 1000)
	for blk := 0; blk < b.rounds*bdBlocks; blk++ {
		for k := range steps {
			i := k
			if blk%2 == 1 {
				i = len(steps) - 1 - k
			}
			c, _, err := b.runStep(steps[i], blockN)
			if err != nil {
				return fmt.Errorf("%s: %w", steps[i].name, err)
			}
			ns[i] = append(ns[i], c)
		}
		fmt.Fprintf(os.Stderr, "block %d of %d: %d calls per step\n", blk+1, b.rounds*bdBlocks, blockN)
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("bpf_stats: %w", err)
	}
	for r := 0; r < b.rounds; r++ {
		for i, s := range steps {
			c, p, err := b.runStep(s, b.n)
			if err != nil {
				stats.Close()
				return fmt.Errorf("%s: %w", s.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d  %-45s %7.1f ns/call, %6.1f ns in program\n", r+1, s.name, c, p)
			prog[i] = append(prog[i], p)
		}
	}
	stats.Close()
	stages := []struct{ name, skip string }{
		{"generated program, records given back unread", "decode"},
		{"+ records read and decoded, nothing written", "sink"},
		{"+ CTF encoded and written (bpftrail record)", ""},
	}
	// Each stage's run is followed by an empty-program run, and its floor
	// is the mean of the empty runs on either side, as in the main bench.
	rec := make([][]result, len(stages))
	for r := 0; r < b.rounds; r++ {
		prev, err := b.runEmptyOn("syscalls", "sys_enter_getpid")
		if err != nil {
			return fmt.Errorf("empty program: %w", err)
		}
		for i, st := range stages {
			os.Setenv(collect.SkipEnv, st.skip)
			run := b.runBpftrail
			if st.skip != "" {
				run = b.runBpftrailOnce // a short count is expected: no retry
			}
			res, err := run(&variant{rec: recSystem}, r)
			var ce *countError
			if st.skip != "" && errors.As(err, &ce) && res.lost == 0 {
				// The stage writes nothing by design: its trace holds no
				// event, and the summary counts none.
				err = nil
			}
			os.Unsetenv(collect.SkipEnv)
			if err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
			printRun(r, "record "+st.skip, res)
			next, err := b.runEmptyOn("syscalls", "sys_enter_getpid")
			if err != nil {
				return fmt.Errorf("empty program: %w", err)
			}
			res.floor = (prev.nsPerCall + next.nsPerCall) / 2
			prev = next
			rec[i] = append(rec[i], res)
		}
	}
	// diffs returns, block by block, step i's ns/call minus step j's.
	diffs := func(i, j int) []float64 {
		d := make([]float64, len(ns[i]))
		for k := range d {
			d[k] = ns[i][k] - ns[j][k]
		}
		return d
	}
	fmt.Fprintf(out, "\nCost breakdown on sys_enter_getpid (load on CPU %d, consumer on CPU %d).\n", b.loadCPU, b.tracerCPU)
	fmt.Fprintf(out, "Hand-built programs, each one part more of bpftrail's recording program. ns/call: the load's CPU time per call, %d runs of %d calls per program\n", len(ns[0]), blockN)
	fmt.Fprintf(out, "alternated in ABBA order, bpf_stats off; above empty and this part are medians of the differences run by run.\n")
	fmt.Fprintf(out, "bpf_stats: the kernel's run time per run of the program, %d runs of %d calls with bpf_stats on.\n", b.rounds, b.n)
	fmt.Fprintf(out, "The rows marked before: this part is their difference to the generated program's row.\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "program\tns/call\tabove empty\tthis part\tbpf_stats ns/run\tthis part\t")
	for i, s := range steps {
		c, p := median(ns[i]), median(prog[i])
		part, ppart := "", ""
		if prev := bdPrev(i, len(steps)); prev >= 0 {
			part = fmt.Sprintf("%+.0f", median(diffs(i, prev)))
			ppart = fmt.Sprintf("%+.0f", p-median(prog[prev]))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%+.0f\t%s\t%.0f\t%s\t\n", s.name, c, median(diffs(i, 0)), part, p, ppart)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nbpftrail record, its collector stopping after each stage (%d runs of %d calls; above floor: the median of each run's ns/call above the mean of the empty-program runs just before and after it):\n", b.rounds, b.n)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stages\tns/call\tabove floor\tlost\tcollector CPU ns/event (whole process)\t")
	for i, st := range stages {
		var c, above []float64
		var lost int64
		var cpu time.Duration
		for _, res := range rec[i] {
			c = append(c, res.nsPerCall)
			above = append(above, res.nsPerCall-res.floor)
			lost += res.lost
			cpu += res.cpuTotal
		}
		events := int64(b.n) * int64(len(rec[i]))
		fmt.Fprintf(tw, "%s\t%.0f\t%+.0f\t%d\t%.0f\t\n", st.name, median(c), median(above), lost, perEvent(float64(cpu.Nanoseconds()), events))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nCache traffic between the producing and the consuming CPU: %s\n", cacheCounters())
	var oneWay []float64
	for range 5 {
		ns, err := lineTransfer(b.loadCPU, b.tracerCPU, 100_000)
		if err != nil {
			return err
		}
		oneWay = append(oneWay, ns)
	}
	lo, hi := minMax(oneWay)
	recBytes := bpfgen.CPURingRecordSize(bdSize)
	fmt.Fprintf(out, "A cache line written on CPU %d is read on CPU %d %.0f ns later (ping-pong, median of %d runs of 100000 round trips, %.0f-%.0f);\n",
		b.loadCPU, b.tracerCPU, median(oneWay), len(oneWay), lo, hi)
	fmt.Fprintf(out, "the consumer takes every record from the producing CPU's cache: %d bytes per event here, %.2f cache lines.\n", recBytes, float64(recBytes)/64)
	return nil
}

// lineTransfer returns how long a cache line written on CPU a takes to be
// read on CPU b, in ns: a thread pinned to each passes a counter back and
// forth in one line, trips times (a round trip is two transfers). The
// threads end with their goroutines (they stay locked), so their CPU
// affinity goes with them.
func lineTransfer(a, b, trips int) (float64, error) {
	// Both threads spin at once: each needs a P of its own (this program
	// may run with one, its CPU affinity being one CPU).
	if procs := runtime.GOMAXPROCS(0); procs < 3 {
		runtime.GOMAXPROCS(3)
		defer runtime.GOMAXPROCS(procs)
	}
	var line struct {
		_ [64]byte
		v atomic.Uint64
		_ [56]byte
	}
	var timedOut atomic.Bool
	deadline := time.Now().Add(10 * time.Second)
	// pass waits for each of its turns (values of its parity) and hands
	// the counter on.
	pass := func(cpu int, first uint64, ready chan<- error) {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			ready <- fmt.Errorf("pin to CPU %d: %w", cpu, err)
			return
		}
		ready <- nil
		for v := first; v < uint64(2*trips); v += 2 {
			for spins := 0; line.v.Load() != v; spins++ {
				if spins&0xfffff == 0xfffff && (timedOut.Load() || time.Now().After(deadline)) {
					timedOut.Store(true)
					return
				}
			}
			line.v.Store(v + 1)
		}
	}
	readyA, readyB := make(chan error, 1), make(chan error, 1)
	doneB := make(chan struct{})
	go func() { pass(b, 1, readyB); close(doneB) }()
	if err := <-readyB; err != nil {
		return 0, err
	}
	var elapsed time.Duration
	doneA := make(chan struct{})
	go func() {
		start := time.Now()
		pass(a, 0, readyA)
		elapsed = time.Since(start)
		close(doneA)
	}()
	if err := <-readyA; err != nil {
		return 0, err
	}
	<-doneA
	<-doneB
	if timedOut.Load() {
		return 0, fmt.Errorf("cache-line ping-pong between CPUs %d and %d did not finish in 10 s", a, b)
	}
	return float64(elapsed.Nanoseconds()) / float64(2*trips), nil
}

// cacheCounters says what perf stat's cache counters show on this machine,
// or that it has none.
func cacheCounters() string {
	outb, err := exec.Command("perf", "stat", "-x,", "-e", "cache-misses,cache-references", "--", "true").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("perf stat failed: %v", err)
	}
	if strings.Contains(string(outb), "<not supported>") {
		return "not measurable here: this VM exposes no hardware counters (perf stat: cache-misses <not supported>)"
	}
	return "perf stat has hardware counters here; run perf stat -e cache-misses -C 0,1 beside a recording"
}

// runStep loads and attaches one step's program, consumes its ring as the
// step says while the load makes n calls, and returns the load's ns per
// call and the program's bpf_stats run time per run (0 with bpf_stats
// off).
func (b *bench) runStep(s bdStep, n int) (float64, float64, error) {
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
			done <- consumeRing(ring, &stop)
		}()
	} else {
		close(done)
	}
	saved := b.n
	b.n = n
	res, err := b.runUntraced()
	b.n = saved
	stop.Store(true)
	if cerr := <-done; err == nil {
		err = cerr
	}
	pn, _ := progStats(p)
	return res.nsPerCall, pn, err
}

// consumeRing maps the BPF ring buffer m and, every 10 ms until stop,
// gives back unread what the producer committed.
func consumeRing(m *ebpf.Map, stop *atomic.Bool) error {
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
	for !stop.Load() {
		time.Sleep(10 * time.Millisecond)
		atomic.StoreUint64(consPos, atomic.LoadUint64(prodPos))
	}
	return nil
}

// Per-CPU ring in an mmapable array: one element per CPU, a page of
// positions (head at 0, tail at 64) and then the data.
const (
	pcData = 1 << 20
)

func pcRing() (*ebpf.Map, error) {
	return ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: uint32(bpfgen.CPURingValueSize(pcData, 64)), MaxEntries: uint32(possibleCPUs()), Flags: unix.BPF_F_MMAPABLE})
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
	for c := 0; c < n; c++ {
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[c*elem+8])), 1)
	}
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

// possibleCPUs is the number of CPUs a program may run on: the per-CPU
// ring map's entries.
func possibleCPUs() int {
	n, err := ebpf.PossibleCPU()
	if err != nil || n < 1 {
		return runtime.NumCPU()
	}
	return n
}
