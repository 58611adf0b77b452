package ctf

import (
	"fmt"
	"math"
	"strings"
)

// tsdlTokKind is the class of a TSDL token.
type tsdlTokKind uint8

const (
	tsdlEOF     tsdlTokKind = iota
	tsdlIdent               // identifiers and keywords
	tsdlInt                 // integer literal (unsigned; signs are tokens)
	tsdlString              // "string literal", unescaped in text
	tsdlCharLit             // 'c' literal, unescaped in text
	tsdlPunct               // punctuation, in text
)

// tsdlToken is one lexical token.
type tsdlToken struct {
	kind tsdlTokKind
	text string // identifier, unescaped literal, punctuation
	val  uint64 // tsdlInt
	line int
}

// describe names the token for error messages.
func (t tsdlToken) describe() string {
	switch t.kind {
	case tsdlEOF:
		return "end of metadata"
	case tsdlInt:
		return fmt.Sprintf("'%d'", t.val)
	case tsdlString:
		return "string literal"
	case tsdlCharLit:
		return "character literal"
	}
	if len(t.text) > 40 {
		return fmt.Sprintf("'%s...'", t.text[:40])
	}
	return "'" + t.text + "'"
}

// tsdlError is a metadata error located on a line.
type tsdlError struct {
	line  int
	msg   string
	limit bool // a size or nesting limit was hit, the syntax may be fine
}

func (e *tsdlError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("metadata line %d: %s", e.line, e.msg)
	}
	return "metadata: " + e.msg
}

func tsdlErrorf(line int, format string, args ...any) error {
	return &tsdlError{line: line, msg: fmt.Sprintf(format, args...)}
}

// tsdlLimitf reports input beyond one of the parser's limits.
func tsdlLimitf(line int, format string, args ...any) error {
	return &tsdlError{line: line, msg: fmt.Sprintf(format, args...), limit: true}
}

// tsdlMaxTokens bounds the token count of one metadata text.
const tsdlMaxTokens = 1 << 22

// tsdlLex splits TSDL text into tokens. The last token is always tsdlEOF.
func tsdlLex(src []byte) ([]tsdlToken, error) {
	var toks []tsdlToken
	line := 1
	i := 0
	n := len(src)
	for {
		var err error
		i, line, err = tsdlSkipBlanks(src, i, line)
		if err != nil {
			return nil, err
		}
		if len(toks) >= tsdlMaxTokens {
			return nil, tsdlLimitf(line, "metadata has too many tokens")
		}
		if i >= n {
			toks = append(toks, tsdlToken{kind: tsdlEOF, line: line})
			return toks, nil
		}
		c := src[i]
		switch {
		case tsdlIdentByte(c, false):
			j := i + 1
			for j < n && tsdlIdentByte(src[j], true) {
				j++
			}
			toks = append(toks, tsdlToken{kind: tsdlIdent, text: string(src[i:j]), line: line})
			i = j
		case c >= '0' && c <= '9':
			v, j, err := tsdlLexInt(src, i)
			if err != nil {
				return nil, tsdlErrorf(line, "%v", err)
			}
			toks = append(toks, tsdlToken{kind: tsdlInt, val: v, text: string(src[i:j]), line: line})
			i = j
		case c == '"' || c == '\'':
			s, j, nl, err := tsdlLexString(src, i)
			if err != nil {
				return nil, tsdlErrorf(line, "%v", err)
			}
			kind := tsdlString
			if c == '\'' {
				kind = tsdlCharLit
			}
			toks = append(toks, tsdlToken{kind: kind, text: s, line: line})
			line += nl
			i = j
		default:
			p, err := tsdlLexPunct(src, i, line)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tsdlToken{kind: tsdlPunct, text: p, line: line})
			i += len(p)
		}
	}
}

// tsdlSkipBlanks skips white space and comments from src[i] and returns
// the index and line number after them.
func tsdlSkipBlanks(src []byte, i, line int) (int, int, error) {
	n := len(src)
	for i < n {
		c := src[i]
		if c == '\n' {
			line++
			i++
		} else if c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' {
			i++
		} else if c == '/' && i+1 < n && src[i+1] == '*' {
			start := line
			i += 2
			for {
				if i+1 >= n {
					return i, line, tsdlErrorf(start, "unterminated comment")
				}
				if src[i] == '*' && src[i+1] == '/' {
					i += 2
					break
				}
				if src[i] == '\n' {
					line++
				}
				i++
			}
		} else if c == '/' && i+1 < n && src[i+1] == '/' {
			for i < n && src[i] != '\n' {
				i++
			}
		} else {
			break
		}
	}
	return i, line, nil
}

