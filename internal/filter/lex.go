package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tString
	tCmp // == != < <= > >=
	tAnd
	tOr
	tNot
	tLParen
	tRParen
)

type token struct {
	kind tokKind
	text string // as written
	pos  int    // byte offset in src

	// tInt
	mag uint64
	neg bool
	// tString
	str   string
	stars []int // byte offsets in src of unescaped '*'
	// tCmp
	op CmpOp
}

// describe returns how the token is named in messages.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of filter"
	}
	return strconv.Quote(t.text)
}

type lexer struct {
	src  string
	pos  int
	toks []token
}

// lex splits src into tokens, ending with a tEOF token.
func lex(src string) ([]token, *SyntaxError) {
	l := &lexer{src: src}
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		l.toks = append(l.toks, t)
		if t.kind == tEOF {
			return l.toks, nil
		}
	}
}

func (l *lexer) errAt(pos int, hint, format string, args ...any) *SyntaxError {
	return &SyntaxError{Src: l.src, Col: column(l.src, pos), Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// column converts a byte offset into a 1-based column counted in characters.
func column(src string, pos int) int {
	return utf8.RuneCountInString(src[:min(pos, len(src))]) + 1
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) next() (token, *SyntaxError) {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if start == len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[start]
	two := ""
	if start+1 < len(l.src) {
		two = l.src[start : start+2]
	}
	tok := func(k tokKind, n int) (token, *SyntaxError) {
		l.pos += n
		return token{kind: k, text: l.src[start:l.pos], pos: start}, nil
	}
	cmp := func(op CmpOp, n int) (token, *SyntaxError) {
		t, _ := tok(tCmp, n)
		t.op = op
		return t, nil
	}
	switch {
	case two == "&&":
		return tok(tAnd, 2)
	case two == "||":
		return tok(tOr, 2)
	case two == "==":
		return cmp(CmpEq, 2)
	case two == "!=":
		return cmp(CmpNe, 2)
	case two == "<=":
		return cmp(CmpLe, 2)
	case two == ">=":
		return cmp(CmpGe, 2)
	case c == '<':
		return cmp(CmpLt, 1)
	case c == '>':
		return cmp(CmpGt, 1)
	case c == '!':
		return tok(tNot, 1)
	case c == '(':
		return tok(tLParen, 1)
	case c == ')':
		return tok(tRParen, 1)
	case c == '=':
		return token{}, l.errAt(start, `use "==" to compare`, `unexpected "="`)
	case c == '&':
		return token{}, l.errAt(start, `use "&&"`, `unexpected "&"`)
	case c == '|':
		return token{}, l.errAt(start, `use "||"`, `unexpected "|"`)
	case c == '"':
		return l.string()
	case isDigit(c) || c == '-' && start+1 < len(l.src) && isDigit(l.src[start+1]):
		return l.number()
	case isIdentStart(c):
		end := start + 1
		for end < len(l.src) && (isIdentStart(l.src[end]) || isDigit(l.src[end])) {
			end++
		}
		return tok(tIdent, end-start)
	case strings.IndexByte("+-*/%^~", c) >= 0:
		return token{}, l.errAt(start, "filters compare fields with literals; there is no arithmetic", "unexpected %q", string(c))
	case c == '\'':
		return token{}, l.errAt(start, `strings use double quotes: "text"`, "unexpected \"'\"")
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	return token{}, l.errAt(start, "", "unexpected character %q", r)
}

func (l *lexer) number() (token, *SyntaxError) {
	start := l.pos
	end := start
	if l.src[end] == '-' {
		end++
	}
	for end < len(l.src) && (isDigit(l.src[end]) || isIdentStart(l.src[end])) {
		end++
	}
	text := l.src[start:end]
	l.pos = end
	digits, neg := strings.CutPrefix(text, "-")
	base := 10
	if rest, ok := strings.CutPrefix(digits, "0x"); ok {
		digits, base = rest, 16
	} else if rest, ok := strings.CutPrefix(digits, "0X"); ok {
		digits, base = rest, 16
	}
	mag, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return token{}, l.errAt(start, "", "integer %s is out of range", text)
		}
		return token{}, l.errAt(start, "integers are decimal or 0x hex", "invalid integer %q", text)
	}
	if neg && mag > 1<<63 {
		return token{}, l.errAt(start, "", "integer %s is out of range", text)
	}
	if neg && mag == 0 {
		neg = false
	}
	return token{kind: tInt, text: text, pos: start, mag: mag, neg: neg}, nil
}

func (l *lexer) string() (token, *SyntaxError) {
	start := l.pos
	var b strings.Builder
	var stars []int
	i := start + 1
	for i < len(l.src) {
		c := l.src[i]
		switch c {
		case '"':
			l.pos = i + 1
			return token{kind: tString, text: l.src[start:l.pos], pos: start, str: b.String(), stars: stars}, nil
		case '\\':
			if i+1 >= len(l.src) {
				return token{}, l.errAt(start, "", "unterminated string")
			}
			switch e := l.src[i+1]; e {
			case '"', '\\', '*':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				r, _ := utf8.DecodeRuneInString(l.src[i+1:])
				return token{}, l.errAt(i, `escapes are \" \\ \n \t and \*`, "unknown escape \\%c in string", r)
			}
			i += 2
		case '*':
			stars = append(stars, i)
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return token{}, l.errAt(start, "", "unterminated string")
}

// value of an integer token as int64 (two's complement for magnitudes above
// MaxInt64, which only unsigned fields accept).
func (t token) value() int64 {
	if t.neg {
		if t.mag == 1<<63 {
			return math.MinInt64
		}
		return -int64(t.mag)
	}
	return int64(t.mag)
}
