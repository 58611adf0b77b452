// Command bpftrail-bench measures what recording syscalls:sys_enter_getpid
// costs with bpftrail, compared with no tracing, an empty BPF program on the
// same tracepoint, and perf record.
//
// It runs a tight loop of N getpid syscalls (this binary re-executed as a
// load generator, pinned to one CPU) untraced, with the empty program, and
// under perf record and bpftrail record recording it three ways: every
// process (system-wide), the load as the tracer's command (record -- CMD,
// which follows it and its children) and every process through an
// in-kernel filter on the load's pid (perf's --filter 'common_pid == PID',
// bpftrail's --filter 'pid == PID'); -variants pid adds record -p PID. It
// does so twice: with the tracers pinned to another CPU than the load, and
// with a load pinned to each CPU and the tracers unpinned. The modes run in
// ABBA order across rounds, and every tracer run is followed by an
// empty-program run: a tracer's cost is its ns per call above the mean of
// the empty-program runs on either side of it, which cancels the drift of
// a virtual machine's speed over minutes. The same cost is printed in the
// loads' elapsed time, which with every CPU loaded also holds the CPU a
// tracer's collector takes from them. It prints ns per syscall, events kept and lost,
// bytes on disk per event and the collector's CPU time per event, then
// checks bpftrail's goals for each variant. A run whose tracer kept and
// lost less than 90% of the loads' calls did not record the whole loop:
// it is retried once, then the bench fails rather than report it. The
// goals:
//
//   - cost above the empty-program floor ≤ 0.5 × perf record's: pinned,
//     in the load's CPU time (the tracers have a CPU of their own, and the
//     elapsed time agrees); with both CPUs loaded, in the loads' elapsed
//     time, since a tracer's collector then runs on the loads' CPUs and
//     what it uses is taken from them (their CPU time alone, which leaves
//     it out, is printed beside),
//   - collector CPU (the whole process, start-up included) ≤ 100 ns/event,
//   - 0 events lost at the loop's full rate, none missing,
//   - ≤ 24 bytes per event on disk (event data, metadata excluded).
//
// -agg, -uprobe and -run compare against bpftrace instead: -run measures
// `bpftrail run` and bpftrace 0.17 running the same programs (@[comm] =
// count() on raw_syscalls:sys_enter over the getpid loop, hist(args->count)
// on sys_enter_write over a loop of writes of varying sizes), each above an
// empty program on its tracepoint, and checks the maps against the loop.
// -breakdown shows where a recording's cost goes: hand-built programs one
// part of the generated program at a time (their cost to the loop in short
// alternating runs, and their bpf_stats run time), then bpftrail record
// with its collector stopping after each stage.
// -startup -tools DIR times each bpftrace tool of DIR from process start
// to attached under both, with their peak RSS. -read benchmarks the read
// side: it records a trace of 10 M events and times babeltrace2's text
// output against bpftrail print, print --json, convert and analyze on it,
// with their peak RSS (see read.go).
//
// Run it as root from the module root:
//
//	go run ./cmd/bpftrail-bench [-n 2000000] [-rounds 3] [-variants all|system,cmd,filter,pid,pinned,both]
//	go run ./cmd/bpftrail-bench -run [-rounds 5]
//	go run ./cmd/bpftrail-bench -startup -tools ../bpftrace/tools [-rounds 5]
//	go run ./cmd/bpftrail-bench -read [-read-events 10000000] [-read-dir DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

type bench struct {
	n            int
	rounds       int
	loadCPU      int
	tracerCPU    int
	warmup       durationFlag
	self         string
	bpftrail     string
	bpftrailArgs []string
	tmp          string
	keep         bool
	stages       bool
	agg          bool
	uprobe       bool
	script       bool
	startup      bool
	breakdown    bool
	toolsDir     string
	read         bool
	readEvents   int
	readRounds   int
	readDir      string
	cpus         int      // CPUs this program may run on
	loadEnv      []string // added to the load's environment
	notify       bool     // tracers print notifyMarker once attached: wait for it
	stats        bool     // kernel.bpf_stats_enabled is on: read the programs' run time
	variants     []variant
	specs        map[string]modeSpec // the recording benchmark's modes by name
}

