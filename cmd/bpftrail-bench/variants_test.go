package main

import (
	"reflect"
	"testing"
)

func TestParseVariants(t *testing.T) {
	pinned := func(rs ...recKind) []variant {
		var vs []variant
		for _, r := range rs {
			vs = append(vs, variant{rec: r})
		}
		return vs
	}
	both := func(vs []variant) []variant {
		var out []variant
		for _, v := range vs {
			out = append(out, variant{rec: v.rec, both: true})
		}
		return out
	}
	three := pinned(recSystem, recCmd, recFilter)
	for _, c := range []struct {
		in   string
		want []variant
	}{
		{"all", append(three, both(three)...)},
		{"system,cmd,filter,both", both(three)},
		{"filter,system", append(pinned(recSystem, recFilter), both(pinned(recSystem, recFilter))...)},
		{"pid,pinned", pinned(recPID)},
		{"pinned", three},
		{"cmd, cmd", append(pinned(recCmd), both(pinned(recCmd))...)},
	} {
		got, err := parseVariants(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseVariants(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseVariants("system,bogus"); err == nil {
		t.Error("an unknown variant was accepted")
	}
}

// TestRecordModes checks that each CPU setup gets its floor before its
// variants, and that every mode has a name of its own.
func TestRecordModes(t *testing.T) {
	vs, _ := parseVariants("all")
	ms := recordModes(vs)
	if len(ms) != 2*(2+3*2) {
		t.Fatalf("%d modes", len(ms))
	}
	seen := map[string]bool{}
	for i, m := range ms {
		if seen[m.name()] {
			t.Errorf("mode %q twice", m.name())
		}
		seen[m.name()] = true
		if i%8 < 2 && m.tracer != []string{tracerNone, tracerEmpty}[i%8] || ms[i].v.both != (i >= 8) {
			t.Errorf("mode %d is %q", i, m.name())
		}
	}
}
