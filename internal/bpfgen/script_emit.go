package bpfgen

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/scriptout"
)

// Map update flags.
const (
	bpfAny     = 0
	bpfNoExist = 1
)

// probe walks one action block for the checker's attach point.
func (c *checker) probe(p *lang.Probe) error {
	c.scopes = []map[string]*variable{{}}
	c.g.taskComm = c.s.Target.TaskComm
	c.g.emit(asm.Mov.Reg(rCtx, asm.R1))
	if c.emit {
		m := c.maps
		target := Options{PID: c.s.Target.PID, Follow: c.s.Target.Follow}
		if c.sp.Special != NotSpecial {
			m.Control = nil // begin and end run while the session is stopped
			target = Options{}
		}
		if err := c.g.prologue(m, target); err != nil {
			return err
		}
		if c.stackScratch {
			c.g.emit(asm.Mov.Reg(rRec, asm.RFP), asm.Add.Imm(rRec, stackScratch))
		} else if err := c.g.scratch(m); err != nil {
			return err
		}
	}
	if p.Pred != nil {
		if err := c.condition(p.Pred); err != nil {
			return err
		}
		c.g.emit(asm.JEq.Imm(asm.R0, 0, labelExit))
	}
	c.exit = labelExit
	mark := c.sp.Interval && c.s.markIntervals
	if mark {
		c.exit = c.g.label("mark") // a return still marks the interval
	}
	if err := c.block(p.Body, false); err != nil {
		return err
	}
	if mark {
		c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(c.exit))
		ev := c.newEvent(&ScriptEvent{Kind: EvInterval, Args: tupleType(nil), P: p.P})
		c.send(ev, c.alloc(ev.Size()))
	}
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit), asm.Return())
	c.g.emit(c.callbacks...)
	return nil
}

// loadSlot and storeSlot read and write an integer variable: on this
// function's stack, or, from a loop's callback, on the program's stack
// through R9.
func (c *checker) loadSlot(dst asm.Register, v *variable) asm.Instruction {
	return asm.LoadMem(dst, c.frameOf(v), v.slot, asm.DWord)
}

func (c *checker) storeSlot(v *variable, src asm.Register) asm.Instruction {
	return asm.StoreMem(c.frameOf(v), v.slot, src, asm.DWord)
}

func (c *checker) frameOf(v *variable) asm.Register {
	if v.frame == c.frame {
		return asm.RFP
	}
	return rFrame
}

// rFrame is the program's frame pointer in a loop's callback.
const rFrame = asm.R9

// condition evaluates a truth value into R0.
func (c *checker) condition(e lang.Expr) error {
	t, err := c.typeOf(e)
	if err != nil {
		return err
	}
	if t.Kind == TStr {
		// A string is true when it is not empty.
		off, _, err := c.valueAt(e)
		if err != nil {
			return err
		}
		c.g.emit(asm.LoadMem(asm.R0, rRec, int16(off), asm.Byte))
		return nil
	}
	if !t.isInt() {
		return c.errorf(e.Position(), "Invalid type for a condition: %s", t)
	}
	return c.intExpr(e)
}

func (c *checker) block(b *lang.Block, scope bool) error {
	if scope {
		c.scopes = append(c.scopes, map[string]*variable{})
		defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	}
	for i, st := range b.Stmts {
		if err := c.stmt(st); err != nil {
			return err
		}
		if i+1 < len(b.Stmts) && ends(st) {
			c.warn(b.Stmts[i+1].Position(), "Unreachable statement")
			break
		}
	}
	if b.Result != nil {
		return c.stmt(&lang.ExprStmt{X: b.Result})
	}
	return nil
}

// ends reports a statement after which nothing in its block runs.
func ends(st lang.Stmt) bool {
	switch st := st.(type) {
	case *lang.Jump:
		return true
	case *lang.ExprStmt:
		call, ok := st.X.(*lang.Call)
		return ok && call.Name == "exit"
	}
	return false
}

// warn records a warning about the script (once per place).
func (c *checker) warn(p lang.Pos, msg string) {
	w := c.s.errorf(p, "%s", msg).(*lang.Error)
	text := strings.Replace(w.Error(), "ERROR: ", "WARNING: ", 1)
	if !slices.Contains(c.s.Warnings, text) {
		c.s.Warnings = append(c.s.Warnings, text)
	}
}

// stmt emits one statement; its temporaries are released after it.
func (c *checker) stmt(st lang.Stmt) error {
	c.pos = st.Position()
	slots, bytes := c.tmpSlots, c.tmpBytes
	defer func() { c.tmpSlots, c.tmpBytes = slots, bytes }()
	switch st := st.(type) {
	case *lang.Block:
		return c.block(st, true)
	case *lang.ExprStmt:
		return c.exprStmt(st.X)
	case *lang.VarDecl:
		return c.varDecl(st)
	case *lang.Assign:
		return c.assign(st)
	case *lang.If:
		return c.ifStmt(st)
	case *lang.While:
		return c.loop(st.P, st.Cond, st.Body, nil)
	case *lang.Unroll:
		n, ok := c.constInt(st.Count)
		switch {
		case !ok:
			return c.errorf(st.Count.Position(), "unroll's count must be an integer literal")
		case n > 100:
			return c.errorf(st.P, "unroll maximum value is 100")
		case n < 1:
			return c.errorf(st.P, "unroll minimum value is 1")
		}
		for range n {
			if err := c.block(st.Body, true); err != nil {
				return err
			}
		}
		return nil
	case *lang.For:
		return c.forStmt(st)
	case *lang.Jump:
		return c.jump(st)
	}
	return c.errorf(st.Position(), "this statement is not supported yet")
}

func (c *checker) exprStmt(e lang.Expr) error {
	if t, ok := e.(*lang.Ternary); ok && t.Then != nil {
		if tt, err := c.typeOf(t.Then); err == nil && tt.Kind == TNone {
			// cond ? printf(...) : printf(...) as a statement is an if.
			return c.ifStmt(&lang.If{P: t.P, Cond: t.Cond,
				Then: &lang.Block{P: t.P, Stmts: []lang.Stmt{&lang.ExprStmt{X: t.Then}}},
				Else: &lang.Block{P: t.P, Stmts: []lang.Stmt{&lang.ExprStmt{X: t.Else}}}})
		}
	}
	if call, ok := e.(*lang.Call); ok {
		if done, err := c.callStmt(call); done || err != nil {
			return err
		}
	}
	if a, ok := e.(*lang.AssignExpr); ok {
		return c.assign(a.Assign)
	}
	t, err := c.typeOf(e)
	if err != nil {
		return err
	}
	if t.isInt() {
		return c.intExpr(e)
	}
	if t.Kind == TNone {
		return c.unsupported(e)
	}
	_, _, err = c.valueAt(e)
	return err
}

func (c *checker) varDecl(d *lang.VarDecl) error {
	scope := len(c.scopes) - 1 // where the variable lives
	if d.Value != nil {
		value, pop, err := c.unblock(d.Value)
		if err != nil {
			return err
		}
		defer pop()
		d = &lang.VarDecl{P: d.P, Var: d.Var, Type: d.Type, Value: value}
	}
	var t *Type
	if d.Type != nil {
		it, ok := intTypes[d.Type.Name]
		switch {
		case ok:
			t = it
		case d.Type.Name == "string":
			t = strType(c.s.StrSize)
		default:
			return c.unknownType(d.Type.P, d.Type.Name)
		}
	}
	if d.Value != nil {
		vt, err := c.typeOf(d.Value)
		if err != nil {
			return err
		}
		if t == nil {
			t = vt
		} else if !same(t, vt) {
			return c.errorf(d.P, "Type mismatch for %s: trying to assign value of type '%s' when variable already has a type '%s'", d.Var.Name, vt, t)
		}
	}
	if t == nil {
		// let $x; takes the type of its first value.
		c.scopes[scope][d.Var.Name] = &variable{t: tS64, pending: true, frame: c.frame}
		return nil
	}
	v, err := c.declare(d.Var.Name, c.varType(d.Var.Name, storage(t)), false, d.P)
	if err != nil {
		return err
	}
	if inner := len(c.scopes) - 1; inner != scope {
		delete(c.scopes[inner], d.Var.Name)
		c.scopes[scope][d.Var.Name] = v
	}
	if d.Value == nil {
		return c.zeroVar(v)
	}
	return c.storeVar(v, d.Value)
}

// varType widens the type of a variable to the widest seen in earlier
// passes, so that its storage holds every value assigned to it.
func (c *checker) varType(name string, t *Type) *Type {
	key := fmt.Sprintf("%d/%s", c.sp.Block, name)
	if old, ok := c.s.varTypes[key]; ok && same(old, t) {
		t = widen(old, t)
	}
	c.s.varTypes[key] = t
	return t
}

func (c *checker) zeroVar(v *variable) error {
	if v.t.isInt() {
		c.g.emit(asm.Mov.Imm(asm.R0, 0), c.storeSlot(v, asm.R0))
		return nil
	}
	c.zero(v.off, v.t.Size)
	return nil
}

func (c *checker) storeVar(v *variable, e lang.Expr) error {
	if v.t.isInt() {
		if err := c.intExpr(e); err != nil {
			return err
		}
		c.g.emit(c.storeSlot(v, asm.R0))
		return nil
	}
	return c.store(v.off, v.t, e)
}

func (c *checker) assign(a *lang.Assign) error {
	switch t := a.Target.(type) {
	case *lang.Var:
		return c.assignVar(a, t)
	case *lang.MapExpr:
		return c.assignMap(a, t)
	}
	return c.errorf(a.P, "cannot assign to this expression")
}

func (c *checker) assignVar(a *lang.Assign, target *lang.Var) error {
	value, pop, err := c.unblock(a.Value)
	if err != nil {
		return err
	}
	defer pop()
	v := c.lookupVar(target.Name)
	if a.Op != "" {
		if v == nil {
			return c.errorf(target.P, "Undefined or undeclared variable: %s", target.Name)
		}
		value = &lang.Binary{P: a.P, Op: a.Op, X: target, Y: value}
	}
	vt, err := c.typeOf(value)
	if err != nil {
		return err
	}
	if vt.Kind == TNone {
		return c.errorf(a.P, "Value of type none cannot be assigned to %s", target.Name)
	}
	if v != nil && v.pending {
		if v, err = c.settle(target.Name, vt, target.P); err != nil {
			return err
		}
	}
	if v == nil {
		if v, err = c.declare(target.Name, c.varType(target.Name, storage(vt)), true, target.P); err != nil {
			return err
		}
	} else if !same(v.t, vt) {
		return c.errorf(a.P, "Type mismatch for %s: trying to assign value of type '%s' when variable already contains a value of type '%s'", target.Name, vt, v.t)
	} else if v.t.Kind != TInt {
		c.varType(target.Name, storage(vt))
	}
	return c.storeVar(v, value)
}

func (c *checker) assignMap(a *lang.Assign, target *lang.MapExpr) error {
	if call, ok := a.Value.(*lang.Call); ok && a.Op == "" {
		if kind, ok := aggKinds[call.Name]; ok {
			return c.aggregate(target, kind, call)
		}
	}
	value := a.Value
	if m, ok := c.s.Map(target.Name); (!ok || m.Kind == 255) && a.Op == "" && mentions(value, target.Name) {
		// @i = @i + 1 on a new map reads it as an integer, 0 at first.
		if _, err := c.defineMap(target, scriptout.Plain, tS64); err != nil {
			return err
		}
	}
	if a.Op != "" {
		value = &lang.Binary{P: a.P, Op: a.Op, X: target, Y: a.Value}
		if _, ok := c.s.Map(target.Name); !ok || c.first {
			// x += v on a new map starts from 0.
			if _, err := c.defineMap(target, scriptout.Plain, tS64); err != nil {
				return err
			}
		}
	}
	vt, err := c.typeOf(value)
	if err != nil {
		return err
	}
	if vt.Kind == TNone || vt.Kind == TTime {
		return c.errorf(a.P, "Value of type %s cannot be stored in a map", vt)
	}
	m, err := c.defineMap(target, scriptout.Plain, vt)
	if err != nil {
		return err
	}
	valOff := c.alloc(m.Value.Size)
	if err := c.store(valOff, m.Value, value); err != nil {
		return err
	}
	keyOff, err := c.key(m, target)
	if err != nil {
		return err
	}
	c.update(m, keyOff, valOff, bpfAny)
	return nil
}

// key builds the key of target into a new scratch area, with room for a
// histogram's bucket after it.
func (c *checker) key(m *ScriptMap, target *lang.MapExpr) (int, error) {
	off := c.alloc(m.KeySize())
	if m.Key == nil {
		c.g.emit(c.stImm64(int16(off), 0)...)
		return off, nil
	}
	return off, c.store(off, m.Key, target.Key)
}

func (c *checker) mapIndex(m *ScriptMap) int { return c.s.byName[m.Name] }

func (c *checker) mapFD(m *ScriptMap) int {
	if c.fds == nil {
		return -1
	}
	return c.fds[c.mapIndex(m)]
}

func (c *checker) lookup(m *ScriptMap, keyOff int) {
	c.g.emit(
		asm.LoadMapPtr(asm.R1, c.mapFD(m)),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
	)
}

func (c *checker) update(m *ScriptMap, keyOff, valOff int, flags int32) {
	c.g.emit(
		asm.LoadMapPtr(asm.R1, c.mapFD(m)),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, rRec),
		asm.Add.Imm(asm.R3, int32(valOff)),
		asm.Mov.Imm(asm.R4, flags),
		asm.FnMapUpdateElem.Call(),
	)
	// A full map is said in user space, as bpftrace does.
	ok := c.g.label("upd")
	c.g.emit(asm.JNE.Imm(asm.R0, -7, ok)) // -E2BIG
	ev := c.newEvent(&ScriptEvent{Kind: EvMapFull, Args: tupleType(nil), P: c.pos})
	c.send(ev, c.alloc(ev.Size()))
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(ok))
}

