// Package symbolize turns sampled stack addresses into function names.
//
// Kernel addresses are resolved against /proc/kallsyms (see [LoadKernel]).
// User-space addresses are resolved per process (see [NewProcess]): the
// process's /proc/PID/maps is read when the snapshot is taken, and the
// executable file mappings are opened and their symbol tables loaded at that
// moment, so that a process that exits afterwards can still be symbolized.
//
// ELF symbol tables ([OpenELF]) are merged from, in order of preference:
// separate debug info found by GNU build id (/usr/lib/debug/.build-id/xx/yyyy.debug)
// or by .gnu_debuglink, the file's own .symtab, the .gnu_debugdata section
// ("MiniDebugInfo": an xz-compressed ELF whose .symtab holds the static
// functions that a stripped binary dropped, as Fedora ships them), .dynsym,
// and for stripped Go binaries the function table in .gopclntab.
//
// Runtime addresses are turned into ELF virtual addresses through the mapping
// and the PT_LOAD program headers:
//
//	file_off = addr - mapping.start + mapping.offset
//	vaddr    = file_off - load.p_offset + load.p_vaddr   (load: the PT_LOAD containing file_off)
//
// which is right for position-independent (ET_DYN) and fixed-address (ET_EXEC)
// files alike.
//
// Anonymous executable mappings are looked up in the perf map file
// /tmp/perf-PID.map written by JITs (Node's --perf-basic-prof, perf-map-agent).
// The vDSO is read from the process's memory.
//
// A [Cache] shares opened ELF files (keyed by device, inode, size and mtime),
// process snapshots and the kernel symbol table between goroutines.
package symbolize

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// Module names used for frames that do not belong to a file.
const (
	ModuleKernel  = "[kernel]"  // the core kernel image (vmlinux)
	ModuleUnknown = "[unknown]" // an address in no known mapping
	ModuleAnon    = "[anon]"    // an anonymous mapping without perf-map symbols
	ModuleJIT     = "[jit]"     // an anonymous mapping symbolized through /tmp/perf-PID.map
)

// Frame is one symbolized address.
type Frame struct {
	Addr     uint64
	Function string // symbol name, demangled for C++/Rust; "" when unknown
	Offset   uint64 // Addr - start of the symbol (0 when Function is "")
	// Module is "[kernel]", "[modname]" for a kernel module (as in
	// /proc/kallsyms, e.g. "[ext4]", "[bpf]"), the mapped file's path, a
	// pseudo path such as "[vdso]", or ModuleUnknown/ModuleAnon/ModuleJIT.
	Module string
	// ModuleOffset is the address relative to the module: the ELF virtual
	// address for ELF files (what addr2line expects), else the file offset;
	// the offset into the mapping for anonymous and JIT mappings; the address
	// itself for kernel and unknown frames.
	ModuleOffset uint64
	BuildID      string // hex GNU build id of the module, "" if not known
}

// Known reports whether a function name was found.
func (f Frame) Known() bool { return f.Function != "" }

// String formats the frame as "func+0x12 (module)" or, for an unknown
// function, "module+0x1234".
func (f Frame) String() string {
	if f.Function == "" {
		return fmt.Sprintf("%s+0x%x", f.Module, f.ModuleOffset)
	}
	if f.Offset == 0 {
		return fmt.Sprintf("%s (%s)", f.Function, f.Module)
	}
	return fmt.Sprintf("%s+0x%x (%s)", f.Function, f.Offset, f.Module)
}

// Demangle returns the demangled form of a C++ (Itanium) or Rust symbol
// name, or name unchanged if it is not mangled (Go and C names).
func Demangle(name string) string {
	if !strings.HasPrefix(name, "_Z") && !strings.HasPrefix(name, "_R") && !strings.HasPrefix(name, "__Z") {
		return name
	}
	return demangle.Filter(name)
}

// symbol is one entry of a sorted address table.
type symbol struct {
	addr uint64
	size uint64 // 0: unknown, extends to the next symbol
	name string
}

// symtab is a table of symbols sorted by address with unique addresses.
type symtab []symbol

// finish sorts the table and drops duplicate addresses, keeping the first
// symbol added at an address (callers add preferred sources first), with
// the size of a later one if it has none.
func (t symtab) finish() symtab {
	sort.SliceStable(t, func(i, j int) bool { return t[i].addr < t[j].addr })
	out := t[:0]
	for _, s := range t {
		if n := len(out); n > 0 && out[n-1].addr == s.addr {
			if out[n-1].size == 0 {
				out[n-1].size = s.size
			}
			continue
		}
		out = append(out, s)
	}
	return out[:len(out):len(out)]
}

// lookup finds the symbol containing addr. A symbol with a size covers
// [addr, addr+size); one without a size extends to the next symbol.
func (t symtab) lookup(addr uint64) (symbol, bool) {
	i := sort.Search(len(t), func(i int) bool { return t[i].addr > addr }) - 1
	if i < 0 {
		return symbol{}, false
	}
	s := t[i]
	if s.size == 0 || addr-s.addr < s.size {
		return s, true
	}
	// addr lies past the end of the nearest symbol; a few symbols back a
	// larger one may enclose it (nested or overlapping symbols).
	for j := i - 1; j >= 0 && j >= i-8; j-- {
		if p := t[j]; p.size != 0 && addr-p.addr < p.size {
			return p, true
		}
	}
	return symbol{}, false
}
