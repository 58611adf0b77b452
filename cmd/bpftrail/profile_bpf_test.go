package main

// End-to-end tests of "bpftrail profile": a C program that burns CPU in a
// function of a known name is profiled into each output format (pprof,
// folded stacks, CTF), and the samples must put that function in the
// symbolized user stack. See record_bpf_test.go for the helpers.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// buildBurner builds testdata/burner.c: -O1 with frame pointers, so that
// the stacks unwind through burn_here and main.
func buildBurner(t *testing.T) string {
	t.Helper()
	return buildC(t, "burner", []string{"-O1", "-fno-omit-frame-pointer"}, "burner.c")
}

var profSummaryRe = regexp.MustCompile(`(?m)^bpftrail: (\d+) samples from (\d+) processes in .* written to `)

// runProfile profiles "burner SECONDS" into out and returns the number of
// samples bpftrail's summary reports.
func runProfileBurner(t *testing.T, bin, out, seconds string) int {
	t.Helper()
	_, stderr := runOK(t, "profile", "-F", "99", "-o", out, "--", bin, seconds)
	m := profSummaryRe.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stderr)
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] != "1" {
		t.Errorf("samples from %s processes, want only the command's:\n%s", m[2], stderr)
	}
	// At 99 Hz for 2 s a CPU-bound program gets ~200 samples when it has
	// a CPU to itself; a loaded machine gives it less.
	if n < 10 {
		t.Fatalf("only %d samples:\n%s", n, stderr)
	}
	return n
}

// TestBPFProfilePprof profiles the burner into a pprof profile, checks that
// at least 80 % of its samples have burn_here (called from main) in their
// user stack, and that go tool pprof reads it.
func TestBPFProfilePprof(t *testing.T) {
	setup(t)
	bin := buildBurner(t)
	out := filepath.Join(t.TempDir(), "burner.pb.gz")
	n := runProfileBurner(t, bin, out, "2")

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("profile.Parse: %v", err)
	}
	if err := p.CheckValid(); err != nil {
		t.Errorf("CheckValid: %v", err)
	}
	if len(p.SampleType) == 0 || p.SampleType[0].Type != "samples" {
		t.Fatalf("sample types %v, want samples first", p.SampleType)
	}
	var total, inBurn, fromMain int64
	for _, s := range p.Sample {
		v := s.Value[0]
		total += v
		burn, mainAbove := false, false
		for _, loc := range s.Location { // leaf first
			user := loc.Mapping != nil && loc.Mapping.File == bin
			for _, l := range loc.Line {
				if l.Function == nil || !user {
					continue
				}
				switch l.Function.Name {
				case "burn_here":
					burn = true
				case "main":
					mainAbove = mainAbove || burn
				}
			}
		}
		if burn {
			inBurn += v
		}
		if mainAbove {
			fromMain += v
		}
	}
	t.Logf("%d samples (summary %d), %d in burn_here, %d of them called from main", total, n, inBurn, fromMain)
	if total != int64(n) {
		t.Errorf("the profile holds %d samples, the summary says %d", total, n)
	}
	if inBurn*100 < total*80 {
		t.Errorf("%d of %d samples have burn_here of %s in their stack, want at least 80 %%", inBurn, total, bin)
	}
	if fromMain*100 < inBurn*80 {
		t.Errorf("only %d of the %d samples in burn_here show main as its caller", fromMain, inBurn)
	}

	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool for go tool pprof")
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	top, err := exec.CommandContext(ctx, goTool, "tool", "pprof", "-top", out).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -top: %v\n%s", err, top)
	}
	if !regexp.MustCompile(`(?m)\sburn_here$`).Match(top) {
		t.Errorf("go tool pprof -top does not list burn_here:\n%s", top)
	}
}

// TestBPFProfileFolded profiles the burner into folded stacks: every line
// is "frame;frame;... count", the counts add up to the samples, and
// burn_here is there, called from main.
func TestBPFProfileFolded(t *testing.T) {
	setup(t)
	bin := buildBurner(t)
	out := filepath.Join(t.TempDir(), "burner.folded")
	n := runProfileBurner(t, bin, out, "1")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lineRe := regexp.MustCompile(`^(\S+) (\d+)$`)
	sum, burn := 0, 0
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := lineRe.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q is not \"frames count\"", l)
			continue
		}
		c, _ := strconv.Atoi(m[2])
		if c <= 0 {
			t.Errorf("line %q: count %d", l, c)
		}
		sum += c
		frames := strings.Split(m[1], ";")
		if frames[0] != "burner" {
			t.Errorf("line %q does not start with the comm burner", l)
		}
		for i, f := range frames {
			if f == "" {
				t.Errorf("line %q has an empty frame", l)
			}
			if f == "burn_here" {
				burn += c
				if i == 0 || frames[i-1] != "main" {
					t.Errorf("line %q: burn_here is not called from main", l)
				}
				break
			}
		}
	}
	t.Logf("%d samples, %d in burn_here", sum, burn)
	if sum != n {
		t.Errorf("the folded counts add up to %d, the summary says %d samples", sum, n)
	}
	if burn*100 < sum*80 {
		t.Errorf("%d of %d samples in burn_here, want at least 80 %%:\n%s", burn, sum, b)
	}
}

