package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"
)

// TestExpandMacros expands testdata/macros/*.bt and compares the dumps of
// the expanded programs with the golden files.
func TestExpandMacros(t *testing.T) {
	files, err := filepath.Glob("testdata/macros/*.bt")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata/macros/*.bt")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := Parse(filepath.Base(f), string(src))
		if err != nil {
			t.Fatalf("%s", err.(*Error).Detail())
		}
		if err := ExpandMacros(prog); err != nil {
			t.Fatalf("%s", err.(*Error).Detail())
		}
		prog.Macros = nil
		golden.Check(t, strings.TrimSuffix(f, ".bt")+".dump", []byte(Dump(prog)))
	}
}

// TestExpandMacrosErrors checks the mistakes in testdata/macros/errors.txt.
func TestExpandMacrosErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/macros/errors.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, c := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n----\n") {
		prog, err := Parse("stdin", c)
		if err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		out.WriteString("== " + strings.ReplaceAll(c, "\n", "\n   ") + "\n")
		err = ExpandMacros(prog)
		if err == nil {
			t.Errorf("no error for %q", c)
			out.WriteString("(no error)\n")
			continue
		}
		out.WriteString(err.(*Error).Detail())
	}
	golden.Check(t, "testdata/macros/errors.golden", []byte(out.String()))
}
