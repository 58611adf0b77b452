package analyze

import "sort"

// State is a thread's scheduling state.
type State uint8

// Thread states.
const (
	StateUnknown  State = iota // not seen yet, or lost track (missing events)
	StateRunning               // on a CPU: switched in, not yet switched out
	StateRunnable              // preempted (prev_state R) or woken, waiting for a CPU
	StateBlocked               // switched out sleeping (prev_state != R), not yet woken
	StateExited                // switched out dead or zombie
)

func (s State) String() string {
	switch s {
	case StateRunning:
		return "Running"
	case StateRunnable:
		return "Runnable"
	case StateBlocked:
		return "Blocked"
	case StateExited:
		return "Exited"
	}
	return "Unknown"
}

// Interval is a span of time a thread spent in one state.
type Interval struct {
	TID        int
	State      State // StateRunning, StateRunnable or StateBlocked
	CPU        int   // StateRunning: the CPU it ran on; -1 otherwise
	Start, End int64 // ns
	// StartEv and EndEv are the indexes of the events that began and ended
	// the interval (a switch, a wake-up), -1 when no event did: the run of
	// the thread a CPU's first switch switches out begins with the CPU's
	// first event, and intervals still open end with the trace.
	StartEv, EndEv int64
	PrevState      int64 // StateBlocked: the prev_state it was switched out with
	Woken          bool  // StateBlocked: ended by a wake-up (not by a switch-in whose wake-up was not recorded)
	// Set by [Walk]: the thread, as far as the trace told it so far, and
	// the event being walked when the interval ended (nil at the end of
	// the trace).
	Thread *Thread
	At     *Event
}

// Sched follows threads through sched_switch and sched_wakeup events and
// reports each state interval of each thread when it ends. Thread 0 (the
// idle task of every CPU) is not followed.
//
// Rules: a thread runs from its switch-in to its switch-out on the same CPU;
// the thread switched out by the first sched_switch of a CPU has run since
// that CPU's first event. A thread switched out with prev_state R (0, or
// TASK_REPORT_MAX 0x100 for a preemption) is runnable until it is switched
// in again; with prev_state X or Z (0x10, 0x20) it has exited; with any
// other state it is blocked until a wake-up (then runnable until switched
// in) or, when the wake-up was not recorded, until it is switched in.
// Intervals still open at the end are closed by [Sched.Finish].
type Sched struct {
	// OnInterval receives each interval when it ends.
	OnInterval func(Interval)

	cpus    []cpuState
	threads map[int]*thState
}

type cpuState struct {
	seen     bool  // an event of this CPU was seen
	first    int64 // its first event
	known    bool  // cur is known
	switched bool  // a sched_switch was seen
	cur      int
}

type thState struct {
	state     State
	since     int64
	sinceEv   int64
	cpu       int
	prevState int64
}

// StateAfterSwitch is the state of a thread switched out with prev_state s.
func StateAfterSwitch(s int64) State {
	r := s & 0xff // TASK_REPORT bits; TASK_REPORT_MAX (0x100) marks a preemption
	switch {
	case r == 0:
		return StateRunnable
	case r&(0x10|0x20) != 0:
		return StateExited
	}
	return StateBlocked
}

func (s *Sched) cpu(cpu int) *cpuState {
	for len(s.cpus) <= cpu {
		s.cpus = append(s.cpus, cpuState{})
	}
	return &s.cpus[cpu]
}

func (s *Sched) thread(tid int) *thState {
	t, ok := s.threads[tid]
	if !ok {
		if s.threads == nil {
			s.threads = map[int]*thState{}
		}
		t = &thState{cpu: -1, sinceEv: -1}
		s.threads[tid] = t
	}
	return t
}

// Event notes an event of any kind on cpu at ns, so that the CPU's first
// event is known. Call it for every event, before Switch or Wakeup.
func (s *Sched) Event(cpu int, ns int64) {
	if cpu < 0 {
		return
	}
	c := s.cpu(cpu)
	if !c.seen {
		c.seen, c.first = true, ns
	}
}

// emit reports the interval t ends at end, by event ev (-1: none); an
// interval of no time is not reported.
func (s *Sched) emit(tid int, t *thState, end, ev int64, woken bool) {
	if end <= t.since {
		return // no time: every reader would have to leave it out
	}
	switch t.state {
	case StateRunning, StateRunnable, StateBlocked:
		if s.OnInterval != nil {
			iv := Interval{TID: tid, State: t.state, CPU: -1, Start: t.since, End: end, StartEv: t.sinceEv, EndEv: ev}
			switch t.state {
			case StateRunning:
				iv.CPU = t.cpu
			case StateBlocked:
				iv.PrevState, iv.Woken = t.prevState, woken
			}
			s.OnInterval(iv)
		}
	}
}

func (s *Sched) set(tid int, t *thState, st State, ns, ev int64, cpu int) {
	s.emit(tid, t, ns, ev, false)
	t.state, t.since, t.sinceEv, t.cpu = st, ns, ev, cpu
}

// Switch handles a sched_switch on cpu at ns, event index ev.
func (s *Sched) Switch(cpu int, ns, ev int64, prev, next int, prevState int64) {
	if cpu < 0 {
		return
	}
	s.Event(cpu, ns)
	c := s.cpu(cpu)
	if c.known && c.cur != prev && c.cur != 0 {
		// The switch-out of c.cur was lost: end its run here.
		if t := s.thread(c.cur); t.state == StateRunning && t.cpu == cpu {
			s.set(c.cur, t, StateUnknown, ns, ev, -1)
		}
	}
	if prev != 0 {
		t := s.thread(prev)
		if t.state == StateUnknown && !c.switched {
			t.state, t.since, t.sinceEv, t.cpu = StateRunning, c.first, -1, cpu
		}
		s.emit(prev, t, ns, ev, false)
		t.state, t.since, t.sinceEv, t.cpu, t.prevState = StateAfterSwitch(prevState), ns, ev, -1, prevState
	}
	if next != 0 {
		t := s.thread(next)
		if t.state == StateRunning && t.cpu != cpu && t.cpu >= 0 && t.cpu < len(s.cpus) {
			s.cpus[t.cpu].known = false // its switch-out there was lost
		}
		s.set(next, t, StateRunning, ns, ev, cpu)
	}
	c.known, c.switched, c.cur = true, true, next
}

// Wakeup handles the wake-up of thread tid at ns, event index ev.
func (s *Sched) Wakeup(ns, ev int64, tid int) {
	if tid == 0 {
		return
	}
	t := s.thread(tid)
	switch t.state {
	case StateBlocked, StateUnknown, StateExited:
		s.emit(tid, t, ns, ev, true)
		t.state, t.since, t.sinceEv, t.cpu = StateRunnable, ns, ev, -1
	}
}

// Finish closes every open interval at end, in thread id order.
func (s *Sched) Finish(end int64) {
	tids := make([]int, 0, len(s.threads))
	for tid := range s.threads {
		tids = append(tids, tid)
	}
	sort.Ints(tids)
	for _, tid := range tids {
		s.set(tid, s.threads[tid], StateUnknown, end, -1, -1)
	}
}

// Running returns the thread running on cpu, if known.
func (s *Sched) Running(cpu int) (int, bool) {
	if cpu < 0 || cpu >= len(s.cpus) || !s.cpus[cpu].known {
		return 0, false
	}
	return s.cpus[cpu].cur, true
}
