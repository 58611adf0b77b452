// Package chrome converts a CTF trace into the Chrome Trace Event Format
// (JSON), which chrome://tracing and the Perfetto UI open. It streams: the
// events are read in time order and written one by one, keeping only
// per-thread and per-CPU state.
//
// What is written:
//   - process_name / thread_name metadata ("M") from the comm of the events;
//   - one synthetic process per CPU ("CPU N", pid CPUPID(N)) with a complete
//     ("X") slice per thread run, from sched_switch;
//   - per thread, a state track (tid StateTID(tid), in the thread's process)
//     with Running, Runnable and Blocked slices;
//   - syscalls as B/E slices on the thread's track, with the entry's
//     arguments on B and the exit's ret on E (an E whose exit is missing
//     says why: "exit_missing", or "unfinished" at the end of the trace);
//   - every other event as a thread-scoped instant ("i", "s":"t") with its
//     fields as args (on the CPU's track when the event has no thread);
//   - discarded events as global instants ("s":"g") with their count.
//
// The states, threads and syscall pairs are those of analyze.Walk, which
// every reader of a trace shares. Timestamps are microseconds relative to
// the first event, written with three decimals so that they keep ns
// precision.
package chrome

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// Synthetic ids, above Linux's largest pid (PID_MAX_LIMIT, 1<<22).
const (
	cpuPIDBase   = 1 << 24
	stateTIDBase = 1 << 25
)

// CPUPID is the pid (and tid) of the synthetic process of a CPU.
func CPUPID(cpu int) int { return cpuPIDBase + cpu }

// StateTID is the tid of the state track of thread tid.
func StateTID(tid int) int { return stateTIDBase + tid }

// Stats counts what a conversion read and wrote.
type Stats struct {
	Events  uint64 // events read
	Written uint64 // Chrome events written
}

// track is what was written of a thread's tracks: the process and comm its
// thread_name metadata was written with, -1 and "" when not yet.
type track struct {
	metaPID   int
	metaComm  string
	statePID  int // the same for its state track
	stateComm string
}

type process struct {
	name     string
	fromMain bool
	written  bool
}

// converter is the [analyze.Consumer] that writes the Chrome events.
type converter struct {
	w      *bufio.Writer
	b      []byte
	n      uint64
	base   int64
	tracks map[int]*track
	procs  map[int]*process
	cpus   map[int]bool
	err    error
}

// Convert writes t to w as Chrome Trace Event JSON.
func Convert(w io.Writer, t *ctf.Trace) (Stats, error) {
	c := &converter{
		w:      bufio.NewWriterSize(w, 1<<20),
		tracks: map[int]*track{},
		procs:  map[int]*process{},
		cpus:   map[int]bool{},
		b:      make([]byte, 0, 4096),
	}
	c.w.WriteString(`{"displayTimeUnit":"ns","traceEvents":[`)
	walked, err := analyze.Walk(t, c)
	st := Stats{Events: uint64(walked.Events)}
	if err != nil {
		return st, err
	}
	c.discarded(t)
	if err := c.counters(t.Dir); err != nil {
		return st, err
	}
	c.flush()
	c.b = append(c.b[:0], "\n],\"otherData\":{\"source\":"...)
	c.b = appendString(c.b, filepath.Base(t.Dir))
	c.b = append(c.b, ",\"ts0_unix_ns\":"...)
	c.b = strconv.AppendInt(c.b, c.base, 10)
	c.b = append(c.b, ",\"converter\":\"bpftrail convert\"}}\n"...)
	c.w.Write(c.b)
	st.Written = c.n
	if err := c.w.Flush(); err != nil {
		return st, err
	}
	return st, c.err
}

// Start takes the trace's first event as time 0.
func (c *converter) Start(ns int64) { c.base = ns }

// Err is the first write error.
func (c *converter) Err() error { return c.err }