// TestBPFProfileCTF profiles the burner into a CTF trace that babeltrace2
// and package ctf's reader read: one profile:hz:99 event per sample, the
// thread in the stream event context and the stacks as addresses, which
// bpftrail print names through the trace's symbols.
func TestBPFProfileCTF(t *testing.T) {
	bt := setup(t)
	bin := buildBurner(t)
	out := filepath.Join(t.TempDir(), "trace")
	n := runProfileBurner(t, bin, out, "1")
	evs, stderr := babeltrace(t, bt, out)
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("babeltrace2 stderr:\n%s", stderr)
	}
	if len(evs) != n {
		t.Errorf("babeltrace2 reads %d events, the summary says %d samples", len(evs), n)
	}
	for _, e := range evs {
		if e.Name != "profile:hz:99" {
			t.Fatalf("event %q, want profile:hz:99", e.Name)
		}
		if e.Ctx["comm"] != "burner" || e.Ctx["pid"] != e.Ctx["tid"] {
			t.Errorf("sample of comm %q pid %q tid %q", e.Ctx["comm"], e.Ctx["pid"], e.Ctx["tid"])
		}
		if !strings.HasPrefix(e.Payload["ustack"], "[") {
			t.Errorf("ustack %q is not a sequence of addresses", e.Payload["ustack"])
		}
	}
	_, revs := readTrace(t, out)
	if len(revs) != len(evs) {
		t.Errorf("reader: %d events, babeltrace2 %d", len(revs), len(evs))
	}
	text, _ := runOK(t, "print", out)
	burn := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, `"burn_here+0x`) && strings.Contains(l, "("+bin+")") {
			burn++
		}
	}
	t.Logf("%d samples, %d in burn_here", len(evs), burn)
	if burn*100 < len(evs)*80 {
		t.Errorf("%d of %d printed samples have burn_here in their stack, want at least 80 %%", burn, len(evs))
	}
}

// TestBPFProfileSameAsConvert: the folded and pprof files of a profile are
// what convert makes of its trace, byte for byte.
func TestBPFProfileSameAsConvert(t *testing.T) {
	setup(t)
	bin := buildBurner(t)
	dir := t.TempDir()
	trace, folded, pb := filepath.Join(dir, "trace"), filepath.Join(dir, "p.folded"), filepath.Join(dir, "p.pb.gz")
	runOK(t, "profile", "-F", "199", "-o", trace, "-o", folded, "-o", pb, "--", bin, "1")
	cfolded, cpb := filepath.Join(dir, "c.folded"), filepath.Join(dir, "c.pb.gz")
	runOK(t, "convert", trace, "--to", "folded", "-o", cfolded)
	runOK(t, "convert", trace, "--to", "pprof", "-o", cpb)
	a, _ := os.ReadFile(folded)
	b, _ := os.ReadFile(cfolded)
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("profile -o x.folded and convert --to folded differ:\n%s\n---\n%s", a, b)
	}
	pa, pb2 := readPprof(t, pb), readPprof(t, cpb)
	if len(pa) == 0 || !reflect.DeepEqual(pa, pb2) {
		t.Errorf("pprof sample values differ:\n%v\n%v", pa, pb2)
	}
	ab, _ := os.ReadFile(pb)
	bb, _ := os.ReadFile(cpb)
	if string(ab) != string(bb) {
		t.Errorf("the pprof files differ (%d and %d bytes)", len(ab), len(bb))
	}
}

// readPprof returns the sample values of a pprof file by stack (function
// names, leaf first) and labels.
func readPprof(t *testing.T, path string) map[string][]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int64{}
	for _, s := range p.Sample {
		var k []string
		for _, l := range s.Location {
			for _, ln := range l.Line {
				k = append(k, ln.Function.Name)
			}
		}
		key := strings.Join(k, ";") + fmt.Sprint(s.Label, s.NumLabel)
		out[key] = append(out[key], s.Value...)
	}
	return out
}
