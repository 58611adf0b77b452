package lang

import (
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of expressions and blocks, so that a
// pathological script is an error and not a stack overflow.
const maxDepth = 500

// Parse preprocesses src (see Preprocess) and parses it. name is "stdin"
// for a -e program, else the file's name; it starts every error. The
// error, if any, is an *Error at the first mistake.
func Parse(name, src string) (*Program, error) {
	text, err := Preprocess(name, src)
	if err != nil {
		return nil, err
	}
	return parseText(name, text)
}

func parseText(name, text string) (prog *Program, err error) {
	p := &parser{name: name, src: text, lines: strings.Split(text, "\n"), line: 1, col: 1}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			prog, err = nil, p.err
		}
	}()
	return p.program(), nil
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.errTok("the program is nested too deeply")
	}
}

func (p *parser) leave() { p.depth-- }

// program: [shebang] c-definitions [config] (probe | macro | fn | map decl)*
func (p *parser) program() *Program {
	prog := &Program{Name: p.name, Source: p.src}
	p.layout()
	if p.peek() == '#' && p.peekAt(1) == '!' {
		for !p.atEnd() && p.peek() != '\n' {
			p.advance(1)
		}
	}
	p.layout()
	// C definitions: kept as written, for the types the script defines.
	for !p.atEnd() {
		if p.peek() == '#' {
			p.skipLine()
			p.layout()
			continue
		}
		if kw := p.keyword(); (kw == "struct" || kw == "union" || kw == "enum") && p.looksLikeCDefinition() {
			start := p.pos
			p.skipCDefinition()
			prog.CDefs = append(prog.CDefs, p.src[start:p.pos])
			p.layout()
			continue
		}
		break
	}
	for !p.atEnd() {
		kw := p.keyword()
		if kw == "config" {
			if prog.Config != nil {
				p.failWord("duplicate config block")
			}
			prog.Config = p.config()
			if prog.Config == nil {
				prog.Config = []*ConfigItem{}
			}
			p.layout()
			continue
		}
		if kw == "import" {
			p.importStmt()
		}
		break
	}
	for {
		p.layout()
		if p.atEnd() {
			break
		}
		kw := p.keyword()
		switch {
		case p.peek() == '#':
			line, col := p.line, p.col
			p.skipLine()
			p.fail("C definitions must appear before probes and functions", p.span(line, col))
		case (kw == "struct" || kw == "union" || kw == "enum") && p.looksLikeCDefinition():
			line, col := p.line, p.col
			p.skipCDefinition()
			p.fail("C definitions must appear before probes and functions", p.span(line, col))
		case kw == "config":
			p.failWord("config must appear before probes and functions")
		case kw == "import":
			p.failWord("root imports must appear before probes and functions")
		case kw == "macro":
			prog.Macros = append(prog.Macros, p.macro())
		case kw == "fn":
			prog.Funcs = append(prog.Funcs, p.fn())
		case kw == "let":
			i := p.scanLayout(p.pos + 3)
			if p.charAt(i) != '@' {
				p.errTok("root-level let statements need to be map declarations, e.g. let @a = hash(2);")
			}
			prog.MapDecl = append(prog.MapDecl, p.mapDecl())
		default:
			before := p.pos
			prog.Probes = append(prog.Probes, p.probe())
			if p.pos == before {
				p.errTok("unexpected input")
			}
		}
	}
	return prog
}

// importStmt reads `import "path";`, with bpftrace's errors for a
// malformed one, and fails: bpftrail has no standard library to import.
func (p *parser) importStmt() {
	line, col := p.line, p.col
	p.expectWord("import")
	p.layout()
	if p.peek() != '"' {
		p.errTok("expected string after 'import'")
	}
	p.str()
	pos := p.span(line, col)
	if !p.matchChar(';') {
		p.errTok("expected ';' after import")
	}
	p.fail("import is not supported", pos)
}

// failWord fails with msg, marking the word at the current position.
func (p *parser) failWord(msg string) {
	p.layout()
	line, col := p.line, p.col
	p.advance(p.scanIdentEnd(p.pos) - p.pos)
	p.fail(msg, p.span(line, col))
}

func (p *parser) skipLine() {
	for !p.atEnd() && p.peek() != '\n' {
		p.advance(1)
	}
}

// looksLikeCDefinition: `struct|union|enum` then words and balanced
// (...) or [...] groups, then `{`; not an attach point such as `struct:x`.
func (p *parser) looksLikeCDefinition() bool {
	i := p.scanLayout(p.scanIdentEnd(p.scanLayout(p.pos)))
	for i < len(p.src) {
		c := p.src[i]
		switch {
		case c == '{':
			return true
		case isIdentStart(c):
			i = p.scanLayout(p.scanIdentEnd(i))
		case c == '(' || c == '[':
			close := byte(')')
			if c == '[' {
				close = ']'
			}
			after := p.scanBalanced(i, c, close)
			if after == i || p.charAt(after-1) != close {
				return false
			}
			i = p.scanLayout(after)
		default:
			return false
		}
	}
	return false
}

func (p *parser) scanBalanced(i int, open, close byte) int {
	if p.charAt(i) != open {
		return i
	}
	depth := 1
	i++
	for i < len(p.src) && depth > 0 {
		switch p.src[i] {
		case open:
			depth++
		case close:
			depth--
		}
		i++
	}
	return i
}

