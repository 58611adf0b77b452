package bpfgen

import (
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// FuzzCompileScript checks that any program the parser accepts is either
// compiled or refused with an error about it, never with a panic (which
// CompileScript turns into an "internal error").
func FuzzCompileScript(f *testing.F) {
	for _, seed := range []string{
		`BEGIN { @[comm] = count(); printf("%d %s\n", pid, comm); exit(); }`,
		`tracepoint:a:b /args.count > 10/ { @h = hist(args.count); @l = lhist(args.count, 0, 100, 10); }`,
		`BEGIN { $t = (1, "a", (2, 3)); @m[$t.0, $t.1] = $t.2; for ($kv : @m) { print($kv); } }`,
		`struct S { int a; char b[4]; } BEGIN { $p = (struct S *)0; print($p->a + sizeof(struct S)); }`,
		`BEGIN { let $x; if ($x) { $x = 1 } @s = stats(5); @a = avg(1); @t = tseries(1, 1s, 5); print(@s); clear(@a); }`,
		`BEGIN { $s = str(0, 4); if ($s == "ab" && strcontains($s, "a")) { @[kstack] = count(); } }`,
		`BEGIN { @x = 1; @x++; @x += 2; $i = 0; while ($i < 3) { $i++; } unroll(2) { @y = @x ? 1 : 2; } }`,
	} {
		f.Add(seed)
	}
	tp := &resolve.Probe{
		Event:  &event.Schema{Name: "a:b", Fields: []event.Field{{Name: "count", Kind: event.Int, Size: 8}}},
		Reads:  []resolve.Read{{Src: resolve.FromContext, Offset: 16, Size: 8}},
		Target: resolve.Target{Kind: resolve.TargetTracepoint, Category: "a", Event: "b"},
	}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := lang.Parse("stdin", src)
		if err != nil {
			return
		}
		if err := lang.ExpandMacros(prog); err != nil {
			return
		}
		var probes []ScriptProbe
		for i := range prog.Probes {
			probes = append(probes, ScriptProbe{Block: i, Name: "begin", Special: Begin}, ScriptProbe{Block: i, Name: "tracepoint:a:b", Probe: tp})
		}
		if len(probes) == 0 {
			return
		}
		_, err = CompileScript(prog, probes, ScriptOptions{})
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("%q: %v", src, err)
		}
	})
}
