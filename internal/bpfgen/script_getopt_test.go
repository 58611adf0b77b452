package bpfgen_test

import (
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/lang"
)

// TestScriptPrintTopGetopt checks that print()'s top may be a named
// parameter, known when the script is compiled (the built-in tools take
// --top that way), and that its default applies without one.
func TestScriptPrintTopGetopt(t *testing.T) {
	for _, tc := range []struct {
		named []string
		want  int64
	}{{nil, 10}, {[]string{"top=3"}, 3}, {[]string{"top=0"}, 0}} {
		prog, err := lang.Parse("stdin", `BEGIN { @m[1] = count(); print(@m, getopt("top", 10)); }`)
		if err != nil {
			t.Fatal(err)
		}
		s, err := bpfgen.CompileScript(prog, []bpfgen.ScriptProbe{{Block: 0, Name: "begin", Special: bpfgen.Begin}}, bpfgen.ScriptOptions{Named: tc.named})
		if err != nil {
			t.Fatalf("%v: %v", tc.named, err)
		}
		var found bool
		for _, ev := range s.Events {
			if ev.Kind == bpfgen.EvPrintMap {
				found = true
				if ev.Top != tc.want {
					t.Errorf("%v: top %d, want %d", tc.named, ev.Top, tc.want)
				}
			}
		}
		if !found {
			t.Errorf("%v: no print event", tc.named)
		}
	}
}
