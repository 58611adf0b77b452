package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/symbolize"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

func newPrint() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "print DIR",
		Short: "Print every event of a CTF trace",
		Long: `print shows every event of a CTF trace, merged in time order, one line per
event: time, CPU, event name, context fields and payload fields, in the
spirit of babeltrace2's text output. It reads traces from bpftrail and from
other CTF 1.8 writers such as LTTng. Discarded events and a torn last packet
are reported on stderr.

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
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: a CTF trace is a directory with a metadata file", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err != nil {
		return nil, fmt.Errorf("%s is not a CTF trace (no metadata file)", dir)
	}
	t, err := ctf.Open(dir)
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
	syms, err := loadSymbols(dir)
	if err != nil {
		fmt.Fprintf(stderr, "bpftrail: warning: stacks stay addresses: %v\n", err)
	}
	out := bufio.NewWriterSize(stdout, 256<<10)
	it := t.Events()
	defer it.Close()
	var prev int64
	first := true
	var line []byte
	for it.Next() {
		ev := it.Event()
		line = line[:0]
		if asJSON {
			line, err = appendJSON(line, ev, syms)
			if err != nil {
				return err
			}
		} else {
			line = appendText(line, ev, prev, first, syms)
		}
		line = append(line, '\n')
		if _, err := out.Write(line); err != nil {
			return quietPipe(err)
		}
		prev, first = ev.Ns, false
	}
	if err := it.Err(); err != nil {
		out.Flush()
		return err
	}
	if err := out.Flush(); err != nil {
		return quietPipe(err)
	}
	for _, s := range t.Streams {
		for _, d := range s.Discarded {
			name := filepath.Base(s.Path)
			if d.Unknown {
				fmt.Fprintf(stderr, "bpftrail: warning: stream %s (cpu %d) may have discarded events before %s\n", name, s.CPU, clockText(d.EndNs))
				continue
			}
			fmt.Fprintf(stderr, "bpftrail: warning: stream %s (cpu %d) discarded %d events between %s and %s\n",
				name, s.CPU, d.Count, clockText(d.BeginNs), clockText(d.EndNs))
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

func appendText(b []byte, ev *ctf.Event, prev int64, first bool, syms *symbolize.Table) []byte {
	b = append(b, '[')
	b = time.Unix(0, ev.Ns).UTC().AppendFormat(b, "15:04:05.000000000")
	b = append(b, "] "...)
	if first {
		b = append(b, "(+?.?????????) "...)
	} else {
		d := ev.Ns - prev
		b = append(b, "(+"...)
		b = strconv.AppendInt(b, d/1e9, 10)
		b = append(b, '.')
		frac := strconv.AppendInt(nil, 1e9+d%1e9, 10)
		b = append(b, frac[1:]...)
		b = append(b, ") "...)
	}
	if ev.CPU >= 0 {
		b = append(b, "cpu "...)
		b = strconv.AppendInt(b, int64(ev.CPU), 10)
		b = append(b, ' ')
	}
	b = append(b, ev.Class.Name...)
	b = append(b, ": "...)
	sep := false
	for _, v := range []ctf.Value{ev.StreamContext, ev.Context} {
		if v.Type != nil {
			b = append(b, v.String()...)
			b = append(b, ", "...)
			sep = true
		}
	}
	_ = sep
	switch {
	case ev.Payload.Type == nil:
		b = append(b, "{ }"...)
	case syms != nil && hasStack(ev):
		b = appendPayloadWithStacks(b, ev, syms)
	default:
		b = append(b, ev.Payload.String()...)
	}
	return b
}

// stackFields are the fields record --stack adds.
var stackFields = map[string]bool{"_ustack": true, "_kstack": true}

func hasStack(ev *ctf.Event) bool {
	for _, f := range ev.Payload.Type.Fields {
		if stackFields[f.Name] {
			return true
		}
	}
	return false
}

// eventPID is the pid of the event's context, or 0.
func eventPID(ev *ctf.Event) int {
	if v, ok := ev.StreamContext.Get("pid"); ok {
		return int(v.Int)
	}
	return 0
}

// stackFrames names the addresses of a stack field.
func stackFrames(ev *ctf.Event, name string, v ctf.Value, syms *symbolize.Table) []string {
	out := make([]string, 0, len(v.Elems))
	for _, e := range v.Elems {
		out = append(out, syms.Frame(eventPID(ev), name == "_ustack", e.Uint).String())
	}
	return out
}

// appendPayloadWithStacks renders the payload with stack addresses shown as
// the frames the recording symbolized.
func appendPayloadWithStacks(b []byte, ev *ctf.Event, syms *symbolize.Table) []byte {
	b = append(b, "{ "...)
	for i, f := range ev.Payload.Type.Fields {
		if i >= len(ev.Payload.Elems) {
			break
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, ctf.StripName(f.Name)...)
		b = append(b, " = "...)
		v := ev.Payload.Elems[i]
		if !stackFields[f.Name] {
			b = append(b, v.String()...)
			continue
		}
		b = append(b, '[')
		for j, fr := range stackFrames(ev, f.Name, v, syms) {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, ' ')
			b = strconv.AppendQuote(b, fr)
		}
		b = append(b, " ]"...)
	}
	return append(b, " }"...)
}

type jsonEvent struct {
	TimestampNs int64  `json:"timestamp_ns"`
	Name        string `json:"name"`
	CPU         *int   `json:"cpu"`
	Fields      any    `json:"fields"`
	Context     any    `json:"context,omitempty"`
}

func appendJSON(b []byte, ev *ctf.Event, syms *symbolize.Table) ([]byte, error) {
	je := jsonEvent{TimestampNs: ev.Ns, Name: ev.Class.Name, Fields: ctf.Fields{}}
	if ev.CPU >= 0 {
		cpu := ev.CPU
		je.CPU = &cpu
	}
	if ev.Payload.Type != nil {
		je.Fields = ev.Payload.Interface()
		if fs, ok := je.Fields.(ctf.Fields); ok && syms != nil && hasStack(ev) {
			for i, f := range ev.Payload.Type.Fields {
				if stackFields[f.Name] && i < len(ev.Payload.Elems) {
					for k := range fs {
						if fs[k].Key == ctf.StripName(f.Name) {
							fs[k].Value = stackFrames(ev, f.Name, ev.Payload.Elems[i], syms)
						}
					}
				}
			}
		}
	}
	var ctx ctf.Fields
	for _, v := range []ctf.Value{ev.StreamContext, ev.Context} {
		if v.Type != nil {
			if f, ok := v.Interface().(ctf.Fields); ok {
				ctx = append(ctx, f...)
			}
		}
	}
	if len(ctx) > 0 {
		je.Context = ctx
	}
	j, err := json.Marshal(je)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
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

// loadSymbols reads the trace's symbol table; a trace without one gives nil.
func loadSymbols(dir string) (*symbolize.Table, error) {
	t := symbolize.NewTable()
	ok, err := tracedir.ReadJSON(dir, tracedir.Symbols, t)
	if !ok {
		return nil, err
	}
	return t, nil
}
