package lang

import (
	"strconv"
	"strings"
)

// Preprocess is the small part of the C preprocessor that bpftrace's
// scripts rely on. Every line stays a line, so positions in the result
// are positions in src (except for columns after a substitution):
//
//   - a `#!` first line and `#include` lines become blank;
//   - `#define NAME VALUE` defines an object-like macro (a function-like
//     `#define F(x) ...` is only noted as defined), `#undef` removes one,
//     and whole identifiers outside strings and comments are replaced by
//     their values, in parentheses when the value is more than one token;
//   - `#ifdef`, `#ifndef`, `#if`, `#elif`, `#else`, `#endif` keep or blank
//     the lines they govern. BPFTRACE_HAVE_BTF counts as defined. `#if`
//     understands defined(X), integers, defined macros, ! && || == != < >
//     <= >= + - * / and parentheses; anything else counts as false.
//
// Other directives (#pragma, #error, ...) become blank lines.
func Preprocess(name, src string) (string, error) {
	pp := &prep{name: name, defs: map[string]string{"BPFTRACE_HAVE_BTF": "1"}, fnlike: map[string]bool{}}
	lines := strings.Split(src, "\n")
	out := make([]string, len(lines))
	type cond struct {
		line          int
		active, taken bool
		parent        bool
		sawElse       bool
	}
	var stack []cond
	active := func() bool { return len(stack) == 0 || stack[len(stack)-1].active }
	inComment := false
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " \t")
		if i == 0 && strings.HasPrefix(l, "#!") {
			continue
		}
		if !inComment && strings.HasPrefix(trimmed, "#") {
			dir, rest := directive(trimmed[1:])
			col := len(l) - len(trimmed) + 1
			errAt := func(msg string) error {
				return &Error{File: name, P: Pos{Line: i + 1, Col: col, EndCol: len(l) + 1}, Msg: msg, Line: l}
			}
			switch dir {
			case "ifdef", "ifndef":
				_, def := pp.defs[firstWord(rest)]
				def = def || pp.fnlike[firstWord(rest)]
				if dir == "ifndef" {
					def = !def
				}
				on := active() && def
				stack = append(stack, cond{line: i + 1, active: on, taken: def, parent: active()})
			case "if":
				v := pp.eval(rest)
				stack = append(stack, cond{line: i + 1, active: active() && v, taken: v, parent: active()})
			case "elif":
				if len(stack) == 0 {
					return "", errAt("#elif without #if")
				}
				c := &stack[len(stack)-1]
				if c.sawElse {
					return "", errAt("#elif after #else")
				}
				v := !c.taken && pp.eval(rest)
				c.active = c.parent && v
				c.taken = c.taken || v
			case "else":
				if len(stack) == 0 {
					return "", errAt("#else without #if")
				}
				c := &stack[len(stack)-1]
				if c.sawElse {
					return "", errAt("#else after #else")
				}
				c.sawElse = true
				c.active = c.parent && !c.taken
				c.taken = true
			case "endif":
				if len(stack) == 0 {
					return "", errAt("#endif without #if")
				}
				stack = stack[:len(stack)-1]
			case "define":
				if active() {
					pp.define(rest)
				}
			case "undef":
				if active() {
					delete(pp.defs, firstWord(rest))
					delete(pp.fnlike, firstWord(rest))
				}
			}
			continue
		}
		if !active() {
			continue
		}
		out[i], inComment = pp.substitute(l, inComment)
	}
	if len(stack) > 0 {
		c := stack[len(stack)-1]
		l := lines[c.line-1]
		return "", &Error{File: name, P: Pos{Line: c.line, Col: 1, EndCol: len(l) + 1}, Msg: "unterminated #if", Line: l}
	}
	return strings.Join(out, "\n"), nil
}

type prep struct {
	name   string
	defs   map[string]string
	fnlike map[string]bool
}