// aggregate emits @m[k] = count() and the other aggregations.
func (c *checker) aggregate(target *lang.MapExpr, kind scriptout.MapKind, call *lang.Call) error {
	want := map[scriptout.MapKind][2]int{scriptout.Count: {0, 0}, scriptout.Hist: {1, 2}, scriptout.LHist: {4, 4}, scriptout.TSeries: {3, 4}}[kind]
	if kind != scriptout.Count && kind != scriptout.Hist && kind != scriptout.LHist && kind != scriptout.TSeries {
		want = [2]int{1, 1}
	}
	if len(call.Args) < want[0] || len(call.Args) > want[1] {
		return c.errorf(call.P, "%s() requires %s", call.Name, argCount(want))
	}
	var slot int16
	signed := false
	if len(call.Args) > 0 {
		t, err := c.typeOf(call.Args[0])
		if err != nil {
			return err
		}
		if !t.isInt() {
			return c.errorf(call.Args[0].Position(), "%s() expects an integer argument, got %s", call.Name, t)
		}
		signed = t.Signed
		if slot, err = c.intToSlot(call.Args[0], call.P); err != nil {
			return err
		}
	}
	m, err := c.defineMap(target, kind, nil)
	if err != nil {
		return err
	}
	m.Signed = m.Signed || signed
	if err := c.histParams(m, kind, call); err != nil {
		return err
	}
	if m.Buckets > 0 {
		return c.bucketAdd(m, slot)
	}
	keyOff, err := c.key(m, target)
	if err != nil {
		return err
	}
	// The scratch a cached count() or sum() needs, taken in every pass
	// (whether the map is cached is known once all probes are checked).
	var cacheTmp int
	if (kind == scriptout.Count || kind == scriptout.Sum) && m.Key != nil && m.Key.Size <= 16 {
		cacheTmp = c.alloc(32)
	}
	switch kind {
	case scriptout.Count:
		c.g.emit(asm.Mov.Imm(asm.R0, 1))
		c.add(m, keyOff, cacheTmp)
	case scriptout.Sum:
		c.g.emit(asm.LoadMem(asm.R0, asm.RFP, slot, asm.DWord))
		c.add(m, keyOff, cacheTmp)
	case scriptout.Hist, scriptout.LHist:
		c.g.emit(asm.LoadMem(asm.R0, asm.RFP, slot, asm.DWord))
		c.bucketIndex(m)
		at := keyOff + m.KeySize() - 8
		c.g.emit(asm.StoreMem(rRec, int16(at), asm.R0, asm.DWord), asm.Mov.Imm(asm.R0, 1))
		c.addTo(m, keyOff)
	case scriptout.Min, scriptout.Max:
		c.minMax(m, keyOff, slot, kind == scriptout.Max)
	case scriptout.Avg, scriptout.Stats:
		c.avg(m, keyOff, slot)
	case scriptout.TSeries:
		return c.tseries(m, keyOff, slot, call)
	}
	return nil
}

func argCount(w [2]int) string {
	switch {
	case w[0] == w[1] && w[0] == 0:
		return "no arguments"
	case w[0] == w[1] && w[0] == 1:
		return "one argument"
	case w[0] == w[1]:
		return fmt.Sprintf("%d arguments", w[0])
	}
	return fmt.Sprintf("%d or %d arguments", w[0], w[1])
}

// histParams checks the constant arguments of hist and lhist.
func (c *checker) histParams(m *ScriptMap, kind scriptout.MapKind, call *lang.Call) error {
	if kind != scriptout.Hist && kind != scriptout.LHist {
		return nil
	}
	consts := make([]int64, 0, 3)
	for _, a := range call.Args[1:] {
		v, ok := c.constInt(a)
		if !ok {
			return c.errorf(a.Position(), "%s() expects integer literals for its parameters", call.Name)
		}
		consts = append(consts, v)
	}
	switch kind {
	case scriptout.Hist:
		bits := int64(0)
		if len(consts) == 1 {
			bits = consts[0]
		}
		if bits < 0 || bits > 5 {
			return c.errorf(call.Args[1].Position(), "hist: bits %d must be 0..5", bits)
		}
		if m.Bits != int(bits) && c.seen(m) {
			return c.errorf(call.P, "Different bits in a single hist, had %d now %d", m.Bits, bits)
		}
		m.Bits = int(bits)
	case scriptout.LHist:
		lo, hi, step := consts[0], consts[1], consts[2]
		switch {
		case step <= 0:
			return c.errorf(call.Args[3].Position(), "lhist() step must be >= 1 (%d provided)", step)
		case lo < 0:
			return c.errorf(call.Args[1].Position(), "lhist() min must be non-negative (provided min %d)", lo)
		case lo > hi:
			return c.errorf(call.Args[1].Position(), "lhist() min must be less than max (provided min %d and max %d)", lo, hi)
		case (hi-lo)/step > 1000:
			return c.errorf(call.P, "lhist() too many buckets, must be <= 1000 (would need %d)", (hi-lo)/step)
		}
		if m.Step != 0 && (m.Min != lo || m.Max != hi || m.Step != step) {
			return c.errorf(call.P, "Different lhist bounds in a single map unsupported")
		}
		m.Min, m.Max, m.Step = lo, hi, step
	}
	return nil
}

func (c *checker) seen(m *ScriptMap) bool { return m.Bits != 0 }

// constInt is the value of a constant integer expression.
func (c *checker) constInt(e lang.Expr) (int64, bool) {
	switch e := e.(type) {
	case *lang.IntLit:
		return int64(e.Value), true
	case *lang.Unary:
		if e.Op == "-" {
			v, ok := c.constInt(e.X)
			return -v, ok
		}
	case *lang.Param:
		if v, ok := c.param(e); ok && !v.isStr {
			return v.n, true
		}
	case *lang.Call:
		// getopt("top", 10): the named parameter, known when compiling.
		if e.Name == "getopt" {
			if v, err := c.getopt(e); err == nil && !v.isStr {
				return v.n, true
			}
		}
	case *lang.Binary:
		x, ok1 := c.constInt(e.X)
		y, ok2 := c.constInt(e.Y)
		if ok1 && ok2 {
			switch e.Op {
			case "+":
				return x + y, true
			case "-":
				return x - y, true
			case "*":
				return x * y, true
			case "/":
				if y != 0 {
					return x / y, true
				}
			case "<<":
				return x << y, true
			}
		}
	}
	return 0, false
}

// bucketIndex turns the value in R0 into the index of its bucket in m, a
// hist or an lhist.
func (c *checker) bucketIndex(m *ScriptMap) {
	if m.Kind == scriptout.Hist {
		c.log2Index(m.Bits)
	} else {
		c.linearIndex(m.Min, m.Max, m.Step)
	}
}

// bucketAdd counts the value in slot in its bucket of m, an unkeyed
// histogram kept as a per-CPU array of buckets (see Buckets): the kernel
// inlines the lookup, so there is no helper call.
func (c *checker) bucketAdd(m *ScriptMap, slot int16) error {
	idx := c.alloc(8)
	done := c.g.label("done")
	c.g.emit(asm.LoadMem(asm.R0, asm.RFP, slot, asm.DWord))
	c.bucketIndex(m)
	c.g.emit(asm.StoreMem(rRec, int16(idx), asm.R0, asm.Word))
	c.lookup(m, idx)
	c.g.emit(
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done),
	)
	return nil
}

// add adds R0 to the u64 value of the key at keyOff of m, a count() or
// sum(), through its cache when it has one (see Cache). tmp is 32 bytes
// of scratch for the cache.
func (c *checker) add(m *ScriptMap, keyOff, tmp int) {
	if m.Cache == 0 {
		c.addTo(m, keyOff)
		return
	}
	k := m.Key.Size
	idx, amount, oldKey := tmp, tmp+8, tmp+16
	miss, claim, done := c.g.label("miss"), c.g.label("claim"), c.g.label("done")
	fd := -1
	if c.fds != nil {
		fd = c.fds[m.cacheAt]
	}
	lookup := []asm.Instruction{
		asm.LoadMapPtr(asm.R1, fd),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(idx)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
	}
	// The slot: the key's words mixed by Fibonacci hashing.
	c.g.emit(
		asm.StoreMem(rRec, int16(amount), asm.R0, asm.DWord),
		asm.LoadMem(asm.R1, rRec, int16(keyOff), asm.DWord),
	)
	if k == 16 {
		c.g.emit(
			asm.LoadMem(asm.R2, rRec, int16(keyOff+8), asm.DWord),
			asm.Xor.Reg(asm.R1, asm.R2),
		)
	}
	c.g.emit(
		asm.LoadImm(asm.R2, -0x61c8864680b583eb, asm.DWord), // 2^64 / φ
		asm.Mul.Reg(asm.R1, asm.R2),
		asm.RSh.Imm(asm.R1, int32(64-bits.TrailingZeros(uint(m.Cache)))),
		asm.StoreMem(rRec, int16(idx), asm.R1, asm.Word),
	)
	c.g.emit(lookup...)
	// A hit adds in the slot.
	for w := 0; w < k; w += 8 {
		c.g.emit(
			asm.LoadMem(asm.R1, asm.R0, int16(w), asm.DWord),
			asm.LoadMem(asm.R2, rRec, int16(keyOff+w), asm.DWord),
			asm.JNE.Reg(asm.R1, asm.R2, miss),
		)
	}
	c.g.emit(
		asm.LoadMem(asm.R1, asm.R0, int16(k), asm.DWord),
		asm.LoadMem(asm.R2, rRec, int16(amount), asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, int16(k), asm.R1, asm.DWord),
		asm.Ja.Label(done),
	)
	// A miss moves what the slot holds to the hash map, then takes it.
	c.g.emit(
		asm.LoadMem(asm.R1, asm.R0, int16(k), asm.DWord).WithSymbol(miss),
		asm.JEq.Imm(asm.R1, 0, claim),
	)
	for w := 0; w < k; w += 8 {
		c.g.emit(
			asm.LoadMem(asm.R2, asm.R0, int16(w), asm.DWord),
			asm.StoreMem(rRec, int16(oldKey+w), asm.R2, asm.DWord),
		)
	}
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R1))
	c.addTo(m, oldKey)
	c.g.emit(lookup...)
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(claim))
	for w := 0; w < k; w += 8 {
		c.g.emit(
			asm.LoadMem(asm.R1, rRec, int16(keyOff+w), asm.DWord),
			asm.StoreMem(asm.R0, int16(w), asm.R1, asm.DWord),
		)
	}
	c.g.emit(
		asm.LoadMem(asm.R1, rRec, int16(amount), asm.DWord),
		asm.StoreMem(asm.R0, int16(k), asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done),
	)
}

// addTo adds R0 to the u64 value of the key at keyOff, creating it.
func (c *checker) addTo(m *ScriptMap, keyOff int) {
	c.g.emit(asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord))
	c.lookup(m, keyOff)
	create, done := c.g.label("new"), c.g.label("done")
	c.g.emit(
		asm.JEq.Imm(asm.R0, 0, create),
		asm.LoadMem(asm.R1, asm.RFP, -16, asm.DWord),
	)
	if m.PerCPU {
		c.g.emit(
			asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord),
			asm.Add.Reg(asm.R2, asm.R1),
			asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
		)
	} else {
		c.g.emit(asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
	}
	c.g.emit(asm.Ja.Label(done))
	valOff := c.alloc(8)
	c.g.emit(
		asm.LoadMem(asm.R1, asm.RFP, -16, asm.DWord).WithSymbol(create),
		asm.StoreMem(rRec, int16(valOff), asm.R1, asm.DWord),
	)
	c.update(m, keyOff, valOff, bpfAny)
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(done))
}

// minMax keeps the least (or greatest) value: {value, 1} once set.
func (c *checker) minMax(m *ScriptMap, keyOff int, slot int16, isMax bool) {
	c.lookup(m, keyOff)
	create, done := c.g.label("new"), c.g.label("done")
	keep := asm.JSLE // max: keep the current value when v <= current
	if !isMax {
		keep = asm.JSGE
	}
	c.g.emit(
		asm.JEq.Imm(asm.R0, 0, create),
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.DWord),
		asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord),
		keep.Reg(asm.R1, asm.R2, done),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Ja.Label(done),
	)
	valOff := c.alloc(16)
	c.g.emit(
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.DWord).WithSymbol(create),
		asm.StoreMem(rRec, int16(valOff), asm.R1, asm.DWord),
	)
	c.g.emit(c.stImm64(int16(valOff+8), 1)...)
	c.update(m, keyOff, valOff, bpfAny)
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(done))
}

// avg keeps {count, total}.
func (c *checker) avg(m *ScriptMap, keyOff int, slot int16) {
	c.lookup(m, keyOff)
	create, done := c.g.label("new"), c.g.label("done")
	c.g.emit(
		asm.JEq.Imm(asm.R0, 0, create),
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.DWord),
	)
	if m.PerCPU {
		c.g.emit(
			asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R2, 1),
			asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
			asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord),
			asm.Add.Reg(asm.R2, asm.R1),
			asm.StoreMem(asm.R0, 8, asm.R2, asm.DWord),
		)
	} else {
		c.g.emit(
			asm.Mov.Imm(asm.R2, 1),
			asm.StoreXAdd(asm.R0, asm.R2, asm.DWord),
			asm.Add.Imm(asm.R0, 8),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		)
	}
	c.g.emit(asm.Ja.Label(done))
	valOff := c.alloc(16)
	st := c.stImm64(int16(valOff), 1)
	st[0] = st[0].WithSymbol(create)
	c.g.emit(st...)
	c.g.emit(
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.DWord),
		asm.StoreMem(rRec, int16(valOff+8), asm.R1, asm.DWord),
	)
	c.update(m, keyOff, valOff, bpfAny)
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(done))
}

// log2Index turns the value in R0 into bpftrace's log2 bucket index with
// 2^bits buckets per power of two.
func (c *checker) log2Index(bits int) {
	done := c.g.label("log2")
	mask := int32(1)<<bits - 1
	c.g.emit(
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Mov.Imm(asm.R0, 0),
		asm.JSLT.Imm(asm.R3, 0, done),
		asm.Mov.Reg(asm.R0, asm.R3),
		asm.Add.Imm(asm.R0, 1),
		asm.JLE.Imm(asm.R3, mask, done),
		asm.Mov.Reg(asm.R1, asm.R3), // n
		asm.Mov.Imm(asm.R2, 0),      // l
	)
	for i := 5; i >= 0; i-- {
		skip := c.g.label("l2")
		c.g.emit(
			asm.LoadImm(asm.R4, 1<<(1<<i), asm.DWord),
			asm.JLT.Reg(asm.R1, asm.R4, skip),
			asm.RSh.Imm(asm.R1, int32(1<<i)),
			asm.Add.Imm(asm.R2, int32(1<<i)),
			asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(skip),
		)
	}
	c.g.emit(
		asm.Sub.Imm(asm.R2, int32(bits)),
		asm.Mov.Reg(asm.R0, asm.R3),
		asm.RSh.Reg(asm.R0, asm.R2),
		asm.And.Imm(asm.R0, mask),
		asm.Add.Imm(asm.R2, 1),
		asm.LSh.Imm(asm.R2, int32(bits)),
		asm.Add.Reg(asm.R0, asm.R2),
		asm.Add.Imm(asm.R0, 1),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done),
	)
}

