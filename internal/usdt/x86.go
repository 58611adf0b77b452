package usdt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bpftrail/bpftrail/internal/ptregs"
)

// parseX86Operand reads an AT&T operand: $imm, %reg, off(%reg) or (%reg).
func parseX86Operand(a *Arg, op string, regs *ptregs.Layout, allowSym bool) error {
	switch op[0] {
	case '$':
		return parseX86Immediate(a, op[1:], allowSym)
	case '%':
		if strings.ContainsAny(op, ":") {
			return errors.New("segment registers are unsupported")
		}
		r, err := x86Reg(regs, op[1:])
		if err != nil {
			return err
		}
		a.Kind = ArgReg
		a.Reg, a.RegOffset, a.BitShift = r.Name, r.Offset, r.Shift
		return nil
	}
	return parseX86Memory(a, op, regs, allowSym)
}

// parseX86Immediate reads the number or symbol expression after '$'.
func parseX86Immediate(a *Arg, imm string, allowSym bool) error {
	a.Kind = ArgConst
	if v, err := parseInt(imm); err == nil {
		a.Const = v
		return nil
	}
	sym, off, err := parseSymExpr(imm)
	if err != nil {
		return fmt.Errorf("bad immediate %q", imm)
	}
	if !allowSym {
		return fmt.Errorf("immediate %q is a symbol address, which needs the ELF symbol table: %w", imm, errSymbolic)
	}
	a.Symbol, a.Const = sym, off
	return nil
}

// parseX86Memory reads off(%reg) or (%reg), off being a number or, against
// %rip, a symbol expression.
func parseX86Memory(a *Arg, op string, regs *ptregs.Layout, allowSym bool) error {
	if strings.Contains(op, ":") {
		return errors.New("segment-prefixed memory operands are unsupported")
	}
	open := strings.IndexByte(op, '(')
	if open < 0 || !strings.HasSuffix(op, ")") {
		return errors.New("unrecognized operand (want %reg, $imm, off(%reg) or (%reg))")
	}
	disp, inner := op[:open], op[open+1:len(op)-1]
	if strings.Contains(inner, ",") {
		return errors.New("memory operands with an index register are unsupported")
	}
	if !strings.HasPrefix(inner, "%") {
		return errors.New("memory operand without a base register")
	}
	r, err := x86Reg(regs, inner[1:])
	if err != nil {
		return err
	}
	if r.Shift != 0 {
		return fmt.Errorf("%%%s cannot be a base register", inner[1:])
	}
	a.Kind = ArgRegDeref
	a.Reg, a.RegOffset = r.Name, r.Offset
	if disp == "" {
		return nil
	}
	if v, err := parseInt(disp); err == nil {
		a.Offset = v
		return nil
	}
	sym, off, err := parseSymExpr(disp)
	if err != nil {
		return fmt.Errorf("bad displacement %q", disp)
	}
	if r.Name != "rip" {
		return fmt.Errorf("symbolic displacement %q on %%%s is unsupported (only RIP-relative symbols are)", disp, r.Name)
	}
	if !allowSym {
		return fmt.Errorf("RIP-relative operand against symbol %q needs the ELF symbol table (use Probes, which resolves it): %w", sym, errSymbolic)
	}
	a.Symbol, a.Offset = sym, off
	return nil
}

func x86Reg(regs *ptregs.Layout, name string) (ptregs.Reg, error) {
	r, ok := regs.Reg(name)
	if !ok {
		return r, fmt.Errorf("unknown or unsupported register %%%s", name)
	}
	return r, nil
}

// x86Operand formats the operand of a in AT&T syntax.
func (a Arg) x86Operand() string {
	switch a.Kind {
	case ArgConst:
		return fmt.Sprintf("$%d", a.Const)
	case ArgReg:
		if a.BitShift != 0 {
			return fmt.Sprintf("%%%s>>%d", a.Reg, a.BitShift)
		}
		return "%" + a.Reg
	case ArgRegDeref:
		if a.Offset == 0 {
			return fmt.Sprintf("(%%%s)", a.Reg)
		}
		return fmt.Sprintf("%d(%%%s)", a.Offset, a.Reg)
	}
	return "?"
}
