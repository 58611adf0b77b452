// Package scriptrun runs a program in bpftrace's language on the engine's
// session: it parses and plans the script, loads it, runs begin, performs
// the script's async actions (printf, print, clear, exit, ...) in the
// order the probes sent them, runs end, and prints the maps at exit, in
// bpftrace's text format or its NDJSON.
package scriptrun

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/scriptout"
	"github.com/bpftrail/bpftrail/internal/symbolize"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// Options describe a run.
type Options struct {
	Name    string   // "stdin" for -e, else the script's file name
	Source  string   // the script
	Params  []string // $1, $2, ...
	Command []string // -c: started held, the run ends when it exits
	PID     int      // -p
	JSON    bool     // -f json
	Out     io.Writer
	Err     io.Writer
	Quiet   bool // -q: no "Attached N probes"
	Unsafe  bool // --unsafe: system() and cat() allowed
	// NotifyAttached prints bpftrace's __BPFTRACE_NOTIFY_PROBES_ATTACHED
	// line once the probes are attached (its test harness waits for it).
	NotifyAttached bool
	// DryRun stops after loading (-d/--dry-run).
	DryRun bool
	// NoWarnings silences warnf() and the script's warnings.
	NoWarnings bool
	// Trace, when set, writes the script's events into a CTF trace, with
	// the kernel events of Record beside them.
	Trace  *engine.TraceOutput
	Record *engine.Probes
	// Duration ends the run after this long, as Ctrl-C would (0: no
	// limit).
	Duration time.Duration
	// Target, when set, restricts every probe of the script to these
	// processes (a pid, or the Command and its descendants), as the
	// built-in tools' -p does; bpftrace's -p (PID) only places uprobes.
	Target *engine.Target
}

// ExitError is a run that ends with a status of its own (exit(N)).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Parse parses a script; a mistake in it is a *lang.Error.
func Parse(name, src string) (*lang.Program, error) { return lang.Parse(name, src) }

// Run parses, plans, loads and runs a script.
func Run(o Options) error {
	prog, err := lang.Parse(o.Name, o.Source)
	if err != nil {
		return err
	}
	if err := lang.ExpandMacros(prog); err != nil {
		return err
	}
	if !o.Unsafe {
		if err := checkSafe(prog); err != nil {
			return err
		}
	}
	var params, named []string
	for _, p := range o.Params {
		if p == "--" {
			continue
		}
		if strings.HasPrefix(p, "--") && len(p) > 2 {
			named = append(named, p[2:])
		} else {
			params = append(params, p)
		}
	}
	target, scriptTarget := engine.Target{Kind: engine.All}, false
	switch {
	case o.Target != nil:
		target, scriptTarget = *o.Target, true
	case o.PID != 0:
		target = engine.Target{Kind: engine.Process, PID: o.PID}
	}
	var first int
	if o.Record != nil {
		if first, err = engine.RecordedClasses(*o.Record, target); err != nil {
			return err
		}
	}
	sc, err := engine.PlanScript(prog, engine.ScriptOptions{Params: params, Named: named, PID: o.PID, Unsafe: o.Unsafe, FirstClass: uint32(first),
		MarkIntervals: o.Trace != nil})
	if err != nil {
		return err
	}
	if !o.NoWarnings {
		for _, w := range sc.Warnings {
			fmt.Fprintln(o.Err, w)
		}
	}
	s, err := engine.Open(engine.Config{Target: target, ScriptTarget: scriptTarget, Script: sc, Record: o.Record, BufferSize: ringSize(prog)})
	if err != nil {
		return err
	}
	defer s.Close()
	if o.DryRun {
		return nil
	}
	r := &runner{o: o, s: s, sc: sc, p: &scriptout.Printer{W: o.Out, Err: o.Err, JSON: o.JSON}, stop: make(chan struct{}), first: uint32(first)}
	r.offset = clockOffset()
	r.syms = symbolize.NewCache()
	sc.Decoder = &bpfgen.Decoder{Time: r.strftime, Stack: r.stack, Sym: r.sym, Trailer: truncTrailer(prog)}
	sc.PrintfText = r.printfText
	if o.Trace != nil {
		if err := writeScriptInfo(o.Trace.Dir, o, sc); err != nil {
			return err
		}
		f, err := tracedir.Create(o.Trace.Dir, tracedir.Aggregates)
		if err != nil {
			return err
		}
		defer f.Close()
		r.agglog = aggregate.NewLog(f, nil)
	}
	return r.run()
}

