package bpfgen

import (
	"fmt"
	"net"
	"os"

	"github.com/cilium/ebpf/asm"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/scriptout"
)

// checker walks one action block for one attach point. The same walk
// types the block and emits its code: the checking passes discard the
// instructions, the last pass keeps them (see CompileScript and
// Script.Program).
type checker struct {
	s         *Script
	sp        *ScriptProbe
	first     bool // first pass: maps may not be typed yet
	nextEvent uint32

	g    gen
	fds  []int // map fds by index (emission only)
	maps Maps
	emit bool

	scopes []map[string]*variable
	// Stack slots (8 bytes each, below fp-8) and scratch bytes: variables
	// first, then temporaries, which are released after each statement.
	varSlots, tmpSlots, maxSlots int
	varBytes, tmpBytes, maxBytes int
	varSlotBase, tmpScratchBase  int // from the previous pass
	loops                        []loopLabels
	pos                          lang.Pos // of the statement being built

	// Loops run by a helper (for over a map, for over a range) have their
	// body in a callback function, emitted after the program: frame is 1
	// while one is built, exit is the label its return and exit() go to,
	// and callbacks holds the finished ones.
	frame     int
	exit      string
	callbacks asm.Instructions
	funcs     []string // the callbacks' names
	// stackScratch: the scratch area is on the stack (see onStack).
	stackScratch bool
	retSlot      int16 // the flag the last callback sets on return
}

type variable struct {
	t     *Type
	slot  int16 // stack offset (ints)
	off   int   // scratch offset (others)
	frame int   // the function whose stack holds slot: 0 the program, 1 a loop's callback
	// pending: declared without a type or a value (let $x;): typed by its
	// first assignment.
	pending bool
}

type loopLabels struct{ cont, brk string }

// maxSlots is how many 8-byte stack slots a program may use (the stack is
// 512 bytes; fp-8 and fp-16..fp-32 hold helper arguments).
const stackSlots = 58

// slotOff is the stack offset of slot i.
func slotOff(i int) int16 { return int16(-40 - 8*i) }

func (c *checker) errorf(p lang.Pos, format string, args ...any) error {
	return c.s.errorf(p, format, args...)
}

func (c *checker) scratchSize() int { return c.maxBytes }

// allocSlot returns a temporary stack slot.
func (c *checker) allocSlot(p lang.Pos) (int16, error) {
	i := c.varSlotBase + c.tmpSlots
	c.tmpSlots++
	if i >= stackSlots {
		return 0, c.errorf(p, "the program needs more than %d bytes of stack", 512)
	}
	c.maxSlots = max(c.maxSlots, i+1)
	return slotOff(i), nil
}

// alloc returns a temporary scratch area of n bytes (8-byte aligned).
func (c *checker) alloc(n int) int {
	off := c.tmpScratchBase + c.tmpBytes
	c.tmpBytes += (n + 7) &^ 7
	c.maxBytes = max(c.maxBytes, off+((n+7)&^7))
	return off
}

// lookupVar finds a variable in the enclosing scopes.
func (c *checker) lookupVar(name string) *variable {
	for i := len(c.scopes) - 1; i >= 0; i-- {
		if v, ok := c.scopes[i][name]; ok {
			return v
		}
	}
	return nil
}

// declare creates a variable of type t in the innermost scope (outermost
// when global), with its own storage.
func (c *checker) declare(name string, t *Type, global bool, p lang.Pos) (*variable, error) {
	scope := len(c.scopes) - 1
	if global {
		scope = 0
	}
	return c.declareIn(scope, name, t, p)
}

// declareIn creates a variable of type t in the scope at that depth.
func (c *checker) declareIn(scope int, name string, t *Type, p lang.Pos) (*variable, error) {
	v := &variable{t: t, frame: c.frame}
	if scope == 0 && c.frame > 0 {
		v.frame = 0
	}
	if t.isInt() {
		if c.varSlots >= stackSlots {
			return nil, c.errorf(p, "too many variables")
		}
		v.slot = slotOff(c.varSlots)
		c.varSlots++
	} else {
		v.off = c.varBytes
		c.varBytes += (t.Size + 7) &^ 7
		c.maxBytes = max(c.maxBytes, c.varBytes)
	}
	c.scopes[scope][name] = v
	return v, nil
}

// settle gives a variable declared without a type (let $x;) the type of
// its first value, and its storage.
func (c *checker) settle(name string, t *Type, p lang.Pos) (*variable, error) {
	for i := len(c.scopes) - 1; i >= 0; i-- {
		if v, ok := c.scopes[i][name]; ok {
			if !v.pending {
				return v, nil
			}
			return c.declareIn(i, name, c.varType(name, storage(t)), p)
		}
	}
	return nil, nil
}

