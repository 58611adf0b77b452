// Package analyze computes summaries of a CTF trace recorded by bpftrail:
// CPU time and scheduling states per thread and process (from sched_switch
// and sched_wakeup), syscall counts and latencies (entry to exit on the same
// thread), the files opened (openat entries) and the events each CPU stream
// discarded. It reads both of bpftrail's layouts: tracefs names
// ("sched:sched_switch", "syscalls:sys_enter_openat") and the LTTng kernel
// preset ("sched_switch", "syscall_entry_openat"). The scheduling rules are
// those of [Sched], which the Chrome converter shares.
package analyze

import (
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
)

// Report is the result of [Run]. Durations are in ns.
type Report struct {
	Trace     string    `json:"trace"`
	Layout    string    `json:"layout"` // "tracefs", "lttng-kernel", "mixed" or "other"
	StartNs   int64     `json:"start_ns"`
	EndNs     int64     `json:"end_ns"`
	Events    uint64    `json:"events"`
	Switches  uint64    `json:"sched_switches"` // 0: no scheduling analysis possible
	Processes []Process `json:"processes"`
	Threads   []Thread  `json:"threads"`
	Syscalls  []Syscall `json:"syscalls"`
	Files     []File    `json:"files"`
	Streams   []Stream  `json:"streams"`
}

// Process is the CPU time and states of a process, summed over its threads.
type Process struct {
	PID        int    `json:"pid"`
	Comm       string `json:"comm"`
	Threads    int    `json:"threads"`
	RunningNs  int64  `json:"running_ns"`
	RunnableNs int64  `json:"runnable_ns"`
	BlockedNs  int64  `json:"blocked_ns"`
}

// Thread is the time a thread spent in each state, and its switches.
type Thread struct {
	TID        int    `json:"tid"`
	PID        int    `json:"pid"` // the thread id when no event told its process
	Comm       string `json:"comm"`
	RunningNs  int64  `json:"running_ns"`
	RunnableNs int64  `json:"runnable_ns"`
	BlockedNs  int64  `json:"blocked_ns"`
	Switches   uint64 `json:"switches"`  // times switched out
	Preempted  uint64 `json:"preempted"` // of which with prev_state R
	Wakeups    uint64 `json:"wakeups"`   // times woken while blocked
}

// Syscall is one syscall's counts and latencies in one process.
type Syscall struct {
	Name      string `json:"name"`
	PID       int    `json:"pid"`
	Comm      string `json:"comm"`
	Count     uint64 `json:"count"`     // entries (exits when no entry is recorded)
	Completed uint64 `json:"completed"` // entry→exit pairs, the latency population
	Errors    uint64 `json:"errors"`    // exits with ret < 0
	TotalNs   int64  `json:"total_ns"`
	P50Ns     int64  `json:"p50_ns"`
	P99Ns     int64  `json:"p99_ns"`
	MaxNs     int64  `json:"max_ns"`
}

// File is a path opened Count times (open, openat, openat2, creat entries).
type File struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// Stream is one CPU stream: how many events it holds and discarded.
type Stream struct {
	Stream    string `json:"stream"`
	CPU       int    `json:"cpu"`
	Events    uint64 `json:"events"`
	Discarded uint64 `json:"discarded"`
	Unknown   bool   `json:"may_have_discarded,omitempty"` // a first packet with a non-zero counter
	BusyNs    int64  `json:"busy_ns"`                      // time a thread other than idle ran on it
}

type thAcc struct {
	Thread
	pidKnown bool
}

type sysKey struct {
	name string
	pid  int
}

type sysAcc struct {
	Syscall
	durs    []int64
	noEntry bool // counted by exits: no entry event recorded
}

type pending struct {
	name  string
	pid   int
	start int64
}