type runner struct {
	o    Options
	s    *engine.Session
	sc   *engine.Script
	p    *scriptout.Printer
	stop chan struct{}

	once     sync.Once
	exitCode int
	exited   bool
	err      error
	offset   time.Duration // wall clock minus the monotonic clock
	syms     *symbolize.Cache
	formats  map[uint32]scriptout.Format // parsed once per call site
	first    uint32                      // class id of the script's first event; kernel events before
	agglog   *aggregate.Log              // --trace: the maps' snapshots beside the trace
	// refreshed is when each process's mappings were last read again.
	refreshed map[int]mapsRead
}

// snapshot logs the maps (the ones of indices, all when none) beside the
// trace, at a print, at the end of an interval probe and at exit.
func (r *runner) snapshot(final bool, indices ...int) error {
	if r.agglog == nil {
		return nil
	}
	if len(indices) == 0 {
		for i := range r.sc.Maps {
			indices = append(indices, i)
		}
	}
	var snaps []*aggregate.Snapshot
	for _, i := range indices {
		m, err := r.s.ScriptMap(i)
		if err != nil {
			return err
		}
		if snap, ok := Snapshot(m); ok {
			snaps = append(snaps, snap)
		}
	}
	return r.agglog.WriteSnapshots(snaps, final)
}

func (r *runner) run() error {
	res, err := r.s.Run(engine.RunOptions{
		Command:  r.o.Command,
		Duration: r.o.Duration,
		Sinks:    []engine.Sink{r},
		Stop:     r.stop,
		BeforeAttach: func() error {
			return r.s.RunSpecial(bpfgen.Begin)
		},
		Started: r.started,
		Stopped: func() error { return r.s.RunSpecial(bpfgen.End) },
		Wake:    true,
		Trace:   r.o.Trace,
	})
	if err != nil {
		return err
	}
	if res.Lost > 0 {
		r.p.Lost(res.Lost)
	}
	if err := r.snapshot(true); err != nil {
		return err
	}
	if res.Trace != nil && !r.o.Quiet {
		fmt.Fprintf(r.o.Err, "bpftrail: wrote %d events to %s (%d lost)\n", res.Trace.Events, r.o.Trace.Dir, res.Lost)
	}
	if rd := res.Relayd; rd != nil && !r.o.Quiet {
		fmt.Fprintf(r.o.Err, "bpftrail: streamed %d packets to lttng-relayd into %s", rd.Packets, rd.Output)
		if rd.Missed > 0 {
			fmt.Fprintf(r.o.Err, " (relayd missed %d events while the connection was lost)", rd.Missed)
		}
		fmt.Fprintln(r.o.Err)
	}
	if r.err != nil {
		return r.err
	}
	if err := r.exitMaps(); err != nil {
		return err
	}
	if r.exitCode != 0 {
		return &ExitError{Code: r.exitCode}
	}
	return nil
}

// started runs once every probe is attached (begin ran before, as in
// bpftrace: what it prints comes first): the notice.
func (r *runner) started() {
	if !r.o.Quiet {
		r.p.AttachedProbes(uint64(r.s.AttachedProbes()))
	}
	if r.o.NotifyAttached {
		fmt.Fprintln(r.o.Out, "__BPFTRACE_NOTIFY_PROBES_ATTACHED")
	}
	if r.s.OnlySpecial() {
		r.end()
	}
}

func (r *runner) end() { r.once.Do(func() { close(r.stop) }) }

func (r *runner) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.end()
}

// exitMaps prints every map at exit, sorted by name as bpftrace does.
func (r *runner) exitMaps() error {
	if !printMapsOnExit(r.sc.Prog) {
		return nil
	}
	if err := r.p.End(); err != nil {
		return err
	}
	for _, name := range r.sc.MapNames() {
		m, _ := r.sc.Map(name)
		if strings.HasPrefix(name, "@_") {
			continue
		}
		i := mapIndex(r.sc, name)
		dump, err := r.s.ScriptMap(i)
		if err != nil {
			return err
		}
		_ = m
		if err := r.p.Map(dump, 0, 0); err != nil {
			return err
		}
	}
	return nil
}

func mapIndex(sc *engine.Script, name string) int {
	for i, m := range sc.Maps {
		if m.Name == name {
			return i
		}
	}
	return -1
}

