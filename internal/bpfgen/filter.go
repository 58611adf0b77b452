package bpfgen

import (
	"fmt"
	"math"

	"github.com/cilium/ebpf/asm"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/record"
)

// Builtins are the names every schema offers to filters, keys and values
// besides its own fields, with their place in the record header. A field
// of the event with the same name takes the builtin's place, as in
// ftrace's own filters: on sched:sched_wakeup, pid is the woken thread.
var Builtins = []Builtin{
	{filter.FieldInfo{Name: "pid", Type: filter.Int, Size: 4, Signed: true}, record.OffPID},
	{filter.FieldInfo{Name: "tid", Type: filter.Int, Size: 4, Signed: true}, record.OffTID},
	{filter.FieldInfo{Name: "comm", Type: filter.String, Size: 16}, record.OffComm},
	{filter.FieldInfo{Name: "cpu", Type: filter.Int, Size: 4}, record.OffCPU},
}

// Builtin is a member of the record header that filters and keys may name.
type Builtin struct {
	Info filter.FieldInfo
	Off  int
}

// BuiltinOf returns the builtin called name, unless schema s has a field
// of that name, which takes its place.
func BuiltinOf(s *event.Schema, name string) (Builtin, bool) {
	if s.Index(name) >= 0 {
		return Builtin{}, false
	}
	for _, b := range Builtins {
		if b.Info.Name == name {
			return b, true
		}
	}
	return Builtin{}, false
}

// FilterFields returns what a filter on schema s may name: the builtins
// the schema's fields do not replace, then its integer and string fields.
func FilterFields(s *event.Schema) filter.Fields {
	var out filter.Fields
	for _, b := range Builtins {
		if _, ok := BuiltinOf(s, b.Info.Name); ok {
			out = append(out, b.Info)
		}
	}
	for _, f := range s.Fields {
		switch f.Kind {
		case event.Int:
			out = append(out, filter.FieldInfo{Name: f.Name, Type: filter.Int, Size: f.Size, Signed: f.Signed})
		case event.Text, event.String:
			out = append(out, filter.FieldInfo{Name: f.Name, Type: filter.String, Size: f.Size})
		}
	}
	return out
}

// locate returns the record offset and size of the field or builtin a
// filter or key names.
func locate(s *event.Schema, l record.Layout, name string) (off, size int, err error) {
	if b, ok := BuiltinOf(s, name); ok {
		return b.Off, b.Info.Size, nil
	}
	if i := s.Index(name); i >= 0 {
		return l.Off[i], s.Fields[i].Size, nil
	}
	return 0, 0, fmt.Errorf("filter field %q is not in the record", name)
}

// filter emits code that jumps to the exit (dropping the record) unless the
// filter holds for the record in rRec.
func (g *gen) filter(e *filter.Expr, s *event.Schema, l record.Layout) error {
	return g.jump(e, s, l, false, g.rejectLabel())
}

// jump emits code that jumps to target when e evaluates to want, and falls
// through otherwise.
func (g *gen) jump(e *filter.Expr, s *event.Schema, l record.Layout, want bool, target string) error {
	switch e.Op {
	case filter.OpNot:
		return g.jump(e.L, s, l, !want, target)
	case filter.OpAnd, filter.OpOr:
		// (a && b) is false when a is false or b is false; true when both
		// are. (a || b) is the dual.
		short := e.Op == filter.OpOr // the value that decides after L alone
		if want == short {
			if err := g.jump(e.L, s, l, want, target); err != nil {
				return err
			}
			return g.jump(e.R, s, l, want, target)
		}
		skip := g.label("f")
		if err := g.jump(e.L, s, l, short, skip); err != nil {
			return err
		}
		if err := g.jump(e.R, s, l, want, target); err != nil {
			return err
		}
		g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(skip))
		return nil
	case filter.OpCmp:
		return g.compare(e.Cmp, s, l, want, target)
	}
	return fmt.Errorf("unknown filter node %v", e.Op)
}