// The floors of the -agg and -uprobe benchmarks.
const (
	modeUntraced = tracerNone
	modeEmpty    = tracerEmpty
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == loadArg {
		runLoad(os.Args[2:])
		return
	}
	var b bench
	var extra, variants string
	b.warmup = durationFlag(defaultWarmup)
	flag.IntVar(&b.n, "n", 2000000, "getpid calls per run")
	flag.IntVar(&b.rounds, "rounds", 3, "rounds; each runs every mode, in ABBA order across rounds")
	flag.StringVar(&variants, "variants", "all", "recording variants, comma separated: system (every process), cmd (record -- CMD), filter (in-kernel pid filter), pid (-p PID); and CPU setups: pinned (load on -load-cpu, tracers on -tracer-cpu), both (a load on each CPU, tracers unpinned); a group left out takes system,cmd,filter and pinned,both; all is the default")
	flag.IntVar(&b.loadCPU, "load-cpu", 1, "CPU the load generator runs on")
	flag.IntVar(&b.tracerCPU, "tracer-cpu", 0, "CPU the tracers (and this program) run on")
	flag.Var(&b.warmup, "warmup", "wait after a tracer has attached before starting the load")
	flag.StringVar(&b.bpftrail, "bpftrail", "", "bpftrail binary (default: go build ./cmd/bpftrail into a temp dir)")
	flag.StringVar(&extra, "bpftrail-args", "", "extra arguments for bpftrail record, space separated (e.g. \"--buffer-size 64MiB\")")
	flag.BoolVar(&b.keep, "keep", false, "keep the traces in the temp dir")
	flag.BoolVar(&b.stages, "stages", true, "after the rounds, record once more with bpftrail's CPU profile and print its time by stage (ring read, decode, CTF encode, write)")
	flag.BoolVar(&b.uprobe, "uprobe", false, "benchmark a uprobe on a function of the load (bpftrail record and count against bpftrace)")
	flag.BoolVar(&b.agg, "agg", false, "benchmark in-kernel aggregation (count, hist) against bpftrace instead of recording against perf")
	flag.BoolVar(&b.script, "run", false, "benchmark bpftrail run against bpftrace on the same programs (@[comm] = count() on a getpid loop, hist(args->count) on a write loop)")
	flag.BoolVar(&b.breakdown, "breakdown", false, "cost breakdown: hand-built programs on sys_enter_getpid, one helper at a time, then the ring's reserve and submit unread and read")
	flag.BoolVar(&b.startup, "startup", false, "time bpftrail run and bpftrace from start to attached, and their peak RSS, on the tools in -tools")
	flag.BoolVar(&b.read, "read", false, "benchmark the read side: record a trace of -read-events events, then time babeltrace2 and bpftrail print, print --json, convert --to chrome and analyze on it")
	flag.IntVar(&b.readEvents, "read-events", 10_000_000, "events of the -read trace")
	flag.IntVar(&b.readRounds, "read-rounds", 3, "-read: runs of each reader")
	flag.StringVar(&b.readDir, "read-dir", "", "-read: keep the traces in this directory and reuse those already there (default: a temp dir, removed)")
	flag.StringVar(&b.toolsDir, "tools", "", "directory of bpftrace tools (*.bt) for -startup, e.g. bpftrace's tools/; none: -startup is skipped")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: bpftrail-bench [flags]\n\nRuns N getpid syscalls untraced, with an empty BPF program, under perf record and\nunder bpftrail record, and compares them.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	b.bpftrailArgs = strings.Fields(extra)
	var err error
	if b.variants, err = parseVariants(variants); err == nil {
		err = b.main()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpftrail-bench: %v\n", err)
		os.Exit(1)
	}
}