func printMapsOnExit(prog *lang.Program) bool {
	for _, c := range prog.Config {
		if c.Key != "print_maps_on_exit" {
			continue
		}
		switch v := c.Value.(type) {
		case *lang.BoolLit:
			return v.Value
		case *lang.IntLit:
			return v.Value != 0
		case *lang.Ident:
			return v.Name != "false"
		}
	}
	return true
}

// WriteRecord performs the action of one record of the script.
func (r *runner) WriteRecord(rec record.Record) error {
	if rec.Class.ID < r.first {
		return nil // a kernel event recorded beside the script's: for the trace only
	}
	ev, args, err := r.s.ScriptEventOf(rec)
	if err != nil {
		return err
	}
	if r.exited && ev.Special != bpfgen.End {
		return nil // after exit(), only end speaks
	}
	if err := r.action(ev, args); err != nil {
		r.fail(err)
	}
	return nil
}

// strftime formats strftime()'s value: the format's index and a time in
// ns of the monotonic clock.
func (r *runner) strftime(idx int, ns uint64) string {
	if idx < 0 || idx >= len(r.sc.Formats) {
		return ""
	}
	return scriptout.StrftimeMaxLen(r.sc.Formats[idx], ns, r.offset, time.Local, r.sc.StrSize)
}

// printfText formats a printf's arguments as the script prints them, for
// the text field of its events in a trace.
func (r *runner) printfText(ev *engine.ScriptEvent, args []scriptout.Value) string {
	f, err := r.format(ev)
	if err != nil {
		return ""
	}
	return f.Sprint(args)
}

func (r *runner) action(ev *engine.ScriptEvent, args []scriptout.Value) error {
	switch ev.Kind {
	case bpfgen.EvPrintf:
		f, err := r.format(ev)
		if err != nil {
			return err
		}
		return r.p.Printf(f.Sprint(args))
	case bpfgen.EvPrint:
		return r.p.Value(args[0])
	case bpfgen.EvPrintMap:
		m, err := r.s.ScriptMap(ev.Map)
		if err != nil {
			return err
		}
		if err := r.p.Map(m, int(ev.Top), int(ev.Div)); err != nil {
			return err
		}
		return r.snapshot(false, ev.Map)
	case bpfgen.EvInterval:
		return r.snapshot(false)
	case bpfgen.EvClear:
		return r.s.ClearMap(ev.Map)
	case bpfgen.EvZero:
		return r.s.ZeroMap(ev.Map)
	case bpfgen.EvExit:
		if len(args) > 0 {
			r.exitCode = int(args[0].Int)
		}
		r.exited = true
		// The probes stop now, not when the run has wound down: as in
		// bpftrace, nothing fires long after exit().
		if err := r.s.Stop(); err != nil {
			return err
		}
		r.end()
		return nil
	case bpfgen.EvTime:
		s, err := scriptout.FormatTime(ev.Format, time.Now())
		if err != nil {
			return err
		}
		return r.p.Time(s)
	case bpfgen.EvSystem:
		return r.system(ev, args)
	case bpfgen.EvErrorf, bpfgen.EvWarnf:
		f, err := r.format(ev)
		if err != nil {
			return err
		}
		if ev.Kind == bpfgen.EvErrorf {
			return r.p.Errorf(f.Sprint(args), r.location(ev.P))
		}
		if r.o.NoWarnings {
			return nil
		}
		return r.p.Warnf(f.Sprint(args), r.location(ev.P))
	case bpfgen.EvCat:
		return r.cat(ev, args)
	case bpfgen.EvDivZero:
		return r.p.RuntimeError("Divide or modulo by 0 detected. This can lead to unexpected results. 1 is being used as the result.", r.location(ev.P))
	case bpfgen.EvMapFull:
		return r.p.RuntimeError("Map full; can't update element. Try increasing max_map_keys config or manually setting the max entries in a map declaration e.g. `let @a = hash(5000)`", r.location(ev.P))
	case bpfgen.EvJoin:
		var parts []string
		for _, a := range args {
			if a.Str == "" {
				break
			}
			parts = append(parts, a.Str)
		}
		return r.p.Join(strings.Join(parts, ev.Format))
	}
	return fmt.Errorf("unknown action %d", ev.Kind)
}

func (r *runner) system(ev *engine.ScriptEvent, args []scriptout.Value) error {
	f, err := r.format(ev)
	if err != nil {
		return err
	}
	out, _ := exec.Command("/bin/sh", "-c", f.Sprint(args)).Output()
	return r.p.Syscall(string(out))
}

