package lang

import (
	"strconv"
	"strings"
)

// The parser reads characters directly, as bpftrace's does: there is no
// token stream, because the same characters mean different things in an
// attach point, a predicate and an expression. This file holds the
// character-level helpers.

// bailout stops the parse at the first error; Parse recovers it.
type bailout struct{}

type parser struct {
	name  string
	src   string
	lines []string
	pos   int
	line  int
	col   int
	err   *Error
	depth int
	// tupleIndex marks the Index nodes written `x.N`, not `x[N]`.
	tupleIndex map[Expr]bool
}

type savePoint struct{ pos, line, col int }

func (p *parser) save() savePoint     { return savePoint{p.pos, p.line, p.col} }
func (p *parser) restore(s savePoint) { p.pos, p.line, p.col = s.pos, s.line, s.col }

func (p *parser) atEnd() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte { return p.peekAt(0) }

func (p *parser) peekAt(off int) byte {
	if p.pos+off < len(p.src) {
		return p.src[p.pos+off]
	}
	return 0
}

func (p *parser) charAt(i int) byte {
	if i >= 0 && i < len(p.src) {
		return p.src[i]
	}
	return 0
}

func (p *parser) advance(n int) {
	for i := 0; i < n && p.pos < len(p.src); i++ {
		if p.src[p.pos] == '\n' {
			p.line++
			p.col = 1
		} else {
			p.col++
		}
		p.pos++
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}
func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isIdentBody(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isXDigit(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// layout skips blanks and comments.
func (p *parser) layout() {
	for !p.atEnd() {
		c := p.peek()
		switch {
		case isSpace(c):
			p.advance(1)
		case c == '/' && p.peekAt(1) == '/':
			for !p.atEnd() && p.peek() != '\n' {
				p.advance(1)
			}
		case c == '/' && p.peekAt(1) == '*':
			p.advance(2)
			for !p.atEnd() && !(p.peek() == '*' && p.peekAt(1) == '/') {
				p.advance(1)
			}
			p.advance(2)
		default:
			return
		}
	}
}

// scanLayout is layout without moving: the offset of the next character
// that is not a blank or in a comment.
func (p *parser) scanLayout(i int) int {
	for i < len(p.src) {
		c := p.src[i]
		switch {
		case isSpace(c):
			i++
		case c == '/' && p.charAt(i+1) == '/':
			for i < len(p.src) && p.src[i] != '\n' {
				i++
			}
		case c == '/' && p.charAt(i+1) == '*':
			i += 2
			for i < len(p.src) && !(p.src[i] == '*' && p.charAt(i+1) == '/') {
				i++
			}
			if i < len(p.src) {
				i += 2
			}
		default:
			return i
		}
	}
	return i
}

func (p *parser) scanIdentEnd(i int) int {
	for i < len(p.src) && isIdentBody(p.src[i]) {
		i++
	}
	return i
}

// keyword is the identifier at the current position (no layout skipped).
func (p *parser) keyword() string {
	return p.src[p.pos:p.scanIdentEnd(p.pos)]
}

// checkKeyword says whether the word s comes next, after layout.
func (p *parser) checkKeyword(s string) bool {
	i := p.scanLayout(p.pos)
	return strings.HasPrefix(p.src[i:], s) && !isIdentBody(p.charAt(i+len(s)))
}

func (p *parser) matchChar(c byte) bool {
	p.layout()
	if p.peek() == c && !p.atEnd() {
		p.advance(1)
		return true
	}
	return false
}

func (p *parser) matchWord(s string) bool {
	p.layout()
	if strings.HasPrefix(p.src[p.pos:], s) && !isIdentBody(p.charAt(p.pos+len(s))) {
		p.advance(len(s))
		return true
	}
	return false
}

func (p *parser) expect(c byte) {
	if !p.matchChar(c) {
		p.errTok("expected '" + string(c) + "'")
	}
}

func (p *parser) expectWord(s string) {
	if !p.matchWord(s) {
		p.errTok("expected '" + s + "'")
	}
}

// ident consumes an identifier, or fails with msg (when msg is not empty)
// or returns "" when there is none.
func (p *parser) ident(msg string) string {
	p.layout()
	if !isIdentStart(p.peek()) {
		if msg != "" {
			p.errTok(msg)
		}
		return ""
	}
	start := p.pos
	p.advance(p.scanIdentEnd(p.pos) - p.pos)
	return p.src[start:p.pos]
}

// variable consumes `$name`.
func (p *parser) variable() string {
	if !isIdentStart(p.peekAt(1)) {
		p.errTok("expected identifier after '$'")
	}
	start := p.pos
	p.advance(p.scanIdentEnd(p.pos+1) - p.pos)
	return p.src[start:p.pos]
}

// mapName consumes `@name` or a lone `@`.
func (p *parser) mapName() string {
	if !isIdentStart(p.peekAt(1)) {
		p.advance(1)
		return "@"
	}
	start := p.pos
	p.advance(p.scanIdentEnd(p.pos+1) - p.pos)
	return p.src[start:p.pos]
}

// span is the position from (line, col) to the current place.
func (p *parser) span(line, col int) Pos {
	end := p.col
	if p.line != line {
		end = len(p.lineText(line)) + 1
	}
	return Pos{Line: line, Col: col, EndCol: end}
}

func (p *parser) lineText(n int) string {
	if n >= 1 && n <= len(p.lines) {
		return p.lines[n-1]
	}
	return ""
}

// fail stops the parse with msg at pos.
func (p *parser) fail(msg string, pos Pos) {
	if p.err == nil {
		p.err = &Error{File: p.name, P: pos, Msg: "syntax: " + msg, Line: p.lineText(pos.Line)}
	}
	panic(bailout{})
}

// errTok fails with msg at the next token, as bpftrace marks it: an
// identifier, a number, a $var or @map, or else one character.
func (p *parser) errTok(msg string) {
	p.layout()
	line, col := p.line, p.col
	i := p.pos
	if i < len(p.src) {
		c := p.src[i]
		switch {
		case isIdentStart(c):
			i = p.scanIdentEnd(i)
		case isDigit(c):
			for i < len(p.src) && (isIdentBody(p.src[i]) || p.src[i] == '.') {
				i++
			}
		case c == '@' || c == '$':
			i = p.scanIdentEnd(i + 1)
		case c == '\n':
			// an empty mark at the end of the line
		default:
			i++
		}
	}
	end := col + (i - p.pos)
	p.fail(msg, Pos{Line: line, Col: col, EndCol: end})
}

// str consumes a string literal and decodes its escapes.
func (p *parser) str() string {
	p.advance(1)
	var b strings.Builder
	for {
		if p.atEnd() || p.peek() == '\n' {
			p.fail("unterminated string", Pos{Line: p.line, Col: p.col, EndCol: p.col})
		}
		c := p.peek()
		if c == '"' {
			p.advance(1)
			return b.String()
		}
		if c != '\\' {
			b.WriteByte(c)
			p.advance(1)
			continue
		}
		eline, ecol := p.line, p.col
		p.advance(1)
		if p.atEnd() {
			p.fail("unterminated string", Pos{Line: p.line, Col: p.col, EndCol: p.col})
		}
		b.WriteString(p.escape(eline, ecol))
	}
}

// escape decodes the escape after a backslash (at eline:ecol).
func (p *parser) escape(eline, ecol int) string {
	e := p.peek()
	switch e {
	case 'n':
		p.advance(1)
		return "\n"
	case 't':
		p.advance(1)
		return "\t"
	case 'r':
		p.advance(1)
		return "\r"
	case '"', '\\', '\'':
		p.advance(1)
		return string(e)
	case '0', '1', '2', '3', '4', '5', '6', '7':
		start := p.pos
		p.advance(1)
		for i := 0; i < 2 && p.peek() >= '0' && p.peek() <= '7'; i++ {
			p.advance(1)
		}
		oct := p.src[start:p.pos]
		v, _ := strconv.ParseUint(oct, 8, 32)
		if v > 255 {
			p.fail("octal escape sequence out of range '\\"+oct+"'", p.span(eline, ecol))
		}
		return string([]byte{byte(v)})
	case 'x', 'X':
		p.advance(1)
		start := p.pos
		for i := 0; i < 2 && isXDigit(p.peek()); i++ {
			p.advance(1)
		}
		if p.pos == start {
			p.errTok("invalid hex escape sequence")
		}
		v, _ := strconv.ParseUint(p.src[start:p.pos], 16, 8)
		return string([]byte{byte(v)})
	}
	shown := string(e)
	if e < ' ' || e > '~' {
		shown = `x` + strconv.FormatUint(uint64(e)|0x100, 16)[1:]
	}
	p.errTok("invalid escape character '\\" + shown + "'")
	return ""
}

// integerText consumes an integer literal's text: decimal, 0x hex, 0b
// binary, 0o octal, `_` separators, an exponent (1e6) and a suffix
// (u, l, ul, ll, ull, or a time unit ns us ms s m h d).
func (p *parser) integerText() string {
	p.layout()
	start := p.pos
	trailing := func() {
		if p.pos > start && p.src[p.pos-1] == '_' {
			p.fail("trailing underscore in integer literal", Pos{Line: p.line, Col: p.col - 1, EndCol: p.col})
		}
	}
	digits := func(ok func(byte) bool) {
		for !p.atEnd() && (ok(p.peek()) || p.peek() == '_') {
			p.advance(1)
		}
		trailing()
	}
	if p.peek() == '0' && (p.peekAt(1) == 'x' || p.peekAt(1) == 'X') {
		p.advance(2)
		digits(isXDigit)
		p.suffixCheck()
		return p.src[start:p.pos]
	}
	if p.peek() == '0' && (p.peekAt(1) == 'b' || p.peekAt(1) == 'B') && (p.peekAt(2) == '0' || p.peekAt(2) == '1') {
		p.advance(2)
		digits(func(c byte) bool { return c == '0' || c == '1' })
	} else if p.peek() == '0' && (p.peekAt(1) == 'o' || p.peekAt(1) == 'O') && p.peekAt(2) >= '0' && p.peekAt(2) <= '7' {
		p.advance(2)
		digits(func(c byte) bool { return c >= '0' && c <= '7' })
	} else {
		digits(isDigit)
		if c := p.peek(); c == 'e' || c == 'E' {
			p.advance(1)
			digits(isDigit)
		}
	}
	// suffix
	switch c := p.peek(); {
	case (c == 'n' || c == 'u' || c == 'm') && p.peekAt(1) == 's':
		p.advance(2)
	case c == 's' || c == 'm' || c == 'h' || c == 'd':
		p.advance(1)
	case c == 'u' || c == 'U':
		p.advance(1)
		if l := p.peek(); l == 'l' || l == 'L' {
			p.advance(1)
			if l := p.peek(); l == 'l' || l == 'L' {
				p.advance(1)
			}
		}
	case c == 'l' || c == 'L':
		p.advance(1)
		if l := p.peek(); l == 'l' || l == 'L' {
			p.advance(1)
		}
	}
	p.suffixCheck()
	return p.src[start:p.pos]
}

func (p *parser) suffixCheck() {
	if isIdentStart(p.peek()) {
		line, col, start := p.line, p.col, p.pos
		p.advance(p.scanIdentEnd(p.pos) - p.pos)
		p.fail("invalid integer suffix '"+p.src[start:p.pos]+"'", p.span(line, col))
	}
}

// parseUint is the value of an integer literal's text, or bpftrace's
// message for why it has none.
func parseUint(text string) (uint64, string) {
	n := strings.ReplaceAll(text, "_", "")
	base := 10
	lower := strings.ToLower(n)
	switch {
	case strings.HasPrefix(lower, "0x"):
		base, n = 16, n[2:]
	case strings.HasPrefix(lower, "0b"):
		base, n = 2, n[2:]
	case strings.HasPrefix(lower, "0o"):
		base, n = 8, n[2:]
	case len(n) >= 2 && n[0] == '0' && n[1] >= '0' && n[1] <= '7':
		base, n = 8, n[1:]
	}
	isD := func(c byte) bool {
		switch base {
		case 16:
			return isXDigit(c)
		case 2:
			return c == '0' || c == '1'
		case 8:
			return c >= '0' && c <= '7'
		}
		return isDigit(c)
	}
	i := 0
	for i < len(n) && isD(n[i]) {
		i++
	}
	if i == 0 {
		return 0, "invalid integer: " + text
	}
	v, err := strconv.ParseUint(n[:i], base, 64)
	if err != nil {
		return 0, "overflow error, maximum value is 18446744073709551615: " + text
	}
	rest := n[i:]
	if len(rest) >= 2 && (rest[0] == 'e' || rest[0] == 'E') && rest[1] >= '1' && rest[1] <= '9' && base == 10 {
		if v == 0 || v >= 10 {
			return 0, "coefficient part of scientific literal must be 1-9: " + text
		}
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		exp, err := strconv.ParseUint(rest[1:j], 10, 64)
		if err != nil {
			exp = 1 << 62
		}
		for ; exp > 0; exp-- {
			if v > ^uint64(0)/10 {
				return 0, "overflow error, maximum value is 18446744073709551615: " + text
			}
			v *= 10
		}
		rest = rest[j:]
	}
	type spec struct{ max, mul uint64 }
	specs := map[string]spec{
		"": {^uint64(0), 1}, "u": {1<<32 - 1, 1}, "ul": {^uint64(0), 1}, "ull": {^uint64(0), 1},
		"l": {1<<63 - 1, 1}, "ll": {1<<63 - 1, 1},
		"ns": {^uint64(0), 1}, "us": {^uint64(0), 1000}, "ms": {^uint64(0), 1e6},
		"s": {^uint64(0), 1e9}, "m": {^uint64(0), 60e9}, "h": {^uint64(0), 3600e9}, "d": {^uint64(0), 86400e9},
	}
	s, ok := specs[strings.ToLower(rest)]
	if !ok {
		return 0, "invalid trailing bytes: " + text
	}
	if v > s.max/s.mul {
		return 0, "overflow error, maximum value is " + strconv.FormatUint(s.max, 10) + ": " + text
	}
	return v * s.mul, ""
}
