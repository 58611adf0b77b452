package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/web"
)

func newReport() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "report DIR -o report.html",
		Short: "Write a trace's views (timeline, events, histograms, flame graph) as one HTML file",
		Long: `report writes the views of "bpftrail view" into one self-contained HTML file:
its script, style and the trace's view data are inlined, so it opens from
disk in any browser with no network and can be mailed or attached to a bug.
The view data and the analyses are kept in DIR/bpftrail/, as for view.`,
		Example: `  bpftrail report trace -o trace.html`,
		Args:    exactArgs(1, "a trace directory"),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("report needs -o FILE (see bpftrail report --help)")
			}
			return writeReportFile(args[0], out)
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "HTML file to write")
	return c
}

func writeReportFile(dir, out string) error {
	if _, err := openTrace(dir); err != nil {
		return err
	}
	if abs, err := filepath.Abs(out); err == nil {
		if d, err := filepath.Abs(dir); err == nil && filepath.Dir(abs) == d {
			return fmt.Errorf("%s: will not write a file into the trace directory (CTF readers would take it for a stream)", out)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := web.WriteReport(tmp, dir, web.Options{}); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fi, _ := os.Stat(out)
	if fi != nil {
		fmt.Fprintf(os.Stderr, "bpftrail: wrote %s (%.1f MiB)\n", out, float64(fi.Size())/(1<<20))
	}
	return nil
}
