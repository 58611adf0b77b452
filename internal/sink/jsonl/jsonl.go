// Package jsonl writes the events of a CTF trace as JSON lines, one object
// per event:
//
//	{"timestamp_ns": <ns since the Unix epoch>, "name": "...", "cpu": <int or null>,
//	 "fields": {...}, "context": {...}}
//
// where "context" holds the stream and event context fields when there are
// any. Stacks of addresses (_ustack, _kstack) are arrays of their
// symbolized frames (symbolize.Frame.String) when the trace has a symbol
// table.
package jsonl

import (
	"bufio"
	"io"
	"strconv"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// Writer writes events as JSON lines.
type Writer struct {
	w    *bufio.Writer
	syms *symbolize.Table
	dec  analyze.Decoder
	line []byte
}

// NewWriter returns a writer to w that names stack addresses with syms
// (nil: stacks stay addresses).
func NewWriter(w io.Writer, syms *symbolize.Table) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 256<<10), syms: syms}
}

// WriteEvent writes the line of ev.
func (w *Writer) WriteEvent(ev *ctf.Event) error {
	w.line = w.append(w.line[:0], ev)
	_, err := w.w.Write(w.line)
	return err
}

// append appends the line of ev to b. It writes what encoding/json writes
// for {timestamp_ns, name, cpu, fields, context} with the fields and the
// context as [ctf.Fields], straight from the decoded values.
func (w *Writer) append(b []byte, ev *ctf.Event) []byte {
	b = append(b, `{"timestamp_ns":`...)
	b = strconv.AppendInt(b, ev.Ns, 10)
	b = append(b, `,"name":`...)
	b = ctf.AppendJSONString(b, ev.Class.Name)
	b = append(b, `,"cpu":`...)
	if ev.CPU >= 0 {
		b = strconv.AppendInt(b, int64(ev.CPU), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"fields":`...)
	switch p := &ev.Payload; {
	case p.Type == nil:
		b = append(b, "{}"...)
	case w.syms != nil && p.Type.Kind == ctf.KindStruct:
		b = w.appendFrames(b, ev)
	default:
		b = p.AppendJSON(b)
	}
	sc, c := &ev.StreamContext, &ev.Context
	if ns, nc := sc.JSONMembers(), c.JSONMembers(); ns+nc > 0 {
		b = append(b, `,"context":{`...)
		b = sc.AppendJSONMembers(b)
		if ns > 0 && nc > 0 {
			b = append(b, ',')
		}
		b = c.AppendJSONMembers(b)
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// appendFrames appends the payload of ev with its stacks of addresses as
// arrays of their frames.
func (w *Writer) appendFrames(b []byte, ev *ctf.Event) []byte {
	c := w.dec.Class(ev.Class)
	p := &ev.Payload
	if c.UStack < 0 && c.KStack < 0 {
		return p.AppendJSON(b)
	}
	em, _ := w.dec.Emitter(ev, c)
	fields := p.Type.Fields
	b = append(b, '{')
	for k := range p.Elems {
		if k >= len(fields) {
			break
		}
		if k > 0 {
			b = append(b, ',')
		}
		name := ctf.StripName(fields[k].Name)
		b = ctf.AppendJSONString(b, name)
		b = append(b, ':')
		// A member takes the frames of the last stack of its name.
		stack := -1
		for _, i := range []int{c.UStack, c.KStack} {
			if i >= 0 && i < len(p.Elems) && i < len(fields) && ctf.StripName(fields[i].Name) == name && i > stack {
				stack = i
			}
		}
		if stack < 0 {
			b = p.Elems[k].AppendJSON(b)
			continue
		}
		user, _ := c.Stack(stack)
		b = append(b, '[')
		for j, a := range p.Elems[stack].Elems {
			if j > 0 {
				b = append(b, ',')
			}
			b = ctf.AppendJSONString(b, w.syms.Frame(em.PID, user, a.Uint).String())
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// Write writes every event of t to w, in time order, and returns how many.
func Write(w io.Writer, t *ctf.Trace, syms *symbolize.Table) (uint64, error) {
	jw := NewWriter(w, syms)
	n, err := t.Each(jw.WriteEvent)
	if ferr := jw.Flush(); err == nil {
		err = ferr
	}
	return n, err
}
