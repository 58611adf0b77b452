package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The aggregation benchmark (-agg): the same getpid loop, untraced, with an
// empty program, counted per comm by bpftrace, and counted per comm and
// histogrammed by bpftrail, all in kernel.
const (
	modeBpftraceCount = "bpftrace count"
	modeCount         = "bpftrail count"
	modeHist          = "bpftrail hist"
)

var aggModes = []string{modeUntraced, modeEmpty, modeBpftraceCount, modeCount, modeHist}

func (b *bench) runAggTracer(args ...string) (result, error) {
	return b.runTracerCheck(nil, args...)
}

// runTracerCheck runs the load under the tracer args (PID in them is
// replaced by the load's) and, if check is not nil, hands the tracer's
// output after its exit to check.
func (b *bench) runTracerCheck(check func(out string, res *result) error, args ...string) (result, error) {
	return retry(func() (result, error) {
		l, err := b.startLoad()
		if err != nil {
			return result{}, err
		}
		full := make([]string, 0, len(args)+2)
		for _, a := range args {
			full = append(full, strings.ReplaceAll(a, "PID", strconv.Itoa(l.pid())))
		}
		t, err := b.startTracer(full...)
		if err != nil {
			l.abort()
			return result{}, err
		}
		var attached func() bool
		if b.notify {
			attached = func() bool { return strings.Contains(t.errb.String(), notifyMarker) }
		}
		res, err := b.traced(l, t, attached)
		res.kept = -1
		if err == nil && check != nil {
			err = check(t.errb.String(), &res)
		}
		return res, err
	})
}

func (b *bench) runAgg(mode string) (result, error) {
	switch mode {
	case modeBpftraceCount:
		// bpftrace's predicate on the process, as bpftrail's -p.
		return b.runAggTracer("bpftrace", "-q", "-e",
			"tracepoint:syscalls:sys_enter_getpid /pid == PID/ { @[comm] = count(); }")
	case modeCount:
		return b.runAggTracer(b.bpftrail, "count", "-e", "syscalls:sys_enter_getpid", "-p", "PID", "--by", "comm")
	case modeHist:
		return b.runAggTracer(b.bpftrail, "hist", "-e", "syscalls:sys_enter_getpid", "-p", "PID", "--value", "__syscall_nr")
	}
	return b.run(mode, 0)
}

func aggReport(w io.Writer, all map[string][]result) {
	floor := median(nsOf(all[modeEmpty]))
	ref := costTable(w, all, aggModes, modeEmpty, modeBpftraceCount, "above floor", "× bpftrace", modeUntraced)
	fmt.Fprintln(w, "\ngoal: no more than the bpftrace figure")
	for _, m := range []string{modeCount, modeHist} {
		cost := median(nsOf(all[m])) - floor
		verdict := "PASS"
		if cost > ref {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s: %+.0f ns vs bpftrace %+.0f ns\n", verdict, m, cost, ref)
	}
}

func nsOf(rs []result) []float64 {
	var out []float64
	for _, r := range rs {
		out = append(out, r.nsPerCall)
	}
	return out
}

// The uprobe benchmark (-uprobe): the load calls a Go function n times;
// untraced, counted by bpftrace, recorded by bpftrail.
const (
	modeUprobeUntraced = "untraced (function loop)"
	modeUprobeBpftrace = "bpftrace uprobe count"
	modeUprobeRecord   = "bpftrail uprobe record"
	modeUprobeCount    = "bpftrail uprobe count"
)

var uprobeModes = []string{modeUprobeUntraced, modeUprobeBpftrace, modeUprobeRecord, modeUprobeCount}

func (b *bench) runUprobe(mode string, round int) (result, error) {
	sym := "main.uprobeTarget"
	switch mode {
	case modeUprobeUntraced:
		return b.runUntraced()
	case modeUprobeBpftrace:
		return b.runAggTracer("bpftrace", "-q", "-e", "uprobe:"+b.self+":"+sym+" /pid == PID/ { @ = count(); }")
	case modeUprobeRecord:
		dir := filepath.Join(b.tmp, fmt.Sprintf("uprobe-%d-%d", round, time.Now().UnixNano()))
		defer os.RemoveAll(dir)
		return b.runAggTracer(b.bpftrail, "record", "-q", "-e", "uprobe:"+b.self+":"+sym, "--fields", "arg0", "-p", "PID", "-o", dir)
	case modeUprobeCount:
		return b.runAggTracer(b.bpftrail, "count", "-e", "uprobe:"+b.self+":"+sym, "-p", "PID")
	}
	return result{}, fmt.Errorf("unknown mode %q", mode)
}

func uprobeReport(w io.Writer, all map[string][]result) {
	costTable(w, all, uprobeModes, modeUprobeUntraced, modeUprobeBpftrace, "cost per call", "× bpftrace count")
	fmt.Fprintln(w, "\n(a uprobe costs a breakpoint trap per call: the kernel's share dominates every tool's figure)")
}

// costTable prints, for each mode, ns per call with its range, the cost
// above the base mode and its ratio to the reference mode's cost (modes in
// plain are shown without a cost); it returns the reference's cost.
func costTable(w io.Writer, all map[string][]result, modes []string, base, ref, costCol, ratioCol string, plain ...string) float64 {
	floor := median(nsOf(all[base]))
	refCost := median(nsOf(all[ref])) - floor
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "mode\tns/call\t[min-max]\t%s\t%s\t\n", costCol, ratioCol)
	for _, m := range modes {
		v := nsOf(all[m])
		if len(v) == 0 {
			continue
		}
		lo, hi := minMax(v)
		med := median(v)
		cost, ratio := "-", "-"
		if m != base && !slices.Contains(plain, m) {
			cost = fmt.Sprintf("%+.0f", med-floor)
			if refCost > 0 {
				ratio = fmt.Sprintf("%.2f", (med-floor)/refCost)
			}
		}
		fmt.Fprintf(tw, "%s\t%.1f\t[%.1f-%.1f]\t%s\t%s\t\n", m, med, lo, hi, cost, ratio)
	}
	tw.Flush()
	return refCost
}
