package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/syscalls"
	"github.com/bpftrail/bpftrail/internal/tools"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

func newTools() []*cobra.Command {
	var out []*cobra.Command
	for _, t := range tools.All() {
		out = append(out, newTool(t))
	}
	return out
}

func newTool(t *tools.Tool) *cobra.Command {
	var f aggFlags
	var unit string
	c := &cobra.Command{
		Use:     t.Name + " [flags] [-- COMMAND [ARGS...]]",
		Short:   t.Short,
		Long:    t.Long,
		Example: t.Example,
		GroupID: "tools",
		RunE: func(c *cobra.Command, args []string) error {
			if t.Requires != "" {
				if err := requireCategory(t.Requires, t.Name); err != nil {
					return err
				}
			}
			cfg, err := f.config(args)
			if err != nil {
				return err
			}
			cfg.Filter = joinFilters(t.Filter, f.filter)
			switch t.Kind {
			case tools.Events:
				return runEventTool(c, t, &f, cfg, args)
			case tools.Count:
				cfg.Mode, cfg.Specs = engine.Count, t.Specs
				if len(cfg.By) == 0 {
					cfg.By = t.By
				}
				return runAgg(c, &f, cfg, args, func(w io.Writer, s *engine.Snapshot, final bool) error {
					if t.Syscalls {
						nameSyscalls(s)
					}
					if final && len(s.Groups) == 0 && t.Empty != "" && !f.asJSON {
						fmt.Fprintln(os.Stderr, t.Name+": "+t.Empty)
					}
					return renderCount(w, &f, cfg, s)
				})
			case tools.Latency:
				if unit == "" {
					unit = t.Unit
				}
				if _, err := hist.ParseUnit(unit); err != nil {
					return fmt.Errorf("--unit: %w", err)
				}
				cfg.Mode, cfg.From, cfg.To, cfg.Match = engine.Latency, t.From, t.To, t.Match
				cfg.FromFilter, cfg.ToFilter = t.FromFilter, t.ToFilter
				cfg.StartMatch, cfg.StartFilter = t.StartMatch, t.StartFilter
				return runAgg(c, &f, cfg, args, func(w io.Writer, s *engine.Snapshot, final bool) error {
					if final && len(s.Groups) == 0 && t.Empty != "" && !f.asJSON {
						fmt.Fprintln(os.Stderr, t.Name+": "+t.Empty)
					}
					return renderHists(w, &f, s, hist.LogLinear{}, unit, true)
				})
			}
			return fmt.Errorf("%s: unknown tool kind", t.Name)
		},
	}
	f.register(c, false)
	if t.Kind == tools.Latency {
		c.Flags().StringVar(&unit, "unit", t.Unit, "unit of the printed histogram: ns, us, ms")
	}
	if t.Kind == tools.Events {
		c.Flags().Lookup("output").Usage = "also write the events to this CTF trace directory"
		c.Flags().Lookup("json").Usage = "one JSON object per event"
		c.Flags().Lookup("by").Hidden = true
		c.Flags().Lookup("interval").Hidden = true
		c.Flags().Lookup("top").Hidden = true
	}
	return c
}

// requireCategory reports clearly when this machine lacks a tool's
// tracepoints.
func requireCategory(cat, tool string) error {
	fsys, err := tracefs.Open()
	if err != nil {
		return err
	}
	evs, err := fsys.List(cat + ":*")
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("%s needs the %s tracepoints, which this kernel does not have (module not loaded or not built in)", tool, cat)
	}
	return nil
}

func joinFilters(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") && (" + b + ")"
}

// nameSyscalls shows syscall numbers as names in count keys named "id".
func nameSyscalls(s *engine.Snapshot) {
	for _, g := range s.Groups {
		for i, v := range g.Key {
			if v.Name == "id" && v.IsInt {
				if name, ok := syscalls.Name(int(v.Int)); ok {
					g.Key[i] = engine.KeyValue{Name: "syscall", Str: name}
				} else {
					g.Key[i] = engine.KeyValue{Name: "syscall", Str: "syscall_" + strconv.FormatInt(v.Int, 10)}
				}
			}
		}
	}
}

// eventPrinter prints one line per event (or per enter/exit pair) of an
// event tool, and passes the records on to a trace when one is written.
type eventPrinter struct {
	t       *tools.Tool
	schemas []*event.Schema
	out     *bufio.Writer
	json    bool
	start   uint64
	pending map[uint32][]byte // paired tools: enter records by tid
	trace   *ctftrace.Writer
	lines   uint64
	live    bool // flush every line (a terminal is watching)
}

func (p *eventPrinter) WriteRecord(rec []byte) error {
	if p.trace != nil {
		if err := p.trace.WriteRecord(rec); err != nil {
			return err
		}
	}
	id := binary.LittleEndian.Uint32(rec[event.OffClass:])
	if int(id) >= len(p.schemas) {
		return nil
	}
	var enter []byte
	if p.t.Paired {
		tid := binary.LittleEndian.Uint32(rec[event.OffTID:])
		if id == 0 {
			p.pending[tid] = append([]byte(nil), rec...)
			return nil
		}
		var ok bool
		if enter, ok = p.pending[tid]; !ok {
			return nil
		}
		delete(p.pending, tid)
	}
	return p.line(p.schemas[id], rec, enter)
}

