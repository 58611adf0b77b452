// Package table prints records as they are collected, one line per event
// in columns as bcc's tools do (or one JSON object per event), for the
// built-in event tools. A tool whose events come in pairs (a syscall's
// entry and exit) prints one line per pair, when the exit comes, with
// columns taken from either.
package table

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/record"
)

// Column is one column of the output.
type Column struct {
	Header string
	Field  string // a field or builtin of the event (of the exit event for pairs: "ret")
	Width  int
	// Format: "" (as is), "ipv4" (a 4-byte address), "time" (seconds since
	// the start), "family" (AF_INET 4, AF_INET6 6), "fd" (a file
	// descriptor or -1), "errno" (the error number of a negative return).
	Format string
	// Enter takes the field from the entry event of a pair.
	Enter bool
}

// Options configure a [Printer].
type Options struct {
	Columns []Column
	// Paired: class 0 is the entry, matched on the thread to the exit.
	Paired bool
	JSON   bool
	Start  uint64 // clock value that "time" columns count from
	Live   bool   // flush every line (a terminal is watching)
	// Lost, when set, is told of the events each CPU lost.
	Lost func(cpu int, n uint64)
}

// Printer is a record.Sink that prints lines.
type Printer struct {
	o       Options
	out     *bufio.Writer
	pending map[int32]pendingEntry // paired: entry records by thread
	lines   uint64
	line    strings.Builder
}

type pendingEntry struct {
	class *record.Class
	b     []byte
}

// New returns a printer writing to w; it prints the column headers now
// (text output).
func New(w io.Writer, o Options) *Printer {
	p := &Printer{o: o, out: bufio.NewWriter(w), pending: map[int32]pendingEntry{}}
	if !o.JSON {
		for i, c := range o.Columns {
			if i == len(o.Columns)-1 {
				fmt.Fprintf(p.out, "%s\n", c.Header)
			} else {
				fmt.Fprintf(p.out, "%-*s ", c.Width, c.Header)
			}
		}
		p.out.Flush()
	}
	return p
}

// WriteRecord implements record.Sink.
func (p *Printer) WriteRecord(r record.Record) error {
	var enter record.Record
	if p.o.Paired {
		tid := r.TID()
		if r.Class.ID == 0 {
			e := p.pending[tid]
			p.pending[tid] = pendingEntry{r.Class, append(e.b[:0], r.B...)}
			return nil
		}
		e, ok := p.pending[tid]
		if !ok {
			return nil
		}
		delete(p.pending, tid)
		enter = record.Record{Class: e.class, B: e.b}
	}
	return p.print(r, enter)
}

// AddDiscarded implements record.Sink.
func (p *Printer) AddDiscarded(cpu int, n uint64, ts uint64) error {
	if p.o.Lost != nil {
		p.o.Lost(cpu, n)
	}
	return nil
}

// Lines is the number of lines printed.
func (p *Printer) Lines() uint64 { return p.lines }

// Flush writes what is buffered.
func (p *Printer) Flush() error { return p.out.Flush() }

func (p *Printer) print(r, enter record.Record) error {
	p.lines++
	if p.o.JSON {
		return p.printJSON(r, enter)
	}
	p.line.Reset()
	for i, c := range p.o.Columns {
		src := r
		if c.Enter {
			src = enter
		}
		v, _ := src.Value(c.Field)
		text := format(c, v, p.o.Start)
		if i == len(p.o.Columns)-1 {
			p.line.WriteString(text)
		} else {
			fmt.Fprintf(&p.line, "%-*s ", c.Width, text)
		}
	}
	p.line.WriteByte('\n')
	p.out.WriteString(p.line.String())
	if p.o.Live {
		return p.out.Flush()
	}
	return nil
}

func (p *Printer) printJSON(r, enter record.Record) error {
	obj := map[string]any{}
	for _, c := range p.o.Columns {
		src := r
		if c.Enter {
			src = enter
		}
		v, _ := src.Value(c.Field)
		key := strings.ToLower(strings.TrimSuffix(c.Header, "(s)"))
		switch c.Format {
		case "ipv4", "family", "fd", "errno":
			obj[key] = format(c, v, p.o.Start)
		default:
			obj[key] = v
		}
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	p.out.Write(j)
	return p.out.WriteByte('\n')
}

func format(c Column, v any, start uint64) string {
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