// skipCDefinition skips `struct X { ... } [__attribute__((...))] ;`.
func (p *parser) skipCDefinition() {
	for !p.atEnd() && p.peek() != '{' {
		p.advance(1)
	}
	depth := 0
	for !p.atEnd() {
		c := p.peek()
		if c == '/' && (p.peekAt(1) == '/' || p.peekAt(1) == '*') {
			p.layout()
			continue
		}
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		}
		p.advance(1)
		if depth == 0 {
			break
		}
	}
	for p.matchWord("__attribute__") {
		p.layout()
		if p.peek() != '(' || p.peekAt(1) != '(' {
			p.errTok("__attribute__ syntax error, expected '(('")
		}
		after := p.scanBalanced(p.pos, '(', ')')
		if after == p.pos || p.charAt(after-1) != ')' {
			p.errTok("__attribute__ syntax error, mismatched '(' and ')'")
		}
		p.advance(after - p.pos)
	}
	p.layout()
	if p.peek() == ';' {
		p.advance(1)
	}
}

// config: `config = { key = value; ... }`
func (p *parser) config() []*ConfigItem {
	p.expectWord("config")
	p.expect('=')
	p.expect('{')
	var items []*ConfigItem
	p.layout()
	for p.peek() != '}' && !p.atEnd() {
		line, col := p.line, p.col
		key := p.ident("expected config key")
		p.expect('=')
		p.layout()
		vline, vcol := p.line, p.col
		var val Expr
		switch {
		case p.peek() == '"':
			s := p.str()
			val = &StrLit{P: p.span(vline, vcol), Value: s}
		case p.checkKeyword("true") || p.checkKeyword("false"):
			b := p.ident("")
			val = &BoolLit{P: p.span(vline, vcol), Value: b == "true"}
		case isDigit(p.peek()):
			text := p.integerText()
			v, msg := parseUint(text)
			if msg != "" {
				p.fail("invalid integer in config", p.span(vline, vcol))
			}
			val = &IntLit{P: p.span(vline, vcol), Value: v, Text: text}
		default:
			w := p.ident("expected string, int, boolean, or ident")
			val = &Ident{P: p.span(vline, vcol), Name: w}
		}
		items = append(items, &ConfigItem{P: p.span(line, col), Key: key, Value: val})
		p.layout()
		if p.peek() != '}' {
			p.expect(';')
		}
		p.layout()
	}
	p.expect('}')
	return items
}

// macro: `macro name(params) { body }`; the parentheses may be left out
// when there are no parameters.
func (p *parser) macro() *Macro {
	line, col := p.line, p.col
	p.expectWord("macro")
	name := p.ident("expected macro name")
	m := &Macro{P: p.span(line, col), Name: name}
	p.layout()
	if p.peek() != '{' {
		p.expect('(')
		p.layout()
		if p.peek() != ')' {
			for {
				p.layout()
				switch p.peek() {
				case '$':
					m.Params = append(m.Params, p.variable())
				case '@':
					m.Params = append(m.Params, p.mapName())
				default:
					aline, acol := p.line, p.col
					id := p.ident("expected macro argument ($var, @map, or identifier)")
					if isBuiltin(id) {
						p.fail("builtin '"+id+"' can't be used as a macro argument", p.span(aline, acol))
					}
					m.Params = append(m.Params, id)
				}
				if !p.matchChar(',') {
					break
				}
			}
		}
		p.expect(')')
	}
	m.Body = p.block(true)
	return m
}

// fn: `fn name($a: type, ...): type { body }`
func (p *parser) fn() *Func {
	line, col := p.line, p.col
	p.expectWord("fn")
	name := p.ident("expected function name")
	f := &Func{P: p.span(line, col), Name: name}
	p.expect('(')
	p.layout()
	if p.peek() != ')' {
		for {
			p.layout()
			aline, acol := p.line, p.col
			if p.peek() != '$' {
				p.errTok("expected variable in function argument")
			}
			v := &Var{Name: p.variable()}
			v.P = p.span(aline, acol)
			p.expect(':')
			t := p.typeAnnotation()
			f.Params = append(f.Params, &VarDecl{P: p.span(aline, acol), Var: v, Type: t})
			if !p.matchChar(',') {
				break
			}
		}
	}
	p.expect(')')
	p.expect(':')
	f.Ret = p.typeAnnotation()
	f.Body = p.block(false)
	return f
}

// mapDecl: `let @name = kind(size);`
func (p *parser) mapDecl() *MapDecl {
	line, col := p.line, p.col
	p.expectWord("let")
	p.layout()
	if p.peek() != '@' {
		p.errTok("expected '@' in map declaration")
	}
	name := p.mapName()
	p.expect('=')
	kind := p.ident("expected map type name")
	p.expect('(')
	p.layout()
	if !isDigit(p.peek()) {
		p.errTok("expected positive integer for map declaration max entries")
	}
	sline, scol := p.line, p.col
	v, msg := parseUint(p.integerText())
	if msg != "" || v > 1<<63-1 {
		p.fail("expected positive integer for map declaration max entries", p.span(sline, scol))
	}
	p.expect(')')
	d := &MapDecl{P: p.span(line, col), Name: name, Kind: kind, Size: int64(v)}
	p.matchChar(';')
	return d
}

// probe: attach points, an optional /predicate/, a block.
func (p *parser) probe() *Probe {
	p.layout()
	line, col := p.line, p.col
	pr := &Probe{}
	pr.Points = append(pr.Points, p.attachPoint())
	for p.matchChar(',') {
		p.layout()
		if p.peek() == '/' || p.peek() == '{' {
			break // a trailing comma
		}
		pr.Points = append(pr.Points, p.attachPoint())
	}
	last := pr.Points[len(pr.Points)-1].P
	pr.P = Pos{Line: line, Col: col, EndCol: last.EndCol}
	if last.Line != line {
		pr.P.EndCol = len(p.lineText(line)) + 1
	}
	p.layout()
	if p.peek() == '/' && p.peekAt(1) != '/' && p.peekAt(1) != '*' {
		p.advance(1)
		pr.Pred = p.expr()
		if !p.matchChar('/') {
			p.errTok("expected '/' to close predicate")
		}
	}
	pr.Body = p.block(false)
	return pr
}

