package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/hist"
)

// aggFlags are the flags count, hist, latency and the built-in tools share.
type aggFlags struct {
	events   []string
	filter   string
	by       string
	pid      int
	all      bool
	duration time.Duration
	interval time.Duration
	asJSON   bool
	output   string
	top      int
	fields   string
}

func (f *aggFlags) register(c *cobra.Command, withEvents bool) {
	fl := c.Flags()
	if withEvents {
		fl.StringArrayVarP(&f.events, "event", "e", nil, "probe spec (repeatable)")
	}
	fl.StringVar(&f.filter, "filter", "", "in-kernel filter expression")
	fl.StringVar(&f.by, "by", "", "aggregate per KEY[,KEY...]: event, comm, pid, tid, cpu or a field")
	fl.IntVarP(&f.pid, "pid", "p", 0, "only this process")
	fl.BoolVarP(&f.all, "all", "a", false, "every process, also with a command")
	fl.DurationVarP(&f.duration, "duration", "d", 0, "stop after this long")
	fl.DurationVarP(&f.interval, "interval", "i", 0, "print every interval as well as at the end")
	fl.BoolVar(&f.asJSON, "json", false, "one JSON object per interval and a final one")
	fl.StringVarP(&f.output, "output", "o", "", "write the JSON objects to FILE")
	fl.IntVar(&f.top, "top", 0, "show only the N largest keys")
	fl.StringVar(&f.fields, "fields", "", "what uprobes read: arg0..arg5, retval, str(argN), str(retval)")
}

// aggregation fills the shared part of an aggregation from the flags.
func (f *aggFlags) aggregation(mode aggregate.Mode) (engine.Aggregation, error) {
	if f.top < 0 {
		return engine.Aggregation{}, fmt.Errorf("--top must be 0 (all) or more, not %d", f.top)
	}
	return engine.Aggregation{
		Mode:   mode,
		Probes: engine.Probes{Specs: f.events, Filter: f.filter, Fields: f.fields},
		By:     splitList(f.by),
	}, nil
}

// aggRun is how an aggregation command shows its snapshots.
type aggRun struct {
	format aggregate.Format
	// adjust, when set, changes a snapshot before it is shown (names
	// syscalls, says that nothing was seen).
	adjust func(s *aggregate.Snapshot, final bool)
}

// runAgg runs one aggregation and shows its snapshot every interval and at
// the end, as text or JSON.
func runAgg(c *cobra.Command, f *aggFlags, a engine.Aggregation, args []string, how aggRun) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	target, err := engine.SelectTarget(f.pid, f.all, args)
	if err != nil {
		return err
	}
	sess, err := engine.Open(engine.Config{Target: target, Aggregates: []engine.Aggregation{a}})
	if err != nil {
		return err
	}
	defer sess.Close()
	out := io.Writer(os.Stdout)
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	how.format.Top = f.top
	reader := sess.Aggregates()[0]
	show := func(final bool) error {
		snap, err := reader.Read()
		if err != nil {
			return err
		}
		if how.adjust != nil {
			how.adjust(snap, final)
		}
		if f.asJSON || f.output != "" {
			return aggregate.WriteJSON(out, snap, how.format)
		}
		return aggregate.WriteText(out, snap, how.format)
	}
	run := engine.RunOptions{Command: args, Duration: f.duration, Every: f.interval, Tick: func() error { return show(false) }}
	if len(args) == 0 && f.duration == 0 && isTerminal(os.Stderr) {
		run.Started = func() { fmt.Fprintln(os.Stderr, "Tracing... Hit Ctrl-C to end.") }
	}
	res, err := sess.Run(run)
	if err != nil {
		return err
	}
	if err := show(true); err != nil {
		return quietPipe(err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(os.Stderr, "bpftrail: warning: %s\n", w)
	}
	return nil
}

