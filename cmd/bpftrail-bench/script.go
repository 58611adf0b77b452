package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// The script benchmark (-run): bpftrace programs run by bpftrail run and by
// bpftrace on the same loop, each against the empty program on the
// program's tracepoint. Both programs trace every process, as written; the
// count's key is the loop thread's comm, which the load sets to loopComm.
type scriptCase struct {
	name        string
	loop        string // loopEnv
	prog        string
	group, tp   string // the empty program's tracepoint
	check       func(n int, out string, res *result) error
	description string
}

const loopComm = "bench-loop"

var scriptCases = []scriptCase{
	{
		name: "count", loop: "getpid",
		prog:  "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
		group: "raw_syscalls", tp: "sys_enter",
		check:       checkCount,
		description: "getpid loop",
	},
	{
		name: "hist", loop: "write",
		prog:  "tracepoint:syscalls:sys_enter_write { @h = hist(args->count); }",
		group: "syscalls", tp: "sys_enter_write",
		check:       checkHist,
		description: "write(/dev/null) loop, sizes 1 B to 64 KiB",
	},
}

const (
	scriptUntraced = "untraced"
	scriptEmpty    = "empty prog"
	scriptBpftrace = "bpftrace"
	scriptBpftrail = "bpftrail run"
)

var scriptKinds = []string{scriptUntraced, scriptEmpty, scriptBpftrace, scriptBpftrail}

// scriptModes returns the modes of -run: every kind for every case.
func scriptModes() []string {
	var out []string
	for _, c := range scriptCases {
		for _, k := range scriptKinds {
			out = append(out, c.name+": "+k)
		}
	}
	return out
}

func (b *bench) runScript(mode string) (result, error) {
	name, kind, _ := strings.Cut(mode, ": ")
	for _, c := range scriptCases {
		if c.name != name {
			continue
		}
		b.loadEnv = []string{loopEnv + "=" + c.loop, commEnv + "=" + loopComm}
		check := func(out string, res *result) error { return c.check(b.n, out, res) }
		switch kind {
		case scriptUntraced:
			return b.runUntraced()
		case scriptEmpty:
			return b.runEmptyOn(c.group, c.tp)
		case scriptBpftrace:
			return b.runTracerCheck(check, "bpftrace", "-e", c.prog)
		case scriptBpftrail:
			return b.runTracerCheck(check, b.bpftrail, "run", "-e", c.prog)
		}
	}
	return result{}, fmt.Errorf("unknown mode %q", mode)
}

// checkCount finds the loop thread's count in @[comm]'s output; it should
// be n plus the few syscalls the loop thread makes after its loop (it is
// the process's main thread: getrusage, writing its result file, the Go
// runtime's exit; 15 here).
func checkCount(n int, out string, res *result) error {
	m := regexp.MustCompile(`(?m)^@\[` + loopComm + `\]: (\d+)$`).FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("no @[%s] in the output: %s", loopComm, lastLines(out, 5))
	}
	res.mapCount, _ = strconv.ParseInt(m[1], 10, 64)
	d := res.mapCount - int64(n)
	res.mapOK = d >= 0 && d <= 32
	res.note = fmt.Sprintf("@[%s] %d = loop %d %+d", loopComm, res.mapCount, n, d)
	return nil
}

var bucketRE = regexp.MustCompile(`(?m)^\[(\d+[KMGTPE]?)(?:, (\d+[KMGTPE]?)\)|\])\s+(\d+) \|`)

// checkHist reads @h's buckets: each must hold at least the loop's writes
// of its sizes (other processes write too), and the buckets must cover all
// of the loop's writes.
func checkHist(n int, out string, res *result) error {
	type bucket struct{ lo, hi, count, want int64 }
	var bs []bucket
	for _, m := range bucketRE.FindAllStringSubmatch(out, -1) {
		lo := parseSize(m[1])
		hi := lo + 1
		if m[2] != "" {
			hi = parseSize(m[2])
		}
		c, _ := strconv.ParseInt(m[3], 10, 64)
		bs = append(bs, bucket{lo: lo, hi: hi, count: c})
	}
	if len(bs) == 0 {
		return fmt.Errorf("no histogram in the output: %s", lastLines(out, 5))
	}
	for i := 0; i < n; i++ {
		s := int64(writeSize(i))
		for j := range bs {
			if s >= bs[j].lo && s < bs[j].hi {
				bs[j].want++
				break
			}
		}
	}
	var total, covered int64
	ok := true
	for _, x := range bs {
		total += x.count
		covered += x.want
		ok = ok && x.count >= x.want
	}
	res.mapCount = total
	res.mapOK = ok && covered == int64(n)
	res.note = fmt.Sprintf("@h total %d = loop %d %+d from other processes; loop's sizes in their buckets: %v", total, n, total-int64(n), res.mapOK)
	return nil
}