// attachPoint reads one attach point as written: everything up to `{`,
// `,`, a blank, or a `/` that starts the predicate.
func (p *parser) attachPoint() *AttachPoint {
	p.layout()
	line, col := p.line, p.col
	start := p.pos
	sawColon := false
loop:
	for !p.atEnd() {
		c := p.peek()
		switch {
		case c == '{' || c == ',':
			break loop
		case c == '/' && p.pos > start && !sawColon && p.peekAt(1) != '/' && p.peekAt(1) != '*':
			break loop
		case isSpace(c):
			break loop
		case c == '"':
			p.advance(1)
			for !p.atEnd() && p.peek() != '"' {
				if p.peek() == '\\' {
					p.advance(1)
				}
				p.advance(1)
			}
			p.advance(1)
			continue
		case c == ':':
			sawColon = true
		}
		p.advance(1)
	}
	raw := p.src[start:p.pos]
	if strings.HasPrefix(raw, "}") {
		p.restore(savePoint{start, line, col})
		p.errTok("unexpected '}'")
	}
	if raw == "" {
		p.errTok("expected attach point")
	}
	return &AttachPoint{P: p.span(line, col), Raw: raw, Parts: splitAttachPoint(raw)}
}

// splitAttachPoint splits at the colons outside quotes and removes the
// quotes.
func splitAttachPoint(raw string) []string {
	var parts []string
	var b strings.Builder
	quoted := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted && i+1 < len(raw):
			i++
			b.WriteByte(raw[i])
		case c == ':' && !quoted:
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(parts, b.String())
}

// block parses `{ ... }`. With value set, a trailing expression stays
// the block's Result; without, it becomes the last statement (bpftrace's
// rule for probe and loop bodies).
func (p *parser) block(value bool) *Block {
	p.enter()
	defer p.leave()
	p.layout()
	line, col := p.line, p.col
	p.expect('{')
	b := &Block{}
	p.layout()
	for p.peek() != '}' && !p.atEnd() {
		before := p.pos
		p.statement(b, value)
		if p.pos == before {
			p.errTok("unexpected input in block")
		}
		p.layout()
		if b.Result != nil && p.peek() != '}' {
			p.errTok("expected ';'")
		}
	}
	p.expect('}')
	b.P = p.span(line, col)
	if !value && b.Result != nil {
		b.Stmts = append(b.Stmts, exprStmt(b.Result))
		b.Result = nil
	}
	return b
}

// exprStmt makes the statement for x evaluated for its effect: an
// assignment or increment becomes the Assign itself.
func exprStmt(x Expr) Stmt {
	switch x := x.(type) {
	case *AssignExpr:
		return x.Assign
	case *IfExpr:
		return ifStmt(x)
	case *BlockExpr:
		normalize(x.Block)
		return x.Block
	}
	return &ExprStmt{X: x}
}

// normalize turns a block's Result into its last statement, recursively.
func normalize(b *Block) {
	if b == nil {
		return
	}
	for _, s := range b.Stmts {
		switch s := s.(type) {
		case *Block:
			normalize(s)
		case *If:
			normalize(s.Then)
			if e, ok := s.Else.(*Block); ok {
				normalize(e)
			}
		}
	}
	if b.Result != nil {
		b.Stmts = append(b.Stmts, exprStmt(b.Result))
		b.Result = nil
	}
}

// ifStmt turns an if used as a value back into a statement.
func ifStmt(x *IfExpr) *If {
	s := &If{P: x.P, Cond: x.Cond, Then: asBlock(x.Then)}
	switch e := x.Else.(type) {
	case nil:
	case *IfExpr:
		s.Else = ifStmt(e)
	default:
		s.Else = asBlock(e)
	}
	normalize(s.Then)
	if b, ok := s.Else.(*Block); ok {
		normalize(b)
	}
	return s
}

func asBlock(x Expr) *Block {
	if b, ok := x.(*BlockExpr); ok {
		return b.Block
	}
	return &Block{P: x.Position(), Result: x}
}

// statement parses one statement into b (or b's Result).
func (p *parser) statement(b *Block, value bool) {
	add := func(s Stmt) { b.Stmts = append(b.Stmts, s) }
	line, col := p.line, p.col
	kw := p.keyword()
	switch kw {
	case "while", "unroll":
		add(p.whileOrUnroll())
		return
	case "for":
		add(p.forLoop())
		return
	case "break", "continue":
		p.advance(len(kw))
		j := &Jump{P: p.span(line, col), Kind: kw}
		p.stmtEnd()
		add(j)
		return
	case "return":
		p.advance(len(kw))
		j := &Jump{Kind: kw}
		p.layout()
		if p.peek() != ';' && p.peek() != '}' {
			j.Value = p.expr()
		}
		j.P = p.span(line, col)
		p.stmtEnd()
		add(j)
		return
	case "let":
		add(p.letStmt())
		return
	case "import":
		p.importStmt()
	case "if":
		x := p.ifExpr()
		p.layout()
		if p.peek() == '}' && value && x.Else != nil {
			b.Result = x
			return
		}
		p.matchChar(';')
		add(ifStmt(x))
		return
	case "_":
		i := p.scanLayout(p.pos + 1)
		if p.charAt(i) == '=' && p.charAt(i+1) != '=' {
			p.advance(i + 1 - p.pos)
			x := p.expr()
			p.stmtEnd()
			add(&ExprStmt{X: x})
			return
		}
	}
	if p.peek() == '{' {
		inner := p.block(true)
		p.layout()
		if p.peek() == '}' && value {
			b.Result = &BlockExpr{Block: inner}
			return
		}
		p.matchChar(';')
		normalize(inner)
		add(inner)
		return
	}
	if p.peek() == '$' || p.peek() == '@' {
		p.sigiled(b)
		return
	}
	x := p.expr()
	p.layout()
	switch p.peek() {
	case ';':
		p.advance(1)
		add(exprStmt(x))
	case '}':
		b.Result = x
	default:
		switch x.(type) {
		case *IfExpr, *BlockExpr:
			add(exprStmt(x))
		default:
			p.errTok("expected ';'")
		}
	}
}

