package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// recKind is how a recording selects the load's events.
type recKind int

const (
	recSystem recKind = iota // every process: perf record -a, bpftrail record
	recCmd                   // the tracer runs the load: record -- CMD
	recFilter                // every process, an in-kernel filter on the loads' pids
	recPID                   // perf record -p, bpftrail record -p
)

// recKinds are the recording variants by their -variants name, in the
// order of the report.
var recKinds = []struct {
	name  string
	kind  recKind
	label string
}{
	{"system", recSystem, "system-wide"},
	{"cmd", recCmd, "-- CMD"},
	{"filter", recFilter, "--filter pid"},
	{"pid", recPID, "-p PID"},
}

// variant is one way of recording the load: a recording kind, with the
// load on the load CPU and the tracers on the tracer CPU, or (both) a load
// pinned to each CPU and the tracers free to run on any.
type variant struct {
	rec  recKind
	both bool
}

func (v variant) label() string {
	for _, k := range recKinds {
		if k.kind == v.rec {
			return k.label
		}
	}
	return "?"
}

// setupLabel names the CPU placement of v.
func (v variant) setupLabel() string {
	if v.both {
		return "both CPUs"
	}
	return "pinned"
}

// parseVariants reads -variants: "all", or a comma-separated list of
// recording kinds (system, cmd, filter, pid) and CPU setups (pinned,
// both). A group left out takes its defaults: system, cmd and filter;
// pinned and both.
func parseVariants(s string) ([]variant, error) {
	var recs []recKind
	var pinned, both bool
	for _, w := range strings.Split(s, ",") {
		switch w = strings.TrimSpace(w); w {
		case "all":
			recs = append(recs, recSystem, recCmd, recFilter)
			pinned, both = true, true
		case "pinned":
			pinned = true
		case "both":
			both = true
		default:
			found := false
			for _, k := range recKinds {
				if k.name == w {
					recs, found = append(recs, k.kind), true
				}
			}
			if !found {
				return nil, fmt.Errorf("-variants: unknown variant %q (all, system, cmd, filter, pid, pinned, both)", w)
			}
		}
	}
	if len(recs) == 0 {
		recs = []recKind{recSystem, recCmd, recFilter}
	}
	if !pinned && !both {
		pinned, both = true, true
	}
	var vs []variant
	for _, setup := range []bool{false, true} {
		if setup && !both || !setup && !pinned {
			continue
		}
		seen := map[recKind]bool{}
		for _, k := range recKinds {
			for _, r := range recs {
				if r == k.kind && !seen[r] {
					seen[r] = true
					vs = append(vs, variant{rec: r, both: setup})
				}
			}
		}
	}
	return vs, nil
}

// Tracers of a mode.
const (
	tracerNone     = "untraced"
	tracerEmpty    = "empty BPF prog"
	tracerPerf     = "perf record"
	tracerBpftrail = "bpftrail record"
)

// modeSpec is what a mode of the recording benchmark runs.
type modeSpec struct {
	tracer string
	v      variant // for untraced and the empty program, only v.both counts
}

// name is the mode's name in the report.
func (m modeSpec) name() string {
	suffix := ""
	if m.v.both {
		suffix = ", both CPUs"
	}
	switch m.tracer {
	case tracerNone, tracerEmpty:
		if suffix != "" {
			return m.tracer + " (" + suffix[2:] + ")"
		}
		return m.tracer
	}
	return fmt.Sprintf("%s (%s%s)", m.tracer, m.v.label(), suffix)
}

// recordModes returns the modes that measure vs: per CPU setup, the
// untraced load and the empty program (the floor), then perf and bpftrail
// for each variant.
func recordModes(vs []variant) []modeSpec {
	var ms []modeSpec
	for _, setup := range []bool{false, true} {
		first := true
		for _, v := range vs {
			if v.both != setup {
				continue
			}
			if first {
				ms = append(ms, modeSpec{tracerNone, v}, modeSpec{tracerEmpty, v})
				first = false
			}
			ms = append(ms, modeSpec{tracerPerf, v}, modeSpec{tracerBpftrail, v})
		}
	}
	return ms
}

// recordSchedule returns one round's runs of ms, in order: every tracer
// run is followed by a run of its CPU setup's empty program, so that each
// tracer has a floor measured just before and just after it. The load's
// speed drifts by more than a tracer's cost over a few minutes on a
// virtual machine; a floor taken seconds away cancels the drift, one taken
// once per round does not.
func recordSchedule(ms []modeSpec) []string {
	var list []string
	for _, m := range ms {
		list = append(list, m.name())
		if m.tracer == tracerPerf || m.tracer == tracerBpftrail {
			list = append(list, modeSpec{tracerEmpty, m.v}.name())
		}
	}
	return list
}

// pairFloors sets the floors (CPU time and wall time per call) of every
// tracer run of one round: the means of the empty-program runs of its CPU
// setup next to it in the order the round ran, before and after. runs[i]
// is the i-th run of the round, an index into all[order[i]].
func pairFloors(order []string, runs []int, all map[string][]result, specs map[string]modeSpec) {
	// floorAt returns the run of both's floor nearest to i in direction
	// step, if any.
	floorAt := func(i, step int, both bool) (result, bool) {
		for j := i + step; j >= 0 && j < len(order); j += step {
			if m, ok := specs[order[j]]; ok && m.tracer == tracerEmpty && m.v.both == both {
				return all[order[j]][runs[j]], true
			}
		}
		return result{}, false
	}
	for i, name := range order {
		m, ok := specs[name]
		if !ok || (m.tracer != tracerPerf && m.tracer != tracerBpftrail) {
			continue
		}
		var cpu, wall float64
		n := 0
		for _, step := range []int{-1, 1} {
			if f, ok := floorAt(i, step, m.v.both); ok {
				cpu, wall = cpu+f.nsPerCall, wall+f.wallPerCall
				n++
			}
		}
		if n > 0 {
			all[name][runs[i]].floor = cpu / float64(n)
			all[name][runs[i]].floorWall = wall / float64(n)
		}
	}
}

// runMode runs one mode of the recording benchmark.
func (b *bench) runMode(m modeSpec, round int) (result, error) {
	cpus := b.loadCPUs(m.v)
	switch m.tracer {
	case tracerNone:
		return b.runUntracedOn(cpus)
	case tracerEmpty:
		return b.runEmptyLoads("syscalls", "sys_enter_getpid", cpus)
	case tracerPerf:
		return b.runPerf(&m.v, round)
	case tracerBpftrail:
		return b.runBpftrail(&m.v, round)
	}
	return result{}, fmt.Errorf("unknown mode %q", m.tracer)
}

// loadCPUs returns the CPUs that v runs a load on.
func (b *bench) loadCPUs(v variant) []int {
	if !v.both {
		return []int{b.loadCPU}
	}
	var cpus []int
	for c := 0; c < runtime.NumCPU(); c++ {
		cpus = append(cpus, c)
	}
	return cpus
}

// tracerCPUs returns the CPUs the tracers of v may run on, in taskset's
// syntax.
func (b *bench) tracerCPUs(v variant) string {
	if !v.both {
		return strconv.Itoa(b.tracerCPU)
	}
	return fmt.Sprintf("0-%d", runtime.NumCPU()-1)
}
