package scriptrun

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/plan"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
	"github.com/bpftrail/bpftrail/internal/usdt"
)

// ListOptions say how List lists.
type ListOptions struct {
	Verbose bool // -v: tracepoints with their fields
	PID     int  // -p: also the functions and USDT probes of the files the process maps
}

// List prints the probes matching pattern as bpftrace's -l does, one per
// line: tracepoints (with verbose, their arguments), software and
// hardware events, interval and profile units, the functions of binaries
// for uprobe:FILE:PATTERN and their USDT probes for usdt:FILE:PATTERN
// (FILE may be a glob; with a pid, "*" is the files the process maps). A
// pattern naming a script file lists the script's probes.
func List(w io.Writer, errw io.Writer, pattern string, o ListOptions) error {
	if pattern == "" {
		pattern = "*"
	}
	if strings.HasSuffix(pattern, ".bt") {
		if src, err := os.ReadFile(pattern); err == nil {
			return ListScript(w, pattern, string(src), o)
		}
		fmt.Fprintf(errw, "WARNING: It appears that '%s' is a filename but the file does not exist. Treating '%s' as a search pattern.\n", pattern, pattern)
	}
	var lines []string
	for _, pat := range strings.Split(pattern, ",") {
		ls, err := listPattern(strings.TrimSpace(pat), o)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	sort.Strings(lines)
	return writeLines(w, slices.Compact(lines))
}

func writeLines(w io.Writer, lines []string) error {
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// ListScript lists the probes a script's attach points match, as
// bpftrace -l does for a script file or -e PROGRAM: in the script's order,
// each attach point's matches sorted.
func ListScript(w io.Writer, name, src string, o ListOptions) error {
	prog, err := lang.Parse(name, src)
	if err != nil {
		return err
	}
	for _, p := range prog.Probes {
		for _, ap := range p.Points {
			lines, err := listAttachPoint(ap, o)
			if err != nil {
				return err
			}
			sort.Strings(lines)
			if err := writeLines(w, slices.Compact(lines)); err != nil {
				return err
			}
		}
	}
	return nil
}

// listAttachPoint lists what one attach point of a script matches.
func listAttachPoint(ap *lang.AttachPoint, o ListOptions) ([]string, error) {
	parts := ap.Parts
	prov := parts[0]
	if l, ok := shortProviders[prov]; ok {
		prov = l
	}
	rest := parts[1:]
	switch prov {
	case "begin", "end", "BEGIN", "END", "self":
		return nil, nil
	case "uprobe", "uretprobe", "usdt":
		ut, err := plan.SplitUser(prov, rest)
		if err != nil {
			return nil, err
		}
		search := ut.File + ":" + ut.Func
		if prov == "usdt" {
			target := ut.File
			if o.PID > 0 {
				// Mapped files are spelled /proc/PID/root/ABS.
				if target == "" {
					target = "*"
				} else if abs, err := filepath.Abs(target); err == nil && !strings.Contains(target, "*") {
					target = "*" + abs
				}
			}
			provPat := ut.Provider
			if provPat == "" {
				provPat = "*"
			}
			search = target + ":" + provPat + ":" + ut.Func
		}
		return userMatches(prov, ut.File, search, o.PID)
	case "interval", "profile", "software", "hardware":
		if len(rest) == 0 {
			return nil, nil
		}
		return listPattern(prov+":"+rest[0], o)
	}
	return listPattern(strings.Join(parts, ":"), o)
}

var shortProviders = map[string]string{"t": "tracepoint", "s": "software", "h": "hardware", "i": "interval",
	"p": "profile", "u": "uprobe", "ur": "uretprobe", "U": "usdt"}

func listPattern(pattern string, o ListOptions) ([]string, error) {
	prov, rest, found := strings.Cut(pattern, ":")
	if !found {
		prov, rest = "*", pattern
	}
	if l, ok := shortProviders[prov]; ok {
		prov = l
	}
	match := func(p string) bool { ok, _ := path.Match(prov, p); return ok }
	var lines []string
	if match("tracepoint") {
		ls, err := listTracepoints(rest, o.Verbose)
		if err != nil && prov == "tracepoint" {
			return nil, err
		}
		lines = append(lines, ls...)
	}
	for _, p := range []struct {
		prov   string
		events []engine.PerfEventInfo
	}{{"software", engine.SoftwareEvents}, {"hardware", engine.HardwareEvents}} {
		if !match(p.prov) {
			continue
		}
		for _, e := range p.events {
			for _, n := range []string{e.Name, e.Alias} {
				if ok, _ := path.Match(strings.TrimSuffix(rest, ":*"), n); n != "" && (ok || rest == "*") {
					lines = append(lines, fmt.Sprintf("%s:%s:", p.prov, n))
				}
			}
		}
	}
	for _, p := range []string{"interval", "profile"} {
		if match(p) {
			for _, u := range []string{"hz", "ms", "s", "us"} {
				if ok, _ := path.Match(strings.TrimSuffix(rest, ":*"), u); ok || rest == "*" {
					lines = append(lines, p+":"+u+":")
				}
			}
		}
	}
	// User-space probes are listed when asked for by name, or for a
	// process, or in a file that exists (bpftrace's rule).
	parts := strings.Split(pattern, ":")
	specific := len(parts) > 1 && parts[1] != "" && !resolve.HasWildcard(parts[1]) && fileExists(parts[1])
	if !strings.ContainsAny(prov, "*?[") || o.PID > 0 || specific {
		for _, up := range []string{"uprobe", "uretprobe", "usdt"} {
			if !match(up) || up == "uretprobe" && prov != up {
				continue
			}
			target, search := "*", "*:"+rest
			if len(parts) > 2 {
				target, search = parts[1], rest
			}
			ls, err := userMatches(up, target, search, o.PID)
			if err != nil {
				if prov == up {
					return nil, err
				}
				continue
			}
			lines = append(lines, ls...)
		}
	}
	return lines, nil
}

func listTracepoints(rest string, verbose bool) ([]string, error) {
	fsys, err := tracefs.Open()
	if err != nil {
		return nil, err
	}
	glob := rest
	if !strings.Contains(glob, ":") {
		glob = "*:" + glob
	}
	evs, err := fsys.List(glob)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, ev := range evs {
		line := "tracepoint:" + ev.Category + ":" + ev.Name
		if verbose {
			if fields, err := engine.TracepointFields(fsys, ev.Category, ev.Name); err == nil {
				for _, f := range fields {
					line += fmt.Sprintf("\n    %s %s", f.CType, f.Name)
				}
			}
		}
		lines = append(lines, line)
	}
	return lines, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// userMatches lists the uprobes (functions) or USDT probes whose
// "FILE:FUNCTION" or "FILE:PROVIDER:NAME" matches search (a pattern where
// '*' is the wildcard), as "KIND:FILE:...": the files are those target
// names (a glob, a path or a bare name) and, with a pid, those the
// process maps (the only ones when target is "*").
func userMatches(kind, target, search string, pid int) ([]string, error) {
	var paths []string
	if pid > 0 {
		mapped, err := resolve.MappedPaths(pid)
		if err != nil {
			return nil, err
		}
		paths = mapped
	}
	if pid <= 0 || target != "*" && target != "" {
		ps, err := resolve.BinaryPaths(target, pid)
		if err != nil && pid <= 0 {
			return nil, err
		}
		paths = append(paths, ps...)
	}
	var out []string
	seen := map[string]bool{}
	for _, path := range paths {
		if seen[path] {
			continue
		}
		seen[path] = true
		if kind == "usdt" {
			probes, err := usdt.Probes(path)
			if err != nil {
				continue
			}
			for _, p := range probes {
				if m := path + ":" + p.Provider + ":" + p.Name; plan.WildcardMatch(search, m) {
					out = append(out, kind+":"+m)
				}
			}
			continue
		}
		syms, err := resolve.FunctionNames(path)
		if err != nil {
			continue
		}
		for _, s := range syms {
			if m := path + ":" + s; plan.WildcardMatch(search, m) {
				out = append(out, kind+":"+m)
			}
		}
	}
	return out, nil
}