func newCount() *cobra.Command {
	var f aggFlags
	c := &cobra.Command{
		Use:   "count -e SPEC [-e SPEC ...] [--by KEY[,KEY...]] [flags] [-- COMMAND [ARGS...]]",
		Short: "Count events in kernel, per key",
		Long: `count counts events in the kernel, in a BPF hash map, per key: the event name
(--by event), comm, pid, tid, cpu, or any integer or string field of the
event. Only the map is read, at the end and every -i interval.`,
		Example: `  bpftrail count -e 'syscalls:sys_enter_*' --by event --top 10 -d 5s
  bpftrail count -e syscalls:sys_enter_openat --by comm,filename -- make
  bpftrail count -e sched:sched_switch --by prev_comm --json -i 1s`,
		RunE: func(c *cobra.Command, args []string) error {
			a, err := f.aggregation(aggregate.Count)
			if err != nil {
				return err
			}
			return runAgg(c, &f, a, args, aggRun{})
		},
	}
	f.register(c, true)
	return c
}

func newHist() *cobra.Command {
	var f aggFlags
	var value, linear string
	c := &cobra.Command{
		Use:   "hist -e SPEC --value FIELD [--by KEY] [--linear MIN,MAX,STEP] [flags] [-- COMMAND]",
		Short: "Histogram of a field's values, computed in kernel",
		Long: `hist buckets an integer field of each event in the kernel: power-of-two
buckets by default, linear ones with --linear. One histogram per key.`,
		Example: `  bpftrail hist -e syscalls:sys_exit_read --value ret --by comm -d 10s
  bpftrail hist -e syscalls:sys_enter_write --value count --linear 0,4096,512 -- dd if=/dev/zero of=/dev/null bs=1k count=100`,
		RunE: func(c *cobra.Command, args []string) error {
			a, err := f.aggregation(aggregate.Hist)
			if err != nil {
				return err
			}
			a.Value = value
			if linear != "" {
				if a.Scheme, err = parseLinear(linear); err != nil {
					return err
				}
			}
			return runAgg(c, &f, a, args, aggRun{})
		},
	}
	f.register(c, true)
	c.Flags().StringVar(&value, "value", "", "the integer field to histogram")
	c.Flags().StringVar(&linear, "linear", "", "linear buckets MIN,MAX,STEP instead of powers of two")
	return c
}

func parseLinear(s string) (hist.Linear, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return hist.Linear{}, fmt.Errorf("--linear %q: want MIN,MAX,STEP", s)
	}
	var v [3]int64
	for i, p := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 0, 64)
		if err != nil {
			return hist.Linear{}, fmt.Errorf("--linear %q: %q is not an integer", s, p)
		}
		v[i] = n
	}
	l := hist.Linear{Min: v[0], Max: v[1], Step: v[2]}
	if err := l.Validate(); err != nil {
		return l, fmt.Errorf("--linear %q: %w", s, err)
	}
	return l, nil
}

func newLatency() *cobra.Command {
	var f aggFlags
	var from, to []string
	var match, unit string
	c := &cobra.Command{
		Use:   "latency --from SPEC --to SPEC [--match tid|pid|FIELD[,FIELD]] [--by KEY] [--unit ns|us|ms] [flags]",
		Short: "Time from a start event to its end event, as histograms in kernel",
		Long: `latency measures the time between a start event and the end event that
matches it, by default on the same thread; --match names the field (or a
start field and an end field) that pairs them. Histograms are per key, taken
at the end event, with count, average, min, max, p50 and p99. Pending starts
are kept in a bounded LRU map; starts that never see their end are counted.`,
		Example: `  bpftrail latency --from syscalls:sys_enter_read --to syscalls:sys_exit_read --by comm -d 10s
  bpftrail latency --from sched:sched_wakeup --to sched:sched_switch --match pid,next_pid --unit us`,
		RunE: func(c *cobra.Command, args []string) error {
			u, err := hist.ParseUnit(unit)
			if err != nil {
				return fmt.Errorf("--unit: %w", err)
			}
			a, err := f.aggregation(aggregate.Latency)
			if err != nil {
				return err
			}
			a.From, a.To, a.Match = from, to, match
			return runAgg(c, &f, a, args, aggRun{format: aggregate.Format{Unit: u}})
		},
	}
	f.register(c, false)
	c.Flags().StringArrayVar(&from, "from", nil, "start event spec (repeatable)")
	c.Flags().StringArrayVar(&to, "to", nil, "end event spec (repeatable)")
	c.Flags().StringVar(&match, "match", "tid", "what pairs a start with its end: tid, pid, a field, or START_FIELD,END_FIELD")
	c.Flags().StringVar(&unit, "unit", "us", "unit of the printed histogram: ns, us, ms")
	return c
}
