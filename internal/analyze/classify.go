package analyze

import (
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/lttng"
)

// Kind is what an event means to the analyses.
type Kind uint8

// Event kinds.
const (
	KindOther        Kind = iota
	KindSwitch            // sched_switch
	KindWakeup            // sched_wakeup, sched_wakeup_new, sched_waking
	KindSyscallEntry      // syscalls:sys_enter_X, syscall_entry_X
	KindSyscallExit       // syscalls:sys_exit_X, syscall_exit_X
)

// LegacySample is the event of stack samples written by earlier versions of
// "bpftrail profile -o DIR": pid, tid and comm in the payload, and the
// symbolized stack as a sequence of strings.
const LegacySample = "profile:sample"

// Class describes an event class for the analyses: its kind, the syscall it
// enters or leaves, where the payload fields they read are, and the stacks
// it carries. It handles both of bpftrail's layouts: tracefs names
// ("sched:sched_switch", prev_pid/next_pid) and LTTng kernel names
// ("sched_switch", prev_tid/next_tid, "syscall_entry_openat"), as the
// table of package lttng gives them.
type Class struct {
	Name    string // the event class's name
	Kind    Kind
	Syscall string // syscall name for KindSyscallEntry/Exit ("openat")
	LTTng   bool   // named in LTTng's kernel layout

	// Payload member indexes, -1 when absent.
	PrevTID, NextTID, PrevState, PrevComm, NextComm int // KindSwitch
	TID                                             int // KindWakeup: the thread woken
	Ret                                             int // KindSyscallExit
	Filename                                        int // KindSyscallEntry
	SyscallNr                                       int // KindSyscallEntry/Exit: __syscall_nr, not an argument

	// Stacks: UStack and KStack are the _ustack and _kstack members
	// (sequences of addresses, leaf first) that record --stack and profile
	// write; Frames is the sequence of symbolized frames of LegacySample,
	// whose emitter is in the payload members PayloadPID, PayloadTID and
	// PayloadComm. All -1 when absent.
	UStack, KStack, Frames              int
	PayloadPID, PayloadTID, PayloadComm int
	// PeriodNs is the time one sample stands for in events of a timed
	// profile probe ("profile:hz:99": 1e9/99 ns); 0 for other events.
	PeriodNs int64
}

// Sampled reports whether the events of the class carry a stack.
func (c *Class) Sampled() bool { return c.UStack >= 0 || c.KStack >= 0 || c.Frames >= 0 }

// Stack reports whether payload member i is a stack of addresses, and
// whether it is the user's (_ustack) or the kernel's (_kstack).
func (c *Class) Stack(i int) (user, ok bool) {
	switch {
	case i < 0:
		return false, false
	case i == c.UStack:
		return true, true
	case i == c.KStack:
		return false, true
	}
	return false, false
}

// Classify returns the class of an event class by its name and payload.
func Classify(ec *ctf.EventClass) *Class {
	c := &Class{Name: ec.Name, PrevTID: -1, NextTID: -1, PrevState: -1, PrevComm: -1, NextComm: -1,
		TID: -1, Ret: -1, Filename: -1, SyscallNr: -1,
		UStack: -1, KStack: -1, Frames: -1, PayloadPID: -1, PayloadTID: -1, PayloadComm: -1}
	name := ec.Name
	p := ec.Fields
	if ev, ok := lttng.Lookup(name); ok {
		c.LTTng = name == ev.Name
		switch ev.Name {
		case "sched_switch":
			c.Kind = KindSwitch
			c.PrevTID = layoutField(p, ev, "prev_pid")
			c.NextTID = layoutField(p, ev, "next_pid")
			c.PrevState = FieldIndex(p, "prev_state")
			c.PrevComm = FieldIndex(p, "prev_comm")
			c.NextComm = FieldIndex(p, "next_comm")
			if c.PrevTID < 0 || c.NextTID < 0 || c.PrevState < 0 {
				c.Kind = KindOther
			}
		case "sched_wakeup", "sched_wakeup_new", "sched_waking":
			c.Kind = KindWakeup
			if c.TID = layoutField(p, ev, "pid"); c.TID < 0 {
				c.Kind = KindOther
			}
		}
	} else if sc, entry, ok := lttng.Syscall(name); ok {
		c.Kind, c.Syscall = KindSyscallExit, sc
		c.LTTng = !strings.HasPrefix(name, lttng.TracefsEnter) && !strings.HasPrefix(name, lttng.TracefsExit)
		if entry {
			c.Kind = KindSyscallEntry
			c.Filename = FieldIndex(p, "filename")
		} else {
			c.Ret = FieldIndex(p, "ret")
		}
		c.SyscallNr = FieldIndex(p, "__syscall_nr")
	}
	c.stacks(name, p)
	return c
}

// layoutField returns the index of the tracefs field name of event ev, or
// of its LTTng name.
func layoutField(p *ctf.Type, ev *lttng.Event, name string) int {
	if l, ok := ev.Rename[name]; ok {
		return FieldIndex(p, l, name)
	}
	return FieldIndex(p, name)
}

