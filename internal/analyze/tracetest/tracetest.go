// Package tracetest writes small CTF traces shaped like bpftrail's, for the
// tests of the analyses and converters: the stream event context
// {pid, tid, comm} of ctftrace.ContextType, and sched_switch, sched_wakeup,
// openat entry/exit and other events in either layout (tracefs names or
// the LTTng kernel preset), with discarded events.
package tracetest

import (
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
)

// Layout selects event and field names.
type Layout int

// Layouts.
const (
	Tracefs Layout = iota // "sched:sched_switch", prev_pid, "syscalls:sys_enter_openat"
	LTTng                 // "sched_switch", prev_tid, "syscall_entry_openat"
)

func (l Layout) String() string {
	if l == LTTng {
		return "lttng"
	}
	return "tracefs"
}

// Offset is the clock offset of the traces: ns of the Unix epoch at clock 0.
const Offset = 1_764_000_000_000_000_000

// Ctx is the thread an event comes from.
type Ctx struct {
	PID, TID int
	Comm     string
}

// Builder writes one trace.
type Builder struct {
	tb                     testing.TB
	w                      *ctf.Writer
	layout                 Layout
	sw, wk, ent, ext, exec *ctf.EventClass
	syscalls               map[string]*ctf.EventClass // other syscalls' entries and exits, by event name
}

