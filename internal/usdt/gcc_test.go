package usdt

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The test program: probes with 0..6 arguments of various sizes and signs,
// constants, a volatile local (memory operand), globals (RIP-relative), a
// probe in a loop, and, in a separate file compiled with semaphores, a
// probe guarded by its semaphore.
const testMainC = `#include <sys/sdt.h>

int global_counter = 42;
long global_long = -7;

__attribute__((noinline)) static int work(int argc, char **argv) {
	char c = (char)(argc - 100);
	short s = (short)(argc * -300);
	int i = argc * -70000;
	long l = (long)argc * -5000000000L;
	unsigned int u = (unsigned int)argc * 3000000000u;
	unsigned char uc = (unsigned char)(argc + 200);
	volatile int local = argc + 5;

	DTRACE_PROBE(bpftrail_test, zero);
	DTRACE_PROBE1(bpftrail_test, one, c);
	DTRACE_PROBE2(bpftrail_test, two, c, s);
	DTRACE_PROBE3(bpftrail_test, three, i, u, -5);
	DTRACE_PROBE4(bpftrail_test, four, l, uc, (unsigned short)s, argv);
	STAP_PROBE5(bpftrail_test, five, local, global_counter, global_long, 123, -1L);
	STAP_PROBE6(bpftrail_test, six, c, s, i, l, u, uc);
	return c + s + i + (int)l + (int)u + local;
}

extern int sem_probe(int);

int main(int argc, char **argv) {
	int r = 0;
	for (int k = 0; k < 2; k++) {
		r += work(argc, argv);
		DTRACE_PROBE1(bpftrail_test, loop, k);
	}
	r += sem_probe(argc);
	return r & 1;
}
`

// In Debian's sys/sdt.h (systemtap-sdt-dev 4.8), defining
// _SDT_HAS_SEMAPHORES makes every probe of the translation unit reference
// a provider_name_semaphore variable, which the program must define (in
// the .probes section, as dtrace -G would).
const testSemC = `#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

unsigned short bpftrail_test_guarded_semaphore __attribute__((unused, section(".probes")));

int sem_probe(int x) {
	if (bpftrail_test_guarded_semaphore)
		DTRACE_PROBE2(bpftrail_test, guarded, x, (long)x * 2);
	return x;
}
`

// requireToolchain skips the test when gcc, <sys/sdt.h> or readelf is
// missing, except in CI (CI=true) where it fails.
func requireToolchain(t *testing.T) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + " (apt-get install gcc binutils systemtap-sdt-dev)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, tool := range []string{"gcc", "readelf"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("%s not found", tool)
		}
	}
	cmd := exec.Command("gcc", "-fsyntax-only", "-x", "c", "-")
	cmd.Stdin = strings.NewReader("#include <sys/sdt.h>\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		missing("<sys/sdt.h> not usable: %v\n%s", err, out)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func buildTestProgram(t *testing.T, pie bool) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{"main.c": testMainC, "sem.c": testSemC} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "prog")
	args := []string{"-O2", "-o", bin, filepath.Join(dir, "main.c"), filepath.Join(dir, "sem.c")}
	if pie {
		args = append(args, "-fPIE", "-pie")
	} else {
		args = append(args, "-fno-pie", "-no-pie")
	}
	run(t, "gcc", args...)
	return bin
}

// readelfNote is one stapsdt note as printed by readelf -n.
type readelfNote struct {
	provider, name  string
	loc, base, sema uint64
	args            string
}

var (
	readelfNoteRE = regexp.MustCompile(`Provider: (\S+)\s+Name: (\S+)\s+Location: 0x([0-9a-f]+), Base: 0x([0-9a-f]+), Semaphore: 0x([0-9a-f]+)\s+Arguments: ?([^\n]*)`)
	readelfLoadRE = regexp.MustCompile(`(?m)^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x`)
	readelfBaseRE = regexp.MustCompile(`\]\s+\.stapsdt\.base\s+PROGBITS\s+([0-9a-f]+)`)
)