// linearIndex turns the value in R0 into lhist's bucket index.
func (c *checker) linearIndex(lo, hi, step int64) {
	done := c.g.label("lin")
	c.g.emit(
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Mov.Imm(asm.R0, 0),
		asm.LoadImm(asm.R1, lo, asm.DWord),
		asm.JSLT.Reg(asm.R3, asm.R1, done),
		asm.LoadImm(asm.R0, 1+(hi-lo)/step, asm.DWord),
		asm.LoadImm(asm.R1, hi, asm.DWord),
		asm.JSGT.Reg(asm.R3, asm.R1, done),
		asm.Mov.Reg(asm.R0, asm.R3),
		asm.LoadImm(asm.R1, lo, asm.DWord),
		asm.Sub.Reg(asm.R0, asm.R1),
		asm.LoadImm(asm.R1, step, asm.DWord),
		asm.Div.Reg(asm.R0, asm.R1),
		asm.Add.Imm(asm.R0, 1),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done),
	)
}

func (c *checker) ifStmt(st *lang.If) error {
	if err := c.condition(st.Cond); err != nil {
		return err
	}
	elseL, end := c.g.label("else"), c.g.label("fi")
	c.g.emit(asm.JEq.Imm(asm.R0, 0, elseL))
	if err := c.block(st.Then, true); err != nil {
		return err
	}
	c.g.emit(asm.Ja.Label(end), asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(elseL))
	if st.Else != nil {
		if err := c.stmt(st.Else); err != nil {
			return err
		}
	}
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end))
	return nil
}

// loop emits while (cond) { body } with an optional step after the body
// (for's increment).
func (c *checker) loop(p lang.Pos, cond lang.Expr, body *lang.Block, step func() error) error {
	top, cont, brk := c.g.label("while"), c.g.label("cont"), c.g.label("brk")
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(top))
	if err := c.condition(cond); err != nil {
		return err
	}
	c.g.emit(asm.JEq.Imm(asm.R0, 0, brk))
	c.loops = append(c.loops, loopLabels{cont: cont, brk: brk})
	err := c.block(body, true)
	c.loops = c.loops[:len(c.loops)-1]
	if err != nil {
		return err
	}
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(cont))
	if step != nil {
		if err := step(); err != nil {
			return err
		}
	}
	c.g.emit(asm.Ja.Label(top), asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(brk))
	return nil
}

func (c *checker) forStmt(st *lang.For) error {
	if st.Map != nil {
		return c.forMap(st)
	}
	for _, e := range []lang.Expr{st.From, st.To} {
		t, err := c.typeOf(e)
		if err != nil {
			return err
		}
		if !t.isInt() {
			return c.errorf(e.Position(), "Loop range requires an integer, got %s", t)
		}
	}
	c.scopes = append(c.scopes, map[string]*variable{})
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	lo, okLo := c.constInt(st.From)
	hi, okHi := c.constInt(st.To)
	if !okLo || !okHi || hi-lo > 1024 {
		return c.forRange(st)
	}
	v, err := c.declare(st.Var.Name, tS64, false, st.P)
	if err != nil {
		return err
	}
	if err := c.storeVar(v, st.From); err != nil {
		return err
	}
	cond := &lang.Binary{P: st.P, Op: "<", X: st.Var, Y: st.To}
	return c.loop(st.P, cond, st.Body, func() error {
		c.g.emit(
			c.loadSlot(asm.R0, v),
			asm.Add.Imm(asm.R0, 1),
			c.storeSlot(v, asm.R0),
		)
		return nil
	})
}

func (c *checker) jump(st *lang.Jump) error {
	switch st.Kind {
	case "return":
		c.g.emit(asm.Ja.Label(c.exit))
		return nil
	case "break", "continue":
		if len(c.loops) == 0 {
			return c.errorf(st.P, "'%s' statement is not allowed outside of a loop", st.Kind)
		}
		l := c.loops[len(c.loops)-1]
		target := l.brk
		if st.Kind == "continue" {
			target = l.cont
		}
		c.g.emit(asm.Ja.Label(target))
		return nil
	}
	return c.errorf(st.P, "unknown jump %s", st.Kind)
}

// callStmt emits the calls made for their effect; done is false for
// calls that are values.
func (c *checker) callStmt(call *lang.Call) (done bool, err error) {
	switch call.Name {
	case "printf", "system", "cat", "errorf", "warnf", "debugf":
		if len(call.Args) == 0 {
			return true, c.errorf(call.P, "%s() requires at least one argument", call.Name)
		}
		f, ok := call.Args[0].(*lang.StrLit)
		if !ok {
			return true, c.errorf(call.Args[0].Position(), "%s() expects a string literal as its first argument", call.Name)
		}
		kind := map[string]EventKind{"printf": EvPrintf, "system": EvSystem, "cat": EvCat, "errorf": EvErrorf, "warnf": EvWarnf, "debugf": EvPrintf}[call.Name]
		return true, c.async(call, kind, f.Value, call.Args[1:], func(ev *ScriptEvent, types []*Type) error {
			return checkFormat(c, call, f, types)
		})
	case "join":
		return true, c.join(call)
	case "time":
		format := "%H:%M:%S\n"
		if len(call.Args) > 0 {
			f, ok := call.Args[0].(*lang.StrLit)
			if !ok {
				return true, c.errorf(call.P, "time() expects a string literal")
			}
			format = f.Value
		}
		return true, c.async(call, EvTime, format, nil, nil)
	case "exit":
		var args []lang.Expr
		if len(call.Args) > 0 {
			args = call.Args[:1]
		}
		if err := c.async(call, EvExit, "", args, nil); err != nil {
			return true, err
		}
		c.g.emit(asm.Ja.Label(c.exit))
		return true, nil
	case "print":
		return true, c.printCall(call)
	case "clear", "zero":
		if len(call.Args) != 1 {
			return true, c.errorf(call.P, "%s() requires one argument", call.Name)
		}
		me, ok := call.Args[0].(*lang.MapExpr)
		if !ok || me.Key != nil {
			return true, c.errorf(call.P, "%s() expects a map argument", call.Name)
		}
		m, err := c.wholeMap(me)
		if err != nil {
			return true, err
		}
		kind := EvClear
		if call.Name == "zero" {
			kind = EvZero
		}
		return true, c.async(call, kind, "", nil, func(ev *ScriptEvent, _ []*Type) error {
			ev.Map = c.mapIndex(m)
			return nil
		})
	case "delete":
		return true, c.deleteCall(call)
	}
	return false, nil
}

func (c *checker) printCall(call *lang.Call) error {
	if len(call.Args) == 0 || len(call.Args) > 3 {
		return c.errorf(call.P, "print() requires 1 to 3 arguments")
	}
	if me, ok := call.Args[0].(*lang.MapExpr); ok && me.Key == nil {
		m, err := c.wholeMap(me)
		if err != nil {
			return err
		}
		var top, div int64
		for i, a := range call.Args[1:] {
			v, ok := c.constInt(a)
			if !ok {
				return c.errorf(a.Position(), "print()'s top and div must be integer literals")
			}
			if i == 0 {
				top = v
			} else {
				div = v
			}
		}
		return c.async(call, EvPrintMap, "", nil, func(ev *ScriptEvent, _ []*Type) error {
			ev.Map, ev.Top, ev.Div = c.mapIndex(m), top, div
			return nil
		})
	}
	if len(call.Args) > 1 {
		return c.errorf(call.P, "Non-map print() only takes 1 argument, %d found", len(call.Args))
	}
	return c.async(call, EvPrint, "", call.Args[:1], nil)
}

func (c *checker) deleteCall(call *lang.Call) error {
	var me *lang.MapExpr
	switch len(call.Args) {
	case 1:
		me, _ = call.Args[0].(*lang.MapExpr)
	case 2:
		m, ok := call.Args[0].(*lang.MapExpr)
		if ok && m.Key == nil {
			me = &lang.MapExpr{P: m.P, Name: m.Name, Key: call.Args[1]}
		}
	}
	if me == nil {
		return c.errorf(call.P, "delete() expects a map with a key: delete(@m[key]) or delete(@m, key)")
	}
	m, err := c.wholeMap(me)
	if err != nil {
		return err
	}
	if m.Kind == scriptout.Hist || m.Kind == scriptout.LHist {
		return c.errorf(call.P, "delete() of one key of a histogram is not supported")
	}
	m.deletedIn = true
	if me.Key == nil && m.Key != nil || m.Key == nil && me.Key != nil {
		return c.errorf(call.P, "delete() expects a map with a key: delete(@m[key]) or delete(@m, key)")
	}
	keyOff, err := c.key(m, me)
	if err != nil {
		return err
	}
	c.g.emit(
		asm.LoadMapPtr(asm.R1, c.mapFD(m)),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapDeleteElem.Call(),
	)
	return nil
}

// async sends a record of an event to user space: the header, then the
// arguments.
func (c *checker) async(call *lang.Call, kind EventKind, format string, args []lang.Expr, check func(*ScriptEvent, []*Type) error) error {
	types := make([]*Type, len(args))
	for i, a := range args {
		t, err := c.typeOf(a)
		if err != nil {
			return err
		}
		if t.Kind == TNone {
			return c.errorf(a.Position(), "a value of type none cannot be printed")
		}
		types[i] = storage(t)
	}
	ev := &ScriptEvent{Kind: kind, Format: format, Args: tupleType(types), P: call.P}
	for _, a := range args {
		ev.Names = append(ev.Names, ArgName(a))
	}
	if check != nil {
		if err := check(ev, types); err != nil {
			return err
		}
	}
	c.newEvent(ev)
	size := ev.Size()
	rec := c.alloc(size)
	for i, a := range args {
		if err := c.store(rec+scriptHeader+ev.Args.Offs[i], types[i], a); err != nil {
			return err
		}
	}
	c.send(ev, rec)
	return nil
}

// send fills the header of the record of ev at rec and copies it into the
// ring, counting it as lost when the ring is full.
func (c *checker) send(ev *ScriptEvent, rec int) {
	size := ev.Size()
	c.g.emit(
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(rRec, int16(rec+record.OffTime), asm.R0, asm.DWord),
		asm.StoreImm(rRec, int16(rec+record.OffClass), int64(ev.ID), asm.Word),
		asm.FnGetSmpProcessorId.Call(),
		asm.StoreMem(rRec, int16(rec+record.OffCPU), asm.R0, asm.Word),
		// The ids read here rather than from the prologue's register: a
		// program whose only event is a rare one (a full map) then does
		// without the helper on every run.
		asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(rRec, int16(rec+record.OffTID), asm.R0, asm.Word),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(rRec, int16(rec+record.OffPID), asm.R0, asm.Word),
	)
	c.g.commAt(rec + record.OffComm)
	c.g.emit(
		asm.LoadMapPtr(asm.R1, c.fd(c.maps.Events)),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(rec)),
		asm.Mov.Imm(asm.R3, int32(size)),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
	)
	ok := c.g.label("sent")
	c.g.emit(asm.JEq.Imm(asm.R0, 0, ok))
	c.countLost(ok)
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(ok))
}

// countLost counts a record the ring had no room for, then goes on at
// label next.
func (c *checker) countLost(next string) {
	c.g.emit(
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, stackKey, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, c.fd(c.maps.Lost)),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	)
}

func (c *checker) fd(m *ebpf.Map) int {
	if m == nil || !c.emit {
		return -1
	}
	return m.FD()
}

// stImm64 stores a 64-bit constant (within 32 bits) at scratch off, as
// two 32-bit halves (BPF has no 64-bit immediate store).
func (c *checker) stImm64(off int16, v int64) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(rRec, off, int64(int32(v)), asm.Word),
		asm.StoreImm(rRec, off+4, v>>32, asm.Word),
	}
}

// zero clears n bytes of scratch at off.
func (c *checker) zero(off, n int) {
	i := 0
	for ; i+8 <= n; i += 8 {
		c.g.emit(c.stImm64(int16(off+i), 0)...)
	}
	for ; i < n; i++ {
		c.g.emit(asm.StoreImm(rRec, int16(off+i), 0, asm.Byte))
	}
}

// copy copies n bytes of scratch from src to dst.
func (c *checker) copy(dst, src, n int) {
	if n <= 64 {
		i := 0
		for ; i+8 <= n; i += 8 {
			c.g.emit(asm.LoadMem(asm.R1, rRec, int16(src+i), asm.DWord), asm.StoreMem(rRec, int16(dst+i), asm.R1, asm.DWord))
		}
		for ; i < n; i++ {
			c.g.emit(asm.LoadMem(asm.R1, rRec, int16(src+i), asm.Byte), asm.StoreMem(rRec, int16(dst+i), asm.R1, asm.Byte))
		}
		return
	}
	c.g.emit(
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, int32(dst)),
		asm.Mov.Imm(asm.R2, int32(n)),
		asm.Mov.Reg(asm.R3, rRec),
		asm.Add.Imm(asm.R3, int32(src)),
		asm.FnProbeReadKernel.Call(),
	)
}

