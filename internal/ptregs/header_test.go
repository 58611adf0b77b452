package ptregs

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// TestOffsetsMatchKernelHeaders has each architecture's C compiler check
// every register offset against the uapi <asm/ptrace.h> of that
// architecture: x86-64's struct pt_regs and AArch64's struct user_pt_regs,
// with the host's gcc for its own architecture and Debian's cross compiler
// (gcc-aarch64-linux-gnu on amd64) for the other. Static assertions fail
// to compile on a wrong offset.
func TestOffsetsMatchKernelHeaders(t *testing.T) {
	for _, tc := range []struct {
		machine elf.Machine
		cc      string // the cross compiler
		strct   string
		field   func(reg string) string
	}{
		{elf.EM_X86_64, "x86_64-linux-gnu-gcc", "struct pt_regs", func(reg string) string { return reg }},
		{elf.EM_AARCH64, "aarch64-linux-gnu-gcc", "struct user_pt_regs", func(reg string) string {
			if n, ok := strings.CutPrefix(reg, "x"); ok {
				return "regs[" + n + "]"
			}
			return reg
		}},
	} {
		if tc.machine == nativeMachine {
			tc.cc = "gcc"
		}
		t.Run(tc.cc, func(t *testing.T) {
			cc := bpftest.RequireTool(t, tc.cc)
			l, err := ForMachine(tc.machine)
			if err != nil {
				t.Fatal(err)
			}
			var src strings.Builder
			src.WriteString("#include <stddef.h>\n#include <asm/ptrace.h>\n")
			regs := map[string]int{}
			for _, n := range l.Names() {
				r, _ := l.Reg(n)
				regs[r.Name] = r.Offset
			}
			for name, off := range regs {
				fmt.Fprintf(&src, "_Static_assert(offsetof(%s, %s) == %d, \"%s is not at %d\");\n", tc.strct, tc.field(name), off, name, off)
			}
			if len(regs) < 17 {
				t.Fatalf("only %d registers: %v", len(regs), regs)
			}
			c := filepath.Join(t.TempDir(), "regs.c")
			if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(cc, "-fsyntax-only", c).CombinedOutput(); err != nil {
				t.Errorf("%s: %v\n%s", tc.cc, err, out)
			}
		})
	}
}

// TestBuildsForOtherArchitectures compiles the package for an architecture
// of each build-constrained file: native_arm64.go and native_other.go.
func TestBuildsForOtherArchitectures(t *testing.T) {
	goTool := bpftest.RequireTool(t, "go")
	for _, arch := range []string{"arm64", "riscv64"} {
		cmd := exec.Command(goTool, "build", ".")
		cmd.Env = append(os.Environ(), "GOARCH="+arch, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOARCH=%s go build: %v\n%s", arch, err, out)
		}
	}
}
