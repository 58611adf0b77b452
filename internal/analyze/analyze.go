// Package analyze is where a CTF trace recorded by bpftrail gets its
// meaning, for every reader of it (print, convert, analyze, view, report).
//
// [Walk] reads a trace once, in time order, and hands its consumers each
// event with its class (in both of bpftrail's layouts: tracefs names such as
// "sched:sched_switch" and "syscalls:sys_enter_openat", and LTTng's kernel
// layout, "sched_switch" and "syscall_entry_openat", after package lttng)
// and the thread that emitted it, the scheduling intervals of every thread
// (Running, Runnable, Blocked; rules of [Sched]), syscall entry/exit pairs
// (rules of [SyscallPair]) and stack samples ([Sample]). [Durations] turns
// durations into latency summaries ([Latency]).
//
// [Analysis] is the consumer that computes the [Report] of "bpftrail
// analyze": CPU time and scheduling states per thread and process, syscall
// counts and latencies, the files opened and the events each CPU stream
// discarded.
package analyze

import (
	"sort"
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
)

// Version identifies the layout and the rules of the [Report]: an analysis
// saved by another version is computed again.
const Version = 2

// Report is the result of [Run]. Durations are in ns.
type Report struct {
	Trace     string           `json:"trace"`
	Layout    string           `json:"layout"` // "tracefs", "lttng-kernel", "mixed" or "other"
	StartNs   int64            `json:"start_ns"`
	EndNs     int64            `json:"end_ns"`
	Events    uint64           `json:"events"`
	Switches  uint64           `json:"sched_switches"` // 0: no scheduling analysis possible
	Processes []Process        `json:"processes"`
	Threads   []ThreadStates   `json:"threads"`
	Syscalls  []Syscall        `json:"syscalls"`
	Latencies []SyscallLatency `json:"latencies"` // per syscall, every process
	Files     []File           `json:"files"`
	Streams   []Stream         `json:"streams"`
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

// ThreadStates is the time a thread spent in each state, and its switches.
type ThreadStates struct {
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
	Count     uint64 `json:"count"`     // calls: entries, and exits whose entry was not recorded
	Completed uint64 `json:"completed"` // entry→exit pairs, the latency population
	Errors    uint64 `json:"errors"`    // exits with ret < 0
	TotalNs   int64  `json:"total_ns"`
	MinNs     int64  `json:"min_ns"`
	P50Ns     int64  `json:"p50_ns"`
	P90Ns     int64  `json:"p90_ns"`
	P99Ns     int64  `json:"p99_ns"`
	MaxNs     int64  `json:"max_ns"`
}

// SyscallLatency is the latency of one syscall's completed pairs in every
// process.
type SyscallLatency struct {
	Name string `json:"name"`
	Latency
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

// Run walks t and computes its report.
func Run(t *ctf.Trace) (*Report, error) {
	a := NewAnalysis()
	w, err := Walk(t, a)
	if err != nil {
		return nil, err
	}
	return a.Report(t, w), nil
}

// Analysis is the [Consumer] that computes a [Report]; hand it to [Walk]
// (with other consumers, to read the trace once for all of them), then
// call [Analysis.Report].
type Analysis struct {
	layouts  map[string]bool
	switches uint64
	threads  map[int]*ThreadStates
	sys      map[sysKey]*sysAcc
	byName   map[string]*Durations
	files    map[string]*uint64
	busy     map[int]int64
}

type sysKey struct {
	name string
	pid  int
}

type sysAcc struct {
	Syscall
	durs Durations
}

// NewAnalysis returns an empty analysis.
func NewAnalysis() *Analysis {
	return &Analysis{layouts: map[string]bool{}, threads: map[int]*ThreadStates{}, sys: map[sysKey]*sysAcc{},
		byName: map[string]*Durations{}, files: map[string]*uint64{}, busy: map[int]int64{}}
}

func (a *Analysis) thread(tid int) *ThreadStates {
	t, ok := a.threads[tid]
	if !ok {
		t = &ThreadStates{TID: tid}
		a.threads[tid] = t
	}
	return t
}

// Event counts the layouts, the switches and the files opened.
func (a *Analysis) Event(e *Event) {
	c := e.Class
	switch {
	case strings.Contains(c.Name, ":"):
		a.layouts["tracefs"] = true
	case c.LTTng:
		a.layouts["lttng-kernel"] = true
	}
	switch c.Kind {
	case KindSwitch:
		a.switches++
		if e.Prev != 0 {
			t := a.thread(e.Prev)
			t.Switches++
			if StateAfterSwitch(e.PrevState) == StateRunnable {
				t.Preempted++
			}
		}
	case KindSyscallEntry:
		if e.Thread != nil && c.Filename >= 0 && isOpen(c.Syscall) {
			if f := Bytes(e.CTF.Payload, c.Filename); len(f) > 0 {
				// Looked up without copying the name; copied once.
				n := a.files[string(f)]
				if n == nil {
					n = new(uint64)
					a.files[string(f)] = n
				}
				*n++
			}
		}
	}
}

// Interval adds a thread's time in a state, and a CPU's busy time.
func (a *Analysis) Interval(iv Interval) {
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
		if iv.Woken {
			t.Wakeups++
		}
	}
}

// Syscall counts a call, its error and its latency.
func (a *Analysis) Syscall(p *SyscallPair) {
	k := sysKey{p.Name, p.PID}
	s, ok := a.sys[k]
	if !ok {
		s = &sysAcc{Syscall: Syscall{Name: p.Name, PID: p.PID, Comm: p.Thread.Comm}}
		a.sys[k] = s
	}
	s.Count++
	if p.HasRet && p.Ret < 0 {
		s.Errors++
	}
	if p.End == Completed {
		s.Completed++
		s.durs.Add(p.Duration())
		d := a.byName[p.Name]
		if d == nil {
			d = &Durations{}
			a.byName[p.Name] = d
		}
		d.Add(p.Duration())
	}
}

func isOpen(name string) bool {
	switch name {
	case "open", "openat", "openat2", "creat", "open_by_handle_at":
		return true
	}
	return false
}

// Report returns the report of trace t, walked as w.
func (a *Analysis) Report(t *ctf.Trace, w Walked) *Report {
	r := &Report{Trace: t.Dir, Layout: a.layout(), StartNs: w.StartNs, EndNs: w.EndNs,
		Events: uint64(w.Events), Switches: a.switches}
	a.threadsAndProcesses(r, w.Threads)
	a.syscalls(r)
	for f, n := range a.files {
		r.Files = append(r.Files, File{f, *n})
	}
	sort.Slice(r.Files, func(i, j int) bool {
		a, b := r.Files[i], r.Files[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Name < b.Name
	})
	for _, s := range t.Streams {
		st := Stream{Stream: t.StreamName(s), CPU: s.CPU, Events: w.StreamEvents[s]}
		for _, d := range s.Discarded {
			st.Discarded += d.Count
			st.Unknown = st.Unknown || d.Unknown
		}
		if s.CPU >= 0 {
			st.BusyNs = a.busy[s.CPU]
		}
		r.Streams = append(r.Streams, st)
	}
	return r
}

func (a *Analysis) layout() string {
	switch len(a.layouts) {
	case 0:
		return "other"
	case 1:
		for l := range a.layouts {
			return l
		}
	}
	return "mixed"
}

// threadsAndProcesses fills the thread and process tables, busiest first.
func (a *Analysis) threadsAndProcesses(r *Report, threads []*Thread) {
	procs := map[int]*Process{}
	for _, th := range threads {
		if th.TID == 0 {
			continue
		}
		t := a.thread(th.TID)
		t.PID, t.Comm = th.PID, th.Comm
		r.Threads = append(r.Threads, *t)
		p, ok := procs[t.PID]
		if !ok {
			p = &Process{PID: t.PID}
			procs[t.PID] = p
		}
		p.Threads++
		p.RunningNs += t.RunningNs
		p.RunnableNs += t.RunnableNs
		p.BlockedNs += t.BlockedNs
		if p.Comm == "" {
			p.Comm = t.Comm
		}
	}
	for _, t := range threads { // the main thread names the process
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
}

// syscalls fills the syscall tables: per process, most called first, and
// per syscall.
func (a *Analysis) syscalls(r *Report) {
	for _, s := range a.sys {
		if s.durs.Len() > 0 {
			l := s.durs.Latency()
			s.TotalNs, s.MinNs, s.P50Ns, s.P90Ns, s.P99Ns, s.MaxNs = l.Sum, l.Min, l.P50, l.P90, l.P99, l.Max
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
	for name, d := range a.byName {
		r.Latencies = append(r.Latencies, SyscallLatency{Name: name, Latency: d.Latency()})
	}
	sort.Slice(r.Latencies, func(i, j int) bool { return r.Latencies[i].Name < r.Latencies[j].Name })
}