// store writes the value of e, converted to t, at scratch offset dst.
func (c *checker) store(dst int, t *Type, e lang.Expr) error {
	e = c.canon(e)
	if _, ok := e.(*lang.BlockExpr); ok {
		value, pop, err := c.unblock(e)
		if err != nil {
			return err
		}
		defer pop()
		e = value
	}
	et, err := c.typeOf(e)
	if err != nil {
		return err
	}
	if !same(t, et) {
		return c.errorf(e.Position(), "Type mismatch: expected %s, got %s", t, et)
	}
	switch t.Kind {
	case TInt, TBool:
		if err := c.intExpr(e); err != nil {
			return err
		}
		c.g.emit(asm.StoreMem(rRec, int16(dst), asm.R0, asm.DWord))
		return nil
	case TStr:
		return c.storeStr(dst, t.Size, e, et)
	case TBuf:
		if call, ok := e.(*lang.Call); ok && call.Name == "buf" {
			return c.buf(dst, t, call)
		}
	case TInet:
		if call, ok := e.(*lang.Call); ok && call.Name == "ntop" {
			return c.ntop(dst, call)
		}
		if call, ok := e.(*lang.Call); ok && call.Name == "macaddr" {
			return c.macaddr(dst, call)
		}
	case TArray:
		if call, ok := e.(*lang.Call); ok && call.Name == "pton" {
			ip := net.ParseIP(call.Args[0].(*lang.StrLit).Value)
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			c.zero(dst, t.Size)
			for i, b := range ip[:t.Size] {
				c.g.emit(asm.StoreImm(rRec, int16(dst+i), int64(b), asm.Byte))
			}
			return nil
		}
	case TStack:
		if !located(e) {
			return c.stack(dst, t, e.Position())
		}
	case TSym:
		if call, ok := e.(*lang.Call); ok && (call.Name == "ksym" || call.Name == "usym") {
			if err := c.intExpr(call.Args[0]); err != nil {
				return err
			}
			c.g.emit(
				asm.StoreMem(rRec, int16(dst+8), asm.R0, asm.DWord),
				asm.Mov.Reg(asm.R1, rPidTgd),
				asm.RSh.Imm(asm.R1, 32),
				asm.StoreMem(rRec, int16(dst), asm.R1, asm.DWord),
			)
			return nil
		}
	case TTuple:
		if tup, ok := e.(*lang.Tuple); ok {
			for i, x := range tup.Elems {
				if err := c.store(dst+t.Offs[i], t.Elems[i], x); err != nil {
					return err
				}
			}
			return nil
		}
		if rec, ok := e.(*lang.Record); ok {
			for i, x := range rec.Values {
				if err := c.store(dst+t.Offs[i], t.Elems[i], x); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if !located(e) {
		return c.unsupported(e)
	}
	src, st, err := c.valueAt(e)
	if err != nil {
		return err
	}
	c.convert(dst, t, src, st)
	return nil
}

// unsupported is the error for an expression the generator cannot build.
func (c *checker) unsupported(e lang.Expr) error {
	if call, ok := e.(*lang.Call); ok {
		return c.errorf(call.P, "%s() is not supported yet", call.Name)
	}
	return c.errorf(e.Position(), "this expression is not supported yet")
}

// convert copies a value of type st at src into one of type t at dst.
func (c *checker) convert(dst int, t *Type, src int, st *Type) {
	switch t.Kind {
	case TStr:
		n := min(t.Size, st.Size)
		c.copy(dst, src, n)
		if n < t.Size {
			c.zero(dst+n, t.Size-n)
		} else if st.Size > t.Size {
			c.g.emit(asm.StoreImm(rRec, int16(dst+t.Size-1), 0, asm.Byte))
		}
	case TTuple:
		for i := range t.Elems {
			c.convert(dst+t.Offs[i], t.Elems[i], src+st.Offs[i], st.Elems[i])
		}
	default:
		c.copy(dst, src, min(t.Size, st.Size))
	}
}

// storeStr writes a string of at most n bytes at dst, zero-padded.
func (c *checker) storeStr(dst, n int, e lang.Expr, et *Type) error {
	e = c.canon(e)
	switch x := e.(type) {
	case *lang.StrLit:
		c.literal(dst, n, x.Value)
		return nil
	case *lang.Param:
		if v, ok := c.param(x); ok && v.isStr {
			c.literal(dst, n, v.s)
			return nil
		}
	case *lang.Ident:
		switch x.Name {
		case "comm":
			if n > 16 {
				c.zero(dst+16, n-16) // the helper writes (and pads) the first 16
			}
			if n >= 16 {
				c.g.commAt(dst)
				return nil
			}
			c.g.emit(
				asm.Mov.Reg(asm.R1, rRec),
				asm.Add.Imm(asm.R1, int32(dst)),
				asm.Mov.Imm(asm.R2, int32(min(n, 16))),
				asm.FnGetCurrentComm.Call(),
			)
			return nil
		case "probe", "func":
			c.literal(dst, n, c.constString(x.Name))
			return nil
		case "pcomm", "leader_comm":
			path := "real_parent.comm"
			if x.Name == "leader_comm" {
				path = "group_leader.comm"
			}
			f, r, err := resolve.TaskField(x.Name, path)
			if err != nil {
				return c.errorf(x.P, "%s: %v", x.Name, err)
			}
			c.zero(dst, n)
			f.Size = min(f.Size, n)
			return c.g.field(&f, r, dst)
		}
	case *lang.Call:
		switch x.Name {
		case "str":
			return c.str(dst, n, x)
		case "getopt":
			v, err := c.getopt(x)
			if err != nil {
				return err
			}
			c.literal(dst, n, v.s)
			return nil
		}
	}
	if !located(e) {
		return c.unsupported(e)
	}
	src, st, err := c.valueAt(e)
	if err != nil {
		return err
	}
	c.convert(dst, strType(n), src, st)
	return nil
}

// literal stores s, cut to n-1 bytes, NUL-padded to n bytes.
func (c *checker) literal(dst, n int, s string) {
	b := make([]byte, n)
	copy(b[:n-1], s)
	i := 0
	for ; i+8 <= n; i += 8 {
		v := int64(le64(b[i:]))
		if v == int64(int32(v)) {
			c.g.emit(c.stImm64(int16(dst+i), v)...)
		} else {
			c.g.emit(asm.LoadImm(asm.R1, v, asm.DWord), asm.StoreMem(rRec, int16(dst+i), asm.R1, asm.DWord))
		}
	}
	for ; i < n; i++ {
		c.g.emit(asm.StoreImm(rRec, int16(dst+i), int64(b[i]), asm.Byte))
	}
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// str emits str(x[, n]) into dst (n bytes).
func (c *checker) str(dst, n int, call *lang.Call) error {
	t, err := c.typeOf(call.Args[0])
	if err != nil {
		return err
	}
	size := n
	if len(call.Args) == 2 {
		if lit, ok := c.constInt(call.Args[1]); ok {
			size = min(n, max(int(lit), 1))
		} else {
			return c.errorf(call.Args[1].Position(), "str()'s length must be an integer literal")
		}
	}
	if p, ok := call.Args[0].(*lang.Param); ok && p.N > 0 && p.N <= len(c.s.Params) {
		c.literal(dst, n, c.s.Params[p.N-1][:min(len(c.s.Params[p.N-1]), size-1)])
		return nil
	}
	if t.Kind == TStr {
		if err := c.storeStr(dst, n, call.Args[0], t); err != nil {
			return err
		}
		if size < n {
			c.zero(dst+size-1, n-size+1)
		}
		return nil
	}
	if !t.isInt() {
		return c.errorf(call.Args[0].Position(), "str() expects an integer or a string argument, got %s", t)
	}
	if err := c.intExpr(call.Args[0]); err != nil {
		return err
	}
	fn := asm.FnProbeReadKernelStr
	if c.userSpace() {
		fn = asm.FnProbeReadUserStr
	}
	c.zero(dst, n)
	c.g.emit(
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, int32(dst)),
		asm.Mov.Imm(asm.R2, int32(size)),
		fn.Call(),
	)
	return nil
}

// userSpace reports whether pointers in the probe's context point into
// user memory.
func (c *checker) userSpace() bool {
	if c.sp.Probe == nil {
		return false
	}
	switch c.sp.Probe.Target.Kind {
	case resolve.TargetUprobe, resolve.TargetUretprobe, resolve.TargetUSDT:
		return true
	case resolve.TargetTracepoint:
		return c.sp.Probe.Target.Category == "syscalls"
	}
	return false
}

// located reports whether valueAt finds or builds e's value by itself
// (rather than through store, which would call it back).
func located(e lang.Expr) bool {
	switch x := e.(type) {
	case *lang.Var, *lang.MapExpr, *lang.Field, *lang.Index, *lang.Ternary:
		return true
	case *lang.Unary:
		return x.Op == "*"
	case *lang.Call:
		return x.Name == "strftime"
	}
	return false
}

// valueAt materializes a string or tuple value in scratch.
func (c *checker) valueAt(e lang.Expr) (int, *Type, error) {
	e = c.canon(e)
	t, err := c.typeOf(e)
	if err != nil {
		return 0, nil, err
	}
	if !t.isInt() && c.reaches(e) {
		l, mt, _, err := c.locate(e)
		if err != nil {
			return 0, nil, err
		}
		return c.readBlob(l, mt), mt, nil
	}
	switch x := e.(type) {
	case *lang.Var:
		v := c.lookupVar(x.Name)
		return v.off, v.t, nil
	case *lang.MapExpr:
		m, err := c.mapOf(x)
		if err != nil {
			return 0, nil, err
		}
		m.readIn = true
		keyOff, err := c.key(m, x)
		if err != nil {
			return 0, nil, err
		}
		off := c.alloc(t.Size)
		c.lookup(m, keyOff)
		found, done := c.g.label("found"), c.g.label("done")
		c.g.emit(asm.JNE.Imm(asm.R0, 0, found))
		c.zero(off, t.Size)
		c.g.emit(
			asm.Ja.Label(done),
			asm.Mov.Reg(asm.R1, rRec).WithSymbol(found),
			asm.Add.Imm(asm.R1, int32(off)),
			asm.Mov.Imm(asm.R2, int32(t.Size)),
			asm.Mov.Reg(asm.R3, asm.R0),
			asm.FnProbeReadKernel.Call(),
			asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done),
		)
		return off, t, nil
	case *lang.Field:
		if id, ok := x.X.(*lang.Ident); ok && id.Name == "args" {
			off := c.alloc(t.Size)
			return off, t, c.readField(x.Name, off)
		}
		src, st, err := c.valueAt(x.X)
		if err != nil {
			return 0, nil, err
		}
		i := elemIndex(st, x.Name)
		return src + st.Offs[i], t, nil
	case *lang.Index:
		src, st, err := c.valueAt(x.X)
		if err != nil {
			return 0, nil, err
		}
		n, _ := c.constInt(x.Index)
		return src + st.Offs[n], t, nil
	case *lang.Ternary:
		off := c.alloc(t.Size)
		if err := c.condition(x.Cond); err != nil {
			return 0, nil, err
		}
		elseL, end := c.g.label("else"), c.g.label("fi")
		c.g.emit(asm.JEq.Imm(asm.R0, 0, elseL))
		if err := c.store(off, t, x.Then); err != nil {
			return 0, nil, err
		}
		c.g.emit(asm.Ja.Label(end), asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(elseL))
		if err := c.store(off, t, x.Else); err != nil {
			return 0, nil, err
		}
		c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end))
		return off, t, nil
	case *lang.Call:
		if x.Name == "strftime" {
			return c.strftime(x, t)
		}
	}
	if t.isInt() {
		off := c.alloc(8)
		if err := c.intExpr(e); err != nil {
			return 0, nil, err
		}
		c.g.emit(asm.StoreMem(rRec, int16(off), asm.R0, asm.DWord))
		return off, t, nil
	}
	if located(e) {
		// store would ask valueAt back.
		return 0, nil, c.unsupported(e)
	}
	off := c.alloc(t.Size)
	return off, t, c.store(off, t, e)
}

// strftime stores the format's index and the time for user space.
func (c *checker) strftime(call *lang.Call, t *Type) (int, *Type, error) {
	if len(call.Args) != 2 {
		return 0, nil, c.errorf(call.P, "strftime() requires two arguments")
	}
	f, ok := call.Args[0].(*lang.StrLit)
	if !ok {
		return 0, nil, c.errorf(call.Args[0].Position(), "strftime() expects a string literal")
	}
	off := c.alloc(16)
	idx := slices.Index(c.s.Formats, f.Value)
	if idx < 0 {
		idx = len(c.s.Formats)
		c.s.Formats = append(c.s.Formats, f.Value)
	}
	c.g.emit(c.stImm64(int16(off), int64(idx))...)
	if err := c.intExpr(call.Args[1]); err != nil {
		return 0, nil, err
	}
	c.g.emit(asm.StoreMem(rRec, int16(off+8), asm.R0, asm.DWord))
	return off, t, nil
}

// readField copies a context field into scratch at off.
func (c *checker) readField(name string, off int) error {
	f := c.field(name)
	r := c.read(name)
	if r.Src == resolve.FromUserPtr || r.Src == resolve.FromKernelPtr || f.Kind == event.String {
		c.zero(off, f.Size)
	}
	return c.g.field(f, r, off)
}