// stmtEnd expects `;`, which may be left out before `}`.
func (p *parser) stmtEnd() {
	p.layout()
	if p.peek() != '}' {
		p.expect(';')
	} else {
		p.matchChar(';')
	}
}

// sigiled parses a statement that starts with $ or @: an assignment, an
// increment, or an expression (a trailing one if `}` follows).
func (p *parser) sigiled(b *Block) {
	line, col := p.line, p.col
	start := p.save()
	var lhs Expr
	if p.peek() == '$' {
		if isDigit(p.peekAt(1)) || p.peekAt(1) == '#' {
			p.exprStatementFrom(b, start)
			return
		}
		name := p.variable()
		lhs = &Var{P: p.span(line, col), Name: name}
	} else {
		lhs = p.mapWithKeys()
	}
	p.layout()
	// lhs = value
	if p.peek() == '=' && p.peekAt(1) != '=' {
		p.advance(1)
		v := p.expr()
		a := &Assign{P: p.span(line, col), Target: lhs, Value: v}
		p.stmtEnd()
		b.Stmts = append(b.Stmts, a)
		return
	}
	// lhs op= value
	if op := p.compoundOp(); op != "" {
		v := p.expr()
		a := &Assign{P: p.span(line, col), Target: lhs, Op: op, Value: v}
		p.stmtEnd()
		b.Stmts = append(b.Stmts, a)
		return
	}
	// lhs++ / lhs--
	if (p.peek() == '+' || p.peek() == '-') && p.peekAt(1) == p.peek() {
		op := string(p.peek())
		p.advance(2)
		a := &Assign{P: p.span(line, col), Target: lhs, Op: op, Value: one(p.span(line, col)), Post: true}
		p.layout()
		if p.peek() == '}' && b != nil {
			// bpftrace makes this the block's value; it is the same
			// statement in a probe body.
			b.Stmts = append(b.Stmts, a)
			return
		}
		p.stmtEnd()
		b.Stmts = append(b.Stmts, a)
		return
	}
	// postfix operators, then `= value` on a field or an index
	x := p.postfix(lhs)
	p.layout()
	if p.peek() == '=' && p.peekAt(1) != '=' {
		msg := "invalid assignment target"
		if _, ok := x.(*Field); ok || p.tupleIndex[x] {
			msg = "Tuples and records are immutable once created. Consider creating a new value and assigning it instead."
		}
		p.advance(1)
		p.expr()
		p.fail(msg, p.span(line, col))
	}
	// the rest of an expression statement, from what was read (not read
	// again: that would take exponential time on nested blocks)
	p.exprStatementEnd(b, p.ternaryFrom(p.binary(0, x)))
}

// exprStatementFrom parses an expression statement from start.
func (p *parser) exprStatementFrom(b *Block, start savePoint) {
	p.restore(start)
	p.exprStatementEnd(b, p.expr())
}

// exprStatementEnd ends the expression statement x.
func (p *parser) exprStatementEnd(b *Block, x Expr) {
	p.layout()
	switch p.peek() {
	case ';':
		p.advance(1)
		b.Stmts = append(b.Stmts, exprStmt(x))
	case '}':
		b.Result = x
	default:
		p.errTok("expected ';'")
	}
}

func one(pos Pos) *IntLit { return &IntLit{P: pos, Value: 1, Text: "1"} }

// compoundOp consumes `+=` and the like and returns the operator without
// its `=`.
func (p *parser) compoundOp() string {
	p.layout()
	c, n := p.peek(), p.peekAt(1)
	if (c == '<' || c == '>') && n == c && p.peekAt(2) == '=' {
		p.advance(3)
		return string([]byte{c, c})
	}
	if n == '=' && strings.IndexByte("+-*/%&|^", c) >= 0 && c != 0 {
		p.advance(2)
		return string(c)
	}
	return ""
}

// letStmt: `let $x`, `let $x = v`, `let $x: type = v`.
func (p *parser) letStmt() Stmt {
	line, col := p.line, p.col
	p.expectWord("let")
	p.layout()
	if p.peek() != '$' {
		p.errTok("expected variable after 'let'")
	}
	vline, vcol := p.line, p.col
	v := &Var{Name: p.variable()}
	v.P = p.span(vline, vcol)
	d := &VarDecl{Var: v}
	p.layout()
	if p.peek() == ':' {
		p.advance(1)
		d.Type = p.typeAnnotation()
	}
	p.layout()
	if p.peek() == '=' {
		p.advance(1)
		d.Value = p.expr()
	}
	d.P = p.span(line, col)
	p.stmtEnd()
	return d
}

// whileOrUnroll: `while (cond) { }`, `unroll (n) { }`.
func (p *parser) whileOrUnroll() Stmt {
	line, col := p.line, p.col
	kw := p.keyword()
	p.advance(len(kw))
	cond := p.condition()
	body := p.block(false)
	if kw == "while" {
		return &While{P: p.span(line, col), Cond: cond, Body: body}
	}
	return &Unroll{P: p.span(line, col), Count: cond, Body: body}
}

