package plan

import (
	"errors"
	"testing"

	"github.com/bpftrail/bpftrail/internal/lang"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"uprobeFunc*", "uprobeFunction1", true},
		{"*probe2", "testprobe2", true},
		{"*probe2", "testprobe", false},
		{"*", "", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // the prefix and suffix may not overlap
		{"exact", "exact", true},
		{"exact", "exactly", false},
		// '?' and brackets are not wildcards to bpftrace.
		{"a?c", "abc", false},
		{"f[1]", "f[1]", true},
		// '*' crosses the colons of FILE:PROVIDER:NAME.
		{"*:tracetest2:*", "/proc/1/root/t/usdt_test:tracetest2:testprobe2", true},
		{"./testprogs/uprobe*:*", "./testprogs/uprobe_test:uprobeFunction1", true},
	}
	for _, tt := range tests {
		if got := WildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("WildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestSplitUser(t *testing.T) {
	tests := []struct {
		prov string
		rest []string
		want UserTarget
	}{
		{"usdt", []string{"*"}, UserTarget{Func: "*"}},
		{"usdt", []string{"./prog", "probe"}, UserTarget{File: "./prog", Func: "probe"}},
		{"usdt", []string{"", "tracetest", "testprobe"}, UserTarget{Provider: "tracetest", Func: "testprobe"}},
		{"usdt", []string{"", "", "*probe2"}, UserTarget{Func: "*probe2"}},
		{"uprobe", []string{"*", "uprobeFunc*"}, UserTarget{File: "*", Func: "uprobeFunc*"}},
	}
	for _, tt := range tests {
		got, err := SplitUser(tt.prov, tt.rest)
		if err != nil || got != tt.want {
			t.Errorf("SplitUser(%s, %q) = %+v, %v; want %+v", tt.prov, tt.rest, got, err, tt.want)
		}
	}
	for _, bad := range [][]string{{"only"}, {"a", "b", "c"}} {
		if _, err := SplitUser("uprobe", bad); err == nil {
			t.Errorf("SplitUser(uprobe, %q) took it", bad)
		}
	}
	if _, err := SplitUser("usdt", []string{"a", "b", "c", "d"}); err == nil {
		t.Error("SplitUser(usdt) took four parts")
	}
}

func TestFuncAddress(t *testing.T) {
	tests := []struct {
		fn     string
		sym    string
		off    uint64
		isAddr bool
	}{
		{"main", "main", 0, false},
		{"0x1139", "", 0x1139, true},
		{"10", "", 10, true},
		{"echo_builtin+1000000", "echo_builtin", 1000000, true},
		{"f+0x10", "f", 16, true},
	}
	for _, tt := range tests {
		sym, off, isAddr, err := funcAddress(tt.fn)
		if err != nil || sym != tt.sym || off != tt.off || isAddr != tt.isAddr {
			t.Errorf("funcAddress(%q) = %q, %d, %v, %v; want %q, %d, %v", tt.fn, sym, off, isAddr, err, tt.sym, tt.off, tt.isAddr)
		}
	}
	if _, _, _, err := funcAddress("f+zz"); err == nil {
		t.Error("funcAddress(f+zz) took it")
	}
}

func TestParseCount(t *testing.T) {
	tests := map[string]uint64{"1e6": 1000000, "100": 100, "0x10": 16, "1_000": 1000, "2e0": 2}
	for in, want := range tests {
		if got, err := parseCount(in); err != nil || got != want {
			t.Errorf("parseCount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"1e", "e6", "1e99", "x"} {
		if _, err := parseCount(bad); err == nil {
			t.Errorf("parseCount(%q) took it", bad)
		}
	}
}

// TestMissingProbes: an attach point that matches nothing is reported as
// config missing_probes says, in bpftrace's words.
func TestMissingProbes(t *testing.T) {
	src := func(cfg string) string {
		return cfg + `uprobe:/bin/sh:bpftrail_no_such_function { exit(); }`
	}
	prog, err := lang.Parse("stdin", src(""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Script(prog, ScriptOptions{})
	var le *lang.Error
	if !errors.As(err, &le) || le.Msg != "No matches for uprobe /bin/sh:bpftrail_no_such_function." {
		t.Errorf("default: %v, want a positioned No matches error", err)
	}
	prog, err = lang.Parse("stdin", src(`config = { missing_probes = "warn" } `))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Script(prog, ScriptOptions{})
	if err == nil || err.Error() != "no probes to attach" {
		t.Errorf("warn with no probe left: %v, want no probes to attach", err)
	}
}