// tsdlLexPunct returns the punctuator starting at src[i].
func tsdlLexPunct(src []byte, i, line int) (string, error) {
	n := len(src)
	c := src[i]
	switch {
	case c == ':' && i+1 < n && src[i+1] == '=':
		return ":=", nil
	case c == '.' && i+2 < n && src[i+1] == '.' && src[i+2] == '.':
		return "...", nil
	case c == '-' && i+1 < n && src[i+1] == '>':
		return "->", nil
	case strings.IndexByte("[](){}<>*+-:;.=,", c) >= 0:
		return string(c), nil
	}
	if c >= 0x20 && c < 0x7f {
		return "", tsdlErrorf(line, "invalid character '%c'", c)
	}
	return "", tsdlErrorf(line, "invalid character 0x%02x", c)
}

// tsdlLexInt reads a C integer literal (decimal, 0octal, 0xhex) with an
// optional u/U/l/L suffix starting at src[i].
func tsdlLexInt(src []byte, i int) (uint64, int, error) {
	n := len(src)
	base := uint64(10)
	j := i
	if src[i] == '0' {
		if i+1 < n && (src[i+1] == 'x' || src[i+1] == 'X') {
			base = 16
			j = i + 2
			if j >= n || func() bool { _, ok := tsdlHexVal(src[j]); return !ok }() {
				return 0, 0, fmt.Errorf("invalid integer %q", string(src[i:j]))
			}
		} else {
			base = 8
		}
	}
	var v uint64
	start := j
	for j < n {
		d, ok := tsdlHexVal(src[j])
		if !ok || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			k := j
			for k < n && tsdlIdentByte(src[k], true) {
				k++
			}
			return 0, 0, fmt.Errorf("integer %q out of range", tsdlClip(src[i:k], 40))
		}
		v = v*base + uint64(d)
		j++
	}
	if j == start && base != 8 {
		return 0, 0, fmt.Errorf("invalid integer")
	}
	for j < n && (src[j] == 'u' || src[j] == 'U' || src[j] == 'l' || src[j] == 'L') {
		j++
	}
	if j < n && tsdlIdentByte(src[j], true) {
		k := j
		for k < n && tsdlIdentByte(src[k], true) {
			k++
		}
		return 0, 0, fmt.Errorf("invalid integer %q", tsdlClip(src[i:k], 40))
	}
	return v, j, nil
}

func tsdlClip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// tsdlLexString reads a quoted literal starting at src[i] and returns its
// unescaped content, the index after the closing quote and the number of
// newlines inside.
func tsdlLexString(src []byte, i int) (string, int, int, error) {
	q := src[i]
	n := len(src)
	var b strings.Builder
	nl := 0
	j := i + 1
	for {
		if j >= n {
			return "", 0, 0, fmt.Errorf("unterminated string literal")
		}
		c := src[j]
		if c == q {
			return b.String(), j + 1, nl, nil
		}
		if c == '\n' {
			nl++
		}
		if c != '\\' {
			b.WriteByte(c)
			j++
			continue
		}
		j++
		if j >= n {
			return "", 0, 0, fmt.Errorf("unterminated string literal")
		}
		e := src[j]
		j++
		switch e {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '\\', '\'', '"', '?':
			b.WriteByte(e)
		case 'x':
			v, k := 0, 0
			for k < 2 && j < n {
				d, ok := tsdlHexVal(src[j])
				if !ok {
					break
				}
				v = v*16 + int(d)
				j++
				k++
			}
			if k == 0 {
				return "", 0, 0, fmt.Errorf("invalid \\x escape in string literal")
			}
			b.WriteByte(byte(v))
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for k := 1; k < 3 && j < n && src[j] >= '0' && src[j] <= '7'; k++ {
				v = v*8 + int(src[j]-'0')
				j++
			}
			if v > 0xff {
				return "", 0, 0, fmt.Errorf("octal escape out of range in string literal")
			}
			b.WriteByte(byte(v))
		default:
			return "", 0, 0, fmt.Errorf("invalid escape '\\%c' in string literal", e)
		}
	}
}