func hex(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readelfProbes computes, from readelf output alone, each probe's
// (prelink-adjusted) location, file offset and semaphore file offset.
func readelfProbes(t *testing.T, bin string) []Probe {
	t.Helper()
	notesOut := run(t, "readelf", "-n", "--wide", bin)
	segsOut := run(t, "readelf", "-l", "--wide", bin)
	secsOut := run(t, "readelf", "-S", "--wide", bin)

	type seg struct {
		off, vaddr, filesz uint64
		exec               bool
	}
	var segs []seg
	for _, m := range readelfLoadRE.FindAllStringSubmatch(segsOut, -1) {
		segs = append(segs, seg{hex(t, m[1]), hex(t, m[2]), hex(t, m[3]), strings.Contains(m[5], "E")})
	}
	if len(segs) == 0 {
		t.Fatalf("no LOAD segments in readelf -l output:\n%s", segsOut)
	}
	toOffset := func(addr uint64, exec bool) uint64 {
		for _, s := range segs {
			if s.exec == exec && addr >= s.vaddr && addr < s.vaddr+s.filesz {
				return addr - s.vaddr + s.off
			}
		}
		t.Fatalf("address %#x in no LOAD segment (exec=%v)", addr, exec)
		return 0
	}
	m := readelfBaseRE.FindStringSubmatch(secsOut)
	if m == nil {
		t.Fatalf("no .stapsdt.base in readelf -S output:\n%s", secsOut)
	}
	baseAddr := hex(t, m[1])

	var probes []Probe
	for _, m := range readelfNoteRE.FindAllStringSubmatch(notesOut, -1) {
		n := readelfNote{m[1], m[2], hex(t, m[3]), hex(t, m[4]), hex(t, m[5]), strings.TrimSpace(m[6])}
		p := Probe{Provider: n.provider, Name: n.name, Location: n.loc + baseAddr - n.base, ArgsText: n.args}
		p.FileOffset = toOffset(p.Location, true)
		if n.sema != 0 {
			p.Semaphore = n.sema + baseAddr - n.base
			p.SemaphoreOffset = toOffset(p.Semaphore, false)
		}
		probes = append(probes, p)
	}
	if len(probes) == 0 {
		t.Fatalf("no stapsdt notes in readelf -n output:\n%s", notesOut)
	}
	return probes
}

// nmSymbols returns the addresses of the symbols of bin, as nm prints them.
func nmSymbols(t *testing.T, bin string) map[string]uint64 {
	t.Helper()
	syms := map[string]uint64{}
	for _, line := range strings.Split(run(t, "nm", bin), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			syms[f[2]] = hex(t, f[0])
		}
	}
	return syms
}

