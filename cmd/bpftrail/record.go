package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/preset"
)

type recordFlags struct {
	events     []string
	filter     string
	output     string
	duration   time.Duration
	pid        int
	all        bool
	bufferSize string
	stringSize int
	quiet      bool
	preset     string
	aggregate  []string
	fields     string
	stack      string
	rotate     string
	keep       int
	snapshot   bool
	snapSize   string
	snapOn     string
	snapAtExit bool
	relaydOptions
}

func newRecord() *cobra.Command {
	var f recordFlags
	c := &cobra.Command{
		Use:   "record -e SPEC [-e SPEC ...] [flags] [-- COMMAND [ARGS...]]",
		Short: "Record tracepoints and syscalls into a CTF trace",
		Long: `record attaches to the given probes and writes every event they see into a
CTF 1.8 trace directory, one stream per CPU, until Ctrl-C, the end of -d, or
the end of COMMAND. With COMMAND only it and its descendants are recorded
(unless -a); with -p only that process.

Probe specs: tracepoint:CATEGORY:NAME, CATEGORY:NAME, globs such as 'sched:*'
or 'syscalls:sys_enter_*', and syscall:NAME for a syscall's entry and exit.

Filters run in kernel: comparisons (== != < <= > >=) on the event's fields and
on pid, tid, comm and cpu, joined by && || ! and parentheses; strings compare
with == and !=, and a trailing * matches a prefix ("/etc/*").`,
		Example: `  bpftrail record -e syscalls:sys_enter_openat -- ls /etc
  bpftrail record -e 'sched:*' -a -d 10s -o sched-trace
  bpftrail record -e syscall:openat --filter 'comm == "bash" && ret < 0' -d 30s
  bpftrail record -e 'sched:*' -a --snapshot --snapshot-on 'syscalls:sys_enter_kill:sig == 9' -o fr
  bpftrail record -e 'sched:*' -a --rotate 64MiB --keep 10 -o sched   # sched/archives/BEGIN-END-ID/
  bpftrail record -e 'syscalls:*' -a --snapshot -o fr                 # kill -USR2 PID writes fr/snapshot-1-.../
  bpftrail record -e 'sched:*' -a --relayd net://collector --live -o sched
      # babeltrace2 --input-format=lttng-live net://collector/host/$(hostname)/sched`,
		RunE: func(c *cobra.Command, args []string) error {
			return runRecord(c, f, args)
		},
	}
	fl := c.Flags()
	fl.StringArrayVarP(&f.events, "event", "e", nil, "probe spec to record (repeatable)")
	fl.StringVar(&f.filter, "filter", "", "in-kernel filter expression")
	fl.StringVarP(&f.output, "output", "o", "", "trace directory (default ./bpftrail-YYYYmmdd-HHMMSS)")
	fl.DurationVarP(&f.duration, "duration", "d", 0, "stop after this long (e.g. 10s)")
	fl.IntVarP(&f.pid, "pid", "p", 0, "record only this process")
	fl.BoolVarP(&f.all, "all", "a", false, "record every process, also with a command")
	fl.StringVar(&f.bufferSize, "buffer-size", "16MiB", "ring buffer size, shared out between the CPUs (a ring each, 64KiB at least; e.g. 8KiB, 64MiB)")
	fl.IntVar(&f.stringSize, "string-size", 256, "bytes kept of each string copied from memory")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress line and no summary")
	fl.StringVar(&f.stack, "stack", "", "record the stack of every event: user, kernel or both (symbolized into DIR/bpftrail/symbols.json at the end)")
	fl.StringVar(&f.fields, "fields", "", "what uprobes record: arg0..arg5, retval, str(argN), str(retval) (default: all arguments, or retval)")
	fl.StringArrayVar(&f.aggregate, "aggregate", nil, "also aggregate in kernel, saved every second and at the end in DIR/bpftrail/aggregates.jsonl: count[:KEY,...] or hist:FIELD[:KEY,...] (repeatable)")
	fl.StringVar(&f.preset, "preset", "", "record a kernel trace in LTTng's layout for Trace Compass: "+strings.Join(preset.Names(), ", "))
	fl.StringVar(&f.rotate, "rotate", "", "cut the trace into chunks of this size (64MiB) or duration (10m), each a complete trace in DIR/archives/BEGIN-END-ID/; SIGUSR2 ends a chunk at once")
	fl.IntVar(&f.keep, "keep", 0, "with --rotate, keep only the N newest chunks")
	fl.BoolVar(&f.snapshot, "snapshot", false, "flight recorder: keep the newest events in memory and write a trace DIR/snapshot-1-YYYYMMDD-HHMMSS-N/ on SIGUSR2 (and at the end with --snapshot-at-exit)")
	fl.StringVar(&f.snapSize, "snapshot-size", "16MiB", "with --snapshot, memory kept (older events are reported as discarded in snapshots)")
	fl.StringVar(&f.snapOn, "snapshot-on", "", "with --snapshot, write a snapshot when an event of SPEC that passes FILTER fires: SPEC[:FILTER], e.g. 'syscalls:sys_enter_kill:sig == 9' (at most one a second)")
	fl.BoolVar(&f.snapAtExit, "snapshot-at-exit", false, "with --snapshot, write a snapshot when the recording ends")
	addRelaydFlags(c, &f.relaydOptions)
	return c
}

