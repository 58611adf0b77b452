package tools

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/lang"
)

// TestScripts checks that every tool has a script and every script a
// tool, that each parses, and that each flag is a getopt() of its script.
func TestScripts(t *testing.T) {
	files, err := fs.Glob(scripts, "scripts/*.bt")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := Lookup(strings.TrimSuffix(strings.TrimPrefix(f, "scripts/"), ".bt")); !ok {
			t.Errorf("%s: no tool", f)
		}
	}
	for _, tool := range All() {
		src := tool.Script()
		prog, err := lang.Parse(tool.FileName(), src)
		if err != nil {
			t.Errorf("%s: %v", tool.Name, err)
			continue
		}
		if err := lang.ExpandMacros(prog); err != nil {
			t.Errorf("%s: %v", tool.Name, err)
		}
		names := []string{}
		for _, f := range tool.Flags {
			names = append(names, f.Name)
		}
		if tool.Interval {
			names = append(names, "interval")
		}
		for _, n := range names {
			if !strings.Contains(src, `getopt("`+n+`"`) {
				t.Errorf("%s: --%s is not a getopt() of the script", tool.Name, n)
			}
		}
		if !strings.HasPrefix(src, "// "+tool.Name+": ") {
			t.Errorf("%s: the script does not start with a comment naming the tool", tool.Name)
		}
	}
}

func TestParams(t *testing.T) {
	tool, _ := Lookup("biolatency")
	for _, tc := range []struct {
		values map[string]string
		want   []string
		err    string
	}{
		{map[string]string{}, nil, ""},
		{map[string]string{"unit": "us", "queued": "false"}, nil, ""},
		{map[string]string{"unit": "ms", "queued": "true"}, []string{"--unit=ms", "--queued"}, ""},
		{map[string]string{"unit": "s"}, nil, "--unit s: want one of us, ms"},
	} {
		got, err := tool.Params(tc.values)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v: error %v, want %s", tc.values, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v: %q, %v; want %q", tc.values, got, err, tc.want)
		}
	}
}
