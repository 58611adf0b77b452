// Package ptregs describes struct pt_regs, the register block the kernel
// hands to uprobe and kprobe programs, on the architectures whose probe
// arguments bpftrail reads: x86-64 and AArch64.
//
// A [Layout] gives the byte offsets, in struct pt_regs, of the integer
// argument registers and the return value register of the architecture's
// calling convention, and of every register name that GNU assembler
// operands (and therefore USDT argument specs) use.
//
// [ForMachine] returns the layout of any supported ELF machine, which is
// enough to decode a binary built for another architecture. [Native],
// [ForBinary] and [ForFile] answer for this host only, because the BPF
// programs that read the registers run here: they fail on a host whose
// architecture has no layout (an error wrapping [ErrUnsupported]) and for a
// binary built for another architecture (wrapping [ErrForeign]). Every
// error is one line naming the architecture.
package ptregs

import (
	"debug/elf"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
)

var (
	// ErrUnsupported is wrapped by the errors for an architecture that has
	// no layout here.
	ErrUnsupported = errors.New("unsupported architecture")
	// ErrForeign is wrapped by the errors for a binary built for an
	// architecture other than the host's.
	ErrForeign = errors.New("the registers of another architecture cannot be read")
)

// Reg is a register name of the assembler syntax resolved to its slot in
// struct pt_regs.
type Reg struct {
	// Name is the register that owns the slot: "rax" for %eax, %ax, %al
	// and %ah; "x3" for w3.
	Name string
	// Offset is the byte offset of the slot in struct pt_regs.
	Offset int
	// Size is how many bytes of the slot the name covers: 8 for rax and
	// x3, 4 for eax and w3, 1 for al and ah.
	Size int
	// Shift is the bit position of the named part in the slot: 8 for the
	// high-byte registers %ah, %bh, %ch and %dh, 0 otherwise.
	Shift int
}

// Layout is the struct pt_regs of one architecture.
type Layout struct {
	Machine elf.Machine
	// Arch is the architecture's GOARCH name: "amd64", "arm64".
	Arch string
	// Args are the integer argument registers of the calling convention,
	// in order: rdi, rsi, rdx, rcx, r8, r9 on x86-64; x0..x7 on AArch64.
	Args []Reg
	// Ret is the register that holds a function's integer return value.
	Ret Reg

	names map[string]Reg
}

// Reg looks up a register name as assembler operands spell it, without
// the AT&T '%' prefix and regardless of case: "eax", "R8D", "w3", "sp".
func (l *Layout) Reg(name string) (Reg, bool) {
	r, ok := l.names[strings.ToLower(name)]
	return r, ok
}

// Names returns every register name [Layout.Reg] knows, sorted.
func (l *Layout) Names() []string {
	out := make([]string, 0, len(l.names))
	for n := range l.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// layouts holds the supported architectures by ELF machine.
var layouts = map[elf.Machine]*Layout{
	elf.EM_X86_64:  amd64Layout(),
	elf.EM_AARCH64: arm64Layout(),
}

// ForMachine returns the layout of the ELF machine m, whatever the host.
func ForMachine(m elf.Machine) (*Layout, error) {
	l, ok := layouts[m]
	if !ok {
		return nil, fmt.Errorf("%w: %s (probe arguments are read on amd64 and arm64)", ErrUnsupported, machineName(m))
	}
	return l, nil
}

// Native returns the layout of the host's architecture.
func Native() (*Layout, error) {
	l, ok := layouts[nativeMachine]
	if !ok {
		return nil, fmt.Errorf("%w: %s (probe arguments are read on amd64 and arm64)", ErrUnsupported, runtime.GOARCH)
	}
	return l, nil
}

// ForBinary returns the layout to read the registers of probes in a
// binary built for the ELF machine m: the host's, provided m is the host's
// machine.
func ForBinary(m elf.Machine) (*Layout, error) {
	l, err := Native()
	if err != nil {
		return nil, err
	}
	if m != l.Machine {
		return nil, fmt.Errorf("built for %s, this host is %s: %w", machineName(m), l.Arch, ErrForeign)
	}
	return l, nil
}

// ForFile is [ForBinary] for the ELF file at path.
func ForFile(path string) (*Layout, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable ELF file: %w", path, err)
	}
	m := f.Machine
	f.Close()
	l, err := ForBinary(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// machineName names an ELF machine by its GOARCH name where it has one,
// else by its ELF name without the EM_ prefix ("riscv", "386").
func machineName(m elf.Machine) string {
	if l, ok := layouts[m]; ok {
		return l.Arch
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}
