// Package text writes the events of a CTF trace as text, one line per
// event, in the spirit of babeltrace2's pretty output: time, the time since
// the previous event, CPU, event name, context fields and payload fields.
// Stacks of addresses (_ustack, _kstack) are shown as their symbolized
// frames (symbolize.Frame.String) when the trace has a symbol table.
package text

import (
	"bufio"
	"io"
	"strconv"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// Writer writes events as lines.
type Writer struct {
	w     *bufio.Writer
	syms  *symbolize.Table
	dec   analyze.Decoder
	prev  int64
	first bool
	line  []byte
}

// NewWriter returns a writer to w that names stack addresses with syms
// (nil: stacks stay addresses).
func NewWriter(w io.Writer, syms *symbolize.Table) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 256<<10), syms: syms, first: true}
}

// WriteEvent writes the line of ev, which follows the events written
// before it.
func (w *Writer) WriteEvent(ev *ctf.Event) error {
	w.line = w.append(w.line[:0], ev)
	w.line = append(w.line, '\n')
	w.prev, w.first = ev.Ns, false
	_, err := w.w.Write(w.line)
	return err
}

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// Write writes every event of t to w, in time order, and returns how many.
func Write(w io.Writer, t *ctf.Trace, syms *symbolize.Table) (uint64, error) {
	tw := NewWriter(w, syms)
	n, err := t.Each(tw.WriteEvent)
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	return n, err
}

func (w *Writer) append(b []byte, ev *ctf.Event) []byte {
	b = append(b, '[')
	b = time.Unix(0, ev.Ns).UTC().AppendFormat(b, "15:04:05.000000000")
	b = append(b, "] "...)
	if w.first {
		b = append(b, "(+?.?????????) "...)
	} else {
		d := ev.Ns - w.prev
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
	for _, v := range []ctf.Value{ev.StreamContext, ev.Context} {
		if v.Type != nil {
			b = append(b, v.String()...)
			b = append(b, ", "...)
		}
	}
	c := w.dec.Class(ev.Class)
	switch {
	case ev.Payload.Type == nil:
		b = append(b, "{ }"...)
	case w.syms != nil && (c.UStack >= 0 || c.KStack >= 0):
		b = w.appendPayload(b, ev, c)
	default:
		b = append(b, ev.Payload.String()...)
	}
	return b
}

// appendPayload renders the payload with its stacks as frames.
func (w *Writer) appendPayload(b []byte, ev *ctf.Event, c *analyze.Class) []byte {
	em, _ := w.dec.Emitter(ev, c)
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
		user, ok := c.Stack(i)
		if !ok {
			b = append(b, v.String()...)
			continue
		}
		b = append(b, '[')
		for j, a := range v.Elems {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, ' ')
			b = strconv.AppendQuote(b, w.syms.Frame(em.PID, user, a.Uint).String())
		}
		b = append(b, " ]"...)
	}
	return append(b, " }"...)
}
