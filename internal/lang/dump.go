package lang

import (
	"fmt"
	"strconv"
	"strings"
)

// Dump prints a node and everything under it as an S-expression, one
// node per line for statements and larger, for tests and debugging.
// Positions are left out; DumpPos puts them in.
func Dump(n Node) string {
	d := &dumper{}
	d.node(n, 0)
	return d.b.String()
}

// DumpPos is Dump with each node's line:col-endcol.
func DumpPos(n Node) string {
	d := &dumper{pos: true}
	d.node(n, 0)
	return d.b.String()
}

type dumper struct {
	b   strings.Builder
	pos bool
}

func (d *dumper) line(depth int, s string) {
	d.b.WriteString(strings.Repeat("  ", depth))
	d.b.WriteString(s)
	d.b.WriteByte('\n')
}

func (d *dumper) at(n Node) string {
	if !d.pos || n == nil {
		return ""
	}
	p := n.Position()
	return fmt.Sprintf("@%d:%d-%d ", p.Line, p.Col, p.EndCol)
}

// node prints statements and larger nodes on lines of their own.
func (d *dumper) node(n Node, depth int) {
	switch n := n.(type) {
	case nil:
		d.line(depth, "nil")
	case *Program:
		d.line(depth, "(program "+strconv.Quote(n.Name))
		for _, c := range n.Config {
			d.line(depth+1, "(config "+d.at(c)+c.Key+" "+d.expr(c.Value)+")")
		}
		for _, m := range n.MapDecl {
			d.line(depth+1, fmt.Sprintf("(map-decl %s%s %s %d)", d.at(m), m.Name, m.Kind, m.Size))
		}
		for _, m := range n.Macros {
			d.node(m, depth+1)
		}
		for _, f := range n.Funcs {
			d.node(f, depth+1)
		}
		for _, p := range n.Probes {
			d.node(p, depth+1)
		}
		d.line(depth, ")")
	case *Macro:
		d.line(depth, "(macro "+d.at(n)+n.Name+" ("+strings.Join(n.Params, " ")+")")
		d.node(n.Body, depth+1)
		d.line(depth, ")")
	case *Func:
		var ps []string
		for _, p := range n.Params {
			ps = append(ps, p.Var.Name+" "+d.typ(p.Type))
		}
		d.line(depth, "(fn "+d.at(n)+n.Name+" ("+strings.Join(ps, ", ")+") "+d.typ(n.Ret))
		d.node(n.Body, depth+1)
		d.line(depth, ")")
	case *Probe:
		var aps []string
		for _, a := range n.Points {
			aps = append(aps, d.at(a)+strconv.Quote(a.Raw)+" "+strings.Join(quoteAll(a.Parts), ":"))
		}
		d.line(depth, "(probe "+d.at(n)+strings.Join(aps, ", "))
		if n.Pred != nil {
			d.line(depth+1, "(pred "+d.expr(n.Pred)+")")
		}
		d.node(n.Body, depth+1)
		d.line(depth, ")")
	case *Block:
		d.line(depth, "(block "+d.at(n))
		for _, s := range n.Stmts {
			d.node(s, depth+1)
		}
		if n.Result != nil {
			d.line(depth+1, "(result "+d.expr(n.Result)+")")
		}
		d.line(depth, ")")
	case *If:
		d.line(depth, "(if "+d.at(n)+d.expr(n.Cond))
		d.node(n.Then, depth+1)
		if n.Else != nil {
			d.line(depth, " else")
			d.node(n.Else, depth+1)
		}
		d.line(depth, ")")
	case *While:
		d.line(depth, "(while "+d.at(n)+d.expr(n.Cond))
		d.node(n.Body, depth+1)
		d.line(depth, ")")
	case *Unroll:
		d.line(depth, "(unroll "+d.at(n)+d.expr(n.Count))
		d.node(n.Body, depth+1)
		d.line(depth, ")")
	case *For:
		if n.Map != nil {
			d.line(depth, "(for "+d.at(n)+d.expr(n.Var)+" "+d.expr(n.Map))
		} else {
			d.line(depth, "(for "+d.at(n)+d.expr(n.Var)+" (range "+d.expr(n.From)+" "+d.expr(n.To)+")")
		}
		d.node(n.Body, depth+1)
		d.line(depth, ")")
	case Stmt:
		d.line(depth, d.stmt(n))
	case Expr:
		d.line(depth, d.expr(n))
	case *AttachPoint:
		d.line(depth, d.at(n)+strconv.Quote(n.Raw))
	case *TypeRef:
		d.line(depth, d.typ(n))
	default:
		d.line(depth, fmt.Sprintf("(? %T)", n))
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// stmt prints a one-line statement.
func (d *dumper) stmt(s Stmt) string {
	switch s := s.(type) {
	case *ExprStmt:
		return "(expr " + d.expr(s.X) + ")"
	case *VarDecl:
		out := "(let " + d.at(s) + d.expr(s.Var)
		if s.Type != nil {
			out += " " + d.typ(s.Type)
		}
		if s.Value != nil {
			out += " " + d.expr(s.Value)
		}
		return out + ")"
	case *Assign:
		return d.assign(s)
	case *Jump:
		if s.Value != nil {
			return "(" + s.Kind + " " + d.at(s) + d.expr(s.Value) + ")"
		}
		return "(" + s.Kind + d.at(s) + ")"
	}
	var b dumper
	b.pos = d.pos
	b.node(s, 0)
	return strings.TrimSpace(b.b.String())
}

func (d *dumper) assign(a *Assign) string {
	op := a.Op + "="
	if a.Post {
		return "(post" + a.Op + a.Op + " " + d.at(a) + d.expr(a.Target) + ")"
	}
	return "(" + op + " " + d.at(a) + d.expr(a.Target) + " " + d.expr(a.Value) + ")"
}

func (d *dumper) typ(t *TypeRef) string {
	if t == nil {
		return "(type nil)"
	}
	s := "(type " + d.at(t)
	if t.Typeof != nil {
		s += "typeof " + d.expr(t.Typeof)
	} else {
		s += strconv.Quote(t.Name)
	}
	if t.Ptr > 0 {
		s += " " + strings.Repeat("*", t.Ptr)
	}
	if t.Array != 0 {
		s += " [" + strconv.Itoa(t.Array) + "]"
	}
	return s + ")"
}

// expr prints an expression on one line.
func (d *dumper) expr(x Expr) string {
	at := d.at(x)
	switch x := x.(type) {
	case nil:
		return "nil"
	case *IntLit:
		if x.Text != strconv.FormatUint(x.Value, 10) {
			return at + strconv.FormatUint(x.Value, 10) + "/" + x.Text
		}
		return at + x.Text
	case *StrLit:
		return at + strconv.Quote(x.Value)
	case *BoolLit:
		return at + strconv.FormatBool(x.Value)
	case *Ident:
		return at + x.Name
	case *Var:
		return at + x.Name
	case *Param:
		if x.N < 0 {
			return at + "$#"
		}
		return at + "$" + strconv.Itoa(x.N)
	case *MapExpr:
		if x.Key == nil {
			return at + x.Name
		}
		return "(" + at + x.Name + "[" + d.expr(x.Key) + "])"
	case *Call:
		s := "(call " + at + x.Name
		for _, a := range x.Args {
			s += " " + d.expr(a)
		}
		return s + ")"
	case *Binary:
		return "(" + x.Op + " " + at + d.expr(x.X) + " " + d.expr(x.Y) + ")"
	case *Unary:
		return "(" + x.Op + " " + at + d.expr(x.X) + ")"
	case *Ternary:
		return "(? " + at + d.expr(x.Cond) + " " + d.expr(x.Then) + " " + d.expr(x.Else) + ")"
	case *Field:
		op := "."
		if x.Arrow {
			op = "->"
		}
		return "(" + op + " " + at + d.expr(x.X) + " " + x.Name + ")"
	case *Index:
		return "([] " + at + d.expr(x.X) + " " + d.expr(x.Index) + ")"
	case *Cast:
		return "(cast " + at + d.typ(x.Type) + " " + d.expr(x.X) + ")"
	case *Tuple:
		s := "(tuple" + strings.TrimSuffix(" "+at, " ")
		for _, e := range x.Elems {
			s += " " + d.expr(e)
		}
		return s + ")"
	case *Record:
		s := "(record" + strings.TrimSuffix(" "+at, " ")
		for i, n := range x.Names {
			s += " " + n + "=" + d.expr(x.Values[i])
		}
		return s + ")"
	case *Sizeof:
		if x.Type != nil {
			return "(sizeof " + at + d.typ(x.Type) + ")"
		}
		return "(sizeof " + at + d.expr(x.X) + ")"
	case *Offsetof:
		what := d.typ(x.Type)
		if x.X != nil {
			what = d.expr(x.X)
		}
		return "(offsetof " + at + what + " " + strings.Join(x.Fields, ".") + ")"
	case *BlockExpr:
		return "{" + d.inline(x.Block) + "}"
	case *IfExpr:
		return "(if-expr " + at + d.expr(x.Cond) + " " + d.expr(x.Then) + " " + d.expr(x.Else) + ")"
	case *AssignExpr:
		return d.assign(x.Assign)
	}
	return fmt.Sprintf("(? %T)", x)
}

// inline prints a block on one line.
func (d *dumper) inline(b *Block) string {
	var parts []string
	for _, s := range b.Stmts {
		line := d.stmt(s)
		parts = append(parts, strings.Join(strings.Fields(line), " ")+";")
	}
	if b.Result != nil {
		parts = append(parts, d.expr(b.Result))
	}
	return strings.Join(parts, " ")
}