func (b *bench) main() error {
	if b.startup && b.toolsDir == "" {
		fmt.Fprintln(os.Stderr, "bpftrail-bench: -startup needs -tools DIR (bpftrace's tools/, say); skipped")
		return nil
	}
	if b.read {
		// The read side runs its readers on the whole machine, as a user
		// would, even when this program was started on fewer CPUs; only
		// the recording's tracer and load threads are pinned.
		set, n, err := onlineCPUs()
		if err != nil {
			return err
		}
		if err := setAffinity(&set); err != nil {
			return fmt.Errorf("run on every online CPU: %w", err)
		}
		b.cpus = n
	}
	if err := b.check(); err != nil {
		return err
	}
	if !b.read {
		if err := pinSelf(b.tracerCPU); err != nil {
			return err
		}
	}
	var err error
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "bpftrail-bench-"); err != nil {
		return err
	}
	if !b.keep {
		defer os.RemoveAll(b.tmp)
	} else {
		fmt.Fprintf(os.Stderr, "traces kept in %s\n", b.tmp)
	}
	if err := b.buildBpftrail(); err != nil {
		return err
	}
	if b.startup {
		return b.runStartup(os.Stdout)
	}
	if b.read {
		return b.runRead(os.Stdout)
	}

	// Warm up CPU and caches; not recorded.
	if _, err := b.runUntraced(); err != nil {
		return err
	}

	if b.breakdown {
		return b.runBreakdown(os.Stdout)
	}
	if b.script {
		// bpftrace 0.17 opens its perf buffers (perf_event fds) before it
		// attaches: wait for its own word that every probe is attached.
		b.notify = true
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bpf_stats not enabled, no in-program time: %v\n", err)
		} else {
			defer stats.Close()
			b.stats = true
		}
	}
	if !b.script && !b.agg && !b.uprobe {
		// Every recorded event holds its thread's name: a fixed one keeps
		// the bytes per event from depending on this binary's name.
		b.loadEnv = append(b.loadEnv, commEnv+"="+recordComm)
	}
	list, err := b.modeList()
	if err != nil {
		return err
	}
	all, err := b.runRounds(list)
	if err != nil {
		return err
	}
	switch {
	case b.script:
		scriptReport(os.Stdout, b, all)
	case b.agg:
		aggReport(os.Stdout, all)
	case b.uprobe:
		uprobeReport(os.Stdout, all)
	default:
		report(os.Stdout, b, recordModes(b.variants), all)
		if b.stages {
			if err := b.runStages(os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "bpftrail-bench: stages: %v\n", err)
			}
		}
	}
	return nil
}

// check refuses flags and machines the benchmark cannot run with.
func (b *bench) check() error {
	if b.n <= 0 || b.rounds <= 0 {
		return fmt.Errorf("-n and -rounds must be positive")
	}
	if b.cpus == 0 {
		b.cpus = runtime.NumCPU()
	}
	if b.cpus < 2 {
		return fmt.Errorf("needs 2 CPUs (load and tracer on different CPUs)")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (BPF and tracepoints)")
	}
	tools := []string{"perf", "taskset"}
	if b.read {
		tools = []string{"babeltrace2", "taskset"}
	}
	if b.agg || b.uprobe || b.script || b.startup {
		tools = []string{"bpftrace", "taskset"}
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	return nil
}

// buildBpftrail builds ./cmd/bpftrail into the temp dir unless -bpftrail
// names a binary.
func (b *bench) buildBpftrail() error {
	if b.bpftrail != "" {
		return nil
	}
	b.bpftrail = filepath.Join(b.tmp, "bpftrail")
	fmt.Fprintf(os.Stderr, "building ./cmd/bpftrail ...\n")
	cmd := exec.Command("go", "build", "-o", b.bpftrail, "./cmd/bpftrail")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/bpftrail (run from the module root or pass -bpftrail): %w", err)
	}
	return nil
}

