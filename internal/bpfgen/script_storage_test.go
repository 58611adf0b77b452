package bpfgen_test

import (
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/lang"
)

// compileBegin compiles a program whose probes are all BEGIN or the
// write tracepoint, against hand-made probes (no BPF needed).
func compileBegin(t *testing.T, src string) *bpfgen.Script {
	t.Helper()
	prog, err := lang.Parse("stdin", src)
	if err != nil {
		t.Fatalf("parse %s: %v", src, err)
	}
	var probes []bpfgen.ScriptProbe
	for i, p := range prog.Probes {
		if ap := strings.Join(p.Points[0].Parts, ":"); ap == "BEGIN" {
			probes = append(probes, bpfgen.ScriptProbe{Block: i, Name: "begin", Special: bpfgen.Begin})
		} else {
			probes = append(probes, bpfgen.ScriptProbe{Block: i, Name: ap, Func: "sys_enter_write", Probe: writeProbe()})
		}
	}
	s, err := bpfgen.CompileScript(prog, probes, bpfgen.ScriptOptions{})
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	return s
}

// TestScriptMapStorage: maps only updated in kernel get the storage that
// spares the per-event hash lookup (a bucket array for an unkeyed
// histogram, a cache for count() and sum() with small keys), and the
// others keep a hash map, since reading, deleting or evicting (LRU) a key
// in kernel needs every key in one place.
func TestScriptMapStorage(t *testing.T) {
	const w = "tracepoint:syscalls:sys_enter_write "
	cases := []struct {
		src            string
		buckets, cache bool
	}{
		{w + `{ @m = hist(args->count); }`, true, false},
		{w + `{ @m = lhist(args->count, 0, 100, 10); }`, true, false},
		{w + `{ @m[args->fd] = hist(args->count); }`, false, false},
		{w + `{ @m[comm] = count(); }`, false, true},
		{w + `{ @m[args->fd] = sum(args->count); }`, false, true},
		{w + `{ @m[args->fd, pid] = count(); }`, false, true},
		{w + `{ @m = count(); }`, false, false},
		{w + `{ @m[probe] = count(); }`, false, false},
		{w + `{ @m[args->fd] = count(); } ` + w + `{ if (@m[1] > 3) { printf("x\n"); } }`, false, false},
		{w + `{ @m[args->fd] = count(); delete(@m[2]); }`, false, false},
		{`let @m = lruhash(100); ` + w + `{ @m[args->fd] = count(); }`, false, false},
		{`let @m = percpuhash(1); ` + w + `{ @m[args->fd] = count(); }`, false, false},
		{w + `{ @m[args->fd] = avg(args->count); }`, false, false},
	}
	for _, tc := range cases {
		s := compileBegin(t, tc.src)
		m, ok := s.Map("@m")
		if !ok {
			t.Fatalf("%s: no map @m", tc.src)
		}
		if got := m.Buckets > 0; got != tc.buckets {
			t.Errorf("%s: bucket array %v, want %v", tc.src, got, tc.buckets)
		}
		if got := m.Cache > 0; got != tc.cache {
			t.Errorf("%s: cache %v, want %v", tc.src, got, tc.cache)
		}
		specs := s.MapSpecs()
		want := len(s.Maps)
		if tc.cache {
			want++
		}
		if len(specs) != want {
			t.Errorf("%s: %d map specs, want %d", tc.src, len(specs), want)
		}
	}
}