func (r *runner) cat(ev *engine.ScriptEvent, args []scriptout.Value) error {
	f, err := r.format(ev)
	if err != nil {
		return err
	}
	name := f.Sprint(args)
	b, err := os.ReadFile(name)
	if err != nil {
		return r.p.Cat(fmt.Sprintf("ERROR: %s: %v\n", name, errors.Unwrap(err)))
	}
	return r.p.Cat(string(b))
}

// AddDiscarded is told of records the ring had no room for; the run's
// result counts them.
func (r *runner) AddDiscarded(cpu int, n uint64, ts uint64) error { return nil }

// clockOffset is the wall clock minus the monotonic clock (bpf's
// ktime_get_ns), to turn nsecs into dates.
func clockOffset() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - ts.Nano())
}

// unsafeCalls are the functions that act on the system.
var unsafeCalls = map[string]bool{"system": true, "cat": false}

// checkSafe refuses system() without --unsafe, as bpftrace does.
func checkSafe(prog *lang.Program) error {
	var err error
	lang.InspectProgram(prog, func(n lang.Node) bool {
		c, ok := n.(*lang.Call)
		if ok && err == nil && unsafeCalls[c.Name] {
			line := ""
			if lines := strings.Split(prog.Source, "\n"); c.P.Line > 0 && c.P.Line <= len(lines) {
				line = lines[c.P.Line-1]
			}
			err = &lang.Error{File: prog.Name, P: c.P, Line: line, Msg: c.Name + "() is an unsafe function being used in safe mode"}
		}
		return err == nil
	})
	return err
}

// location is a place in the script as diagnostics show it.
func (r *runner) location(p lang.Pos) scriptout.Location {
	e := &lang.Error{File: r.sc.Prog.Name, P: p}
	return scriptout.Location{Text: strings.TrimSuffix(strings.TrimSuffix(e.Error(), "ERROR: "), ": "), File: r.sc.Prog.Name, Line: uint64(p.Line), Col: uint64(p.Col)}
}

// ringSize is the ring buffer a script's events go through: config
// perf_rb_pages pages per CPU as bpftrace sizes its buffers (64 by
// default), at least 1 MiB. The ring is mapped into the process, so a
// smaller one keeps bpftrail's memory small.
func ringSize(prog *lang.Program) int {
	pages := 64
	for _, c := range prog.Config {
		if c.Key == "perf_rb_pages" {
			if v, ok := c.Value.(*lang.IntLit); ok && v.Value > 0 && v.Value < 1<<16 {
				pages = int(v.Value)
			}
		}
	}
	return max(pages*os.Getpagesize()*engine.CPUs(), 1<<20)
}

// stack shows a stack as bpftrace does: a frame per line, indented, in
// bpftrace's mode (sym+off), perf's (address, then sym+off) or raw.
func (r *runner) stack(user bool, pid int, addrs []uint64, mode string) string {
	var b strings.Builder
	b.WriteString("\n")
	for _, a := range addrs {
		switch mode {
		case "raw":
			fmt.Fprintf(&b, "%x\n", a)
		case "perf":
			fmt.Fprintf(&b, "\t%x %s\n", a, r.sym(user, pid, a, true))
		default:
			fmt.Fprintf(&b, "        %s\n", r.sym(user, pid, a, true))
		}
	}
	return b.String()
}

// sym names an address: the function and, with offset, +0xN past it; the
// address in hex when no symbol covers it.
func (r *runner) sym(user bool, pid int, addr uint64, offset bool) string {
	var f symbolize.Frame
	if user {
		p, err := r.syms.Process(pid)
		if err != nil {
			// The process is gone: the binaries the script probes may
			// still name the address (a non-PIE executable's addresses
			// are its own).
			return r.binarySym(addr, offset)
		}
		f = p.Symbolize(addr)
		if f.Module == symbolize.ModuleUnknown && r.refreshMaps(pid) {
			// The process may have exec'd (a command is started as a
			// copy of bpftrail) or mapped a library since its mappings
			// were read.
			if p, err := r.syms.Refresh(pid); err == nil {
				f = p.Symbolize(addr)
			}
		}
	} else {
		k, err := r.syms.Kernel()
		if err != nil {
			return fmt.Sprintf("0x%x", addr)
		}
		f = k.Symbolize(addr)
	}
	if f.Function == "" {
		return fmt.Sprintf("0x%x", addr)
	}
	if offset {
		return fmt.Sprintf("%s+%d", f.Function, f.Offset)
	}
	return f.Function
}