func (g *gen) compare(c *filter.Compare, s *event.Schema, l record.Layout, want bool, target string) error {
	off, size, err := locate(s, l, c.Field.Name)
	if err != nil {
		return err
	}
	if c.Field.Type == filter.String {
		return g.compareString(c, off, size, want, target)
	}
	// Load and extend the field into R1.
	g.emit(asm.LoadMem(asm.R1, rRec, int16(off), sizeOf(size)))
	if c.Field.Signed && size < 8 {
		shift := int32(64 - 8*size)
		g.emit(asm.LSh.Imm(asm.R1, shift), asm.ArSh.Imm(asm.R1, shift))
	}
	op := c.Op
	if !want {
		op = negate(op)
	}
	var jop asm.JumpOp
	switch op {
	case filter.CmpEq:
		jop = asm.JEq
	case filter.CmpNe:
		jop = asm.JNE
	case filter.CmpLt:
		jop = pick(c.Field.Signed, asm.JSLT, asm.JLT)
	case filter.CmpLe:
		jop = pick(c.Field.Signed, asm.JSLE, asm.JLE)
	case filter.CmpGt:
		jop = pick(c.Field.Signed, asm.JSGT, asm.JGT)
	case filter.CmpGe:
		jop = pick(c.Field.Signed, asm.JSGE, asm.JGE)
	default:
		return fmt.Errorf("unknown comparison %v", c.Op)
	}
	v := c.Int
	// Imm operands are sign-extended 32-bit values; larger ones (or
	// unsigned ones that would turn negative) go through R2.
	if v >= math.MinInt32 && v <= math.MaxInt32 && (c.Field.Signed || v >= 0) {
		g.emit(jop.Imm(asm.R1, int32(v), target))
	} else {
		g.emit(asm.LoadImm(asm.R2, v, asm.DWord), jop.Reg(asm.R1, asm.R2, target))
	}
	return nil
}

func pick(signed bool, s, u asm.JumpOp) asm.JumpOp {
	if signed {
		return s
	}
	return u
}

func negate(op filter.CmpOp) filter.CmpOp {
	switch op {
	case filter.CmpEq:
		return filter.CmpNe
	case filter.CmpNe:
		return filter.CmpEq
	case filter.CmpLt:
		return filter.CmpGe
	case filter.CmpLe:
		return filter.CmpGt
	case filter.CmpGt:
		return filter.CmpLe
	case filter.CmpGe:
		return filter.CmpLt
	}
	return op
}

// compareString compares the bytes of a string slot with the literal:
// equal means the literal's bytes followed by a NUL (or the end of the
// slot); a prefix match needs only the literal's bytes.
func (g *gen) compareString(c *filter.Compare, off, size int, want bool, target string) error {
	lit := []byte(c.Str)
	if len(lit) > size {
		// Cannot match: the slot is smaller than the literal.
		if want == (c.Op == filter.CmpNe) {
			g.emit(asm.Ja.Label(target))
		}
		return nil
	}
	check := append([]byte(nil), lit...)
	if !c.Prefix && len(lit) < size {
		check = append(check, 0)
	}
	// matchWant: jump to target when the strings are equal.
	matchWant := want == (c.Op == filter.CmpEq)
	mismatch := g.label("s")
	if matchWant {
		// Any difference: skip; all equal: jump to target.
		for i, b := range check {
			g.emit(
				asm.LoadMem(asm.R1, rRec, int16(off+i), asm.Byte),
				asm.JNE.Imm(asm.R1, int32(b), mismatch),
			)
		}
		g.emit(asm.Ja.Label(target))
	} else {
		for i, b := range check {
			g.emit(
				asm.LoadMem(asm.R1, rRec, int16(off+i), asm.Byte),
				asm.JNE.Imm(asm.R1, int32(b), target),
			)
		}
	}
	g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(mismatch))
	return nil
}
