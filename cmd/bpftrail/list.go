package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

func newList() *cobra.Command {
	var verbose bool
	c := &cobra.Command{
		Use:   "list [PATTERN]",
		Short: "List the tracepoints this machine offers, or a binary's USDT probes",
		Long: `list prints the tracepoints of this kernel as CATEGORY:NAME, filtered by a
glob PATTERN. With -v it also shows each event's fields with the types they
are recorded with.`,
		Example: `  bpftrail list 'sched:*'
  bpftrail list -v syscalls:sys_enter_openat
  bpftrail list usdt:/usr/bin/node
  bpftrail list -v usdt:./myapp:myprovider:*`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 && strings.HasPrefix(args[0], "usdt:") {
				return listUSDT(strings.TrimPrefix(args[0], "usdt:"), verbose)
			}
			pattern := ""
			if len(args) == 1 {
				pattern = strings.TrimPrefix(strings.TrimPrefix(args[0], "tracepoint:"), "t:")
				if sp, err := probe.Parse(args[0]); err == nil && sp.Kind == probe.Syscall {
					pattern = "syscalls:sys_*_" + sp.Name
				}
			}
			fsys, err := tracefs.Open()
			if err != nil {
				return err
			}
			evs, err := fsys.List(pattern)
			if err != nil {
				return err
			}
			if len(evs) == 0 && pattern != "" {
				if !strings.ContainsAny(pattern, "*?[") {
					if cat, name, ok := strings.Cut(pattern, ":"); ok {
						_, err := fsys.Format(cat, name)
						if err != nil {
							return err
						}
					}
				}
				return fmt.Errorf("no tracepoint matches %q", pattern)
			}
			out := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
			defer out.Flush()
			for _, ev := range evs {
				fmt.Fprintf(out, "tracepoint:%s\n", ev)
				if !verbose {
					continue
				}
				fields, err := engine.TracepointFields(fsys, ev.Category, ev.Name)
				if err != nil {
					return err
				}
				for _, fl := range append(engine.Builtins(), fields...) {
					fmt.Fprintf(out, "    %s\t%s\t%s\n", fl.Name, fl.Type, fl.CType)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "show each event's fields")
	return c
}

// listUSDT lists the USDT probes of a binary (or library name), with their
// argument specs.
func listUSDT(spec string, verbose bool) error {
	path, filt, _ := strings.Cut(spec, ":")
	file, probes, err := engine.USDTProbes(path)
	if err != nil {
		return err
	}
	if len(probes) == 0 {
		return fmt.Errorf("%s has no USDT probes (no .note.stapsdt section)", file)
	}
	out := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	defer out.Flush()
	seen := map[string]bool{}
	for _, p := range probes {
		id := p.ID()
		if filt != "" {
			if ok, _ := filepath.Match(filt, id); !ok {
				if ok, _ := filepath.Match(filt, p.Name); !ok {
					continue
				}
			}
		}
		line := fmt.Sprintf("usdt:%s:%s", file, id)
		if seen[line] && !verbose {
			continue
		}
		seen[line] = true
		extra := p.ArgsText
		if p.Semaphore != 0 {
			extra += "\t(semaphore)"
		}
		if p.Err != nil {
			extra += "\t(" + p.Err.Error() + ")"
		}
		if verbose {
			fmt.Fprintf(out, "%s\t%#x\t%s\n", line, p.FileOffset, extra)
			for i, a := range p.Args {
				fmt.Fprintf(out, "    arg%d\t%s\n", i, a.String())
			}
		} else {
			fmt.Fprintf(out, "%s\t%s\n", line, extra)
		}
	}
	return nil
}
