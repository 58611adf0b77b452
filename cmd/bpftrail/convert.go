package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/sink/chrome"
	"github.com/bpftrail/bpftrail/internal/sink/jsonl"
	"github.com/bpftrail/bpftrail/internal/sink/stacks"
	"github.com/bpftrail/bpftrail/internal/symbolize"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// convertExt is the default output file extension of each format.
var convertExt = map[string]string{"chrome": ".json", "jsonl": ".jsonl", "folded": ".folded", "pprof": ".pb.gz"}

func newConvert() *cobra.Command {
	var to, output string
	c := &cobra.Command{
		Use:   "convert DIR --to chrome|jsonl|folded|pprof [-o FILE]",
		Short: "Convert a CTF trace to Chrome/Perfetto JSON, JSON lines, folded stacks or pprof",
		Long: `convert writes a CTF trace in another format. The trace stays the source of
truth; the output can be made again at any time.

  chrome  Chrome Trace Event JSON for chrome://tracing and ui.perfetto.dev:
          a "CPU N" process per CPU with the thread that ran when (from
          sched_switch), a state track per thread (Running, Runnable,
          Blocked), syscalls as slices with their arguments and return
          value, every other event as an instant with its fields, and the
          events each CPU discarded as global red marks. Timestamps are
          microseconds from the first event, with ns precision. The
          conversion streams: memory does not grow with the trace.
  jsonl   one JSON object per event, as bpftrail print --json.
  folded  "comm;root;...;leaf count" lines from the stack samples of a
          trace (bpftrail profile -o DIR, record --stack), with the names
          of DIR/bpftrail/symbols.json (flamegraph.pl, speedscope).
  pprof   a gzipped pprof profile of the same samples (go tool pprof):
          samples, and CPU time for profile:hz:N samples.

The output goes to -o FILE (- for stdout); the default is DIR plus the
format's extension (.json, .jsonl, .folded, .pb.gz).`,
		Example: `  bpftrail record -e 'sched:*' -e syscall:openat -a -d 5s -o tr
  bpftrail convert tr --to chrome -o tr.json     # open in ui.perfetto.dev
  bpftrail profile -a -d 10s -o prof && bpftrail convert prof --to pprof -o prof.pb.gz`,
		Args: exactArgs(1, "a trace directory"),
		RunE: func(c *cobra.Command, args []string) error {
			ext, ok := convertExt[to]
			if !ok {
				return fmt.Errorf("--to %q: want chrome, jsonl, folded or pprof", to)
			}
			dir := args[0]
			if output == "" {
				output = strings.TrimRight(filepath.Clean(dir), "/") + ext
			}
			return convertTrace(dir, to, output, os.Stdout, os.Stderr)
		},
	}
	c.Flags().StringVar(&to, "to", "chrome", "output format: chrome, jsonl, folded or pprof")
	c.Flags().StringVarP(&output, "output", "o", "", "output file, - for stdout (default DIR.json, DIR.jsonl, ...)")
	return c
}

func convertTrace(dir, to, output string, stdout, stderr io.Writer) (err error) {
	t, err := openTrace(dir)
	if err != nil {
		return err
	}
	if err := t.Check(); err != nil {
		fmt.Fprintf(stderr, "bpftrail: warning: %s (read up to the last complete packet)\n", oneLine(err))
	}
	var prof *stacks.Profile
	if to == "folded" || to == "pprof" {
		// Read before creating the output, so that a trace without samples
		// leaves no empty file behind.
		if prof, err = stacks.Read(t, readSymbols(dir, stderr)); err != nil {
			return err
		}
	}
	w := stdout
	if output != "-" {
		f, err := os.Create(output)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(output)
			}
		}()
		w = f
	}
	var summary string
	switch to {
	case "chrome":
		st, err := chrome.Convert(w, t)
		if err != nil {
			return quietPipe(err)
		}
		summary = fmt.Sprintf("%d events → %d Chrome trace events", st.Events, st.Written)
	case "jsonl":
		n, err := jsonl.Write(w, t, readSymbols(dir, stderr))
		if err != nil {
			return quietPipe(err)
		}
		summary = fmt.Sprintf("%d events", n)
	case "folded":
		if err := prof.WriteFolded(w); err != nil {
			return quietPipe(err)
		}
		summary = fmt.Sprintf("%d samples, %d distinct stacks", prof.Samples, len(prof.Stacks))
	case "pprof":
		p, err := prof.PPROF()
		if err != nil {
			return err
		}
		if err := p.Write(w); err != nil {
			return quietPipe(err)
		}
		summary = fmt.Sprintf("%d samples, %d distinct stacks", prof.Samples, len(prof.Stacks))
	}
	if output != "-" {
		fmt.Fprintf(stderr, "bpftrail: %s written to %s\n", summary, output)
	}
	if n := t.DiscardedTotal(); n > 0 {
		fmt.Fprintf(stderr, "bpftrail: warning: the trace discarded %d events\n", n)
	}
	if n := t.DiscardedPacketsTotal(); n > 0 {
		fmt.Fprintf(stderr, "bpftrail: warning: the trace discarded %d packets\n", n)
	}
	return nil
}

// readSymbols reads the symbol table recorded with the trace in dir. A
// trace without one gives nil: its stack addresses are unknown frames, as
// are those of a table that cannot be read (a warning says why).
func readSymbols(dir string, stderr io.Writer) *symbolize.Table {
	var syms symbolize.Table
	ok, err := tracedir.ReadJSON(dir, tracedir.Symbols, &syms)
	if err != nil {
		fmt.Fprintf(stderr, "bpftrail: warning: stacks stay addresses: %v\n", err)
	}
	if !ok || err != nil {
		return nil
	}
	return &syms
}
