package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/analyze"
)

func newAnalyze() *cobra.Command {
	var asJSON bool
	var top int
	c := &cobra.Command{
		Use:   "analyze DIR",
		Short: "Summarize a trace: CPU time, thread states, syscall latency, files, losses",
		Long: `analyze reads a CTF trace recorded by bpftrail (tracefs names or the LTTng
kernel preset) and prints tables computed from its events:

  - CPU time per process and thread, from sched_switch (a thread running
    when a CPU's events begin counts from that CPU's first event);
  - thread states: running, runnable (preempted, or woken and waiting for a
    CPU, from sched_wakeup) and blocked (switched out asleep until woken);
  - syscall counts, errors and latency percentiles (p50, p99, max) per
    syscall and process, from entry to exit on the same thread;
  - the files opened most (filename of open/openat entries);
  - the events each CPU stream holds and discarded, so that you know how
    complete the picture is.

Scheduling needs sched:sched_switch (and sched:sched_wakeup for runnable
time after a wake-up); syscall latency needs both entry and exit
(-e syscall:NAME).`,
		Example: `  bpftrail record -e 'sched:sched_switch' -e 'sched:sched_wakeup' -e syscall:openat -a -d 5s -o tr
  bpftrail analyze tr
  bpftrail analyze --json tr | jq '.threads[:5]'`,
		Args: exactArgs(1, "a trace directory"),
		RunE: func(c *cobra.Command, args []string) error {
			return analyzeTrace(args[0], asJSON, top, os.Stdout, os.Stderr)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "the whole report as JSON")
	c.Flags().IntVar(&top, "top", 20, "rows per table (0: all)")
	return c
}

func analyzeTrace(dir string, asJSON bool, top int, stdout, stderr io.Writer) error {
	t, err := openTrace(dir)
	if err != nil {
		return err
	}
	if err := t.Check(); err != nil {
		fmt.Fprintf(stderr, "bpftrail: warning: %s (read up to the last complete packet)\n", oneLine(err))
	}
	r, err := analyze.Run(t)
	if err != nil {
		return err
	}
	if asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return quietPipe(e.Encode(r))
	}
	return quietPipe(r.WriteText(stdout, top))
}