// intExpr evaluates an integer expression into R0 (64 bits, sign- or
// zero-extended from its type).
func (c *checker) intExpr(e lang.Expr) error {
	e = c.canon(e)
	t, err := c.typeOf(e)
	if err != nil {
		return err
	}
	if !t.isInt() {
		return c.errorf(e.Position(), "expected an integer, got %s", t)
	}
	if c.reaches(e) {
		l, mt, bits, err := c.locate(e)
		if err != nil {
			return err
		}
		c.readInt(l, mt, bits)
		return nil
	}
	switch x := e.(type) {
	case *lang.IntLit:
		c.g.emit(asm.LoadImm(asm.R0, int64(x.Value), asm.DWord))
	case *lang.BoolLit:
		v := int32(0)
		if x.Value {
			v = 1
		}
		c.g.emit(asm.Mov.Imm(asm.R0, v))
	case *lang.Param:
		v, _ := c.param(x)
		c.g.emit(asm.LoadImm(asm.R0, v.n, asm.DWord))
	case *lang.Ident:
		return c.builtin(x)
	case *lang.Var:
		v := c.lookupVar(x.Name)
		if v.pending {
			// Read before any value: an int64 zero from now on.
			var err error
			if v, err = c.settle(x.Name, tS64, x.P); err != nil {
				return err
			}
			c.g.emit(asm.Mov.Imm(asm.R0, 0), c.storeSlot(v, asm.R0))
		}
		c.g.emit(c.loadSlot(asm.R0, v))
	case *lang.MapExpr:
		return c.mapValue(x)
	case *lang.Binary:
		return c.binary(x, t)
	case *lang.Unary:
		if x.Op == "&" {
			// A variable's address: its stack slot or its scratch bytes.
			v := c.lookupVar(x.X.(*lang.Var).Name)
			if v == nil {
				return c.errorf(x.P, "Undefined or undeclared variable: %s", x.X.(*lang.Var).Name)
			}
			if v.t.isInt() {
				c.g.emit(asm.Mov.Reg(asm.R0, c.frameOf(v)), asm.Add.Imm(asm.R0, int32(v.slot)))
			} else {
				c.g.emit(asm.Mov.Reg(asm.R0, rRec), asm.Add.Imm(asm.R0, int32(v.off)))
			}
			return nil
		}
		if err := c.intExpr(x.X); err != nil {
			return err
		}
		switch x.Op {
		case "-":
			c.g.emit(asm.Neg.Imm(asm.R0, 0))
		case "~":
			c.g.emit(asm.Xor.Imm(asm.R0, -1))
		case "!":
			c.boolOf(asm.JEq)
		}
	case *lang.Ternary:
		return c.ternaryInt(x)
	case *lang.Field:
		return c.fieldInt(x, t)
	case *lang.Index:
		src, st, err := c.valueAt(x.X)
		if err != nil {
			return err
		}
		if st.Kind == TStr {
			n, ok := c.constInt(x.Index)
			if !ok || n < 0 || int(n) >= st.Size {
				return c.errorf(x.Index.Position(), "string index must be a constant within the string")
			}
			c.g.emit(asm.LoadMemSX(asm.R0, rRec, int16(src+int(n)), asm.Byte))
			return nil
		}
		n, _ := c.constInt(x.Index)
		c.g.emit(asm.LoadMem(asm.R0, rRec, int16(src+st.Offs[n]), asm.DWord))
	case *lang.Cast:
		if xt, err := c.typeOf(x.X); err == nil && xt.Kind == TStr {
			off, _, err := c.valueAt(x.X)
			if err != nil {
				return err
			}
			c.g.emit(asm.LoadMem(asm.R0, rRec, int16(off), asm.Byte))
			c.boolOf(asm.JNE)
			return nil
		}
		if err := c.intExpr(x.X); err != nil {
			return err
		}
		c.narrow(t)
	case *lang.Call:
		return c.callInt(x, t)
	case *lang.Offsetof:
		n, err := c.offsetof(x)
		if err != nil {
			return err
		}
		c.g.emit(asm.Mov.Imm(asm.R0, int32(n)))
	case *lang.Sizeof:
		var n int
		if x.Type != nil {
			it, ok := intTypes[x.Type.Name]
			switch {
			case x.Type.Ptr > 0:
				n = 8
			case ok:
				n = max(it.Width, 1)
			default:
				st, err := c.s.namedType(x.Type.Name)
				if err != nil {
					return c.unknownType(x.P, x.Type.Name)
				}
				n = st.Size
			}
			if x.Type.Array > 0 {
				n *= x.Type.Array
			}
		} else if id, ok := x.X.(*lang.Ident); ok && intTypes[id.Name] != nil && c.builtinType(id.Name) == nil {
			n = max(intTypes[id.Name].Width, 1)
		} else {
			st, err := c.typeOf(x.X)
			if err != nil {
				return err
			}
			n = st.Size
			if st.Kind == TInt {
				n = st.Width
			}
		}
		c.g.emit(asm.Mov.Imm(asm.R0, int32(n)))
	case *lang.AssignExpr:
		return c.assignExpr(x.Assign)
	case *lang.BlockExpr:
		c.scopes = append(c.scopes, map[string]*variable{})
		defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
		for _, st := range x.Block.Stmts {
			if err := c.stmt(st); err != nil {
				return err
			}
		}
		return c.intExpr(x.Block.Result)
	default:
		return c.errorf(e.Position(), "this expression is not supported yet")
	}
	return nil
}

// narrow truncates R0 to t's width, sign-extending signed types.
func (c *checker) narrow(t *Type) {
	if t.Kind == TBool {
		c.boolOf(asm.JNE)
		return
	}
	switch {
	case t.Width == 8:
	case t.Signed:
		sh := int32(64 - 8*t.Width)
		c.g.emit(asm.LSh.Imm(asm.R0, sh), asm.ArSh.Imm(asm.R0, sh))
	case t.Width == 4:
		c.g.emit(asm.Mov.Reg32(asm.R0, asm.R0))
	default:
		c.g.emit(asm.And.Imm(asm.R0, int32(1)<<(8*t.Width)-1))
	}
}

// boolOf sets R0 to 1 when `R0 op 0`, else 0.
func (c *checker) boolOf(op asm.JumpOp) {
	l := c.g.label("bool")
	c.g.emit(
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Imm(asm.R0, 1),
		op.Imm(asm.R1, 0, l),
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(l),
	)
}

func (c *checker) builtin(x *lang.Ident) error {
	if n := strings.TrimPrefix(x.Name, "__builtin_"); n != x.Name {
		x = &lang.Ident{P: x.P, Name: n}
	}
	switch x.Name {
	case "pid":
		c.g.emit(asm.Mov.Reg(asm.R0, rPidTgd), asm.RSh.Imm(asm.R0, 32))
	case "tid":
		c.g.emit(asm.Mov.Reg32(asm.R0, rPidTgd))
	case "uid", "gid":
		c.g.emit(asm.FnGetCurrentUidGid.Call())
		if x.Name == "gid" {
			c.g.emit(asm.RSh.Imm(asm.R0, 32))
		} else {
			c.g.emit(asm.Mov.Reg32(asm.R0, asm.R0))
		}
	case "cpu":
		c.g.emit(asm.FnGetSmpProcessorId.Call())
	case "username":
		c.g.emit(asm.FnGetCurrentUidGid.Call(), asm.Mov.Reg32(asm.R0, asm.R0))
	case "numaid":
		c.g.emit(asm.FnGetNumaNodeId.Call())
	case "cpid":
		c.g.emit(
			asm.LoadMapValue(asm.R1, c.fd(c.maps.Globals), 16),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
		)
	case "usermode":
		// begin and end run from bpftrail's own call, user probes in user
		// code; the others in the kernel.
		v := int32(0)
		if c.sp.Special != NotSpecial || c.userSpace() && c.sp.Probe.Target.Kind != resolve.TargetTracepoint {
			v = 1
		}
		c.g.emit(asm.Mov.Imm(asm.R0, v))
	case "rand":
		c.g.emit(asm.FnGetPrandomU32.Call())
	case "cgroup":
		c.g.emit(asm.FnGetCurrentCgroupId.Call())
	case "nsecs":
		c.g.emit(asm.FnKtimeGetNs.Call())
	case "elapsed":
		c.g.emit(
			asm.FnKtimeGetNs.Call(),
			asm.LoadMapValue(asm.R1, c.fd(c.maps.Globals), 0),
			asm.LoadMem(asm.R1, asm.R1, 0, asm.DWord),
			asm.Sub.Reg(asm.R0, asm.R1),
		)
	case "jiffies":
		c.g.emit(asm.FnJiffies64.Call())
	case "curtask":
		c.g.emit(asm.FnGetCurrentTask.Call())
	case "ppid":
		f, r, err := resolve.TaskField("ppid", "real_parent.tgid")
		if err != nil {
			return c.errorf(x.P, "ppid: %v", err)
		}
		off := c.alloc(8)
		if err := c.g.field(&f, r, off); err != nil {
			return err
		}
		c.loadInt(off, f.Size, true)
	case "ncpus":
		c.g.emit(
			asm.LoadMapValue(asm.R1, c.fd(c.maps.Globals), 8),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
		)
	default:
		if v, ok := c.enumValue(x.Name); ok && c.builtinType(x.Name) == nil {
			c.g.emit(asm.LoadImm(asm.R0, v, asm.DWord))
			return nil
		}
		if f := c.field(x.Name); f != nil && (x.Name == "retval" || strings.HasPrefix(x.Name, "arg")) {
			off := c.alloc(8)
			if err := c.readField(x.Name, off); err != nil {
				return err
			}
			c.loadInt(off, f.Size, f.Signed)
			return nil
		}
		return c.errorf(x.P, "Unknown identifier: '%s'", x.Name)
	}
	return nil
}

// loadInt loads an integer of size bytes at scratch off into R0.
func (c *checker) loadInt(off, size int, signed bool) {
	if signed && size < 8 {
		c.g.emit(asm.LoadMemSX(asm.R0, rRec, int16(off), sizeOf(size)))
		return
	}
	c.g.emit(asm.LoadMem(asm.R0, rRec, int16(off), sizeOf(size)))
}

func (c *checker) fieldInt(x *lang.Field, t *Type) error {
	if id, ok := x.X.(*lang.Ident); ok && id.Name == "args" {
		f := c.field(x.Name)
		off := c.alloc(8)
		if err := c.readField(x.Name, off); err != nil {
			return err
		}
		c.loadInt(off, f.Size, f.Signed)
		return nil
	}
	src, st, err := c.valueAt(x.X)
	if err != nil {
		return err
	}
	c.g.emit(asm.LoadMem(asm.R0, rRec, int16(src+st.Offs[elemIndex(st, x.Name)]), asm.DWord))
	return nil
}

// elemIndex is the index of a tuple's element (.0) or a record's field
// (.name).
func elemIndex(t *Type, name string) int {
	for i, n := range t.Names {
		if n == name {
			return i
		}
	}
	i := 0
	fmt.Sscan(name, &i)
	return i
}

// mapValue loads @m[k] (0 when absent) into R0.
func (c *checker) mapValue(x *lang.MapExpr) error {
	m, err := c.mapOf(x)
	if err != nil {
		return err
	}
	m.readIn = true
	keyOff, err := c.key(m, x)
	if err != nil {
		return err
	}
	c.lookup(m, keyOff)
	done := c.g.label("val")
	c.g.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R0, 0), asm.JEq.Imm(asm.R1, 0, done))
	switch m.Kind {
	case scriptout.Avg:
		c.g.emit(
			asm.LoadMem(asm.R0, asm.R1, 8, asm.DWord),
			asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord),
			asm.JEq.Imm(asm.R2, 0, done),
			asm.Div.Reg(asm.R0, asm.R2),
		)
	default:
		c.g.emit(asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord))
	}
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done))
	return nil
}

var cmpOps = map[string][2]asm.JumpOp{
	"==": {asm.JEq, asm.JEq}, "!=": {asm.JNE, asm.JNE},
	"<": {asm.JLT, asm.JSLT}, "<=": {asm.JLE, asm.JSLE}, ">": {asm.JGT, asm.JSGT}, ">=": {asm.JGE, asm.JSGE},
}

func (c *checker) binary(x *lang.Binary, t *Type) error {
	if x.Op == "&&" || x.Op == "||" {
		return c.logical(x)
	}
	xt, _ := c.typeOf(x.X)
	yt, _ := c.typeOf(x.Y)
	if xt.Kind == TStr {
		return c.strCompare(x, xt, yt)
	}
	if xt.Kind == TTuple || xt.Kind == TBuf || xt.Kind == TStruct || xt.Kind == TArray {
		return c.bytesCompare(x, xt, yt)
	}
	slot, err := c.intToSlot(x.X, x.P)
	if err != nil {
		return err
	}
	if err := c.intExpr(x.Y); err != nil {
		return err
	}
	c.g.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.LoadMem(asm.R0, asm.RFP, slot, asm.DWord))
	if (x.Op == "+" || x.Op == "-") && (xt.Ptr > 1) != (yt.Ptr > 1) {
		// Pointer arithmetic counts in elements.
		if xt.Ptr > 1 {
			c.g.emit(asm.Mul.Imm(asm.R1, int32(xt.Ptr)))
		} else {
			c.g.emit(asm.Mul.Imm(asm.R0, int32(yt.Ptr)))
		}
	}
	signed := xt.Signed && yt.Signed || xt.Signed && isLit(x.Y) || yt.Signed && isLit(x.X)
	if ops, ok := cmpOps[x.Op]; ok {
		op := ops[0]
		if signed {
			op = ops[1]
		}
		l := c.g.label("cmp")
		c.g.emit(
			asm.Mov.Reg(asm.R2, asm.R0),
			asm.Mov.Imm(asm.R0, 1),
			op.Reg(asm.R2, asm.R1, l),
			asm.Mov.Imm(asm.R0, 0),
			asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(l),
		)
		return nil
	}
	alu := map[string]asm.ALUOp{"+": asm.Add, "-": asm.Sub, "*": asm.Mul, "/": asm.Div, "%": asm.Mod,
		"&": asm.And, "|": asm.Or, "^": asm.Xor, "<<": asm.LSh, ">>": asm.RSh}
	op, ok := alu[x.Op]
	if !ok {
		return c.errorf(x.P, "unknown operator %s", x.Op)
	}
	if signed {
		switch op {
		case asm.Div:
			op = asm.SDiv
		case asm.Mod:
			op = asm.SMod
		case asm.RSh:
			op = asm.ArSh
		}
	}
	if op == asm.Div || op == asm.Mod || op == asm.SDiv || op == asm.SMod {
		// bpftrace makes x / 0 and x % 0 give 1 (BPF would give 0 and x),
		// and says so at run time.
		ok, done := c.g.label("div"), c.g.label("divd")
		c.g.emit(asm.JNE.Imm(asm.R1, 0, ok))
		ev := c.newEvent(&ScriptEvent{Kind: EvDivZero, Args: tupleType(nil), P: x.P})
		c.send(ev, c.alloc(ev.Size()))
		c.g.emit(
			asm.Mov.Imm(asm.R0, 1),
			asm.Ja.Label(done),
			op.Reg(asm.R0, asm.R1).WithSymbol(ok),
			asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done),
		)
		return nil
	}
	c.g.emit(op.Reg(asm.R0, asm.R1))
	return nil
}