// condition is the condition of if, while and unroll, in parentheses or
// not (bpftrace takes only a unary expression without them; a whole one
// is as easy, since no operator starts with the block's `{`).
func (p *parser) condition() Expr {
	p.layout()
	if p.peek() != '(' {
		return p.expr()
	}
	p.advance(1)
	x := p.expr()
	p.expect(')')
	p.layout()
	if p.peek() == '{' {
		return x
	}
	// `if (a) && (b) {`: the parentheses were only a part of it.
	return p.ternaryFrom(p.binary(0, p.postfix(x)))
}

// forLoop: `for ($kv : @map) { }` or `for ($i : lo..hi) { }`.
func (p *parser) forLoop() Stmt {
	line, col := p.line, p.col
	p.expectWord("for")
	paren := p.matchChar('(')
	p.layout()
	if p.peek() != '$' {
		p.errTok("expected variable in for loop")
	}
	vline, vcol := p.line, p.col
	v := &Var{Name: p.variable()}
	v.P = p.span(vline, vcol)
	p.expect(':')
	p.layout()
	first := p.primary()
	p.layout()
	f := &For{Var: v}
	if p.peek() == '.' && p.peekAt(1) == '.' {
		p.advance(2)
		f.From, f.To = first, p.primary()
		if paren {
			p.expect(')')
		}
	} else {
		if paren {
			p.expect(')')
		}
		m, ok := first.(*MapExpr)
		if !ok {
			p.fail("expected map or range in for loop", first.Position())
		}
		f.Map = m
	}
	f.Body = p.block(false)
	f.P = p.span(line, col)
	return f
}

// typeAnnotation: a type, or `typeof(type or expression)`.
func (p *parser) typeAnnotation() *TypeRef {
	p.layout()
	if p.checkKeyword("typeof") {
		line, col := p.line, p.col
		p.advance(len("typeof"))
		p.expect('(')
		if t := p.tryTypeRef(")"); t != nil {
			p.expect(')')
			return t
		}
		x := p.expr()
		p.expect(')')
		return &TypeRef{P: p.span(line, col), Typeof: x}
	}
	return p.typeRef(true)
}

// builtinTypes are the type names bpftrace knows without BTF.
var builtinTypes = map[string]bool{
	"bool": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint8": true, "uint16": true, "uint32": true, "uint64": true, "void": true,
	"min_t": true, "max_t": true, "sum_t": true, "count_t": true, "avg_t": true,
	"stats_t": true, "umin_t": true, "umax_t": true, "usum_t": true, "uavg_t": true,
	"ustats_t": true, "timestamp": true, "macaddr_t": true, "cgroup_path_t": true,
	"string": true, "buffer": true, "inet": true,
}

// typeRef parses `name`, `struct name`, then `*` and `[N]` suffixes.
// With must unset it returns nil instead of failing.
func (p *parser) typeRef(must bool) *TypeRef {
	p.layout()
	line, col := p.line, p.col
	msg := ""
	if must {
		msg = "expected type name"
	}
	name := p.ident(msg)
	if name == "" {
		return nil
	}
	if name == "struct" || name == "union" || name == "enum" {
		if must {
			msg = "expected identifier"
		}
		n := p.ident(msg)
		if n == "" {
			return nil
		}
		name += " " + n
	}
	t := &TypeRef{Name: name}
	for {
		s := p.save()
		p.layout()
		if p.peek() == '*' {
			p.advance(1)
			t.Ptr++
			t.P = p.span(line, col)
			continue
		}
		if p.peek() == '[' && t.Array == 0 {
			p.advance(1)
			p.layout()
			if isDigit(p.peek()) {
				sline, scol := p.line, p.col
				v, msg := parseUint(p.integerText())
				if msg != "" || v > 1<<31 {
					if !must {
						p.restore(s)
						return nil
					}
					p.fail("invalid array size", p.span(sline, scol))
				}
				t.Array = int(v)
			}
			if !p.matchChar(']') {
				if !must {
					p.restore(s)
					return nil
				}
				p.errTok("expected ']'")
			}
			if t.Array == 0 {
				t.Array = -1 // `[]`: the size is left to the checker
			}
			t.P = p.span(line, col)
			continue
		}
		p.restore(s)
		break
	}
	if t.P.Line == 0 {
		t.P = p.span(line, col)
	}
	return t
}

// tryTypeRef reads a type if what follows is certainly one and ends
// before one of the characters in end (sizeof, typeof); nil leaves the
// position unchanged.
func (p *parser) tryTypeRef(end string) *TypeRef {
	i := p.scanLayout(p.pos)
	if !isIdentStart(p.charAt(i)) {
		return nil
	}
	j := p.scanIdentEnd(i)
	word := p.src[i:j]
	if isBuiltin(word) {
		return nil
	}
	known := builtinTypes[word]
	if word == "struct" || word == "union" || word == "enum" {
		j = p.scanLayout(j)
		if !isIdentStart(p.charAt(j)) {
			return nil
		}
		j = p.scanIdentEnd(j)
		known = true
	}
	suffix := false
	for {
		j = p.scanLayout(j)
		if p.charAt(j) == '*' {
			suffix = true
			j++
			continue
		}
		if p.charAt(j) == '[' {
			after := p.scanBalanced(j, '[', ']')
			if p.charAt(after-1) != ']' {
				return nil
			}
			suffix = true
			j = after
			continue
		}
		break
	}
	if c := p.charAt(j); c == 0 || strings.IndexByte(end, c) < 0 {
		return nil
	}
	if !known && !suffix {
		return nil
	}
	s := p.save()
	t := p.typeRef(false)
	if t == nil {
		p.restore(s)
	}
	return t
}