// directive splits `  define X 1` into "define" and "X 1".
func directive(s string) (string, string) {
	s = strings.TrimLeft(s, " \t")
	i := 0
	for i < len(s) && isIdentBody(s[i]) {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func firstWord(s string) string {
	i := 0
	for i < len(s) && isIdentBody(s[i]) {
		i++
	}
	return s[:i]
}

func (pp *prep) define(rest string) {
	name := firstWord(rest)
	if name == "" {
		return
	}
	after := rest[len(name):]
	if strings.HasPrefix(after, "(") {
		pp.fnlike[name] = true
		return
	}
	val, _ := stripComments(strings.TrimSpace(after), false)
	pp.defs[name] = strings.TrimSpace(val)
}

// stripComments removes comments from one line, given whether it starts
// inside a block comment; it returns whether it ends inside one.
func stripComments(s string, in bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if in {
			if s[i] == '*' && i+1 < len(s) && s[i+1] == '/' {
				in = false
				i++
				b.WriteByte(' ')
			}
			continue
		}
		switch {
		case s[i] == '"':
			j := skipString(s, i)
			b.WriteString(s[i:j])
			i = j - 1
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '/':
			return b.String(), false
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '*':
			in = true
			i++
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), in
}

// skipString returns the offset just past the string literal at i.
func skipString(s string, i int) int {
	j := i + 1
	for j < len(s) && s[j] != '"' {
		if s[j] == '\\' {
			j++
		}
		j++
	}
	if j < len(s) {
		j++
	}
	if j > len(s) {
		j = len(s)
	}
	return j
}

// substitute replaces defined identifiers in one line outside strings
// and comments.
func (pp *prep) substitute(l string, in bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(l); {
		c := l[i]
		switch {
		case in:
			if c == '*' && i+1 < len(l) && l[i+1] == '/' {
				in = false
				b.WriteString("*/")
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		case c == '/' && i+1 < len(l) && l[i+1] == '/':
			b.WriteString(l[i:])
			return b.String(), false
		case c == '/' && i+1 < len(l) && l[i+1] == '*':
			in = true
			b.WriteString("/*")
			i += 2
		case c == '"':
			j := skipString(l, i)
			b.WriteString(l[i:j])
			i = j
		case c == '\'':
			j := i + 1
			for j < len(l) && l[j] != '\'' {
				if l[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(l))
			b.WriteString(l[i:j])
			i = j
		case isIdentStart(c) || c == '$' || c == '@':
			j := i + 1
			for j < len(l) && isIdentBody(l[j]) {
				j++
			}
			word := l[i:j]
			if isIdentStart(c) && (i == 0 || l[i-1] != '.') && !(i > 1 && l[i-2:i] == "->") {
				word = pp.expand(word, 0)
			}
			b.WriteString(word)
			i = j
		case isDigit(c):
			j := i + 1
			for j < len(l) && (isIdentBody(l[j]) || l[j] == '.') {
				j++
			}
			b.WriteString(l[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), in
}

// expand is a word's replacement, with the macros in it expanded too.
func (pp *prep) expand(word string, depth int) string {
	v, ok := pp.defs[word]
	if !ok || depth > 20 {
		return word
	}
	saved := pp.defs
	// A macro is not expanded inside itself.
	pp.defs = make(map[string]string, len(saved))
	for k, x := range saved {
		if k != word {
			pp.defs[k] = x
		}
	}
	out, _ := pp.substitute(v, false)
	pp.defs = saved
	if out == "" || singleToken(out) {
		return out
	}
	return "(" + out + ")"
}

func singleToken(s string) bool {
	if s[0] == '"' {
		return skipString(s, 0) == len(s)
	}
	for i := 0; i < len(s); i++ {
		if !isIdentBody(s[i]) {
			return false
		}
	}
	return true
}

// eval is the value of an #if expression; what it cannot read is false.
func (pp *prep) eval(s string) bool {
	s, _ = stripComments(s, false)
	e := &ppExpr{s: s, pp: pp}
	v, ok := e.parse(0)
	e.skip()
	if !ok || e.i != len(e.s) {
		return false
	}
	return v != 0
}

type ppExpr struct {
	s     string
	i     int
	pp    *prep
	depth int
}

func (e *ppExpr) skip() {
	for e.i < len(e.s) && isSpace(e.s[e.i]) {
		e.i++
	}
}

var ppPrec = map[string]int{"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}

func (e *ppExpr) op() string {
	e.skip()
	for _, o := range []string{"||", "&&", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%"} {
		if strings.HasPrefix(e.s[e.i:], o) {
			return o
		}
	}
	return ""
}

func (e *ppExpr) parse(min int) (int64, bool) {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > 100 {
		return 0, false
	}
	x, ok := e.unary()
	for ok {
		o := e.op()
		p := ppPrec[o]
		if o == "" || p < min {
			break
		}
		e.i += len(o)
		var y int64
		y, ok = e.parse(p + 1)
		if !ok {
			return 0, false
		}
		b := func(c bool) int64 {
			if c {
				return 1
			}
			return 0
		}
		switch o {
		case "||":
			x = b(x != 0 || y != 0)
		case "&&":
			x = b(x != 0 && y != 0)
		case "==":
			x = b(x == y)
		case "!=":
			x = b(x != y)
		case "<":
			x = b(x < y)
		case ">":
			x = b(x > y)
		case "<=":
			x = b(x <= y)
		case ">=":
			x = b(x >= y)
		case "+":
			x += y
		case "-":
			x -= y
		case "*":
			x *= y
		case "/", "%":
			if y == 0 {
				return 0, false
			}
			if o == "/" {
				x /= y
			} else {
				x %= y
			}
		}
	}
	return x, ok
}

func (e *ppExpr) unary() (int64, bool) {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > 100 {
		return 0, false
	}
	e.skip()
	if e.i >= len(e.s) {
		return 0, false
	}
	c := e.s[e.i]
	switch {
	case c == '!':
		e.i++
		v, ok := e.unary()
		if v == 0 {
			return 1, ok
		}
		return 0, ok
	case c == '-':
		e.i++
		v, ok := e.unary()
		return -v, ok
	case c == '(':
		e.i++
		v, ok := e.parse(0)
		e.skip()
		if !ok || e.i >= len(e.s) || e.s[e.i] != ')' {
			return 0, false
		}
		e.i++
		return v, true
	case isDigit(c):
		j := e.i
		for j < len(e.s) && isIdentBody(e.s[j]) {
			j++
		}
		text := strings.TrimRight(e.s[e.i:j], "uUlL")
		e.i = j
		v, err := strconv.ParseInt(text, 0, 64)
		return v, err == nil
	case isIdentStart(c):
		j := e.i
		for j < len(e.s) && isIdentBody(e.s[j]) {
			j++
		}
		word := e.s[e.i:j]
		e.i = j
		if word == "defined" {
			e.skip()
			paren := e.i < len(e.s) && e.s[e.i] == '('
			if paren {
				e.i++
				e.skip()
			}
			k := e.i
			for k < len(e.s) && isIdentBody(e.s[k]) {
				k++
			}
			name := e.s[e.i:k]
			e.i = k
			if paren {
				e.skip()
				if e.i >= len(e.s) || e.s[e.i] != ')' {
					return 0, false
				}
				e.i++
			}
			_, def := e.pp.defs[name]
			if def || e.pp.fnlike[name] {
				return 1, name != ""
			}
			return 0, name != ""
		}
		v, ok := e.pp.defs[word]
		if !ok {
			return 0, false // an unknown name: not evaluable
		}
		sub := &ppExpr{s: v, pp: e.pp, depth: e.depth + 10}
		x, ok := sub.parse(0)
		sub.skip()
		return x, ok && sub.i == len(sub.s)
	}
	return 0, false
}
