package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"
	"time"
)

const defaultWarmup = 500 * time.Millisecond

type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	*d = durationFlag(v)
	return err
}

// dur returns the flag as a time.Duration.
func (d durationFlag) dur() time.Duration { return time.Duration(d) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func perEvent(x float64, events int64) float64 {
	if events <= 0 {
		return 0
	}
	return x / float64(events)
}

// summary is the per-mode aggregate over rounds.
type summary struct {
	ns, nsLo, nsHi    float64
	wall              float64
	dups              int64
	kept, lost        int64 // summed over rounds
	expected          int64 // events the loads made, summed
	silent            int64 // expected - kept - lost, summed
	bPerEv, bAllPerEv float64
	cpuWin, cpuTot    float64 // ns per event, medians
	traced            bool
	// above is the median over rounds of the load's ns/call above the
	// floor measured next to each run; paired is false when no run had
	// one.
	above  float64
	paired bool
	// aboveWall is the same for the loads' elapsed time: with every CPU
	// loaded, a tracer's own CPU time is taken from the loads, and shows
	// here rather than in their CPU time.
	aboveWall float64
}

func summarize(b *bench, rs []result) summary {
	var s summary
	var ns, wall, bpe, bape, cw, ct []float64
	var above, aboveWall []float64
	for _, r := range rs {
		ns = append(ns, r.nsPerCall)
		if r.floor > 0 {
			above = append(above, r.nsPerCall-r.floor)
			aboveWall = append(aboveWall, r.wallPerCall-r.floorWall)
		}
		wall = append(wall, r.wallPerCall)
		s.dups += r.dups
		if r.kept < 0 {
			continue
		}
		s.traced = true
		s.kept += r.kept
		s.lost += r.lost
		exp := r.expected
		if exp == 0 {
			exp = int64(b.n)
		}
		s.expected += exp
		s.silent += exp - r.kept - r.lost
		bpe = append(bpe, perEvent(float64(r.streamB), r.kept))
		bape = append(bape, perEvent(float64(r.totalB), r.kept))
		cw = append(cw, perEvent(float64(r.cpuWindow), r.kept))
		ct = append(ct, perEvent(float64(r.cpuTotal), r.kept))
	}
	s.ns = median(ns)
	if len(ns) > 0 {
		s.nsLo, s.nsHi = minMax(ns)
	}
	s.wall = median(wall)
	s.above, s.paired = median(above), len(above) > 0
	s.aboveWall = median(aboveWall)
	s.bPerEv, s.bAllPerEv = median(bpe), median(bape)
	s.cpuWin, s.cpuTot = median(cw), median(ct)
	return s
}

// Goals of bpftrail record against perf record, for every variant.
const (
	goalRatio     = 0.5 // cost above the floor, × perf's
	goalCPU       = 100 // collector CPU ns per event, whole process
	goalBytes     = 24  // bytes per event on disk
	goalRatioText = "0.50×"
)

// report prints the modes' figures, then each variant's against perf and
// the goals.
func report(out io.Writer, b *bench, ms []modeSpec, all map[string][]result) {
	sum := map[string]summary{}
	for _, m := range ms {
		sum[m.name()] = summarize(b, all[m.name()])
	}
	floorOf := func(v variant) float64 { return sum[modeSpec{tracerEmpty, v}.name()].ns }
	perfOf := func(v variant) summary { return sum[modeSpec{tracerPerf, v}.name()] }
	aboveOf := func(m modeSpec) float64 {
		if s := sum[m.name()]; s.paired {
			return s.above
		}
		return sum[m.name()].ns - floorOf(m.v)
	}
	ratioOf := func(m modeSpec) float64 {
		return aboveOf(m) / aboveOf(modeSpec{tracerPerf, m.v})
	}
	// The spread of the ratio: round by round, each run against its own
	// floor.
	spreadOf := func(v variant) string {
		rs := roundRatios(all[modeSpec{tracerBpftrail, v}.name()], all[modeSpec{tracerPerf, v}.name()])
		if len(rs) < 2 {
			return ""
		}
		lo, hi := minMax(rs)
		return fmt.Sprintf(" [%.2f-%.2f]", lo, hi)
	}

	fmt.Fprintf(out, "\n%d getpid calls per load and run, %d rounds (ABBA); pinned: load on CPU %d, tracers on CPU %d; both CPUs: a load pinned to each CPU, tracers unpinned; medians [min-max] over rounds\n",
		b.n, b.rounds, b.loadCPU, b.tracerCPU)
	fmt.Fprintf(out, "ns/call = the load threads' CPU time per call (robust to other work on the CPU); wall ns/call is their elapsed time\n")
	fmt.Fprintf(out, "above floor = median over rounds of a run's ns/call minus the mean of the empty-program runs just before and after it\n")
	fmt.Fprintf(out, "kept/lost are summed over rounds; collector CPU = user+sys from the load's start to the tracer's exit (whole process incl. start-up in parentheses; for -- CMD, the load's own CPU taken out)\n\n")
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tns/call\t[min-max]\twall ns/call\tabove floor\t× perf\tkept\texpected\tlost\tB/event\tcollector CPU ns/event\t")
	for _, m := range ms {
		s := sum[m.name()]
		above, ratio := fmt.Sprintf("%+.0f", aboveOf(m)), "-"
		if m.tracer == tracerNone {
			above = fmt.Sprintf("(%+.0f)", aboveOf(m))
		}
		if m.tracer == tracerPerf || m.tracer == tracerBpftrail {
			ratio = fmt.Sprintf("%.2f", ratioOf(m))
		}
		kept, exp, lost, bpe, cpu := "-", "-", "-", "-", "-"
		if s.traced {
			kept, exp, lost = fmt.Sprint(s.kept), fmt.Sprint(s.expected), fmt.Sprint(s.lost)
			bpe = fmt.Sprintf("%.1f", s.bPerEv)
			if s.bAllPerEv != s.bPerEv {
				bpe = fmt.Sprintf("%.1f (%.1f w/ metadata)", s.bPerEv, s.bAllPerEv)
			}
			cpu = fmt.Sprintf("%.0f (%.0f)", s.cpuWin, s.cpuTot)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t[%.1f-%.1f]\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			m.name(), s.ns, s.nsLo, s.nsHi, s.wall, above, ratio, kept, exp, lost, bpe, cpu)
	}
	tw.Flush()
	for _, m := range ms {
		s := sum[m.name()]
		if s.dups != 0 {
			fmt.Fprintf(out, "note: %s wrote %d samples twice (byte-identical, same timestamp); they are not counted as kept\n", m.name(), s.dups)
		}
		if s.traced && s.silent != 0 {
			fmt.Fprintf(out, "note: %s: kept + lost differs from the calls made by %d over all rounds (silent loss if > 0, other processes' events if < 0)\n", m.name(), s.silent)
		}
	}

	// bpftrail beside perf, variant by variant, the CPU setups side by side.
	var setups []bool
	var kinds []recKind
	for _, v := range b.variants {
		if !slices.Contains(setups, v.both) {
			setups = append(setups, v.both)
		}
		if !slices.Contains(kinds, v.rec) {
			kinds = append(kinds, v.rec)
		}
	}
	fmt.Fprintf(out, "\nbpftrail record beside perf record (bpftrail / perf): cost above the floor (ns), ratio [its range over rounds], the same in the loads' elapsed time (which also holds the CPU a tracer takes from them when every CPU is loaded), lost, B/event, collector CPU ns/event (whole process)\n\n")
	tw = tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	head := "variant\t"
	for _, both := range setups {
		l := variant{both: both}.setupLabel()
		head += fmt.Sprintf("%s: above floor\t× perf\twall above floor\t× perf\tlost\tB/event\tCPU ns/event\t", l)
	}
	fmt.Fprintln(tw, head)
	for _, k := range kinds {
		row := variant{rec: k}.label() + "\t"
		for _, both := range setups {
			v := variant{rec: k, both: both}
			bt, ok := sum[modeSpec{tracerBpftrail, v}.name()]
			if !ok {
				row += "-\t-\t-\t-\t-\t-\t-\t"
				continue
			}
			pf, btm := perfOf(v), modeSpec{tracerBpftrail, v}
			wall := "-\t-"
			if bt.paired && pf.paired {
				wall = fmt.Sprintf("%+.0f / %+.0f\t%.2f", bt.aboveWall, pf.aboveWall, bt.aboveWall/pf.aboveWall)
			}
			row += fmt.Sprintf("%+.0f / %+.0f\t%.2f%s\t%s\t%d / %d\t%.1f / %.1f\t%.0f / %.0f\t",
				aboveOf(btm), aboveOf(modeSpec{tracerPerf, v}), ratioOf(btm), spreadOf(v), wall, bt.lost, pf.lost, bt.bPerEv, pf.bPerEv, bt.cpuTot, pf.cpuTot)
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()

	fmt.Fprintf(out, "\ngoals (bpftrail record): cost above the floor ≤ %s perf's, in the load's CPU time when pinned (the tracers have a CPU of their own) and in the loads' elapsed time on both CPUs (where the CPU a tracer takes is taken from the loads; their CPU time alone is printed beside); collector CPU ≤ %d ns/event (whole process); 0 lost and none of the loads' events missing; ≤ %d B/event (the load thread is named %q)\n", goalRatioText, goalCPU, goalBytes, recordComm)
	for _, v := range b.variants {
		btm := modeSpec{tracerBpftrail, v}
		bt, pf := sum[btm.name()], perfOf(v)
		above, perfAbove := aboveOf(btm), aboveOf(modeSpec{tracerPerf, v})
		ratio := ratioOf(btm)
		cost := fmt.Sprintf("%.2f× perf (%+.0f vs %+.0f ns)", ratio, above, perfAbove)
		if v.both {
			cost = fmt.Sprintf("no elapsed-time figure (unpaired runs); CPU time %s", cost)
			perfAbove = 0 // judged on elapsed time only
			if bt.paired && pf.paired {
				above, perfAbove = bt.aboveWall, pf.aboveWall
				cpuRatio := ratio
				ratio = above / perfAbove
				cost = fmt.Sprintf("%.2f× perf in elapsed time (%+.0f vs %+.0f ns; CPU time %.2f×)", ratio, above, perfAbove, cpuRatio)
			}
		}
		// Recording every process also keeps other processes' getpid
		// calls: only events missing count against the goal.
		extra := ""
		if bt.silent < 0 {
			extra = fmt.Sprintf(" (%d of other processes)", -bt.silent)
		}
		fmt.Fprintf(out, "  %-28s %s %s  %s %.0f ns/event  %s lost %d, kept %d of %d%s  %s %.1f B/event\n",
			v.label()+", "+v.setupLabel()+":",
			passFail(perfAbove > 0 && ratio <= goalRatio), cost,
			passFail(bt.cpuTot <= goalCPU), bt.cpuTot,
			passFail(bt.lost == 0 && bt.silent <= 0), bt.lost, bt.kept, bt.expected, extra,
			passFail(bt.bPerEv <= goalBytes), bt.bPerEv)
	}
}

// roundRatios returns, round by round, bt's cost above its floor over
// perf's above its own; rounds where either has no floor, or perf costs
// nothing, are left out.
func roundRatios(bt, perf []result) []float64 {
	var rs []float64
	for r := 0; r < min(len(bt), len(perf)); r++ {
		b, p := bt[r], perf[r]
		if b.floor <= 0 || p.floor <= 0 || p.nsPerCall <= p.floor {
			continue
		}
		rs = append(rs, (b.nsPerCall-b.floor)/(p.nsPerCall-p.floor))
	}
	return rs
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}
