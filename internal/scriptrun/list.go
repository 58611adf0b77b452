package scriptrun

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// List prints the probes matching pattern as bpftrace's -l does, one per
// line: tracepoints (with verbose, their arguments), software and
// hardware events, interval and profile units, and the functions of a
// binary for uprobe:FILE:PATTERN. A pattern naming a script file lists
// the script's probes.
func List(w io.Writer, errw io.Writer, pattern string, verbose bool) error {
	if pattern == "" {
		pattern = "*"
	}
	if strings.HasSuffix(pattern, ".bt") {
		if src, err := os.ReadFile(pattern); err == nil {
			return listScript(w, errw, pattern, string(src), verbose)
		}
		fmt.Fprintf(errw, "WARNING: It appears that '%s' is a filename but the file does not exist. Treating '%s' as a search pattern.\n", pattern, pattern)
	}
	var lines []string
	for _, pat := range strings.Split(pattern, ",") {
		ls, err := listPattern(strings.TrimSpace(pat), verbose)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	sort.Strings(lines)
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// listScript lists the attach points of a script.
func listScript(w, errw io.Writer, name, src string, verbose bool) error {
	prog, err := lang.Parse(name, src)
	if err != nil {
		return err
	}
	for _, p := range prog.Probes {
		for _, ap := range p.Points {
			if err := List(w, errw, ap.Raw, verbose); err != nil {
				return err
			}
		}
	}
	return nil
}

var shortProviders = map[string]string{"t": "tracepoint", "s": "software", "h": "hardware", "i": "interval",
	"p": "profile", "u": "uprobe", "ur": "uretprobe", "U": "usdt"}

func listPattern(pattern string, verbose bool) ([]string, error) {
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
		ls, err := listTracepoints(rest, verbose)
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
	if prov == "usdt" {
		file, pat, _ := strings.Cut(rest, ":")
		_, probes, err := engine.USDTProbes(file)
		if err != nil {
			return nil, err
		}
		for _, p := range probes {
			name := p.Provider + ":" + p.Name
			if ok, _ := path.Match(pat, name); ok || pat == "" || pat == "*" {
				lines = append(lines, "usdt:"+file+":"+name)
			}
		}
	}
	if prov == "uprobe" || prov == "uretprobe" {
		file, pat, _ := strings.Cut(rest, ":")
		syms, err := resolve.FunctionNames(file)
		if err != nil {
			return nil, err
		}
		for _, s := range syms {
			if ok, _ := path.Match(pat, s); ok || pat == "" {
				lines = append(lines, prov+":"+file+":"+s)
			}
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
