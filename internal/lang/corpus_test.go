package lang

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBpftraceCorpus parses the tools and the runtime tests' programs of
// a bpftrace checkout, when BPFTRACE_DIR names one. Every tool must
// parse; of the runtime programs, those in cases that are not expected
// to fail must parse, and the test reports how many of each kind did.
func TestBpftraceCorpus(t *testing.T) {
	dir := os.Getenv("BPFTRACE_DIR")
	if dir == "" {
		t.Skip("BPFTRACE_DIR is not set")
	}
	tools, err := filepath.Glob(filepath.Join(dir, "tools", "*.bt"))
	if err != nil || len(tools) == 0 {
		t.Fatalf("no tools/*.bt under %s", dir)
	}
	okTools := 0
	for _, f := range tools {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(filepath.Base(f), string(src)); err != nil {
			t.Errorf("%s:\n%s", f, err.(*Error).Detail())
			continue
		}
		okTools++
	}
	t.Logf("tools: %d of %d parse", okTools, len(tools))

	files, _ := filepath.Glob(filepath.Join(dir, "tests", "runtime", "*"))
	var good, goodOK, bad, badOK int
	var failures []string
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			continue
		}
		for _, c := range runtimeCases(t, f) {
			for _, prog := range c.progs {
				_, err := Parse("stdin", prog)
				if c.willFail {
					bad++
					if err == nil {
						badOK++
					}
					continue
				}
				good++
				if err == nil {
					goodOK++
				} else {
					failures = append(failures, filepath.Base(f)+": "+c.name+"\n"+prog+"\n"+err.(*Error).Detail())
				}
			}
		}
	}
	t.Logf("runtime PROGs in cases expected to succeed: %d of %d parse", goodOK, good)
	t.Logf("runtime PROGs in WILL_FAIL cases: %d of %d parse (the rest are refused by the parser)", badOK, bad)
	for _, f := range failures {
		t.Log(f)
	}
	if good == 0 || float64(goodOK) < 0.95*float64(good) {
		t.Errorf("only %d of %d runtime programs parse", goodOK, good)
	}
}

type runtimeCase struct {
	name     string
	progs    []string
	willFail bool
}

// runtimeCases reads a tests/runtime file: cases start with NAME, and
// their PROG lines are programs.
func runtimeCases(t *testing.T, path string) []runtimeCase {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []runtimeCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "NAME "):
			cases = append(cases, runtimeCase{name: strings.TrimPrefix(line, "NAME ")})
		case len(cases) == 0:
		case strings.HasPrefix(line, "PROG "):
			c := &cases[len(cases)-1]
			c.progs = append(c.progs, strings.TrimPrefix(line, "PROG "))
		case strings.TrimSpace(line) == "WILL_FAIL":
			cases[len(cases)-1].willFail = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}
