package lang

import "strconv"

// ExpandMacros replaces every call of a macro of prog (in probes, in
// functions and in other macros' expansions) by the macro's body:
//
//   - a parameter `x` is replaced by the argument expression, wherever
//     the body uses the identifier x;
//   - a parameter `$x` must be given a variable, which the body then uses
//     (and may change) in place of $x;
//   - a parameter `@x` must be given a map, used in place of @x;
//   - the body's own variables are renamed, so that they cannot meet the
//     caller's ($name becomes $name__macro_N).
//
// A macro without parameters may also be used as a bare identifier. The
// call becomes the body's value: its Result alone, or a BlockExpr. The
// error, if any, is an *Error at the call.
func ExpandMacros(prog *Program) (err error) {
	e := &expander{prog: prog, macros: map[string][]*Macro{}}
	for _, m := range prog.Macros {
		e.macros[m.Name] = append(e.macros[m.Name], m)
	}
	if len(e.macros) == 0 {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			err = e.err
		}
	}()
	for _, p := range prog.Probes {
		env := &env{}
		if p.Pred != nil {
			p.Pred = e.expr(p.Pred, env)
		}
		p.Body = e.block(p.Body, env)
	}
	for _, f := range prog.Funcs {
		f.Body = e.block(f.Body, &env{})
	}
	return nil
}

type expander struct {
	prog   *Program
	macros map[string][]*Macro
	stack  []string
	n      int
	err    *Error
}

// env is what a macro body's names stand for while it is expanded; the
// zero env is the identity.
type env struct {
	idents map[string]Expr
	vars   map[string]string
	maps   map[string]string
	suffix string // appended to the body's own variables
}

