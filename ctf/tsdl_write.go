package ctf

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/bpftrail/bpftrail/ctf/internal/tsdl"
)

// TSDL returns m as plain-text CTF 1.8 metadata, beginning with the
// "/* CTF 1.8 */" signature. The output is deterministic.
//
// Names are made legal rather than rejected: a field, env key or clock name
// that is a TSDL keyword or a predeclared type name gets a leading underscore
// (which readers strip again), and characters not allowed in an identifier
// become underscores; sequence lengths and variant tags that name such fields
// are rewritten the same way. A clock UUID that is not a valid UUID is left
// out, and so is a negative log level (babeltrace2 rejects both). A negative
// clock offset is written as whole seconds in offset_s plus a non-negative
// offset. Stream ids (stream id and event stream_id) are written only when
// the trace has a packet header: babeltrace2 rejects them otherwise. Zero
// Major and Minor are written as 1.8, and DefaultOrder as le.
// Semantic validity (sizes, tags that name enums, lengths that name earlier
// integer fields) is the caller's responsibility.
func (m *Metadata) TSDL() []byte {
	w := &tsdlWriter{}
	w.buf.WriteString(tsdl.Signature)
	w.buf.WriteString("\n")
	for _, a := range tsdl.Aliases {
		fmt.Fprintf(&w.buf, "typealias %s := %s;\n", a.Decl, a.Name)
	}
	w.buf.WriteString("\n")
	w.traceBlock(m)
	if len(m.Env) > 0 {
		w.envBlock(m.Env)
	}
	for _, c := range m.Clocks {
		if c != nil {
			w.clockBlock(c)
		}
	}
	// babeltrace2 rejects a stream id (and an event's stream_id then names
	// no stream) when the trace has no packet header to carry it.
	withIDs := m.PacketHeader != nil
	for _, s := range m.Streams {
		if s != nil {
			w.streamBlock(s, withIDs)
		}
	}
	for _, s := range m.Streams {
		if s == nil {
			continue
		}
		for _, e := range s.Events {
			if e != nil {
				w.eventBlock(e, s.ID, withIDs)
			}
		}
	}
	return w.buf.Bytes()
}

func (w *tsdlWriter) traceBlock(m *Metadata) {
	major, minor := m.Major, m.Minor
	if major == 0 && minor == 0 {
		major, minor = 1, 8
	}
	w.line(0, "trace {")
	w.line(1, "major = %d;", major)
	w.line(1, "minor = %d;", minor)
	if m.HasUUID {
		w.line(1, "uuid = %s;", tsdl.Quote(tsdl.FormatUUID(m.UUID)))
	}
	if m.ByteOrder == BigEndian {
		w.line(1, "byte_order = be;")
	} else {
		w.line(1, "byte_order = le;")
	}
	if m.PacketHeader != nil {
		w.assign(1, "packet.header", m.PacketHeader)
	}
	w.endBlock()
}

func (w *tsdlWriter) envBlock(env []EnvValue) {
	w.line(0, "env {")
	for _, e := range env {
		if e.IsInt {
			w.line(1, "%s = %d;", tsdl.LegalName(e.Key), e.Int)
		} else {
			w.line(1, "%s = %s;", tsdl.LegalName(e.Key), tsdl.Quote(e.Str))
		}
	}
	w.endBlock()
}

func (w *tsdlWriter) clockBlock(c *Clock) {
	w.line(0, "clock {")
	w.line(1, "name = %s;", tsdl.Quote(tsdl.LegalName(c.Name)))
	if _, ok := tsdl.ParseUUID(c.UUID); ok {
		w.line(1, "uuid = %s;", tsdl.Quote(c.UUID))
	}
	if c.Description != "" {
		w.line(1, "description = %s;", tsdl.Quote(c.Description))
	}
	w.line(1, "freq = %d;", c.Frequency())
	if c.Precision != 0 {
		w.line(1, "precision = %d;", c.Precision)
	}
	offS, off := tsdlClockOffset(c)
	w.line(1, "offset_s = %d;", offS)
	w.line(1, "offset = %d;", off)
	w.line(1, "absolute = %t;", c.Absolute)
	w.endBlock()
}