// isBuiltin reports the identifiers that are values and so never type
// names in a cast: bpftrace's builtins and the names the standard library
// gives them.
func isBuiltin(name string) bool {
	switch name {
	case "args", "ctx", "kstack", "nsecs", "pid", "tid", "ustack",
		"cgroup", "comm", "cpid", "cpu", "curtask", "elapsed", "func",
		"gid", "jiffies", "ncpus", "probe", "rand", "retval", "uid",
		"usermode", "username", "numaid", "__builtin_cgroup", "__builtin_comm",
		"__builtin_cpid", "__builtin_cpu", "__builtin_curtask",
		"__builtin_dw_ustack", "__builtin_elapsed", "__builtin_func",
		"__builtin_gid", "__builtin_jiffies", "__builtin_ncpus",
		"__builtin_probe", "__builtin_rand", "__builtin_retval",
		"__builtin_uid", "__builtin_usermode", "__builtin_username":
		return true
	}
	for _, pre := range []string{"arg", "sarg"} {
		if rest, ok := strings.CutPrefix(name, pre); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return true
		}
	}
	return false
}

// Expressions.

func (p *parser) expr() Expr {
	p.enter()
	defer p.leave()
	return p.ternaryFrom(p.binary(0, p.unary()))
}

// ternaryFrom: `x ? a : b` and `x ?: b` after x.
func (p *parser) ternaryFrom(x Expr) Expr {
	s := p.save()
	p.layout()
	if p.peek() != '?' {
		p.restore(s)
		return x
	}
	start := x.Position()
	p.advance(1)
	p.layout()
	t := &Ternary{Cond: x}
	if p.peek() == ':' {
		p.advance(1)
		t.Else = p.expr()
	} else {
		t.Then = p.expr()
		p.expect(':')
		t.Else = p.expr()
	}
	t.P = p.span(start.Line, start.Col)
	return t
}

// binop is the binary operator next, and its precedence (1 `||` to 10
// `* / %`), or 0.
func (p *parser) binop() (string, int) {
	c, n := p.peek(), p.peekAt(1)
	if c == 0 {
		return "", 0
	}
	if n == '=' && strings.IndexByte("+-*/%&|^", c) >= 0 {
		return "", 0
	}
	if (c == '<' || c == '>') && n == c && p.peekAt(2) == '=' {
		return "", 0
	}
	switch two := string([]byte{c, n}); two {
	case "||":
		return two, 1
	case "&&":
		return two, 2
	case "==", "!=":
		return two, 6
	case "<=", ">=":
		return two, 7
	case "<<", ">>":
		return two, 8
	}
	switch c {
	case '|':
		return "|", 3
	case '^':
		return "^", 4
	case '&':
		return "&", 5
	case '<', '>':
		return string(c), 7
	case '+', '-':
		if n == c || (c == '-' && n == '>') {
			return "", 0
		}
		return string(c), 9
	case '*', '%':
		return string(c), 10
	case '/':
		// `/ {` ends a predicate.
		if p.charAt(p.scanLayout(p.pos+1)) == '{' {
			return "", 0
		}
		return "/", 10
	}
	return "", 0
}

// binary climbs precedences from min, with left already parsed.
func (p *parser) binary(min int, left Expr) Expr {
	for {
		s := p.save()
		p.layout()
		op, prec := p.binop()
		if prec == 0 || prec < min {
			p.restore(s)
			return left
		}
		p.advance(len(op))
		p.enter()
		right := p.binary(prec+1, p.unary())
		p.leave()
		start := left.Position()
		left = &Binary{P: p.span(start.Line, start.Col), Op: op, X: left, Y: right}
	}
}

// unary: ++x --x &x *x -x !x ~x, or a postfix expression.
func (p *parser) unary() Expr {
	p.enter()
	defer p.leave()
	p.layout()
	line, col := p.line, p.col
	c, n := p.peek(), p.peekAt(1)
	if (c == '+' || c == '-') && n == c {
		p.advance(2)
		x := p.unary()
		if !isLvalue(x) {
			p.fail("increment/decrement requires a variable or map", x.Position())
		}
		a := &Assign{P: p.span(line, col), Target: x, Op: string(c), Value: one(p.span(line, col))}
		return &AssignExpr{Assign: a}
	}
	if c == '&' {
		p.advance(1)
		p.layout()
		var x Expr
		switch p.peek() {
		case '$':
			vline, vcol := p.line, p.col
			name := p.variable()
			x = &Var{P: p.span(vline, vcol), Name: name}
		case '@':
			vline, vcol := p.line, p.col
			name := p.mapName()
			x = &MapExpr{P: p.span(vline, vcol), Name: name}
		default:
			p.errTok("address-of operator (&) can only be used on a map or variable")
		}
		return &Unary{P: p.span(line, col), Op: "&", X: x}
	}
	var op string
	switch {
	case c == '*':
		op = "*"
	case c == '!' && n != '=':
		op = "!"
	case c == '~':
		op = "~"
	case c == '-' && n != '-':
		op = "-"
	default:
		return p.postfix(p.primary())
	}
	p.advance(1)
	x := p.unary()
	return &Unary{P: p.span(line, col), Op: op, X: x}
}

func isLvalue(x Expr) bool {
	switch x.(type) {
	case *Var, *MapExpr:
		return true
	}
	return false
}

