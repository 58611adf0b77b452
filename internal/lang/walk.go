package lang

// Inspect calls f for n and, while f returns true, for every node below it
// in source order.
func Inspect(n Node, f func(Node) bool) {
	if n == nil || !f(n) {
		return
	}
	each := func(ns ...Node) {
		for _, c := range ns {
			if c != nil && !isNilNode(c) {
				Inspect(c, f)
			}
		}
	}
	switch n := n.(type) {
	case *Probe:
		for _, ap := range n.Points {
			each(ap)
		}
		each(n.Pred, n.Body)
	case *Block:
		for _, s := range n.Stmts {
			each(s)
		}
		each(n.Result)
	case *ExprStmt:
		each(n.X)
	case *VarDecl:
		each(n.Var, n.Value)
	case *Assign:
		each(n.Target, n.Value)
	case *If:
		each(n.Cond, n.Then, n.Else)
	case *While:
		each(n.Cond, n.Body)
	case *Unroll:
		each(n.Count, n.Body)
	case *For:
		each(n.Var, n.Map, n.From, n.To, n.Body)
	case *Jump:
		each(n.Value)
	case *MapExpr:
		each(n.Key)
	case *Call:
		for _, a := range n.Args {
			each(a)
		}
	case *Binary:
		each(n.X, n.Y)
	case *Unary:
		each(n.X)
	case *Ternary:
		each(n.Cond, n.Then, n.Else)
	case *Field:
		each(n.X)
	case *Index:
		each(n.X, n.Index)
	case *Cast:
		each(n.X)
	case *Tuple:
		for _, e := range n.Elems {
			each(e)
		}
	case *Record:
		for _, e := range n.Values {
			each(e)
		}
	case *Sizeof:
		each(n.X)
	case *BlockExpr:
		each(n.Block)
	case *IfExpr:
		each(n.Cond, n.Then, n.Else)
	case *AssignExpr:
		each(n.Assign)
	}
}

// isNilNode reports a typed nil (an unset *Block in an interface, say).
func isNilNode(n Node) bool {
	switch n := n.(type) {
	case *Block:
		return n == nil
	case *MapExpr:
		return n == nil
	case *Var:
		return n == nil
	case *If:
		return n == nil
	}
	return false
}

// InspectProgram calls Inspect for every probe and macro of p.
func InspectProgram(p *Program, f func(Node) bool) {
	for _, pr := range p.Probes {
		Inspect(pr, f)
	}
	for _, m := range p.Macros {
		Inspect(m.Body, f)
	}
}
