package ptregs

import (
	"debug/elf"
	"strconv"
)

// amd64Slots are the registers of x86-64's struct pt_regs
// (arch/x86/include/uapi/asm/ptrace.h) in order, 8 bytes each.
var amd64Slots = []string{
	"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
	"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
}

// amd64Names lists the operand names of each general-purpose register:
// its 8-, 4-, 2- and 1-byte names, then for the first four the high byte
// (bits 8..15).
var amd64Names = [][]string{
	{"rax", "eax", "ax", "al", "ah"},
	{"rbx", "ebx", "bx", "bl", "bh"},
	{"rcx", "ecx", "cx", "cl", "ch"},
	{"rdx", "edx", "dx", "dl", "dh"},
	{"rsi", "esi", "si", "sil"},
	{"rdi", "edi", "di", "dil"},
	{"rbp", "ebp", "bp", "bpl"},
	{"rsp", "esp", "sp", "spl"},
	{"r8", "r8d", "r8w", "r8b"},
	{"r9", "r9d", "r9w", "r9b"},
	{"r10", "r10d", "r10w", "r10b"},
	{"r11", "r11d", "r11w", "r11b"},
	{"r12", "r12d", "r12w", "r12b"},
	{"r13", "r13d", "r13w", "r13b"},
	{"r14", "r14d", "r14w", "r14b"},
	{"r15", "r15d", "r15w", "r15b"},
	{"rip", "eip"},
}

// amd64Args are the argument registers of the System V AMD64 calling
// convention.
var amd64Args = []string{"rdi", "rsi", "rdx", "rcx", "r8", "r9"}

func amd64Layout() *Layout {
	offset := map[string]int{}
	for i, s := range amd64Slots {
		offset[s] = 8 * i
	}
	names := map[string]Reg{}
	for _, row := range amd64Names {
		slot := row[0]
		for i, n := range row {
			r := Reg{Name: slot, Offset: offset[slot], Size: []int{8, 4, 2, 1, 1}[i]}
			if i == 4 {
				r.Shift = 8
			}
			names[n] = r
		}
		if len(row) == 4 && row[3] == slot+"b" {
			// Intel's manuals call the low byte of r8..r15 r8l..r15l.
			names[slot+"l"] = names[row[3]]
		}
	}
	return &Layout{
		Machine: elf.EM_X86_64,
		Arch:    "amd64",
		Args:    regs(names, amd64Args),
		Ret:     names["rax"],
		names:   names,
	}
}

// AArch64's struct pt_regs begins with struct user_pt_regs
// (arch/arm64/include/uapi/asm/ptrace.h): regs[31] (x0..x30), sp, pc,
// pstate, 8 bytes each.
const (
	arm64GPRs     = 31
	arm64SPOffset = 8 * arm64GPRs
	arm64PCOffset = arm64SPOffset + 8
)

// arm64Args are the argument registers of the AAPCS64 calling convention.
var arm64Args = []string{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"}

func arm64Layout() *Layout {
	names := map[string]Reg{
		"sp": {Name: "sp", Offset: arm64SPOffset, Size: 8},
		"pc": {Name: "pc", Offset: arm64PCOffset, Size: 8},
	}
	for i := range arm64GPRs {
		x := "x" + strconv.Itoa(i)
		names[x] = Reg{Name: x, Offset: 8 * i, Size: 8}
		names["w"+strconv.Itoa(i)] = Reg{Name: x, Offset: 8 * i, Size: 4}
	}
	return &Layout{
		Machine: elf.EM_AARCH64,
		Arch:    "arm64",
		Args:    regs(names, arm64Args),
		Ret:     names["x0"],
		names:   names,
	}
}

func regs(names map[string]Reg, list []string) []Reg {
	out := make([]Reg, len(list))
	for i, n := range list {
		out[i] = names[n]
	}
	return out
}
