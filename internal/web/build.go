package web

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// Lanes of a thread's track, in order.
const (
	laneState = iota
	laneSyscalls
)

// builder is the analyze.Consumer that lays out the view data: events,
// their fields, and the lanes and markers of the timeline.
type builder struct {
	d         *Data
	opt       Options
	syms      *symbolize.Table
	origin    int64
	classes   map[*ctf.EventClass]*evClass
	cpus      map[int]*Lane  // running lane of each CPU
	tracks    map[int]*Track // track of each thread
	fieldsCut bool
}

func newBuilder(d *Data, opt Options, syms *symbolize.Table) *builder {
	return &builder{d: d, opt: opt, syms: syms, classes: map[*ctf.EventClass]*evClass{},
		cpus: map[int]*Lane{}, tracks: map[int]*Track{}}
}

// Start takes the first event as time 0.
func (b *builder) Start(ns int64) { b.origin = ns }

// Event adds e to the events, keeps its fields, and marks it on its
// thread's track unless a slice shows it (switches, paired syscalls).
func (b *builder) Event(e *analyze.Event) {
	d := b.d
	x := b.class(e)
	tid := int32(-1)
	if e.Thread != nil {
		tid = int32(e.Thread.TID)
	}
	t := e.Ns - b.origin
	d.T = append(d.T, t)
	d.CPU = append(d.CPU, int32(e.CPU))
	d.TID = append(d.TID, tid)
	d.Cls = append(d.Cls, x.id)
	if int(e.Index) < b.opt.MaxFieldEvents {
		d.storeFields(x, e, b.syms)
	} else if !b.fieldsCut {
		b.fieldsCut = true
		d.Notes = append(d.Notes, fmt.Sprintf("fields are kept for the first %d events only", b.opt.MaxFieldEvents))
	}
	if tid >= 0 && e.Class.Kind != analyze.KindSwitch && !e.Paired() {
		b.mark(int(tid), t, x.nameID, e.Index)
	}
}

// class returns the builder's state for the class of event e, declaring
// the class in the view data the first time.
func (b *builder) class(e *analyze.Event) *evClass {
	x := b.classes[e.CTF.Class]
	if x == nil {
		x = b.d.newClass(e.CTF.Class, e.Class)
		b.classes[e.CTF.Class] = x
	}
	return x
}

func (b *builder) mark(tid int, t int64, nm int32, ev int64) {
	tk := b.track(tid)
	tk.MarkT = append(tk.MarkT, t)
	tk.MarkNm = append(tk.MarkNm, nm)
	tk.MarkEv = append(tk.MarkEv, ev)
}

func (b *builder) track(tid int) *Track {
	tk := b.tracks[tid]
	if tk == nil {
		tk = &Track{Kind: "thread", TID: int32(tid), Lanes: []*Lane{laneState: {Name: "state"}, laneSyscalls: {Name: "syscalls"}}}
		b.tracks[tid] = tk
	}
	return tk
}

// Interval adds a state slice to the thread's track, and a running one to
// the CPU's. An interval of no time (a thread switched in by the last
// switch of the trace) is not drawn.
func (b *builder) Interval(iv analyze.Interval) {
	d := b.d
	start, end := iv.Start-b.origin, iv.End-b.origin
	if end <= start {
		return
	}
	l := b.track(iv.TID).Lanes[laneState]
	var nm int32
	switch iv.State {
	case analyze.StateRunning:
		nm = d.str("CPU " + strconv.Itoa(iv.CPU))
	case analyze.StateRunnable:
		nm = d.str(runnableName(d, iv.StartEv))
	case analyze.StateBlocked:
		nm = d.str("Blocked")
	}
	addSlice(l, start, end, nm, iv.StartEv, iv.EndEv)
	l.State = append(l.State, int8(iv.State))
	l.CPU = append(l.CPU, int32(iv.CPU))
	if iv.State != analyze.StateRunning {
		return
	}
	cl := b.cpus[iv.CPU]
	if cl == nil {
		cl = &Lane{Name: "running"}
		b.cpus[iv.CPU] = cl
	}
	addSlice(cl, start, end, d.str(iv.Thread.Comm), iv.StartEv, iv.EndEv)
	cl.TID = append(cl.TID, int32(iv.TID))
}

// runnableName names a Runnable slice by what made the thread runnable:
// the wake-up or the preemption of event ev.
func runnableName(d *Data, ev int64) string {
	if ev < 0 || ev >= int64(len(d.Cls)) {
		return "Runnable"
	}
	if d.Classes[d.Cls[ev]].kind == analyze.KindWakeup {
		return "Runnable (woken)"
	}
	return "Runnable (preempted)"
}