func runRecord(c *cobra.Command, f recordFlags, args []string) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	bufSize, err := parseSize(f.bufferSize)
	if err != nil {
		return fmt.Errorf("--buffer-size: %w", err)
	}
	if f.stringSize < 1 || f.stringSize > 4096 {
		return fmt.Errorf("--string-size must be between 1 and 4096")
	}
	probes := engine.Probes{Specs: f.events, Filter: f.filter, StringSize: f.stringSize, Fields: f.fields, Stack: f.stack}
	if f.preset != "" {
		p, err := preset.Lookup(f.preset)
		if err != nil {
			return err
		}
		probes.Specs = append(append([]string(nil), p.Specs...), f.events...)
	}
	cfg := engine.Config{BufferSize: bufSize, Record: &probes}
	if cfg.Target, err = engine.SelectTarget(f.pid, f.all, args); err != nil {
		return err
	}
	if cfg.Aggregates, err = recordAggregates(f.aggregate, probes); err != nil {
		return err
	}
	if spec, _ := splitTrigger(f.snapOn); spec != "" && !slices.Contains(probes.Specs, spec) {
		probes.Specs = append(probes.Specs, spec) // the trigger's events are recorded too
	}
	dir := f.output
	if dir == "" && f.relayd == "" {
		dir = "bpftrail-" + time.Now().Format("20060102-150405")
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "metadata")); err == nil {
			return fmt.Errorf("%s already holds a trace; choose another -o", dir)
		}
	}
	trace := &engine.TraceOutput{
		Dir: dir, LTTng: f.preset != "", Options: traceOptions("bpftrail_command", strings.Join(os.Args, " ")),
	}
	if err := longRunFlags(c, f, trace); err != nil {
		return err
	}
	if err := relaydFlags(c, f.relaydOptions, trace); err != nil {
		return err
	}
	sess, err := engine.Open(cfg)
	if err != nil {
		return err
	}
	defer sess.Close()
	run := engine.RunOptions{Command: args, Duration: f.duration, Trace: trace}
	if !f.quiet && isTerminal(os.Stderr) {
		run.Progress = progressLine()
	}
	if !f.quiet {
		trace.Written = reportWritten(run.Progress != nil)
	}
	res, err := sess.Run(run)
	if run.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if !f.quiet {
		where := dir
		if dir == "" {
			where = "lttng-relayd"
		}
		summary(os.Stderr, where, sess, res)
	}
	return nil
}

