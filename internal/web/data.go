// Package web turns a CTF trace into the data of bpftrail's trace viewer
// (timeline, event table, latency histograms, flame graph) and serves it,
// with the viewer's embedded assets, to a browser ("bpftrail view") or
// inlines everything in one HTML file ("bpftrail report").
//
// The view data is columnar JSON: per lane of a track, arrays of starts,
// durations, name ids (into one string table) and event indexes, so that a
// trace of millions of events loads with one JSON.parse and is drawn with a
// level of detail (slices narrower than a pixel are merged).
package web

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
)

// Version identifies the layout of the view data; a cache written with
// another version is rebuilt.
const Version = 2

// Field kinds in [Class.Kinds].
const (
	KindInt    = 'i' // integer (JSON number, or a decimal string beyond ±2^53)
	KindHex    = 'x' // integer shown in hexadecimal
	KindFloat  = 'f' // floating point
	KindString = 's' // string id
)

// Data is the view data of a trace.
type Data struct {
	Version   int    `json:"version"`
	Source    string `json:"source"` // hash of the trace files it was built from (see Prepare)
	Name      string `json:"name"`
	Origin    int64  `json:"origin"` // ns since the clock's origin of time 0 (the first event)
	Duration  int64  `json:"duration"`
	Events    int    `json:"events"`
	Discarded uint64 `json:"discarded"`
	CPUs      []int  `json:"cpus"`

	Strings []string `json:"strings"`
	Classes []*Class `json:"classes"`
	// Per event (in time order): time (ns since Origin), CPU, thread, class.
	T   []int64 `json:"-"`
	CPU []int32 `json:"-"`
	TID []int32 `json:"-"`
	Cls []int32 `json:"-"`

	Threads    []*Thread        `json:"-"`
	Tracks     []*Track         `json:"-"`
	Latency    []*Latency       `json:"latency"`
	Aggregates json.RawMessage  `json:"-"`
	Flame      *Flame           `json:"-"`
	Notes      []string         `json:"notes"`
	strIndex   map[string]int32 `json:"-"`
}

// Class is an event class and its fields, stored column by column: Cols[f]
// holds the value of field f for each event of the class, in event order.
type Class struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
	Kinds  string   `json:"kinds"`
	Count  int      `json:"count"`
	Cols   []Column `json:"-"`

	fieldIdx []int // member index in the payload struct
	kinds    []byte
}

// Column is one field's values: integers (string ids for KindString).
type Column struct {
	Unsigned bool // Ints hold uint64 bits
	Ints     []int64
	Floats   []float64
}

// Thread describes a thread seen in the trace.
type Thread struct {
	TID, PID int32
	Comm     int32 // string id
}

// Track is a row group of the timeline: one CPU or one thread.
type Track struct {
	Kind  string // "cpu" or "thread"
	Name  string
	CPU   int
	TID   int32
	PID   int32
	Lanes []*Lane
	// Markers: instant events of the thread.
	MarkT  []int64
	MarkNm []int32
	MarkEv []int64
}

// Lane is one row of non-overlapping slices sorted by start.
type Lane struct {
	Name string
	// Derived lanes are left out of the JSON: the viewer rebuilds them (a
	// thread's "running" lane is the CPU lanes' slices of that thread).
	Derived bool
	Start   []int64
	Dur     []int64
	Nm      []int32 // string id of the slice's name
	Ev      []int64 // event that starts the slice (switch in, syscall entry); -1 if before the trace
	Ev2     []int64 // event that ends the slice (switch out, syscall exit); -1 if after the trace
	TID     []int32 // thread of a CPU slice
}

// Latency summarizes the durations of one syscall.
type Latency struct {
	Name    string     `json:"name"`
	Count   int        `json:"count"`
	Sum     int64      `json:"sum"`
	Min     int64      `json:"min"`
	Max     int64      `json:"max"`
	P50     int64      `json:"p50"`
	P90     int64      `json:"p90"`
	P99     int64      `json:"p99"`
	Buckets [][2]int64 `json:"buckets"` // [log2 of the bucket's low bound (0 for [0,2)), count]
}

// Flame is the tree of sampled stacks, nodes in pre-order.
type Flame struct {
	Samples int
	Nm      []int32 // string id of the frame
	Parent  []int32 // -1 for the root
	Value   []int64 // samples in the node and below
	Self    []int64 // samples whose leaf is the node
}

