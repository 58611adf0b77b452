package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/preset"
	"github.com/bpftrail/bpftrail/internal/resolve"
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
  bpftrail record -e syscall:openat --filter 'comm == "bash" && ret < 0' -d 30s`,
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
	fl.StringVar(&f.bufferSize, "buffer-size", "16MiB", "ring buffer size (e.g. 8KiB, 64MiB)")
	fl.IntVar(&f.stringSize, "string-size", 256, "bytes kept of each string copied from memory")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress line and no summary")
	fl.StringVar(&f.stack, "stack", "", "record the stack of every event: user, kernel or both (symbolized into DIR/bpftrail/symbols.json at the end)")
	fl.StringVar(&f.fields, "fields", "", "what uprobes record: arg0..arg5, retval, str(argN), str(retval) (default: all arguments, or retval)")
	fl.StringArrayVar(&f.aggregate, "aggregate", nil, "also aggregate in kernel, saved every second and at the end in DIR/bpftrail/aggregates.jsonl: count[:KEY,...] or hist:FIELD[:KEY,...] (repeatable)")
	fl.StringVar(&f.preset, "preset", "", "record a kernel trace in LTTng's layout for Trace Compass: "+strings.Join(preset.Names(), ", "))
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
	fields, err := resolve.ParseFields(f.fields)
	if err != nil {
		return err
	}
	cfg := engine.Config{Specs: f.events, Filter: f.filter, BufferSize: bufSize, StringSize: f.stringSize, Preset: f.preset, Fields: fields, Stack: f.stack}
	if cfg.Target, cfg.PID, err = selectTarget(f.pid, f.all, args); err != nil {
		return err
	}
	if f.output != "" {
		if _, err := os.Stat(filepath.Join(f.output, "metadata")); err == nil {
			return fmt.Errorf("%s already holds a trace; choose another -o", f.output)
		}
	}
	sess, err := engine.Open(cfg)
	if err != nil {
		return err
	}
	defer sess.Close()
	aggs, err := openRecordAggs(f, cfg, sess)
	if err != nil {
		return err
	}
	defer func() {
		for _, a := range aggs {
			a.sess.Close()
		}
	}()

	dir := f.output
	if dir == "" {
		dir = "bpftrail-" + time.Now().Format("20060102-150405")
	}
	opts := ctf.Options{
		TracerName:   "bpftrail",
		TracerMajor:  versionPart(0),
		TracerMinor:  versionPart(1),
		TracerPatch:  versionPart(2),
		EventContext: ctftrace.ContextType(),
		Env: []ctf.EnvValue{
			{Key: "bpftrail_version", Str: version},
			{Key: "bpftrail_command", Str: strings.Join(os.Args, " ")},
		},
	}
	if f.preset != "" {
		opts.TracerName, opts.TracerMajor, opts.TracerMinor, opts.TracerPatch = "lttng-modules", 2, 13, 0
		opts.Domain = "kernel"
	}
	w, err := ctf.Create(dir, opts)
	if err != nil {
		return err
	}
	tw, err := ctftrace.NewWriter(w, sess.Schemas, sess.CPUs())
	if err != nil {
		w.Close()
		return err
	}
	var stacks *ctftrace.Stacks
	if f.stack != "" {
		stacks = ctftrace.NewStacks()
		tw.OnStack = stacks.Add
	}
	col, err := sess.Collector(tw)
	if err != nil {
		w.Close()
		return err
	}
	defer col.Close()

	targets := []target{}
	for _, a := range aggs {
		targets = append(targets, a.sess)
	}
	targets = append(targets, sess)
	r, err := startRun(args, cfg.Target == bpfgen.TargetPids, f.duration, targets...)
	if err != nil {
		w.Close()
		return err
	}
	agglog, err := startAggLog(dir, aggs, time.Second)
	if err != nil {
		r.abort()
		w.Close()
		return err
	}
	defer r.stop()
	ctx := r.ctx
	start := time.Now()
	stopProgress := progress(f.quiet, col, w, start)
	runErr := sess.Run(ctx, col)
	stopProgress()
	if err := agglog.finish(); err != nil && runErr == nil {
		runErr = err
	}
	if stacks != nil {
		if err := stacks.Write(dir); err != nil && runErr == nil {
			runErr = err
		}
	}
	closeErr := w.Close()
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		return closeErr
	}
	if !f.quiet {
		summary(os.Stderr, dir, tw, col, w, time.Since(start), sess.Missed())
		if err := r.commandErr(); err != nil {
			fmt.Fprintf(os.Stderr, "command: %v\n", err)
		}
	}
	return nil
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

// progress prints a live line on a terminal until the returned func is called.
func progress(quiet bool, col *collect.Collector, w *ctf.Writer, start time.Time) func() {
	if quiet || !isTerminal(os.Stderr) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var prev uint64
		prevT := start
		for {
			select {
			case <-done:
				fmt.Fprint(os.Stderr, "\r\033[K")
				return
			case now := <-t.C:
				n := col.Stats.Records.Load()
				rate := float64(n-prev) / now.Sub(prevT).Seconds()
				prev, prevT = n, now
				fmt.Fprintf(os.Stderr, "\r\033[Krecording: %d events (%.0f/s), %d lost, %s read, %s",
					n, rate, col.Stats.Lost.Load(), humanBytes(int64(col.Stats.Bytes.Load())), now.Sub(start).Truncate(time.Second))
			}
		}
	}()
	return func() { close(done); <-finished }
}

func summary(out *os.File, dir string, tw *ctftrace.Writer, col *collect.Collector, w *ctf.Writer, d time.Duration, missed uint64) {
	st := w.Stats()
	fmt.Fprintf(out, "bpftrail: recorded %d events in %s to %s (%s, %d lost",
		st.Events, d.Truncate(time.Millisecond), dir, humanBytes(st.Bytes), col.Stats.Lost.Load())
	if st.Clamped > 0 {
		fmt.Fprintf(out, ", %d timestamps raised to keep order", st.Clamped)
	}
	fmt.Fprintln(out, ")")
	classes := append([]*ctftrace.Class(nil), tw.Classes()...)
	sort.SliceStable(classes, func(i, j int) bool { return classes[i].Count > classes[j].Count })
	for _, c := range classes {
		if c.Count > 0 {
			fmt.Fprintf(out, "  %-40s %10d\n", c.Schema.Name, c.Count)
		}
	}
	if col.Stats.Lost.Load() > 0 {
		fmt.Fprintf(out, "  %d events could not be written (ring buffer full): increase --buffer-size or filter more\n", col.Stats.Lost.Load())
	}
	if missed > 0 {
		fmt.Fprintf(out, "  %d events were not seen: the kernel skipped the probe while another BPF program ran on the same CPU\n", missed)
	}
}

// recordAgg is an aggregation that runs beside a recording.
type recordAgg struct {
	spec string
	cfg  engine.AggConfig
	sess *engine.AggSession
}

// openRecordAggs loads the --aggregate sessions on the recording's probes,
// filter and target.
func openRecordAggs(f recordFlags, cfg engine.Config, rec *engine.Session) ([]*recordAgg, error) {
	var out []*recordAgg
	for _, spec := range f.aggregate {
		kind, rest, _ := strings.Cut(spec, ":")
		ac := engine.AggConfig{Config: cfg}
		var keys string
		switch kind {
		case "count":
			ac.Mode, keys = engine.Count, rest
		case "hist":
			ac.Mode = engine.Hist
			ac.Value, keys, _ = strings.Cut(rest, ":")
		default:
			return nil, fmt.Errorf("--aggregate %q: want count[:KEY,...] or hist:FIELD[:KEY,...]", spec)
		}
		for _, k := range strings.Split(keys, ",") {
			if k = strings.TrimSpace(k); k != "" {
				ac.By = append(ac.By, k)
			}
		}
		s, err := engine.OpenAgg(ac)
		if err != nil {
			for _, a := range out {
				a.sess.Close()
			}
			return nil, fmt.Errorf("--aggregate %q: %w", spec, err)
		}
		out = append(out, &recordAgg{spec: spec, cfg: ac, sess: s})
	}
	return out, nil
}

// aggLog writes the aggregates of a recording into the trace's bpftrail/
// sub-directory, where CTF readers do not look: a snapshot of each every
// interval (so that viewers can show them over time) and a final one.
type aggLog struct {
	aggs []*recordAgg
	file *os.File
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// startAggLog opens DIR/bpftrail/aggregates.jsonl and writes a snapshot of
// every aggregate each interval until finish.
func startAggLog(dir string, aggs []*recordAgg, interval time.Duration) (*aggLog, error) {
	if len(aggs) == 0 {
		return nil, nil
	}
	sub := filepath.Join(dir, "bpftrail")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	file, err := os.Create(filepath.Join(sub, "aggregates.jsonl"))
	if err != nil {
		return nil, err
	}
	l := &aggLog{aggs: aggs, file: file, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				_ = l.write(false)
			}
		}
	}()
	return l, nil
}

// write appends one snapshot of every aggregate:
// {"aggregate": SPEC, "time_ns": NOW, "final": BOOL, ...the command's JSON}.
func (l *aggLog) write(final bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().UnixNano()
	for _, a := range l.aggs {
		snap, err := a.sess.Read()
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		af := aggFlags{asJSON: true}
		if a.cfg.Mode == engine.Count {
			err = renderCount(&buf, &af, a.cfg, snap)
		} else {
			err = renderHists(&buf, &af, snap, hist.Log2{}, "", false)
		}
		if err != nil {
			return err
		}
		line := bytes.TrimSpace(buf.Bytes())
		head, _ := json.Marshal(a.spec)
		if _, err := fmt.Fprintf(l.file, "{\"aggregate\":%s,\"time_ns\":%d,\"final\":%v,%s\n", head, now, final, line[1:]); err != nil {
			return err
		}
	}
	return nil
}

// finish stops the aggregates and writes their final snapshots.
func (l *aggLog) finish() error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	for _, a := range l.aggs {
		if err := a.sess.Stop(); err != nil {
			return err
		}
	}
	err := l.write(true)
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	return err
}
