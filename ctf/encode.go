package ctf

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
)

// Write writes one event of class ec at clock value ts from Go values, one
// per payload field in declaration order. Accepted values:
//   - integers and enums: any Go integer type or bool (enums also take a
//     label string);
//   - floats: float32, float64 or an integer;
//   - strings: string or []byte;
//   - arrays and sequences: a slice of values ([]any or a typed slice); text
//     arrays also take a string or []byte (zero-padded);
//   - structs: []any in field order, or map[string]any.
//
// A sequence's length field must be given like any other field and must
// equal the slice's length. Write is slower than the [Encoder] path but
// handles any alignment.
func (s *StreamWriter) Write(ec *EventClass, ts uint64, values ...any) error {
	if s.failed != nil {
		return s.failed
	}
	n := 0
	if ec.Fields != nil {
		n = len(ec.Fields.Fields)
	}
	ctx := s.w.meta.Streams[0].EventContext
	if ctx != nil {
		n += len(ctx.Fields)
	}
	if len(values) != n {
		return fmt.Errorf("ctf: event %q has %d fields, got %d values", ec.Name, n, len(values))
	}
	if ts < s.last {
		// Clamp (and count) once: Begin would count the event again when it
		// is encoded a second time in a new packet below.
		ts = s.last
		s.stats.Clamped++
	}
	for attempt := 0; ; attempt++ {
		s.Begin(ec, ts)
		err := s.encodePayload(ec, values)
		if err != nil {
			s.buf = s.buf[:s.evStart]
			return fmt.Errorf("ctf: event %q: %w", ec.Name, err)
		}
		// Alignment is relative to the packet start, so an event that does
		// not fit is encoded again in a new packet rather than moved.
		if attempt == 0 && s.pktEvs > 0 && len(s.buf)-s.pktStart > s.pkt {
			s.buf = s.buf[:s.evStart]
			s.closePacket()
			s.openPacket(s.last)
			if err := s.maybeFlush(); err != nil {
				return err
			}
			continue
		}
		return s.enc.Commit()
	}
}

func (s *StreamWriter) encodePayload(ec *EventClass, values []any) error {
	scope := map[string]int64{}
	if ctx := s.w.meta.Streams[0].EventContext; ctx != nil {
		s.align(ctx.Alignment())
		for i, f := range ctx.Fields {
			if err := s.encodeValue(f.Type, values[i], scope); err != nil {
				return fmt.Errorf("context field %s: %w", f.Name, err)
			}
		}
		values = values[len(ctx.Fields):]
		scope = map[string]int64{}
	}
	if ec.Fields == nil {
		return nil
	}
	s.align(ec.Fields.Alignment())
	for i, f := range ec.Fields.Fields {
		if err := s.encodeValue(f.Type, values[i], scope); err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		if v, ok := asInt(values[i]); ok {
			scope[f.Name] = v
		}
	}
	return nil
}

// align pads the open packet to a multiple of bits.
func (s *StreamWriter) align(bits int) {
	a := bits / 8
	if a <= 1 {
		return
	}
	for (len(s.buf)-s.pktStart)%a != 0 {
		s.buf = append(s.buf, 0)
	}
}

func (s *StreamWriter) encodeValue(t *Type, v any, scope map[string]int64) error {
	s.align(t.Alignment())
	switch t.Kind {
	case KindInteger:
		u, ok := asUint(v)
		if !ok {
			return fmt.Errorf("want an integer, got %T", v)
		}
		return s.putInt(t, u)
	case KindEnum:
		return s.encodeEnum(t, v)
	case KindFloat:
		return s.encodeFloat(t, v)
	case KindString:
		switch x := v.(type) {
		case string:
			s.enc.String(x)
		case []byte:
			s.enc.CString(x)
		default:
			return fmt.Errorf("want a string, got %T", v)
		}
		return nil
	case KindArray, KindSequence:
		if t.IsText() {
			if done, err := s.encodeText(t, v, scope); done {
				return err
			}
		}
		return s.encodeList(t, v, scope)
	case KindStruct:
		return s.encodeStruct(t, v, scope)
	}
	return fmt.Errorf("cannot write a %v field", t.Kind)
}

// encodeEnum writes an enum given as a label or as its integer value.
func (s *StreamWriter) encodeEnum(t *Type, v any) error {
	if label, ok := v.(string); ok {
		for _, m := range t.Mappings {
			if m.Label == label {
				return s.putInt(t.Container, uint64(m.Start))
			}
		}
		return fmt.Errorf("no enum label %q", label)
	}
	u, ok := asUint(v)
	if !ok {
		return fmt.Errorf("want an integer or label, got %T", v)
	}
	return s.putInt(t.Container, u)
}

