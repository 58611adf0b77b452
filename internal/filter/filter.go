// Package filter parses and type-checks the filter language of
// "bpftrail record --filter", producing a typed AST ([Expr]) that a code
// generator compiles to BPF. It does not compile anything itself.
//
// Grammar:
//
//	expr    := or
//	or      := and ('||' and)*
//	and     := unary ('&&' unary)*
//	unary   := '!' unary | '(' expr ')' | cmp
//	cmp     := operand OP operand          OP: == != < <= > >=
//	operand := IDENT | INT | STRING
//
// Identifiers name fields; they are resolved through the caller's [Schema],
// which also provides builtins such as pid, tid, comm or cpu: the package
// knows no names of its own. Integers are decimal or 0x hex, optionally
// negative. Strings are double-quoted with the escapes \" \\ \n \t and \*;
// an unescaped '*' at the end makes a prefix match ("/etc/*"), anywhere else
// it is an error. Every comparison has exactly one field; a literal on the
// left is moved to the right ("42 == pid" becomes "pid == 42").
//
// Error contract: every error returned by [Parse] is a [*SyntaxError] that
// names the 1-based column of the offending text.
package filter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/suggest"
)

// FieldType is the type of a field as the filter sees it.
type FieldType int

// Field types.
const (
	Int FieldType = iota + 1
	String
)

func (t FieldType) String() string {
	switch t {
	case Int:
		return "integer"
	case String:
		return "string"
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}

// FieldInfo describes a field a filter may use.
type FieldInfo struct {
	Name string
	Type FieldType
	// Size is the size in bytes of an Int field (1, 2, 4 or 8; 0: unchecked)
	// or the capacity of a String field including its NUL terminator
	// (e.g. 16 for comm; 0: unbounded). Literals that cannot fit are errors.
	Size   int
	Signed bool
}

// Schema is the set of names a filter may use.
type Schema interface {
	Lookup(name string) (FieldInfo, bool)
	// Names lists the names in the order error messages should show them.
	Names() []string
}

// Fields is a [Schema] made of a list of fields.
type Fields []FieldInfo

// Lookup returns the field called name.
func (fs Fields) Lookup(name string) (FieldInfo, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f, true
		}
	}
	return FieldInfo{}, false
}

// Names returns the field names in list order.
func (fs Fields) Names() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// Op is the operation of an [Expr] node.
type Op int

// Expression operations.
const (
	OpAnd Op = iota + 1 // L && R
	OpOr                // L || R
	OpNot               // !L
	OpCmp               // Cmp
)

