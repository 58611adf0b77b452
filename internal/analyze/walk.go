package analyze

import (
	"sort"

	"github.com/bpftrail/bpftrail/ctf"
)

// Thread is what a trace told of a thread so far. Its process and command
// name come from the events it emitted (their stream event context); until
// it emitted one, from the comm fields of the sched_switch events that
// switched it, and its process is its thread id.
type Thread struct {
	TID, PID int
	Comm     string
	emitted  bool // PID and Comm come from its own events
}

// Event is one event of a trace with what [Walk] derived from it. It and
// what it points to are valid during the call it is handed to only.
type Event struct {
	CTF    *ctf.Event
	Index  int64 // position in the trace's time order, from 0
	Ns     int64 // time, ns since the clock's origin
	CPU    int   // the packet's CPU (else the stream's), -1 if unknown
	Class  *Class
	Thread *Thread // the thread that emitted it, nil when the trace does not say

	// KindSwitch: the threads switched out and in, and the state the
	// first one was switched out with.
	Prev, Next int
	PrevState  int64
	// KindWakeup: the thread woken.
	Woken int
	// Sample is the stack the event carries (see [Class.Sampled]), nil
	// when it carries none.
	Sample *Sample
}

// Paired reports whether e is a syscall entry or exit that [Walk] pairs:
// one of a known thread. Its pair is handed to [Consumer.Syscall] when it
// ends (an exit's pair before the exit itself is handed to Consumer.Event).
func (e *Event) Paired() bool {
	return e.Thread != nil && (e.Class.Kind == KindSyscallEntry || e.Class.Kind == KindSyscallExit)
}

// Sample is the stack an event carries, leaf first: the kernel's frames
// (Kernel addresses, or the first KernelFrames of Frames), then the user's.
// Its slices are valid during the call only.
type Sample struct {
	PID, TID int
	Comm     []byte
	Kernel   []uint64 // _kstack
	User     []uint64 // _ustack
	// Frames are the symbolized frames of a [LegacySample] event.
	Frames [][]byte
	// PeriodNs is the time the sample stands for ([Class.PeriodNs]).
	PeriodNs int64
}

// Consumer receives what [Walk] derives from a trace, in time order: for
// each event, first the intervals and syscall pairs it ends, then the
// event itself; at the end of the trace, what is still open.
type Consumer interface {
	// Event receives every event of the trace.
	Event(e *Event)
	// Interval receives each scheduling interval when it ends (see [Sched]).
	Interval(iv Interval)
	// Syscall receives each syscall pair when it ends (see [SyscallPair]).
	Syscall(p *SyscallPair)
}

// Starter is a [Consumer] that wants the time of the trace's first event
// before anything else.
type Starter interface {
	Start(ns int64)
}

// Failer is a [Consumer] that can fail (one that writes, for one): [Walk]
// stops after the first event after which Err returns an error, and
// returns it.
type Failer interface {
	Err() error
}

// Walked is what [Walk] saw of a whole trace.
type Walked struct {
	Events         int64
	StartNs, EndNs int64                  // first and last event, ns since the clock's origin
	Threads        []*Thread              // every thread the trace mentions, by thread id
	StreamEvents   map[*ctf.Stream]uint64 // events per stream
}

// Walk reads every event of t in time order, gives them their meaning and
// hands it to the consumers:
//
//   - the thread that emitted each event;
//   - scheduling intervals, by the rules of [Sched], from sched_switch and
//     sched_wakeup in either layout;
//   - syscall pairs, by the rules of [SyscallPair], from the entries and
//     exits of every thread;
//   - stack samples ([Event.Sample]).
func Walk(t *ctf.Trace, cs ...Consumer) (Walked, error) {
	w := newWalker(t, cs)
	it := t.Events()
	defer it.Close()
	for it.Next() {
		w.step(it.Event())
		if err := w.failed(); err != nil {
			return Walked{}, err
		}
	}
	if err := it.Err(); err != nil {
		return Walked{}, err
	}
	w.finish()
	return w.walked(), w.failed()
}

// walker is the state of one [Walk].
type walker struct {
	cs      []Consumer
	failers []Failer
	cur     *Event // the event being walked, nil at the end
	dec     Decoder
	sched   Sched
	threads map[int]*Thread
	open    map[int]pending // thread → its open syscall
	ev      Event
	pair    SyscallPair
	sample  Sample
	n       int64
	start   int64
	end     int64
	streams map[*ctf.Stream]uint64
	stream  *ctf.Stream // the stream of the last event, whose count is in count
	count   uint64
}

// pending is an open syscall of a thread.
type pending struct {
	name  string
	pid   int
	start int64
	entry int64
}

func newWalker(t *ctf.Trace, cs []Consumer) *walker {
	w := &walker{cs: cs, threads: map[int]*Thread{}, open: map[int]pending{}, streams: make(map[*ctf.Stream]uint64, len(t.Streams))}
	w.sched.OnInterval = w.interval
	for _, c := range cs {
		if f, ok := c.(Failer); ok {
			w.failers = append(w.failers, f)
		}
	}
	return w
}

