package probe

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec string
		want Spec
	}{
		{"tracepoint:sched:sched_switch", Spec{Kind: Tracepoint, Category: "sched", Name: "sched_switch"}},
		{"t:sched:sched_switch", Spec{Kind: Tracepoint, Category: "sched", Name: "sched_switch"}},
		{"sched:sched_switch", Spec{Kind: Tracepoint, Category: "sched", Name: "sched_switch"}},
		{"kprobes:my_probe", Spec{Kind: Tracepoint, Category: "kprobes", Name: "my_probe"}},
		{"syscalls:sys_enter_*", Spec{Kind: Tracepoint, Category: "syscalls", Name: "sys_enter_*"}},
		{"syscall:openat", Spec{Kind: Syscall, Name: "openat"}},
		{"rawtracepoint:sched_switch", Spec{Kind: RawTracepoint, Name: "sched_switch"}},
		{"uprobe:/bin/bash:readline", Spec{Kind: Uprobe, Path: "/bin/bash", Symbol: "readline"}},
		{"uprobe:/bin/bash:readline+0x10", Spec{Kind: Uprobe, Path: "/bin/bash", Symbol: "readline", Offset: 16}},
		{"uprobe:/bin/bash:0x4a5b0", Spec{Kind: Uprobe, Path: "/bin/bash", Offset: 0x4a5b0}},
		{"uprobe:/opt/a:b/x:sym", Spec{Kind: Uprobe, Path: "/opt/a:b/x", Symbol: "sym"}},
		{"uprobe:/bin/prog:_ZN3foo3barEv", Spec{Kind: Uprobe, Path: "/bin/prog", Symbol: "_ZN3foo3barEv"}},
		{"uretprobe:/bin/bash:readline", Spec{Kind: Uretprobe, Path: "/bin/bash", Symbol: "readline"}},
		{"usdt:/usr/bin/node:node:http__server__request", Spec{Kind: USDT, Path: "/usr/bin/node", Provider: "node", Name: "http__server__request"}},
		{"usdt:/usr/bin/python3:function__entry", Spec{Kind: USDT, Path: "/usr/bin/python3", Name: "function__entry"}},
		{"kprobe:do_sys_openat2", Spec{Kind: Kprobe, Symbol: "do_sys_openat2"}},
		{"kprobe:tcp_v4_connect+4", Spec{Kind: Kprobe, Symbol: "tcp_v4_connect", Offset: 4}},
		{"kretprobe:vfs_read", Spec{Kind: Kretprobe, Symbol: "vfs_read"}},
		{"profile:hz:99", Spec{Kind: Profile, Unit: "hz", Rate: 99}},
		{"profile:99", Spec{Kind: Profile, Unit: "hz", Rate: 99}},
		{"p:ms:10", Spec{Kind: Profile, Unit: "ms", Rate: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Raw = tt.spec
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string
		wantCol int
	}{
		{"tracepoint:sched", `invalid probe "tracepoint:sched": expected CATEGORY:NAME at column 17`, 17},
		{"", `invalid probe "": empty probe spec at column 1`, 1},
		{"   ", `invalid probe "   ": empty probe spec at column 1`, 1},
		{"tracepoint:sched:", `invalid probe "tracepoint:sched:": expected NAME at column 18`, 18},
		{"tracepoint::x", `invalid probe "tracepoint::x": expected CATEGORY at column 12`, 12},
		{"tracepoint:a:b:c", `invalid probe "tracepoint:a:b:c": unexpected ":c" after CATEGORY:NAME at column 15`, 15},
		{"  sched:sched switch", `invalid probe "  sched:sched switch": unexpected ' ' in NAME at column 14`, 14},
		{"uprob:/bin/bash:readline", `invalid probe "uprob:/bin/bash:readline": unknown probe type "uprob" (did you mean uprobe?) at column 1`, 1},
		{"sched_switch", `invalid probe "sched_switch": expected CATEGORY:NAME or TYPE:TARGET (types: tracepoint, rawtracepoint, uprobe, uretprobe, usdt, kprobe, kretprobe, profile, syscall) at column 13`, 13},
		{"syscall:sys_enter_openat", `invalid probe "syscall:sys_enter_openat": syscall takes the name without "sys_enter_" (syscall:openat, or tracepoint:syscalls:sys_enter_openat) at column 9`, 9},
		{"uprobe:/bin/bash:readline+zz", `invalid probe "uprobe:/bin/bash:readline+zz": expected an OFFSET after "+" (decimal or 0x hex), got "zz" at column 27`, 27},
		{"uretprobe:/bin/bash:readline+8", `invalid probe "uretprobe:/bin/bash:readline+8": return probes take no offset at column 29`, 29},
		{"kprobe:vfs_*+4", `invalid probe "kprobe:vfs_*+4": an offset cannot be combined with a wildcard at column 13`, 13},
		{"profile:hz:0", `invalid probe "profile:hz:0": expected a positive integer RATE, got "0" at column 12`, 12},
		{"tracepoint:schéd:x:y", `invalid probe "tracepoint:schéd:x:y": unexpected ":y" after CATEGORY:NAME at column 19`, 19},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := Parse(tt.spec)
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *SpecError", err, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error\n got %s\nwant %s", err, tt.wantErr)
			}
			if se.Col != tt.wantCol || se.Spec != tt.spec {
				t.Errorf("Col, Spec = %d, %q; want %d, %q", se.Col, se.Spec, tt.wantCol, tt.spec)
			}
		})
	}
}

