// Command bpftrail records eBPF events into Common Trace Format traces and
// aggregates them in kernel. See "bpftrail help".
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/command"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	command.Init() // in a command held for a session, waits and execs it
	root := newRoot()
	if asBpftrace() {
		run, _, _ := root.Find([]string{"run"})
		args, msg := bpftraceArgs(run, os.Args[1:])
		if msg != "" {
			fmt.Fprintf(os.Stderr, "ERROR: %s\n", msg)
			os.Exit(1)
		}
		root.SetArgs(args)
		run.SetHelpFunc(func(*cobra.Command, []string) { fmt.Print(bpftraceUsage) })
		run.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
			fmt.Fprint(os.Stderr, bpftraceUsage)
			return fmt.Errorf("ERROR: %w", err)
		})
	}
	stopProfile := startProfile()
	err := root.Execute()
	stopProfile()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		if asBpftrace() {
			fmt.Fprintln(os.Stderr, oneLine(err))
		} else {
			fmt.Fprintf(os.Stderr, "bpftrail: %s\n", oneLine(err))
		}
		os.Exit(1)
	}
}

// exitError ends the program with a status and no further message.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// oneLine flattens an error chain to one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "bpftrail",
		Short: "Record eBPF events into CTF traces and aggregate them in kernel",
		Long: `bpftrail attaches small BPF programs to tracepoints and syscalls, filters
in kernel, and writes what they see as a Common Trace Format (CTF 1.8) trace
that babeltrace2 and Trace Compass read, with every lost event accounted for.`,
		Example: `  bpftrail record -e syscalls:sys_enter_openat -d 5s
  bpftrail record -e 'sched:*' -- make -j2
  bpftrail print bpftrail-20261125-101500`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("bpftrail {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%s (see bpftrail %s --help)", err, c.Name())
	})
	root.AddGroup(&cobra.Group{ID: "tools", Title: "Built-in tools (bcc-style, on the same engine):"})
	root.AddCommand(newTools()...)
	root.AddCommand(newRecord(), newList(), newPrint(), newRecover(), newCount(), newHist(), newLatency(), newProfile(), newMetrics(), newConvert(), newAnalyze(), newView(), newReport(), newRun())
	return root
}

// ProfileEnv names a file that receives the CPU profile of the whole run
// (go tool pprof): how the bench splits the collector's time by stage.
const ProfileEnv = "BPFTRAIL_CPUPROFILE"

// startProfile starts the CPU profile ProfileEnv asks for; the returned
// func writes it.
func startProfile() func() {
	path := os.Getenv(ProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpftrail: %s: %v\n", ProfileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "bpftrail: %s: %v\n", ProfileEnv, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
