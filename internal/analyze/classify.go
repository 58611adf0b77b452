package analyze

import (
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
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
	KindSample            // profile:sample
)

// Class describes an event class for the analyses: its kind, the syscall it
// enters or leaves, and where the payload fields they read are. It handles
// both of bpftrail's layouts: tracefs names ("sched:sched_switch",
// prev_pid/next_pid) and LTTng kernel names ("sched_switch",
// prev_tid/next_tid, "syscall_entry_openat").
type Class struct {
	Kind    Kind
	Syscall string // syscall name for KindSyscallEntry/Exit ("openat")

	// Payload member indexes, -1 when absent.
	PrevTID, NextTID, PrevState, PrevComm, NextComm int // KindSwitch
	TID                                             int // KindWakeup: the thread woken
	Ret                                             int // KindSyscallExit
	Filename                                        int // KindSyscallEntry
	SyscallNr                                       int // KindSyscallEntry/Exit: __syscall_nr, not an argument
	SamplePID, SampleTID, SampleComm, Stack         int // KindSample
}

// Classify returns the class of an event class by its name and payload.
func Classify(ec *ctf.EventClass) *Class {
	c := &Class{PrevTID: -1, NextTID: -1, PrevState: -1, PrevComm: -1, NextComm: -1,
		TID: -1, Ret: -1, Filename: -1, SyscallNr: -1, SamplePID: -1, SampleTID: -1, SampleComm: -1, Stack: -1}
	name := ec.Name
	p := ec.Fields
	switch {
	case name == "sched:sched_switch" || name == "sched_switch":
		c.Kind = KindSwitch
		c.PrevTID = FieldIndex(p, "prev_tid", "prev_pid")
		c.NextTID = FieldIndex(p, "next_tid", "next_pid")
		c.PrevState = FieldIndex(p, "prev_state")
		c.PrevComm = FieldIndex(p, "prev_comm")
		c.NextComm = FieldIndex(p, "next_comm")
		if c.PrevTID < 0 || c.NextTID < 0 || c.PrevState < 0 {
			c.Kind = KindOther
		}
	case name == "sched:sched_wakeup" || name == "sched_wakeup" ||
		name == "sched:sched_wakeup_new" || name == "sched_wakeup_new" ||
		name == "sched:sched_waking" || name == "sched_waking":
		c.Kind = KindWakeup
		c.TID = FieldIndex(p, "tid", "pid")
		if c.TID < 0 {
			c.Kind = KindOther
		}
	case name == "profile:sample":
		c.Kind = KindSample
		c.SamplePID = FieldIndex(p, "pid")
		c.SampleTID = FieldIndex(p, "tid")
		c.SampleComm = FieldIndex(p, "comm")
		c.Stack = FieldIndex(p, "stack")
	default:
		if s, ok := cutAny(name, "syscalls:sys_enter_", "syscall_entry_", "compat_syscall_entry_"); ok {
			c.Kind, c.Syscall = KindSyscallEntry, s
			c.Filename = FieldIndex(p, "filename")
		} else if s, ok := cutAny(name, "syscalls:sys_exit_", "syscall_exit_", "compat_syscall_exit_"); ok {
			c.Kind, c.Syscall = KindSyscallExit, s
			c.Ret = FieldIndex(p, "ret")
		}
		c.SyscallNr = FieldIndex(p, "__syscall_nr")
	}
	return c
}

func cutAny(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok && rest != "" {
			return rest, true
		}
	}
	return "", false
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
// {pid, tid, comm} of bpftrail's traces, or the payload's pid/tid/comm for
// stack samples. ok is false when the trace does not say.
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
	if c.Kind == KindSample {
		if tid, ok := Int(ev.Payload, c.SampleTID); ok {
			pid, ok := Int(ev.Payload, c.SamplePID)
			if !ok {
				pid = tid
			}
			return Emitter{int(pid), int(tid), Bytes(ev.Payload, c.SampleComm)}, true
		}
	}
	return Emitter{}, false
}
