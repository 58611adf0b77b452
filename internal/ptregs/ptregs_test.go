package ptregs

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAMD64(t *testing.T) {
	l, err := ForMachine(elf.EM_X86_64)
	if err != nil {
		t.Fatal(err)
	}
	// The System V argument registers and rax, at their offsets in the
	// uapi struct pt_regs.
	wantArgs := []Reg{
		{"rdi", 112, 8, 0}, {"rsi", 104, 8, 0}, {"rdx", 96, 8, 0},
		{"rcx", 88, 8, 0}, {"r8", 72, 8, 0}, {"r9", 64, 8, 0},
	}
	if diff := cmp.Diff(wantArgs, l.Args); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
	if want := (Reg{"rax", 80, 8, 0}); l.Ret != want {
		t.Errorf("Ret = %+v, want %+v", l.Ret, want)
	}
	for name, want := range map[string]Reg{
		"rax": {"rax", 80, 8, 0}, "eax": {"rax", 80, 4, 0}, "ax": {"rax", 80, 2, 0},
		"al": {"rax", 80, 1, 0}, "ah": {"rax", 80, 1, 8}, "dh": {"rdx", 96, 1, 8},
		"sil": {"rsi", 104, 1, 0}, "spl": {"rsp", 152, 1, 0}, "sp": {"rsp", 152, 2, 0},
		"esp": {"rsp", 152, 4, 0}, "bpl": {"rbp", 32, 1, 0}, "R8D": {"r8", 72, 4, 0},
		"r10b": {"r10", 56, 1, 0}, "r10l": {"r10", 56, 1, 0}, "r15w": {"r15", 0, 2, 0},
		"rip": {"rip", 128, 8, 0}, "eip": {"rip", 128, 4, 0},
	} {
		if got, ok := l.Reg(name); !ok || got != want {
			t.Errorf("Reg(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	for _, name := range []string{"xmm0", "fs", "orig_rax", "eflags", "r16", "sih", "x0", ""} {
		if r, ok := l.Reg(name); ok {
			t.Errorf("Reg(%q) = %+v, want no register", name, r)
		}
	}
	// 16 general-purpose registers with 4 or 5 names, the r8l..r15l
	// spellings, and rip/eip.
	if n := len(l.Names()); n != 4*5+12*4+8+2 {
		t.Errorf("%d register names: %v", n, l.Names())
	}
}

func TestARM64(t *testing.T) {
	l, err := ForMachine(elf.EM_AARCH64)
	if err != nil {
		t.Fatal(err)
	}
	var wantArgs []Reg
	for i, x := range []string{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"} {
		wantArgs = append(wantArgs, Reg{x, 8 * i, 8, 0})
	}
	if diff := cmp.Diff(wantArgs, l.Args); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
	if want := (Reg{"x0", 0, 8, 0}); l.Ret != want {
		t.Errorf("Ret = %+v, want %+v", l.Ret, want)
	}
	for name, want := range map[string]Reg{
		"x0": {"x0", 0, 8, 0}, "w0": {"x0", 0, 4, 0}, "x29": {"x29", 232, 8, 0},
		"W30": {"x30", 240, 4, 0}, "x30": {"x30", 240, 8, 0},
		"sp": {"sp", 248, 8, 0}, "pc": {"pc", 256, 8, 0},
	} {
		if got, ok := l.Reg(name); !ok || got != want {
			t.Errorf("Reg(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	for _, name := range []string{"x31", "w31", "xzr", "wzr", "wsp", "pstate", "v0", "x", "rax", "x01"} {
		if r, ok := l.Reg(name); ok {
			t.Errorf("Reg(%q) = %+v, want no register", name, r)
		}
	}
	if n := len(l.Names()); n != 2*31+2 {
		t.Errorf("%d register names: %v", n, l.Names())
	}
}

func TestForMachineUnsupported(t *testing.T) {
	_, err := ForMachine(elf.EM_RISCV)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "riscv") {
		t.Errorf("ForMachine(EM_RISCV) error = %v, want ErrUnsupported naming riscv", err)
	}
}

// nativeMachines are the ELF machines of the GOARCHes with a layout.
var nativeMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func TestNative(t *testing.T) {
	l, err := Native()
	want, supported := nativeMachines[runtime.GOARCH]
	if !supported {
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), runtime.GOARCH) {
			t.Errorf("Native() error = %v, want ErrUnsupported naming %s", err, runtime.GOARCH)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.Machine != want || l.Arch != runtime.GOARCH {
		t.Errorf("Native() = %v %s on %s", l.Machine, l.Arch, runtime.GOARCH)
	}
}

func TestForBinary(t *testing.T) {
	native, ok := nativeMachines[runtime.GOARCH]
	if !ok {
		if _, err := ForBinary(elf.EM_X86_64); !errors.Is(err, ErrUnsupported) {
			t.Errorf("ForBinary on %s: %v, want ErrUnsupported", runtime.GOARCH, err)
		}
		return
	}
	if l, err := ForBinary(native); err != nil || l.Machine != native {
		t.Errorf("ForBinary(%v) = %v, %v", native, l, err)
	}
	if l, err := ForFile("/proc/self/exe"); err != nil || l.Machine != native {
		t.Errorf("ForFile(test binary) = %v, %v", l, err)
	}
	for _, m := range []elf.Machine{elf.EM_X86_64, elf.EM_AARCH64, elf.EM_RISCV} {
		if m == native {
			continue
		}
		_, err := ForBinary(m)
		if !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), machineName(m)) || !strings.Contains(err.Error(), runtime.GOARCH) {
			t.Errorf("ForBinary(%v) on %s: error %v, want ErrForeign naming both", m, runtime.GOARCH, err)
		}
		path := writeELFHeader(t, m)
		_, err = ForFile(path)
		if !errors.Is(err, ErrForeign) || !strings.HasPrefix(err.Error(), path+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ForFile(%v binary) on %s: error %q, want one line naming the file, wrapping ErrForeign", m, runtime.GOARCH, err)
		}
	}
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ForFile(notELF); err == nil || !strings.Contains(err.Error(), "not a readable ELF file") {
		t.Errorf("ForFile(shell script) error = %v", err)
	}
}

// writeELFHeader writes a 64-bit little-endian ELF file for machine m that
// holds only its file header.
func writeELFHeader(t *testing.T, m elf.Machine) string {
	t.Helper()
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(h[16:], uint16(elf.ET_EXEC))
	le.PutUint16(h[18:], uint16(m))
	le.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	le.PutUint16(h[52:], 64) // e_ehsize
	path := filepath.Join(t.TempDir(), machineName(m)+".elf")
	if err := os.WriteFile(path, h, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