// builtinType returns the type of a builtin identifier, or nil.
func (c *checker) builtinType(name string) *Type {
	name = strings.TrimPrefix(name, "__builtin_")
	switch name {
	case "pid", "tid":
		return intType(4, false)
	case "curtask":
		if t, err := c.s.kernelType("struct task_struct"); err == nil {
			p := pointerTo(t)
			p.Name = "struct task_struct *"
			return p
		}
		return tU64
	case "uid", "gid", "cpu", "rand", "cgroup", "nsecs", "elapsed", "jiffies", "ncpus", "numaid", "cpid":
		return tU64
	case "comm", "pcomm", "leader_comm":
		return strType(16)
	case "kstack", "ustack":
		return c.stackType(name == "ustack", nil)
	case "ppid":
		return intType(4, true)
	case "username":
		return &Type{Kind: TInt, Size: 8, Width: 8, Show: "username"}
	case "probe", "func":
		return strType(max(len(c.constString(name))+1, 8))
	case "retval":
		if c.field("retval") != nil {
			return tU64
		}
	case "usermode":
		return intType(1, false)
	}
	if strings.HasPrefix(name, "arg") {
		if _, err := strconv.Atoi(name[3:]); err == nil && c.field(name) != nil {
			return tU64
		}
	}
	return nil
}

// constString is the value of a builtin known when the program is built.
func (c *checker) constString(name string) string {
	if name == "probe" {
		return c.sp.Name
	}
	return c.sp.Func
}

// field returns the probe context's field name, or nil.
func (c *checker) field(name string) *event.Field {
	if c.sp.Probe == nil {
		return nil
	}
	i := c.sp.Probe.Event.Index(name)
	if i < 0 {
		return nil
	}
	return &c.sp.Probe.Event.Fields[i]
}

func (c *checker) read(name string) resolve.Read {
	return c.sp.Probe.Reads[c.sp.Probe.Event.Index(name)]
}

// fieldType is the script type of a context field.
func (c *checker) fieldType(f *event.Field) *Type {
	switch f.Kind {
	case event.Int:
		// A pointer to a struct the kernel's BTF describes is typed.
		if ct := strings.TrimSpace(strings.TrimPrefix(f.CType, "const ")); f.Size == 8 && strings.HasSuffix(ct, "*") && !strings.HasSuffix(ct, "**") &&
			(strings.HasPrefix(ct, "struct ") || strings.HasPrefix(ct, "union ")) {
			if st, err := c.s.kernelType(strings.TrimSpace(strings.TrimSuffix(ct, "*"))); err == nil {
				p := pointerTo(st)
				p.Name = ct
				p.User = strings.Contains(f.CType, "__user") || c.userSpace()
				return p
			}
		}
		t := intType(f.Size, f.Signed)
		if ct := strings.TrimSpace(f.CType); strings.HasPrefix(ct, "enum ") {
			t.Enum = kernelEnumType(ct)
		}
		return t
	case event.String:
		// Read from memory with two bytes more than max_strlen (see
		// plan): longer strings show their cut.
		t := strType(f.Size)
		if f.Size == c.s.StrSize+2 {
			t.Trunc = c.s.StrSize
		}
		return t
	case event.Text:
		return strType(f.Size)
	}
	return nil
}

