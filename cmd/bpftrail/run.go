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

	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/preset"
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
	usdtFileActivation                bool
	trace, preset                     string
	record                            []string
	relaydOptions
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
  bpftrail run --trace out --record sched:sched_switch -e 'tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }'
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
	// USDT semaphores are reference counters the kernel sets in every
	// process that maps the file (uprobe ref_ctr_offset), with or without
	// -p: the flag asks for what is done anyway.
	fl.BoolVar(&f.usdtFileActivation, "usdt-file-activation", false, "activate USDT semaphores in every process that maps the file (always done)")
	fl.BoolVarP(&f.version, "version", "V", false, "print the version of bpftrace's language this follows")
	fl.StringVar(&f.trace, "trace", "", "also write the script's events into a CTF trace in `DIR`: each printf call site an event class with typed fields and the formatted text")
	fl.StringArrayVar(&f.record, "record", nil, "with --trace, also record the kernel events of `SPEC` as record -e does (repeatable)")
	addRelaydFlags(c, &f.relaydOptions)
	fl.StringVar(&f.preset, "preset", "", "with --trace, also record a preset's kernel events in LTTng's layout, as record --preset does: "+strings.Join(preset.Names(), ", "))
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
		lo := scriptrun.ListOptions{Verbose: f.verbose, PID: f.pid}
		if f.expr != "" {
			// -l -e PROGRAM lists the program's probes.
			return listErr(scriptrun.ListScript(out, "stdin", f.expr, lo))
		}
		pattern := ""
		if len(args) > 0 {
			pattern = args[0]
		}
		return listErr(scriptrun.List(out, os.Stderr, pattern, lo))
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
			// bpftrace's words, with strerror's capital.
			why := err.Error()
			if u := errors.Unwrap(err); u != nil {
				why = u.Error()
			}
			if why != "" {
				why = strings.ToUpper(why[:1]) + why[1:]
			}
			fmt.Fprintf(os.Stderr, "ERROR: failed to open file '%s': %s\n", args[0], why)
			return &exitError{code: 1}
		}
		o.Name, o.Source, args = args[0], string(src), args[1:]
	}
	o.Params = args
	if f.cmd != "" {
		o.Command = strings.Fields(f.cmd)
	}
	if err := traceFlags(c, f, &o); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %s\n", oneLine(err))
		return &exitError{code: 1}
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
		// One line, but for a hint on a line of its own (and bpftrace's
		// advice to use --unsafe).
		msg, hint, _ := strings.Cut(err.Error(), "\nHINT: ")
		msg, unsafe, _ := strings.Cut(msg, "\nUse --unsafe")
		fmt.Fprintf(os.Stderr, "ERROR: %s\n", oneLine(errors.New(msg)))
		if unsafe != "" {
			fmt.Fprintf(os.Stderr, "Use --unsafe%s\n", unsafe)
		}
		if hint != "" {
			fmt.Fprintf(os.Stderr, "HINT: %s\n", hint)
		}
		return &exitError{code: 1}
	}
	return nil
}

// listErr prints a listing's error as bpftrace does.
func listErr(err error) error {
	var le *lang.Error
	switch {
	case errors.As(err, &le):
		fmt.Fprint(os.Stderr, le.Detail())
		return &exitError{code: 1}
	case err != nil:
		fmt.Fprintf(os.Stderr, "ERROR: %s\n", oneLine(err))
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

// bpftraceValued are bpftrace's options that take a value (-p PID, ...).
var bpftraceValued = map[string]bool{
	"-e": true, "--expr": true, "-c": true, "--cmd": true, "-p": true, "--pid": true,
	"-f": true, "--format": true, "-o": true, "--output": true, "-B": true, "--buffering": true,
	"-I": true, "--include": true,
}

// bpftraceFlag reports whether a is one of run's options (so that getopt
// would take it wherever it stands), and whether its value is the next
// argument.
func bpftraceFlag(run *cobra.Command, a string) (flag, valueNext bool) {
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return false, false
	}
	if strings.HasPrefix(a, "--") {
		name, _, hasValue := strings.Cut(a[2:], "=")
		if run.Flags().Lookup(name) == nil {
			return false, false
		}
		return true, !hasValue && bpftraceValued["--"+name]
	}
	// A cluster of short options (-lv), the last of which may take a value
	// (-p123 or -p 123).
	for i := 1; i < len(a); i++ {
		f := run.Flags().ShorthandLookup(a[i : i+1])
		if f == nil {
			return false, false
		}
		if bpftraceValued["-"+a[i:i+1]] {
			return true, i == len(a)-1
		}
	}
	return true, false
}

// bpftraceArgs turns bpftrace's command line into run's. Like getopt,
// which bpftrace uses, options are taken wherever they stand before "--"
// (script.bt -p 123 ARG is -p 123 script.bt ARG). The pid is checked as
// bpftrace checks it; msg is bpftrace's message when it is wrong.
func bpftraceArgs(run *cobra.Command, args []string) (out []string, msg string) {
	var opts, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		flag, next := bpftraceFlag(run, a)
		if !flag {
			rest = append(rest, a)
			continue
		}
		opts = append(opts, a)
		var value string
		switch {
		case next && i+1 < len(args):
			i++
			value = args[i]
			opts = append(opts, value)
		case strings.HasPrefix(a, "--pid="):
			value = a[len("--pid="):]
		case strings.HasPrefix(a, "-p") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			value = a[2:]
		}
		if a == "-p" || a == "--pid" || strings.HasPrefix(a, "--pid=") || strings.HasPrefix(a, "-p") && !strings.HasPrefix(a, "--") {
			if m := checkPid(value); m != "" {
				return nil, m
			}
		}
	}
	return append(append([]string{"run"}, opts...), rest...), ""
}

// checkPid is bpftrace's message for a pid it refuses, or "".
func checkPid(s string) string {
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	switch {
	case digits == 0:
		return "Failed to parse pid: invalid integer: " + s
	case digits < len(s):
		return "Failed to parse pid: invalid trailing bytes: " + s
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > 0x400000 {
		return "Pid out of range: " + s
	}
	return ""
}

// traceFlags sets the trace of a run from --trace, --record and --preset.
func traceFlags(c *cobra.Command, f *runFlags, o *scriptrun.Options) error {
	if f.trace == "" {
		if len(f.record) > 0 || f.preset != "" || f.relayd != "" {
			return errors.New("--record, --preset and --relayd are about the trace of --trace DIR: give it")
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(f.trace, "metadata")); err == nil {
		return fmt.Errorf("%s already holds a trace; choose another --trace", f.trace)
	}
	specs := append([]string(nil), f.record...)
	if f.preset != "" {
		p, err := preset.Lookup(f.preset)
		if err != nil {
			return err
		}
		specs = append(append([]string(nil), p.Specs...), specs...)
	}
	if len(specs) > 0 {
		o.Record = &engine.Probes{Specs: specs}
	}
	o.Trace = &engine.TraceOutput{Dir: f.trace, LTTng: f.preset != "", Options: traceOptions("bpftrail_script", o.Name)}
	return relaydFlags(c, f.relaydOptions, o.Trace)
}