func (o Op) String() string {
	switch o {
	case OpAnd:
		return "&&"
	case OpOr:
		return "||"
	case OpNot:
		return "!"
	case OpCmp:
		return "cmp"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// CmpOp is a comparison operator.
type CmpOp int

// Comparison operators.
const (
	CmpEq CmpOp = iota + 1 // ==
	CmpNe                  // !=
	CmpLt                  // <
	CmpLe                  // <=
	CmpGt                  // >
	CmpGe                  // >=
)

var cmpNames = [...]string{CmpEq: "==", CmpNe: "!=", CmpLt: "<", CmpLe: "<=", CmpGt: ">", CmpGe: ">="}

func (o CmpOp) String() string {
	if o > 0 && int(o) < len(cmpNames) {
		return cmpNames[o]
	}
	return fmt.Sprintf("CmpOp(%d)", int(o))
}

// flip returns the operator that gives the same result with the operands
// swapped: 42 < pid ⇔ pid > 42.
func (o CmpOp) flip() CmpOp {
	switch o {
	case CmpLt:
		return CmpGt
	case CmpLe:
		return CmpGe
	case CmpGt:
		return CmpLt
	case CmpGe:
		return CmpLe
	}
	return o
}

// Expr is a node of a type-checked filter. OpAnd and OpOr use L and R,
// OpNot uses L, OpCmp uses Cmp.
type Expr struct {
	Op   Op
	L, R *Expr
	Cmp  *Compare
}

// Compare compares a field with a literal: Field Op Int for Int fields,
// Field Op Str for String fields (Op is CmpEq or CmpNe).
type Compare struct {
	Field FieldInfo
	Op    CmpOp
	// Int is the literal of an Int comparison. For an unsigned field it holds
	// the bit pattern of the uint64 value (read it as uint64(Int)); it is
	// never negative then unless the value exceeds MaxInt64.
	Int int64
	// Str is the literal of a String comparison, unescaped, without the
	// trailing '*' of a prefix match.
	Str string
	// Prefix makes a String comparison a prefix match: the literal ended
	// with an unescaped '*'.
	Prefix bool
}

// SyntaxError reports a filter that cannot be parsed or type-checked.
type SyntaxError struct {
	Src  string
	Col  int // 1-based, in characters
	Msg  string
	Hint string // optional: what to do instead, close names
}

func (e *SyntaxError) Error() string {
	s := fmt.Sprintf("filter: column %d: %s", e.Col, e.Msg)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Caret returns the filter and a caret under the offending column, on two
// lines, for terminals.
func (e *SyntaxError) Caret() string {
	pad := make([]byte, 0, e.Col)
	i := 0
	for _, r := range e.Src {
		if i >= e.Col-1 {
			break
		}
		if r == '\t' {
			pad = append(pad, '\t')
		} else {
			pad = append(pad, ' ')
		}
		i++
	}
	for ; i < e.Col-1; i++ {
		pad = append(pad, ' ')
	}
	return e.Src + "\n" + string(pad) + "^"
}

// maxDepth bounds the nesting of parentheses and '!'.
const maxDepth = 100

// Parse parses src and type-checks it against schema.
func Parse(src string, schema Schema) (*Expr, error) {
	toks, lerr := lex(src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{src: src, toks: toks, schema: schema}
	if toks[0].kind == tEOF {
		return nil, p.errAt(toks[0], "", "empty filter")
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	return e, nil
}

type parser struct {
	src    string
	toks   []token
	i      int
	depth  int
	schema Schema
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) prev() token {
	if p.i == 0 {
		return token{kind: tEOF}
	}
	return p.toks[p.i-1]
}

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, hint, format string, args ...any) *SyntaxError {
	return &SyntaxError{Src: p.src, Col: column(p.src, t.pos), Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// unexpected reports a token that cannot follow a complete comparison.
func (p *parser) unexpected(t token) *SyntaxError {
	switch {
	case t.kind == tRParen:
		return p.errAt(t, `no "(" is open here`, `unexpected ")"`)
	case t.kind == tIdent && (t.text == "and" || t.text == "AND"):
		return p.errAt(t, `use "&&"`, "unexpected %q", t.text)
	case t.kind == tIdent && (t.text == "or" || t.text == "OR"):
		return p.errAt(t, `use "||"`, "unexpected %q", t.text)
	}
	return p.errAt(t, "", `unexpected %s after a comparison; expected "&&", "||" or the end`, t.describe())
}

func (p *parser) or() (*Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tOr {
		p.advance()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Expr{Op: OpOr, L: l, R: r}
	}
	return l, nil
}

func (p *parser) and() (*Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tAnd {
		p.advance()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &Expr{Op: OpAnd, L: l, R: r}
	}
	return l, nil
}

func (p *parser) unary() (*Expr, error) {
	t := p.peek()
	switch t.kind {
	case tNot, tLParen:
		if p.depth >= maxDepth {
			return nil, p.errAt(t, "", "filter nested too deeply (more than %d levels)", maxDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
		p.advance()
		if t.kind == tNot {
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			return &Expr{Op: OpNot, L: x}, nil
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			if c.kind == tEOF {
				return nil, p.errAt(c, fmt.Sprintf("the \"(\" at column %d is not closed", column(p.src, t.pos)), `missing ")"`)
			}
			return nil, p.unexpected(c)
		}
		p.advance()
		return x, nil
	}
	return p.cmp()
}

// operand reads an identifier, integer or string, or reports what was
// expected after the previous token.
func (p *parser) operand() (token, *SyntaxError) {
	t := p.peek()
	switch t.kind {
	case tIdent, tInt, tString:
		return p.advance(), nil
	}
	prev := p.prev()
	if prev.kind == tEOF {
		return t, p.errAt(t, "", "expected a comparison such as pid == 42, got %s", t.describe())
	}
	return t, p.errAt(t, "", "expected an operand after %q", prev.text)
}

func (p *parser) cmp() (*Expr, error) {
	lt, err := p.operand()
	if err != nil {
		return nil, err
	}
	opTok := p.peek()
	if opTok.kind != tCmp {
		if lt.kind == tIdent {
			if _, ok := p.schema.Lookup(lt.text); !ok {
				return nil, p.unknownField(lt)
			}
		}
		return nil, p.errAt(opTok, "", "expected a comparison operator (== != < <= > >=) after %q, got %s", lt.text, opTok.describe())
	}
	p.advance()
	rt, err := p.operand()
	if err != nil {
		return nil, err
	}

	op := opTok.op
	field, lit := lt, rt
	switch {
	case lt.kind == tIdent && rt.kind == tIdent:
		for _, t := range []token{lt, rt} {
			if _, ok := p.schema.Lookup(t.text); !ok {
				return nil, p.unknownField(t)
			}
		}
		return nil, p.errAt(lt, "compare a field with a literal", "cannot compare two fields (%s %s %s)", lt.text, op, rt.text)
	case lt.kind != tIdent && rt.kind != tIdent:
		return nil, p.errAt(lt, "compare a field with a literal, e.g. pid == 42", "comparison has no field (%s %s %s)", lt.text, op, rt.text)
	case lt.kind != tIdent:
		field, lit, op = rt, lt, op.flip()
	}

	info, ok := p.schema.Lookup(field.text)
	if !ok {
		return nil, p.unknownField(field)
	}
	c := &Compare{Field: info, Op: op}
	switch info.Type {
	case Int:
		if lit.kind != tInt {
			return nil, p.errAt(lit, "", "cannot compare integer field %q with string %s", info.Name, lit.text)
		}
		if err := p.checkRange(info, lit); err != nil {
			return nil, err
		}
		c.Int = lit.value()
	case String:
		if err := p.stringCompare(c, lit, opTok); err != nil {
			return nil, err
		}
	default:
		return nil, p.errAt(field, "", "field %q cannot be used in a filter", info.Name)
	}
	return &Expr{Op: OpCmp, Cmp: c}, nil
}

// stringCompare fills c, a comparison of a string field, from the literal
// lit: == or != only, with an optional trailing * for a prefix match, and
// no longer than the field holds.
func (p *parser) stringCompare(c *Compare, lit, opTok token) *SyntaxError {
	info := c.Field
	if lit.kind != tString {
		return p.errAt(lit, fmt.Sprintf("use a string literal, e.g. %s == \"bash\"", info.Name),
			"cannot compare string field %q with integer %s", info.Name, lit.text)
	}
	if c.Op != CmpEq && c.Op != CmpNe {
		return p.errAt(opTok, "", "string field %q can only be compared with == or !=, not %s", info.Name, opTok.op)
	}
	c.Str = lit.str
	if n := len(lit.stars); n > 0 {
		star := lit.stars[0]
		if n > 1 || star != lit.pos+len(lit.text)-2 {
			return &SyntaxError{Src: p.src, Col: column(p.src, star), Msg: "only a trailing * is supported",
				Hint: `write \* for a literal *`}
		}
		c.Prefix = true
		c.Str = lit.str[:len(lit.str)-1]
	}
	limit := info.Size - 1 // room for the NUL terminator
	if info.Size > 0 && len(c.Str) > limit {
		what := "string"
		if c.Prefix {
			what = "prefix"
		}
		return p.errAt(lit, "", "%s %s is %d bytes long but field %q holds at most %d", what, lit.text, len(c.Str), info.Name, limit)
	}
	return nil
}

// checkRange rejects integers that the field cannot hold.
func (p *parser) checkRange(f FieldInfo, lit token) *SyntaxError {
	if !f.Signed {
		if lit.neg {
			return p.errAt(lit, "", "field %q is unsigned and cannot be compared with %s", f.Name, lit.text)
		}
		if f.Size > 0 && f.Size < 8 && lit.mag > 1<<(8*f.Size)-1 {
			return p.errAt(lit, "", "%s does not fit in the %d-byte unsigned field %q (max %d)", lit.text, f.Size, f.Name, uint64(1)<<(8*f.Size)-1)
		}
		return nil
	}
	size := f.Size
	if size <= 0 || size > 8 {
		size = 8
	}
	maxPos := uint64(1)<<(8*size-1) - 1
	if !lit.neg && lit.mag > maxPos || lit.neg && lit.mag > maxPos+1 {
		return p.errAt(lit, "", "%s does not fit in the %d-byte signed field %q (range %d..%d)",
			lit.text, size, f.Name, -int64(maxPos)-1, int64(maxPos))
	}
	return nil
}

// maxListed bounds the field names listed in an unknown-field hint.
const maxListed = 8

func (p *parser) unknownField(t token) *SyntaxError {
	names := p.schema.Names()
	var hint []string
	if best := closest(t.text, names); best != "" {
		hint = append(hint, fmt.Sprintf("did you mean %q?", best))
	}
	if len(names) > 0 {
		list := strings.Join(names[:min(len(names), maxListed)], ", ")
		if len(names) > maxListed {
			list += ", ..."
		}
		hint = append(hint, "fields: "+list)
	} else {
		hint = append(hint, "this event has no fields")
	}
	return p.errAt(t, strings.Join(hint, " "), "unknown field %q", t.text)
}

// closest returns the name nearest to s within a small edit distance.
func closest(s string, names []string) string {
	best, bestD := "", min(3, max(1, len(s)/2)+1)
	for _, n := range names {
		if d := suggest.Distance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// String returns the canonical text of e: single spaces around operators,
// the field first, parentheses only where needed. Parse reads it back to an
// equal Expr.
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	if e == nil {
		b.WriteString("<nil>")
		return
	}
	switch e.Op {
	case OpCmp:
		e.Cmp.write(b)
	case OpNot:
		b.WriteString("!")
		if e.L != nil && e.L.Op == OpNot {
			e.L.write(b)
		} else {
			b.WriteString("(")
			e.L.write(b)
			b.WriteString(")")
		}
	case OpAnd, OpOr:
		for i, side := range []*Expr{e.L, e.R} {
			if i == 1 {
				b.WriteString(" " + e.Op.String() + " ")
			}
			// && binds tighter than ||; the right side of a chain is
			// parenthesized so that the tree shape survives a round trip.
			paren := side != nil && (e.Op == OpAnd && side.Op == OpOr || i == 1 && side.Op == e.Op)
			if paren {
				b.WriteString("(")
			}
			side.write(b)
			if paren {
				b.WriteString(")")
			}
		}
	default:
		fmt.Fprintf(b, "<%v>", e.Op)
	}
}

// String returns the canonical text of c, e.g. `pid == 42`.
func (c *Compare) String() string {
	var b strings.Builder
	c.write(&b)
	return b.String()
}

func (c *Compare) write(b *strings.Builder) {
	if c == nil {
		b.WriteString("<nil>")
		return
	}
	b.WriteString(c.Field.Name + " " + c.Op.String() + " ")
	switch c.Field.Type {
	case String:
		q := quote(c.Str)
		if c.Prefix {
			q = q[:len(q)-1] + `*"`
		}
		b.WriteString(q)
	default:
		if !c.Field.Signed {
			b.WriteString(strconv.FormatUint(uint64(c.Int), 10))
		} else {
			b.WriteString(strconv.FormatInt(c.Int, 10))
		}
	}
}

// quote writes s as a filter string literal.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "*", `\*`)
	return `"` + r.Replace(s) + `"`
}

// Fields returns the distinct field names e uses, in first-use order.
func (e *Expr) Fields() []string {
	var out []string
	var walk func(*Expr)
	walk = func(x *Expr) {
		if x == nil {
			return
		}
		if x.Cmp != nil && !slices.Contains(out, x.Cmp.Field.Name) {
			out = append(out, x.Cmp.Field.Name)
		}
		walk(x.L)
		walk(x.R)
	}
	walk(e)
	return out
}