// typeOf returns the type of e without emitting code.
func (c *checker) typeOf(e lang.Expr) (*Type, error) {
	e = c.canon(e)
	switch e := e.(type) {
	case *lang.IntLit:
		if e.Value > 1<<63-1 {
			return tU64, nil
		}
		return tS64, nil
	case *lang.BoolLit:
		return tBool, nil
	case *lang.StrLit:
		return strType(len(e.Value) + 1), nil
	case *lang.Param:
		if v, ok := c.param(e); ok && !v.isStr {
			return tS64, nil
		} else if ok {
			return strType(len(v.s) + 1), nil
		}
		return tS64, nil
	case *lang.Ident:
		if t := c.builtinType(e.Name); t != nil {
			return t, nil
		}
		if e.Name == "args" {
			return nil, c.errorf(e.P, "args cannot be used on its own here; use args.FIELD")
		}
		if _, ok := c.enumValue(e.Name); ok {
			t := intType(8, true)
			t.Enum = c.enumOf(e.Name)
			return t, nil
		}
		return nil, c.errorf(e.P, "Unknown identifier: '%s'", e.Name)
	case *lang.Var:
		v := c.lookupVar(e.Name)
		if v == nil {
			return nil, c.errorf(e.P, "Undefined or undeclared variable: %s", e.Name)
		}
		return v.t, nil
	case *lang.MapExpr:
		m, err := c.mapOf(e)
		if err != nil {
			return nil, err
		}
		switch m.Kind {
		case scriptout.Plain:
			return m.Value, nil
		case scriptout.Hist, scriptout.LHist, scriptout.Stats:
			return nil, c.errorf(e.P, "%s cannot be used as a value in an expression", e.Name)
		case scriptout.Min, scriptout.Max, scriptout.Avg:
			return tS64, nil
		}
		return tU64, nil
	case *lang.Binary:
		return c.binaryType(e)
	case *lang.Unary:
		t, err := c.typeOf(e.X)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case "!":
			return tBool, nil
		case "-", "~":
			if !t.isInt() {
				return nil, c.errorf(e.P, "The %s operator cannot be used on a %s", e.Op, t)
			}
			if e.Op == "-" {
				return tS64, nil
			}
			return tU64, nil
		}
		if e.Op == "&" {
			if _, ok := e.X.(*lang.Var); !ok {
				return nil, c.errorf(e.P, "The & operator takes the address of a variable")
			}
			el := t
			if t.isInt() {
				el = intType(8, t.Signed)
			}
			p := pointerTo(el)
			p.Name = el.String() + " *"
			return p, nil
		}
		if e.Op == "*" && t.Ptr == 0 && t.Kind == TInt {
			return tU64, nil // an address held in an integer: the u64 there
		}
		if e.Op == "*" && t.Ptr > 0 {
			el := c.s.pointee(t)
			if el == nil || el.Kind == TNone {
				return nil, c.errorf(e.P, "Can not dereference a pointer to void")
			}
			return userLike(el, t), nil
		}
		return nil, c.errorf(e.P, "the %s operator is not supported on %s", e.Op, t)
	case *lang.Ternary:
		return c.ternaryType(e)
	case *lang.Field:
		return c.fieldExprType(e)
	case *lang.Index:
		t, err := c.typeOf(e.X)
		if err != nil {
			return nil, err
		}
		if t.Kind == TStr {
			return intType(1, true), nil
		}
		if t.Kind == TTuple {
			n, ok := c.constInt(e.Index)
			if !ok || n < 0 || int(n) >= len(t.Elems) {
				return nil, c.errorf(e.P, "tuple index out of range")
			}
			return t.Elems[n], nil
		}
		if t.Kind == TArray {
			if n, ok := c.constInt(e.Index); ok && (n < 0 || int(n) >= t.N) {
				return nil, c.errorf(e.P, "the index %d is out of bounds for array of size %d", n, t.N)
			}
			return t.Elem, nil
		}
		if t.Ptr > 0 {
			if el := c.s.pointee(t); el != nil && el.Kind != TNone {
				return userLike(el, t), nil
			}
		}
		if t.Kind == TArray {
			return userLike(t.Elem, t), nil
		}
		return nil, c.errorf(e.P, "The array index operator [] can only be used on arrays, tuples and strings, not %s", t)
	case *lang.Cast:
		return c.castType(e)
	case *lang.Record:
		elems := make([]*Type, len(e.Values))
		for i, x := range e.Values {
			t, err := c.typeOf(x)
			if err != nil {
				return nil, err
			}
			elems[i] = t
		}
		t := tupleType(elems)
		t.Names = e.Names
		return t, nil
	case *lang.Tuple:
		elems := make([]*Type, len(e.Elems))
		for i, x := range e.Elems {
			t, err := c.typeOf(x)
			if err != nil {
				return nil, err
			}
			elems[i] = t
		}
		return tupleType(elems), nil
	case *lang.Call:
		return c.callType(e)
	case *lang.Sizeof, *lang.Offsetof:
		return tU64, nil
	case *lang.AssignExpr:
		return c.typeOf(e.Assign.Target)
	case *lang.BlockExpr:
		if e.Block.Result == nil {
			return tNone, nil
		}
		// The variables the block declares, typed without building
		// anything, so that its result can be typed.
		c.scopes = append(c.scopes, map[string]*variable{})
		defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
		for _, st := range e.Block.Stmts {
			var name string
			var value lang.Expr
			switch st := st.(type) {
			case *lang.VarDecl:
				name, value = st.Var.Name, st.Value
			case *lang.Assign:
				if v, ok := st.Target.(*lang.Var); ok && st.Op == "" && c.lookupVar(v.Name) == nil {
					name, value = v.Name, st.Value
				}
			}
			if name == "" {
				continue
			}
			t := tS64
			if value != nil {
				vt, err := c.typeOf(value)
				if err != nil {
					return nil, err
				}
				t = storage(vt)
			}
			c.scopes[len(c.scopes)-1][name] = &variable{t: t}
		}
		return c.typeOf(e.Block.Result)
	}
	return nil, c.errorf(e.Position(), "this expression is not supported yet")
}