func parseSize(s string) int64 {
	mult := int64(1)
	if i := strings.IndexAny(s, "KMGTPE"); i >= 0 {
		mult = int64(1) << (10 * (strings.IndexByte("KMGTPE", s[i]) + 1))
		s = s[:i]
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	return v * mult
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// scriptReport prints, for each case, the cost above the empty program on
// its tracepoint, bpftrail's ratio to bpftrace from the medians and its
// range over the rounds' own ratios, the maps' counts against the loop's,
// and the goal.
func scriptReport(w io.Writer, b *bench, all map[string][]result) {
	fmt.Fprintf(w, "\n%d calls per run, %d rounds (ABBA), load on CPU %d, tracers on CPU %d; ns/call = the loop thread's CPU time per call (one event per call); medians [min-max] over rounds\n",
		b.n, b.rounds, b.loadCPU, b.tracerCPU)
	var verdicts []string
	for _, c := range scriptCases {
		mode := func(k string) string { return c.name + ": " + k }
		fmt.Fprintf(w, "\n%s, %s:\n  %s\n\n", c.name, c.description, c.prog)
		var ms []string
		for _, k := range scriptKinds {
			ms = append(ms, mode(k))
		}
		ref := costTable(w, all, ms, mode(scriptEmpty), mode(scriptBpftrace), "above empty prog", "× bpftrace", mode(scriptUntraced))
		cost := median(nsOf(all[mode(scriptBpftrail)])) - median(nsOf(all[mode(scriptEmpty)]))
		var ratios []float64
		for r := range all[mode(scriptEmpty)] {
			floor := all[mode(scriptEmpty)][r].nsPerCall
			ratios = append(ratios, (all[mode(scriptBpftrail)][r].nsPerCall-floor)/(all[mode(scriptBpftrace)][r].nsPerCall-floor))
		}
		lo, hi := minMax(ratios)
		fmt.Fprintf(w, "  per-round ratios (each round's own empty prog): %s\n", joinFloats(ratios))
		for _, k := range []string{scriptBpftrace, scriptBpftrail} {
			for r, res := range all[mode(k)] {
				flag := "ok"
				if !res.mapOK {
					flag = "MISMATCH"
				}
				fmt.Fprintf(w, "  map check, round %d, %-12s %s: %s\n", r+1, k, flag, res.note)
			}
		}
		statsVerdict := ""
		if b.stats {
			prog := func(k string) []float64 {
				var v []float64
				for _, r := range all[mode(k)] {
					v = append(v, r.progNs)
				}
				return v
			}
			em, bt, tr := prog(scriptEmpty), prog(scriptBpftrace), prog(scriptBpftrail)
			var pr []float64
			for r := range em {
				pr = append(pr, (tr[r]-em[r])/(bt[r]-em[r]))
			}
			plo, phi := minMax(pr)
			pref, pcost := median(bt)-median(em), median(tr)-median(em)
			fmt.Fprintf(w, "  in-program time (bpf_stats run_time_ns/run_cnt, medians): empty prog %.0f ns, bpftrace %.0f ns, bpftrail run %.0f ns; per-round ratios above the empty prog: %s\n",
				median(em), median(bt), median(tr), joinFloats(pr))
			statsVerdict = fmt.Sprintf("  %s  %s, in-program time: bpftrail run %+.0f ns vs bpftrace %+.0f ns per run above the empty program = %.2f× (rounds %.2f-%.2f; goal ≤ 0.70×)",
				passFail(pref > 0 && pcost/pref <= 0.7), c.name, pcost, pref, pcost/pref, plo, phi)
		}
		ratio := cost / ref
		verdicts = append(verdicts, fmt.Sprintf("  %s  %s: bpftrail run %+.0f ns vs bpftrace %+.0f ns per event above the empty program = %.2f× (rounds %.2f-%.2f; goal ≤ 0.70×)",
			passFail(ref > 0 && ratio <= 0.7), c.name, cost, ref, ratio, lo, hi))
		if statsVerdict != "" {
			verdicts = append(verdicts, statsVerdict)
		}
	}
	fmt.Fprintln(w, "\ngoals:")
	for _, v := range verdicts {
		fmt.Fprintln(w, v)
	}
}

func joinFloats(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(s, " ")
}

var progIDRE = regexp.MustCompile(`(?m)^prog_id:\s+(\d+)$`)

// tracerProgStats sums bpf_stats over the programs pid holds (as program
// or link file descriptors): run time per run, and runs.
func tracerProgStats(pid int) (float64, int64) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, _ := os.ReadDir(dir)
	seen := map[ebpf.ProgramID]bool{}
	var ns, runs float64
	for _, e := range ents {
		s, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, m := range progIDRE.FindAllStringSubmatch(string(s), -1) {
			id, _ := strconv.ParseUint(m[1], 10, 32)
			if seen[ebpf.ProgramID(id)] {
				continue
			}
			seen[ebpf.ProgramID(id)] = true
			p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err != nil {
				continue
			}
			t, c := progTotals(p)
			p.Close()
			ns += t
			runs += c
		}
	}
	if runs == 0 {
		return 0, 0
	}
	return ns / runs, int64(runs)
}

// progStats is p's bpf_stats run time per run, and its runs.
func progStats(p *ebpf.Program) (float64, int64) {
	t, c := progTotals(p)
	if c == 0 {
		return 0, 0
	}
	return t / c, int64(c)
}

func progTotals(p *ebpf.Program) (ns, runs float64) {
	st, err := p.Stats()
	if err != nil {
		return 0, 0
	}
	return float64(st.Runtime), float64(st.RunCount)
}
