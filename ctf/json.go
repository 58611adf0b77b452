package ctf

import (
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// AppendJSON appends the value as JSON to b and returns the extended
// buffer: exactly what encoding/json writes for v.Interface() as a member
// of [Fields] (floats as JSON floats, NaN and infinities as null), without
// building the Go values first. It allocates nothing beyond b's growth.
func (v *Value) AppendJSON(b []byte) []byte {
	t := v.Type
	if t == nil {
		return append(b, "null"...)
	}
	switch t.Kind {
	case KindInteger:
		if t.Signed {
			return strconv.AppendInt(b, v.Int, 10)
		}
		return strconv.AppendUint(b, v.Uint, 10)
	case KindEnum:
		if v.Label != "" {
			return AppendJSONString(b, v.Label)
		}
		if t.Container != nil && t.Container.Signed {
			return strconv.AppendInt(b, v.Int, 10)
		}
		return strconv.AppendUint(b, v.Uint, 10)
	case KindFloat:
		return rdAppendFloat(b, v.Float)
	case KindString:
		return rdAppendJSONString(b, v.Bytes)
	case KindArray, KindSequence:
		if t.IsText() {
			return rdAppendJSONString(b, v.Bytes)
		}
		b = append(b, '[')
		for i := range v.Elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = v.Elems[i].AppendJSON(b)
		}
		return append(b, ']')
	case KindStruct:
		b = append(b, '{')
		b = v.AppendJSONMembers(b)
		return append(b, '}')
	case KindVariant:
		if len(v.Elems) == 1 {
			return v.Elems[0].AppendJSON(b)
		}
	}
	return append(b, "null"...)
}

// AppendJSONMembers appends the members of a struct value as the inside
// of a JSON object ("a":1,"b":2, names without their leading '_', as
// [Value.AppendJSON] writes them) and returns the extended buffer; it
// appends nothing for a value that is not a struct.
func (v *Value) AppendJSONMembers(b []byte) []byte {
	t := v.Type
	if t == nil || t.Kind != KindStruct {
		return b
	}
	for i := range v.Elems {
		if i >= len(t.Fields) {
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, StripName(t.Fields[i].Name))
		b = append(b, ':')
		b = v.Elems[i].AppendJSON(b)
	}
	return b
}

// JSONMembers returns how many members [Value.AppendJSONMembers] writes.
func (v *Value) JSONMembers() int {
	if v.Type == nil || v.Type.Kind != KindStruct {
		return 0
	}
	return min(len(v.Elems), len(v.Type.Fields))
}

// AppendJSONString appends s as a JSON string, escaped exactly as
// encoding/json escapes strings: control characters, '"' and '\\', the
// HTML characters <, > and &, U+2028 and U+2029, and invalid UTF-8 (as
// U+FFFD).
func AppendJSONString(b []byte, s string) []byte {
	// s is only read.
	return rdAppendJSONString(b, unsafe.Slice(unsafe.StringData(s), len(s)))
}

func rdAppendJSONString(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