func (c *checker) binaryType(e *lang.Binary) (*Type, error) {
	x, err := c.typeOf(e.X)
	if err != nil {
		return nil, err
	}
	y, err := c.typeOf(e.Y)
	if err != nil {
		return nil, err
	}
	switch e.Op {
	case "&&", "||":
		if !x.isInt() || !y.isInt() {
			return nil, c.errorf(e.P, "Invalid operands to %s: %s and %s", e.Op, x, y)
		}
		return tBool, nil
	case "==", "!=", "<", ">", "<=", ">=":
		if x.Kind == TStr && y.Kind == TStr {
			if e.Op != "==" && e.Op != "!=" {
				return nil, c.errorf(e.P, "Comparison operator %s is not supported for strings", e.Op)
			}
			return tBool, nil
		}
		if (x.Kind == TTuple || x.Kind == TBuf || x.Kind == TStruct || x.Kind == TArray) && same(x, y) && (e.Op == "==" || e.Op == "!=") {
			return tBool, nil
		}
		if !x.isInt() || !y.isInt() {
			return nil, c.errorf(e.P, "Type mismatch for '%s': comparing %s with %s", e.Op, x, y)
		}
		return tBool, nil
	}
	if !x.isInt() || !y.isInt() {
		return nil, c.errorf(e.P, "Type mismatch for '%s': comparing %s with %s", e.Op, x, y)
	}
	if x.Ptr > 0 && y.Ptr == 0 && (e.Op == "+" || e.Op == "-") {
		return x, nil
	}
	if y.Ptr > 0 && x.Ptr == 0 && e.Op == "+" {
		return y, nil
	}
	return intType(8, x.Signed && y.Signed || x.Signed && isLit(e.Y) || y.Signed && isLit(e.X)), nil
}

func isLit(e lang.Expr) bool {
	_, ok := e.(*lang.IntLit)
	return ok
}

func (c *checker) ternaryType(e *lang.Ternary) (*Type, error) {
	cond, err := c.typeOf(e.Cond)
	if err != nil {
		return nil, err
	}
	a := cond
	if e.Then != nil {
		if a, err = c.typeOf(e.Then); err != nil {
			return nil, err
		}
	}
	b, err := c.typeOf(e.Else)
	if err != nil {
		return nil, err
	}
	if !same(a, b) {
		return nil, c.errorf(e.P, "Ternary operator must return the same type: have '%s' and '%s'", a, b)
	}
	if a.Kind == TBool && b.Kind == TBool {
		return tBool, nil
	}
	if a.isInt() {
		return intType(8, a.Signed && b.Signed), nil
	}
	return widen(a, b), nil
}

func (c *checker) fieldExprType(e *lang.Field) (*Type, error) {
	if id, ok := e.X.(*lang.Ident); ok && id.Name == "args" {
		f := c.field(e.Name)
		if f == nil || strings.HasPrefix(e.Name, "arg") && c.sp.Probe.Target.Kind != resolve.TargetTracepoint {
			return nil, c.errorf(e.P, "Can't find a field %s in %s", e.Name, c.sp.Name)
		}
		t := c.fieldType(f)
		if t == nil {
			return nil, c.errorf(e.P, "field %s of %s has a type that is not supported yet", e.Name, c.sp.Name)
		}
		return t, nil
	}
	t, err := c.typeOf(e.X)
	if err != nil {
		return nil, err
	}
	if st := c.structOf(t); st != nil {
		f, ok := member(st, e.Name)
		if !ok {
			return nil, c.noMember(e.P, st, e.Name)
		}
		return userLike(f.T, t), nil
	}
	if t.Kind == TTuple && t.Names != nil {
		for i, n := range t.Names {
			if n == e.Name {
				return t.Elems[i], nil
			}
		}
		return nil, c.errorf(e.P, "Record does not contain a field named '%s'", e.Name)
	}
	if t.Kind == TTuple {
		n, err := strconv.Atoi(e.Name)
		if err != nil || n >= len(t.Elems) {
			return nil, c.errorf(e.P, "Invalid tuple index: %s. Found %d elements in tuple.", e.Name, len(t.Elems))
		}
		return t.Elems[n], nil
	}
	return nil, c.errorf(e.P, "Can not access field '%s' on expression of type '%s'", e.Name, t)
}

var intTypes = map[string]*Type{
	"int8": intType(1, true), "int16": intType(2, true), "int32": intType(4, true), "int64": intType(8, true),
	"uint8": intType(1, false), "uint16": intType(2, false), "uint32": intType(4, false), "uint64": intType(8, false),
	"char": intType(1, true), "short": intType(2, true), "int": intType(4, true), "long": intType(8, true),
	"unsigned char": intType(1, false), "unsigned short": intType(2, false), "unsigned int": intType(4, false),
	"unsigned long": intType(8, false), "u8": intType(1, false), "u16": intType(2, false), "u32": intType(4, false),
	"u64": intType(8, false), "s8": intType(1, true), "s16": intType(2, true), "s32": intType(4, true), "s64": intType(8, true),
	"bool":   tBool,
	"int8_t": intType(1, true), "int16_t": intType(2, true), "int32_t": intType(4, true), "int64_t": intType(8, true),
	"uint8_t": intType(1, false), "uint16_t": intType(2, false), "uint32_t": intType(4, false), "uint64_t": intType(8, false),
	"__u8": intType(1, false), "__u16": intType(2, false), "__u32": intType(4, false), "__u64": intType(8, false),
	"__s8": intType(1, true), "__s16": intType(2, true), "__s32": intType(4, true), "__s64": intType(8, true),
	"pid_t": intType(4, true), "size_t": intType(8, false), "ssize_t": intType(8, true),
}