// flush hands the buffered events to the bufio.Writer.
func (c *converter) flush() {
	if len(c.b) > 0 && c.err == nil {
		_, c.err = c.w.Write(c.b)
	}
	c.b = c.b[:0]
}

// begin starts a new event object: {"ph":"X","pid":P,"tid":T
func (c *converter) begin(ph string, pid, tid int) {
	if len(c.b) > 64<<10 {
		c.flush()
	}
	if c.n > 0 {
		c.b = append(c.b, ',')
	}
	c.n++
	c.b = append(c.b, "\n{\"ph\":\""...)
	c.b = append(c.b, ph...)
	c.b = append(c.b, "\",\"pid\":"...)
	c.b = strconv.AppendInt(c.b, int64(pid), 10)
	c.b = append(c.b, ",\"tid\":"...)
	c.b = strconv.AppendInt(c.b, int64(tid), 10)
}

func (c *converter) ts(key string, ns int64) {
	c.b = append(c.b, key...)
	c.b = appendMicros(c.b, ns-c.base)
}

func (c *converter) name(s string) {
	c.b = append(c.b, ",\"name\":"...)
	c.b = appendString(c.b, s)
}

func (c *converter) meta(what string, pid, tid int, key string, val any) {
	c.begin("M", pid, tid)
	c.name(what)
	c.b = append(c.b, ",\"args\":{"...)
	c.b = appendString(c.b, key)
	c.b = append(c.b, ':')
	switch v := val.(type) {
	case string:
		c.b = appendString(c.b, v)
	case int:
		c.b = strconv.AppendInt(c.b, int64(v), 10)
	}
	c.b = append(c.b, "}}"...)
}

// eventCPU is the CPU of event e, -1 for none (or no event).
func eventCPU(e *analyze.Event) int {
	if e == nil {
		return -1
	}
	return e.CTF.CPU
}

// cpu writes the metadata of the synthetic process of cpu the first time.
func (c *converter) cpu(cpu int) {
	if cpu < 0 || c.cpus[cpu] {
		return
	}
	c.cpus[cpu] = true
	p := CPUPID(cpu)
	c.meta("process_name", p, p, "name", "CPU "+strconv.Itoa(cpu))
	c.meta("process_sort_index", p, p, "sort_index", -1000+cpu)
	c.meta("thread_name", p, p, "name", "CPU "+strconv.Itoa(cpu))
}

func (c *converter) track(tid int) *track {
	t, ok := c.tracks[tid]
	if !ok {
		t = &track{metaPID: -1, statePID: -1}
		c.tracks[tid] = t
	}
	return t
}

// named writes the metadata of thread th's track (and its process's)
// when they are missing or out of date.
func (c *converter) named(th *analyze.Thread) {
	t := c.track(th.TID)
	if t.metaPID == th.PID && t.metaComm == th.Comm {
		return
	}
	c.process(th.PID, th.TID, th.Comm)
	t.metaPID, t.metaComm = th.PID, th.Comm
	c.meta("thread_name", th.PID, th.TID, "name", th.Comm)
	c.meta("thread_sort_index", th.PID, th.TID, "sort_index", 2*th.TID)
}

func (c *converter) stateNamed(th *analyze.Thread) {
	t := c.track(th.TID)
	if t.statePID == th.PID && t.stateComm == th.Comm {
		return
	}
	c.process(th.PID, th.TID, th.Comm)
	t.statePID, t.stateComm = th.PID, th.Comm
	c.meta("thread_name", th.PID, StateTID(th.TID), "name", th.Comm+" "+strconv.Itoa(th.TID)+" state")
	c.meta("thread_sort_index", th.PID, StateTID(th.TID), "sort_index", 2*th.TID+1)
}

func (c *converter) process(pid, tid int, comm string) {
	p, ok := c.procs[pid]
	if !ok {
		p = &process{}
		c.procs[pid] = p
	}
	main := tid == pid
	if comm == "" || p.name == comm || (p.fromMain && !main) || (p.written && !main) {
		return
	}
	p.name, p.fromMain, p.written = comm, main, true
	c.meta("process_name", pid, pid, "name", comm)
}

