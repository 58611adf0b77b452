package plan

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// ScriptOptions say how a script is planned.
type ScriptOptions struct {
	Params []string // positional parameters: $1, $2, ...
	Named  []string // named parameters: NAME=VALUE or NAME (getopt)
	PID    int      // the process whose mappings locate bare library names
	// Unsafe (--unsafe) lets uprobes go where bpftrace's checks would
	// refuse them: symbols of size 0, addresses in no symbol.
	Unsafe bool
	// FirstClass is the class id of the script's first event (after the
	// classes of the events recorded beside it).
	FirstClass uint32
	// MarkIntervals: see bpfgen.ScriptOptions.
	MarkIntervals bool
	FS            func() (tracefs.FS, error)
}

// Scripted is a script planned for this kernel: its attach points
// resolved, the whole typed and laid out.
type Scripted struct {
	*bpfgen.Script
	// Warnings are said before the run (probes skipped with
	// config missing_probes = warn).
	Warnings []string
}

// providers maps bpftrace's probe providers and their short forms to one
// spelling.
var providers = map[string]string{
	"begin": "begin", "end": "end",
	"tracepoint": "tracepoint", "t": "tracepoint",
	"uprobe": "uprobe", "u": "uprobe", "uretprobe": "uretprobe", "ur": "uretprobe",
	"usdt": "usdt", "us": "usdt",
	"kprobe": "kprobe", "k": "kprobe", "kretprobe": "kretprobe", "kr": "kretprobe",
	"profile": "profile", "p": "profile", "interval": "interval", "i": "interval",
	"software": "software", "s": "software", "hardware": "hardware", "h": "hardware",
	"fentry": "fentry", "f": "fentry", "fexit": "fexit", "fr": "fexit",
	"rawtracepoint": "rawtracepoint", "rt": "rawtracepoint",
	"iter": "iter", "it": "iter", "watchpoint": "watchpoint", "w": "watchpoint",
	"self": "self", "test": "test", "bench": "bench",
}

// Script resolves every attach point of prog and compiles it.
func Script(prog *lang.Program, o ScriptOptions) (*Scripted, error) {
	if err := checkConfig(prog); err != nil {
		return nil, err
	}
	missing := "error"
	for _, c := range prog.Config {
		if configName(c.Key) == "missing_probes" {
			switch v := c.Value.(type) {
			case *lang.StrLit:
				missing = v.Value
			case *lang.Ident:
				missing = v.Name
			}
		}
	}
	out := &Scripted{}
	var probes []bpfgen.ScriptProbe
	for bi, p := range prog.Probes {
		for _, ap := range p.Points {
			sps, err := attachPoint(prog, bi, ap, o)
			var nm *noMatchError
			if errors.As(err, &nm) {
				switch missing {
				case "warn":
					out.Warnings = append(out.Warnings, warning(prog, nm.ap.P, nm.msg+". Skipping."))
				case "ignore":
				default:
					return nil, apError(prog, nm.ap, "%s.", nm.msg)
				}
				continue
			}
			if err != nil {
				var le *lang.Error
				if missing != "error" && !errors.As(err, &le) && !errors.Is(err, resolve.ErrNoKprobes) {
					if missing == "warn" {
						out.Warnings = append(out.Warnings, fmt.Sprintf("WARNING: %s", err))
					}
					continue
				}
				return nil, err
			}
			probes = append(probes, sps...)
		}
	}
	if len(probes) == 0 {
		return nil, errors.New("no probes to attach")
	}
	var err error
	out.Script, err = bpfgen.CompileScript(prog, probes, bpfgen.ScriptOptions{Params: o.Params, Named: o.Named,
		StrSize: strSize(prog), FirstClass: o.FirstClass, MaxEntries: int(configInt(prog, "max_map_keys")), MarkIntervals: o.MarkIntervals})
	if err != nil {
		return nil, err
	}
	out.Warnings = append(out.Warnings, out.Script.Warnings...)
	if err := checkNamed(out.Script, o.Named); err != nil {
		return nil, err
	}
	for _, d := range prog.MapDecl {
		if _, used := out.Map(d.Name); !used {
			out.Warnings = append(out.Warnings, warning(prog, d.P, "Unused map: "+d.Name))
		}
	}
	return out, nil
}

// warning formats a warning at p as bpftrace does.
func warning(prog *lang.Program, p lang.Pos, msg string) string {
	e := &lang.Error{File: prog.Name, P: p, Msg: msg}
	return strings.Replace(e.Error(), "ERROR: ", "WARNING: ", 1)
}