func (c *checker) castType(e *lang.Cast) (*Type, error) {
	x, err := c.typeOf(e.X)
	if err != nil {
		return nil, err
	}
	if e.Type.Ptr > 0 {
		if !x.isInt() {
			return nil, c.errorf(e.P, "Cannot cast from %s to a pointer", x)
		}
		var target *Type
		switch {
		case strings.HasPrefix(e.Type.Name, "struct ") || strings.HasPrefix(e.Type.Name, "union "):
			st, err := c.s.namedType(e.Type.Name)
			if err != nil {
				return nil, c.unknownType(e.Type.P, e.Type.Name)
			}
			target = st
		default:
			if it, ok := intTypes[e.Type.Name]; ok {
				target = it
			}
		}
		t := pointerTo(target)
		for range e.Type.Ptr - 1 {
			t = pointerTo(t)
		}
		t.Name = e.Type.Name + " " + strings.Repeat("*", e.Type.Ptr)
		t.User = c.userSpace()
		return t, nil
	}
	if strings.HasPrefix(e.Type.Name, "enum ") && e.Type.Ptr == 0 {
		t := intType(8, true)
		if ct, err := c.s.cTypes(); err == nil && ct.enumsBy[e.Type.Name] != nil {
			t.Enum = ct.enumsBy[e.Type.Name]
		} else if t.Enum = kernelEnumType(e.Type.Name); t.Enum == nil {
			return nil, c.unknownType(e.Type.P, e.Type.Name)
		}
		return t, nil
	}
	t, ok := intTypes[e.Type.Name]
	if !ok || e.Type.Array > 0 {
		return nil, c.unknownType(e.Type.P, e.Type.Name)
	}
	if t.Kind == TBool && x.Kind == TStr {
		return tBool, nil // a string is true when not empty
	}
	if !x.isInt() {
		return nil, c.errorf(e.P, "Cannot cast from \"%s\" to \"%s\"", x, t)
	}
	return t, nil
}

// callType is the type of a call used as a value.
func (c *checker) callType(e *lang.Call) (*Type, error) {
	switch e.Name {
	case "str":
		if len(e.Args) < 1 || len(e.Args) > 2 {
			return nil, c.errorf(e.P, "str() requires 1 or 2 arguments (%d provided)", len(e.Args))
		}
		n := c.s.StrSize
		if len(e.Args) == 2 {
			lit, ok := e.Args[1].(*lang.IntLit)
			if ok && int(lit.Value) < n && lit.Value > 0 {
				n = int(lit.Value)
			}
		}
		t, err := c.typeOf(e.Args[0])
		if err != nil {
			return nil, err
		}
		if t.Kind == TStr {
			if len(e.Args) == 1 {
				return t, nil
			}
			return strType(min(t.Size, n)), nil
		}
		if len(e.Args) == 1 {
			st := strType(n + 2)
			st.Trunc = n
			return st, nil
		}
		return strType(n), nil
	case "has_key":
		return tBool, nil
	case "strftime":
		return &Type{Kind: TTime, Size: 16}, nil
	case "bswap":
		if len(e.Args) != 1 {
			return nil, c.errorf(e.P, "bswap() requires one argument")
		}
		t, err := c.typeOf(e.Args[0])
		if err != nil {
			return nil, err
		}
		return intType(t.Width, false), nil
	case "cgroupid", "kaddr":
		return tU64, nil
	case "nsecs":
		return tU64, nil
	case "pid", "tid":
		return intType(4, false), nil
	case "count", "sum", "avg", "min", "max", "stats", "hist", "lhist", "tseries":
		return nil, c.errorf(e.P, "%s() must be assigned directly to a map", e.Name)
	case "delete", "strcontains":
		return tBool, nil
	case "strlen", "len", "strncmp":
		return tU64, nil
	case "kstack", "ustack":
		if len(e.Args) > 2 {
			return nil, c.errorf(e.P, "%s() takes a mode and a frame count (%d arguments provided)", e.Name, len(e.Args))
		}
		return c.stackType(e.Name == "ustack", e.Args), nil
	case "ksym", "usym":
		if len(e.Args) != 1 {
			return nil, c.errorf(e.P, "%s() requires one argument (%d provided)", e.Name, len(e.Args))
		}
		return &Type{Kind: TSym, Size: 16, User: e.Name == "usym"}, nil
	case "pton":
		lit, ok := e.Args[0].(*lang.StrLit)
		if len(e.Args) != 1 || !ok {
			return nil, c.errorf(e.P, "pton() expects an address as a string literal")
		}
		ip := net.ParseIP(lit.Value)
		if ip == nil {
			return nil, c.errorf(e.P, "pton(): %q is not an IPv4 or IPv6 address", lit.Value)
		}
		n := 16
		if ip.To4() != nil {
			n = 4
		}
		return arrayOf(intType(1, false), n), nil
	case "macaddr":
		if len(e.Args) != 1 {
			return nil, c.errorf(e.P, "macaddr() requires one argument (%d provided)", len(e.Args))
		}
		return &Type{Kind: TInet, Size: 24, Show: "mac"}, nil
	case "cgroup_path":
		if len(e.Args) < 1 || len(e.Args) > 2 {
			return nil, c.errorf(e.P, "cgroup_path() requires 1 or 2 arguments (%d provided)", len(e.Args))
		}
		return &Type{Kind: TInt, Size: 8, Width: 8, Show: "cgroup"}, nil
	case "ntop":
		if len(e.Args) < 1 || len(e.Args) > 2 {
			return nil, c.errorf(e.P, "ntop() requires 1 or 2 arguments (%d provided)", len(e.Args))
		}
		return &Type{Kind: TInet, Size: 24}, nil
	case "syscall_name", "strerror", "signal_name":
		if len(e.Args) != 1 {
			return nil, c.errorf(e.P, "%s() requires one argument (%d provided)", e.Name, len(e.Args))
		}
		return &Type{Kind: TInt, Size: 8, Width: 8, Show: map[string]string{"syscall_name": "syscall", "strerror": "strerror", "signal_name": "signal"}[e.Name]}, nil
	case "buf":
		return c.bufType(e)
	case "getopt":
		v, err := c.getopt(e)
		if err != nil {
			return nil, err
		}
		if v.isStr {
			return strType(len(v.s) + 1), nil
		}
		if v.isBool {
			return tBool, nil
		}
		if v.isUint {
			return tU64, nil
		}
		return tS64, nil
	case "printf", "print", "exit", "clear", "zero", "time", "system", "cat", "join", "errorf", "warnf", "debugf":
		return tNone, nil
	}
	if t := c.builtinType(e.Name); t != nil && len(e.Args) == 0 {
		return t, nil
	}
	return nil, c.errorf(e.P, "Unknown function: '%s'", e.Name)
}