// refreshMaps reports whether a process's mappings should be read again,
// after an address in none of them: when its executable changed (it
// exec'd: a command starts as a copy of bpftrail), or at most every
// second (it mapped a library).
func (r *runner) refreshMaps(pid int) bool {
	if r.refreshed == nil {
		r.refreshed = map[int]mapsRead{}
	}
	var st syscall.Stat_t
	exe := [2]uint64{}
	if err := syscall.Stat("/proc/"+strconv.Itoa(pid)+"/exe", &st); err == nil {
		exe = [2]uint64{uint64(st.Dev), st.Ino}
	}
	now := time.Now()
	last, seen := r.refreshed[pid]
	if seen && last.exe == exe && now.Sub(last.at) < time.Second {
		return false
	}
	r.refreshed[pid] = mapsRead{at: now, exe: exe}
	return true
}

// mapsRead is when a process's mappings were last read again, and its
// executable then.
type mapsRead struct {
	at  time.Time
	exe [2]uint64
}

// binarySym names an address through the binaries the script's uprobes
// and USDT probes attach to, as the addresses of a non-PIE executable.
func (r *runner) binarySym(addr uint64, offset bool) string {
	for _, sp := range r.sc.Probes {
		if sp.Probe == nil || sp.Probe.Target.Path == "" {
			continue
		}
		e, err := r.syms.OpenELF(sp.Probe.Target.Path)
		if err != nil || e.Type() != elf.ET_EXEC {
			continue
		}
		if name, off, ok := e.Lookup(addr); ok {
			if offset {
				return fmt.Sprintf("%s+%d", name, off)
			}
			return name
		}
	}
	return fmt.Sprintf("0x%x", addr)
}

// truncTrailer is config str_trunc_trailer (or BPFTRACE_STR_TRUNC_TRAILER).
func truncTrailer(prog *lang.Program) *string {
	if v, ok := os.LookupEnv("BPFTRACE_STR_TRUNC_TRAILER"); ok {
		return &v
	}
	for _, c := range prog.Config {
		if strings.ToLower(strings.TrimPrefix(c.Key, "BPFTRACE_")) == "str_trunc_trailer" {
			if v, ok := c.Value.(*lang.StrLit); ok {
				return &v.Value
			}
		}
	}
	return nil
}

// format is the parsed format of an event's call site (printf, system,
// cat, errorf), parsed on its first record.
func (r *runner) format(ev *engine.ScriptEvent) (scriptout.Format, error) {
	if f, ok := r.formats[ev.ID]; ok {
		return f, nil
	}
	f, err := scriptout.ParseFormat(ev.Format)
	if err != nil {
		return f, err
	}
	if r.formats == nil {
		r.formats = map[uint32]scriptout.Format{}
	}
	r.formats[ev.ID] = f
	return f, nil
}

// ScriptInfo is what a trace keeps of the script that wrote it
// (tracedir.Script): its source and, for each of its event classes, the
// call it comes from.
type ScriptInfo struct {
	Name    string            `json:"name"`
	Source  string            `json:"source"`
	Params  []string          `json:"params,omitempty"`
	Classes []ScriptClassInfo `json:"classes"`
}

// ScriptClassInfo is one event class of a script in a trace.
type ScriptClassInfo struct {
	Name   string   `json:"name"`
	Kind   string   `json:"kind"`
	Format string   `json:"format,omitempty"`
	Line   int      `json:"line"`
	Col    int      `json:"col"`
	Fields []string `json:"fields"`
}

// writeScriptInfo keeps the script beside its trace, so that the format
// of each printf's class is known to readers.
func writeScriptInfo(dir string, o Options, sc *engine.Script) error {
	info := ScriptInfo{Name: o.Name, Source: o.Source, Params: o.Params}
	for i, c := range sc.Classes() {
		ev := sc.Events[i]
		info.Classes = append(info.Classes, ScriptClassInfo{Name: c.Schema.Name, Kind: strings.SplitN(c.Schema.Name, ":", 3)[1],
			Format: ev.Format, Line: ev.P.Line, Col: ev.P.Col, Fields: ev.ArgNames()})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return tracedir.WriteJSON(dir, tracedir.Script, info)
}
