package usdt

import (
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// arm64Builds are the ways TestCompiledProbesARM64 builds the test program,
// each giving the globals of probe "five" a different operand form: a
// section anchor in a register with numeric offsets ("-4@[x1] -8@[x1, 8]"),
// the page of each symbol with its low 12 bits
// ("-4@[x1, #:lo12:global_counter]"), or a value loaded into a register at
// -O0, where the locals are read from the stack ("1@[sp, 47]", "8@[sp]").
var arm64Builds = []struct {
	name    string
	flags   []string
	globals string // "anchor", "lo12" or "register"
}{
	{"O2-nopie", []string{"-O2", "-fno-pie", "-no-pie"}, "anchor"},
	{"O2-pie", []string{"-O2", "-fPIE", "-pie"}, "anchor"},
	{"O2-lo12", []string{"-O2", "-fPIE", "-pie", "-fno-section-anchors"}, "lo12"},
	{"O0", []string{"-O0"}, "register"},
}

// sdtInclude returns a directory holding a copy of the host's sys/sdt.h
// and sys/sdt-config.h, for a cross compiler whose sysroot lacks them.
func sdtInclude(t *testing.T) string {
	t.Helper()
	deps := run(t, "gcc", "-M", "-MT", "x", "-include", "sys/sdt.h", "-x", "c", "/dev/null")
	m := regexp.MustCompile(`(\S+)/sys/sdt\.h`).FindStringSubmatch(deps)
	if m == nil {
		t.Fatalf("no sys/sdt.h in gcc -M output:\n%s", deps)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sys"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"sdt.h", "sdt-config.h"} {
		b, err := os.ReadFile(filepath.Join(m[1], "sys", h))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sys", h), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testPadC, linked first, moves the globals of testMainC 0x9a0 bytes
// into their page, so that their low 12 bits reach above the low byte.
const testPadC = `long bpftrail_test_pad[0x9a0 / sizeof(long)] = {1};
`

func buildARM64Program(t *testing.T, cc, include string, flags []string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{"pad.c": testPadC, "main.c": testMainC, "sem.c": testSemC} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "prog")
	args := []string{"-I", include, "-o", bin}
	for _, name := range []string{"pad.c", "main.c", "sem.c"} {
		args = append(args, filepath.Join(dir, name))
	}
	args = append(args, flags...)
	run(t, cc, args...)
	return bin
}

// TestCompiledProbesARM64 builds the program of TestCompiledProbes with
// Debian's AArch64 cross compiler and checks that every probe decodes on
// this host exactly: addresses as readelf computes them, sizes and signs
// from the C types (char is unsigned on AArch64), each operand printed
// back as the note wrote it, constants, and the globals' addresses
// against nm.
func TestCompiledProbesARM64(t *testing.T) {
	requireToolchain(t)
	cc := bpftest.RequireTool(t, "aarch64-linux-gnu-gcc")
	include := sdtInclude(t)
	wantSizes := map[string][]int{
		"zero":    {},
		"one":     {1},
		"two":     {1, -2},
		"three":   {-4, 4, -4},
		"four":    {-8, 1, 2, 8},
		"five":    {-4, -4, -8, -4, -8},
		"six":     {1, -2, -4, -8, 4, 1},
		"loop":    {-4},
		"guarded": {-4, -8},
	}
	for _, b := range arm64Builds {
		t.Run(b.name, func(t *testing.T) {
			bin := buildARM64Program(t, cc, include, b.flags)
			probes, err := Probes(bin)
			if err != nil {
				t.Fatal(err)
			}
			ref := readelfProbes(t, bin)
			if len(probes) != len(ref) {
				t.Fatalf("Probes found %d probes, readelf %d", len(probes), len(ref))
			}
			syms := nmSymbols(t, bin)
			seen := map[string]int{}
			for i, p := range probes {
				seen[p.Name]++
				checkARM64Probe(t, p, ref[i], wantSizes, syms)
				if p.Name == "five" && p.Err == nil {
					checkARM64Globals(t, p, b.globals, syms)
				}
			}
			for n := range wantSizes {
				if seen[n] == 0 {
					t.Errorf("probe %s missing", n)
				}
			}
		})
	}
}

// checkARM64Probe compares p with readelf's view r and checks its
// arguments.
func checkARM64Probe(t *testing.T, p, r Probe, wantSizes map[string][]int, syms map[string]uint64) {
	t.Helper()
	if p.Err != nil {
		t.Errorf("%s: %v", p.ID(), p.Err)
		return
	}
	if p.ID() != r.ID() || p.ArgsText != r.ArgsText || p.Location != r.Location || p.FileOffset != r.FileOffset ||
		p.Semaphore != r.Semaphore || p.SemaphoreOffset != r.SemaphoreOffset {
		t.Errorf("%s %q at %#x (file %#x, semaphore %#x/%#x), readelf says %s %q at %#x (file %#x, semaphore %#x/%#x)",
			p.ID(), p.ArgsText, p.Location, p.FileOffset, p.Semaphore, p.SemaphoreOffset,
			r.ID(), r.ArgsText, r.Location, r.FileOffset, r.Semaphore, r.SemaphoreOffset)
	}
	if p.Name == "guarded" && (p.Semaphore == 0 || p.Semaphore != syms["bpftrail_test_guarded_semaphore"]) {
		t.Errorf("guarded: semaphore %#x, nm says %#x", p.Semaphore, syms["bpftrail_test_guarded_semaphore"])
	}
	tokens := splitArgs(p.ArgsText)
	if len(tokens) != len(p.Args) || len(p.Args) != len(wantSizes[p.Name]) {
		t.Errorf("%s (%q): %d arguments, want %d", p.ID(), p.ArgsText, len(p.Args), len(wantSizes[p.Name]))
		return
	}
	for j, a := range p.Args {
		size := a.Size
		if a.Signed {
			size = -size
		}
		if size != wantSizes[p.Name][j] {
			t.Errorf("%s (%q): argument %d has signed size %d, want %d", p.ID(), p.ArgsText, j+1, size, wantSizes[p.Name][j])
		}
		if a.Machine != elf.EM_AARCH64 || a.Kind != ArgConst && !validReg(a) {
			t.Errorf("%s: argument %d = %+v: not an AArch64 register at its pt_regs offset", p.ID(), j+1, a)
		}
		if a.Symbol == "" && a.String() != tokens[j] {
			t.Errorf("%s: argument %d %q reads back as %q (%+v)", p.ID(), j+1, tokens[j], a.String(), a)
		}
		if a.Symbol != "" && (a.Kind != ArgRegDeref || a.Offset != int64(syms[a.Symbol]&0xfff)) {
			t.Errorf("%s: argument %d = %+v, want the low 12 bits of %s at %#x", p.ID(), j+1, a, a.Symbol, syms[a.Symbol])
		}
	}
	switch p.Name {
	case "three":
		if a := p.Args[2]; a.Kind != ArgConst || a.Const != -5 {
			t.Errorf("three: argument 3 = %+v, want constant -5", a)
		}
	case "five":
		if a := p.Args; a[3].Kind != ArgConst || a[3].Const != 123 || a[4].Kind != ArgConst || a[4].Const != -1 {
			t.Errorf("five: constants %+v %+v, want 123 and -1", a[3], a[4])
		}
	}
}

// checkARM64Globals checks the operands of global_counter and global_long
// in probe five, in the form the build gives them.
func checkARM64Globals(t *testing.T, p Probe, form string, syms map[string]uint64) {
	t.Helper()
	counter, long := p.Args[1], p.Args[2]
	switch form {
	case "anchor":
		// One register holds an anchor; the offsets differ as the symbols do.
		if counter.Kind != ArgRegDeref || long.Kind != ArgRegDeref || counter.Reg != long.Reg ||
			uint64(long.Offset-counter.Offset) != syms["global_long"]-syms["global_counter"] {
			t.Errorf("five (%q): globals %+v %+v, want one anchor register %#x apart", p.ArgsText, counter, long, syms["global_long"]-syms["global_counter"])
		}
	case "lo12":
		if counter.Symbol != "global_counter" || long.Symbol != "global_long" {
			t.Errorf("five (%q): globals %+v %+v, want :lo12: operands", p.ArgsText, counter, long)
		}
		if counter.Offset < 0x100 && long.Offset < 0x100 {
			t.Errorf("five: globals at %#x and %#x have no bits above the low byte in their page; the padding did not move them", syms["global_counter"], syms["global_long"])
		}
	case "register":
		if counter.Kind != ArgReg || long.Kind != ArgReg {
			t.Errorf("five (%q): globals %+v %+v, want registers", p.ArgsText, counter, long)
		}
	}
	if local := p.Args[0]; form != "register" && (local.Kind != ArgRegDeref || local.Reg != "sp") {
		t.Errorf("five (%q): volatile local %+v, want a stack slot", p.ArgsText, local)
	}
	if !strings.HasPrefix(p.ArgsText, "-4@") {
		t.Errorf("five (%q): want a signed 4-byte first argument", p.ArgsText)
	}
}
