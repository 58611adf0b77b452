package usdt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ArgKind says where the value of a probe argument lives.
type ArgKind int

const (
	// ArgConst is an immediate: the value is Arg.Const ("4@$5").
	ArgConst ArgKind = iota
	// ArgReg is a register: the value is the register Arg.Reg, shifted right
	// by Arg.BitShift ("8@%rax", "-1@%al", "1@%ah").
	ArgReg
	// ArgRegDeref is a memory operand: the value is read from user memory at
	// the address register Arg.Reg + Arg.Offset ("-4@-20(%rbp)").
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

	// Reg is the canonical 64-bit register name ("rax", ..., "r15", "rip",
	// "rsp", "rbp"); %eax, %ax, %al and %ah all map to "rax". Empty for
	// ArgConst.
	Reg string
	// RegOffset is the byte offset of Reg in the x86-64 struct pt_regs.
	RegOffset int
	// BitShift is 8 for the high-byte registers %ah, %bh, %ch and %dh, whose
	// value is bits 8..15 of the 64-bit register; 0 otherwise.
	BitShift int
	// Offset is the displacement of an ArgRegDeref: -16 in "-16(%rbp)".
	//
	// For a RIP-relative operand it is relative to the probe address, which
	// is what regs->ip holds when a uprobe handler runs: the address read is
	// rip + Offset. Probes resolves "sym+8(%rip)" to
	// Offset = address(sym) + 8 - Location; ParseArgs accepts only numeric
	// displacements.
	Offset int64
	// Const is the value of an ArgConst: 5 in "$5", -1 in "$-1".
	Const int64
	// Symbol is the symbol an operand was written against
	// ("global_counter" in "-4@global_counter(%rip)"), already folded into
	// Offset or Const by Probes; informational only.
	Symbol string
}

// String formats the argument back in the SDT syntax (with a resolved
// RIP-relative operand shown numerically).
func (a Arg) String() string {
	size := strconv.Itoa(a.Size)
	if a.Signed {
		size = "-" + size
	}
	switch a.Kind {
	case ArgConst:
		return fmt.Sprintf("%s@$%d", size, a.Const)
	case ArgReg:
		if a.BitShift != 0 {
			return fmt.Sprintf("%s@%%%s>>%d", size, a.Reg, a.BitShift)
		}
		return fmt.Sprintf("%s@%%%s", size, a.Reg)
	case ArgRegDeref:
		if a.Offset == 0 {
			return fmt.Sprintf("%s@(%%%s)", size, a.Reg)
		}
		return fmt.Sprintf("%s@%d(%%%s)", size, a.Offset, a.Reg)
	}
	return size + "@?"
}

// PtRegsOffset maps each canonical register name to its byte offset in the
// x86-64 struct pt_regs (arch/x86/include/asm/ptrace.h, also the uapi
// <asm/ptrace.h>).
var PtRegsOffset = map[string]int{
	"r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40,
	"r11": 48, "r10": 56, "r9": 64, "r8": 72, "rax": 80, "rcx": 88,
	"rdx": 96, "rsi": 104, "rdi": 112, "orig_rax": 120, "rip": 128,
	"cs": 136, "eflags": 144, "rsp": 152, "ss": 160,
}

type regAlias struct {
	canon string
	shift int
}

// x86Regs maps every general-purpose register name usable in an SDT
// argument to its 64-bit register.
var x86Regs = func() map[string]regAlias {
	m := map[string]regAlias{"rip": {"rip", 0}, "eip": {"rip", 0}}
	for _, r := range []string{"ax", "bx", "cx", "dx"} {
		c := "r" + r
		l := r[:1]
		m[c] = regAlias{c, 0}
		m["e"+r] = regAlias{c, 0}
		m[r] = regAlias{c, 0}
		m[l+"l"] = regAlias{c, 0}
		m[l+"h"] = regAlias{c, 8}
	}
	for _, r := range []string{"si", "di", "bp", "sp"} {
		c := "r" + r
		m[c] = regAlias{c, 0}
		m["e"+r] = regAlias{c, 0}
		m[r] = regAlias{c, 0}
		m[r+"l"] = regAlias{c, 0}
	}
	for i := 8; i <= 15; i++ {
		c := "r" + strconv.Itoa(i)
		for _, suf := range []string{"", "d", "w", "b", "l"} {
			m[c+suf] = regAlias{c, 0}
		}
	}
	return m
}()

// errSymbolic marks an operand whose displacement or immediate is a symbol.
var errSymbolic = errors.New("symbolic operand")