// failed returns the first error of a consumer that failed.
func (w *walker) failed() error {
	for _, f := range w.failers {
		if err := f.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) thread(tid int) *Thread {
	t, ok := w.threads[tid]
	if !ok {
		t = &Thread{TID: tid, PID: tid}
		w.threads[tid] = t
	}
	return t
}

// emitted notes what an event tells of the thread that emitted it.
func (w *walker) emitted(em Emitter) *Thread {
	t := w.thread(em.TID)
	t.PID, t.emitted = em.PID, true
	if len(em.Comm) > 0 && t.Comm != string(em.Comm) {
		t.Comm = string(em.Comm)
	}
	return t
}

// switched notes the comm a sched_switch gives a thread, unless the thread
// named itself in its own events.
func (w *walker) switched(tid int, comm []byte) {
	if tid == 0 {
		return
	}
	t := w.thread(tid)
	if !t.emitted && len(comm) > 0 && t.Comm != string(comm) {
		t.Comm = string(comm)
	}
}

func (w *walker) step(ev *ctf.Event) {
	if w.n == 0 {
		w.start = ev.Ns
		for _, c := range w.cs {
			if s, ok := c.(Starter); ok {
				s.Start(ev.Ns)
			}
		}
	}
	w.end = max(w.end, ev.Ns)
	if ev.Stream != w.stream {
		if w.stream != nil {
			w.streams[w.stream] = w.count
		}
		w.stream, w.count = ev.Stream, w.streams[ev.Stream]
	}
	w.count++
	e := &w.ev
	c := w.dec.Class(ev.Class)
	*e = Event{CTF: ev, Index: w.n, Ns: ev.Ns, CPU: ev.CPU, Class: c}
	w.n++
	w.cur = e
	if e.CPU < 0 && ev.Stream != nil {
		e.CPU = ev.Stream.CPU
	}
	em, ok := w.dec.Emitter(ev, c)
	if ok {
		e.Thread = w.emitted(em)
	}
	w.sched.Event(e.CPU, ev.Ns)
	switch c.Kind {
	case KindSwitch:
		w.sw(e)
	case KindWakeup:
		tid, _ := Int(ev.Payload, c.TID)
		if e.Woken = int(tid); e.Woken != 0 {
			w.thread(e.Woken)
		}
		w.sched.Wakeup(ev.Ns, e.Index, e.Woken)
	case KindSyscallEntry, KindSyscallExit:
		if e.Thread != nil {
			w.syscall(e)
		}
	}
	if c.Sampled() {
		e.Sample = w.sampleOf(e, em)
	}
	for _, c := range w.cs {
		c.Event(e)
	}
}

// sw follows a sched_switch.
func (w *walker) sw(e *Event) {
	p, c := e.CTF.Payload, e.Class
	prev, _ := Int(p, c.PrevTID)
	next, _ := Int(p, c.NextTID)
	e.Prev, e.Next = int(prev), int(next)
	e.PrevState, _ = Int(p, c.PrevState)
	w.switched(e.Prev, Bytes(p, c.PrevComm))
	w.switched(e.Next, Bytes(p, c.NextComm))
	w.sched.Switch(e.CPU, e.Ns, e.Index, e.Prev, e.Next, e.PrevState)
}

func (w *walker) interval(iv Interval) {
	iv.Thread, iv.At = w.thread(iv.TID), w.cur
	for _, c := range w.cs {
		c.Interval(iv)
	}
}

// sampleOf returns the stack event e carries.
func (w *walker) sampleOf(e *Event, em Emitter) *Sample {
	s, c := &w.sample, e.Class
	*s = Sample{PID: em.PID, TID: em.TID, Comm: em.Comm, Kernel: s.Kernel[:0], User: s.User[:0], Frames: s.Frames[:0], PeriodNs: c.PeriodNs}
	p := e.CTF.Payload
	if c.KStack >= 0 && c.KStack < len(p.Elems) {
		for _, a := range p.Elems[c.KStack].Elems {
			s.Kernel = append(s.Kernel, a.Uint)
		}
	}
	if c.UStack >= 0 && c.UStack < len(p.Elems) {
		for _, a := range p.Elems[c.UStack].Elems {
			s.User = append(s.User, a.Uint)
		}
	}
	if c.Frames >= 0 && c.Frames < len(p.Elems) {
		for _, f := range p.Elems[c.Frames].Elems {
			s.Frames = append(s.Frames, f.Bytes)
		}
	}
	return s
}

// finish closes what is still open at the end of the trace.
func (w *walker) finish() {
	if w.stream != nil {
		w.streams[w.stream] = w.count
	}
	w.cur = nil
	w.sched.Finish(w.end)
	tids := make([]int, 0, len(w.open))
	for tid := range w.open {
		tids = append(tids, tid)
	}
	sort.Ints(tids)
	for _, tid := range tids {
		w.endPair(tid, w.open[tid], Unfinished, w.end, nil)
	}
	clear(w.open)
}

func (w *walker) walked() Walked {
	r := Walked{Events: w.n, StartNs: w.start, EndNs: w.end, StreamEvents: w.streams}
	for _, t := range w.threads {
		r.Threads = append(r.Threads, t)
	}
	sort.Slice(r.Threads, func(i, j int) bool { return r.Threads[i].TID < r.Threads[j].TID })
	return r
}