func (c *checker) logical(x *lang.Binary) error {
	short, end := c.g.label("sc"), c.g.label("lend")
	stop := asm.JEq // &&: stop at the first false
	res := int32(0)
	if x.Op == "||" {
		stop, res = asm.JNE, 1
	}
	for _, e := range []lang.Expr{x.X, x.Y} {
		if err := c.intExpr(e); err != nil {
			return err
		}
		c.g.emit(stop.Imm(asm.R0, 0, short))
	}
	c.g.emit(
		asm.Mov.Imm(asm.R0, 1-res),
		asm.Ja.Label(end),
		asm.Mov.Imm(asm.R0, res).WithSymbol(short),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end),
	)
	return nil
}

// strCompare compares two strings up to the first NUL.
func (c *checker) strCompare(x *lang.Binary, xt, yt *Type) error {
	a, b := x.X, x.Y
	if _, ok := a.(*lang.StrLit); ok {
		a, b = b, a
	}
	aoff, at, err := c.valueAt(a)
	if err != nil {
		return err
	}
	ne, eq, end := c.g.label("sne"), c.g.label("seq"), c.g.label("send")
	if lit, ok := b.(*lang.StrLit); ok {
		s := lit.Value + "\x00"
		for i := 0; i < len(s) && i < at.Size; i++ {
			c.g.emit(
				asm.LoadMem(asm.R1, rRec, int16(aoff+i), asm.Byte),
				asm.JNE.Imm(asm.R1, int32(s[i]), ne),
			)
		}
		if len(s) > at.Size {
			c.g.emit(asm.Ja.Label(ne))
		}
	} else {
		boff, bt, err := c.valueAt(b)
		if err != nil {
			return err
		}
		for i := 0; i < min(at.Size, bt.Size); i++ {
			c.g.emit(
				asm.LoadMem(asm.R1, rRec, int16(aoff+i), asm.Byte),
				asm.LoadMem(asm.R2, rRec, int16(boff+i), asm.Byte),
				asm.JNE.Reg(asm.R1, asm.R2, ne),
				asm.JEq.Imm(asm.R1, 0, eq),
			)
		}
	}
	yes, no := int32(1), int32(0)
	if x.Op == "!=" {
		yes, no = 0, 1
	}
	c.g.emit(
		asm.Mov.Imm(asm.R0, yes).WithSymbol(eq),
		asm.Ja.Label(end),
		asm.Mov.Imm(asm.R0, no).WithSymbol(ne),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end),
	)
	return nil
}

func (c *checker) ternaryInt(x *lang.Ternary) error {
	if x.Then == nil {
		// a ?: b
		if err := c.intExpr(x.Cond); err != nil {
			return err
		}
		end := c.g.label("elv")
		c.g.emit(asm.JNE.Imm(asm.R0, 0, end))
		if err := c.intExpr(x.Else); err != nil {
			return err
		}
		c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end))
		return nil
	}
	if err := c.condition(x.Cond); err != nil {
		return err
	}
	elseL, end := c.g.label("else"), c.g.label("fi")
	c.g.emit(asm.JEq.Imm(asm.R0, 0, elseL))
	if err := c.intExpr(x.Then); err != nil {
		return err
	}
	c.g.emit(asm.Ja.Label(end), asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(elseL))
	if err := c.intExpr(x.Else); err != nil {
		return err
	}
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end))
	return nil
}

func (c *checker) callInt(x *lang.Call, t *Type) error {
	switch x.Name {
	case "has_key":
		if len(x.Args) != 2 {
			return c.errorf(x.P, "has_key() requires 2 arguments (%d provided)", len(x.Args))
		}
		me, ok := x.Args[0].(*lang.MapExpr)
		if !ok || me.Key != nil {
			return c.errorf(x.P, "has_key() expects a map argument")
		}
		if m, err := c.wholeMap(me); err == nil && m.Key == nil {
			return c.errorf(x.P, "call to has_key() expects a map with explicit keys (non-scalar map)")
		}
		m, err := c.mapOf(&lang.MapExpr{P: me.P, Name: me.Name, Key: x.Args[1]})
		if err != nil {
			return err
		}
		m.readIn = true
		keyOff, err := c.key(m, &lang.MapExpr{P: me.P, Name: me.Name, Key: x.Args[1]})
		if err != nil {
			return err
		}
		c.lookup(m, keyOff)
		c.boolOf(asm.JNE)
		return nil
	case "bswap":
		if err := c.intExpr(x.Args[0]); err != nil {
			return err
		}
		at, _ := c.typeOf(x.Args[0])
		if at.Width > 1 {
			c.g.emit(asm.BSwap(asm.R0, sizeOf(at.Width)))
		}
		return nil
	case "nsecs", "pid", "tid":
		return c.builtin(&lang.Ident{P: x.P, Name: x.Name})
	case "delete":
		if err := c.deleteCall(x); err != nil {
			return err
		}
		c.boolOf(asm.JEq)
		return nil
	case "getopt":
		v, err := c.getopt(x)
		if err != nil {
			return err
		}
		c.g.emit(asm.LoadImm(asm.R0, v.n, asm.DWord))
		return nil
	case "syscall_name", "strerror", "signal_name", "cgroup_path":
		// The number; user space shows its name.
		return c.intExpr(x.Args[0])
	case "kaddr":
		name := ""
		switch a := x.Args[0].(type) {
		case *lang.StrLit:
			name = a.Value
		case *lang.Param:
			if a.N > 0 && a.N <= len(c.s.Params) {
				name = c.s.Params[a.N-1]
			}
		}
		if len(x.Args) != 1 || name == "" {
			return c.errorf(x.P, "kaddr() expects a symbol name as a string literal")
		}
		addr, err := kernelSymbol(name)
		if err != nil {
			return c.errorf(x.P, "Failed to resolve kernel symbol: %s", name)
		}
		c.g.emit(asm.LoadImm(asm.R0, int64(addr), asm.DWord))
		return nil
	case "strlen":
		return c.strlen(x)
	case "len":
		return c.mapLen(x)
	case "strncmp":
		return c.strncmp(x)
	case "strcontains":
		return c.strcontains(x)
	}
	if c.builtinType(x.Name) != nil && len(x.Args) == 0 {
		return c.builtin(&lang.Ident{P: x.P, Name: x.Name})
	}
	return c.errorf(x.P, "%s() cannot be used as a value here", x.Name)
}

// assignExpr emits an assignment used as a value: the new value, or the
// old one for x++ and x--.
func (c *checker) assignExpr(a *lang.Assign) error {
	if a.Post {
		slot, err := c.intToSlot(a.Target, a.P)
		if err != nil {
			return err
		}
		if err := c.assign(a); err != nil {
			return err
		}
		c.g.emit(asm.LoadMem(asm.R0, asm.RFP, slot, asm.DWord))
		return nil
	}
	if err := c.assign(a); err != nil {
		return err
	}
	return c.intExpr(a.Target)
}

// Program emits the program of probe i, once the session has created the
// maps (fds by map index) and the shared ones (m; m.Globals holds the
// start time and the CPU count).
func (s *Script) Program(i int, maps []*ebpf.Map, m Maps) (spec *ebpf.ProgramSpec, err error) {
	defer func() {
		if r := recover(); r != nil {
			spec, err = nil, fmt.Errorf("internal error generating %s (please report it): %v", s.Probes[i].Name, r)
		}
	}()
	onStack := s.layouts[i].onStack()
	spec, err = s.program(i, maps, m, onStack)
	if err == errMisaligned {
		spec, err = s.program(i, maps, m, false)
	}
	return spec, err
}

// errMisaligned says a program's scratch accesses cannot all live on the
// stack, where the verifier wants them aligned.
var errMisaligned = errors.New("misaligned scratch access")

func (s *Script) program(i int, maps []*ebpf.Map, m Maps, onStack bool) (*ebpf.ProgramSpec, error) {
	sp := &s.Probes[i]
	c := &checker{s: s, sp: sp, emit: true, maps: m, nextEvent: s.firstEvent[i]}
	c.fds = make([]int, len(maps))
	for j, mp := range maps {
		c.fds[j] = mp.FD()
	}
	c.varSlotBase, c.tmpScratchBase = s.layouts[i].varSlots, s.layouts[i].varBytes
	c.stackScratch = onStack
	events := s.Events
	c.s.Events = nil
	err := c.probe(s.Prog.Probes[sp.Block])
	s.Events = events
	if err != nil {
		return nil, err
	}
	if onStack && !alignedScratch(c.g.insns) {
		return nil, errMisaligned
	}
	typ := ebpf.RawTracepoint
	var p *resolve.Probe = sp.Probe
	name := "begin"
	if sp.Special == End {
		name = "end"
	}
	if p != nil {
		typ = ProgramType(p.Target)
		name = progName(sp.Name)
	}
	insns := withoutUnusedPid(reachable(c.g.insns))
	if len(c.callbacks) > 0 {
		// With functions besides the program, the kernel wants BTF for
		// each of them.
		insns[0] = btf.WithFuncMetadata(insns[0], funcInfo("probe", 1))
		for i, ins := range insns {
			if slices.Contains(c.funcs, ins.Symbol()) {
				insns[i] = btf.WithFuncMetadata(ins, funcInfo(ins.Symbol(), 4))
			}
		}
	}
	return &ebpf.ProgramSpec{Name: name, Type: typ, License: "GPL", Instructions: insns}, nil
}

// checkFormat checks printf's arguments against its format.
func checkFormat(c *checker, call *lang.Call, f *lang.StrLit, types []*Type) error {
	format, err := scriptout.ParseFormat(f.Value)
	if err != nil {
		return c.errorf(f.P, "%v", err)
	}
	args := make([]scriptout.ArgType, len(types))
	for i, t := range types {
		args[i] = scriptout.ArgType{Class: scriptout.ArgOther, Name: t.String()}
		switch t.Kind {
		case TInt:
			args[i].Class = scriptout.ArgInt
		case TBool:
			args[i].Class = scriptout.ArgBool
		case TBuf:
			args[i].Class = scriptout.ArgBuffer
		case TNone:
			args[i].Class = scriptout.ArgNone
		}
	}
	if err := format.Check(args); err != nil {
		return c.errorf(call.P, "%v", err)
	}
	return nil
}

// reachable drops the instructions no path reaches (code after a return
// or an exit(), say), which the verifier refuses.
func reachable(insns asm.Instructions) asm.Instructions {
	at := map[string]int{}
	for i, ins := range insns {
		if sym := ins.Symbol(); sym != "" {
			at[sym] = i
		}
	}
	seen := make([]bool, len(insns))
	work := []int{0}
	// Loop callbacks are reached through the function references that
	// pass them to their helpers.
	for _, ins := range insns {
		if ins.IsLoadOfFunctionPointer() {
			if t, ok := at[ins.Reference()]; ok {
				work = append(work, t)
			}
		}
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		if i >= len(insns) || seen[i] {
			continue
		}
		seen[i] = true
		ins := insns[i]
		op := ins.OpCode
		if op.Class().IsJump() {
			switch op.JumpOp() {
			case asm.Exit:
				continue
			case asm.Call:
				work = append(work, i+1)
				continue
			case asm.Ja:
				if t, ok := at[ins.Reference()]; ok {
					work = append(work, t)
				}
				continue
			}
			if t, ok := at[ins.Reference()]; ok {
				work = append(work, t)
			}
		}
		work = append(work, i+1)
	}
	out := make(asm.Instructions, 0, len(insns))
	for i, ins := range insns {
		if seen[i] {
			out = append(out, ins)
		}
	}
	return out
}

// joinArgs and joinSize bound join(): the strings read from the array of
// pointers, and the bytes kept of each.
const (
	joinArgs = 16
	joinSize = 64
)

// join sends the strings of a NULL-terminated array of pointers (argv),
// read from user memory, for user space to print joined by a delimiter.
func (c *checker) join(call *lang.Call) error {
	if len(call.Args) < 1 || len(call.Args) > 2 {
		return c.errorf(call.P, "join() requires 1 or 2 arguments (%d provided)", len(call.Args))
	}
	delim := " "
	if len(call.Args) == 2 {
		d, ok := call.Args[1].(*lang.StrLit)
		if !ok {
			return c.errorf(call.Args[1].Position(), "join()'s delimiter must be a string literal")
		}
		delim = d.Value
	}
	t, err := c.typeOf(call.Args[0])
	if err != nil {
		return err
	}
	if !t.isInt() {
		return c.errorf(call.Args[0].Position(), "join() expects a pointer to an array of strings, got %s", t)
	}
	types := make([]*Type, joinArgs)
	for i := range types {
		types[i] = strType(joinSize)
	}
	ev := c.newEvent(&ScriptEvent{Kind: EvJoin, Format: delim, Args: tupleType(types), P: call.P})
	slot, err := c.intToSlot(call.Args[0], call.P)
	if err != nil {
		return err
	}
	rec := c.alloc(ev.Size())
	c.zero(rec+scriptHeader, ev.Args.Size)
	done := c.g.label("joined")
	fn := asm.FnProbeReadUser
	fnStr := asm.FnProbeReadUserStr
	if !c.userSpace() {
		fn, fnStr = asm.FnProbeReadKernel, asm.FnProbeReadKernelStr
	}
	for i := range joinArgs {
		c.g.emit(
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, -24),
			asm.Mov.Imm(asm.R2, 8),
			asm.LoadMem(asm.R3, asm.RFP, slot, asm.DWord),
			asm.Add.Imm(asm.R3, int32(8*i)),
			fn.Call(),
			asm.JNE.Imm(asm.R0, 0, done),
			asm.LoadMem(asm.R3, asm.RFP, -24, asm.DWord),
			asm.JEq.Imm(asm.R3, 0, done),
			asm.Mov.Reg(asm.R1, rRec),
			asm.Add.Imm(asm.R1, int32(rec+scriptHeader+ev.Args.Offs[i])),
			asm.Mov.Imm(asm.R2, joinSize),
			fnStr.Call(),
		)
	}
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(done))
	c.send(ev, rec)
	return nil
}

// strArgs materializes the string arguments of a call.
func (c *checker) strArgs(x *lang.Call, n int) ([]int, []*Type, error) {
	if len(x.Args) != n {
		return nil, nil, c.errorf(x.P, "%s() requires %d arguments (%d provided)", x.Name, n, len(x.Args))
	}
	offs := make([]int, n)
	types := make([]*Type, n)
	for i, a := range x.Args {
		t, err := c.typeOf(a)
		if err != nil {
			return nil, nil, err
		}
		if t.Kind != TStr {
			return nil, nil, c.errorf(a.Position(), "%s() expects string arguments, got %s", x.Name, t)
		}
		if offs[i], types[i], err = c.valueAt(a); err != nil {
			return nil, nil, err
		}
	}
	return offs, types, nil
}

