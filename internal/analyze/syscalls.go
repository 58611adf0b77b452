package analyze

// PairEnd is how a [SyscallPair] ended.
type PairEnd uint8

// How pairs end.
const (
	Completed    PairEnd = iota // by the exit of its syscall
	ExitMissing                 // abandoned: its thread entered a syscall, or left another one, before it exited
	Unfinished                  // still open at the end of the trace
	EntryMissing                // an exit whose entry was not recorded (entered before the trace, or lost)
)

func (e PairEnd) String() string {
	switch e {
	case Completed:
		return "completed"
	case ExitMissing:
		return "exit missing"
	case Unfinished:
		return "unfinished"
	}
	return "entry missing"
}

// SyscallPair is one syscall of one thread, from its entry to its exit.
//
// The rule, the same for every consumer: an entry opens a pair on its
// thread, and the exit of the same syscall on that thread completes it. An
// entry while a pair is open on the thread abandons the open one (it ends,
// [ExitMissing], at the new entry), and so does an exit of another syscall,
// which is then reported as [EntryMissing] too; an exit without an open pair
// is [EntryMissing]. Pairs still open at the end of the trace end with it,
// [Unfinished]. A pair handed to [Consumer.Syscall] is valid during the
// call only.
type SyscallPair struct {
	Name     string // the syscall ("openat")
	TID, PID int    // the thread, and its process at the entry (at the exit for EntryMissing)
	Thread   *Thread
	End      PairEnd
	// StartNs and EndNs bound the syscall: from its entry to its exit, to
	// the event that abandoned it, or to the end of the trace. An
	// EntryMissing pair starts and ends at its exit.
	StartNs, EndNs int64
	Entry, Exit    int64 // event indexes of the entry and the exit, -1 when missing
	Ret            int64 // the exit's return value, when HasRet
	HasRet         bool
	// At is the event that ended the pair (its exit, or the event that
	// abandoned it), nil at the end of the trace.
	At *Event
}

// Duration is EndNs - StartNs.
func (p *SyscallPair) Duration() int64 { return p.EndNs - p.StartNs }

// syscall pairs the entry or exit e of a known thread.
func (w *walker) syscall(e *Event) {
	c, tid := e.Class, e.Thread.TID
	op, open := w.open[tid]
	if c.Kind == KindSyscallEntry {
		if open {
			w.endPair(tid, op, ExitMissing, e.Ns, e)
		}
		w.open[tid] = pending{name: c.Syscall, pid: e.Thread.PID, start: e.Ns, entry: e.Index}
		return
	}
	if open {
		delete(w.open, tid)
		if op.name == c.Syscall {
			w.endPair(tid, op, Completed, e.Ns, e)
			return
		}
		w.endPair(tid, op, ExitMissing, e.Ns, e)
	}
	w.endPair(tid, pending{name: c.Syscall, pid: e.Thread.PID, start: e.Ns, entry: -1}, EntryMissing, e.Ns, e)
}

// endPair hands the pair op of thread tid, ended at ns by event at (nil at
// the end of the trace), to the consumers.
func (w *walker) endPair(tid int, op pending, end PairEnd, ns int64, at *Event) {
	p := &w.pair
	*p = SyscallPair{Name: op.name, TID: tid, PID: op.pid, Thread: w.thread(tid), End: end,
		StartNs: op.start, EndNs: ns, Entry: op.entry, Exit: -1, At: at}
	if at != nil && (end == Completed || end == EntryMissing) {
		p.Exit = at.Index
		p.Ret, p.HasRet = Int(at.CTF.Payload, at.Class.Ret)
	}
	for _, c := range w.cs {
		c.Syscall(p)
	}
}
