package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/sink/jsonl"
	"github.com/bpftrail/bpftrail/internal/sink/text"
)

func newPrint() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "print DIR",
		Short: "Print every event of a CTF trace",
		Long: `print shows every event of a CTF trace, merged in time order, one line per
event: time, CPU, event name, context fields and payload fields, in the
spirit of babeltrace2's text output. It reads traces from bpftrail and from
other CTF 1.8 writers such as LTTng. Discarded events, discarded packets
(gaps in packet_seq_num) and a torn last packet are reported on stderr.

With --json each line is an object:
  {"timestamp_ns": <ns since the Unix epoch>, "name": "...", "cpu": <int or null>,
   "fields": {...}, "context": {...}}
where "context" holds the stream and event context fields when there are any.`,
		Example: `  bpftrail print bpftrail-20261125-101500
  bpftrail print --json trace | jq -r 'select(.name=="syscalls:sys_enter_openat") | .fields.filename'`,
		Args: exactArgs(1, "a trace directory"),
		RunE: func(c *cobra.Command, args []string) error {
			return printTrace(args[0], asJSON, os.Stdout, os.Stderr)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per event")
	return c
}

// exactArgs is cobra.ExactArgs with a message naming what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s expects %s (see bpftrail %s --help)", c.Name(), what, c.Name())
		}
		return nil
	}
}

// openTrace opens dir as a trace, with errors that say what is wrong.
func openTrace(dir string) (*ctf.Trace, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such trace directory", dir)
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: a CTF trace is a directory with a metadata file", dir)
	}
	// ctf.Open also reads a directory of traces (rotated chunks,
	// snapshots) as one trace, merged in time order.
	t, err := ctf.Open(dir)
	if errors.Is(err, ctf.ErrNoTrace) {
		return nil, fmt.Errorf("%s is not a CTF trace (no metadata file, here or in a sub-directory)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return t, nil
}

func printTrace(dir string, asJSON bool, stdout, stderr io.Writer) error {
	t, err := openTrace(dir)
	if err != nil {
		return err
	}
	if err := t.Check(); err != nil {
		fmt.Fprintf(stderr, "bpftrail: warning: %s (read up to the last complete packet; bpftrail recover %s repairs it)\n", oneLine(err), dir)
	}
	write := text.Write
	if asJSON {
		write = jsonl.Write
	}
	if _, err := write(stdout, t, readSymbols(dir, stderr)); err != nil {
		return quietPipe(err)
	}
	for _, s := range t.Streams {
		for _, d := range s.Discarded {
			name := t.StreamName(s)
			if d.Unknown {
				fmt.Fprintf(stderr, "bpftrail: warning: stream %s (cpu %d) may have discarded events before %s\n", name, s.CPU, clockText(d.EndNs))
				continue
			}
			fmt.Fprintf(stderr, "bpftrail: warning: stream %s (cpu %d) discarded %d events between %s and %s\n",
				name, s.CPU, d.Count, clockText(d.BeginNs), clockText(d.EndNs))
		}
		for _, d := range s.DiscardedPackets {
			fmt.Fprintf(stderr, "bpftrail: warning: stream %s (cpu %d) discarded %d packets between %s and %s\n",
				t.StreamName(s), s.CPU, d.Count, clockText(d.BeginNs), clockText(d.EndNs))
		}
	}
	return nil
}

// quietPipe turns a closed pipe (bpftrail print DIR | head) into success.
func quietPipe(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		return &exitError{code: 0}
	}
	return err
}

func clockText(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05.000000000")
}

func newRecover() *cobra.Command {
	return &cobra.Command{
		Use:   "recover DIR",
		Short: "Cut a torn last packet off a trace so that every reader accepts it",
		Long: `recover repairs a trace whose writer was killed or ran out of disk in the
middle of a packet: it truncates each stream file to its last complete packet.
babeltrace2 refuses a whole trace when one stream file ends inside a packet;
after recover it reads everything that was complete.`,
		Example: `  bpftrail recover bpftrail-20261125-101500`,
		Args:    exactArgs(1, "a trace directory"),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := openTrace(args[0]); err != nil {
				return err
			}
			cut, err := ctf.Recover(args[0])
			if err != nil {
				return err
			}
			if len(cut) == 0 {
				fmt.Fprintf(os.Stdout, "%s: nothing to repair\n", args[0])
				return nil
			}
			for path, n := range cut {
				fmt.Fprintf(os.Stdout, "%s: removed %d bytes of a torn packet\n", path, n)
			}
			return nil
		},
	}
}