func (w *tsdlWriter) streamBlock(s *StreamClass, withID bool) {
	w.line(0, "stream {")
	if withID {
		w.line(1, "id = %d;", s.ID)
	}
	if s.EventHeader != nil {
		w.assign(1, "event.header", s.EventHeader)
	}
	if s.PacketContext != nil {
		w.assign(1, "packet.context", s.PacketContext)
	}
	if s.EventContext != nil {
		w.assign(1, "event.context", s.EventContext)
	}
	w.endBlock()
}

func (w *tsdlWriter) eventBlock(e *EventClass, streamID uint64, withStreamID bool) {
	w.line(0, "event {")
	w.line(1, "name = %s;", tsdl.Quote(e.Name))
	w.line(1, "id = %d;", e.ID)
	if withStreamID {
		w.line(1, "stream_id = %d;", streamID)
	}
	if e.HasLevel && e.LogLevel >= 0 { // babeltrace2 rejects negative levels
		w.line(1, "loglevel = %d;", e.LogLevel)
	}
	if e.Context != nil {
		w.assign(1, "context", e.Context)
	}
	if e.Fields != nil {
		w.assign(1, "fields", e.Fields)
	}
	w.endBlock()
}

// endBlock closes a top-level block and leaves an empty line after it.
func (w *tsdlWriter) endBlock() {
	w.line(0, "};")
	w.buf.WriteString("\n")
}

// tsdlWriter accumulates TSDL text.
type tsdlWriter struct {
	buf bytes.Buffer
}

func (w *tsdlWriter) indent(depth int) {
	for range depth {
		w.buf.WriteByte('\t')
	}
}

func (w *tsdlWriter) line(depth int, format string, args ...any) {
	w.indent(depth)
	fmt.Fprintf(&w.buf, format, args...)
	w.buf.WriteByte('\n')
}

// assign writes "name := TYPE;". Scopes must be structures; any other type is
// wrapped into a structure with a single field called _value.
func (w *tsdlWriter) assign(depth int, name string, t *Type) {
	if t.Kind != KindStruct {
		t = Struct(F("_value", t))
	}
	w.indent(depth)
	w.buf.WriteString(name)
	w.buf.WriteString(" := ")
	w.typeSpec(depth, t)
	w.buf.WriteString(";\n")
}

// field writes one struct or variant member: the type specifier, the name and
// the array dimensions, outermost first (as in C, "x[2][3]" is two arrays of
// three).
func (w *tsdlWriter) field(depth int, f Field) {
	t := f.Type
	var dims []string
	for t != nil && (t.Kind == KindArray || t.Kind == KindSequence) {
		if t.Kind == KindArray {
			dims = append(dims, strconv.Itoa(max(t.Length, 0)))
		} else {
			dims = append(dims, tsdl.Path(t.LengthField))
		}
		t = t.Elem
	}
	w.indent(depth)
	w.typeSpec(depth, t)
	w.buf.WriteByte(' ')
	w.buf.WriteString(tsdl.LegalName(f.Name))
	for _, d := range dims {
		w.buf.WriteByte('[')
		w.buf.WriteString(d)
		w.buf.WriteByte(']')
	}
	w.buf.WriteString(";\n")
}

