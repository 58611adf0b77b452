// Package ctftrace maps bpftrail's event model to CTF: it declares an event
// schema as a CTF event class and transcodes the records BPF programs write
// into CTF events, one stream per CPU. Field names are written with one
// leading underscore, as LTTng does, so that readers (which strip one) show
// the names of the tracefs format file unchanged.
package ctftrace

import (
	"encoding/binary"
	"fmt"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/event"
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

// FieldName is the CTF name of a schema field.
func FieldName(name string) string { return "_" + name }

// Type returns the CTF payload type of a schema.
func Type(s *event.Schema) *ctf.Type {
	var fields []ctf.Field
	for _, f := range s.Fields {
		switch f.Kind {
		case event.Int:
			t := ctf.Uint(f.Size * 8)
			if f.Signed {
				t = ctf.Int(f.Size * 8)
			}
			if f.Hex {
				t = ctf.Hex(t)
			}
			fields = append(fields, ctf.F(FieldName(f.Out()), t))
		case event.Text:
			fields = append(fields, ctf.F(FieldName(f.Out()), ctf.Text(f.Size)))
		case event.String:
			fields = append(fields, ctf.F(FieldName(f.Out()), ctf.String()))
		case event.Bytes:
			ln := "_" + FieldName(f.Out()) + "_length"
			fields = append(fields,
				ctf.F(ln, ctf.Uint(16)),
				ctf.F(FieldName(f.Out()), ctf.Sequence(ctf.Hex(ctf.Uint(8)), ln)))
		case event.Stack:
			ln := "_" + FieldName(f.Out()) + "_length"
			fields = append(fields,
				ctf.F(ln, ctf.Uint(16)),
				ctf.F(FieldName(f.Out()), ctf.Sequence(ctf.Hex(ctf.Uint(64)), ln)))
		case event.Array:
			e := ctf.Uint(f.ElemSize * 8)
			if f.Signed {
				e = ctf.Int(f.ElemSize * 8)
			}
			if f.Hex {
				e = ctf.Hex(e)
			}
			fields = append(fields, ctf.F(FieldName(f.Out()), ctf.Array(e, f.Len)))
		}
	}
	return ctf.Struct(fields...)
}

// Class is a schema declared in a trace.
type Class struct {
	Schema *event.Schema
	CTF    *ctf.EventClass
	Count  uint64 // events written
}

// Writer writes BPF records into a CTF trace, routing each to its CPU's
// stream. It is used by one goroutine at a time.
type Writer struct {
	// OnStack, when set, sees every recorded stack (user or kernel) with
	// the process it belongs to, so that it can be symbolized later.
	OnStack func(pid int, user bool, addrs []uint64)

	w       *ctf.Writer
	classes []*Class
	streams []*ctf.StreamWriter
}

// NewWriter declares the schemas (class i gets id i, the id BPF programs
// put in their records) in the CTF writer w and opens the streams of CPUs
// 0 to cpus-1 now, so that their first packets start before any event.
func NewWriter(w *ctf.Writer, schemas []*event.Schema, cpus int) (*Writer, error) {
	tw := &Writer{w: w}
	for cpu := 0; cpu < cpus; cpu++ {
		if _, err := tw.Stream(cpu); err != nil {
			return nil, err
		}
	}
	for _, s := range schemas {
		ec, err := w.AddEventClass(s.Out(), Type(s))
		if err != nil {
			return nil, err
		}
		tw.classes = append(tw.classes, &Class{Schema: s, CTF: ec})
	}
	return tw, nil
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

// ErrShortRecord is returned for records smaller than their schema.
var ErrShortRecord = fmt.Errorf("ctftrace: record shorter than its schema")

// WriteRecord transcodes one BPF record (event.HeaderSize bytes of header,
// then the schema's fields) into a CTF event.
func (tw *Writer) WriteRecord(rec []byte) error {
	if len(rec) < event.HeaderSize {
		return ErrShortRecord
	}
	le := binary.LittleEndian
	id := le.Uint32(rec[event.OffClass:])
	if int(id) >= len(tw.classes) {
		return fmt.Errorf("ctftrace: record of unknown class %d", id)
	}
	c := tw.classes[id]
	if len(rec) < c.Schema.RecordSize() {
		return ErrShortRecord
	}
	cpu := int(le.Uint32(rec[event.OffCPU:]))
	st, err := tw.Stream(cpu)
	if err != nil {
		return err
	}
	enc := st.Begin(c.CTF, le.Uint64(rec[event.OffTime:]))
	enc.Raw(rec[event.OffPID : event.OffPID+4]).Raw(rec[event.OffTID : event.OffTID+4]).CString(rec[event.OffComm : event.OffComm+16])
	for i := range c.Schema.Fields {
		f := &c.Schema.Fields[i]
		b := rec[f.Off : f.Off+f.Size]
		switch f.Kind {
		case event.Int:
			if f.Bias != 0 {
				putInt(enc, b, f.Bias)
			} else {
				enc.Raw(b)
			}
		case event.Text, event.Array:
			enc.Raw(b)
		case event.String:
			enc.CString(b)
		case event.Stack:
			addrs := event.StackAddrs(b)
			enc.U16(uint16(len(addrs)))
			for _, a := range addrs {
				enc.U64(a)
			}
			if tw.OnStack != nil && len(addrs) > 0 {
				tw.OnStack(int(le.Uint32(rec[event.OffPID:])), f.Src == event.FromUserStack, addrs)
			}
		case event.Bytes:
			n := int(le.Uint16(b))
			if n > len(b)-2 {
				n = len(b) - 2
			}
			enc.U16(uint16(n)).Raw(b[2 : 2+n])
		}
	}
	c.Count++
	return enc.Commit()
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
