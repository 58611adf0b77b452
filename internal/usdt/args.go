package usdt

import (
	"debug/elf"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/ptregs"
)

// ArgKind says where the value of a probe argument lives.
type ArgKind int

const (
	// ArgConst is an immediate: the value is Arg.Const ("4@$5" on x86-64,
	// "4@5" on AArch64).
	ArgConst ArgKind = iota
	// ArgReg is a register: the value is the register Arg.Reg, shifted right
	// by Arg.BitShift ("8@%rax", "-1@%al", "1@%ah", "-4@w1").
	ArgReg
	// ArgRegDeref is a memory operand: the value is read from user memory at
	// the address register Arg.Reg + Arg.Offset ("-4@-20(%rbp)",
	// "-8@[x29, -16]").
	ArgRegDeref
)

func (k ArgKind) String() string {
	switch k {
	case ArgConst:
		return "const"
	case ArgReg:
		return "reg"
	case ArgRegDeref:
		return "reg-deref"
	}
	return fmt.Sprintf("ArgKind(%d)", int(k))
}

// Arg is one parsed probe argument.
//
// To read it: take the value (Const; the register at RegOffset in struct
// pt_regs shifted right by BitShift; or Size bytes of user memory at
// register + Offset), keep its low Size bytes, then sign-extend them when
// Signed is set, else zero-extend.
type Arg struct {
	Size   int  // 1, 2, 4 or 8: the absolute value of the size prefix
	Signed bool // the size prefix was negative
	Kind   ArgKind

	// Machine is the ELF machine whose operand syntax the argument is
	// written in, elf.EM_X86_64 or elf.EM_AARCH64. It decides the register
	// names, the struct pt_regs of RegOffset and the syntax of String.
	Machine elf.Machine

	// Reg is the register that holds the value or the address, named as
	// the 64-bit register it is part of: "rax", ..., "r15", "rip", "rsp",
	// "rbp" on x86-64, where %eax, %ax, %al and %ah all map to "rax";
	// "x0".."x30", "sp", "pc" on AArch64, where w3 maps to "x3". Empty for
	// ArgConst.
	Reg string
	// RegOffset is the byte offset of Reg in Machine's struct pt_regs (see
	// package ptregs).
	RegOffset int
	// BitShift is 8 for the x86 high-byte registers %ah, %bh, %ch and %dh,
	// whose value is bits 8..15 of the 64-bit register; 0 otherwise.
	BitShift int
	// Offset is the displacement of an ArgRegDeref: -16 in "-16(%rbp)" and
	// in "[x29, -16]".
	//
	// For an x86-64 RIP-relative operand it is relative to the probe
	// address, which is what regs->ip holds when a uprobe handler runs: the
	// address read is rip + Offset. Probes resolves "sym+8(%rip)" to
	// Offset = address(sym) + 8 - Location.
	//
	// For an AArch64 operand against the low 12 bits of a symbol
	// ("[x1, #:lo12:sym]", the register holding the symbol's 4 KiB page, as
	// adrp set it), Probes resolves Offset to the low 12 bits of the
	// symbol's address, which loading at a page-aligned address keeps.
	//
	// ParseArgs accepts only numeric displacements.
	Offset int64
	// Const is the value of an ArgConst: 5 in "$5", -1 in "$-1".
	Const int64
	// Symbol is the symbol an operand was written against
	// ("global_counter" in "-4@global_counter(%rip)" or in
	// "-4@[x1, #:lo12:global_counter]"), already folded into Offset or
	// Const by Probes; informational only.
	Symbol string
}

// String formats the argument back in the SDT syntax of its machine, with
// registers under their 64-bit names and resolved symbolic operands shown
// numerically.
func (a Arg) String() string {
	size := strconv.Itoa(a.Size)
	if a.Signed {
		size = "-" + size
	}
	if a.Machine == elf.EM_AARCH64 {
		return size + "@" + a.arm64Operand()
	}
	return size + "@" + a.x86Operand()
}

// operandParser reads the operand after the size prefix into a, with the
// register names of regs; allowSym admits symbolic operands, which leave
// a.Symbol set for Probes to resolve.
type operandParser func(a *Arg, op string, regs *ptregs.Layout, allowSym bool) error

// operandSyntax holds the operand parser of each machine.
var operandSyntax = map[elf.Machine]operandParser{
	elf.EM_X86_64:  parseX86Operand,
	elf.EM_AARCH64: parseARM64Operand,
}

// errSymbolic marks an operand whose displacement or immediate is a symbol.
var errSymbolic = errors.New("symbolic operand")

