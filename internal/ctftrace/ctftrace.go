// Package ctftrace maps bpftrail's event model to CTF: it declares each
// recorded event class as a CTF event class and transcodes records (package
// record) into CTF events, one stream per CPU. Field names are written with
// one leading underscore, as LTTng does, so that readers (which strip one)
// show the names of the tracefs format file unchanged.
//
// The __syscall_nr field of syscalls:sys_enter_NAME and sys_exit_NAME
// events is not written when NAME's number is known ([SyscallNr]): it is
// that number in every event of the class, which the event's name says.
// The writer checks it and refuses a record that holds another.
//
// By default a class is written under its event's name with its fields as
// they are. With [Options.LTTng] the kernel events of LTTng's layout
// (package lttng) are written under LTTng's names instead (sched_switch
// with prev_tid, syscall_entry_openat without __syscall_nr, priorities
// without MAX_RT_PRIO), so that Trace Compass's kernel analyses read the
// trace; the recorded events themselves are the same.
package ctftrace

import (
	"encoding/binary"
	"fmt"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/record"
)

// ContextType is the stream event context of every bpftrail event: the
// process and thread that emitted it and the thread's command name.
func ContextType() *ctf.Type {
	return ctf.Struct(
		ctf.F("_pid", ctf.Int(32)),
		ctf.F("_tid", ctf.Int(32)),
		ctf.F("_comm", ctf.String()),
	)
}

// FieldName is the CTF name of a field.
func FieldName(name string) string { return "_" + name }

// FieldType returns the CTF type of a field's value (for Bytes and Stack
// fields, the sequence's element count is a member of its own, see
// [Type]).
func FieldType(f event.Field) *ctf.Type {
	switch f.Kind {
	case event.Int:
		t := ctf.Uint(f.Size * 8)
		if f.Signed {
			t = ctf.Int(f.Size * 8)
		}
		if f.Hex {
			t = ctf.Hex(t)
		}
		return t
	case event.Text:
		return ctf.Text(f.Size)
	case event.String:
		return ctf.String()
	case event.Bytes:
		return ctf.Sequence(ctf.Hex(ctf.Uint(8)), lengthName(f.Name))
	case event.Stack:
		return ctf.Sequence(ctf.Hex(ctf.Uint(64)), lengthName(f.Name))
	case event.Array:
		e := ctf.Uint(f.ElemSize * 8)
		if f.Signed {
			e = ctf.Int(f.ElemSize * 8)
		}
		if f.Hex {
			e = ctf.Hex(e)
		}
		return ctf.Array(e, f.Len)
	}
	return nil
}

// lengthName is the member holding the element count of a sequence field.
func lengthName(name string) string { return "_" + FieldName(name) + "_length" }

// Type returns the CTF payload type of a schema written as it is.
func Type(s *event.Schema) *ctf.Type {
	return plan(s, identity(s)).typ
}

// Options tune a [Writer].
type Options struct {
	// LTTng writes the kernel events LTTng knows under its layout.
	LTTng bool
	// OnStack, when set, sees every recorded stack (user or kernel) with
	// the process it belongs to, so that it can be symbolized later.
	OnStack func(pid int, user bool, addrs []uint64)
}

// Class is a recorded class as declared in a trace.
type Class struct {
	Record *record.Class
	CTF    *ctf.EventClass
	outs   []out
	// nrField is the index of the __syscall_nr field left out of the
	// event, which must hold nr (-1: none); the record holds it in the
	// nrSize bytes at nrOff.
	nrField int
	nr      int64
	nrOff   int
	nrSize  int
}

// Writer writes records into a CTF trace, routing each to its CPU's
// stream. It is used by one goroutine at a time.
type Writer struct {
	w       *ctf.Writer
	opts    Options
	classes []*Class
	streams []*ctf.StreamWriter
	stack   []uint64
}

// NewWriter declares the classes (by their id) in the CTF writer w and
// opens the streams of CPUs 0 to cpus-1 now, so that their first packets
// start before any event.
func NewWriter(w *ctf.Writer, classes []*record.Class, cpus int, opts Options) (*Writer, error) {
	tw := &Writer{w: w, opts: opts}
	for cpu := 0; cpu < cpus; cpu++ {
		if _, err := tw.Stream(cpu); err != nil {
			return nil, err
		}
	}
	for _, rc := range classes {
		for len(tw.classes) <= int(rc.ID) {
			tw.classes = append(tw.classes, nil)
		}
		n := identity(rc.Schema)
		if opts.LTTng {
			n = lttngNaming(rc.Schema)
		}
		if rc.Text != nil {
			n.outs = append(n.outs, out{name: "text", field: computedText})
		}
		p := plan(rc.Schema, n)
		ec, err := w.AddEventClass(n.name, p.typ)
		if err != nil {
			return nil, err
		}
		c := &Class{Record: rc, CTF: ec, outs: p.outs, nrField: -1}
		if i, nr, ok := SyscallNr(rc.Schema); ok && !writes(p.outs, i) {
			c.nrField, c.nr = i, nr
			c.nrOff, c.nrSize = rc.Layout.Off[i], rc.Schema.Fields[i].Size
		}
		tw.classes[rc.ID] = c
	}
	return tw, nil
}

