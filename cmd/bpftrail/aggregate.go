package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/resolve"
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

// config fills the shared part of an aggregation config and validates the
// target.
func (f *aggFlags) config(args []string) (engine.AggConfig, error) {
	cfg := engine.AggConfig{Config: engine.Config{Specs: f.events, Filter: f.filter}}
	fields, err := resolve.ParseFields(f.fields)
	if err != nil {
		return cfg, err
	}
	cfg.Fields = fields
	if f.top < 0 {
		return cfg, fmt.Errorf("--top must be 0 (all) or more, not %d", f.top)
	}
	for _, k := range strings.Split(f.by, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.By = append(cfg.By, k)
		}
	}
	if cfg.Target, cfg.PID, err = selectTarget(f.pid, f.all, args); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// runAgg loads an aggregation session and prints its snapshots with render
// every interval and at the end.
func runAgg(c *cobra.Command, f *aggFlags, cfg engine.AggConfig, args []string, render func(w io.Writer, s *engine.Snapshot, final bool) error) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	sess, err := engine.OpenAgg(cfg)
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
	r, err := startRun(args, cfg.Target == bpfgen.TargetPids, f.duration, sess)
	if err != nil {
		return err
	}
	defer r.stop()
	ctx := r.ctx
	if len(args) == 0 && f.duration == 0 && isTerminal(os.Stderr) {
		fmt.Fprintln(os.Stderr, "Tracing... Hit Ctrl-C to end.")
	}
	var tick <-chan time.Time
	if f.interval > 0 {
		t := time.NewTicker(f.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			snap, err := sess.Read()
			if err != nil {
				return err
			}
			if err := render(out, snap, false); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	if err := sess.Stop(); err != nil {
		return err
	}
	snap, err := sess.Read()
	if err != nil {
		return err
	}
	return render(out, snap, true)
}

// keyJSON renders a key as an ordered JSON object.
func keyJSON(k engine.Key) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range k {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(v.Name)
		b.Write(name)
		b.WriteByte(':')
		if v.IsInt {
			b.WriteString(strconv.FormatInt(v.Int, 10))
		} else {
			s, _ := json.Marshal(v.Str)
			b.Write(s)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeJSON writes one JSON object and a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

func topN(groups []*engine.Group, n int) []*engine.Group {
	if n > 0 && len(groups) > n {
		return groups[:n]
	}
	return groups
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
			cfg, err := f.config(args)
			if err != nil {
				return err
			}
			cfg.Mode = engine.Count
			return runAgg(c, &f, cfg, args, func(w io.Writer, s *engine.Snapshot, final bool) error {
				return renderCount(w, &f, cfg, s)
			})
		},
	}
	f.register(c, true)
	return c
}

func renderCount(w io.Writer, f *aggFlags, cfg engine.AggConfig, s *engine.Snapshot) error {
	groups := topN(s.Groups, f.top)
	if f.asJSON || f.output != "" {
		type entry struct {
			Key   json.RawMessage `json:"key"`
			Count uint64          `json:"count"`
		}
		counts := []entry{}
		for _, g := range groups {
			counts = append(counts, entry{keyJSON(g.Key), g.Count})
		}
		return writeJSON(w, struct {
			Counts []entry `json:"counts"`
			Lost   uint64  `json:"lost"`
		}{counts, s.MapFull})
	}
	fmt.Fprintf(w, "%-12s", "COUNT")
	names := cfg.By
	if len(groups) > 0 {
		names = nil
		for _, v := range groups[0].Key {
			names = append(names, v.Name)
		}
	}
	for _, k := range names {
		fmt.Fprintf(w, " %s", strings.ToUpper(k))
	}
	fmt.Fprintln(w)
	for _, g := range groups {
		fmt.Fprintf(w, "%-12d", g.Count)
		for _, v := range g.Key {
			if v.IsInt {
				fmt.Fprintf(w, " %d", v.Int)
			} else {
				fmt.Fprintf(w, " %s", v.Str)
			}
		}
		fmt.Fprintln(w)
	}
	if s.MapFull > 0 {
		fmt.Fprintf(w, "(%d events not counted: the key map is full)\n", s.MapFull)
	}
	fmt.Fprintln(w)
	return nil
}