// strlen counts the bytes before the first NUL.
func (c *checker) strlen(x *lang.Call) error {
	offs, types, err := c.strArgs(x, 1)
	if err != nil {
		return err
	}
	done := c.g.label("strlen")
	c.g.emit(asm.Mov.Imm(asm.R0, 0))
	for i := range types[0].Size {
		c.g.emit(
			asm.LoadMem(asm.R1, rRec, int16(offs[0]+i), asm.Byte),
			asm.JEq.Imm(asm.R1, 0, done),
			asm.Mov.Imm(asm.R0, int32(i+1)),
		)
	}
	c.g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done))
	return nil
}

// strcontains reports whether the first string holds the second.
func (c *checker) strcontains(x *lang.Call) error {
	offs, types, err := c.strArgs(x, 2)
	if err != nil {
		return err
	}
	h, n := offs[0], offs[1]
	hs, ns := types[0].Size, types[1].Size
	if lit, ok := x.Args[1].(*lang.StrLit); ok {
		ns = len(lit.Value) + 1
	}
	if hs*ns > 16384 {
		return c.errorf(x.P, "strcontains() of strings this long (%d and %d bytes) is not supported", hs, ns)
	}
	found, end := c.g.label("found"), c.g.label("scend")
	for start := range hs {
		next := c.g.label("next")
		for j := 0; j < ns; j++ {
			c.g.emit(
				asm.LoadMem(asm.R2, rRec, int16(n+j), asm.Byte),
				asm.JEq.Imm(asm.R2, 0, found),
			)
			if start+j >= hs {
				c.g.emit(asm.Ja.Label(next))
				break
			}
			c.g.emit(
				asm.LoadMem(asm.R1, rRec, int16(h+start+j), asm.Byte),
				asm.JNE.Reg(asm.R1, asm.R2, next),
			)
		}
		c.g.emit(asm.Ja.Label(found))
		// The haystack ends here: no later start can match.
		c.g.emit(
			asm.LoadMem(asm.R1, rRec, int16(h+start), asm.Byte).WithSymbol(next),
			asm.JEq.Imm(asm.R1, 0, end),
		)
	}
	c.g.emit(
		asm.Mov.Imm(asm.R0, 0).WithSymbol(end),
		asm.Ja.Label(end+"x"),
		asm.Mov.Imm(asm.R0, 1).WithSymbol(found),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end+"x"),
	)
	return nil
}

// callback builds body as a loop callback named name: prologue (this
// CPU's scratch area in rRec, the pid in rPidTgd, the program's frame
// pointer in rFrame from the callback's context argument), then enter
// (which binds the loop variable from the callback's arguments, saved at
// fp-8 and fp-16), the body, and the returns: 0 to go on, 1 to stop
// (break, return, exit()).
func (c *checker) callback(name string, ctxArg asm.Register, args [2]asm.Register, enter func() error, body *lang.Block) error {
	if c.frame > 0 {
		return c.errorf(body.P, "loops run by a helper cannot be nested")
	}
	// return and exit() in the body end the probe: the callback sets a
	// flag in the program's frame that the program checks after the
	// helper returns.
	ret, err := c.allocSlot(body.P)
	if err != nil {
		return err
	}
	c.g.emit(asm.Mov.Imm(asm.R1, 0), asm.StoreMem(asm.RFP, ret, asm.R1, asm.DWord))
	c.retSlot = ret
	outer, outerLoops, outerExit := c.g.insns, c.loops, c.exit
	c.g.insns = nil
	c.frame, c.loops = 1, nil
	stop, next, quit := name+"_stop", name+"_next", name+"_ret"
	c.exit = quit
	defer func() {
		c.g.insns, c.frame, c.loops, c.exit = outer, 0, outerLoops, outerExit
	}()
	c.g.emit(
		asm.Mov.Reg(rFrame, ctxArg).WithSymbol(name),
		asm.StoreMem(asm.RFP, -8, args[0], asm.DWord),
		asm.StoreMem(asm.RFP, -16, args[1], asm.DWord),
		asm.FnGetCurrentPidTgid.Call(),
		asm.Mov.Reg(rPidTgd, asm.R0),
	)
	if c.emit {
		c.g.emit(
			asm.Mov.Imm(asm.R1, 0),
			asm.StoreMem(asm.RFP, -24, asm.R1, asm.Word),
			asm.LoadMapPtr(asm.R1, c.maps.Scratch.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -24),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, stop),
			asm.Mov.Reg(rRec, asm.R0),
		)
	}
	if err := enter(); err != nil {
		return err
	}
	c.loops = []loopLabels{{cont: next, brk: stop}}
	if err := c.block(body, true); err != nil {
		return err
	}
	c.g.emit(
		asm.Mov.Imm(asm.R0, 0).WithSymbol(next),
		asm.Return(),
		asm.Mov.Imm(asm.R1, 1).WithSymbol(quit),
		asm.StoreMem(rFrame, ret, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 1).WithSymbol(stop),
		asm.Return(),
	)
	c.callbacks = append(c.callbacks, c.g.insns...)
	c.funcs = append(c.funcs, name)
	return nil
}

// callHelperLoop emits the call of a looping helper: R1 and R4 set by
// before, R2 the callback, R3 the program's frame pointer.
func (c *checker) callHelperLoop(fn asm.BuiltinFunc, name string, before asm.Instructions) {
	c.g.emit(before...)
	c.g.emit(
		asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference(name),
		asm.Mov.Reg(asm.R3, asm.RFP),
		fn.Call(),
	)
	if c.retSlot != 0 {
		c.g.emit(
			asm.LoadMem(asm.R1, asm.RFP, c.retSlot, asm.DWord),
			asm.JNE.Imm(asm.R1, 0, c.exit),
		)
		c.retSlot = 0
	}
}

// forMap emits for ($kv : @m) with bpf_for_each_map_elem: $kv is the
// tuple (key, value).
func (c *checker) forMap(st *lang.For) error {
	m, err := c.wholeMap(st.Map)
	if err != nil {
		return err
	}
	if m.Kind == scriptout.Hist || m.Kind == scriptout.LHist || m.Kind == scriptout.Stats {
		return c.errorf(st.Map.P, "Loop expression does not support type: %s", kindName(m.Kind, m.Value))
	}
	if m.Key == nil {
		return c.errorf(st.Map.P, "Loop expression must be a map with keys")
	}
	m.readIn = true
	val := m.Value
	if m.Kind != scriptout.Plain {
		val = intType(8, m.Kind != scriptout.Count)
	}
	kv := tupleType([]*Type{m.Key, val})
	name := c.g.label("formap")
	c.scopes = append(c.scopes, map[string]*variable{})
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	err = c.callback(name, asm.R4, [2]asm.Register{asm.R2, asm.R3}, func() error {
		v, err := c.declare(st.Var.Name, kv, false, st.P)
		if err != nil {
			return err
		}
		c.g.emit(
			asm.Mov.Reg(asm.R1, rRec),
			asm.Add.Imm(asm.R1, int32(v.off)),
			asm.Mov.Imm(asm.R2, int32(m.Key.Size)),
			asm.LoadMem(asm.R3, asm.RFP, -8, asm.DWord),
			asm.FnProbeReadKernel.Call(),
			asm.LoadMem(asm.R3, asm.RFP, -16, asm.DWord),
		)
		if m.Kind == scriptout.Avg {
			c.g.emit(
				asm.LoadMem(asm.R0, asm.R3, 8, asm.DWord),
				asm.LoadMem(asm.R1, asm.R3, 0, asm.DWord),
				asm.Div.Reg(asm.R0, asm.R1),
				asm.StoreMem(rRec, int16(v.off+kv.Offs[1]), asm.R0, asm.DWord),
			)
			return nil
		}
		c.g.emit(
			asm.Mov.Reg(asm.R1, rRec),
			asm.Add.Imm(asm.R1, int32(v.off+kv.Offs[1])),
			asm.Mov.Imm(asm.R2, int32(val.Size)),
			asm.FnProbeReadKernel.Call(),
		)
		return nil
	}, st.Body)
	if err != nil {
		return err
	}
	c.callHelperLoop(asm.FnForEachMapElem, name, asm.Instructions{
		asm.LoadMapPtr(asm.R1, c.mapFD(m)),
		asm.Mov.Imm(asm.R4, 0),
	})
	return nil
}

// forRange emits for ($i : lo..hi) with bounds the verifier cannot follow
// through bpf_loop: the count is computed first, $i is lo + the index.
func (c *checker) forRange(st *lang.For) error {
	lo, err := c.intToSlot(st.From, st.P)
	if err != nil {
		return err
	}
	if err := c.intExpr(st.To); err != nil {
		return err
	}
	skip := c.g.label("norange")
	c.g.emit(
		asm.LoadMem(asm.R1, asm.RFP, lo, asm.DWord),
		asm.Sub.Reg(asm.R0, asm.R1),
		asm.JSLE.Imm(asm.R0, 0, skip),
	)
	loVar := &variable{slot: lo, frame: 0}
	name := c.g.label("forrange")
	c.scopes = append(c.scopes, map[string]*variable{})
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	err = c.callback(name, asm.R2, [2]asm.Register{asm.R1, asm.R2}, func() error {
		v, err := c.declare(st.Var.Name, tS64, false, st.P)
		if err != nil {
			return err
		}
		c.g.emit(
			asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
			c.loadSlot(asm.R1, loVar),
			asm.Add.Reg(asm.R0, asm.R1),
			c.storeSlot(v, asm.R0),
		)
		return nil
	}, st.Body)
	if err != nil {
		return err
	}
	c.callHelperLoop(asm.FnLoop, name, asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Imm(asm.R4, 0),
	})
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(skip))
	return nil
}

// funcInfo is the BTF of a generated function of n 64-bit arguments.
func funcInfo(name string, n int) *btf.Func {
	long := &btf.Int{Name: "long", Size: 8, Encoding: btf.Signed}
	params := make([]btf.FuncParam, n)
	for i := range params {
		params[i] = btf.FuncParam{Name: fmt.Sprintf("a%d", i), Type: long}
	}
	return &btf.Func{Name: name, Type: &btf.FuncProto{Return: long, Params: params}, Linkage: btf.StaticFunc}
}

// mapLen counts the elements of a map with bpf_for_each_map_elem.
func (c *checker) mapLen(x *lang.Call) error {
	if len(x.Args) != 1 {
		return c.errorf(x.P, "len() requires one argument (%d provided)", len(x.Args))
	}
	me, ok := x.Args[0].(*lang.MapExpr)
	if !ok || me.Key != nil {
		return c.errorf(x.P, "len() expects a map argument")
	}
	m, err := c.wholeMap(me)
	if err != nil {
		return err
	}
	if m.Key == nil {
		return c.errorf(x.P, "call to len() expects a map with explicit keys (non-scalar map)")
	}
	if c.frame > 0 {
		return c.errorf(x.P, "len() inside a loop over a map is not supported")
	}
	// The count is kept in the scratch area, map memory whose value the
	// verifier does not follow: a counter on the stack would make it walk
	// the loop once per possible count.
	off := c.alloc(8)
	c.g.emit(c.stImm64(int16(off), 0)...)
	name := c.g.label("len")
	out := name + "_out"
	cb := asm.Instructions{
		asm.Mov.Imm(asm.R1, 0).WithSymbol(name),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, c.fd(c.maps.Scratch)),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, out),
		asm.LoadMem(asm.R1, asm.R0, int16(off), asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, int16(off), asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(out),
		asm.Return(),
	}
	c.callbacks = append(c.callbacks, cb...)
	c.funcs = append(c.funcs, name)
	c.callHelperLoop(asm.FnForEachMapElem, name, asm.Instructions{
		asm.LoadMapPtr(asm.R1, c.mapFD(m)),
		asm.Mov.Imm(asm.R4, 0),
	})
	c.g.emit(asm.LoadMem(asm.R0, rRec, int16(off), asm.DWord))
	return nil
}

// strncmp compares at most n bytes of two strings: 0 when equal.
func (c *checker) strncmp(x *lang.Call) error {
	if len(x.Args) != 3 {
		return c.errorf(x.P, "strncmp() requires 3 arguments (%d provided)", len(x.Args))
	}
	n, ok := c.constInt(x.Args[2])
	if !ok || n < 0 {
		return c.errorf(x.Args[2].Position(), "strncmp()'s length must be a non-negative integer literal")
	}
	offs, types, err := c.strArgs(&lang.Call{P: x.P, Name: x.Name, Args: x.Args[:2]}, 2)
	if err != nil {
		return err
	}
	ne, end := c.g.label("sne"), c.g.label("send")
	for i := 0; i < int(n) && i < min(types[0].Size, types[1].Size); i++ {
		c.g.emit(
			asm.LoadMem(asm.R1, rRec, int16(offs[0]+i), asm.Byte),
			asm.LoadMem(asm.R2, rRec, int16(offs[1]+i), asm.Byte),
			asm.JNE.Reg(asm.R1, asm.R2, ne),
			asm.JEq.Imm(asm.R1, 0, end+"eq"),
		)
	}
	c.g.emit(
		asm.Mov.Imm(asm.R0, 0).WithSymbol(end+"eq"),
		asm.Ja.Label(end),
		asm.Mov.Imm(asm.R0, 1).WithSymbol(ne),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end),
	)
	return nil
}

// buf reads buf(ptr[, length]) into dst: the length, then the bytes.
func (c *checker) buf(dst int, t *Type, call *lang.Call) error {
	n := t.Size - 8
	if at, err := c.typeOf(call.Args[0]); err == nil && at.Kind == TStr {
		off, _, err := c.valueAt(call.Args[0])
		if err != nil {
			return err
		}
		n = min(n, at.Size)
		c.zero(dst, t.Size)
		c.copy(dst+8, off, n)
		c.g.emit(c.stImm64(int16(dst), int64(n))...)
		return nil
	}
	if err := c.intExpr(call.Args[0]); err != nil {
		return err
	}
	fn := asm.FnProbeReadKernel
	if c.userSpace() {
		fn = asm.FnProbeReadUser
	}
	c.zero(dst, t.Size)
	c.g.emit(
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, int32(dst+8)),
		asm.Mov.Imm(asm.R2, int32(n)),
		fn.Call(),
	)
	c.g.emit(c.stImm64(int16(dst), int64(n))...)
	return nil
}