func (p *eventPrinter) AddDiscarded(cpu int, n uint64, ts uint64) error {
	if p.trace != nil {
		if err := p.trace.AddDiscarded(cpu, n, ts); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %d events lost on CPU %d (ring buffer full)\n", p.t.Name, n, cpu)
	return nil
}

func (p *eventPrinter) header() {
	if p.json {
		return
	}
	for i, c := range p.t.Columns {
		if i == len(p.t.Columns)-1 {
			fmt.Fprintf(p.out, "%s\n", c.Header)
		} else {
			fmt.Fprintf(p.out, "%-*s ", c.Width, c.Header)
		}
	}
	p.out.Flush()
}

func (p *eventPrinter) line(s *event.Schema, rec, enter []byte) error {
	obj := map[string]any{}
	var b strings.Builder
	for i, c := range p.t.Columns {
		src, sch := rec, s
		if c.Enter {
			src, sch = enter, p.schemas[0]
		}
		v, _ := sch.Value(src, c.Field)
		text := format(c, v, p.start)
		if p.json {
			key := strings.ToLower(strings.TrimSuffix(c.Header, "(s)"))
			switch c.Format {
			case "ipv4", "family", "fd", "errno":
				obj[key] = text
			default:
				obj[key] = v
			}
			continue
		}
		if i == len(p.t.Columns)-1 {
			b.WriteString(text)
		} else {
			fmt.Fprintf(&b, "%-*s ", c.Width, text)
		}
	}
	p.lines++
	if p.json {
		j, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		p.out.Write(j)
		p.out.WriteByte('\n')
		return nil
	}
	p.out.WriteString(b.String())
	p.out.WriteByte('\n')
	if p.live {
		return p.out.Flush()
	}
	return nil
}

func format(c tools.Column, v any, start uint64) string {
	switch c.Format {
	case "time":
		if ns, ok := v.(int64); ok {
			return strconv.FormatFloat(float64(uint64(ns)-start)/1e9, 'f', 3, 64)
		}
	case "ipv4":
		if b, ok := v.([]byte); ok && len(b) == 4 {
			return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
		}
	case "family":
		if n, ok := v.(int64); ok {
			switch n {
			case 2:
				return "4"
			case 10:
				return "6"
			}
		}
	case "fd":
		if n, ok := v.(int64); ok {
			if n < 0 {
				return "-1"
			}
			return strconv.FormatInt(n, 10)
		}
	case "errno":
		if n, ok := v.(int64); ok {
			if n < 0 {
				return strconv.FormatInt(-n, 10)
			}
			return "0"
		}
	}
	switch x := v.(type) {
	case nil:
		return "?"
	case int64:
		return strconv.FormatInt(x, 10)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// runEventTool records the tool's events and prints them as they come (in
// batches, every poll interval), optionally also into a CTF trace.
func runEventTool(c *cobra.Command, t *tools.Tool, f *aggFlags, cfg engine.AggConfig, args []string) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	rc := cfg.Config
	rc.Specs = t.Specs
	for name, path := range t.TaskFields {
		rc.TaskFields = append(rc.TaskFields, engine.TaskField{Name: name, Path: path})
	}
	sort.Slice(rc.TaskFields, func(i, j int) bool { return rc.TaskFields[i].Name < rc.TaskFields[j].Name })
	if f.output != "" {
		if _, err := os.Stat(filepath.Join(f.output, "metadata")); err == nil {
			return fmt.Errorf("%s already holds a trace; choose another -o", f.output)
		}
	}
	sess, err := engine.Open(rc)
	if err != nil {
		return err
	}
	defer sess.Close()
	p := &eventPrinter{t: t, schemas: sess.Schemas, out: bufio.NewWriter(os.Stdout), json: f.asJSON,
		start: ctf.MonotonicNow(), pending: map[uint32][]byte{}, live: isTerminal(os.Stdout)}
	var w *ctf.Writer
	if f.output != "" {
		w, err = ctf.Create(f.output, ctf.Options{TracerName: "bpftrail", EventContext: ctftrace.ContextType(),
			Env: []ctf.EnvValue{{Key: "bpftrail_version", Str: version}, {Key: "bpftrail_tool", Str: t.Name}}})
		if err != nil {
			return err
		}
		if p.trace, err = ctftrace.NewWriter(w, sess.Schemas, sess.CPUs()); err != nil {
			w.Close()
			return err
		}
	}
	col, err := sess.Collector(p)
	if err != nil {
		return err
	}
	defer col.Close()
	r, err := startRun(args, rc.Target == bpfgen.TargetPids, f.duration, sess)
	if err != nil {
		return err
	}
	defer r.stop()
	ctx := r.ctx
	p.header()
	runErr := sess.Run(ctx, col)
	if err := p.out.Flush(); err != nil {
		return quietPipe(err)
	}
	if w != nil {
		if err := w.Close(); err != nil && runErr == nil {
			runErr = err
		}
	}
	return runErr
}