// ParseArgs parses the SDT argument string of a probe in a binary built
// for the ELF machine m, elf.EM_X86_64 or elf.EM_AARCH64. Each argument is
// N@operand, N being 1, 2, 4 or 8, negated for signed values.
//
// On x86-64 the operand is in AT&T syntax: %reg, $imm, off(%reg) or
// (%reg), as in "-4@%esi 8@-16(%rbp) 4@$0". Index registers
// ("(%rax,%rbx,8)") and segment prefixes are unsupported.
//
// On AArch64 it is reg, imm, [reg] or [reg, off], as in
// "-4@w1 8@[sp, 12] -8@[x29, -16] 4@5", with x0..x30, w0..w30, sp and pc
// as registers and an optional '#' before numbers. Register offsets
// ("[x1, x2]") and writeback ("[x1, 8]!") are unsupported.
//
// Operands written against a symbol ("8@sym(%rip)", "8@$sym",
// "8@[x1, #:lo12:sym]") need the ELF symbol table and are rejected here;
// Probes resolves them.
func ParseArgs(m elf.Machine, s string) ([]Arg, error) {
	return parseArgs(m, s, false)
}

func parseArgs(m elf.Machine, s string, allowSym bool) ([]Arg, error) {
	regs, err := ptregs.ForMachine(m)
	if err != nil {
		return nil, fmt.Errorf("usdt: %w", err)
	}
	parse := operandSyntax[m]
	fields := splitArgs(s)
	if len(fields) == 0 {
		return nil, nil
	}
	if len(fields) > maxArgs {
		return nil, fmt.Errorf("usdt: %d arguments, at most %d supported", len(fields), maxArgs)
	}
	args := make([]Arg, 0, len(fields))
	for i, f := range fields {
		a := Arg{Machine: m}
		op, err := parseSizePrefix(&a, f)
		if err == nil {
			err = parse(&a, op, regs, allowSym)
		}
		if err != nil {
			return nil, fmt.Errorf("usdt: argument %d %q: %w", i+1, f, err)
		}
		args = append(args, a)
	}
	return args, nil
}

// maxArgs bounds the argument count; sys/sdt.h supports up to 12.
const maxArgs = 64

// splitArgs splits an argument string at white space outside square
// brackets, which keeps AArch64's "[sp, 12]" whole.
func splitArgs(s string) []string {
	var out []string
	start, depth := -1, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
		case depth == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// parseSizePrefix reads the "N@" or "-N@" of an argument into a and
// returns the operand after it.
func parseSizePrefix(a *Arg, f string) (string, error) {
	at := strings.IndexByte(f, '@')
	if at < 0 {
		return "", errors.New("missing size prefix (want N@operand)")
	}
	sz, op := f[:at], f[at+1:]
	if strings.HasPrefix(sz, "-") {
		a.Signed = true
		sz = sz[1:]
	}
	switch sz {
	case "1", "2", "4", "8":
		a.Size = int(sz[0] - '0')
	default:
		return "", fmt.Errorf("bad size %q (want 1, 2, 4 or 8, optionally negated)", f[:at])
	}
	if op == "" {
		return "", errors.New("empty operand")
	}
	return op, nil
}

// parseInt parses a decimal or 0x-prefixed integer with an optional sign.
func parseInt(s string) (int64, error) {
	if s == "" || strings.HasPrefix(s, "+") {
		return 0, errors.New("empty")
	}
	neg := strings.HasPrefix(s, "-")
	u := strings.TrimPrefix(s, "-")
	if u == "" || u[0] < '0' || u[0] > '9' {
		return 0, errors.New("not a number")
	}
	v, err := strconv.ParseUint(u, 0, 64)
	if err != nil {
		return 0, err
	}
	if neg {
		if v > 1<<63 {
			return 0, strconv.ErrRange
		}
		return -int64(v), nil
	}
	return int64(v), nil // values above MaxInt64 keep their bit pattern
}

// parseSymExpr parses "sym", "sym+8" or "sym-8".
func parseSymExpr(s string) (string, int64, error) {
	end := 0
	for end < len(s) && isSymChar(s[end], end == 0) {
		end++
	}
	if end == 0 {
		return "", 0, errors.New("not a symbol")
	}
	sym, rest := s[:end], s[end:]
	if rest == "" {
		return sym, 0, nil
	}
	if rest[0] != '+' && rest[0] != '-' {
		return "", 0, errors.New("not a symbol expression")
	}
	v, err := parseInt(strings.TrimPrefix(rest, "+"))
	if err != nil {
		return "", 0, err
	}
	return sym, v, nil
}

func isSymChar(c byte, first bool) bool {
	switch {
	case c == '_' || c == '.' || c == '$':
		return true
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}