// mentions reports whether e reads the map name.
func mentions(e lang.Expr, name string) bool {
	found := false
	lang.Inspect(e, func(n lang.Node) bool {
		if m, ok := n.(*lang.MapExpr); ok && m.Name == name {
			found = true
		}
		return !found
	})
	return found
}

// unblock emits the statements of a block expression, in a scope of its
// own, and returns the expression that gives its value and the function
// that closes the scope; other expressions come back as they are.
func (c *checker) unblock(e lang.Expr) (lang.Expr, func(), error) {
	b, ok := e.(*lang.BlockExpr)
	if !ok {
		return e, func() {}, nil
	}
	c.scopes = append(c.scopes, map[string]*variable{})
	pop := func() { c.scopes = c.scopes[:len(c.scopes)-1] }
	for _, st := range b.Block.Stmts {
		if err := c.stmt(st); err != nil {
			pop()
			return nil, nil, err
		}
	}
	if b.Block.Result == nil {
		pop()
		return nil, nil, c.errorf(b.Block.P, "a block used as a value must end with an expression")
	}
	return b.Block.Result, pop, nil
}

// ntop stores an IPv4 address given as an integer (ntop(addr) or
// ntop(AF_INET, addr)) for user space to print: the family, then the
// address's bytes as they are in memory.
func (c *checker) ntop(dst int, call *lang.Call) error {
	addr := call.Args[len(call.Args)-1]
	if len(call.Args) == 2 {
		if _, ok := c.constInt(call.Args[0]); !ok {
			return c.errorf(call.Args[0].Position(), "ntop()'s address family must be a constant (AF_INET or AF_INET6)")
		}
	}
	t, err := c.typeOf(addr)
	if err != nil {
		return err
	}
	if (t.Kind == TArray || t.Kind == TStr) && (t.Size == 16 || t.Size == 4) {
		off, _, err := c.valueAt(addr)
		if err != nil {
			return err
		}
		c.zero(dst, 24)
		c.copy(dst+8, off, t.Size)
		family := int64(2)
		if t.Size == 16 {
			family = 10
		}
		c.g.emit(c.stImm64(int16(dst), family)...)
		return nil
	}
	if !t.isInt() {
		return c.errorf(addr.Position(), "ntop() expects an integer address, got %s", t)
	}
	c.zero(dst, 24)
	if err := c.intExpr(addr); err != nil {
		return err
	}
	c.g.emit(asm.StoreMem(rRec, int16(dst+8), asm.R0, asm.Word))
	c.g.emit(c.stImm64(int16(dst), 2)...)
	return nil
}

// stack stores the current kernel or user stack at dst: the pid, the
// frame count, then the addresses (zero after the last one, so that equal
// stacks are equal keys).
func (c *checker) stack(dst int, t *Type, p lang.Pos) error {
	if c.frame > 0 {
		return c.errorf(p, "stacks cannot be read inside a loop over a map")
	}
	c.zero(dst, t.Size)
	flags := int32(0)
	if t.User {
		flags = 1 << 8 // BPF_F_USER_STACK
	}
	done := c.g.label("stk")
	c.g.emit(
		asm.Mov.Reg(asm.R1, rPidTgd),
		asm.RSh.Imm(asm.R1, 32),
		asm.StoreMem(rRec, int16(dst), asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(dst+16)),
		asm.Mov.Imm(asm.R3, int32(t.Size-16)),
		asm.Mov.Imm(asm.R4, flags),
		asm.FnGetStack.Call(),
		asm.JSLT.Imm(asm.R0, 0, done),
		asm.RSh.Imm(asm.R0, 3),
		asm.StoreMem(rRec, int16(dst+8), asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done),
	)
	return nil
}

// bytesCompare compares two values of the same shape byte for byte, both
// laid out as the wider of their types.
func (c *checker) bytesCompare(x *lang.Binary, xt, yt *Type) error {
	t := widen(storage(xt), storage(yt))
	if t.Size > 512 {
		return c.errorf(x.P, "comparing values of %d bytes is not supported", t.Size)
	}
	a, b := c.alloc(t.Size), c.alloc(t.Size)
	c.zero(a, t.Size)
	c.zero(b, t.Size)
	if err := c.store(a, t, x.X); err != nil {
		return err
	}
	if err := c.store(b, t, x.Y); err != nil {
		return err
	}
	ne, end := c.g.label("bne"), c.g.label("bend")
	for i := 0; i < t.Size; i++ {
		c.g.emit(
			asm.LoadMem(asm.R1, rRec, int16(a+i), asm.Byte),
			asm.LoadMem(asm.R2, rRec, int16(b+i), asm.Byte),
			asm.JNE.Reg(asm.R1, asm.R2, ne),
		)
	}
	yes, no := int32(1), int32(0)
	if x.Op == "!=" {
		yes, no = 0, 1
	}
	c.g.emit(
		asm.Mov.Imm(asm.R0, yes),
		asm.Ja.Label(end),
		asm.Mov.Imm(asm.R0, no).WithSymbol(ne),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(end),
	)
	return nil
}

// withoutUnusedPid drops the prologue's bpf_get_current_pid_tgid when
// nothing reads its result (pid, tid, an event's header): a helper call
// per event saved.
func withoutUnusedPid(insns asm.Instructions) asm.Instructions {
	at := -1
	for i, ins := range insns {
		if i+1 < len(insns) && ins.IsBuiltinCall() && ins.Constant == int64(asm.FnGetCurrentPidTgid) &&
			insns[i+1].OpCode == asm.Mov.Op(asm.RegSource) && insns[i+1].Dst == rPidTgd && insns[i+1].Symbol() == "" {
			at = i
			break
		}
	}
	if at < 0 || insns[at].Symbol() != "" {
		return insns
	}
	for _, ins := range insns[at+2:] {
		if ins.Src == rPidTgd || ins.Dst == rPidTgd {
			return insns
		}
	}
	return append(insns[:at:at], insns[at+2:]...)
}

// alignedScratch reports whether every load and store through the scratch
// register is aligned to its size on a stack-based scratch area.
func alignedScratch(insns asm.Instructions) bool {
	for _, ins := range insns {
		op := ins.OpCode
		cls := op.Class()
		if cls != asm.LdXClass && cls != asm.StXClass && cls != asm.StClass || op.Mode() != asm.MemMode {
			continue
		}
		base := ins.Dst
		if cls == asm.LdXClass {
			base = ins.Src
		}
		if base != rRec {
			continue
		}
		size := op.Size().Sizeof()
		if (stackScratch+int(ins.Offset))%size != 0 {
			return false
		}
	}
	return true
}

// tseries keeps the value of the current interval, in the bucket
// epoch % num_intervals of {value, epoch, meta}: the last value (meta the
// time), or their sum, min, max or average (meta the count).
func (c *checker) tseries(m *ScriptMap, keyOff int, slot int16, call *lang.Call) error {
	interval, ok1 := c.constInt(call.Args[1])
	num, ok2 := c.constInt(call.Args[2])
	if !ok1 || !ok2 || interval <= 0 || num <= 0 || num > 1000000 {
		return c.errorf(call.P, "tseries() expects a positive interval and number of intervals as literals")
	}
	agg := ""
	if len(call.Args) == 4 {
		lit, ok := call.Args[3].(*lang.StrLit)
		if !ok || !slices.Contains([]string{"avg", "max", "min", "sum"}, lit.Value) {
			return c.errorf(call.Args[3].Position(), "tseries() aggregation must be one of \"avg\", \"max\", \"min\" or \"sum\"")
		}
		agg = lit.Value
	}
	if m.Interval != 0 && (m.Interval != interval || m.NumIntervals != num || m.Agg != agg) {
		return c.errorf(call.P, "tseries() arguments must be the same for every use of %s", m.Name)
	}
	m.Interval, m.NumIntervals, m.Agg = interval, num, agg
	if t, err := c.typeOf(call.Args[0]); err == nil {
		m.Signed = t.Signed
	}
	// now, epoch and the bucket.
	if err := c.now(call.P); err != nil {
		return err
	}
	now, err := c.allocSlot(call.P)
	if err != nil {
		return err
	}
	epoch, err := c.allocSlot(call.P)
	if err != nil {
		return err
	}
	at := keyOff + m.KeySize() - 8
	c.g.emit(
		asm.StoreMem(asm.RFP, now, asm.R0, asm.DWord),
		asm.LoadImm(asm.R1, interval, asm.DWord),
		asm.Div.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.RFP, epoch, asm.R0, asm.DWord),
		asm.LoadImm(asm.R1, num, asm.DWord),
		asm.Mod.Reg(asm.R0, asm.R1),
		asm.StoreMem(rRec, int16(at), asm.R0, asm.DWord),
	)
	c.lookup(m, keyOff)
	create, done := c.g.label("tsnew"), c.g.label("tsdone")
	c.g.emit(asm.JEq.Imm(asm.R0, 0, create))
	// An existing bucket of another epoch starts again.
	same := c.g.label("tssame")
	c.g.emit(
		asm.LoadMem(asm.R1, asm.RFP, epoch, asm.DWord),
		asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord),
		asm.JEq.Reg(asm.R1, asm.R2, same),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R2, 0),
		asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
		asm.StoreMem(asm.R0, 16, asm.R2, asm.DWord),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(same),
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.DWord),
	)
	switch agg {
	case "sum":
		c.g.emit(asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord), asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord))
	case "avg":
		c.g.emit(
			asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord), asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
			asm.LoadMem(asm.R2, asm.R0, 16, asm.DWord), asm.Add.Imm(asm.R2, 1), asm.StoreMem(asm.R0, 16, asm.R2, asm.DWord),
		)
	case "min", "max":
		keep := asm.JSLE // max: keep when n <= value
		if agg == "min" {
			keep = asm.JSGE
		}
		set, skip := c.g.label("tsset"), c.g.label("tsskip")
		c.g.emit(
			asm.LoadMem(asm.R2, asm.R0, 16, asm.DWord),
			asm.JEq.Imm(asm.R2, 0, set),
			asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord),
			keep.Reg(asm.R1, asm.R2, skip),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord).WithSymbol(set),
			asm.Mov.Imm(asm.R2, 1),
			asm.StoreMem(asm.R0, 16, asm.R2, asm.DWord),
			asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(skip),
		)
	default:
		c.g.emit(
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.LoadMem(asm.R2, asm.RFP, now, asm.DWord),
			asm.StoreMem(asm.R0, 16, asm.R2, asm.DWord),
		)
	}
	c.g.emit(asm.Ja.Label(done))
	// A new bucket.
	val := c.alloc(24)
	meta := asm.Instruction(asm.LoadMem(asm.R2, asm.RFP, now, asm.DWord))
	if agg != "" {
		meta = asm.Mov.Imm(asm.R2, 1)
	}
	c.g.emit(
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.DWord).WithSymbol(create),
		asm.StoreMem(rRec, int16(val), asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, epoch, asm.DWord),
		asm.StoreMem(rRec, int16(val+8), asm.R1, asm.DWord),
		meta,
		asm.StoreMem(rRec, int16(val+16), asm.R2, asm.DWord),
	)
	c.update(m, keyOff, val, bpfAny)
	c.g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(done))
	return nil
}

// now is the time tseries() buckets by, into R0: bpf_ktime_get_tai_ns,
// or, for tests, the value of the scalar map BPFTRACE_DUMMY_TS_MAP names
// (as bpftrace does).
func (c *checker) now(p lang.Pos) error {
	name := os.Getenv("BPFTRACE_DUMMY_TS_MAP")
	if name == "" {
		// TAI, as bpftrace's tseries, whose times print with no offset.
		c.g.emit(asm.FnKtimeGetTaiNs.Call())
		return nil
	}
	m, ok := c.s.Map(name)
	if !ok || m.Kind == 255 {
		if c.first {
			return unknownMapError{c.errorf(p, "Undefined map: %s", name)}
		}
		return c.errorf(p, "BPFTRACE_DUMMY_TS_MAP: no map %s", name)
	}
	m.readIn = true
	keyOff := c.alloc(8)
	c.g.emit(c.stImm64(int16(keyOff), 0)...)
	c.lookup(m, keyOff)
	done := c.g.label("ts")
	c.g.emit(
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Imm(asm.R0, 0),
		asm.JEq.Imm(asm.R1, 0, done),
		asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done),
	)
	return nil
}

// macaddr stores the 6 bytes of a MAC address (an array, or what a
// pointer points to) for user space to print.
func (c *checker) macaddr(dst int, call *lang.Call) error {
	t, err := c.typeOf(call.Args[0])
	if err != nil {
		return err
	}
	c.zero(dst, 24)
	c.g.emit(c.stImm64(int16(dst), 255)...)
	switch {
	case (t.Kind == TArray || t.Kind == TStr) && t.Size >= 6:
		off, _, err := c.valueAt(call.Args[0])
		if err != nil {
			return err
		}
		c.copy(dst+8, off, 6)
	case t.isInt():
		l, err := c.pointer(call.Args[0], t)
		if err != nil {
			return err
		}
		c.readMem(l, dst+8, 6)
	default:
		return c.errorf(call.Args[0].Position(), "macaddr() expects an array of 6 bytes or a pointer, got %s", t)
	}
	return nil
}

// intToSlot evaluates an integer expression into a new stack slot.
func (c *checker) intToSlot(e lang.Expr, p lang.Pos) (int16, error) {
	if err := c.intExpr(e); err != nil {
		return 0, err
	}
	slot, err := c.allocSlot(p)
	if err != nil {
		return 0, err
	}
	c.g.emit(asm.StoreMem(asm.RFP, slot, asm.R0, asm.DWord))
	return slot, nil
}

// newEvent registers an event of this call site: its class id, and the
// probe it comes from.
func (c *checker) newEvent(ev *ScriptEvent) *ScriptEvent {
	ev.ID, ev.Special = c.nextEvent, c.sp.Special
	c.nextEvent++
	c.s.Events = append(c.s.Events, ev)
	return ev
}
