package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/scriptrun"
)

// runFlags are bpftrace's command-line options.
type runFlags struct {
	expr, cmd, format, out, buffering string
	pid                               int
	quiet, verbose, unsafe, list      bool
	info, dryRun, verifyIR, version   bool
	includes                          []string
	kflag, noWarnings                 bool
}

func newRun() *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run [flags] (-e PROGRAM | FILE.bt) [ARGS...]",
		Short: "Run a program in bpftrace's language, compiled to BPF with no compiler",
		Long: `run compiles a program written in bpftrace's language (as of bpftrace 0.26,
older spellings included: BEGIN/END, args->field) to BPF in Go, with no LLVM
or clang, and runs it on bpftrail's engine. Its flags and its output are
bpftrace's: maps are printed at exit, histograms with bpftrace's labels, and
-f json writes bpftrace's NDJSON. Started under the name bpftrace (through a
symbolic link, say), bpftrail behaves as this command.`,
		Example: `  bpftrail run -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'
  bpftrail run -e 'tracepoint:syscalls:sys_exit_read /pid == 1234/ { @bytes = hist(args.ret); }'
  bpftrail run script.bt arg1 arg2
  bpftrail run -l 'tracepoint:sched:*'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error { return runScript(c, &f, args) },
	}
	c.Flags().SetInterspersed(false)
	fl := c.Flags()
	fl.StringVarP(&f.expr, "expr", "e", "", "the program to run")
	fl.StringVarP(&f.cmd, "cmd", "c", "", "run `COMMAND` and trace until it exits")
	fl.IntVarP(&f.pid, "pid", "p", 0, "attach uprobes and USDT probes to `PID`")
	fl.StringVarP(&f.format, "format", "f", "text", "output format: text or json")
	fl.StringVarP(&f.out, "output", "o", "", "write the output to `FILE`")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "do not print the number of probes attached")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "verbose messages")
	fl.StringVarP(&f.buffering, "buffering", "B", "", "output buffering: line, full or none")
	fl.BoolVar(&f.unsafe, "unsafe", false, "allow system() and cat()")
	fl.BoolVarP(&f.list, "list", "l", false, "list the probes matching the program's pattern")
	fl.BoolVar(&f.info, "info", false, "print the features this kernel and bpftrail support")
	fl.BoolVarP(&f.dryRun, "dry-run", "d", false, "load the program but do not run it")
	fl.BoolVar(&f.verifyIR, "verify-llvm-ir", false, "accepted for bpftrace compatibility (there is no LLVM)")
	fl.StringSliceVarP(&f.includes, "include", "I", nil, "accepted for bpftrace compatibility")
	fl.BoolVarP(&f.kflag, "k", "k", false, "accepted for bpftrace compatibility")
	fl.BoolVar(&f.noWarnings, "no-warnings", false, "do not print warnings")
	fl.BoolVarP(&f.version, "version", "V", false, "print the version of bpftrace's language this follows")
	fl.MarkHidden("verify-llvm-ir")
	fl.MarkHidden("include")
	fl.MarkHidden("k")
	return c
}

func runScript(c *cobra.Command, f *runFlags, args []string) error {
	out := io.Writer(os.Stdout)
	if f.out != "" {
		file, err := os.Create(f.out)
		if err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	if f.buffering == "full" {
		bw := bufio.NewWriter(out)
		defer bw.Flush()
		out = bw
	}
	switch {
	case f.version:
		_, err := fmt.Fprintf(out, "bpftrace v0.26.1 (the language of; bpftrail %s)\n", version)
		return err
	case f.info:
		return scriptrun.Info(out)
	case f.list:
		pattern := f.expr
		if pattern == "" && len(args) > 0 {
			pattern = args[0]
		}
		return scriptrun.List(out, os.Stderr, pattern, f.verbose)
	}
	if f.format != "text" && f.format != "json" {
		fmt.Fprintf(os.Stderr, "ERROR: Invalid output format \"%s\"\nValid formats: 'text', 'json'\n", f.format)
		return &exitError{code: 1}
	}
	o := scriptrun.Options{Name: "stdin", Source: f.expr, Out: out, Err: os.Stderr, JSON: f.format == "json",
		Quiet: f.quiet, Unsafe: f.unsafe, PID: f.pid, DryRun: f.dryRun, NoWarnings: f.noWarnings,
		NotifyAttached: os.Getenv("__BPFTRACE_NOTIFY_PROBES_ATTACHED") != ""}
	if f.pid < 0 || f.pid > 1<<22 {
		fmt.Fprintf(os.Stderr, "ERROR: Pid out of range: %d\n", f.pid) // bpftrace's words
		return &exitError{code: 1}
	}
	if f.expr == "" {
		if len(args) == 0 {
			return errors.New("no program given: use -e PROGRAM or a FILE.bt (see bpftrail run --help)")
		}
		var src []byte
		var err error
		if args[0] == "-" {
			src, err = io.ReadAll(os.Stdin)
		} else {
			src, err = os.ReadFile(args[0])
		}
		if err != nil {
			// bpftrace's words, with the C library's capital letter.
			msg := errors.Unwrap(err).Error()
			fmt.Fprintf(os.Stderr, "ERROR: failed to open file '%s': %s\n", args[0], strings.ToUpper(msg[:1])+msg[1:])
			return &exitError{code: 1}
		}
		o.Name, o.Source, args = args[0], string(src), args[1:]
	}
	o.Params = args
	if f.cmd != "" {
		o.Command = strings.Fields(f.cmd)
	}
	err := scriptrun.Run(o)
	var le *lang.Error
	var ee *scriptrun.ExitError
	switch {
	case errors.As(err, &le):
		fmt.Fprint(os.Stderr, le.Detail())
		return &exitError{code: 1}
	case errors.As(err, &ee):
		return &exitError{code: ee.Code}
	case err != nil:
		// One line, but for a hint on a line of its own.
		msg, hint, _ := strings.Cut(err.Error(), "\nHINT: ")
		fmt.Fprintf(os.Stderr, "ERROR: %s\n", oneLine(errors.New(msg)))
		if hint != "" {
			fmt.Fprintf(os.Stderr, "HINT: %s\n", hint)
		}
		return &exitError{code: 1}
	}
	return nil
}

// bpftraceUsage is the usage bpftrace prints (its test harness looks for
// its first line).
const bpftraceUsage = `USAGE:
    bpftrace [options] filename
    bpftrace [options] - <stdin input>
    bpftrace [options] -e 'program'

(bpftrail run: bpftrace's language compiled to BPF with no LLVM; see bpftrail run --help)
`

// asBpftrace reports whether the binary was started as bpftrace, and then
// runs as `bpftrail run`.
func asBpftrace() bool {
	return filepath.Base(os.Args[0]) == "bpftrace"
}

// bpftraceArgs turns bpftrace's command line into run's: the pid given
// as a string is checked as bpftrace does; msg is bpftrace's message
// when it is not a number.
func bpftraceArgs(args []string) (run []string, msg string) {
	for i, a := range args {
		if (a == "-p" || a == "--pid") && i+1 < len(args) {
			v := args[i+1]
			if _, err := strconv.Atoi(v); err != nil {
				if d := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }); d > 0 {
					return nil, "Failed to parse pid: invalid trailing bytes: " + v
				}
				return nil, "Failed to parse pid: invalid integer: " + v
			}
		}
	}
	return append([]string{"run"}, args...), ""
}
