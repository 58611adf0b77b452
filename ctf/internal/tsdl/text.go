package tsdl

import (
	"fmt"
	"strings"
)

// Signature starts every plain-text metadata file; babeltrace2 refuses
// metadata without it.
const Signature = "/* CTF 1.8 */\n"

// Keywords are the TSDL reserved words (CTF 1.8 §C.1.2, babeltrace2's
// lexer). A field called one of them is a syntax error.
var Keywords = map[string]bool{
	"align": true, "callsite": true, "const": true, "char": true, "clock": true,
	"double": true, "enum": true, "env": true, "event": true,
	"floating_point": true, "float": true, "integer": true, "int": true,
	"long": true, "short": true, "signed": true, "stream": true, "string": true,
	"struct": true, "trace": true, "typealias": true, "typedef": true,
	"unsigned": true, "variant": true, "void": true, "_Bool": true,
	"_Complex": true, "_Imaginary": true,
}

// Alias is a type name TSDL declares before everything else, and its
// declaration.
type Alias struct{ Name, Decl string }

// Aliases are the type names TSDL declares before everything else. The
// lexer of babeltrace2 turns a declared type name into a type token, so a
// field may not be called like one either.
var Aliases = []Alias{
	{"uint8_t", "integer { size = 8; align = 8; signed = false; }"},
	{"uint16_t", "integer { size = 16; align = 8; signed = false; }"},
	{"uint32_t", "integer { size = 32; align = 8; signed = false; }"},
	{"uint64_t", "integer { size = 64; align = 8; signed = false; }"},
	{"unsigned long", "integer { size = 64; align = 8; signed = false; }"},
}

// ScopePrefixes are the dynamic scope prefixes that may start a field
// path in a sequence length or variant tag.
var ScopePrefixes = []string{
	"trace.packet.header.",
	"stream.packet.context.",
	"stream.event.header.",
	"stream.event.context.",
	"event.context.",
	"event.fields.",
}

// LegalName returns name as a legal TSDL identifier: invalid characters become
// '_', and a name that starts with a digit, is a keyword or a predeclared
// type name gets a leading '_'.
func LegalName(name string) string {
	if name == "" {
		return "_"
	}
	b := []byte(name)
	for i, c := range b {
		if !IdentByte(c, true) {
			b[i] = '_'
		}
	}
	s := string(b)
	if s[0] >= '0' && s[0] <= '9' || Keywords[s] || IsAlias(s) {
		s = "_" + s
	}
	return s
}

// IsAlias reports whether s is one of the [Aliases].
func IsAlias(s string) bool {
	for _, a := range Aliases {
		if a.Name == s {
			return true
		}
	}
	return false
}

// IdentByte reports whether c may appear in an identifier (as its first
// byte when digitOK is false).
func IdentByte(c byte, digitOK bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || digitOK && c >= '0' && c <= '9'
}

// Path returns a field path (sequence length, variant tag) with every
// field-name component made legal the way [LegalName] makes field names
// legal; a leading dynamic scope prefix such as "event.fields." is kept.
func Path(p string) string {
	prefix := ""
	for _, s := range ScopePrefixes {
		if strings.HasPrefix(p, s) && len(p) > len(s) {
			prefix, p = s, p[len(s):]
			break
		}
	}
	parts := strings.Split(p, ".")
	for i, part := range parts {
		parts[i] = LegalName(part)
	}
	return prefix + strings.Join(parts, ".")
}

// Quote returns s as a TSDL string literal. Quotes, backslashes and
// control characters are escaped; other bytes are copied.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
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
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%03o`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FormatUUID formats u as 8-4-4-4-12 lowercase hex.
func FormatUUID(u [16]byte) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&15]
		j += 2
	}
	return string(b[:])
}

// ParseUUID parses an 8-4-4-4-12 hex UUID.
func ParseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return u, false
			}
			i++
			continue
		}
		hi, ok1 := HexVal(s[i])
		lo, ok2 := HexVal(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

// HexVal returns the value of hexadecimal digit c.
func HexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