func (d *Data) str(s string) int32 {
	if i, ok := d.strIndex[s]; ok {
		return i
	}
	i := int32(len(d.Strings))
	d.Strings = append(d.Strings, s)
	d.strIndex[s] = i
	return i
}

// Options tune [Build].
type Options struct {
	// MaxFieldEvents bounds the events whose fields are kept (0: 4,000,000);
	// beyond it only time, CPU, thread and name are kept per event.
	MaxFieldEvents int
}

// syscallName splits a syscall entry or exit event name.
func syscallName(name string) (sc string, entry, ok bool) {
	switch {
	case strings.HasPrefix(name, "syscalls:sys_enter_"):
		return name[len("syscalls:sys_enter_"):], true, true
	case strings.HasPrefix(name, "syscalls:sys_exit_"):
		return name[len("syscalls:sys_exit_"):], false, true
	case strings.HasPrefix(name, "syscall_entry_"):
		return name[len("syscall_entry_"):], true, true
	case strings.HasPrefix(name, "syscall_exit_"):
		return name[len("syscall_exit_"):], false, true
	case strings.HasPrefix(name, "compat_syscall_entry_"):
		return name[len("compat_syscall_entry_"):], true, true
	case strings.HasPrefix(name, "compat_syscall_exit_"):
		return name[len("compat_syscall_exit_"):], false, true
	}
	return "", false, false
}

