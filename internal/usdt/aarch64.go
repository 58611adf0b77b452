package usdt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/ptregs"
)

// parseARM64Operand reads an AArch64 operand as GCC and Clang print them
// for <sys/sdt.h>: reg, imm, [reg] or [reg, off].
func parseARM64Operand(a *Arg, op string, regs *ptregs.Layout, allowSym bool) error {
	if op[0] == '[' {
		return parseARM64Memory(a, op, regs, allowSym)
	}
	if v, err := parseInt(strings.TrimPrefix(op, "#")); err == nil {
		a.Kind, a.Const = ArgConst, v
		return nil
	}
	r, ok := regs.Reg(op)
	if !ok {
		if isRegisterLike(op) {
			return fmt.Errorf("unknown or unsupported register %s", op)
		}
		return errors.New("unrecognized operand (want reg, imm, [reg] or [reg, off])")
	}
	a.Kind = ArgReg
	a.Reg, a.RegOffset = r.Name, r.Offset
	return nil
}

// isRegisterLike reports whether s looks like a register name: a letter
// followed by letters and digits ("x31", "xzr", "v0").
func isRegisterLike(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return s != ""
}

// parseARM64Memory reads [base] or [base, off], off being a number or the
// low 12 bits of a symbol expression ("#:lo12:sym+8").
func parseARM64Memory(a *Arg, op string, regs *ptregs.Layout, allowSym bool) error {
	if strings.HasSuffix(op, "]!") {
		return errors.New("writeback memory operands are unsupported")
	}
	inner, ok := strings.CutSuffix(op[1:], "]")
	if !ok {
		return errors.New("unrecognized operand (want reg, imm, [reg] or [reg, off])")
	}
	parts := strings.Split(inner, ",")
	if len(parts) > 2 {
		return errors.New("memory operands with an index register are unsupported")
	}
	base := strings.TrimSpace(parts[0])
	if base == "" {
		return errors.New("memory operand without a base register")
	}
	r, ok := regs.Reg(base)
	if !ok {
		return fmt.Errorf("unknown or unsupported register %s", base)
	}
	if r.Size != 8 || r.Name == "pc" {
		return fmt.Errorf("%s cannot be a base register", base)
	}
	a.Kind = ArgRegDeref
	a.Reg, a.RegOffset = r.Name, r.Offset
	if len(parts) == 1 {
		return nil
	}
	return parseARM64Offset(a, strings.TrimSpace(parts[1]), regs, allowSym)
}

// lo12 is the relocation operator for the low 12 bits of an address, which
// completes the 4 KiB page address adrp puts in a register.
const lo12 = ":lo12:"

// parseARM64Offset reads the offset of [base, off].
func parseARM64Offset(a *Arg, off string, regs *ptregs.Layout, allowSym bool) error {
	if _, ok := regs.Reg(off); ok {
		return errors.New("memory operands with an index register are unsupported")
	}
	off = strings.TrimPrefix(off, "#")
	if v, err := parseInt(off); err == nil {
		a.Offset = v
		return nil
	}
	expr, ok := strings.CutPrefix(off, lo12)
	if !ok {
		return fmt.Errorf("bad displacement %q", off)
	}
	sym, addend, err := parseSymExpr(expr)
	if err != nil {
		return fmt.Errorf("bad displacement %q", off)
	}
	if !allowSym {
		return fmt.Errorf("operand against the low 12 bits of symbol %q needs the ELF symbol table (use Probes, which resolves it): %w", sym, errSymbolic)
	}
	a.Symbol, a.Offset = sym, addend
	return nil
}

// arm64Operand formats the operand of a in AArch64 syntax.
func (a Arg) arm64Operand() string {
	switch a.Kind {
	case ArgConst:
		return strconv.FormatInt(a.Const, 10)
	case ArgReg:
		return a.Reg
	case ArgRegDeref:
		if a.Offset == 0 {
			return "[" + a.Reg + "]"
		}
		return fmt.Sprintf("[%s, %d]", a.Reg, a.Offset)
	}
	return "?"
}
