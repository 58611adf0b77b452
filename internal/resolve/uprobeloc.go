package resolve

import (
	"debug/elf"
	"errors"
	"fmt"
)

// ErrSymbolNotFound is the error of UprobeOffset for a symbol the binary
// does not define.
var ErrSymbolNotFound = errors.New("symbol not found")

// hintUnsafe is bpftrace's advice after a check --unsafe skips.
const hintUnsafe = "\nUse --unsafe to force attachment. WARNING: This option could lead to data corruption in the target process."

// elfSym is a symbol of an ELF file that a uprobe can name.
type elfSym struct {
	name        string
	value, size uint64
}

// uprobeSymbols returns the symbols of f a uprobe can name or an address
// can fall in, as bpftrace takes them: every symbol type but NOTYPE (and
// sections and files), defined (a value), from .symtab then .dynsym.
func uprobeSymbols(f *elf.File) []elfSym {
	var out []elfSym
	for _, get := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, _ := get()
		for _, s := range syms {
			switch elf.ST_TYPE(s.Info) {
			case elf.STT_NOTYPE, elf.STT_SECTION, elf.STT_FILE:
				continue
			}
			if s.Value == 0 || s.Section == elf.SHN_UNDEF {
				continue
			}
			out = append(out, elfSym{name: s.Name, value: s.Value, size: s.Size})
		}
	}
	return out
}

// UprobeOffset returns the file offset where a uprobe on path fires, for
// symbol+offset, or (symbol "") for the virtual address offset, checked as
// bpftrace checks it: the symbol must exist (else an error wrapping
// ErrSymbolNotFound), an address must fall in a symbol, the offset must
// stay within the symbol's size, a uretprobe takes no offset, and a
// symbol of size 0 needs unsafe.
func UprobeOffset(path, symbol string, offset uint64, ret, unsafe bool) (uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		if symbol == "" && unsafe {
			return offset, nil // a flat binary: the address is the offset
		}
		return 0, fmt.Errorf("uprobe binary %s: not a readable ELF file: %w", path, err)
	}
	defer f.Close()
	syms := uprobeSymbols(f)
	var sym elfSym
	found := false
	funcOffset := offset
	if symbol == "" {
		for _, s := range syms {
			if offset >= s.value && (offset < s.value+s.size || offset == s.value) {
				sym, found = s, true
				break
			}
		}
		if !found {
			if !unsafe {
				return 0, bpftraceErr(nil, "Could not resolve address: %s:%#x", path, offset)
			}
			return fileOffset(f, offset)
		}
		funcOffset = offset - sym.value
	} else {
		for _, s := range syms {
			if s.name == symbol || cutVersion(s.name) == symbol {
				sym, found = s, true
				if s.size > 0 {
					break
				}
			}
		}
		if !found {
			return 0, bpftraceErr(ErrSymbolNotFound, "Could not resolve symbol: %s:%s", path, symbol)
		}
	}
	switch {
	case ret && funcOffset != 0:
		return 0, fmt.Errorf("uretprobes cannot be attached at function offset. (address resolved to: %s+%d)", sym.name, funcOffset)
	case sym.size == 0 && funcOffset == 0:
		if !unsafe {
			return 0, bpftraceErr(nil, "Could not determine boundary for %s (symbol has size 0).%s", sym.name, hintUnsafe)
		}
	case funcOffset >= sym.size:
		return 0, bpftraceErr(nil, "Offset outside the function bounds ('%s' size is %d)", sym.name, sym.size)
	}
	return fileOffset(f, sym.value+funcOffset)
}

// cutVersion drops a symbol version (fread@@GLIBC_2.2.5).
func cutVersion(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] == '@' {
			return name[:i]
		}
	}
	return name
}

// fileOffset converts a virtual address of f into a file offset through
// the loadable segment holding it (an executable one preferred).
func fileOffset(f *elf.File, addr uint64) (uint64, error) {
	var best *elf.Prog
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr >= p.Vaddr+p.Memsz {
			continue
		}
		if best == nil || p.Flags&elf.PF_X != 0 {
			best = p
		}
	}
	if best == nil {
		return 0, fmt.Errorf("address %#x is in no loadable segment", addr)
	}
	return addr - best.Vaddr + best.Off, nil
}

// bpftraceError is an error in bpftrace's words (which start with a
// capital), wrapping err.
type bpftraceError struct {
	msg string
	err error
}

func (e *bpftraceError) Error() string { return e.msg }
func (e *bpftraceError) Unwrap() error { return e.err }

func bpftraceErr(err error, format string, args ...any) error {
	return &bpftraceError{msg: fmt.Sprintf(format, args...), err: err}
}