// New creates a trace in dir whose streams start at clock value start.
func New(tb testing.TB, dir string, layout Layout, start uint64) *Builder {
	tb.Helper()
	opts := ctf.Options{Hostname: "test", TracerName: "bpftrail", Clock: func() uint64 { return start },
		ClockOffset: Offset, ClockUUID: "00000000-0000-0000-0000-000000000000", EventContext: ctftrace.ContextType()}
	if layout == LTTng {
		opts.TracerName, opts.TracerMajor, opts.TracerMinor, opts.Domain = "lttng-modules", 2, 13, "kernel"
	}
	w, err := ctf.Create(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	b := &Builder{tb: tb, w: w, layout: layout, syscalls: map[string]*ctf.EventClass{}}
	tid, pfx := "pid", "sched:"
	ent, ext := "syscalls:sys_enter_openat", "syscalls:sys_exit_openat"
	if layout == LTTng {
		tid, pfx = "tid", ""
		ent, ext = "syscall_entry_openat", "syscall_exit_openat"
	}
	b.sw = b.class(pfx+"sched_switch", ctf.Struct(
		ctf.F("_prev_comm", ctf.Text(16)), ctf.F("_prev_"+tid, ctf.Int(32)), ctf.F("_prev_prio", ctf.Int(32)),
		ctf.F("_prev_state", ctf.Int(64)), ctf.F("_next_comm", ctf.Text(16)), ctf.F("_next_"+tid, ctf.Int(32)),
		ctf.F("_next_prio", ctf.Int(32))))
	b.wk = b.class(pfx+"sched_wakeup", ctf.Struct(
		ctf.F("_comm", ctf.Text(16)), ctf.F("_"+tid, ctf.Int(32)), ctf.F("_prio", ctf.Int(32)), ctf.F("_target_cpu", ctf.Int(32))))
	b.exec = b.class(pfx+"sched_process_exec", ctf.Struct(
		ctf.F("_filename", ctf.String()), ctf.F("_"+tid, ctf.Int(32)), ctf.F("_old_"+tid, ctf.Int(32))))
	if layout == LTTng {
		b.ent = b.class(ent, ctf.Struct(ctf.F("_dfd", ctf.Int(64)), ctf.F("_filename", ctf.String()),
			ctf.F("_flags", ctf.Int(64)), ctf.F("_mode", ctf.Uint(64))))
		b.ext = b.class(ext, ctf.Struct(ctf.F("_ret", ctf.Int(64))))
	} else {
		b.ent = b.class(ent, ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_dfd", ctf.Int(64)),
			ctf.F("_filename", ctf.String()), ctf.F("_flags", ctf.Int(64)), ctf.F("_mode", ctf.Uint(64))))
		b.ext = b.class(ext, ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_ret", ctf.Int(64))))
	}
	return b
}

func (b *Builder) class(name string, t *ctf.Type) *ctf.EventClass {
	ec, err := b.w.AddEventClass(name, t)
	if err != nil {
		b.tb.Fatal(err)
	}
	return ec
}

func (b *Builder) write(cpu int, ns uint64, ec *ctf.EventClass, c Ctx, vals ...any) {
	b.tb.Helper()
	s, err := b.w.Stream(cpu)
	if err != nil {
		b.tb.Fatal(err)
	}
	if err := s.Write(ec, ns, append([]any{int32(c.PID), int32(c.TID), c.Comm}, vals...)...); err != nil {
		b.tb.Fatal(err)
	}
}

// Stream opens cpu's stream now (so that it exists even without events).
func (b *Builder) Stream(cpu int) *ctf.StreamWriter {
	s, err := b.w.Stream(cpu)
	if err != nil {
		b.tb.Fatal(err)
	}
	return s
}

// Switch writes a sched_switch from c (the prev thread) to next.
func (b *Builder) Switch(cpu int, ns uint64, c Ctx, prevState int64, next Ctx) {
	b.tb.Helper()
	b.write(cpu, ns, b.sw, c, c.Comm, int32(c.TID), int32(120), prevState, next.Comm, int32(next.TID), int32(120))
}

// Wakeup writes a sched_wakeup of woken by c.
func (b *Builder) Wakeup(cpu int, ns uint64, c Ctx, woken Ctx) {
	b.tb.Helper()
	b.write(cpu, ns, b.wk, c, woken.Comm, int32(woken.TID), int32(120), int32(cpu))
}

// Exec writes a sched_process_exec of c.
func (b *Builder) Exec(cpu int, ns uint64, c Ctx, filename string) {
	b.tb.Helper()
	b.write(cpu, ns, b.exec, c, filename, int32(c.TID), int32(c.TID))
}

// OpenatEnter writes an openat entry.
func (b *Builder) OpenatEnter(cpu int, ns uint64, c Ctx, filename string) {
	b.tb.Helper()
	if b.layout == LTTng {
		b.write(cpu, ns, b.ent, c, int64(-100), filename, int64(0), uint64(0))
		return
	}
	b.write(cpu, ns, b.ent, c, int32(257), int64(-100), filename, int64(0), uint64(0))
}

// OpenatExit writes an openat exit.
func (b *Builder) OpenatExit(cpu int, ns uint64, c Ctx, ret int64) {
	b.tb.Helper()
	if b.layout == LTTng {
		b.write(cpu, ns, b.ext, c, ret)
		return
	}
	b.write(cpu, ns, b.ext, c, int32(257), ret)
}

// Enter writes the entry of syscall name (with no argument but the
// syscall number of the tracefs layout).
func (b *Builder) Enter(cpu int, ns uint64, c Ctx, name string) {
	b.tb.Helper()
	b.sys(cpu, ns, c, name, true, 0)
}

// Exit writes the exit of syscall name, returning ret.
func (b *Builder) Exit(cpu int, ns uint64, c Ctx, name string, ret int64) {
	b.tb.Helper()
	b.sys(cpu, ns, c, name, false, ret)
}

func (b *Builder) sys(cpu int, ns uint64, c Ctx, name string, entry bool, ret int64) {
	b.tb.Helper()
	ev := map[bool]string{true: "syscalls:sys_enter_", false: "syscalls:sys_exit_"}[entry] + name
	if b.layout == LTTng {
		ev = map[bool]string{true: "syscall_entry_", false: "syscall_exit_"}[entry] + name
	}
	ec := b.syscalls[ev]
	if ec == nil {
		var fields []ctf.Field
		if b.layout == Tracefs {
			fields = append(fields, ctf.F("___syscall_nr", ctf.Int(32)))
		}
		if !entry {
			fields = append(fields, ctf.F("_ret", ctf.Int(64)))
		}
		ec = b.class(ev, ctf.Struct(fields...))
		b.syscalls[ev] = ec
	}
	var vals []any
	if b.layout == Tracefs {
		vals = append(vals, int32(0))
	}
	if !entry {
		vals = append(vals, ret)
	}
	b.write(cpu, ns, ec, c, vals...)
}

// Discard records n events lost on cpu at ns.
func (b *Builder) Discard(cpu int, n uint64, ns uint64) {
	b.Stream(cpu).AddDiscarded(n, ns)
}

// Close finishes the trace and opens it for reading.
func (b *Builder) Close() *ctf.Trace {
	b.tb.Helper()
	if err := b.w.Close(); err != nil {
		b.tb.Fatal(err)
	}
	t, err := ctf.Open(b.w.Dir())
	if err != nil {
		b.tb.Fatal(err)
	}
	return t
}
