package ctftrace

import (
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/lttng"
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

// identity writes a schema as it is.
func identity(s *event.Schema) naming {
	n := naming{name: s.Name}
	for i, f := range s.Fields {
		n.outs = append(n.outs, out{name: f.Name, field: i})
	}
	return n
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