// nrHeld reports whether record b holds the class's syscall number (a
// tracepoint's __syscall_nr is an int; wider or narrower ones are read as
// the record says).
func (c *Class) nrHeld(b []byte) bool {
	if c.nrSize == 4 {
		return int64(int32(binary.LittleEndian.Uint32(b[c.nrOff:]))) == c.nr
	}
	return record.Record{Class: c.Record, B: b}.Int(c.nrField) == c.nr
}

// writes reports whether outs write field i.
func writes(outs []out, i int) bool {
	for _, o := range outs {
		if o.field == i {
			return true
		}
	}
	return false
}

// Classes returns the declared classes, indexed by class id.
func (tw *Writer) Classes() []*Class { return tw.classes }

// Stream returns the CTF stream of cpu.
func (tw *Writer) Stream(cpu int) (*ctf.StreamWriter, error) {
	if cpu < len(tw.streams) && tw.streams[cpu] != nil {
		return tw.streams[cpu], nil
	}
	s, err := tw.w.Stream(cpu)
	if err != nil {
		return nil, err
	}
	for len(tw.streams) <= cpu {
		tw.streams = append(tw.streams, nil)
	}
	tw.streams[cpu] = s
	return s, nil
}

// WriteRecord transcodes one record into a CTF event.
func (tw *Writer) WriteRecord(r record.Record) error {
	id := r.Class.ID
	if int(id) >= len(tw.classes) || tw.classes[id] == nil {
		return fmt.Errorf("ctftrace: record of undeclared class %d", id)
	}
	c := tw.classes[id]
	if c.nrField >= 0 && !c.nrHeld(r.B) {
		return fmt.Errorf("ctftrace: %s: __syscall_nr %d, where the event is written for %d only", c.CTF.Name, r.Int(c.nrField), c.nr)
	}
	st, err := tw.Stream(r.CPU())
	if err != nil {
		return err
	}
	b := r.B
	enc := st.Begin(c.CTF, r.Time())
	enc.Raw(b[record.OffPID : record.OffPID+4]).Raw(b[record.OffTID : record.OffTID+4]).CString(b[record.OffComm : record.OffComm+record.CommSize])
	for _, o := range c.outs {
		tw.encode(enc, r, o)
	}
	return enc.Commit()
}

// encode writes one member of the event.
func (tw *Writer) encode(enc *ctf.Encoder, r record.Record, o out) {
	switch o.field {
	case headerPID:
		enc.Raw(r.B[record.OffPID : record.OffPID+4])
		return
	case computedText:
		enc.String(r.Class.Text(r))
		return
	}
	f := &r.Class.Schema.Fields[o.field]
	switch f.Kind {
	case event.Int:
		if o.bias != 0 {
			putInt(enc, r.Raw(o.field), o.bias)
		} else {
			enc.Raw(r.Raw(o.field))
		}
	case event.Text, event.Array:
		enc.Raw(r.Raw(o.field))
	case event.String:
		enc.CString(r.Raw(o.field))
	case event.Stack:
		tw.stack = r.Stack(o.field, tw.stack[:0])
		enc.U16(uint16(len(tw.stack)))
		for _, a := range tw.stack {
			enc.U64(a)
		}
		if tw.opts.OnStack != nil && len(tw.stack) > 0 {
			tw.opts.OnStack(int(r.PID()), f.Name == "ustack", tw.stack)
		}
	case event.Bytes:
		v := r.Bytes(o.field)
		enc.U16(uint16(len(v))).Raw(v)
	}
}

// AddDiscarded records n events lost on cpu at clock value ts.
func (tw *Writer) AddDiscarded(cpu int, n uint64, ts uint64) error {
	st, err := tw.Stream(cpu)
	if err != nil {
		return err
	}
	st.AddDiscarded(n, ts)
	return nil
}

// putInt writes the little-endian integer b plus bias, in b's size.
func putInt(enc *ctf.Encoder, b []byte, bias int64) {
	le := binary.LittleEndian
	switch len(b) {
	case 1:
		enc.U8(uint8(int64(int8(b[0])) + bias))
	case 2:
		enc.U16(uint16(int64(int16(le.Uint16(b))) + bias))
	case 4:
		enc.U32(uint32(int64(int32(le.Uint32(b))) + bias))
	default:
		enc.U64(uint64(int64(le.Uint64(b)) + bias))
	}
}

// TypeName describes a CTF type in a few words, for listings: int32,
// uint64 (hex), string, char[16], uint8[] ...
func TypeName(t *ctf.Type) string {
	switch t.Kind {
	case ctf.KindInteger:
		s := fmt.Sprintf("uint%d", t.Size)
		if t.Signed {
			s = fmt.Sprintf("int%d", t.Size)
		}
		if t.Base == 16 {
			s += " (hex)"
		}
		return s
	case ctf.KindString:
		return "string"
	case ctf.KindArray:
		if t.IsText() {
			return fmt.Sprintf("char[%d]", t.Length)
		}
		return fmt.Sprintf("%s[%d]", TypeName(t.Elem), t.Length)
	case ctf.KindSequence:
		return TypeName(t.Elem) + "[]"
	}
	return t.Kind.String()
}
