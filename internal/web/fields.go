package web

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// evClass is the builder's state for one event class.
type evClass struct {
	id     int32
	c      *Class
	ac     *analyze.Class
	nameID int32
}

// newClass declares the event class ec (ac to the analyses) in d: its
// fields, but for the lengths of sequences and __syscall_nr.
func (d *Data) newClass(ec *ctf.EventClass, ac *analyze.Class) *evClass {
	c := &Class{Name: ec.Name, kind: ac.Kind}
	x := &evClass{id: int32(len(d.Classes)), c: c, ac: ac, nameID: d.str(ec.Name)}
	if ec.Fields != nil {
		for i, f := range ec.Fields.Fields {
			name := ctf.StripName(f.Name)
			if strings.HasPrefix(name, "_") || f.Type == nil {
				continue // lengths of sequences, __syscall_nr
			}
			k := byte(KindString)
			switch t := f.Type; {
			case i == ac.UStack || i == ac.KStack:
				k = KindString // symbolized frames
			case t.Kind == ctf.KindInteger:
				k = KindInt
				if t.Base == 16 {
					k = KindHex
				}
			case t.Kind == ctf.KindFloat:
				k = KindFloat
			}
			c.Fields = append(c.Fields, name)
			c.fieldIdx = append(c.fieldIdx, i)
			c.kinds = append(c.kinds, k)
		}
	}
	c.Kinds = string(c.kinds)
	c.Cols = make([]Column, len(c.Fields))
	for j, i := range c.fieldIdx {
		if t := ec.Fields.Fields[i].Type; t.Kind == ctf.KindInteger && !t.Signed {
			c.Cols[j].Unsigned = true
		}
	}
	d.Classes = append(d.Classes, c)
	return x
}

func member(v *ctf.Value, i int) ctf.Value {
	if i < 0 || i >= len(v.Elems) {
		return ctf.Value{}
	}
	return v.Elems[i]
}

// storeFields appends the payload's fields to the columns of its class;
// stacks are their frames, named with syms.
func (d *Data) storeFields(x *evClass, e *analyze.Event, syms *symbolize.Table) {
	c := x.c
	c.Count++
	p := &e.CTF.Payload
	for j, i := range c.fieldIdx {
		v := member(p, i)
		col := &c.Cols[j]
		switch {
		case i == x.ac.UStack || i == x.ac.KStack:
			pid := 0
			if e.Sample != nil {
				pid = e.Sample.PID
			}
			col.Ints = append(col.Ints, int64(d.str(frames(v, syms, pid, i == x.ac.UStack))))
		case c.kinds[j] == KindInt || c.kinds[j] == KindHex:
			if col.Unsigned {
				col.Ints = append(col.Ints, int64(v.Uint))
			} else {
				col.Ints = append(col.Ints, v.Int)
			}
		case c.kinds[j] == KindFloat:
			col.Floats = append(col.Floats, v.Float)
		default:
			col.Ints = append(col.Ints, int64(d.str(valueText(v))))
		}
	}
}

// frames is the text of a stack of addresses, one frame per line, leaf
// first.
func frames(v ctf.Value, syms *symbolize.Table, pid int, user bool) string {
	var b strings.Builder
	for i, a := range v.Elems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(syms.Frame(pid, user, a.Uint).String())
	}
	return b.String()
}

// valueText formats a non-numeric field: strings as they are, string
// sequences one per line, other values as JSON.
func valueText(v ctf.Value) string {
	if v.Type == nil {
		return ""
	}
	switch v.Type.Kind {
	case ctf.KindString:
		return string(v.Bytes)
	case ctf.KindEnum:
		if v.Label != "" {
			return v.Label
		}
		return strconv.FormatInt(v.Int, 10)
	case ctf.KindArray, ctf.KindSequence:
		if v.Type.IsText() {
			return string(v.Bytes)
		}
		if v.Type.Elem != nil && v.Type.Elem.Kind == ctf.KindString {
			parts := make([]string, len(v.Elems))
			for i := range v.Elems {
				parts[i] = string(v.Elems[i].Bytes)
			}
			return strings.Join(parts, "\n")
		}
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return v.String()
	}
	return string(b)
}