// paramValue is a positional or named parameter.
type paramValue struct {
	isStr, isBool, isUint bool
	n                     int64
	s                     string
}

// getopt is the value of getopt("name"[, default[, description]]): the
// named parameter --name=VALUE (or --name for a bool) among the
// positional parameters, else the default.
func (c *checker) getopt(e *lang.Call) (paramValue, error) {
	if len(e.Args) < 1 || len(e.Args) > 3 {
		return paramValue{}, c.errorf(e.P, "getopt() takes 1 to 3 arguments")
	}
	name, ok := e.Args[0].(*lang.StrLit)
	if !ok {
		return paramValue{}, c.errorf(e.Args[0].Position(), "getopt()'s name must be a string literal")
	}
	def := paramValue{isBool: true}
	if len(e.Args) > 1 {
		switch d := e.Args[1].(type) {
		case *lang.StrLit:
			def = paramValue{isStr: true, s: d.Value}
		case *lang.BoolLit:
			def = paramValue{isBool: true}
			if d.Value {
				def.n = 1
			}
		default:
			v, ok := c.constInt(d)
			if !ok {
				return paramValue{}, c.errorf(d.Position(), "getopt()'s default must be a literal")
			}
			def = paramValue{n: v}
		}
	}
	if c.s.Getopts == nil {
		c.s.Getopts = map[string]bool{}
	}
	c.s.Getopts[name.Value] = true
	for _, p := range c.s.Named {
		k, v, hasValue := strings.Cut(p, "=")
		if k != name.Value {
			continue
		}
		switch {
		case def.isStr:
			return paramValue{isStr: true, s: v}, nil
		case def.isBool:
			b := !hasValue || v == "true" || v == "1"
			if b {
				return paramValue{isBool: true, n: 1}, nil
			}
			return paramValue{isBool: true}, nil
		}
		n, err := strconv.ParseInt(v, 0, 64)
		if u, uerr := strconv.ParseUint(v, 0, 64); err != nil && uerr == nil {
			return paramValue{n: int64(u), isUint: true}, nil
		}
		if err != nil {
			return paramValue{}, fmt.Errorf("program command line option --%s invalid integer (value: %s)", k, v)
		}
		return paramValue{n: n}, nil
	}
	return def, nil
}

