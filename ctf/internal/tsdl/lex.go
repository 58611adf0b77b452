// Package tsdl holds what the ctf package's metadata parser and writer
// share and what is not its API: the TSDL lexer and its located errors,
// the packetized-metadata framing, and the rules for names, string
// literals and UUIDs in TSDL text.
package tsdl

import (
	"fmt"
	"math"
	"strings"
)

// TokKind is the class of a TSDL token.
type TokKind uint8

const (
	EOF     TokKind = iota
	Ident           // identifiers and keywords
	Int             // integer literal (unsigned; signs are tokens)
	String          // "string literal", unescaped in text
	CharLit         // 'c' literal, unescaped in text
	Punct           // punctuation, in text
)

// Token is one lexical token.
type Token struct {
	Kind TokKind
	Text string // identifier, unescaped literal, punctuation
	Val  uint64 // Int
	Line int
}

// Describe names the token for error messages.
func (t Token) Describe() string {
	switch t.Kind {
	case EOF:
		return "end of metadata"
	case Int:
		return fmt.Sprintf("'%d'", t.Val)
	case String:
		return "string literal"
	case CharLit:
		return "character literal"
	}
	if len(t.Text) > 40 {
		return fmt.Sprintf("'%s...'", t.Text[:40])
	}
	return "'" + t.Text + "'"
}

// Error is a metadata error located on a line.
type Error struct {
	Line  int
	Msg   string
	Limit bool // a size or nesting limit was hit, the syntax may be fine
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("metadata line %d: %s", e.Line, e.Msg)
	}
	return "metadata: " + e.Msg
}

// Errorf returns an [*Error] on line (0 for none).
func Errorf(line int, format string, args ...any) error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Limitf reports input beyond one of the parser's limits.
func Limitf(line int, format string, args ...any) error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...), Limit: true}
}

// MaxTokens bounds the token count of one metadata text.
const MaxTokens = 1 << 22

// Lex splits TSDL text into tokens. The last token is always EOF.
func Lex(src []byte) ([]Token, error) {
	var toks []Token
	line := 1
	i := 0
	n := len(src)
	for {
		var err error
		i, line, err = skipBlanks(src, i, line)
		if err != nil {
			return nil, err
		}
		if len(toks) >= MaxTokens {
			return nil, Limitf(line, "metadata has too many tokens")
		}
		if i >= n {
			toks = append(toks, Token{Kind: EOF, Line: line})
			return toks, nil
		}
		c := src[i]
		switch {
		case IdentByte(c, false):
			j := i + 1
			for j < n && IdentByte(src[j], true) {
				j++
			}
			toks = append(toks, Token{Kind: Ident, Text: string(src[i:j]), Line: line})
			i = j
		case c >= '0' && c <= '9':
			v, j, err := lexInt(src, i)
			if err != nil {
				return nil, Errorf(line, "%v", err)
			}
			toks = append(toks, Token{Kind: Int, Val: v, Text: string(src[i:j]), Line: line})
			i = j
		case c == '"' || c == '\'':
			s, j, nl, err := lexString(src, i)
			if err != nil {
				return nil, Errorf(line, "%v", err)
			}
			kind := String
			if c == '\'' {
				kind = CharLit
			}
			toks = append(toks, Token{Kind: kind, Text: s, Line: line})
			line += nl
			i = j
		default:
			p, err := lexPunct(src, i, line)
			if err != nil {
				return nil, err
			}
			toks = append(toks, Token{Kind: Punct, Text: p, Line: line})
			i += len(p)
		}
	}
}

// skipBlanks skips white space and comments from src[i] and returns
// the index and line number after them.
func skipBlanks(src []byte, i, line int) (int, int, error) {
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
					return i, line, Errorf(start, "unterminated comment")
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

// lexPunct returns the punctuator starting at src[i].
func lexPunct(src []byte, i, line int) (string, error) {
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
		return "", Errorf(line, "invalid character '%c'", c)
	}
	return "", Errorf(line, "invalid character 0x%02x", c)
}

// lexInt reads a C integer literal (decimal, 0octal, 0xhex) with an
// optional u/U/l/L suffix starting at src[i].
func lexInt(src []byte, i int) (uint64, int, error) {
	n := len(src)
	base := uint64(10)
	j := i
	if src[i] == '0' {
		if i+1 < n && (src[i+1] == 'x' || src[i+1] == 'X') {
			base = 16
			j = i + 2
			if j >= n || func() bool { _, ok := HexVal(src[j]); return !ok }() {
				return 0, 0, fmt.Errorf("invalid integer %q", string(src[i:j]))
			}
		} else {
			base = 8
		}
	}
	var v uint64
	start := j
	for j < n {
		d, ok := HexVal(src[j])
		if !ok || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			k := j
			for k < n && IdentByte(src[k], true) {
				k++
			}
			return 0, 0, fmt.Errorf("integer %q out of range", clip(src[i:k], 40))
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
	if j < n && IdentByte(src[j], true) {
		k := j
		for k < n && IdentByte(src[k], true) {
			k++
		}
		return 0, 0, fmt.Errorf("invalid integer %q", clip(src[i:k], 40))
	}
	return v, j, nil
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// lexString reads a quoted literal starting at src[i] and returns its
// unescaped content, the index after the closing quote and the number of
// newlines inside.
func lexString(src []byte, i int) (string, int, int, error) {
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
				d, ok := HexVal(src[j])
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
