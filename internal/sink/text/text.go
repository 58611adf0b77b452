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

	// The "HH:MM:SS." of second sec, formatted once per second.
	sec    int64
	secTxt [9]byte
	secOK  bool
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
	b = w.appendClock(b, ev.Ns)
	b = append(b, "] "...)
	if w.first {
		b = append(b, "(+?.?????????) "...)
	} else {
		d := ev.Ns - w.prev
		b = append(b, "(+"...)
		b = strconv.AppendInt(b, d/1e9, 10)
		b = append(b, '.')
		if d >= 0 {
			b = append9(b, d%1e9)
		} else {
			// Not in time order: the digits the formula has always given.
			frac := strconv.AppendInt(nil, 1e9+d%1e9, 10)
			b = append(b, frac[1:]...)
		}
		b = append(b, ") "...)
	}
	if ev.CPU >= 0 {
		b = append(b, "cpu "...)
		b = strconv.AppendInt(b, int64(ev.CPU), 10)
		b = append(b, ' ')
	}
	b = append(b, ev.Class.Name...)
	b = append(b, ": "...)
	if ev.StreamContext.Type != nil {
		b = ev.StreamContext.AppendText(b)
		b = append(b, ", "...)
	}
	if ev.Context.Type != nil {
		b = ev.Context.AppendText(b)
		b = append(b, ", "...)
	}
	c := w.dec.Class(ev.Class)
	switch {
	case ev.Payload.Type == nil:
		b = append(b, "{ }"...)
	case w.syms != nil && (c.UStack >= 0 || c.KStack >= 0):
		b = w.appendPayload(b, ev, c)
	default:
		b = ev.Payload.AppendText(b)
	}
	return b
}

// appendClock appends ns since the Unix epoch as UTC "HH:MM:SS.nnnnnnnnn",
// formatting the seconds only when they change.
func (w *Writer) appendClock(b []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	if !w.secOK || sec != w.sec {
		time.Unix(sec, 0).UTC().AppendFormat(w.secTxt[:0], "15:04:05.")
		w.sec, w.secOK = sec, true
	}
	b = append(b, w.secTxt[:]...)
	return append9(b, frac)
}

// append9 appends 0 <= x < 1e9 as nine digits.
func append9(b []byte, x int64) []byte {
	var d [9]byte
	for i := 7; i > 0; i -= 2 {
		q := x / 100
		r := x - q*100
		d[i], d[i+1] = digits2[2*r], digits2[2*r+1]
		x = q
	}
	d[0] = byte('0' + x)
	return append(b, d[:]...)
}

// digits2 holds "00" to "99".
const digits2 = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

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
		v := &ev.Payload.Elems[i]
		user, ok := c.Stack(i)
		if !ok {
			b = v.AppendText(b)
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