func (c *checker) param(e *lang.Param) (paramValue, bool) {
	if e.N < 0 {
		return paramValue{n: int64(len(c.s.Params))}, true
	}
	if e.N == 0 || e.N > len(c.s.Params) {
		return paramValue{}, false
	}
	v := c.s.Params[e.N-1]
	if n, err := strconv.ParseInt(v, 0, 64); err == nil {
		return paramValue{n: n}, true
	}
	if n, err := strconv.ParseUint(v, 0, 64); err == nil {
		return paramValue{n: int64(n)}, true
	}
	return paramValue{isStr: true, s: v}, true
}

// wholeMap returns the map a call such as clear(@m) names, whatever its
// keys.
func (c *checker) wholeMap(e *lang.MapExpr) (*ScriptMap, error) {
	m, ok := c.s.Map(e.Name)
	if !ok || m.Kind == 255 {
		err := c.errorf(e.P, "Undefined map: %s", e.Name)
		if c.first {
			return nil, unknownMapError{err}
		}
		return nil, err
	}
	return m, nil
}

// mapOf returns the map an expression names, which must have been typed.
func (c *checker) mapOf(e *lang.MapExpr) (*ScriptMap, error) {
	m, ok := c.s.Map(e.Name)
	if !ok || m.Kind == 255 {
		if c.first {
			return nil, unknownMapError{c.errorf(e.P, "Undefined map: %s", e.Name)}
		}
		return nil, c.errorf(e.P, "Undefined map: %s", e.Name)
	}
	if err := c.checkKey(m, e); err != nil {
		return nil, err
	}
	return m, nil
}

// keyType is the type of the key expression of e (nil without keys).
func (c *checker) keyType(e *lang.MapExpr) (*Type, error) {
	if e.Key == nil {
		return nil, nil
	}
	t, err := c.typeOf(e.Key)
	if err != nil {
		return nil, err
	}
	return storage(t), nil
}

// storage is how a value is kept in a map or a variable: integers as
// 64-bit values.
func storage(t *Type) *Type {
	switch t.Kind {
	case TInt:
		if t.Width == 8 {
			return t
		}
		st := intType(8, t.Signed)
		st.Enum, st.Show = t.Enum, t.Show
		return st
	case TTuple:
		elems := make([]*Type, len(t.Elems))
		for i, e := range t.Elems {
			elems[i] = storage(e)
		}
		st := tupleType(elems)
		st.Names = t.Names
		return st
	}
	return t
}

// checkKey checks (and widens) the key type of m for e.
func (c *checker) checkKey(m *ScriptMap, e *lang.MapExpr) error {
	kt, err := c.keyType(e)
	if err != nil {
		return err
	}
	switch {
	case m.Key == nil && kt == nil:
		return nil
	case m.Key == nil && m.Kind == 255:
		return nil
	case m.Key == nil:
		return c.errorf(e.P, "%s used as a map with keys and as a map without", e.Name)
	case kt == nil:
		return c.errorf(e.P, "%s used as a map without keys and as a map with keys", e.Name)
	case !same(m.Key, kt):
		return c.errorf(e.P, "Argument mismatch for %s: trying to access with arguments: '%s' when map expects arguments: '%s'", e.Name, keyDesc(kt), keyDesc(m.Key))
	}
	m.Key = widen(m.Key, kt)
	return nil
}

func keyDesc(t *Type) string {
	if t.Kind == TTuple {
		return t.String()
	}
	return "(" + t.String() + ")"
}

// defineMap types m on its first assignment: its key and the kind of its
// value.
func (c *checker) defineMap(e *lang.MapExpr, kind scriptout.MapKind, value *Type) (*ScriptMap, error) {
	m := c.s.mapFor(e.Name, e.P)
	kt, err := c.keyType(e)
	if err != nil {
		return nil, err
	}
	if m.Kind == 255 {
		m.Kind, m.Key = kind, kt
		if kind == scriptout.Plain {
			m.Value = storage(value)
		}
		return m, nil
	}
	if m.Kind != kind || kind == scriptout.Plain && !same(m.Value, value) {
		return nil, c.errorf(e.P, "Type mismatch for %s: trying to assign value of type '%s' when map already contains a value of type '%s'", e.Name, kindName(kind, value), kindName(m.Kind, m.Value))
	}
	if kind == scriptout.Plain {
		m.Value = widen(m.Value, storage(value))
	}
	if err := c.checkKey(m, e); err != nil {
		return nil, err
	}
	return m, nil
}

func kindName(k scriptout.MapKind, t *Type) string {
	switch k {
	case scriptout.Count:
		return "count_t"
	case scriptout.Sum:
		return "sum_t"
	case scriptout.Min:
		return "min_t"
	case scriptout.Max:
		return "max_t"
	case scriptout.Avg:
		return "avg_t"
	case scriptout.Stats:
		return "stats_t"
	case scriptout.Hist:
		return "hist_t"
	case scriptout.LHist:
		return "lhist_t"
	case scriptout.TSeries:
		return "tseries_t"
	}
	if t == nil {
		return "none"
	}
	return t.String()
}

