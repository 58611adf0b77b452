package scriptout

import (
	"strconv"
	"strings"
)

// textPieces renders v as bpftrace's text output does, and says how long
// the first piece an iostream would write is: printf's width pads only
// that piece ("(" of a tuple, "{ " of a record). plus is iostream's
// showpos, which puts "+" on every non-negative signed integer.
func textPieces(v Value, plus bool) (string, int) {
	var b strings.Builder
	first := appendText(&b, v, plus)
	return b.String(), first
}

// textString is v as print() and map values show it.
func textString(v Value) string {
	s, _ := textPieces(v, false)
	return s
}

func appendText(b *strings.Builder, v Value, plus bool) int {
	start := b.Len()
	switch v.Kind {
	case Int:
		switch {
		case v.Symbol != "":
			b.WriteString(v.Symbol)
		case v.Signed:
			n := v.intBits()
			if plus && n >= 0 {
				b.WriteByte('+')
			}
			b.WriteString(strconv.FormatInt(n, 10))
		default:
			b.WriteString(strconv.FormatUint(uint64(v.intBits()), 10))
		}
	case Bool:
		if v.Int != 0 {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case String:
		b.WriteString(v.Str)
	case Buf:
		b.WriteString(hexBuffer([]byte(v.Str), true, true))
	case Pointer:
		b.WriteString("0x" + strconv.FormatUint(uint64(v.Int), 16))
	case None:
		b.WriteString("null")
	case Tuple, Array:
		open, sep, end := "(", ", ", ")" // tuples get spaces, arrays do not
		if v.Kind == Array {
			open, sep, end = "[", ",", "]"
		}
		b.WriteString(open)
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteString(sep)
			}
			appendText(b, e, plus)
		}
		b.WriteString(end)
		return 1
	case Record:
		if len(v.Elems) == 0 {
			b.WriteString("{}")
			return 2
		}
		b.WriteString("{ ")
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(".")
			if i < len(v.Names) {
				b.WriteString(v.Names[i])
			}
			b.WriteString(" = ")
			appendText(b, e, plus)
		}
		b.WriteString(" }")
		return 2
	}
	return b.Len() - start
}

// appendJSONString quotes s as bpftrace's JSON output does. It escapes
// '"', '\\', \n, \r, \t, and every other byte up to 0x1f as \u00XX; since
// bpftrace tests the byte as a signed char, bytes from 0x80 up are escaped
// too, as the hex of their negative value ("\uffffffc3").
func appendJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if int8(c) <= 0x1f {
				h := strconv.FormatUint(uint64(uint32(int32(int8(c)))), 16)
				b.WriteString(`\u`)
				if len(h) < 4 {
					b.WriteString(strings.Repeat("0", 4-len(h)))
				}
				b.WriteString(h)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// jsonInt writes a signed integer; one a double cannot hold exactly is
// written as a string, as bpftrace does (RFC 8259's limits).
func jsonInt(b *strings.Builder, n int64) {
	s := strconv.FormatInt(n, 10)
	f := float64(n)
	if f >= 0x1p63 || int64(f) != n {
		appendJSONString(b, s)
		return
	}
	b.WriteString(s)
}

func jsonUint(b *strings.Builder, n uint64) {
	s := strconv.FormatUint(n, 10)
	f := float64(n)
	if f >= 0x1p64 || uint64(f) != n {
		appendJSONString(b, s)
		return
	}
	b.WriteString(s)
}

// appendJSON writes v as bpftrace's JSON output does: tuples and arrays as
// unspaced lists, records as spaced objects, buffers as lists of (signed)
// byte values, enums and pointers as their numbers.
func appendJSON(b *strings.Builder, v Value) {
	switch v.Kind {
	case Int:
		if v.Signed && v.Symbol == "" {
			jsonInt(b, v.intBits())
		} else {
			jsonUint(b, uint64(v.intBits()))
		}
	case Bool:
		if v.Int != 0 {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case String:
		appendJSONString(b, v.Str)
	case Buf:
		b.WriteByte('[')
		for i := 0; i < len(v.Str); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(int8(v.Str[i]))))
		}
		b.WriteByte(']')
	case Pointer:
		jsonUint(b, uint64(v.Int))
	case None:
		b.WriteString("null")
	case Tuple, Array:
		b.WriteByte('[')
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			appendJSON(b, e)
		}
		b.WriteByte(']')
	case Record:
		b.WriteByte('{')
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteString(", ")
			}
			name := ""
			if i < len(v.Names) {
				name = v.Names[i]
			}
			appendJSONString(b, name)
			b.WriteString(": ")
			appendJSON(b, e)
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
}

// TextString is v as print(v) shows it in text mode (without the newline).
func TextString(v Value) string { return textString(v) }

// JSONString is v in bpftrace's JSON encoding.
func JSONString(v Value) string {
	var b strings.Builder
	appendJSON(&b, v)
	return b.String()
}
