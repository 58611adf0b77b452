package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"
)

// TestParseGolden parses each testdata/parse/*.bt and compares its Dump
// and its DumpPos with the golden files beside it.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.bt")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata/parse/*.bt")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := Parse(filepath.Base(f), string(src))
			if err != nil {
				t.Fatalf("%s", err.(*Error).Detail())
			}
			base := strings.TrimSuffix(f, ".bt")
			golden.Check(t, base+".dump", []byte(Dump(prog)))
			golden.Check(t, base+".pos", []byte(DumpPos(prog)))
		})
	}
}

// TestParseErrors parses each case of testdata/errors.txt, every one a
// mistake, and compares the errors as bpftrace prints them with
// testdata/errors.golden.
func TestParseErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/errors.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for i, c := range strings.Split(string(data), "\n----\n") {
		if i == 0 {
			// the first case follows a comment line
			_, c, _ = strings.Cut(c, "\n")
		}
		c = strings.TrimSuffix(c, "\n")
		out.WriteString("== " + strings.ReplaceAll(c, "\n", "\n   ") + "\n")
		_, err := Parse("stdin", c)
		if err == nil {
			t.Errorf("no error for %q", c)
			out.WriteString("(no error)\n")
			continue
		}
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: %T is not an *Error", c, err)
			continue
		}
		if strings.Count(e.Error(), "\n") != 0 {
			t.Errorf("%q: the error is not one line: %q", c, e.Error())
		}
		out.WriteString(e.Detail())
	}
	golden.Check(t, "testdata/errors.golden", []byte(out.String()))
}