// stacks finds the stack members of a class and the period of a profile
// probe's samples.
func (c *Class) stacks(name string, p *ctf.Type) {
	if name == LegacySample {
		if i := FieldIndex(p, "stack"); seqOf(p, i, ctf.KindString) {
			c.Frames = i
			c.PayloadPID = FieldIndex(p, "pid")
			c.PayloadTID = FieldIndex(p, "tid")
			c.PayloadComm = FieldIndex(p, "comm")
		}
		return
	}
	if i := FieldIndex(p, "ustack"); seqOf(p, i, ctf.KindInteger) {
		c.UStack = i
	}
	if i := FieldIndex(p, "kstack"); seqOf(p, i, ctf.KindInteger) {
		c.KStack = i
	}
	if c.UStack >= 0 || c.KStack >= 0 {
		c.PeriodNs = ProfilePeriod(name)
	}
}

// seqOf reports whether member i of struct p is an array or a sequence of
// elements of kind k.
func seqOf(p *ctf.Type, i int, k ctf.Kind) bool {
	if i < 0 {
		return false
	}
	t := p.Fields[i].Type
	return t != nil && (t.Kind == ctf.KindSequence || t.Kind == ctf.KindArray) && t.Elem != nil && t.Elem.Kind == k
}

// ProfilePeriod returns the time in ns one sample of the timed profile
// probe name stands for: 1e9/N for "profile:hz:N" (and "profile:N"), N
// seconds, milliseconds or microseconds for "profile:s:N", "profile:ms:N"
// and "profile:us:N". It returns 0 for any other name.
func ProfilePeriod(name string) int64 {
	rest, ok := strings.CutPrefix(name, "profile:")
	if !ok {
		return 0
	}
	unit, rate, ok := strings.Cut(rest, ":")
	if !ok {
		unit, rate = "hz", rest
	}
	n, err := strconv.ParseInt(rate, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	switch unit {
	case "hz":
		return 1e9 / n
	case "s":
		return n * 1e9
	case "ms":
		return n * 1e6
	case "us":
		return n * 1e3
	}
	return 0
}

// FieldIndex returns the index of the first struct member of t called one
// of names (as readers show them: one leading '_' stripped), or -1.
func FieldIndex(t *ctf.Type, names ...string) int {
	if t == nil || t.Kind != ctf.KindStruct {
		return -1
	}
	for _, n := range names {
		for i, f := range t.Fields {
			if ctf.StripName(f.Name) == n {
				return i
			}
		}
	}
	return -1
}

// Int returns member i of struct v as an integer.
func Int(v ctf.Value, i int) (int64, bool) {
	if i < 0 || i >= len(v.Elems) {
		return 0, false
	}
	e := v.Elems[i]
	if e.Type == nil || (e.Type.Kind != ctf.KindInteger && e.Type.Kind != ctf.KindEnum) {
		return 0, false
	}
	if e.Type.Kind == ctf.KindInteger && !e.Type.Signed {
		return int64(e.Uint), true
	}
	return e.Int, true
}

// Bytes returns member i of struct v as text (nil when absent).
func Bytes(v ctf.Value, i int) []byte {
	if i < 0 || i >= len(v.Elems) {
		return nil
	}
	return v.Elems[i].Bytes
}

// Decoder classifies the events of a trace, caching what it learns per
// event class and per stream event context type.
type Decoder struct {
	classes map[*ctf.EventClass]*Class
	lastEC  *ctf.EventClass
	lastC   *Class
	ctxs    map[*ctf.Type]ctxIdx
	lastT   *ctf.Type
	lastX   ctxIdx
}

type ctxIdx struct{ pid, tid, comm int }

// Class returns the class of ev's event class.
func (d *Decoder) Class(ec *ctf.EventClass) *Class {
	if ec == d.lastEC {
		return d.lastC
	}
	c, ok := d.classes[ec]
	if !ok {
		if d.classes == nil {
			d.classes = map[*ctf.EventClass]*Class{}
		}
		c = Classify(ec)
		d.classes[ec] = c
	}
	d.lastEC, d.lastC = ec, c
	return c
}

// Emitter is the thread that emitted an event.
type Emitter struct {
	PID, TID int
	Comm     []byte // valid until the next event
}

// Emitter returns the thread that emitted ev: the stream event context
// {pid, tid, comm} of bpftrail's traces (LTTng's vpid, vtid, procname), or
// the payload's pid, tid and comm for [LegacySample] events. ok is false
// when the trace does not say.
func (d *Decoder) Emitter(ev *ctf.Event, c *Class) (Emitter, bool) {
	if t := ev.StreamContext.Type; t != nil {
		x := d.lastX
		if t != d.lastT {
			var ok bool
			if x, ok = d.ctxs[t]; !ok {
				x = ctxIdx{pid: FieldIndex(t, "pid", "vpid"), tid: FieldIndex(t, "tid", "vtid"), comm: FieldIndex(t, "comm", "procname")}
				if d.ctxs == nil {
					d.ctxs = map[*ctf.Type]ctxIdx{}
				}
				d.ctxs[t] = x
			}
			d.lastT, d.lastX = t, x
		}
		if tid, ok := Int(ev.StreamContext, x.tid); ok {
			pid, ok := Int(ev.StreamContext, x.pid)
			if !ok {
				pid = tid
			}
			return Emitter{int(pid), int(tid), Bytes(ev.StreamContext, x.comm)}, true
		}
	}
	if tid, ok := Int(ev.Payload, c.PayloadTID); ok {
		pid, ok := Int(ev.Payload, c.PayloadPID)
		if !ok {
			pid = tid
		}
		return Emitter{int(pid), int(tid), Bytes(ev.Payload, c.PayloadComm)}, true
	}
	return Emitter{}, false
}