// postfix: .field, .N, ->field, [index], ++, --
func (p *parser) postfix(x Expr) Expr {
	for {
		s := p.save()
		p.layout()
		start := x.Position()
		c, n := p.peek(), p.peekAt(1)
		switch {
		case c == '.' && n != '.':
			p.advance(1)
			p.layout()
			if isDigit(p.peek()) {
				iline, icol := p.line, p.col
				text := p.integerText()
				v, msg := parseUint(text)
				if msg != "" {
					p.fail(msg, p.span(iline, icol))
				}
				x = &Index{P: p.span(start.Line, start.Col), X: x, Index: &IntLit{P: p.span(iline, icol), Value: v, Text: text}}
				if p.tupleIndex == nil {
					p.tupleIndex = map[Expr]bool{}
				}
				p.tupleIndex[x] = true
				continue
			}
			name := p.ident("expected field name after '.'")
			x = &Field{P: p.span(start.Line, start.Col), X: x, Name: name}
		case c == '-' && n == '>':
			p.advance(2)
			name := p.ident("expected field name after '->'")
			x = &Field{P: p.span(start.Line, start.Col), X: x, Name: name, Arrow: true}
		case c == '[':
			p.advance(1)
			i := p.expr()
			p.expect(']')
			x = &Index{P: p.span(start.Line, start.Col), X: x, Index: i}
		case (c == '+' || c == '-') && n == c:
			if !isLvalue(x) {
				oline, ocol := p.line, p.col
				p.advance(2)
				p.fail("increment/decrement requires a variable or map", p.span(oline, ocol))
			}
			p.advance(2)
			pos := p.span(start.Line, start.Col)
			x = &AssignExpr{Assign: &Assign{P: pos, Target: x, Op: string(c), Value: one(pos), Post: true}}
		default:
			p.restore(s)
			return x
		}
	}
}

// primary: ( ... ), if, sizeof, offsetof, { block }, calls, identifiers,
// maps, variables, parameters, numbers, characters, strings.
func (p *parser) primary() Expr {
	p.enter()
	defer p.leave()
	p.layout()
	line, col := p.line, p.col
	c := p.peek()
	switch {
	case c == '(':
		return p.paren()
	case c == '{':
		return &BlockExpr{Block: p.block(true)}
	case c == '@':
		return p.mapWithKeys()
	case c == '$':
		return p.dollar()
	case isDigit(c):
		text := p.integerText()
		v, msg := parseUint(text)
		if msg != "" {
			p.fail(msg, p.span(line, col))
		}
		return &IntLit{P: p.span(line, col), Value: v, Text: text}
	case c == '"':
		s := p.str()
		return &StrLit{P: p.span(line, col), Value: s}
	case c == '\'':
		return p.char()
	case isIdentStart(c):
	default:
		p.errTok("expected expression")
	}
	switch p.keyword() {
	case "if":
		return p.ifExpr()
	case "sizeof":
		return p.sizeof()
	case "offsetof":
		return p.offsetof()
	case "typeinfo", "comptime":
		p.failWord(p.keyword() + " is not supported")
	}
	name := p.ident("")
	pos := p.span(line, col)
	if name == "true" || name == "false" {
		return &BoolLit{P: pos, Value: name == "true"}
	}
	s := p.save()
	p.layout()
	if p.peek() == '(' {
		p.advance(1)
		call := &Call{Name: name}
		p.layout()
		if p.peek() != ')' {
			call.Args = append(call.Args, p.expr())
			for p.matchChar(',') {
				call.Args = append(call.Args, p.expr())
			}
		}
		p.expect(')')
		call.P = p.span(line, col)
		return call
	}
	p.restore(s)
	return &Ident{P: pos, Name: name}
}

// char is a character literal, 'a' or '\n', as an integer.
func (p *parser) char() Expr {
	line, col := p.line, p.col
	p.advance(1)
	var v string
	switch p.peek() {
	case '\\':
		p.advance(1)
		v = p.escape(line, col)
	case '\'', '\n', 0:
		p.errTok("invalid character literal")
	default:
		v = string(p.peek())
		p.advance(1)
	}
	if p.peek() != '\'' || len(v) != 1 {
		p.fail("unterminated character literal", p.span(line, col))
	}
	p.advance(1)
	pos := p.span(line, col)
	return &IntLit{P: pos, Value: uint64(v[0]), Text: p.src[p.pos-(pos.EndCol-pos.Col) : p.pos]}
}

// dollar: $name, $N, $#
func (p *parser) dollar() Expr {
	line, col := p.line, p.col
	if p.peekAt(1) == '#' {
		p.advance(2)
		return &Param{P: p.span(line, col), N: -1}
	}
	if isDigit(p.peekAt(1)) {
		p.advance(1)
		start := p.pos
		for isDigit(p.peek()) {
			p.advance(1)
		}
		digits := p.src[start:p.pos]
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n < 1 {
			p.fail("param $"+digits+" is out of integer range [1, 9223372036854775807]", p.span(line, col))
		}
		if n > 1<<31 {
			p.fail("param $"+digits+" is out of integer range", p.span(line, col))
		}
		return &Param{P: p.span(line, col), N: int(n)}
	}
	name := p.variable()
	return &Var{P: p.span(line, col), Name: name}
}

// mapWithKeys: @name, @name[key], @name[k1, k2]
func (p *parser) mapWithKeys() Expr {
	line, col := p.line, p.col
	m := &MapExpr{Name: p.mapName()}
	m.P = p.span(line, col)
	s := p.save()
	p.layout()
	if p.peek() != '[' {
		p.restore(s)
		return m
	}
	p.advance(1)
	keys := []Expr{p.expr()}
	for p.matchChar(',') {
		keys = append(keys, p.expr())
	}
	p.expect(']')
	m.P = p.span(line, col)
	if len(keys) > 1 {
		m.Key = &Tuple{P: m.P, Elems: keys}
	} else {
		m.Key = keys[0]
	}
	return m
}