// readLines returns the non-blank, non-comment lines of a testdata file.
func readLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(data)) {
		l = strings.TrimSuffix(l, "\n")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestGolden parses testdata/valid.txt and testdata/invalid.txt and compares
// the results with their .golden files; it also checks that String() of every
// valid spec parses back to the same Spec.
func TestGolden(t *testing.T) {
	var valid strings.Builder
	for _, line := range readLines(t, "valid.txt") {
		s, err := Parse(line)
		if err != nil {
			t.Errorf("Parse(%q): %v", line, err)
			continue
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		valid.Write(b)
		valid.WriteString("\n")

		back, err := Parse(s.String())
		if err != nil {
			t.Errorf("Parse(String() = %q): %v", s.String(), err)
			continue
		}
		back.Raw = s.Raw
		if diff := cmp.Diff(s, back); diff != "" {
			t.Errorf("round trip of %q via %q (-want +got):\n%s", line, s.String(), diff)
		}
	}
	golden.Check(t, filepath.Join("testdata", "valid.golden"), []byte(valid.String()))

	var invalid strings.Builder
	for _, line := range readLines(t, "invalid.txt") {
		_, err := Parse(line)
		var se *SpecError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SpecError", line, err)
			continue
		}
		invalid.WriteString(err.Error() + "\n")
	}
	golden.Check(t, filepath.Join("testdata", "invalid.golden"), []byte(invalid.String()))
}

func TestExpand(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{"syscall:openat", []string{"tracepoint:syscalls:sys_enter_openat", "tracepoint:syscalls:sys_exit_openat"}},
		{"syscall:open*", []string{"tracepoint:syscalls:sys_enter_open*", "tracepoint:syscalls:sys_exit_open*"}},
		{"sched:sched_switch", []string{"tracepoint:sched:sched_switch"}},
		{"kprobe:vfs_read", []string{"kprobe:vfs_read"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range s.Expand() {
				if e.Raw != tt.spec {
					t.Errorf("Raw = %q, want %q", e.Raw, tt.spec)
				}
				got = append(got, e.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsGlob(t *testing.T) {
	tests := map[string]bool{
		"sched:sched_switch":             false,
		"sched:*":                        true,
		"*:sched_switch":                 true,
		"kprobe:vfs_?ead":                true,
		"usdt:/bin/x:prov*:name":         true,
		"uprobe:/bin/b*sh:readline":      false, // paths are not globbed
		"tracepoint:sched:sched_[ef]*":   true,
		"profile:hz:99":                  false,
		"uprobe:/bin/bash:readline+0x10": false,
	}
	for spec, want := range tests {
		s, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.IsGlob(); got != want {
			t.Errorf("Parse(%q).IsGlob() = %v, want %v", spec, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k := Tracepoint; k <= Syscall; k++ {
		got, ok := kindOf(k.String())
		if !ok || got != k {
			t.Errorf("kindOf(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if got := Kind(0).String(); got != "Kind(0)" {
		t.Errorf("Kind(0).String() = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"tracepoint:sched:sched_switch", "uprobe:/bin/bash:readline+0x10", "usdt:/x:p:n", "profile:hz:99", "kprobe:a*", "sched:[", ":::", "syscall:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("err %T, want *SpecError", err)
			}
			if se.Col < 1 || se.Col > len([]rune(spec))+1 {
				t.Fatalf("column %d out of range for %q", se.Col, spec)
			}
			return
		}
		back, err := Parse(s.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok but String() %q fails: %v", spec, s.String(), err)
		}
		back.Raw = s.Raw
		if back != s {
			t.Fatalf("round trip %q -> %q: %+v != %+v", spec, s.String(), back, s)
		}
	})
}