// traceOptions are the options of the traces bpftrail writes: the tracer's
// name and version, and one env value of the caller's.
func traceOptions(key, value string) ctf.Options {
	return ctf.Options{
		TracerName:  "bpftrail",
		TracerMajor: versionPart(0),
		TracerMinor: versionPart(1),
		TracerPatch: versionPart(2),
		Env:         []ctf.EnvValue{{Key: "bpftrail_version", Str: version}, {Key: key, Str: value}},
	}
}

func versionPart(i int) int {
	parts := strings.Split(version, ".")
	if i >= len(parts) {
		return 0
	}
	n := 0
	fmt.Sscanf(parts[i], "%d", &n)
	return n
}

// progressLine returns a func that shows a run's progress on one line of
// a terminal.
func progressLine() func(engine.Progress) {
	var prev engine.Progress
	return func(p engine.Progress) {
		rate := float64(p.Events-prev.Events) / max(p.Elapsed-prev.Elapsed, time.Millisecond).Seconds()
		prev = p
		fmt.Fprintf(os.Stderr, "\r\033[Krecording: %d events (%.0f/s), %d lost, %s read, %s",
			p.Events, rate, p.Lost, humanBytes(int64(p.Bytes)), p.Elapsed.Truncate(time.Second))
	}
}

func summary(out *os.File, dir string, sess *engine.Session, res *engine.Result) {
	fmt.Fprintf(out, "bpftrail: recorded %d events in %s to %s (%s, %d lost",
		res.Trace.Events, res.Duration.Truncate(time.Millisecond), dir, humanBytes(res.Trace.Bytes), res.Lost)
	if res.Trace.Clamped > 0 {
		fmt.Fprintf(out, ", %d timestamps raised to keep order", res.Trace.Clamped)
	}
	fmt.Fprintln(out, ")")
	type count struct {
		name string
		n    uint64
	}
	var counts []count
	for _, c := range sess.Classes() {
		if n := res.PerClass[c.ID]; n > 0 {
			counts = append(counts, count{c.Schema.Name, n})
		}
	}
	sort.SliceStable(counts, func(i, j int) bool { return counts[i].n > counts[j].n })
	for _, c := range counts {
		fmt.Fprintf(out, "  %-40s %10d\n", c.name, c.n)
	}
	if res.Lost > 0 {
		fmt.Fprintf(out, "  %d events could not be written (ring buffer full): increase --buffer-size or filter more\n", res.Lost)
	}
	if res.Missed > 0 {
		fmt.Fprintf(out, "  %d events were not seen: the kernel skipped the probe while another BPF program ran on the same CPU\n", res.Missed)
	}
	reportRelayd(out, res)
	reportEnd(out, res)
}

// reportEnd prints the warnings of a run and how its command ended.
func reportEnd(out *os.File, res *engine.Result) {
	for _, w := range res.Warnings {
		fmt.Fprintf(out, "bpftrail: warning: %s\n", w)
	}
	if res.Stopped {
		fmt.Fprintln(out, "bpftrail: the command was still running and was stopped")
	} else if res.CommandErr != nil {
		fmt.Fprintf(out, "command: %v\n", res.CommandErr)
	}
}

// recordAggregates turns --aggregate specs into aggregations of the
// recording's probes.
func recordAggregates(specs []string, probes engine.Probes) ([]engine.Aggregation, error) {
	var out []engine.Aggregation
	for _, spec := range specs {
		kind, rest, _ := strings.Cut(spec, ":")
		a := engine.Aggregation{Name: spec, Probes: probes}
		a.Probes.Stack = "" // stacks are not keys
		var keys string
		switch kind {
		case "count":
			a.Mode, keys = aggregate.Count, rest
		case "hist":
			a.Mode = aggregate.Hist
			a.Value, keys, _ = strings.Cut(rest, ":")
		default:
			return nil, fmt.Errorf("--aggregate %q: want count[:KEY,...] or hist:FIELD[:KEY,...]", spec)
		}
		a.By = splitList(keys)
		out = append(out, a)
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}
