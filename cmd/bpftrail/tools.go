package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/sink/table"
	"github.com/bpftrail/bpftrail/internal/tools"
)

func newTools() []*cobra.Command {
	var out []*cobra.Command
	for _, t := range tools.All() {
		out = append(out, newTool(t))
	}
	return out
}

func newTool(t *tools.Tool) *cobra.Command {
	var f aggFlags
	var unit string
	c := &cobra.Command{
		Use:     t.Name + " [flags] [-- COMMAND [ARGS...]]",
		Short:   t.Short,
		Long:    t.Long,
		Example: t.Example,
		GroupID: "tools",
		RunE: func(c *cobra.Command, args []string) error {
			if err := t.CheckRequires(); err != nil {
				return err
			}
			f.filter = joinFilters(t.Filter, f.filter)
			switch t.Kind {
			case tools.Events:
				return runEventTool(c, t, &f, args)
			case tools.Count, tools.Latency:
				return runAggTool(c, t, &f, unit, args)
			}
			return fmt.Errorf("%s: unknown tool kind", t.Name)
		},
	}
	f.register(c, false)
	if t.Kind == tools.Latency {
		c.Flags().StringVar(&unit, "unit", t.Unit, "unit of the printed histogram: ns, us, ms")
	}
	if t.Kind == tools.Events {
		c.Flags().Lookup("output").Usage = "also write the events to this CTF trace directory"
		c.Flags().Lookup("json").Usage = "one JSON object per event"
		c.Flags().Lookup("by").Hidden = true
		c.Flags().Lookup("interval").Hidden = true
		c.Flags().Lookup("top").Hidden = true
	}
	return c
}

func joinFilters(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") && (" + b + ")"
}

// runAggTool runs a count or latency tool.
func runAggTool(c *cobra.Command, t *tools.Tool, f *aggFlags, unit string, args []string) error {
	how := aggRun{adjust: func(s *aggregate.Snapshot, final bool) {
		if t.Syscalls {
			tools.NameSyscalls(s)
		}
		if final && len(s.Groups) == 0 && t.Empty != "" && !f.asJSON {
			fmt.Fprintln(os.Stderr, t.Name+": "+t.Empty)
		}
	}}
	mode := aggregate.Count
	if t.Kind == tools.Latency {
		mode = aggregate.Latency
	}
	a, err := f.aggregation(mode)
	if err != nil {
		return err
	}
	if t.Kind == tools.Count {
		a.Probes.Specs = t.Specs
		if len(a.By) == 0 {
			a.By = t.By
		}
		return runAgg(c, f, a, args, how)
	}
	if unit == "" {
		unit = t.Unit
	}
	if how.format.Unit, err = hist.ParseUnit(unit); err != nil {
		return fmt.Errorf("--unit: %w", err)
	}
	a.From, a.To, a.Match = t.From, t.To, t.Match
	a.FromFilter, a.ToFilter = t.FromFilter, t.ToFilter
	a.StartMatch, a.StartFilter = t.StartMatch, t.StartFilter
	return runAgg(c, f, a, args, how)
}

// runEventTool records the tool's events and prints them as they come (in
// batches, every poll interval), optionally also into a CTF trace.
func runEventTool(c *cobra.Command, t *tools.Tool, f *aggFlags, args []string) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	probes := engine.Probes{Specs: t.Specs, Filter: f.filter, Fields: f.fields}
	for name, path := range t.TaskFields {
		probes.TaskFields = append(probes.TaskFields, engine.TaskField{Name: name, Path: path})
	}
	sort.Slice(probes.TaskFields, func(i, j int) bool { return probes.TaskFields[i].Name < probes.TaskFields[j].Name })
	target, err := engine.SelectTarget(f.pid, f.all, args)
	if err != nil {
		return err
	}
	if f.output != "" {
		if _, err := os.Stat(filepath.Join(f.output, "metadata")); err == nil {
			return fmt.Errorf("%s already holds a trace; choose another -o", f.output)
		}
	}
	sess, err := engine.Open(engine.Config{Target: target, Record: &probes})
	if err != nil {
		return err
	}
	defer sess.Close()
	p := table.New(os.Stdout, table.Options{Columns: t.Columns, Paired: t.Paired, JSON: f.asJSON,
		Start: ctf.MonotonicNow(), Live: isTerminal(os.Stdout),
		Lost: func(cpu int, n uint64) {
			fmt.Fprintf(os.Stderr, "%s: %d events lost on CPU %d (ring buffer full)\n", t.Name, n, cpu)
		}})
	run := engine.RunOptions{Command: args, Duration: f.duration, Sinks: []engine.Sink{p}}
	if f.output != "" {
		run.Trace = &engine.TraceOutput{Dir: f.output, Options: traceOptions("bpftrail_tool", t.Name)}
	}
	_, runErr := sess.Run(run)
	if err := p.Flush(); err != nil {
		return quietPipe(err)
	}
	return runErr
}
