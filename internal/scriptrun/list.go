package scriptrun

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// List prints the probes matching pattern as bpftrace's -l does, one per
// line (tracepoints, software and hardware events); with verbose, each
// tracepoint's arguments follow it.
func List(w io.Writer, pattern string, verbose bool) error {
	if pattern == "" {
		pattern = "*"
	}
	prov, rest, _ := strings.Cut(pattern, ":")
	if !strings.Contains(pattern, ":") {
		prov, rest = "*", pattern
	}
	long := map[string]string{"t": "tracepoint", "s": "software", "h": "hardware"}
	if l, ok := long[prov]; ok {
		prov = l
	}
	var lines []string
	if ok, _ := path.Match(prov, "tracepoint"); ok {
		fsys, err := tracefs.Open()
		if err != nil {
			return err
		}
		glob := rest
		if !strings.Contains(glob, ":") {
			glob = "*:" + glob
		}
		evs, err := fsys.List(glob)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			line := "tracepoint:" + ev.Category + ":" + ev.Name
			if verbose {
				fields, err := engine.TracepointFields(fsys, ev.Category, ev.Name)
				if err == nil {
					for _, f := range fields {
						line += fmt.Sprintf("\n    %s %s", f.CType, f.Name)
					}
				}
			}
			lines = append(lines, line)
		}
	}
	for _, p := range []struct {
		prov  string
		names []string
	}{
		{"software", []string{"alignment-faults", "bpf-output", "context-switches", "cpu-clock", "cpu-migrations", "dummy", "emulation-faults", "major-faults", "minor-faults", "page-faults", "task-clock"}},
		{"hardware", []string{"backend-stalls", "branch-instructions", "branch-misses", "bus-cycles", "cache-misses", "cache-references", "cpu-cycles", "frontend-stalls", "instructions", "ref-cycles"}},
	} {
		if ok, _ := path.Match(prov, p.prov); !ok {
			continue
		}
		for _, n := range p.names {
			if ok, _ := path.Match(strings.TrimSuffix(rest, ":*"), n); ok || rest == "*" {
				lines = append(lines, p.prov+":"+n+":")
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}
