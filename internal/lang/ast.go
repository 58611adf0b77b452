// Package lang is bpftrail's front end for bpftrace's language (as of
// bpftrace v0.26.1, with the older spellings scripts still use): a small C
// preprocessor, the parser, and the abstract syntax tree the type checker
// and the code generator walk. Errors carry the source position and print
// as bpftrace prints them, with the line and a caret.
package lang

// Pos is a place in a script: the 1-based line and column of a node's first
// character, and the column just past its last one on that line.
type Pos struct {
	Line, Col, EndCol int
}

// Node is any part of the tree.
type Node interface{ Position() Pos }

// Program is a whole script.
type Program struct {
	Name   string // "stdin" for -e, else the file's name; errors start with it
	Source string // the text parsed (after preprocessing), for error lines
	// CDefs are the C definitions at the top of the script (struct,
	// union, enum), as written.
	CDefs   []string
	Config  []*ConfigItem
	MapDecl []*MapDecl
	Macros  []*Macro
	Probes  []*Probe
	Funcs   []*Func // `fn` subprograms (added by the parser)
}

// Func is a subprogram, `fn name($a: type, ...): type { body }`. Each
// parameter is a *VarDecl with its Var and Type and no Value.
type Func struct {
	P      Pos
	Name   string
	Params []*VarDecl
	Ret    *TypeRef
	Body   *Block
}

// ConfigItem is one `key = value` of a `config = { ... }` block. Value is
// an *IntLit, *StrLit, *BoolLit or *Ident (bare words such as `ignore`).
type ConfigItem struct {
	P     Pos
	Key   string
	Value Expr
}

// MapDecl is `let @name = kind(size);` at the top level, e.g.
// `let @m = lruhash(100);`.
type MapDecl struct {
	P    Pos
	Name string // with its "@"
	Kind string // hash, lruhash, percpuhash, percpulruhash, percpuarray
	Size int64
}

// Macro is `macro name(params) { body }` (expanded by the parser where it
// is called with name(args)).
type Macro struct {
	P      Pos
	Name   string
	Params []string // "$x", "@m" or bare identifiers
	Body   *Block
}

// Probe is one action block: its attach points, an optional predicate and
// the block.
type Probe struct {
	P      Pos
	Points []*AttachPoint
	Pred   Expr // nil when there is none
	Body   *Block
}

// AttachPoint is one probe as written, e.g. `tracepoint:syscalls:sys_enter_*`,
// `uprobe:/bin/bash:readline`, `BEGIN`, `interval:s:1`, `t:sched:sched_switch`.
// Parts are the colon-separated parts with any quotes removed (a quoted
// part may contain colons); the provider is Parts[0] as written, including
// short forms, which the planner expands.
type AttachPoint struct {
	P     Pos
	Raw   string
	Parts []string
}

// Stmt is a statement.
type Stmt interface {
	Node
	stmt()
}

// Expr is an expression.
type Expr interface {
	Node
	expr()
}

// Block is `{ stmts; [trailing expression] }`.
type Block struct {
	P      Pos
	Stmts  []Stmt
	Result Expr // a trailing expression without ';', or nil
}

// ExprStmt is an expression evaluated for its effect (a call, mostly).
type ExprStmt struct {
	X Expr
}

// VarDecl is `let $x;`, `let $x = v;` or `let $x: type = v;`.
type VarDecl struct {
	P     Pos
	Var   *Var
	Type  *TypeRef // nil when not written
	Value Expr     // nil when not written
}

// Assign is `target = value` and the compound forms: Op is "" for `=`, or
// the operator of `+=`, `-=`, `*=`, `/=`, `%=`, `&=`, `|=`, `^=`, `<<=`,
// `>>=` without its `=`. `x++` and `x--` (statement or postfix) are Assign
// with Op "+" or "-" and Value an *IntLit 1; Post says the value of the
// expression is the one before the change. Target is a *Var or *MapExpr.
type Assign struct {
	P      Pos
	Target Expr
	Op     string
	Value  Expr
	Post   bool
}

// If is `if cond { } [else if ... | else { }]`. Else is nil, a *Block, or
// an *If.
type If struct {
	P    Pos
	Cond Expr
	Then *Block
	Else Stmt
}

// While is `while (cond) { }`.
type While struct {
	P    Pos
	Cond Expr
	Body *Block
}

// Unroll is `unroll (n) { }`.
type Unroll struct {
	P     Pos
	Count Expr
	Body  *Block
}

// For is `for ($kv : @map) { }` (Map set) or `for ($i : lo..hi) { }`
// (From and To set).
type For struct {
	P        Pos
	Var      *Var
	Map      *MapExpr
	From, To Expr
	Body     *Block
}

