// Package record describes, once, the bytes that bpftrail's BPF programs
// write, and decodes them: the records they put in the ring buffer (a
// fixed header, then the fields of the event at the offsets of a [Layout])
// and the keys they build in aggregation maps ([KeyLayout]). The program
// generator writes what a layout says; the collector, the trace writer,
// the live printers and the aggregation readers read it through this
// package and nowhere else.
//
// Records are little-endian, as BPF programs write them on the machines
// bpftrail runs on.
package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bpftrail/bpftrail/internal/event"
)

// HeaderSize is the size of the header every record starts with:
//
//	u64 timestamp (bpf_ktime_get_ns), u32 event class id, u32 cpu,
//	u32 tid, u32 pid (tgid), char comm[16]
const HeaderSize = 40

// Offsets of the header members.
const (
	OffTime  = 0
	OffClass = 8
	OffCPU   = 12
	OffTID   = 16
	OffPID   = 20
	OffComm  = 24
	CommSize = 16
)

// Layout places the fields of a schema in a record: Off[i] is the offset of
// field i (each field takes its Size bytes there); Size is the whole
// record's size, header included.
type Layout struct {
	Off  []int
	Size int
}

// Sequential lays the fields of s out one after the other after the header.
func Sequential(s *event.Schema) Layout {
	l := Layout{Off: make([]int, len(s.Fields))}
	off := HeaderSize
	for i, f := range s.Fields {
		l.Off[i] = off
		off += f.Size
	}
	l.Size = off
	return l
}

// Class is one event class of a recording: its id (what programs write in
// the header), its schema and where its fields are.
type Class struct {
	ID     uint32
	Schema *event.Schema
	Layout Layout
	// Text, when set, is a string computed in user space from each
	// record (a script's formatted printf), written after the fields.
	Text func(Record) string
}

// Record is one record of a class, borrowed: B is valid only for the call
// that received it.
type Record struct {
	Class *Class
	B     []byte
}

var le = binary.LittleEndian

// Time is the record's timestamp (CLOCK_MONOTONIC ns).
func (r Record) Time() uint64 { return le.Uint64(r.B[OffTime:]) }

// CPU is the CPU the event happened on.
func (r Record) CPU() int { return int(le.Uint32(r.B[OffCPU:])) }

// TID is the thread that emitted the event.
func (r Record) TID() int32 { return int32(le.Uint32(r.B[OffTID:])) }

// PID is the process (thread group) that emitted the event.
func (r Record) PID() int32 { return int32(le.Uint32(r.B[OffPID:])) }

// Comm is the thread's command name, up to its NUL.
func (r Record) Comm() []byte { return cstr(r.B[OffComm : OffComm+CommSize]) }

// Raw returns the bytes of field i.
func (r Record) Raw(i int) []byte {
	off := r.Class.Layout.Off[i]
	return r.B[off : off+r.Class.Schema.Fields[i].Size]
}

// Int returns integer field i, sign-extended when it is signed (the bits
// of an unsigned 8-byte value otherwise).
func (r Record) Int(i int) int64 {
	f := &r.Class.Schema.Fields[i]
	return intOf(r.Raw(i), f.Signed)
}

// Str returns text or string field i up to its NUL.
func (r Record) Str(i int) []byte { return cstr(r.Raw(i)) }

// Bytes returns the bytes of a Bytes field i (after its u16 length).
func (r Record) Bytes(i int) []byte {
	b := r.Raw(i)
	n := int(le.Uint16(b))
	return b[2 : 2+min(n, len(b)-2)]
}

// Stack appends the addresses of stack field i, leaf first, to dst.
func (r Record) Stack(i int, dst []uint64) []uint64 { return StackAddrs(r.Raw(i), dst) }

// StackAddrs appends the addresses of a stack slot (an i64 byte count or a
// negative error, then u64 addresses) to dst, up to the first zero.
func StackAddrs(b []byte, dst []uint64) []uint64 {
	if len(b) < 8 {
		return dst
	}
	n := int64(le.Uint64(b))
	if n <= 0 {
		return dst
	}
	k := min(int(n)/8, (len(b)-8)/8)
	for i := 0; i < k; i++ {
		a := le.Uint64(b[8+8*i:])
		if a == 0 {
			break
		}
		dst = append(dst, a)
	}
	return dst
}

// Value returns field name, or one of the header members pid, tid, cpu,
// comm and time (unless a field has that name), as an int64 (integers), a
// string (text and strings) or []byte (other fields). ok is false when
// there is no such name.
func (r Record) Value(name string) (v any, ok bool) {
	if i := r.Class.Schema.Index(name); i >= 0 {
		return r.field(i), true
	}
	switch name {
	case "pid":
		return int64(r.PID()), true
	case "tid":
		return int64(r.TID()), true
	case "cpu":
		return int64(r.CPU()), true
	case "comm":
		return string(r.Comm()), true
	case "time":
		return int64(r.Time()), true
	}
	return nil, false
}

// field returns field i as Value does.
func (r Record) field(i int) any {
	switch r.Class.Schema.Fields[i].Kind {
	case event.Int:
		return r.Int(i)
	case event.Text, event.String:
		return string(r.Str(i))
	case event.Bytes:
		return r.Bytes(i)
	}
	return r.Raw(i)
}

func intOf(b []byte, signed bool) int64 {
	var x uint64
	for i := len(b) - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	if signed && len(b) < 8 {
		shift := 64 - 8*uint(len(b))
		return int64(x<<shift) >> shift
	}
	return int64(x)
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// Errors of [Decoder.Decode].
var (
	ErrShort        = errors.New("record shorter than its layout")
	ErrUnknownClass = errors.New("record of an unknown class")
)

// Decoder turns the bytes of a record into a [Record] of one of its
// classes.
type Decoder struct {
	Classes []*Class // indexed by class id
}

// Decode checks the class id and the size of b and returns it as a Record.
func (d *Decoder) Decode(b []byte) (Record, error) {
	if len(b) < HeaderSize {
		return Record{}, ErrShort
	}
	id := le.Uint32(b[OffClass:])
	if int(id) >= len(d.Classes) || d.Classes[id] == nil {
		return Record{}, fmt.Errorf("%w: %d", ErrUnknownClass, id)
	}
	c := d.Classes[id]
	if len(b) < c.Layout.Size {
		return Record{}, fmt.Errorf("%w: %s: %d of %d bytes", ErrShort, c.Schema.Name, len(b), c.Layout.Size)
	}
	return Record{Class: c, B: b}, nil
}

// Sink consumes the records of a recording and the losses its programs
// counted. A record is borrowed for the call only.
type Sink interface {
	WriteRecord(r Record) error
	// AddDiscarded reports n events that could not be recorded on cpu, at
	// clock value ts (0 when unknown).
	AddDiscarded(cpu int, n uint64, ts uint64) error
}

// Tee is a Sink that hands everything to each of its sinks in turn.
type Tee []Sink

// WriteRecord implements Sink.
func (t Tee) WriteRecord(r Record) error {
	for _, s := range t {
		if err := s.WriteRecord(r); err != nil {
			return err
		}
	}
	return nil
}

// Sink returns t as one sink: its only sink when it has one, which
// saves a call per record.
func (t Tee) Sink() Sink {
	if len(t) == 1 {
		return t[0]
	}
	return t
}

// AddDiscarded implements Sink.
func (t Tee) AddDiscarded(cpu int, n uint64, ts uint64) error {
	for _, s := range t {
		if err := s.AddDiscarded(cpu, n, ts); err != nil {
			return err
		}
	}
	return nil
}
