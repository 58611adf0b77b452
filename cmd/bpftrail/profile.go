package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/engine"
)

type profileFlags struct {
	freq     int
	pid      int
	all      bool
	duration time.Duration
	kernel   bool
	user     bool
	outputs  []string
	relaydOptions
}

func newProfile() *cobra.Command {
	var f profileFlags
	c := &cobra.Command{
		Use:   "profile [-F HZ] [-p PID | -a] [-d DURATION | -- COMMAND] [--kernel] [--user] -o FILE [-o FILE...]",
		Short: "Sample on-CPU stacks into a pprof profile, folded stacks or a CTF trace",
		Long: `profile samples the stacks of running threads on every CPU, HZ times a
second (software CPU clock), for a process (-p), a command and its children,
or every process (-a). The samples are recorded as a CTF trace of
profile:hz:HZ events with their user and kernel stacks (as record --stack
records them); the stacks are symbolized at the end (process mappings are
read when a process is first seen, so processes that exited still resolve):
the kernel through /proc/kallsyms, user code through ELF symbol tables,
MiniDebugInfo (.gnu_debugdata) and build-id debug files; code with no symbol
(JIT, stripped) shows as module+offset.

Each -o names an output, its format following the name: FILE.pb.gz (pprof:
go tool pprof -http :8080 FILE.pb.gz), FILE.folded (flamegraph.pl,
speedscope), or a directory for the CTF trace itself. The profile and folded
outputs are what "bpftrail convert TRACE --to pprof|folded" makes of the
trace, byte for byte.`,
		Example: `  bpftrail profile -F 99 -d 10s -a -o all.pb.gz
  bpftrail profile -o build.folded -- make -j2
  bpftrail profile -p 1234 --user -d 30s -o app-trace -o app.pb.gz`,
		RunE: func(c *cobra.Command, args []string) error { return runProfile(c, f, args) },
	}
	fl := c.Flags()
	fl.IntVarP(&f.freq, "frequency", "F", 99, "samples per second per CPU")
	fl.IntVarP(&f.pid, "pid", "p", 0, "only this process")
	fl.BoolVarP(&f.all, "all", "a", false, "every process, also with a command")
	fl.DurationVarP(&f.duration, "duration", "d", 0, "stop after this long")
	fl.BoolVar(&f.kernel, "kernel", false, "kernel stacks (default: both)")
	fl.BoolVar(&f.user, "user", false, "user stacks (default: both)")
	fl.StringArrayVarP(&f.outputs, "output", "o", []string{"profile.pb.gz"}, "FILE.pb.gz, FILE.folded, or a trace directory (repeatable)")
	addRelaydFlags(c, &f.relaydOptions)
	return c
}

// profileOutputs splits -o into the trace directory (at most one) and the
// files converted from it, by format.
func profileOutputs(outputs []string) (dir string, files [][2]string, err error) {
	for _, o := range outputs {
		switch {
		case strings.HasSuffix(o, ".pb.gz"), strings.HasSuffix(o, ".pprof"), strings.HasSuffix(o, ".pb"):
			files = append(files, [2]string{"pprof", o})
		case strings.HasSuffix(o, ".folded"), strings.HasSuffix(o, ".txt"):
			files = append(files, [2]string{"folded", o})
		case dir != "":
			return "", nil, fmt.Errorf("-o %s: only one trace directory (already %s)", o, dir)
		default:
			if _, err := os.Stat(filepath.Join(o, "metadata")); err == nil {
				return "", nil, fmt.Errorf("%s already holds a trace; choose another -o", o)
			}
			dir = o
		}
	}
	return dir, files, nil
}

func runProfile(c *cobra.Command, f profileFlags, args []string) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	if f.freq <= 0 || f.freq > 10000 {
		return fmt.Errorf("-F %d: the sampling frequency must be between 1 and 10000 Hz", f.freq)
	}
	if len(args) == 0 && !f.all && f.pid == 0 {
		return fmt.Errorf("say what to profile: -p PID, -a (every process) or -- COMMAND")
	}
	dir, files, err := profileOutputs(f.outputs)
	if err != nil {
		return err
	}
	stack := "both"
	if f.user != f.kernel {
		stack = map[bool]string{true: "user", false: "kernel"}[f.user]
	}
	probes := engine.Probes{Specs: []string{fmt.Sprintf("profile:hz:%d", f.freq)}, Stack: stack}
	cfg := engine.Config{Record: &probes}
	if cfg.Target, err = engine.SelectTarget(f.pid, f.all, args); err != nil {
		return err
	}
	named := dir != ""
	if dir == "" {
		// The trace is only the way to the files: keep it aside.
		tmp, err := os.MkdirTemp("", "bpftrail-profile-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "trace")
	}
	sess, err := engine.Open(cfg)
	if err != nil {
		return err
	}
	defer sess.Close()
	run := engine.RunOptions{Command: args, Duration: f.duration,
		Trace: &engine.TraceOutput{Dir: dir, Options: traceOptions("bpftrail_command", strings.Join(os.Args, " "))}}
	if f.relayd != "" && f.session == "" && !named {
		f.session = "bpftrail-profile-" + time.Now().Format("20060102-150405")
	}
	if err := relaydFlags(c, f.relaydOptions, run.Trace); err != nil {
		return err
	}
	if len(args) == 0 && f.duration == 0 && isTerminal(os.Stderr) {
		run.Started = func() { fmt.Fprintln(os.Stderr, "Sampling... Hit Ctrl-C to end.") }
	}
	res, err := sess.Run(run)
	if err != nil {
		return err
	}
	for _, fo := range files {
		if err := convertTrace(dir, fo[0], fo[1], os.Stdout, os.Stderr); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bpftrail: %d samples from %d processes in %s written to %s", res.Events, res.Processes, res.Duration.Truncate(time.Millisecond), strings.Join(f.outputs, ", "))
	if res.Lost > 0 {
		fmt.Fprintf(os.Stderr, " (%d samples lost: ring buffer full)", res.Lost)
	}
	fmt.Fprintln(os.Stderr)
	reportRelayd(os.Stderr, res)
	reportEnd(os.Stderr, res)
	return nil
}