// Event writes a syscall entry as the beginning of its slice, and every
// event but switches and paired syscall exits (written with their pairs)
// as an instant.
func (c *converter) Event(e *analyze.Event) {
	c.cpu(e.CTF.CPU)
	switch {
	case e.Class.Kind == analyze.KindSwitch:
		return
	case e.Paired():
		if e.Class.Kind == analyze.KindSyscallEntry {
			th := e.Thread
			c.named(th)
			c.begin("B", th.PID, th.TID)
			c.ts(",\"ts\":", e.Ns)
			c.b = append(c.b, ",\"cat\":\"syscall\""...)
			c.name(e.Class.Syscall)
			c.args(e.CTF.Payload, e.Class.SyscallNr)
			c.b = append(c.b, '}')
		}
		return
	}
	c.instant(e)
}

// instant writes e as an instant on its thread's track, or its CPU's.
func (c *converter) instant(e *analyze.Event) {
	pid, tid := CPUPID(e.CTF.CPU), CPUPID(e.CTF.CPU)
	if th := e.Thread; th != nil {
		c.named(th)
		pid, tid = th.PID, th.TID
	} else if e.CTF.CPU < 0 {
		pid, tid = 0, 0
	}
	c.begin("i", pid, tid)
	c.ts(",\"ts\":", e.Ns)
	c.b = append(c.b, ",\"s\":\"t\",\"cat\":\"event\""...)
	c.name(e.Class.Name)
	c.args(e.CTF.Payload, e.Class.SyscallNr)
	c.b = append(c.b, '}')
}

// Syscall ends a syscall's slice: with the exit's fields, or with a flag
// saying why it has none. An exit without its entry is an instant.
func (c *converter) Syscall(p *analyze.SyscallPair) {
	c.cpu(eventCPU(p.At))
	switch p.End {
	case analyze.Completed:
		c.begin("E", p.PID, p.TID)
		c.ts(",\"ts\":", p.EndNs)
		c.args(p.At.CTF.Payload, p.At.Class.SyscallNr)
		c.b = append(c.b, '}')
	case analyze.EntryMissing:
		c.instant(p.At)
	case analyze.ExitMissing:
		if p.At.Class.Kind == analyze.KindSyscallEntry {
			c.named(p.At.Thread)
		}
		c.end(p, "exit_missing")
	case analyze.Unfinished:
		c.end(p, "unfinished")
	}
}

// end closes the slice of p with a flag saying why it has no exit.
func (c *converter) end(p *analyze.SyscallPair, why string) {
	c.begin("E", p.PID, p.TID)
	c.ts(",\"ts\":", p.EndNs)
	c.b = append(c.b, ",\"args\":{\""...)
	c.b = append(c.b, why...)
	c.b = append(c.b, "\":true}}"...)
}

// Interval writes a state slice on the thread's state track, and a running
// slice on the CPU's track.
func (c *converter) Interval(iv analyze.Interval) {
	c.cpu(eventCPU(iv.At))
	th := iv.Thread
	c.stateNamed(th)
	dur := iv.End - iv.Start
	if iv.State == analyze.StateRunning {
		cp := CPUPID(iv.CPU)
		c.begin("X", cp, cp)
		c.ts(",\"ts\":", iv.Start)
		c.b = append(c.b, ",\"dur\":"...)
		c.b = appendMicros(c.b, dur)
		c.b = append(c.b, ",\"cat\":\"sched\""...)
		name := th.Comm
		if name == "" {
			name = strconv.Itoa(iv.TID)
		}
		c.name(name)
		c.b = append(c.b, ",\"args\":{\"tid\":"...)
		c.b = strconv.AppendInt(c.b, int64(iv.TID), 10)
		c.b = append(c.b, ",\"pid\":"...)
		c.b = strconv.AppendInt(c.b, int64(th.PID), 10)
		c.b = append(c.b, "}}"...)
	}
	c.begin("X", th.PID, StateTID(iv.TID))
	c.ts(",\"ts\":", iv.Start)
	c.b = append(c.b, ",\"dur\":"...)
	c.b = appendMicros(c.b, dur)
	c.b = append(c.b, ",\"cat\":\"thread_state\""...)
	c.name(iv.State.String())
	c.b = append(c.b, ",\"args\":{\"tid\":"...)
	c.b = strconv.AppendInt(c.b, int64(iv.TID), 10)
	switch iv.State {
	case analyze.StateRunning:
		c.b = append(c.b, ",\"cpu\":"...)
		c.b = strconv.AppendInt(c.b, int64(iv.CPU), 10)
	case analyze.StateBlocked:
		c.b = append(c.b, ",\"prev_state\":"...)
		c.b = strconv.AppendInt(c.b, iv.PrevState, 10)
	}
	c.b = append(c.b, "}}"...)
}

