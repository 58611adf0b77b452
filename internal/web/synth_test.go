package web

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
)

// base is the clock value of the synthetic traces' streams; events are at
// base + their time.
const base = 1_000_000

// synth writes CTF traces made of the events bpftrail records, with the
// {pid, tid, comm} stream event context.
type synth struct {
	tb      testing.TB
	w       *ctf.Writer
	streams map[int]*ctf.StreamWriter
	sw, wk  *ctf.EventClass
	enter   map[string]*ctf.EventClass
	exit    map[string]*ctf.EventClass
	prof    *ctf.EventClass
}

func newSynth(tb testing.TB, dir string) *synth {
	w, err := ctf.Create(dir, ctf.Options{
		Hostname: "test", TraceName: "synth", EventContext: ctftrace.ContextType(),
		Clock: func() uint64 { return base }, ClockOffset: 1_700_000_000_000_000_000,
	})
	if err != nil {
		tb.Fatal(err)
	}
	s := &synth{tb: tb, w: w, streams: map[int]*ctf.StreamWriter{}, enter: map[string]*ctf.EventClass{}, exit: map[string]*ctf.EventClass{}}
	s.sw = s.class("sched:sched_switch", ctf.Struct(
		ctf.F("_prev_comm", ctf.String()), ctf.F("_prev_pid", ctf.Int(32)), ctf.F("_prev_prio", ctf.Int(32)),
		ctf.F("_prev_state", ctf.Int(64)),
		ctf.F("_next_comm", ctf.String()), ctf.F("_next_pid", ctf.Int(32)), ctf.F("_next_prio", ctf.Int(32))))
	s.wk = s.class("sched:sched_wakeup", ctf.Struct(
		ctf.F("_comm", ctf.String()), ctf.F("_pid", ctf.Int(32)), ctf.F("_prio", ctf.Int(32)), ctf.F("_target_cpu", ctf.Int(32))))
	for _, sc := range []string{"read", "futex"} {
		s.enter[sc] = s.class("syscalls:sys_enter_"+sc, ctf.Struct(
			ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_fd", ctf.Int(32)), ctf.F("_buf", ctf.Hex(ctf.Uint(64))), ctf.F("_count", ctf.Uint(64))))
		s.exit[sc] = s.class("syscalls:sys_exit_"+sc, ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_ret", ctf.Int(64))))
	}
	s.prof = s.class("profile:sample", ctf.Struct(
		ctf.F("__stack_length", ctf.Uint(16)), ctf.F("_stack", ctf.Sequence(ctf.String(), "__stack_length"))))
	return s
}

func (s *synth) class(name string, t *ctf.Type) *ctf.EventClass {
	ec, err := s.w.AddEventClass(name, t)
	if err != nil {
		s.tb.Fatal(err)
	}
	return ec
}

type who struct {
	pid, tid int32
	comm     string
}

func (s *synth) write(cpu int, t int64, ec *ctf.EventClass, w who, payload ...any) {
	st := s.streams[cpu]
	if st == nil {
		var err error
		if st, err = s.w.Stream(cpu); err != nil {
			s.tb.Fatal(err)
		}
		s.streams[cpu] = st
	}
	vals := append([]any{w.pid, w.tid, w.comm}, payload...)
	if err := st.Write(ec, uint64(base+t), vals...); err != nil {
		s.tb.Fatal(err)
	}
}

func (s *synth) switchTo(cpu int, t int64, prev, next who) {
	s.switchState(cpu, t, prev, 1, next)
}

// switchState switches with prev_state state (0: preempted, 1: sleeping).
func (s *synth) switchState(cpu int, t int64, prev who, state int64, next who) {
	s.write(cpu, t, s.sw, prev, prev.comm, prev.tid, int32(120), state, next.comm, next.tid, int32(120))
}

func (s *synth) sysEnter(cpu int, t int64, sc string, w who, fd int32) {
	s.write(cpu, t, s.enter[sc], w, int32(0), fd, uint64(0x7fff0000), uint64(4096))
}

func (s *synth) sysExit(cpu int, t int64, sc string, w who, ret int64) {
	s.write(cpu, t, s.exit[sc], w, int32(0), ret)
}

func (s *synth) close() {
	if err := s.w.Close(); err != nil {
		s.tb.Fatal(err)
	}
}

// genTrace writes a trace of about n events on cpus CPUs: threads switch
// in and out, make read and futex calls, wake each other up, and now and
// then a profile sample is taken.
func genTrace(tb testing.TB, dir string, n, cpus int) {
	genTraceN(tb, dir, n, cpus)
}

// genTraceN is genTrace; it writes exactly n events.
func genTraceN(tb testing.TB, dir string, n, cpus int) {
	s := newSynth(tb, dir)
	rng := rand.New(rand.NewSource(1))
	const nthreads = 300
	threads := make([]who, nthreads)
	for i := range threads {
		pid := int32(1000 + i/4*4)
		threads[i] = who{pid: pid, tid: int32(1000 + i), comm: fmt.Sprintf("worker-%d", pid)}
	}
	idle := who{comm: "swapper"}
	cur := make([]who, cpus)
	for c := range cur {
		cur[c] = idle
	}
	taken := map[int32]bool{}
	frames := []string{"main", "run", "loop", "handle", "parse", "read_file", "compute", "hash", "write_out", "memcpy"}
	t := int64(0)
	written := 0
	for written < n {
		c := rng.Intn(cpus)
		t += int64(50 + rng.Intn(400))
		// switch to a thread not running elsewhere
		next := idle
		for k := 0; k < 4; k++ {
			cand := threads[rng.Intn(nthreads)]
			if !taken[cand.tid] {
				next = cand
				break
			}
		}
		prev := cur[c]
		s.switchState(c, t, prev, int64(rng.Intn(2)), next)
		written++
		delete(taken, prev.tid)
		cur[c] = next
		if next.tid == 0 {
			continue
		}
		taken[next.tid] = true
		for k := rng.Intn(3); k > 0 && written+2 <= n; k-- {
			sc := "read"
			if rng.Intn(3) == 0 {
				sc = "futex"
			}
			t += int64(100 + rng.Intn(200))
			s.sysEnter(c, t, sc, next, int32(rng.Intn(20)))
			t += int64(200 + rng.Intn(5000))
			s.sysExit(c, t, sc, next, int64(rng.Intn(4096)))
			written += 2
		}
		if rng.Intn(4) == 0 && written < n {
			o := threads[rng.Intn(nthreads)]
			t += 30
			s.write(c, t, s.wk, next, o.comm, o.tid, int32(120), int32(rng.Intn(cpus)))
			written++
		}
		if rng.Intn(10) == 0 && written < n {
			d := 2 + rng.Intn(len(frames)-2)
			st := make([]string, d)
			for i := range st {
				st[d-1-i] = frames[(i*7+rng.Intn(2))%len(frames)] + "+0x1a (/usr/bin/worker)"
			}
			t += 30
			s.write(c, t, s.prof, next, uint16(d), st)
			written++
		}
	}
	s.close()
}