// configKeys are the configuration options (config = { ... }), by their
// name and their older or environment spellings.
var configKeys = map[string]string{
	"cache_user_symbols": "", "cpp_demangle": "", "lazy_symbolication": "", "license": "", "log_size": "",
	"max_bpf_progs": "", "max_cat_bytes": "", "max_map_keys": "", "max_probes": "", "max_strlen": "",
	"on_stack_limit": "", "perf_rb_pages": "", "stack_mode": "", "str_trunc_trailer": "", "missing_probes": "",
	"print_maps_on_exit": "", "use_blazesym": "", "show_debug_info": "",
	"strlen": "max_strlen", "no_cpp_demangle": "cpp_demangle", "cat_bytes_max": "max_cat_bytes", "map_keys_max": "max_map_keys",
}

// configName is the option a config key names ("" when none).
func configName(key string) string {
	k := strings.ToLower(strings.TrimPrefix(key, "BPFTRACE_"))
	alias, ok := configKeys[k]
	switch {
	case !ok:
		return ""
	case alias != "":
		return alias
	}
	return k
}

// licenses are the licenses a program may declare (config license).
var licenses = []string{"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}

// checkConfig refuses unknown configuration options.
func checkConfig(prog *lang.Program) error {
	for _, c := range prog.Config {
		if v, ok := c.Value.(*lang.StrLit); ok && configName(c.Key) == "license" && !slices.Contains(licenses, v.Value) {
			return &lang.Error{File: prog.Name, P: c.P, Msg: fmt.Sprintf("Invalid value for license: %s (the helpers need a GPL-compatible license: %s)", v.Value, strings.Join(licenses, ", "))}
		}
		if configName(c.Key) == "" {
			line := ""
			if lines := strings.Split(prog.Source, "\n"); c.P.Line > 0 && c.P.Line <= len(lines) {
				line = lines[c.P.Line-1]
			}
			return &lang.Error{File: prog.Name, P: c.P, Line: line, Msg: c.Key + ": not a known configuration option"}
		}
	}
	return nil
}

// configInt is the integer value of a config option (0 when unset); the
// environment (BPFTRACE_MAX_STRLEN=...) overrides the script.
func configInt(prog *lang.Program, name string) int64 {
	if v, ok := os.LookupEnv("BPFTRACE_" + strings.ToUpper(name)); ok {
		if n, err := strconv.ParseInt(v, 0, 64); err == nil {
			return n
		}
	}
	for _, c := range prog.Config {
		if configName(c.Key) == name {
			if v, ok := c.Value.(*lang.IntLit); ok {
				return int64(v.Value)
			}
		}
	}
	return 0
}

// strSize is config max_strlen, or bpftrace's default. Strings read from
// memory get two bytes more, to tell a string of max_strlen characters
// from a longer one cut (shown with str_trunc_trailer).
func strSize(prog *lang.Program) int {
	if n := configInt(prog, "max_strlen"); n > 0 && n <= 10000 {
		return int(n)
	}
	return 64
}

// apError is an error about one attach point.
func apError(prog *lang.Program, ap *lang.AttachPoint, format string, args ...any) error {
	line := ""
	if lines := strings.Split(prog.Source, "\n"); ap.P.Line > 0 && ap.P.Line <= len(lines) {
		line = lines[ap.P.Line-1]
	}
	return &lang.Error{File: prog.Name, P: ap.P, Msg: fmt.Sprintf(format, args...), Line: line}
}

// attachPoint resolves one attach point to the probes it names.
func attachPoint(prog *lang.Program, block int, ap *lang.AttachPoint, o ScriptOptions) ([]bpfgen.ScriptProbe, error) {
	parts := ap.Parts
	if joined := strings.Join(parts, ":"); strings.Contains(joined, "$") {
		// Positional parameters in a probe: i:ms:$1, $1, BEG$1.
		for i := len(o.Params); i >= 1; i-- {
			joined = strings.ReplaceAll(joined, "$"+strconv.Itoa(i), o.Params[i-1])
		}
		parts = strings.Split(joined, ":")
	}
	prov, ok := providers[strings.ToLower(parts[0])]
	if !ok {
		return nil, apError(prog, ap, "Invalid probe type: %s", parts[0])
	}
	rest := parts[1:]
	switch prov {
	case "begin", "end":
		if len(rest) != 0 {
			return nil, apError(prog, ap, "%s probes take no arguments", prov)
		}
		sp := bpfgen.ScriptProbe{Block: block, Name: prov, Special: bpfgen.Begin}
		if prov == "end" {
			sp.Special = bpfgen.End
		}
		return []bpfgen.ScriptProbe{sp}, nil
	case "interval", "software", "hardware":
		t, err := perfTarget(prov, rest)
		if err != nil {
			return nil, apError(prog, ap, "%v", err)
		}
		name := prov + ":" + strings.Join(rest, ":")
		return []bpfgen.ScriptProbe{{Block: block, Name: name, Probe: &resolve.Probe{Event: perfSchema(name), Target: t}, Interval: prov == "interval"}}, nil
	case "tracepoint", "uprobe", "uretprobe", "usdt", "kprobe", "kretprobe", "profile":
		if prov == "usdt" || prov == "uprobe" || prov == "uretprobe" {
			return userProbes(prog, block, ap, prov, rest, o)
		}
		spec := prov + ":" + strings.Join(rest, ":")
		if prov == "tracepoint" && len(rest) == 2 {
			spec = rest[0] + ":" + rest[1]
			if err := tracepointExists(o, rest[0], rest[1]); err != nil {
				return nil, noMatch(ap, prov, spec)
			}
		}
		if _, err := probe.Parse(spec); err != nil {
			return nil, apError(prog, ap, "%v", err)
		}
		rps, err := resolve.Specs(o.FS, []string{spec}, resolve.Options{PID: o.PID, StringSize: strSize(prog) + 2})
		if err != nil {
			return nil, err
		}
		out := make([]bpfgen.ScriptProbe, len(rps))
		for i, rp := range rps {
			out[i] = bpfgen.ScriptProbe{Block: block, Name: probeName(prov, rp), Func: rp.Target.Symbol, Probe: rp}
			if prov == "tracepoint" {
				out[i].Func = rp.Target.Event
			}
		}
		return out, nil
	}
	return nil, apError(prog, ap, "%s probes are not supported by bpftrail", prov)
}

func probeName(prov string, rp *resolve.Probe) string {
	t := rp.Target
	switch prov {
	case "tracepoint":
		return "tracepoint:" + t.Category + ":" + t.Event
	case "uprobe", "uretprobe":
		return prov + ":" + t.Path + ":" + t.Symbol
	}
	return rp.Event.Name
}

// perfSchema is the (empty) event of a perf event probe.
func perfSchema(name string) *event.Schema { return &event.Schema{Name: name} }

// PerfEventInfo is a software or hardware event a probe can name.
type PerfEventInfo struct {
	Name, Alias string
	Config      uint64
	Default     uint64 // events between samples when the probe gives none
}

// SoftwareEvents and HardwareEvents are the perf events of software: and
// hardware: probes, with bpftrace's aliases and default periods.
var (
	SoftwareEvents = []PerfEventInfo{
		{"alignment-faults", "", unix.PERF_COUNT_SW_ALIGNMENT_FAULTS, 1},
		{"bpf-output", "", unix.PERF_COUNT_SW_BPF_OUTPUT, 1},
		{"context-switches", "cs", unix.PERF_COUNT_SW_CONTEXT_SWITCHES, 1000},
		{"cpu-clock", "cpu", unix.PERF_COUNT_SW_CPU_CLOCK, 1000000},
		{"cpu-migrations", "", unix.PERF_COUNT_SW_CPU_MIGRATIONS, 1},
		{"dummy", "", unix.PERF_COUNT_SW_DUMMY, 1},
		{"emulation-faults", "", unix.PERF_COUNT_SW_EMULATION_FAULTS, 1},
		{"major-faults", "", unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ, 1},
		{"minor-faults", "", unix.PERF_COUNT_SW_PAGE_FAULTS_MIN, 100},
		{"page-faults", "faults", unix.PERF_COUNT_SW_PAGE_FAULTS, 100},
		{"task-clock", "", unix.PERF_COUNT_SW_TASK_CLOCK, 1},
	}
	HardwareEvents = []PerfEventInfo{
		{"backend-stalls", "", unix.PERF_COUNT_HW_STALLED_CYCLES_BACKEND, 1000000},
		{"branch-instructions", "branches", unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, 100000},
		{"branch-misses", "", unix.PERF_COUNT_HW_BRANCH_MISSES, 100000},
		{"bus-cycles", "", unix.PERF_COUNT_HW_BUS_CYCLES, 100000},
		{"cache-misses", "", unix.PERF_COUNT_HW_CACHE_MISSES, 1000000},
		{"cache-references", "", unix.PERF_COUNT_HW_CACHE_REFERENCES, 1000000},
		{"cpu-cycles", "cycles", unix.PERF_COUNT_HW_CPU_CYCLES, 1000000},
		{"frontend-stalls", "", unix.PERF_COUNT_HW_STALLED_CYCLES_FRONTEND, 1000000},
		{"instructions", "", unix.PERF_COUNT_HW_INSTRUCTIONS, 1000000},
		{"ref-cycles", "", unix.PERF_COUNT_HW_REF_CPU_CYCLES, 1000000},
	}
)

func perfEvent(list []PerfEventInfo, name string) (PerfEventInfo, bool) {
	for _, e := range list {
		if e.Name == name || e.Alias != "" && e.Alias == name {
			return e, true
		}
	}
	return PerfEventInfo{}, false
}

// perfTarget is the perf event of an interval, software or hardware probe.
func perfTarget(prov string, rest []string) (resolve.Target, error) {
	t := resolve.Target{Kind: resolve.TargetPerfEvent}
	if prov == "interval" && len(rest) == 1 {
		// interval:1s, interval:100ms
		num := strings.TrimRightFunc(rest[0], func(r rune) bool { return r < '0' || r > '9' })
		if num != "" && num != rest[0] {
			rest = []string{rest[0][len(num):], num}
		}
	}
	if len(rest) < 1 || len(rest) > 2 {
		return t, fmt.Errorf("%s probes take the form %s:UNIT_OR_EVENT:N", prov, prov)
	}
	n := uint64(0)
	if len(rest) == 2 {
		v, err := parseCount(rest[1])
		if err != nil || v == 0 {
			return t, fmt.Errorf("%s: invalid count %q", prov, rest[1])
		}
		n = v
	}
	switch prov {
	case "interval":
		t.OneCPU = true
		unit := map[string]uint64{"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1}
		if rest[0] == "hz" {
			if n == 0 {
				return t, errors.New("interval:hz needs a rate")
			}
			t.Frequency = n
			return t, nil
		}
		u, ok := unit[rest[0]]
		if !ok || n == 0 {
			return t, fmt.Errorf("interval: unknown unit %q (s, ms, us, ns, hz)", rest[0])
		}
		t.Period = n * u
	case "software", "hardware":
		list, typ := SoftwareEvents, uint32(unix.PERF_TYPE_SOFTWARE)
		if prov == "hardware" {
			list, typ = HardwareEvents, unix.PERF_TYPE_HARDWARE
		}
		ev, ok := perfEvent(list, rest[0])
		if !ok {
			return t, fmt.Errorf("%s: unknown event %q (see bpftrail run -l '%s:*')", prov, rest[0], prov)
		}
		t.Perf = &resolve.PerfEvent{Type: typ, Config: ev.Config}
		t.Period = n
		if n == 0 {
			t.Period = ev.Default
		}
	}
	return t, nil
}

// checkNamed refuses named parameters no getopt() asks for.
func checkNamed(s *bpfgen.Script, named []string) error {
	var extra []string
	for _, n := range named {
		k, _, _ := strings.Cut(n, "=")
		if !s.Getopts[k] {
			extra = append(extra, "--"+k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	var want []string
	for k := range s.Getopts {
		want = append(want, "--"+k)
	}
	sort.Strings(want)
	msg := "unexpected program command line options: " + strings.Join(extra, ", ")
	if len(want) > 0 {
		msg += "\nHINT: expected program options: " + strings.Join(want, ", ")
	}
	return errors.New(msg)
}

// tracepointExists reports (as an error) that no tracepoint matches
// category:name; a tracefs it cannot read is left for the resolution to
// report.
func tracepointExists(o ScriptOptions, category, name string) error {
	if o.FS == nil {
		return nil
	}
	fsys, err := o.FS()
	if err != nil {
		return nil
	}
	evs, err := fsys.List(category + ":" + name)
	if err != nil || len(evs) > 0 {
		return nil
	}
	return errors.New("no such tracepoint")
}

// parseCount reads the count of a probe as bpftrace's integer literals
// are written: 100, 0x10, 1_000_000, or with a power of ten, 1e6.
func parseCount(s string) (uint64, error) {
	s = strings.ReplaceAll(s, "_", "")
	if m, e, ok := strings.Cut(s, "e"); ok && !strings.HasPrefix(s, "0x") {
		mant, err := strconv.ParseUint(m, 10, 64)
		if err != nil {
			return 0, err
		}
		exp, err := strconv.ParseUint(e, 10, 8)
		if err != nil {
			return 0, err
		}
		for ; exp > 0; exp-- {
			if mant > (1<<64-1)/10 {
				return 0, strconv.ErrRange
			}
			mant *= 10
		}
		return mant, nil
	}
	return strconv.ParseUint(s, 0, 64)
}