func baseName(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// evClass is the builder's state for one event class.
type evClass struct {
	id      int32
	c       *Class
	switchF bool // sched_switch
	prevTID int  // member indexes, -1 if absent
	nextTID int
	prevCom int
	nextCom int
	prevSt  int    // prev_state
	wakeup  bool   // sched_wakeup[_new]: wakes pPID/pTID (tracefs "pid", LTTng "tid")
	sc      string // syscall name
	scEntry bool
	isSC    bool
	stack   int // member index of a "stack" string sequence, -1 if none
	// Payload members pid, tid, comm, used when the stream context has no
	// tid (traces whose events carry them as fields); -1 if absent.
	pPID, pTID, pComm int
	nameID            int32
}

type pending struct {
	t  int64
	ev int64
	sc string
}

type cpuState struct {
	lane     *Lane
	curTID   int32
	curStart int64
	curEv    int64
	curName  int32
	seen     bool
}

type runState struct {
	start int64
	cpu   int
	ev    int64
}

// Build reads the trace in dir and computes its view data.
func Build(dir string, opt Options) (*Data, error) {
	if opt.MaxFieldEvents <= 0 {
		opt.MaxFieldEvents = 4_000_000
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		return nil, err
	}
	d := &Data{Version: Version, Name: traceName(dir), strIndex: map[string]int32{}, Discarded: tr.DiscardedTotal()}
	d.str("")
	classes := map[*ctf.EventClass]*evClass{}
	threads := map[int32]*Thread{}
	threadOf := func(tid int32) *Thread {
		th := threads[tid]
		if th == nil {
			th = &Thread{TID: tid, PID: -1, Comm: 0}
			threads[tid] = th
		}
		return th
	}
	tracks := map[int32]*Track{}
	trackOf := func(tid int32) *Track {
		tk := tracks[tid]
		if tk == nil {
			tk = &Track{Kind: "thread", TID: tid, Lanes: []*Lane{{Name: "running", Derived: true}, {Name: "runnable"}, {Name: "syscalls"}}}
			tracks[tid] = tk
		}
		return tk
	}
	cpus := map[int]*cpuState{}
	running := map[int32]runState{} // thread → when it got a CPU
	pend := map[int32]pending{}     // thread → syscall in progress
	waiting := map[int32]pending{}  // thread → since when it waits for a CPU
	durs := map[string][]int64{}
	var flame *flameBuilder
	fieldsCut := false

	it := tr.Events()
	defer it.Close()
	var origin int64
	var last int64
	n := int64(0)
	for it.Next() {
		e := it.Event()
		if n == 0 {
			origin = e.Ns
		}
		t := e.Ns - origin
		if t < last {
			t = last // merged order is by time; keep it monotonic regardless
		}
		last = t
		ec := classes[e.Class]
		if ec == nil {
			ec = d.newClass(e.Class)
			classes[e.Class] = ec
		}
		var pid, tid int32 = -1, -1
		var comm []byte
		if v, ok := e.StreamContext.Get("tid"); ok {
			tid = int32(v.Int)
		}
		if v, ok := e.StreamContext.Get("pid"); ok {
			pid = int32(v.Int)
		}
		if v, ok := e.StreamContext.Get("comm"); ok {
			comm = v.Bytes
		}
		if tid < 0 && ec.pTID >= 0 {
			tid = int32(member(&e.Payload, ec.pTID).Int)
			if ec.pPID >= 0 {
				pid = int32(member(&e.Payload, ec.pPID).Int)
			}
			if ec.pComm >= 0 {
				comm = member(&e.Payload, ec.pComm).Bytes
			}
		}
		cpu := e.CPU
		if cpu < 0 && e.Stream != nil {
			cpu = e.Stream.CPU
		}
		d.T = append(d.T, t)
		d.CPU = append(d.CPU, int32(cpu))
		d.TID = append(d.TID, tid)
		d.Cls = append(d.Cls, ec.id)
		if tid >= 0 {
			th := threadOf(tid)
			if pid >= 0 {
				th.PID = pid
			}
			if len(comm) > 0 {
				th.Comm = d.str(string(comm))
			}
		}
		if int(n) < opt.MaxFieldEvents {
			d.storeFields(ec, &e.Payload)
		} else if !fieldsCut {
			fieldsCut = true
			d.Notes = append(d.Notes, fmt.Sprintf("fields are kept for the first %d events only", opt.MaxFieldEvents))
		}
		ev := n
		n++

		switch {
		case ec.switchF:
			nextTID := int32(member(&e.Payload, ec.nextTID).Int)
			prevTID := int32(member(&e.Payload, ec.prevTID).Int)
			nextCom := member(&e.Payload, ec.nextCom).Bytes
			prevCom := member(&e.Payload, ec.prevCom).Bytes
			if nextTID > 0 && len(nextCom) > 0 {
				th := threadOf(nextTID)
				if th.Comm == 0 {
					th.Comm = d.str(string(nextCom))
				}
			}
			cs := cpus[cpu]
			if cs == nil {
				cs = &cpuState{lane: &Lane{Name: "running"}}
				cpus[cpu] = cs
			}
			if !cs.seen {
				// The previous task ran since the start of the trace.
				cs.seen = true
				cs.curTID, cs.curStart, cs.curEv = prevTID, 0, -1
				cs.curName = d.str(string(prevCom))
				if prevTID > 0 {
					running[prevTID] = runState{start: 0, cpu: cpu, ev: -1}
					if th := threadOf(prevTID); th.Comm == 0 && len(prevCom) > 0 {
						th.Comm = d.str(string(prevCom))
					}
				}
			}
			if cs.curTID > 0 {
				addSlice(cs.lane, cs.curStart, t, cs.curName, cs.curEv, ev, cs.curTID)
			}
			if prevTID > 0 {
				if rs, ok := running[prevTID]; ok {
					addSlice(trackOf(prevTID).Lanes[0], rs.start, t, d.str("CPU "+strconv.Itoa(rs.cpu)), rs.ev, ev, -1)
					delete(running, prevTID)
				}
			}
			// Thread states: a thread switched out in state 0 (or
			// TASK_REPORT_MAX, "R+") was preempted and stays runnable.
			if prevTID > 0 && ec.prevSt >= 0 && member(&e.Payload, ec.prevSt).Int&0xff == 0 {
				waiting[prevTID] = pending{t: t, ev: ev, sc: "preempted"}
			}
			if nextTID > 0 {
				if w, ok := waiting[nextTID]; ok {
					addSlice(trackOf(nextTID).Lanes[1], w.t, t, d.str("runnable ("+w.sc+")"), w.ev, ev, -1)
					delete(waiting, nextTID)
				}
			}
			cs.curTID, cs.curStart, cs.curEv = nextTID, t, ev
			cs.curName = d.str(string(nextCom))
			if nextTID > 0 {
				running[nextTID] = runState{start: t, cpu: cpu, ev: ev}
			}
		case ec.isSC && tid >= 0:
			if ec.scEntry {
				pend[tid] = pending{t: t, ev: ev, sc: ec.sc}
			} else if p, ok := pend[tid]; ok && p.sc == ec.sc {
				delete(pend, tid)
				addSlice(trackOf(tid).Lanes[2], p.t, t, d.str(ec.sc), p.ev, ev, -1)
				durs[ec.sc] = append(durs[ec.sc], t-p.t)
			}
		default:
			if ec.wakeup {
				// Woken: runnable until switched in (unless it runs already).
				target := int32(member(&e.Payload, ec.pTID).Int)
				if ec.pTID < 0 {
					target = int32(member(&e.Payload, ec.pPID).Int)
				}
				if _, run := running[target]; target > 0 && !run {
					if _, ok := waiting[target]; !ok {
						waiting[target] = pending{t: t, ev: ev, sc: "woken"}
					}
				}
			}
			if tid >= 0 {
				tk := trackOf(tid)
				tk.MarkT = append(tk.MarkT, t)
				tk.MarkNm = append(tk.MarkNm, ec.nameID)
				tk.MarkEv = append(tk.MarkEv, ev)
			}
			if ec.stack >= 0 {
				if flame == nil {
					flame = newFlameBuilder(d)
				}
				flame.add(member(&e.Payload, ec.stack))
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	d.Events = int(n)
	d.Duration = last
	d.Origin = origin

	// Close what still runs at the end of the trace.
	var cpuIDs []int
	for c := range cpus {
		cpuIDs = append(cpuIDs, c)
	}
	sort.Ints(cpuIDs)
	for _, c := range cpuIDs {
		cs := cpus[c]
		if cs.curTID > 0 {
			addSlice(cs.lane, cs.curStart, last, cs.curName, cs.curEv, -1, cs.curTID)
		}
		d.Tracks = append(d.Tracks, &Track{Kind: "cpu", Name: "CPU " + strconv.Itoa(c), CPU: c, TID: -1, PID: -1, Lanes: []*Lane{cs.lane}})
	}
	for tid, rs := range running {
		addSlice(trackOf(tid).Lanes[0], rs.start, last, d.str("CPU "+strconv.Itoa(rs.cpu)), rs.ev, -1, -1)
	}
	// CPUs of the trace (streams), also those without a sched_switch.
	seen := map[int]bool{}
	for _, s := range tr.Streams {
		if s.CPU >= 0 && !seen[s.CPU] {
			seen[s.CPU] = true
			d.CPUs = append(d.CPUs, s.CPU)
		}
	}
	sort.Ints(d.CPUs)

	// Thread tracks, grouped by process.
	var tids []int32
	for tid := range tracks {
		tids = append(tids, tid)
	}
	sort.Slice(tids, func(i, j int) bool {
		a, b := threadOf(tids[i]), threadOf(tids[j])
		pa, pb := a.PID, b.PID
		if pa < 0 {
			pa = a.TID
		}
		if pb < 0 {
			pb = b.TID
		}
		if pa != pb {
			return pa < pb
		}
		return a.TID < b.TID
	})
	for _, tid := range tids {
		tk := tracks[tid]
		th := threadOf(tid)
		tk.PID = th.PID
		tk.Name = fmt.Sprintf("%s %d", d.Strings[th.Comm], tid)
		// Running slices were closed out of order (by switch-out time);
		// they do not overlap, so sorting by start restores lane order.
		sortLane(tk.Lanes[0])
		var lanes []*Lane
		for _, l := range tk.Lanes {
			if len(l.Start) > 0 {
				lanes = append(lanes, l)
			}
		}
		tk.Lanes = lanes
		d.Tracks = append(d.Tracks, tk)
	}
	for _, th := range threads {
		d.Threads = append(d.Threads, th)
	}
	sort.Slice(d.Threads, func(i, j int) bool { return d.Threads[i].TID < d.Threads[j].TID })

	// Syscall latencies.
	var names []string
	for sc := range durs {
		names = append(names, sc)
	}
	sort.Strings(names)
	for _, sc := range names {
		d.Latency = append(d.Latency, latency(sc, durs[sc]))
	}
	if flame != nil {
		d.Flame = flame.finish()
	}
	for _, c := range d.Classes {
		c.kinds = nil
	}
	return d, nil
}

func traceName(dir string) string {
	s := strings.TrimRight(dir, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" || s == "." {
		if wd, err := os.Getwd(); err == nil {
			return traceName(wd)
		}
	}
	return s
}

func member(v *ctf.Value, i int) ctf.Value {
	if i < 0 || i >= len(v.Elems) {
		return ctf.Value{}
	}
	return v.Elems[i]
}

func addSlice(l *Lane, start, end int64, nm int32, ev, ev2 int64, tid int32) {
	if end < start {
		end = start
	}
	l.Start = append(l.Start, start)
	l.Dur = append(l.Dur, end-start)
	l.Nm = append(l.Nm, nm)
	l.Ev = append(l.Ev, ev)
	l.Ev2 = append(l.Ev2, ev2)
	if tid >= 0 || l.TID != nil {
		for len(l.TID) < len(l.Start)-1 {
			l.TID = append(l.TID, -1)
		}
		l.TID = append(l.TID, tid)
	}
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
}

func sortLane(l *Lane) {
	if !sort.IsSorted(laneSort{l}) {
		sort.Stable(laneSort{l})
	}
}

// newClass declares the event class of ec in d.
func (d *Data) newClass(ec *ctf.EventClass) *evClass {
	c := &Class{Name: ec.Name}
	x := &evClass{id: int32(len(d.Classes)), c: c, prevTID: -1, nextTID: -1, prevCom: -1, nextCom: -1, prevSt: -1, stack: -1, pPID: -1, pTID: -1, pComm: -1}
	x.nameID = d.str(ec.Name)
	if ec.Fields != nil {
		for i, f := range ec.Fields.Fields {
			name := ctf.StripName(f.Name)
			switch name {
			case "prev_tid", "prev_pid":
				if x.prevTID < 0 || name == "prev_tid" {
					x.prevTID = i
				}
			case "next_tid", "next_pid":
				if x.nextTID < 0 || name == "next_tid" {
					x.nextTID = i
				}
			case "prev_comm":
				x.prevCom = i
			case "prev_state":
				x.prevSt = i
			case "pid":
				x.pPID = i
			case "tid":
				x.pTID = i
			case "comm":
				x.pComm = i
			case "next_comm":
				x.nextCom = i
			case "stack":
				if t := f.Type; t != nil && (t.Kind == ctf.KindSequence || t.Kind == ctf.KindArray) && t.Elem != nil && t.Elem.Kind == ctf.KindString {
					x.stack = i
				}
			}
			if strings.HasPrefix(name, "_") {
				continue // lengths of sequences, __syscall_nr
			}
			k := byte(KindString)
			switch t := f.Type; {
			case t == nil:
				continue
			case t.Kind == ctf.KindInteger:
				k = KindInt
				if t.Base == 16 {
					k = KindHex
				}
			case t.Kind == ctf.KindEnum && t.Container != nil:
				k = KindString
			case t.Kind == ctf.KindFloat:
				k = KindFloat
			}
			c.Fields = append(c.Fields, name)
			c.fieldIdx = append(c.fieldIdx, i)
			c.kinds = append(c.kinds, k)
		}
	}
	c.Kinds = string(c.kinds)
	c.Cols = make([]Column, len(c.Fields))
	for j, i := range c.fieldIdx {
		if t := ec.Fields.Fields[i].Type; t.Kind == ctf.KindInteger && !t.Signed {
			c.Cols[j].Unsigned = true
		}
	}
	x.switchF = baseName(ec.Name) == "sched_switch" && x.nextTID >= 0 && x.prevTID >= 0
	x.sc, x.scEntry, x.isSC = syscallName(ec.Name)
	if b := baseName(ec.Name); (b == "sched_wakeup" || b == "sched_wakeup_new") && (x.pTID >= 0 || x.pPID >= 0) {
		x.wakeup = true
	}
	d.Classes = append(d.Classes, c)
	return x
}

// storeFields appends the payload's fields to the columns of its class.
func (d *Data) storeFields(x *evClass, p *ctf.Value) {
	c := x.c
	c.Count++
	for j, i := range c.fieldIdx {
		v := member(p, i)
		col := &c.Cols[j]
		switch c.kinds[j] {
		case KindInt, KindHex:
			if col.Unsigned {
				col.Ints = append(col.Ints, int64(v.Uint))
			} else {
				col.Ints = append(col.Ints, v.Int)
			}
		case KindFloat:
			col.Floats = append(col.Floats, v.Float)
		default:
			col.Ints = append(col.Ints, int64(d.str(valueText(v))))
		}
	}
}

// valueText formats a non-numeric field: strings as they are, string
// sequences one per line, other values as JSON.
func valueText(v ctf.Value) string {
	if v.Type == nil {
		return ""
	}
	switch v.Type.Kind {
	case ctf.KindString:
		return string(v.Bytes)
	case ctf.KindEnum:
		if v.Label != "" {
			return v.Label
		}
		return strconv.FormatInt(v.Int, 10)
	case ctf.KindArray, ctf.KindSequence:
		if v.Type.IsText() {
			return string(v.Bytes)
		}
		if v.Type.Elem != nil && v.Type.Elem.Kind == ctf.KindString {
			parts := make([]string, len(v.Elems))
			for i := range v.Elems {
				parts[i] = string(v.Elems[i].Bytes)
			}
			return strings.Join(parts, "\n")
		}
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return v.String()
	}
	return string(b)
}

func latency(name string, ds []int64) *Latency {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	l := &Latency{Name: name, Count: len(ds), Min: ds[0], Max: ds[len(ds)-1]}
	pct := func(p float64) int64 {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		if i < 0 {
			i = 0
		}
		return ds[i]
	}
	l.P50, l.P90, l.P99 = pct(0.50), pct(0.90), pct(0.99)
	var counts [64]int64
	for _, v := range ds {
		l.Sum += v
		b := 0
		if v >= 2 {
			b = 63 - bits.LeadingZeros64(uint64(v))
		}
		counts[b]++
	}
	lo, hi := 63, 0
	for b, c := range counts {
		if c > 0 {
			lo, hi = min(lo, b), max(hi, b)
		}
	}
	for b := lo; b <= hi; b++ {
		l.Buckets = append(l.Buckets, [2]int64{int64(b), counts[b]})
	}
	return l
}

// flameBuilder merges stacks into a tree.
type flameBuilder struct {
	d     *Data
	nodes []flameNode
	kids  map[[2]int32]int32 // (parent, name) → node
	n     int
}

type flameNode struct {
	nm, parent  int32
	value, self int64
}

func newFlameBuilder(d *Data) *flameBuilder {
	f := &flameBuilder{d: d, kids: map[[2]int32]int32{}}
	f.nodes = append(f.nodes, flameNode{nm: d.str("all"), parent: -1})
	return f
}

// frameOffset matches the "+0x1f" offset of a symbolized frame.
var frameOffset = regexp.MustCompile(`\+0x[0-9a-fA-F]+( |$)`)

// frameName is a frame without its offset inside the function, so that
// samples of one function merge.
func frameName(s string) string {
	if i := strings.Index(s, "+0x"); i >= 0 {
		return frameOffset.ReplaceAllString(s, "$1")
	}
	return s
}

// add adds one stack, leaf first.
func (f *flameBuilder) add(stack ctf.Value) {
	f.n++
	cur := int32(0)
	f.nodes[0].value++
	for i := len(stack.Elems) - 1; i >= 0; i-- {
		nm := f.d.str(frameName(string(stack.Elems[i].Bytes)))
		k := [2]int32{cur, nm}
		c, ok := f.kids[k]
		if !ok {
			c = int32(len(f.nodes))
			f.nodes = append(f.nodes, flameNode{nm: nm, parent: cur})
			f.kids[k] = c
		}
		f.nodes[c].value++
		cur = c
	}
	f.nodes[cur].self++
}

// finish lays the tree out in pre-order, children by name.
func (f *flameBuilder) finish() *Flame {
	children := make([][]int32, len(f.nodes))
	for i := 1; i < len(f.nodes); i++ {
		p := f.nodes[i].parent
		children[p] = append(children[p], int32(i))
	}
	out := &Flame{Samples: f.n}
	var walk func(i, parent int32)
	walk = func(i, parent int32) {
		idx := int32(len(out.Nm))
		nd := f.nodes[i]
		out.Nm = append(out.Nm, nd.nm)
		out.Parent = append(out.Parent, parent)
		out.Value = append(out.Value, nd.value)
		out.Self = append(out.Self, nd.self)
		ks := children[i]
		sort.Slice(ks, func(a, b int) bool { return f.d.Strings[f.nodes[ks[a]].nm] < f.d.Strings[f.nodes[ks[b]].nm] })
		for _, k := range ks {
			walk(k, idx)
		}
	}
	walk(0, -1)
	return out
}