// discarded writes a global instant per discarded-event range.
func (c *converter) discarded(t *ctf.Trace) {
	for _, s := range t.Streams {
		for _, d := range s.Discarded {
			pid, tid := 0, 0
			if s.CPU >= 0 {
				c.cpu(s.CPU)
				pid, tid = CPUPID(s.CPU), CPUPID(s.CPU)
			}
			c.begin("i", pid, tid)
			c.ts(",\"ts\":", max(d.BeginNs, c.base))
			c.b = append(c.b, ",\"s\":\"g\",\"cat\":\"lost\",\"cname\":\"terrible\""...)
			n := strconv.FormatUint(d.Count, 10)
			if d.Unknown {
				c.name("events may have been discarded")
			} else {
				c.name(n + " events discarded")
			}
			c.b = append(c.b, ",\"args\":{\"count\":"...)
			c.b = append(c.b, n...)
			c.b = append(c.b, ",\"stream\":"...)
			c.b = appendString(c.b, t.StreamName(s))
			c.b = append(c.b, ",\"cpu\":"...)
			c.b = strconv.AppendInt(c.b, int64(s.CPU), 10)
			c.ts(",\"end_ts\":", d.EndNs)
			if d.Unknown {
				c.b = append(c.b, ",\"unknown\":true"...)
			}
			c.b = append(c.b, "}}"...)
		}
	}
}

// args writes the payload's members as "args", skipping member skip.
func (c *converter) args(p ctf.Value, skip int) {
	c.b = append(c.b, ",\"args\":{"...)
	if p.Type != nil && p.Type.Kind == ctf.KindStruct {
		sep := false
		for i := range p.Elems {
			if i == skip || i >= len(p.Type.Fields) || isLengthField(p.Type, i) {
				continue
			}
			if sep {
				c.b = append(c.b, ',')
			}
			sep = true
			c.b = appendString(c.b, ctf.StripName(p.Type.Fields[i].Name))
			c.b = append(c.b, ':')
			c.b = appendValue(c.b, p.Elems[i])
		}
	}
	c.b = append(c.b, '}')
}

// isLengthField reports whether member i of struct t is the length of a
// sequence that follows it (redundant in JSON).
func isLengthField(t *ctf.Type, i int) bool {
	name := t.Fields[i].Name
	for j := i + 1; j < len(t.Fields); j++ {
		if f := t.Fields[j].Type; f.Kind == ctf.KindSequence && f.LengthField == name {
			return true
		}
	}
	return false
}