// Jump is `break`, `continue` or `return` (with an optional value).
type Jump struct {
	P     Pos
	Kind  string // "break", "continue", "return"
	Value Expr
}

// Block is also a statement (a nested scope).
func (*Block) stmt()    {}
func (*ExprStmt) stmt() {}
func (*VarDecl) stmt()  {}
func (*Assign) stmt()   {}
func (*If) stmt()       {}
func (*While) stmt()    {}
func (*Unroll) stmt()   {}
func (*For) stmt()      {}
func (*Jump) stmt()     {}

// IntLit is an integer literal: 42, 0x2a, 0b101, 0o17, 1_000, 1e6, 'c'
// (a character), with an optional suffix (u, l, ul, ll, ull).
type IntLit struct {
	P     Pos
	Value uint64
	Text  string
}

// StrLit is a string literal with its escapes decoded.
type StrLit struct {
	P     Pos
	Value string
}

// BoolLit is true or false.
type BoolLit struct {
	P     Pos
	Value bool
}

// Ident is a bare identifier: a builtin (pid, comm, args, arg0, retval,
// nsecs, ...), an enum constant, or a word such as a config value.
type Ident struct {
	P    Pos
	Name string
}

// Var is a scratch variable, `$name`.
type Var struct {
	P    Pos
	Name string // with its "$"
}

// Param is a positional parameter: `$1`…, or `$#` (the count, N = -1).
type Param struct {
	P Pos
	N int
}

// MapExpr is `@name` or `@name[key]` (`@` alone is the anonymous map, Name
// "@"). Key is nil, one expression, or a *Tuple for `@m[a, b]`.
type MapExpr struct {
	P    Pos
	Name string
	Key  Expr
}

// Call is `name(args)`, including the aggregation functions
// (count, hist, ...), the async ones (printf, print, exit, ...) and macros.
type Call struct {
	P    Pos
	Name string
	Args []Expr
}

// Binary is `x op y`: || && | ^ & == != < > <= >= << >> + - * / %.
type Binary struct {
	P    Pos
	Op   string
	X, Y Expr
}

// Unary is `op x`: - ! ~ * (dereference) & (address of).
type Unary struct {
	P  Pos
	Op string
	X  Expr
}

// Ternary is `cond ? then : else`; Then is nil for `cond ?: else`.
type Ternary struct {
	P          Pos
	Cond       Expr
	Then, Else Expr
}

// Field is `x.name` or `x->name` (Arrow), also `args.name`.
type Field struct {
	P     Pos
	X     Expr
	Name  string
	Arrow bool
}

// Index is `x[i]` on an array, a pointer, a string or a tuple.
type Index struct {
	P     Pos
	X     Expr
	Index Expr
}

// Cast is `(type)x`.
type Cast struct {
	P    Pos
	Type *TypeRef
	X    Expr
}

// Tuple is `(a, b, ...)`.
type Tuple struct {
	P     Pos
	Elems []Expr
}

// Record is `(name = a, other = b)`.
type Record struct {
	P      Pos
	Names  []string
	Values []Expr
}

// Sizeof is `sizeof(type)` or `sizeof(expr)` (one of Type and X is set).
type Sizeof struct {
	P    Pos
	Type *TypeRef
	X    Expr
}

// Offsetof is `offsetof(struct name, field.sub)`, or `offsetof(expr,
// field)` with X set instead of Type.
type Offsetof struct {
	P      Pos
	Type   *TypeRef
	X      Expr
	Fields []string
}

// BlockExpr is `{ stmts; expr }` used as a value.
type BlockExpr struct {
	Block *Block
}

// IfExpr is `if cond { a } else { b }` used as a value.
type IfExpr struct {
	P          Pos
	Cond       Expr
	Then, Else Expr
}

// AssignExpr is an assignment used as an expression (`$x++` in a
// condition, `@n++` inside a call).
type AssignExpr struct {
	Assign *Assign
}

func (*IntLit) expr()     {}
func (*StrLit) expr()     {}
func (*BoolLit) expr()    {}
func (*Ident) expr()      {}
func (*Var) expr()        {}
func (*Param) expr()      {}
func (*MapExpr) expr()    {}
func (*Call) expr()       {}
func (*Binary) expr()     {}
func (*Unary) expr()      {}
func (*Ternary) expr()    {}
func (*Field) expr()      {}
func (*Index) expr()      {}
func (*Cast) expr()       {}
func (*Tuple) expr()      {}
func (*Record) expr()     {}
func (*Sizeof) expr()     {}
func (*Offsetof) expr()   {}
func (*BlockExpr) expr()  {}
func (*IfExpr) expr()     {}
func (*AssignExpr) expr() {}

