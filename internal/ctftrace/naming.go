package ctftrace

import (
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/lttng"
	"github.com/bpftrail/bpftrail/internal/syscalls"
)

// headerPID, as an out field's source, is the record header's pid;
// computedText is the text the record's class computes (record.Class.Text).
const (
	headerPID    = -1
	computedText = -2
)

// out is one member of a written event: a field of the record (or the
// header's pid), under a name, plus a bias for integers.
type out struct {
	name  string
	field int
	bias  int64
}

// naming is how a recorded class is written: its name and members.
type naming struct {
	name string
	outs []out
}

// identity writes a schema as it is, but for the __syscall_nr of a
// syscall event whose number is known (see [SyscallNr]).
func identity(s *event.Schema) naming {
	n := naming{name: s.Name}
	nrField, _, constNr := SyscallNr(s)
	for i, f := range s.Fields {
		if constNr && i == nrField {
			continue
		}
		n.outs = append(n.outs, out{name: f.Name, field: i})
	}
	return n
}

// SyscallNr returns, for a syscalls:sys_enter_NAME or sys_exit_NAME
// schema, the index of its __syscall_nr field and NAME's number on this
// architecture. ok is false for other schemas and for syscalls whose number
// is not known. The kernel fires such an event for that number only, so
// the field holds the same value in every event of the class: the trace
// leaves it out, as LTTng's syscall_entry_NAME does, and the event's name
// says it.
func SyscallNr(s *event.Schema) (field int, nr int64, ok bool) {
	name, enter := strings.CutPrefix(s.Name, "syscalls:sys_enter_")
	if !enter {
		var exit bool
		if name, exit = strings.CutPrefix(s.Name, "syscalls:sys_exit_"); !exit {
			return -1, 0, false
		}
	}
	field = s.Index("__syscall_nr")
	if field < 0 || s.Fields[field].Kind != event.Int {
		return -1, 0, false
	}
	n, ok := syscalls.Number(name)
	if !ok {
		return -1, 0, false
	}
	return field, int64(n), true
}

// lttngNaming writes the events of LTTng's kernel layout under its names;
// other events as they are.
func lttngNaming(s *event.Schema) naming {
	if sc, ok := lttng.SyscallName(s.Name); ok {
		n := naming{name: sc}
		for i, f := range s.Fields {
			if f.Name != "__syscall_nr" {
				n.outs = append(n.outs, out{name: f.Name, field: i})
			}
		}
		return n
	}
	ev, ok := lttng.Lookup(s.Name)
	if !ok || ev.Tracefs != s.Name {
		n := identity(s)
		if strings.HasPrefix(s.Name, "sched:") {
			n.name = lttng.Base(s.Name) // LTTng names every scheduler event so
		}
		return n
	}
	n := naming{name: ev.Name}
	for i, f := range s.Fields {
		o := out{name: f.Name, field: i}
		if to, ok := ev.Rename[f.Name]; ok {
			o.name = to
		}
		for _, p := range ev.Prio {
			if p == f.Name {
				o.bias = -lttng.MaxRTPrio
			}
		}
		n.outs = append(n.outs, o)
	}
	if ev.Name == "sched_process_fork" {
		// LTTng also has the tgids: the parent's is the current process;
		// tracefs gives no tgid for the child, whose pid is the best
		// approximation (exact for processes, the thread id for threads).
		if i := s.Index("child_pid"); i >= 0 {
			n.outs = append(n.outs, out{name: "child_pid", field: i})
		}
		n.outs = append(n.outs, out{name: "parent_pid", field: headerPID})
	}
	return n
}

// planned is a naming turned into a CTF payload type.
type planned struct {
	typ  *ctf.Type
	outs []out
}

// plan builds the CTF payload type of a naming of s.
func plan(s *event.Schema, n naming) planned {
	var fields []ctf.Field
	for _, o := range n.outs {
		switch o.field {
		case headerPID:
			fields = append(fields, ctf.F(FieldName(o.name), ctf.Int(32)))
			continue
		case computedText:
			fields = append(fields, ctf.F(FieldName(o.name), ctf.String()))
			continue
		}
		f := s.Fields[o.field]
		if f.Kind == event.Bytes || f.Kind == event.Stack {
			fields = append(fields, ctf.F(lengthName(o.name), ctf.Uint(16)))
		}
		f.Name = o.name
		fields = append(fields, ctf.F(FieldName(o.name), FieldType(f)))
	}
	return planned{typ: ctf.Struct(fields...), outs: n.outs}
}

// LTTngOptions returns o with the env of an LTTng kernel trace: tracer
// lttng-modules 2.13 and domain "kernel", which Trace Compass looks for to
// open a trace as a Linux kernel trace.
func LTTngOptions(o ctf.Options) ctf.Options {
	o.TracerName, o.TracerMajor, o.TracerMinor, o.TracerPatch = "lttng-modules", 2, 13, 0
	o.Domain = "kernel"
	return o
}