// appendValue writes a decoded CTF value as JSON.
func appendValue(b []byte, v ctf.Value) []byte {
	t := v.Type
	if t == nil {
		return append(b, "null"...)
	}
	switch t.Kind {
	case ctf.KindInteger:
		if t.Signed {
			return strconv.AppendInt(b, v.Int, 10)
		}
		return strconv.AppendUint(b, v.Uint, 10)
	case ctf.KindEnum:
		if v.Label != "" {
			return appendString(b, v.Label)
		}
		if t.Container != nil && t.Container.Signed {
			return strconv.AppendInt(b, v.Int, 10)
		}
		return strconv.AppendUint(b, v.Uint, 10)
	case ctf.KindFloat:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return appendString(b, strconv.FormatFloat(v.Float, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, v.Float, 'g', -1, 64)
	case ctf.KindString:
		return appendBytes(b, v.Bytes)
	case ctf.KindArray, ctf.KindSequence:
		if t.IsText() {
			return appendBytes(b, v.Bytes)
		}
		b = append(b, '[')
		for i := range v.Elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, v.Elems[i])
		}
		return append(b, ']')
	case ctf.KindStruct:
		b = append(b, '{')
		sep := false
		for i := range v.Elems {
			if i >= len(t.Fields) {
				break
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = appendString(b, ctf.StripName(t.Fields[i].Name))
			b = append(b, ':')
			b = appendValue(b, v.Elems[i])
		}
		return append(b, '}')
	case ctf.KindVariant:
		if len(v.Elems) == 1 {
			return appendValue(b, v.Elems[0])
		}
	}
	return append(b, "null"...)
}

// appendMicros writes ns as microseconds: ns/1000, with three decimals
// when they are not zero, so that no precision is lost.
func appendMicros(b []byte, ns int64) []byte {
	if ns < 0 {
		b = append(b, '-')
		if ns == math.MinInt64 {
			return append(b, "9223372036854775.808"...)
		}
		ns = -ns
	}
	b = strconv.AppendInt(b, ns/1000, 10)
	if f := ns % 1000; f != 0 {
		b = append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	}
	return b
}

func appendBytes(b, s []byte) []byte {
	return appendString(b, unsafe.String(unsafe.SliceData(s), len(s)))
}

// appendString writes s as a JSON string, escaped as encoding/json does
// (invalid UTF-8 becomes U+FFFD).
func appendString(b []byte, s string) []byte { return ctf.AppendJSONString(b, s) }

// aggregatesPID is the synthetic process that holds the counter tracks of
// the aggregates recorded with the trace.
const aggregatesPID = 1 << 26

// maxCounterKeys bounds the series of one counter track.
const maxCounterKeys = 16

// counters writes the count aggregates that record --aggregate logged over
// time (the trace's tracedir.Aggregates sidecar) as counter tracks: one "C" event per
// snapshot with the count of each key.
func (c *converter) counters(dir string) error {
	f, err := tracedir.Open(dir, tracedir.Aggregates)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	named := false
	for sc.Scan() {
		var snap struct {
			Aggregate string `json:"aggregate"`
			TimeNs    int64  `json:"time_ns"`
			Counts    []struct {
				Key   map[string]any `json:"key"`
				Count uint64         `json:"count"`
			} `json:"counts"`
		}
		if json.Unmarshal(sc.Bytes(), &snap) != nil || snap.TimeNs == 0 || snap.Counts == nil {
			continue
		}
		if !named {
			c.meta("process_name", aggregatesPID, 0, "name", "aggregates")
			named = true
		}
		c.begin("C", aggregatesPID, 0)
		c.ts(",\"ts\":", max(snap.TimeNs, c.base))
		c.name(snap.Aggregate)
		c.b = append(c.b, ",\"args\":{"...)
		for i, kc := range snap.Counts {
			if i == maxCounterKeys {
				break
			}
			if i > 0 {
				c.b = append(c.b, ',')
			}
			c.b = appendString(c.b, counterKey(kc.Key))
			c.b = append(c.b, ':')
			c.b = strconv.AppendUint(c.b, kc.Count, 10)
		}
		c.b = append(c.b, "}}"...)
	}
	return sc.Err()
}

// counterKey names a key's series: "comm=bash pid=12", or "count" for the
// empty key.
func counterKey(k map[string]any) string {
	if len(k) == 0 {
		return "count"
	}
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%v", n, k[n]))
	}
	return strings.Join(parts, " ")
}