// aggKinds maps the aggregation functions to map kinds.
var aggKinds = map[string]scriptout.MapKind{
	"count": scriptout.Count, "sum": scriptout.Sum, "min": scriptout.Min, "max": scriptout.Max,
	"avg": scriptout.Avg, "stats": scriptout.Stats, "hist": scriptout.Hist, "lhist": scriptout.LHist,
	"tseries": scriptout.TSeries,
}

// bufType is the type of buf(ptr[, length]): the length, then the bytes.
func (c *checker) bufType(e *lang.Call) (*Type, error) {
	if len(e.Args) < 1 || len(e.Args) > 2 {
		return nil, c.errorf(e.P, "buf() requires 1 or 2 arguments (%d provided)", len(e.Args))
	}
	n := int64(c.s.StrSize)
	if len(e.Args) == 2 {
		v, ok := c.constInt(e.Args[1])
		if ok {
			n = min(v, n)
		}
	}
	if n <= 0 {
		return nil, c.errorf(e.P, "buf() length must be positive")
	}
	return &Type{Kind: TBuf, Size: 8 + int(n)}, nil
}

// canon rewrites the spellings that mean the same as a simpler form: a
// builtin called as a function (comm()), __builtin_ names, an if used as
// a value (a ternary).
func (c *checker) canon(e lang.Expr) lang.Expr {
	switch x := e.(type) {
	case *lang.Call:
		if len(x.Args) == 0 && c.builtinType(x.Name) != nil {
			return &lang.Ident{P: x.P, Name: strings.TrimPrefix(x.Name, "__builtin_")}
		}
	case *lang.Ident:
		if n := strings.TrimPrefix(x.Name, "__builtin_"); n != x.Name {
			return c.canon(&lang.Ident{P: x.P, Name: n})
		}
		// The parent's and the leader's values, from the current task.
		if path, ok := taskPaths[x.Name]; ok && c.s.hasKernelBTF() {
			var e lang.Expr = &lang.Ident{P: x.P, Name: "curtask"}
			for _, m := range path {
				e = &lang.Field{P: x.P, X: e, Name: m, Arrow: true}
			}
			return e
		}
	case *lang.IfExpr:
		return &lang.Ternary{P: x.P, Cond: x.Cond, Then: x.Then, Else: x.Else}
	}
	return e
}

// structOf is the struct a field access reaches in a value of type t: t
// itself, or what t points to.
func (c *checker) structOf(t *Type) *Type {
	if t.Kind == TStruct {
		return t
	}
	if t.Ptr > 0 {
		if el := c.s.pointee(t); el != nil && el.Kind == TStruct {
			return el
		}
	}
	return nil
}

// enumOf is the enum an enumerator belongs to.
func (c *checker) enumOf(name string) *EnumInfo {
	if ct, err := c.s.cTypes(); err == nil {
		if info, ok := ct.enumOf[name]; ok {
			return info
		}
	}
	if e, ok := kernelEnumOf[name]; ok {
		return enumInfo(e)
	}
	return nil
}

// enumValue is an enumerator the script defines, or the kernel's BTF.
func (c *checker) enumValue(name string) (int64, bool) {
	ct, err := c.s.cTypes()
	if err != nil {
		return 0, false
	}
	if v, ok := ct.enums[name]; ok {
		return v, true
	}
	return kernelEnum(name)
}

// taskPaths are builtins read from the current task.
var taskPaths = map[string][]string{
	"ppid":        {"real_parent", "tgid"},
	"pcomm":       {"real_parent", "comm"},
	"leader_comm": {"group_leader", "comm"},
}

// stackType is the type of kstack or ustack: bpftrace's stack mode
// (config stack_mode, or an argument) and frame limit (127, or an
// argument).
func (c *checker) stackType(user bool, args []lang.Expr) *Type {
	mode, limit := "bpftrace", 127
	if v := os.Getenv("BPFTRACE_STACK_MODE"); v != "" {
		mode = v
	} else {
		for _, ci := range c.s.Prog.Config {
			k := strings.ToLower(strings.TrimPrefix(ci.Key, "BPFTRACE_"))
			if id, ok := ci.Value.(*lang.Ident); ok && k == "stack_mode" {
				mode = id.Name
			}
		}
	}
	for _, a := range args {
		if id, ok := a.(*lang.Ident); ok {
			mode = id.Name
		} else if n, ok := c.constInt(a); ok && n > 0 && n < 1024 {
			limit = int(n)
		}
	}
	return &Type{Kind: TStack, Size: 16 + 8*limit, User: user, Mode: mode}
}

// userLike makes a pointer read from user memory (through from) a user
// pointer too.
func userLike(t, from *Type) *Type {
	if t.Ptr == 0 || t.User || !from.User {
		return t
	}
	u := *t
	u.User = true
	return &u
}
