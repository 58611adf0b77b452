package main

import (
	"fmt"
	"io"
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
	silent            int64 // expected - kept - lost, summed
	bPerEv, bAllPerEv float64
	cpuWin, cpuTot    float64 // ns per event, medians
	traced            bool
}

func summarize(b *bench, rs []result) summary {
	var s summary
	var ns, wall, bpe, bape, cw, ct []float64
	for _, r := range rs {
		ns = append(ns, r.nsPerCall)
		wall = append(wall, r.wallPerCall)
		s.dups += r.dups
		if r.kept < 0 {
			continue
		}
		s.traced = true
		s.kept += r.kept
		s.lost += r.lost
		s.silent += int64(b.n) - r.kept - r.lost
		bpe = append(bpe, perEvent(float64(r.streamB), r.kept))
		bape = append(bape, perEvent(float64(r.totalB), r.kept))
		cw = append(cw, perEvent(float64(r.cpuWindow), r.kept))
		ct = append(ct, perEvent(float64(r.cpuTotal), r.kept))
	}
	s.ns = median(ns)
	s.nsLo, s.nsHi = minMax(ns)
	s.wall = median(wall)
	s.bPerEv, s.bAllPerEv = median(bpe), median(bape)
	s.cpuWin, s.cpuTot = median(cw), median(ct)
	return s
}

func report(out io.Writer, b *bench, all map[string][]result) {
	sum := map[string]summary{}
	for _, m := range modes {
		sum[m] = summarize(b, all[m])
	}
	floor := sum[modeEmpty].ns
	perfAbove := sum[modePerf].ns - floor

	fmt.Fprintf(out, "\n%d getpid calls per run, %d rounds (ABBA), load on CPU %d, tracers on CPU %d; medians [min-max] over rounds\n",
		b.n, b.rounds, b.loadCPU, b.tracerCPU)
	fmt.Fprintf(out, "ns/call = the load thread's CPU time per call (robust to other work on the CPU); wall ns/call is its elapsed time\n")
	fmt.Fprintf(out, "kept/lost are summed over rounds (expected %d per mode); collector CPU = user+sys from the load's start to the tracer's exit (whole process incl. start-up in parentheses)\n\n",
		int64(b.n)*int64(b.rounds))
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tns/call\t[min-max]\twall ns/call\tabove floor\t× perf\tkept\tlost\tB/event\tcollector CPU ns/event\t")
	for _, m := range modes {
		s := sum[m]
		above, ratio := "-", "-"
		if m != modeUntraced {
			above = fmt.Sprintf("%+.0f", s.ns-floor)
		}
		if m == modePerf || m == modeBpftrail {
			ratio = fmt.Sprintf("%.2f", (s.ns-floor)/perfAbove)
		}
		if m == modeUntraced {
			above = fmt.Sprintf("(%+.0f)", s.ns-floor)
		}
		kept, lost, bpe, cpu := "-", "-", "-", "-"
		if s.traced {
			kept, lost = fmt.Sprint(s.kept), fmt.Sprint(s.lost)
			bpe = fmt.Sprintf("%.1f", s.bPerEv)
			if s.bAllPerEv != s.bPerEv {
				bpe = fmt.Sprintf("%.1f (%.1f w/ metadata)", s.bPerEv, s.bAllPerEv)
			}
			cpu = fmt.Sprintf("%.0f (%.0f)", s.cpuWin, s.cpuTot)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t[%.1f-%.1f]\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			m, s.ns, s.nsLo, s.nsHi, s.wall, above, ratio, kept, lost, bpe, cpu)
	}
	tw.Flush()
	for _, m := range []string{modePerf, modeBpftrail} {
		if s := sum[m]; s.dups != 0 {
			fmt.Fprintf(out, "note: %s wrote %d samples twice (byte-identical, same timestamp); they are not counted as kept\n", m, s.dups)
		}
		if s := sum[m]; s.silent != 0 {
			fmt.Fprintf(out, "note: %s: kept + lost differs from the calls made by %d over all rounds (silent loss if > 0, background events if < 0)\n", m, s.silent)
		}
	}

	bt, pf := sum[modeBpftrail], sum[modePerf]
	fmt.Fprintln(out, "\ngoals:")
	ratio := (bt.ns - floor) / perfAbove
	fmt.Fprintf(out, "  %s  cost above the empty-program floor: bpftrail %+.0f ns vs perf %+.0f ns = %.2f× (goal ≤ 0.70×)\n",
		passFail(perfAbove > 0 && ratio <= 0.7), bt.ns-floor, perfAbove, ratio)
	fmt.Fprintf(out, "  %s  events lost at full rate (%.1f M calls/s): bpftrail lost %d, kept %d of %d (goal 0 lost, none missing)\n",
		passFail(bt.lost == 0 && bt.silent == 0), 1e3/bt.wall, bt.lost, bt.kept, int64(b.n)*int64(b.rounds))
	bratio := bt.bPerEv / pf.bPerEv
	fmt.Fprintf(out, "  %s  bytes on disk per event: bpftrail %.1f B vs perf %.1f B = %.2f× (goal ≤ 0.50×)\n",
		passFail(pf.bPerEv > 0 && bratio <= 0.5), bt.bPerEv, pf.bPerEv, bratio)
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}