func TestCompiledProbes(t *testing.T) {
	requireToolchain(t)
	// Expected signed sizes of the arguments, by probe name (negative:
	// signed), from the C types in testMainC.
	wantSizes := map[string][]int{
		"zero":    {},
		"one":     {-1},
		"two":     {-1, -2},
		"three":   {-4, 4, -4},
		"four":    {-8, 1, 2, 8},
		"five":    {-4, -4, -8, -4, -8},
		"six":     {-1, -2, -4, -8, 4, 1},
		"loop":    {-4},
		"guarded": {-4, -8},
	}
	for _, pie := range []bool{false, true} {
		t.Run(map[bool]string{false: "nopie", true: "pie"}[pie], func(t *testing.T) {
			bin := buildTestProgram(t, pie)
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
				r := ref[i]
				seen[p.Name]++
				if p.Err != nil {
					t.Errorf("%s: %v", p.ID(), p.Err)
					continue
				}
				if p.Provider != r.Provider || p.Name != r.Name || p.ArgsText != r.ArgsText {
					t.Errorf("probe %d = %s %q, readelf says %s %q", i, p.ID(), p.ArgsText, r.ID(), r.ArgsText)
				}
				if p.Location != r.Location || p.FileOffset != r.FileOffset {
					t.Errorf("%s: location %#x file offset %#x, readelf math gives %#x / %#x", p.ID(), p.Location, p.FileOffset, r.Location, r.FileOffset)
				}
				if p.Semaphore != r.Semaphore || p.SemaphoreOffset != r.SemaphoreOffset {
					t.Errorf("%s: semaphore %#x offset %#x, readelf math gives %#x / %#x", p.ID(), p.Semaphore, p.SemaphoreOffset, r.Semaphore, r.SemaphoreOffset)
				}
				if hasSema := p.Semaphore != 0; hasSema != (p.Name == "guarded") {
					t.Errorf("%s: semaphore %#x, want one only on guarded", p.ID(), p.Semaphore)
				}
				if p.Name == "guarded" && p.Semaphore != syms["bpftrail_test_guarded_semaphore"] {
					t.Errorf("guarded: semaphore %#x, nm says %#x", p.Semaphore, syms["bpftrail_test_guarded_semaphore"])
				}
				if p.Provider != "bpftrail_test" {
					t.Errorf("unexpected provider %q", p.Provider)
				}
				want, ok := wantSizes[p.Name]
				if !ok {
					t.Errorf("unexpected probe %s", p.ID())
					continue
				}
				var got []int
				for _, a := range p.Args {
					s := a.Size
					if a.Signed {
						s = -s
					}
					got = append(got, s)
					if a.Machine != elf.EM_X86_64 || a.Kind != ArgConst && regOffset(t, a.Machine, a.Reg) != a.RegOffset {
						t.Errorf("%s: %+v: wrong RegOffset", p.ID(), a)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s (%q): signed sizes %v, want %v", p.ID(), p.ArgsText, got, want)
				}
				switch p.Name {
				case "three":
					if a := p.Args[2]; a.Kind != ArgConst || a.Const != -5 {
						t.Errorf("three: arg 3 = %+v, want constant -5", a)
					}
				case "five":
					a := p.Args
					if a[0].Kind != ArgRegDeref || a[0].Symbol != "" {
						t.Errorf("five: volatile local = %+v, want a memory operand", a[0])
					}
					for j, sym := range []string{"global_counter", "global_long"} {
						g := a[j+1]
						if g.Kind != ArgRegDeref || g.Reg != "rip" || g.Symbol != sym || p.Location+uint64(g.Offset) != syms[sym] {
							t.Errorf("five: arg %d = %+v, want rip-relative to %s at %#x (location %#x)", j+2, g, sym, syms[sym], p.Location)
						}
					}
					if a[3].Kind != ArgConst || a[3].Const != 123 || a[4].Kind != ArgConst || a[4].Const != -1 {
						t.Errorf("five: constants %+v %+v, want 123 and -1", a[3], a[4])
					}
				}
			}
			var names []string
			for n := range wantSizes {
				names = append(names, n)
				if seen[n] == 0 {
					t.Errorf("probe %s missing", n)
				}
			}
			sort.Strings(names)

			// Find returns every location of a probe.
			loops, err := Find(probes, "", "loop")
			if err != nil || len(loops) != seen["loop"] {
				t.Errorf("Find(loop) = %d probes, %v; want %d", len(loops), err, seen["loop"])
			}
			if got, err := Find(probes, "bpftrail_test", "guarded"); err != nil || len(got) != 1 || got[0].SemaphoreOffset == 0 {
				t.Errorf("Find(guarded) = %+v, %v", got, err)
			}
			_, err = Find(probes, "bpftrail_test", "thre")
			if err == nil || !strings.Contains(err.Error(), "did you mean bpftrail_test:three?") || !strings.Contains(err.Error(), "bpftrail_test:zero") {
				t.Errorf("Find(thre) error = %v", err)
			}
		})
	}
}