// typeSpec writes the type specifier of t without a trailing newline; nested
// members are indented one level deeper than depth.
func (w *tsdlWriter) typeSpec(depth int, t *Type) {
	if t == nil {
		w.buf.WriteString("struct { }")
		return
	}
	switch t.Kind {
	case KindInteger:
		w.integer(t)
	case KindFloat:
		exp, mant := t.ExpDig, t.MantDig
		if exp <= 0 || mant <= 0 {
			exp, mant = 8, 24
			if t.Size == 64 {
				exp, mant = 11, 53
			}
		}
		fmt.Fprintf(&w.buf, "floating_point { exp_dig = %d; mant_dig = %d; align = %d;%s }",
			exp, mant, t.Alignment(), tsdlOrderAttr(t.ByteOrder))
	case KindString:
		enc := "UTF8"
		if t.Encoding == EncodingASCII {
			enc = "ASCII"
		}
		fmt.Fprintf(&w.buf, "string { encoding = %s; }", enc)
	case KindEnum:
		c := t.Container
		if c == nil || c.Kind != KindInteger {
			c = Int(32)
		}
		w.buf.WriteString("enum : ")
		w.integer(c)
		w.buf.WriteString(" {\n")
		maps := t.Mappings
		if len(maps) == 0 {
			// An empty enumerator list is a syntax error; map nothing
			// visible instead.
			maps = []EnumMapping{{Label: "_", Start: 0, End: 0}}
		}
		for i, mp := range maps {
			w.indent(depth + 1)
			w.buf.WriteString(tsdl.Quote(mp.Label))
			w.buf.WriteString(" = ")
			w.buf.WriteString(tsdlEnumValue(c, mp.Start))
			if mp.End != mp.Start {
				w.buf.WriteString(" ... ")
				w.buf.WriteString(tsdlEnumValue(c, mp.End))
			}
			if i < len(maps)-1 {
				w.buf.WriteByte(',')
			}
			w.buf.WriteByte('\n')
		}
		w.indent(depth)
		w.buf.WriteString("}")
	case KindStruct:
		w.buf.WriteString("struct {\n")
		for _, f := range t.Fields {
			w.field(depth+1, f)
		}
		w.indent(depth)
		w.buf.WriteString("}")
		if t.MinAlign > 0 {
			fmt.Fprintf(&w.buf, " align(%d)", t.MinAlign)
		}
	case KindVariant:
		fmt.Fprintf(&w.buf, "variant <%s> {\n", tsdl.Path(t.Tag))
		for _, f := range t.Fields {
			w.field(depth+1, f)
		}
		w.indent(depth)
		w.buf.WriteString("}")
	case KindArray, KindSequence:
		// Only reachable for an array that is not a member; wrap it.
		w.typeSpec(depth, Struct(F("_value", t)))
	default:
		w.buf.WriteString("struct { }")
	}
}

func (w *tsdlWriter) integer(t *Type) {
	signed := 0
	if t.Signed {
		signed = 1
	}
	enc := "none"
	switch t.Encoding {
	case EncodingUTF8:
		enc = "UTF8"
	case EncodingASCII:
		enc = "ASCII"
	}
	base := t.Base
	switch base {
	case 2, 8, 10, 16:
	default:
		base = 10
	}
	fmt.Fprintf(&w.buf, "integer { size = %d; align = %d; signed = %d; encoding = %s; base = %d;%s",
		t.Size, t.Alignment(), signed, enc, base, tsdlOrderAttr(t.ByteOrder))
	if t.Clock != "" {
		fmt.Fprintf(&w.buf, " map = clock.%s.value;", tsdl.LegalName(t.Clock))
	}
	w.buf.WriteString(" }")
}

// tsdlClockOffset returns the clock offset with the cycles part in
// [0, freq): babeltrace2 2.0.4 rejects a negative "offset" (it accepts a
// negative "offset_s"), so whole seconds are borrowed from offset_s.
func tsdlClockOffset(c *Clock) (int64, int64) {
	offS, off := c.OffsetS, c.Offset
	if off >= 0 {
		return offS, off
	}
	f := c.Frequency()
	if f > math.MaxInt64 {
		return offS, 0
	}
	mag := uint64(-(off + 1)) + 1 // |off|, also for math.MinInt64
	k := (mag + f - 1) / f        // seconds to borrow
	off = int64(k*f - mag)
	if offS < math.MinInt64+int64(k) {
		return math.MinInt64, off
	}
	return offS - int64(k), off
}

func tsdlOrderAttr(o ByteOrder) string {
	switch o {
	case LittleEndian:
		return " byte_order = le;"
	case BigEndian:
		return " byte_order = be;"
	}
	return ""
}

// tsdlEnumValue formats an enum bound: the uint64 bit pattern for unsigned
// containers, a signed value otherwise.
func tsdlEnumValue(container *Type, v int64) string {
	if container.Signed {
		return strconv.FormatInt(v, 10)
	}
	return strconv.FormatUint(uint64(v), 10)
}