// Run reads every event of t and computes the report.
func Run(t *ctf.Trace) (*Report, error) {
	a := newAcc()
	it := t.Events()
	defer it.Close()
	events := map[*ctf.Stream]uint64{}
	var lastStream *ctf.Stream
	var lastCount uint64
	first := true
	for it.Next() {
		ev := it.Event()
		if ev.Stream != lastStream {
			if lastStream != nil {
				events[lastStream] = lastCount
			}
			lastStream = ev.Stream
			lastCount = events[ev.Stream]
		}
		lastCount++
		if first {
			a.r.StartNs, first = ev.Ns, false
		}
		a.event(ev)
	}
	if lastStream != nil {
		events[lastStream] = lastCount
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	a.finish()
	r := a.r
	r.Trace = t.Dir
	for _, s := range t.Streams {
		st := Stream{Stream: filepath.Base(s.Path), CPU: s.CPU, Events: events[s]}
		for _, d := range s.Discarded {
			st.Discarded += d.Count
			st.Unknown = st.Unknown || d.Unknown
		}
		if s.CPU >= 0 {
			st.BusyNs = a.busy[s.CPU]
		}
		r.Streams = append(r.Streams, st)
	}
	return r, nil
}

type acc struct {
	r       *Report
	dec     Decoder
	sched   Sched
	threads map[int]*thAcc
	sys     map[sysKey]*sysAcc
	open    map[int]pending
	files   map[string]uint64
	busy    map[int]int64
	layouts map[string]bool
}

func newAcc() *acc {
	a := &acc{r: &Report{}, threads: map[int]*thAcc{}, sys: map[sysKey]*sysAcc{},
		open: map[int]pending{}, files: map[string]uint64{}, busy: map[int]int64{}, layouts: map[string]bool{}}
	a.sched.OnInterval = a.interval
	return a
}

func (a *acc) thread(tid int) *thAcc {
	t, ok := a.threads[tid]
	if !ok {
		t = &thAcc{Thread: Thread{TID: tid, PID: tid}}
		a.threads[tid] = t
	}
	return t
}

func (a *acc) interval(iv Interval) {
	t := a.thread(iv.TID)
	d := iv.End - iv.Start
	switch iv.State {
	case StateRunning:
		t.RunningNs += d
		a.busy[iv.CPU] += d
	case StateRunnable:
		t.RunnableNs += d
	case StateBlocked:
		t.BlockedNs += d
	}
}

// name notes a thread's comm (from a context, or a switch's comm fields
// when nothing better is known).
func (a *acc) name(tid int, comm []byte, weak bool) {
	if tid == 0 || len(comm) == 0 {
		return
	}
	t := a.thread(tid)
	if weak && t.Comm != "" {
		return
	}
	if t.Comm != string(comm) {
		t.Comm = string(comm)
	}
}

func (a *acc) event(ev *ctf.Event) {
	a.r.Events++
	if ev.Ns > a.r.EndNs {
		a.r.EndNs = ev.Ns
	}
	c := a.dec.Class(ev.Class)
	switch {
	case strings.Contains(ev.Class.Name, ":"):
		a.layouts["tracefs"] = true
	case c.Kind != KindOther:
		a.layouts["lttng-kernel"] = true
	}
	th, ok := a.dec.Emitter(ev, c)
	if ok && th.TID != 0 {
		t := a.thread(th.TID)
		t.PID, t.pidKnown = th.PID, true
		a.name(th.TID, th.Comm, false)
	}
	a.sched.Event(ev.CPU, ev.Ns)
	p := ev.Payload
	switch c.Kind {
	case KindSwitch:
		prev, _ := Int(p, c.PrevTID)
		next, _ := Int(p, c.NextTID)
		ps, _ := Int(p, c.PrevState)
		a.r.Switches++
		a.name(int(prev), Bytes(p, c.PrevComm), true)
		a.name(int(next), Bytes(p, c.NextComm), true)
		if prev != 0 {
			t := a.thread(int(prev))
			t.Switches++
			if StateAfterSwitch(ps) == StateRunnable {
				t.Preempted++
			}
		}
		a.sched.Switch(ev.CPU, ev.Ns, int(prev), int(next), ps)
	case KindWakeup:
		tid, _ := Int(p, c.TID)
		if tid != 0 {
			if st := a.sched.threads[int(tid)]; st != nil && st.state == StateBlocked {
				a.thread(int(tid)).Wakeups++
			}
		}
		a.sched.Wakeup(ev.Ns, int(tid))
	case KindSyscallEntry:
		if !ok {
			return
		}
		if c.Filename >= 0 && isOpen(c.Syscall) {
			if f := Bytes(p, c.Filename); len(f) > 0 {
				a.files[string(f)]++
			}
		}
		s := a.syscall(c.Syscall, th.PID, th.Comm)
		s.Count++
		a.open[th.TID] = pending{c.Syscall, th.PID, ev.Ns}
	case KindSyscallExit:
		if !ok {
			return
		}
		op, isOpen := a.open[th.TID]
		if !isOpen || op.name != c.Syscall {
			s := a.syscall(c.Syscall, th.PID, th.Comm)
			if s.Count == 0 {
				s.noEntry = true
			}
			if s.noEntry {
				s.Count++
			}
			a.countRet(s, p, c)
			return
		}
		delete(a.open, th.TID)
		s := a.syscall(op.name, op.pid, th.Comm)
		d := ev.Ns - op.start
		s.Completed++
		s.TotalNs += d
		s.durs = append(s.durs, d)
		a.countRet(s, p, c)
	}
}

func (a *acc) countRet(s *sysAcc, p ctf.Value, c *Class) {
	if ret, ok := Int(p, c.Ret); ok && ret < 0 {
		s.Errors++
	}
}

func isOpen(name string) bool {
	switch name {
	case "open", "openat", "openat2", "creat", "open_by_handle_at":
		return true
	}
	return false
}

func (a *acc) syscall(name string, pid int, comm []byte) *sysAcc {
	k := sysKey{name, pid}
	s, ok := a.sys[k]
	if !ok {
		s = &sysAcc{Syscall: Syscall{Name: name, PID: pid, Comm: string(comm)}}
		a.sys[k] = s
	}
	return s
}

func (a *acc) finish() {
	a.sched.Finish(a.r.EndNs)
	r := a.r
	switch len(a.layouts) {
	case 0:
		r.Layout = "other"
	case 1:
		for l := range a.layouts {
			r.Layout = l
		}
	default:
		r.Layout = "mixed"
	}
	procs := map[int]*Process{}
	for _, t := range a.threads {
		if t.TID == 0 {
			continue
		}
		r.Threads = append(r.Threads, t.Thread)
		p, ok := procs[t.PID]
		if !ok {
			p = &Process{PID: t.PID}
			procs[t.PID] = p
		}
		p.Threads++
		p.RunningNs += t.RunningNs
		p.RunnableNs += t.RunnableNs
		p.BlockedNs += t.BlockedNs
		if t.TID == t.PID || p.Comm == "" {
			p.Comm = t.Comm
		}
	}
	for _, t := range a.threads { // the main thread names the process
		if p := procs[t.PID]; p != nil && t.TID == t.PID && t.Comm != "" {
			p.Comm = t.Comm
		}
	}
	sort.Slice(r.Threads, func(i, j int) bool {
		a, b := r.Threads[i], r.Threads[j]
		if a.RunningNs != b.RunningNs {
			return a.RunningNs > b.RunningNs
		}
		return a.TID < b.TID
	})
	for _, p := range procs {
		r.Processes = append(r.Processes, *p)
	}
	sort.Slice(r.Processes, func(i, j int) bool {
		a, b := r.Processes[i], r.Processes[j]
		if a.RunningNs != b.RunningNs {
			return a.RunningNs > b.RunningNs
		}
		return a.PID < b.PID
	})
	for _, s := range a.sys {
		if len(s.durs) > 0 {
			sort.Slice(s.durs, func(i, j int) bool { return s.durs[i] < s.durs[j] })
			s.P50Ns = Percentile(s.durs, 50)
			s.P99Ns = Percentile(s.durs, 99)
			s.MaxNs = s.durs[len(s.durs)-1]
		}
		r.Syscalls = append(r.Syscalls, s.Syscall)
	}
	sort.Slice(r.Syscalls, func(i, j int) bool {
		a, b := r.Syscalls[i], r.Syscalls[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.PID < b.PID
	})
	for f, n := range a.files {
		r.Files = append(r.Files, File{f, n})
	}
	sort.Slice(r.Files, func(i, j int) bool {
		a, b := r.Files[i], r.Files[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Name < b.Name
	})
}

// Percentile returns the nearest-rank p-th percentile of sorted values.
func Percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}