// ifExpr: `if cond { } [else if ... | else { }]`.
func (p *parser) ifExpr() *IfExpr {
	p.layout()
	line, col := p.line, p.col
	p.expectWord("if")
	x := &IfExpr{Cond: p.condition()}
	x.Then = blockValue(p.block(true))
	s := p.save()
	if p.matchWord("else") {
		p.layout()
		switch {
		case p.peek() == '{':
			x.Else = blockValue(p.block(true))
		case p.checkKeyword("if"):
			x.Else = p.ifExpr()
		default:
			p.errTok("expected '{' or 'if' after 'else'")
		}
	} else {
		p.restore(s)
	}
	x.P = p.span(line, col)
	return x
}

// blockValue is the value of a block used in an if: its expression when
// it is nothing else.
func blockValue(b *Block) Expr {
	if len(b.Stmts) == 0 && b.Result != nil {
		return b.Result
	}
	return &BlockExpr{Block: b}
}

// sizeof: `sizeof(type)` or `sizeof(expr)`.
func (p *parser) sizeof() Expr {
	line, col := p.line, p.col
	p.expectWord("sizeof")
	p.expect('(')
	s := &Sizeof{}
	if t := p.tryTypeRef(")"); t != nil {
		s.Type = t
	} else {
		s.X = p.expr()
	}
	p.expect(')')
	s.P = p.span(line, col)
	return s
}

// offsetof: `offsetof(struct x, a.b)` or `offsetof(expr, a.b)`.
func (p *parser) offsetof() Expr {
	line, col := p.line, p.col
	p.expectWord("offsetof")
	p.expect('(')
	o := &Offsetof{}
	kw := p.src[p.scanLayout(p.pos):p.scanIdentEnd(p.scanLayout(p.pos))]
	if kw == "struct" || kw == "union" || kw == "enum" {
		o.Type = p.typeRef(true)
	} else {
		o.X = p.expr()
	}
	p.expect(',')
	o.Fields = append(o.Fields, p.ident("expected identifier"))
	for p.matchChar('.') {
		o.Fields = append(o.Fields, p.ident("expected identifier"))
	}
	p.expect(')')
	o.P = p.span(line, col)
	return o
}

// paren: `()`, a record `(a = 1, b = 2)`, a cast `(type)x`, a grouping
// `(x)` or a tuple `(a, b)`.
func (p *parser) paren() Expr {
	line, col := p.line, p.col
	p.advance(1)
	p.layout()
	if p.peek() == ')' {
		p.advance(1)
		return &Tuple{P: p.span(line, col)}
	}
	if r := p.record(line, col); r != nil {
		return r
	}
	if c := p.cast(line, col); c != nil {
		return c
	}
	first := p.expr()
	p.layout()
	if p.peek() != ',' {
		p.expect(')')
		return first
	}
	p.advance(1)
	p.layout()
	t := &Tuple{Elems: []Expr{first}}
	for p.peek() != ')' {
		t.Elems = append(t.Elems, p.expr())
		if !p.matchChar(',') {
			break
		}
		p.layout()
	}
	p.expect(')')
	t.P = p.span(line, col)
	return t
}

// record parses `(name = v, ...)` when the parenthesis opens one.
func (p *parser) record(line, col int) Expr {
	i := p.scanLayout(p.pos)
	if !isIdentStart(p.charAt(i)) {
		return nil
	}
	j := p.scanIdentEnd(i)
	k := p.scanLayout(j)
	if p.charAt(k) != '=' || p.charAt(k+1) == '=' || isBuiltin(p.src[i:j]) {
		return nil
	}
	r := &Record{}
	seen := map[string]bool{}
	for {
		p.layout()
		aline, acol := p.line, p.col
		name := p.ident("expected identifier")
		p.expect('=')
		v := p.expr()
		if seen[name] {
			p.fail("Named argument list already contains name: "+name, p.span(aline, acol))
		}
		seen[name] = true
		r.Names = append(r.Names, name)
		r.Values = append(r.Values, v)
		if !p.matchChar(',') {
			break
		}
	}
	p.expect(')')
	r.P = p.span(line, col)
	return r
}

// cast parses `(type)x` when the parenthesis holds a type and an
// expression follows it; otherwise it leaves the position unchanged.
func (p *parser) cast(line, col int) Expr {
	s := p.save()
	var t *TypeRef
	if p.checkKeyword("typeof") {
		// typeof is no expression: this is a cast (and trying the
		// grouping instead would take exponential time when nested).
		t = p.typeAnnotation()
		p.expect(')')
		x := p.unary()
		return &Cast{P: p.span(line, col), Type: t, X: x}
	} else {
		i := p.scanLayout(p.pos)
		if !isIdentStart(p.charAt(i)) || isBuiltin(p.src[i:p.scanIdentEnd(i)]) {
			return nil
		}
		switch p.src[i:p.scanIdentEnd(i)] {
		case "if", "sizeof", "offsetof", "true", "false":
			return nil
		}
		t = p.typeRef(false)
	}
	if t == nil {
		p.restore(s)
		return nil
	}
	p.layout()
	if p.peek() != ')' {
		p.restore(s)
		return nil
	}
	p.advance(1)
	if !p.canStartExpr() {
		p.restore(s)
		return nil
	}
	x := p.unary()
	return &Cast{P: p.span(line, col), Type: t, X: x}
}

func (p *parser) canStartExpr() bool {
	c := p.charAt(p.scanLayout(p.pos))
	return isDigit(c) || strings.IndexByte("$@\"'(-!~*&", c) >= 0 && c != 0 || isIdentStart(c)
}