// Syscall adds a syscall slice to the thread's track; an exit without its
// entry is a marker.
func (b *builder) Syscall(p *analyze.SyscallPair) {
	if p.End == analyze.EntryMissing {
		b.mark(p.TID, p.EndNs-b.origin, b.class(p.At).nameID, p.Exit)
		return
	}
	name := p.Name
	if p.End != analyze.Completed {
		name += " (" + p.End.String() + ")"
	}
	addSlice(b.track(p.TID).Lanes[laneSyscalls], p.StartNs-b.origin, p.EndNs-b.origin, b.d.str(name), p.Entry, p.Exit)
}

func addSlice(l *Lane, start, end int64, nm int32, ev, ev2 int64) {
	l.Start = append(l.Start, start)
	l.Dur = append(l.Dur, max(end-start, 0))
	l.Nm = append(l.Nm, nm)
	l.Ev = append(l.Ev, ev)
	l.Ev2 = append(l.Ev2, ev2)
}

// finish lays out the tracks: CPUs, then threads grouped by process.
func (b *builder) finish(tr *ctf.Trace, w analyze.Walked) {
	d := b.d
	d.Events = int(w.Events)
	d.Origin = w.StartNs
	d.Duration = w.EndNs - w.StartNs
	// CPUs of the trace (streams), also those where no thread ran.
	seen := map[int]bool{}
	for _, s := range tr.Streams {
		if s.CPU >= 0 && !seen[s.CPU] {
			seen[s.CPU] = true
			d.CPUs = append(d.CPUs, s.CPU)
		}
	}
	sort.Ints(d.CPUs)
	var cpus []int
	for c := range b.cpus {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	for _, c := range cpus {
		sortLane(b.cpus[c])
		d.Tracks = append(d.Tracks, &Track{Kind: "cpu", Name: "CPU " + strconv.Itoa(c), CPU: c, TID: -1, PID: -1, Lanes: []*Lane{b.cpus[c]}})
	}
	threads := map[int32]*analyze.Thread{}
	for _, th := range w.Threads {
		threads[int32(th.TID)] = th
		d.Threads = append(d.Threads, &Thread{TID: int32(th.TID), PID: int32(th.PID), Comm: d.str(th.Comm)})
	}
	b.threadTracks(threads)
}

// threadTracks adds the tracks of the threads, grouped by process, with
// the lanes that hold slices.
func (b *builder) threadTracks(threads map[int32]*analyze.Thread) {
	d := b.d
	var tks []*Track
	for tid, tk := range b.tracks {
		tk.PID, tk.Name = int32(tid), fmt.Sprintf(" %d", tid)
		if th := threads[int32(tid)]; th != nil {
			tk.PID, tk.Name = int32(th.PID), fmt.Sprintf("%s %d", th.Comm, tid)
		}
		var lanes []*Lane
		for _, l := range tk.Lanes {
			if len(l.Start) > 0 {
				sortLane(l)
				lanes = append(lanes, l)
			}
		}
		tk.Lanes = lanes
		tks = append(tks, tk)
	}
	sort.Slice(tks, func(i, j int) bool {
		a, b := tks[i], tks[j]
		if a.PID != b.PID {
			return a.PID < b.PID
		}
		return a.TID < b.TID
	})
	d.Tracks = append(d.Tracks, tks...)
}

type laneSort struct{ l *Lane }

func (s laneSort) Len() int           { return len(s.l.Start) }
func (s laneSort) Less(i, j int) bool { return s.l.Start[i] < s.l.Start[j] }
func (s laneSort) Swap(i, j int) {
	l := s.l
	l.Start[i], l.Start[j] = l.Start[j], l.Start[i]
	l.Dur[i], l.Dur[j] = l.Dur[j], l.Dur[i]
	l.Nm[i], l.Nm[j] = l.Nm[j], l.Nm[i]
	l.Ev[i], l.Ev[j] = l.Ev[j], l.Ev[i]
	l.Ev2[i], l.Ev2[j] = l.Ev2[j], l.Ev2[i]
	if l.TID != nil {
		l.TID[i], l.TID[j] = l.TID[j], l.TID[i]
	}
	if l.State != nil {
		l.State[i], l.State[j] = l.State[j], l.State[i]
		l.CPU[i], l.CPU[j] = l.CPU[j], l.CPU[i]
	}
}

// sortLane puts the slices of l in order of start: CPU runs end (and are
// handed over) in the order of their ends.
func sortLane(l *Lane) {
	if !sort.IsSorted(laneSort{l}) {
		sort.Stable(laneSort{l})
	}
}