func (e *expander) fail(msg string, at Pos) {
	line := ""
	if lines := splitLines(e.prog.Source); at.Line >= 1 && at.Line <= len(lines) {
		line = lines[at.Line-1]
	}
	e.err = &Error{File: e.prog.Name, P: at, Msg: msg, Line: line}
	panic(bailout{})
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (e *expander) find(name string, n int) *Macro {
	for _, m := range e.macros[name] {
		if len(m.Params) == n {
			return m
		}
	}
	return nil
}

// expand is the expansion of a call of m with args (already expanded in
// the caller's env).
func (e *expander) expand(m *Macro, args []Expr, at Pos) Expr {
	for _, s := range e.stack {
		if s == m.Name {
			e.fail("Macro recursion: "+m.Name, at)
		}
	}
	if len(e.stack) > 100 {
		e.fail("macros nested too deeply", at)
	}
	e.stack = append(e.stack, m.Name)
	defer func() { e.stack = e.stack[:len(e.stack)-1] }()
	e.n++
	inner := &env{idents: map[string]Expr{}, vars: map[string]string{}, maps: map[string]string{},
		suffix: "__" + m.Name + "_" + strconv.Itoa(e.n)}
	for i, p := range m.Params {
		a := args[i]
		switch p[0] {
		case '$':
			v, ok := a.(*Var)
			if !ok {
				e.fail("macro '"+m.Name+"' expects a scratch variable for "+p, a.Position())
			}
			inner.vars[p] = v.Name
		case '@':
			mp, ok := a.(*MapExpr)
			if !ok || mp.Key != nil {
				e.fail("macro '"+m.Name+"' expects a map for "+p, a.Position())
			}
			inner.maps[p] = mp.Name
		default:
			inner.idents[p] = a
		}
	}
	b := e.block(m.Body, inner)
	if len(b.Stmts) == 0 && b.Result != nil {
		return b.Result
	}
	return &BlockExpr{Block: b}
}

func (e *expander) block(b *Block, v *env) *Block {
	if b == nil {
		return nil
	}
	out := &Block{P: b.P}
	for _, s := range b.Stmts {
		out.Stmts = append(out.Stmts, e.stmt(s, v))
	}
	if b.Result != nil {
		out.Result = e.expr(b.Result, v)
	}
	return out
}

func (e *expander) stmt(s Stmt, v *env) Stmt {
	switch s := s.(type) {
	case *Block:
		return e.block(s, v)
	case *ExprStmt:
		return exprStmt(e.expr(s.X, v))
	case *VarDecl:
		d := &VarDecl{P: s.P, Var: e.variable(s.Var, v), Type: e.typ(s.Type, v)}
		if s.Value != nil {
			d.Value = e.expr(s.Value, v)
		}
		return d
	case *Assign:
		return e.assign(s, v)
	case *If:
		out := &If{P: s.P, Cond: e.expr(s.Cond, v), Then: e.block(s.Then, v)}
		if s.Else != nil {
			out.Else = e.stmt(s.Else, v)
		}
		return out
	case *While:
		return &While{P: s.P, Cond: e.expr(s.Cond, v), Body: e.block(s.Body, v)}
	case *Unroll:
		return &Unroll{P: s.P, Count: e.expr(s.Count, v), Body: e.block(s.Body, v)}
	case *For:
		out := &For{P: s.P, Var: e.variable(s.Var, v), Body: e.block(s.Body, v)}
		if s.Map != nil {
			out.Map = e.expr(s.Map, v).(*MapExpr)
		} else {
			out.From, out.To = e.expr(s.From, v), e.expr(s.To, v)
		}
		return out
	case *Jump:
		out := &Jump{P: s.P, Kind: s.Kind}
		if s.Value != nil {
			out.Value = e.expr(s.Value, v)
		}
		return out
	}
	return s
}

func (e *expander) assign(a *Assign, v *env) *Assign {
	return &Assign{P: a.P, Target: e.expr(a.Target, v), Op: a.Op, Value: e.expr(a.Value, v), Post: a.Post}
}

func (e *expander) variable(x *Var, v *env) *Var {
	if name, ok := v.vars[x.Name]; ok {
		return &Var{P: x.P, Name: name}
	}
	return &Var{P: x.P, Name: x.Name + v.suffix}
}

func (e *expander) typ(t *TypeRef, v *env) *TypeRef {
	if t == nil || t.Typeof == nil {
		return t
	}
	c := *t
	c.Typeof = e.expr(t.Typeof, v)
	return &c
}

func (e *expander) exprs(xs []Expr, v *env) []Expr {
	var out []Expr
	for _, x := range xs {
		out = append(out, e.expr(x, v))
	}
	return out
}

func (e *expander) expr(x Expr, v *env) Expr {
	switch x := x.(type) {
	case nil:
		return nil
	case *Ident:
		if a, ok := v.idents[x.Name]; ok {
			// a copy of the argument, already expanded in the caller's env
			return e.expr(a, &env{})
		}
		if m := e.find(x.Name, 0); m != nil {
			return e.expand(m, nil, x.P)
		}
		return x
	case *Var:
		return e.variable(x, v)
	case *MapExpr:
		out := &MapExpr{P: x.P, Name: x.Name, Key: e.expr(x.Key, v)}
		if name, ok := v.maps[x.Name]; ok {
			out.Name = name
		}
		return out
	case *Call:
		args := e.exprs(x.Args, v)
		if m := e.find(x.Name, len(args)); m != nil {
			return e.expand(m, args, x.P)
		}
		return &Call{P: x.P, Name: x.Name, Args: args}
	case *Binary:
		return &Binary{P: x.P, Op: x.Op, X: e.expr(x.X, v), Y: e.expr(x.Y, v)}
	case *Unary:
		return &Unary{P: x.P, Op: x.Op, X: e.expr(x.X, v)}
	case *Ternary:
		return &Ternary{P: x.P, Cond: e.expr(x.Cond, v), Then: e.expr(x.Then, v), Else: e.expr(x.Else, v)}
	case *Field:
		return &Field{P: x.P, X: e.expr(x.X, v), Name: x.Name, Arrow: x.Arrow}
	case *Index:
		return &Index{P: x.P, X: e.expr(x.X, v), Index: e.expr(x.Index, v)}
	case *Cast:
		return &Cast{P: x.P, Type: e.typ(x.Type, v), X: e.expr(x.X, v)}
	case *Tuple:
		return &Tuple{P: x.P, Elems: e.exprs(x.Elems, v)}
	case *Record:
		return &Record{P: x.P, Names: x.Names, Values: e.exprs(x.Values, v)}
	case *Sizeof:
		return &Sizeof{P: x.P, Type: e.typ(x.Type, v), X: e.expr(x.X, v)}
	case *Offsetof:
		return &Offsetof{P: x.P, Type: x.Type, X: e.expr(x.X, v), Fields: x.Fields}
	case *BlockExpr:
		return &BlockExpr{Block: e.block(x.Block, v)}
	case *IfExpr:
		return &IfExpr{P: x.P, Cond: e.expr(x.Cond, v), Then: e.expr(x.Then, v), Else: e.expr(x.Else, v)}
	case *AssignExpr:
		return &AssignExpr{Assign: e.assign(x.Assign, v)}
	}
	return x
}