// encodeFloat writes a float32, a float64 or an integer as a 32- or 64-bit
// float.
func (s *StreamWriter) encodeFloat(t *Type, v any) error {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		i, ok := asInt(v)
		if !ok {
			return fmt.Errorf("want a float, got %T", v)
		}
		f = float64(i)
	}
	if t.Size == 32 {
		s.buf = binary.LittleEndian.AppendUint32(s.buf, math.Float32bits(float32(f)))
	} else {
		s.buf = binary.LittleEndian.AppendUint64(s.buf, math.Float64bits(f))
	}
	return nil
}

// encodeText writes a text array or sequence given as a string, bytes or
// nil; done is false for any other value, which encodeList then writes
// element by element.
func (s *StreamWriter) encodeText(t *Type, v any, scope map[string]int64) (done bool, err error) {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	}
	if b == nil && v != nil {
		return false, nil
	}
	n := t.Length
	if t.Kind == KindSequence {
		n = len(b)
		if err := checkLen(t, scope, n); err != nil {
			return true, err
		}
	}
	s.enc.Text(b, n)
	return true, nil
}

// encodeList writes an array or a sequence from a slice or an array.
func (s *StreamWriter) encodeList(t *Type, v any, scope map[string]int64) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return fmt.Errorf("want a slice, got %T", v)
	}
	n := rv.Len()
	if t.Kind == KindArray && n != t.Length {
		return fmt.Errorf("array of %d elements, got %d", t.Length, n)
	}
	if t.Kind == KindSequence {
		if err := checkLen(t, scope, n); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		if err := s.encodeValue(t.Elem, rv.Index(i).Interface(), scope); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

// encodeStruct writes a struct from its field values in order ([]any) or
// by name (map[string]any). Integer fields join the scope that sequence
// lengths are looked up in, for the fields after them.
func (s *StreamWriter) encodeStruct(t *Type, v any, scope map[string]int64) error {
	inner := map[string]int64{}
	for k, v := range scope {
		inner[k] = v
	}
	for i, f := range t.Fields {
		fv, err := structField(t, v, i, f.Name)
		if err != nil {
			return err
		}
		if err := s.encodeValue(f.Type, fv, inner); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if iv, ok := asInt(fv); ok {
			inner[f.Name] = iv
		}
	}
	return nil
}

// structField returns the value of field i, named name, of the struct t
// given as v.
func structField(t *Type, v any, i int, name string) (any, error) {
	switch x := v.(type) {
	case []any:
		if len(x) != len(t.Fields) {
			return nil, fmt.Errorf("struct of %d fields, got %d values", len(t.Fields), len(x))
		}
		return x[i], nil
	case map[string]any:
		val, ok := x[name]
		if !ok {
			val, ok = x[StripName(name)]
		}
		if !ok {
			return nil, fmt.Errorf("missing field %s", name)
		}
		return val, nil
	}
	return nil, fmt.Errorf("want []any or map[string]any for a struct, got %T", v)
}

func checkLen(t *Type, scope map[string]int64, n int) error {
	l, ok := scope[t.LengthField]
	if !ok {
		return fmt.Errorf("sequence length field %s not written before the sequence", t.LengthField)
	}
	if l != int64(n) {
		return fmt.Errorf("sequence of %d elements but its length field %s is %d", n, t.LengthField, l)
	}
	return nil
}

// putInt appends the low t.Size bits of u; the writer supports whole-byte
// integers.
func (s *StreamWriter) putInt(t *Type, u uint64) error {
	var bo binary.AppendByteOrder = binary.LittleEndian
	if t.ByteOrder == BigEndian {
		bo = binary.BigEndian
	}
	switch t.Size {
	case 8:
		s.buf = append(s.buf, byte(u))
	case 16:
		s.buf = bo.AppendUint16(s.buf, uint16(u))
	case 32:
		s.buf = bo.AppendUint32(s.buf, uint32(u))
	case 64:
		s.buf = bo.AppendUint64(s.buf, u)
	default:
		return fmt.Errorf("the writer supports integers of 8, 16, 32 or 64 bits, not %d", t.Size)
	}
	return nil
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint64:
		return x, true
	case uint:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uintptr:
		return uint64(x), true
	}
	i, ok := asInt(v)
	return uint64(i), ok
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case uint64:
		return int64(x), true
	case uint:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	}
	return 0, false
}