// TypeRef is a type as written: `uint32`, `int8`, `string`, `string[64]`,
// `struct sock *`, `union u`, `enum e`, `bool`, `void *`, `uint8[4]`.
type TypeRef struct {
	P     Pos
	Name  string // "uint32", "string", "struct sock", "bool", "void"
	Ptr   int    // how many '*'
	Array int    // element count of `[N]`, 0 when not an array, -1 for `[]`
	// Typeof is the expression of `typeof(expr)` (in a let's type or a
	// cast), whose type this is; Name is then "".
	Typeof Expr
}

// Positions.
func (n *Block) Position() Pos      { return n.P }
func (n *ExprStmt) Position() Pos   { return n.X.Position() }
func (n *VarDecl) Position() Pos    { return n.P }
func (n *Assign) Position() Pos     { return n.P }
func (n *If) Position() Pos         { return n.P }
func (n *While) Position() Pos      { return n.P }
func (n *Unroll) Position() Pos     { return n.P }
func (n *For) Position() Pos        { return n.P }
func (n *Jump) Position() Pos       { return n.P }
func (n *IntLit) Position() Pos     { return n.P }
func (n *StrLit) Position() Pos     { return n.P }
func (n *BoolLit) Position() Pos    { return n.P }
func (n *Ident) Position() Pos      { return n.P }
func (n *Var) Position() Pos        { return n.P }
func (n *Param) Position() Pos      { return n.P }
func (n *MapExpr) Position() Pos    { return n.P }
func (n *Call) Position() Pos       { return n.P }
func (n *Binary) Position() Pos     { return n.P }
func (n *Unary) Position() Pos      { return n.P }
func (n *Ternary) Position() Pos    { return n.P }
func (n *Field) Position() Pos      { return n.P }
func (n *Index) Position() Pos      { return n.P }
func (n *Cast) Position() Pos       { return n.P }
func (n *Tuple) Position() Pos      { return n.P }
func (n *Record) Position() Pos     { return n.P }
func (n *Sizeof) Position() Pos     { return n.P }
func (n *Offsetof) Position() Pos   { return n.P }
func (n *BlockExpr) Position() Pos  { return n.Block.P }
func (n *IfExpr) Position() Pos     { return n.P }
func (n *AssignExpr) Position() Pos { return n.Assign.P }
func (n *Probe) Position() Pos      { return n.P }
func (n *AttachPoint) Position() Pos {
	return n.P
}
func (n *ConfigItem) Position() Pos { return n.P }
func (n *MapDecl) Position() Pos    { return n.P }
func (n *Macro) Position() Pos      { return n.P }
func (n *Func) Position() Pos       { return n.P }

// Position of a Program is its start, so that Dump takes a whole program.
func (n *Program) Position() Pos { return Pos{Line: 1, Col: 1, EndCol: 1} }
func (n *TypeRef) Position() Pos { return n.P }

// Error is a mistake in a script, at a place in it. Error() is the first
// line bpftrace prints (`stdin:1:9-12: ERROR: ...`); Detail adds the source
// line and the caret underneath.
type Error struct {
	File string
	P    Pos
	Msg  string
	Line string // the source line, for Detail
}

func (e *Error) Error() string {
	return e.header() + "ERROR: " + e.Msg
}

func (e *Error) header() string {
	if e.P.Line == 0 {
		return e.File + ": "
	}
	end := e.P.EndCol
	if end <= e.P.Col {
		end = e.P.Col + 1
	}
	return e.File + ":" + itoa(e.P.Line) + ":" + itoa(e.P.Col) + "-" + itoa(end) + ": "
}

// Detail is the error as bpftrace prints it: the first line, then the
// source line and a `~~~` under the part at fault.
func (e *Error) Detail() string {
	s := e.Error() + "\n"
	if e.Line == "" || e.P.Col == 0 {
		return s
	}
	end := e.P.EndCol
	if end <= e.P.Col {
		end = e.P.Col + 1
	}
	// bpftrace shows a tab as four blanks, in the line and under it.
	var line, pad []byte
	for i := 0; i < len(e.Line) || i+1 < end; i++ {
		c := byte(' ')
		if i < len(e.Line) {
			c = e.Line[i]
		}
		w := 1
		if c == '\t' {
			w = 4
		}
		if i < len(e.Line) {
			line = append(line, bytesRepeat(' ', w)...)
			if c != '\t' {
				line[len(line)-1] = c
			}
		}
		mark := byte(' ')
		if i+1 >= e.P.Col && i+1 < end {
			mark = '~'
		}
		if i+1 < end {
			pad = append(pad, bytesRepeat(mark, w)...)
		}
	}
	return s + string(line) + "\n" + string(pad) + "\n"
}

func bytesRepeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
