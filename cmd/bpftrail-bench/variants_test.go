package main

import (
	"reflect"
	"slices"
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

// TestRecordSchedule checks that every tracer run is followed by its own
// CPU setup's floor, and that the floors get the tracers' runs paired.
func TestRecordSchedule(t *testing.T) {
	vs, _ := parseVariants("system,pinned,both")
	ms := recordModes(vs)
	order := recordSchedule(ms)
	specs := map[string]modeSpec{}
	for _, m := range ms {
		specs[m.name()] = m
	}
	want := []string{tracerNone, tracerEmpty, tracerPerf, tracerEmpty, tracerBpftrail, tracerEmpty}
	if len(order) != 2*len(want) {
		t.Fatalf("schedule %q", order)
	}
	for i, name := range order {
		m := specs[name]
		if m.tracer != want[i%len(want)] || m.v.both != (i >= len(want)) {
			t.Errorf("run %d is %q", i, name)
		}
	}

	// One round: the floors of the pinned setup are 100, 110, 130, those
	// of both CPUs 200, 220, 240; every run's ns/call is its position.
	all := map[string][]result{}
	runs := make([]int, len(order))
	floors := []float64{0, 100, 0, 110, 0, 130, 0, 200, 0, 220, 0, 240}
	for i, name := range order {
		runs[i] = len(all[name])
		all[name] = append(all[name], result{nsPerCall: floors[i] + float64(i), wallPerCall: 2 * (floors[i] + float64(i))})
	}
	pairFloors(order, runs, all, specs)
	check := func(i int, floor float64) {
		t.Helper()
		if got := all[order[i]][runs[i]].floor; got != floor {
			t.Errorf("%s: floor %v, want %v", order[i], got, floor)
		}
	}
	check(2, (101+113)/2.0)
	check(4, (113+135)/2.0)
	check(8, (207+229)/2.0)
	check(10, (229+251)/2.0)
	check(0, 0) // untraced has none
	if got := all[order[2]][runs[2]].floorWall; got != 101+113 {
		t.Errorf("wall floor %v, want %v", got, 101+113)
	}
	if f := all[order[1]][runs[1]].floor; f != 0 {
		t.Errorf("a floor run got a floor: %v", f)
	}

	// Reversed (the next round's order), the last tracer has a floor on
	// one side only: its own setup's, never the other's.
	rev := slices.Clone(order)
	slices.Reverse(rev)
	all = map[string][]result{}
	for i, name := range rev {
		runs[i] = len(all[name])
		all[name] = append(all[name], result{nsPerCall: float64(10 * (i + 1))})
	}
	pairFloors(rev, runs, all, specs)
	// rev: empty(both) bt(both) empty(both) perf(both) empty(both) untraced(both) empty bt empty perf empty untraced
	if got := all[rev[7]][runs[7]].floor; got != (70+90)/2.0 {
		t.Errorf("reversed pinned bpftrail floor %v", got)
	}
}

// TestRoundRatios checks the ratio's spread: round by round, each tracer
// against its own floor, leaving out rounds that cannot be compared.
func TestRoundRatios(t *testing.T) {
	bt := []result{{nsPerCall: 150, floor: 100}, {nsPerCall: 260, floor: 200}, {nsPerCall: 300}}
	perf := []result{{nsPerCall: 200, floor: 100}, {nsPerCall: 290, floor: 210}, {nsPerCall: 400, floor: 300}}
	got := roundRatios(bt, perf)
	if !slices.Equal(got, []float64{0.5, 0.75}) {
		t.Errorf("ratios %v", got)
	}
	if got := roundRatios(bt[:1], []result{{nsPerCall: 90, floor: 100}}); len(got) != 0 {
		t.Errorf("a perf below its floor gave %v", got)
	}
}