// ParseArgs parses an x86-64 SDT argument string such as
// "-4@%esi 8@-16(%rbp) 4@$0". The forms are N@%reg, N@$imm, N@off(%reg),
// N@(%reg), each with an optional '-' before N for signed values, N being
// 1, 2, 4 or 8. Operands with a symbolic displacement ("8@sym(%rip)") need
// the ELF symbol table and are rejected here (Probes resolves them);
// index registers ("(%rax,%rbx,8)") and segment prefixes are unsupported.
func ParseArgs(s string) ([]Arg, error) {
	return parseArgs(s, false)
}

func parseArgs(s string, allowSym bool) ([]Arg, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, nil
	}
	if len(fields) > maxArgs {
		return nil, fmt.Errorf("usdt: %d arguments, at most %d supported", len(fields), maxArgs)
	}
	args := make([]Arg, 0, len(fields))
	for i, f := range fields {
		a, err := parseArg(f, allowSym)
		if err != nil {
			return nil, fmt.Errorf("usdt: argument %d %q: %w", i+1, f, err)
		}
		args = append(args, a)
	}
	return args, nil
}

// maxArgs bounds the argument count; sys/sdt.h supports up to 12.
const maxArgs = 64

func parseArg(f string, allowSym bool) (Arg, error) {
	var a Arg
	at := strings.IndexByte(f, '@')
	if at < 0 {
		return a, errors.New("missing size prefix (want N@operand)")
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
		return a, fmt.Errorf("bad size %q (want 1, 2, 4 or 8, optionally negated)", f[:at])
	}
	if op == "" {
		return a, errors.New("empty operand")
	}
	switch {
	case op[0] == '$':
		a.Kind = ArgConst
		imm := op[1:]
		if v, err := parseInt(imm); err == nil {
			a.Const = v
			return a, nil
		}
		sym, off, err := parseSymExpr(imm)
		if err != nil {
			return a, fmt.Errorf("bad immediate %q", imm)
		}
		if !allowSym {
			return a, fmt.Errorf("immediate %q is a symbol address, which needs the ELF symbol table: %w", imm, errSymbolic)
		}
		a.Symbol, a.Const = sym, off
		return a, nil
	case op[0] == '%':
		if strings.ContainsAny(op, ":") {
			return a, errors.New("segment registers are unsupported")
		}
		r, err := lookupReg(op[1:])
		if err != nil {
			return a, err
		}
		a.Kind = ArgReg
		a.Reg, a.RegOffset, a.BitShift = r.canon, PtRegsOffset[r.canon], r.shift
		return a, nil
	}
	if strings.Contains(op, ":") {
		return a, errors.New("segment-prefixed memory operands are unsupported")
	}
	open := strings.IndexByte(op, '(')
	if open < 0 || !strings.HasSuffix(op, ")") {
		return a, errors.New("unrecognized operand (want %reg, $imm, off(%reg) or (%reg))")
	}
	disp, inner := op[:open], op[open+1:len(op)-1]
	if strings.Contains(inner, ",") {
		return a, errors.New("memory operands with an index register are unsupported")
	}
	if !strings.HasPrefix(inner, "%") {
		return a, errors.New("memory operand without a base register")
	}
	r, err := lookupReg(inner[1:])
	if err != nil {
		return a, err
	}
	if r.shift != 0 {
		return a, fmt.Errorf("%%%s cannot be a base register", inner[1:])
	}
	a.Kind = ArgRegDeref
	a.Reg, a.RegOffset = r.canon, PtRegsOffset[r.canon]
	if disp == "" {
		return a, nil
	}
	if v, err := parseInt(disp); err == nil {
		a.Offset = v
		return a, nil
	}
	sym, off, err := parseSymExpr(disp)
	if err != nil {
		return a, fmt.Errorf("bad displacement %q", disp)
	}
	if r.canon != "rip" {
		return a, fmt.Errorf("symbolic displacement %q on %%%s is unsupported (only RIP-relative symbols are)", disp, r.canon)
	}
	if !allowSym {
		return a, fmt.Errorf("RIP-relative operand against symbol %q needs the ELF symbol table (use Probes, which resolves it): %w", sym, errSymbolic)
	}
	a.Symbol, a.Offset = sym, off
	return a, nil
}

func lookupReg(name string) (regAlias, error) {
	r, ok := x86Regs[strings.ToLower(name)]
	if !ok {
		return r, fmt.Errorf("unknown or unsupported register %%%s", name)
	}
	return r, nil
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