// modeList returns the modes the flags ask for; for -uprobe it also turns
// the load into the uprobe loop, which needs this binary's symbols.
func (b *bench) modeList() ([]string, error) {
	switch {
	case b.uprobe:
		os.Setenv(loopEnv, "uprobe")
		if out, err := exec.Command("nm", b.self).Output(); err != nil || !strings.Contains(string(out), "main.uprobeTarget") {
			return nil, fmt.Errorf("-uprobe needs this binary's symbol table, which go run strips: go build -o bpftrail-bench ./cmd/bpftrail-bench && ./bpftrail-bench -uprobe")
		}
		return uprobeModes, nil
	case b.script:
		return scriptModes(), nil
	case b.agg:
		return aggModes, nil
	}
	if others := tracepointProgs(benchTracepointName, 0); len(others) > 0 {
		fmt.Fprintf(os.Stderr, "warning: other processes hold BPF programs on %s (%s); perf records nothing of the events one of them drops, and a run that misses more than %.0f%% of the calls fails\n",
			benchTracepoint, strings.Join(others, ", "), 100*(1-minAccounted))
	}
	b.specs = map[string]modeSpec{}
	ms := recordModes(b.variants)
	for _, m := range ms {
		b.specs[m.name()] = m
	}
	return recordSchedule(ms), nil
}

// runRounds runs list once per round, in ABBA order across rounds, and
// returns the results by mode (a mode that list names twice has two
// results per round). For the recording benchmark it then gives each
// tracer run the floor measured next to it.
func (b *bench) runRounds(list []string) (map[string][]result, error) {
	run := b.run
	if b.agg {
		run = func(m string, _ int) (result, error) { return b.runAgg(m) }
	}
	if b.uprobe {
		run = b.runUprobe
	}
	if b.script {
		run = func(m string, _ int) (result, error) { return b.runScript(m) }
	}
	all := map[string][]result{}
	for r := 0; r < b.rounds; r++ {
		order := list
		if r%2 == 1 {
			order = nil
			for i := len(list) - 1; i >= 0; i-- {
				order = append(order, list[i])
			}
		}
		runs := make([]int, len(order))
		for i, m := range order {
			res, err := run(m, r)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", r+1, m, err)
			}
			runs[i] = len(all[m])
			all[m] = append(all[m], res)
			printRun(r, m, res)
		}
		if b.specs != nil {
			pairFloors(order, runs, all, b.specs)
		}
	}
	return all, nil
}

// printRun shows one run's result on stderr as it comes.
func printRun(round int, mode string, res result) {
	fmt.Fprintf(os.Stderr, "round %d  %-44s %7.1f ns/call CPU, %7.1f wall", round+1, mode, res.nsPerCall, res.wallPerCall)
	if res.kept >= 0 {
		fmt.Fprintf(os.Stderr, "  kept %d  lost %d  %.1f B/event  collector %s (%s from release)",
			res.kept, res.lost, perEvent(float64(res.streamB), res.kept), res.cpuTotal.Round(time.Millisecond), res.cpuWindow.Round(time.Millisecond))
		if res.dups > 0 {
			fmt.Fprintf(os.Stderr, "  +%d duplicated samples", res.dups)
		}
	}
	if res.note != "" {
		fmt.Fprintf(os.Stderr, "  [%s]", res.note)
	}
	fmt.Fprintln(os.Stderr)
}

func (b *bench) run(mode string, round int) (result, error) {
	if m, ok := b.specs[mode]; ok {
		return b.runMode(m, round)
	}
	switch mode {
	case modeUntraced:
		return b.runUntraced()
	case modeEmpty:
		return b.runEmptyOn("syscalls", "sys_enter_getpid")
	}
	return result{}, fmt.Errorf("unknown mode %q", mode)
}

// pinSelf pins every thread of this process to cpu; threads created later
// inherit the mask.
func pinSelf(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := setAffinity(&set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return nil
}

// setAffinity sets the CPU mask of every thread of this process; threads
// and processes created later inherit it.
func setAffinity(set *unix.CPUSet) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return err
		}
	}
	return nil
}

// onlineCPUs returns the online CPUs (/sys/devices/system/cpu/online,
// "0-1,4"), whatever CPU mask this process was started with.
func onlineCPUs() (unix.CPUSet, int, error) {
	var set unix.CPUSet
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return set, 0, err
	}
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return set, 0, fmt.Errorf("cpu list %q: %w", b, err)
		}
		z := a
		if isRange {
			if z, err = strconv.Atoi(hi); err != nil {
				return set, 0, fmt.Errorf("cpu list %q: %w", b, err)
			}
		}
		for c := a; c <= z; c++ {
			set.Set(c)
		}
	}
	return set, set.Count(), nil
}
