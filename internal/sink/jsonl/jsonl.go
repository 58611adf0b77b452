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
	"encoding/json"
	"io"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// Writer writes events as JSON lines.
type Writer struct {
	w    *bufio.Writer
	syms *symbolize.Table
	dec  analyze.Decoder
}

// NewWriter returns a writer to w that names stack addresses with syms
// (nil: stacks stay addresses).
func NewWriter(w io.Writer, syms *symbolize.Table) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 256<<10), syms: syms}
}

type event struct {
	TimestampNs int64  `json:"timestamp_ns"`
	Name        string `json:"name"`
	CPU         *int   `json:"cpu"`
	Fields      any    `json:"fields"`
	Context     any    `json:"context,omitempty"`
}

// WriteEvent writes the line of ev.
func (w *Writer) WriteEvent(ev *ctf.Event) error {
	je := event{TimestampNs: ev.Ns, Name: ev.Class.Name, Fields: ctf.Fields{}}
	if ev.CPU >= 0 {
		cpu := ev.CPU
		je.CPU = &cpu
	}
	if ev.Payload.Type != nil {
		je.Fields = ev.Payload.Interface()
		if fs, ok := je.Fields.(ctf.Fields); ok && w.syms != nil {
			w.frames(fs, ev)
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
		return err
	}
	j = append(j, '\n')
	_, err = w.w.Write(j)
	return err
}

// frames replaces the stacks of addresses among the fields fs of ev by
// their frames.
func (w *Writer) frames(fs ctf.Fields, ev *ctf.Event) {
	c := w.dec.Class(ev.Class)
	if c.UStack < 0 && c.KStack < 0 {
		return
	}
	em, _ := w.dec.Emitter(ev, c)
	for i, f := range ev.Payload.Type.Fields {
		user, ok := c.Stack(i)
		if !ok || i >= len(ev.Payload.Elems) {
			continue
		}
		v := ev.Payload.Elems[i]
		frames := make([]string, 0, len(v.Elems))
		for _, a := range v.Elems {
			frames = append(frames, w.syms.Frame(em.PID, user, a.Uint).String())
		}
		for k := range fs {
			if fs[k].Key == ctf.StripName(f.Name) {
				fs[k].Value = frames
			}
		}
	}
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
