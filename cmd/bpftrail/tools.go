package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/scriptrun"
	"github.com/bpftrail/bpftrail/internal/tools"
)

// newTools returns a command per built-in tool and "tools", which lists
// them and shows their scripts.
func newTools() []*cobra.Command {
	out := []*cobra.Command{newToolsList()}
	for _, t := range tools.All() {
		out = append(out, newTool(t))
	}
	return out
}

func newToolsList() *cobra.Command {
	c := &cobra.Command{
		Use:   "tools [show NAME]",
		Short: "List the built-in tools, or print one's script",
		Long: `tools lists the built-in tools. Each is a script in bpftrace's language,
shipped inside bpftrail and run as bpftrail run runs any script; "tools show
NAME" prints it, to read, copy and change. The tool's flags are the
script's named parameters (getopt): bpftrail run NAME.bt --fails is
bpftrail NAME --fails.`,
		Example: "  bpftrail tools\n  bpftrail tools show execsnoop > execsnoop.bt",
		GroupID: "tools",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
			for _, t := range tools.All() {
				fmt.Fprintf(w, "%s\t%s\n", t.Name, t.Short)
			}
			return quietPipe(w.Flush())
		},
	}
	c.AddCommand(&cobra.Command{
		Use:       "show NAME",
		Short:     "Print a built-in tool's script",
		Args:      cobra.ExactArgs(1),
		ValidArgs: tools.Names(),
		RunE: func(c *cobra.Command, args []string) error {
			t, ok := tools.Lookup(args[0])
			if !ok {
				return fmt.Errorf("no tool %q; the tools are %s", args[0], strings.Join(tools.Names(), ", "))
			}
			_, err := io.WriteString(os.Stdout, t.Script())
			return quietPipe(err)
		},
	})
	return c
}

// toolFlags are the flags every tool takes; the tool's own flags are its
// script's named parameters.
type toolFlags struct {
	pid      int
	all      bool
	duration time.Duration
	interval time.Duration
	asJSON   bool
	output   string
	values   map[string]*string
	bools    map[string]*bool
}

func newTool(t *tools.Tool) *cobra.Command {
	f := toolFlags{values: map[string]*string{}, bools: map[string]*bool{}}
	c := &cobra.Command{
		Use:     t.Name + " [flags] [-- COMMAND [ARGS...]]",
		Short:   t.Short,
		Long:    t.Long + "\n\nThe tool is a script: bpftrail tools show " + t.Name + " prints it.",
		Example: t.Example,
		GroupID: "tools",
		RunE:    func(c *cobra.Command, args []string) error { return runTool(c, t, &f, args) },
	}
	fl := c.Flags()
	fl.IntVarP(&f.pid, "pid", "p", 0, "only this process")
	fl.BoolVarP(&f.all, "all", "a", false, "every process, also with a command")
	fl.DurationVarP(&f.duration, "duration", "d", 0, "stop after this long")
	fl.BoolVar(&f.asJSON, "json", false, "bpftrace's NDJSON output (one JSON object per line)")
	fl.StringVarP(&f.output, "output", "o", "", "write the output to `FILE`")
	if t.Interval {
		fl.DurationVarP(&f.interval, "interval", "i", 0, "also print (and reset) every interval, in whole seconds")
	}
	for _, tf := range t.Flags {
		if tf.Value == "" {
			f.bools[tf.Name] = fl.BoolP(tf.Name, tf.Short, false, tf.Usage)
		} else {
			f.values[tf.Name] = fl.StringP(tf.Name, tf.Short, tf.Default, tf.Usage)
		}
	}
	return c
}

// runTool runs the tool's script on the engine, as bpftrail run would,
// with its probes limited to the target processes.
func runTool(c *cobra.Command, t *tools.Tool, f *toolFlags, args []string) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	if err := t.CheckRequires(); err != nil {
		return err
	}
	target, err := engine.SelectTarget(f.pid, f.all, args)
	if err != nil {
		return err
	}
	values := map[string]string{}
	for name, v := range f.values {
		values[name] = *v
	}
	for name, v := range f.bools {
		if *v {
			values[name] = "true"
		}
	}
	params, err := t.Params(values)
	if err != nil {
		return err
	}
	if f.interval < 0 {
		return fmt.Errorf("--interval %s: must be positive", f.interval)
	}
	if f.interval > 0 {
		params = append(params, fmt.Sprintf("--interval=%d", int(math.Ceil(f.interval.Seconds()))))
	}
	out := io.Writer(os.Stdout)
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	err = scriptrun.Run(scriptrun.Options{
		Name: t.FileName(), Source: t.Script(), Params: params,
		Command: args, Target: &target, Duration: f.duration,
		JSON: f.asJSON, Out: out, Err: os.Stderr, Quiet: true,
	})
	var le *lang.Error
	var ee *scriptrun.ExitError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("%s: %s", t.Name, le.Error())
	case errors.As(err, &ee):
		return &exitError{code: ee.Code}
	case err != nil:
		return quietPipe(err)
	}
	return nil
}
