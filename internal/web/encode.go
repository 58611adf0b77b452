package web

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
)

// maxSafe is the largest integer a JavaScript number holds exactly.
const maxSafe = 1<<53 - 1

// jw writes JSON by hand: the view data is mostly long arrays of integers.
// Strings are escaped as encoding/json does, including <, > and &, so the
// output can sit inside an HTML <script> element.
type jw struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func (j *jw) raw(s string) { j.w.WriteString(s) }

func (j *jw) str(s string) {
	b, err := json.Marshal(s)
	if err != nil && j.err == nil {
		j.err = err
	}
	j.w.Write(b)
}

func (j *jw) int(v int64) {
	j.buf = strconv.AppendInt(j.buf[:0], v, 10)
	if v > maxSafe || v < -maxSafe {
		j.w.WriteByte('"')
		j.w.Write(j.buf)
		j.w.WriteByte('"')
		return
	}
	j.w.Write(j.buf)
}

func (j *jw) uint(v uint64) {
	if v <= maxSafe {
		j.int(int64(v))
		return
	}
	j.buf = strconv.AppendUint(j.buf[:0], v, 10)
	j.w.WriteByte('"')
	j.w.Write(j.buf)
	j.w.WriteByte('"')
}

func (j *jw) key(k string) {
	j.w.WriteByte('"')
	j.w.WriteString(k)
	j.w.WriteString(`":`)
}

// ints writes an array; delta writes differences from the previous value.
func (j *jw) ints(a []int64, delta bool) {
	j.w.WriteByte('[')
	prev := int64(0)
	for i, v := range a {
		if i > 0 {
			j.w.WriteByte(',')
		}
		if delta {
			j.int(v - prev)
			prev = v
		} else {
			j.int(v)
		}
	}
	j.w.WriteByte(']')
}

func (j *jw) int32s(a []int32) {
	j.w.WriteByte('[')
	for i, v := range a {
		if i > 0 {
			j.w.WriteByte(',')
		}
		j.buf = strconv.AppendInt(j.buf[:0], int64(v), 10)
		j.w.Write(j.buf)
	}
	j.w.WriteByte(']')
}

func (j *jw) value(v any) {
	b, err := json.Marshal(v)
	if err != nil && j.err == nil {
		j.err = err
	}
	j.w.Write(b)
}

// WriteJSON writes the view data as JSON. Times are ns since Origin; arrays
// marked "delta" in the format (ev.t, lane start and ev, mark t and ev) hold
// differences from the previous element.
func (d *Data) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	j := &jw{w: bw}
	d.writeHead(j)
	d.writeClasses(j)
	d.writeEvents(j)
	j.raw(`"tracks":[`)
	for i, tk := range d.Tracks {
		if i > 0 {
			j.raw(",\n")
		}
		d.writeTrack(j, tk)
	}
	j.raw("],\n")
	d.writeTail(j)
	if j.err != nil {
		return j.err
	}
	return bw.Flush()
}

// writeHead writes the trace's summary and the string table.
func (d *Data) writeHead(j *jw) {
	j.raw(`{"version":`)
	j.int(int64(d.Version))
	j.raw(`,"name":`)
	j.str(d.Name)
	j.raw(`,"origin":`)
	j.int(d.Origin)
	j.raw(`,"duration":`)
	j.int(d.Duration)
	j.raw(`,"events":`)
	j.int(int64(d.Events))
	j.raw(`,"discarded":`)
	j.uint(d.Discarded)
	j.raw(`,"cpus":`)
	j.value(orEmpty(d.CPUs))
	j.raw(`,"notes":`)
	j.value(orEmpty(d.Notes))
	j.raw(",\n")
	j.key("strings")
	j.value(d.Strings)
	j.raw(",\n")
}

// writeClasses writes the event classes with their field columns.
func (d *Data) writeClasses(j *jw) {
	j.key("classes")
	j.w.WriteByte('[')
	for i, c := range d.Classes {
		if i > 0 {
			j.w.WriteByte(',')
		}
		j.raw(`{"name":`)
		j.str(c.Name)
		j.raw(`,"fields":`)
		j.value(orEmpty(c.Fields))
		j.raw(`,"kinds":`)
		j.str(c.Kinds)
		j.raw(`,"count":`)
		j.int(int64(c.Count))
		j.raw(`,"cols":[`)
		for k := range c.Cols {
			if k > 0 {
				j.w.WriteByte(',')
			}
			j.column(&c.Cols[k], c.Kinds[k])
		}
		j.raw("]}\n")
	}
	j.raw("],\n")
}

// column writes one field's values.
func (j *jw) column(col *Column, kind byte) {
	switch {
	case col.Floats != nil || kind == KindFloat:
		j.w.WriteByte('[')
		for i, f := range col.Floats {
			if i > 0 {
				j.w.WriteByte(',')
			}
			if math.IsInf(f, 0) || math.IsNaN(f) {
				j.str(strconv.FormatFloat(f, 'g', -1, 64))
			} else {
				j.buf = strconv.AppendFloat(j.buf[:0], f, 'g', -1, 64)
				j.w.Write(j.buf)
			}
		}
		j.w.WriteByte(']')
	case col.Unsigned:
		j.w.WriteByte('[')
		for i, v := range col.Ints {
			if i > 0 {
				j.w.WriteByte(',')
			}
			j.uint(uint64(v))
		}
		j.w.WriteByte(']')
	default:
		j.ints(col.Ints, false)
	}
}

// writeEvents writes the per-event columns and the threads.
func (d *Data) writeEvents(j *jw) {
	j.raw(`"ev":{"t":`)
	j.ints(d.T, true)
	j.raw(",\n\"cpu\":")
	j.int32s(d.CPU)
	j.raw(",\n\"tid\":")
	j.int32s(d.TID)
	j.raw(",\n\"cls\":")
	j.int32s(d.Cls)
	j.raw("},\n")
	tid := make([]int32, len(d.Threads))
	pid := make([]int32, len(d.Threads))
	comm := make([]int32, len(d.Threads))
	for i, th := range d.Threads {
		tid[i], pid[i], comm[i] = th.TID, th.PID, th.Comm
	}
	j.raw(`"threads":{"tid":`)
	j.int32s(tid)
	j.raw(`,"pid":`)
	j.int32s(pid)
	j.raw(`,"comm":`)
	j.int32s(comm)
	j.raw("},\n")
}

// writeTrack writes one track: its lanes and markers.
func (d *Data) writeTrack(j *jw, tk *Track) {
	j.raw(`{"kind":`)
	j.str(tk.Kind)
	j.raw(`,"name":`)
	j.str(tk.Name)
	j.raw(`,"cpu":`)
	j.int(int64(tk.CPU))
	j.raw(`,"tid":`)
	j.int(int64(tk.TID))
	j.raw(`,"pid":`)
	j.int(int64(tk.PID))
	j.raw(`,"lanes":[`)
	for k, l := range tk.Lanes {
		if k > 0 {
			j.w.WriteByte(',')
		}
		d.writeLane(j, l)
	}
	j.raw(`],"mark":{"t":`)
	j.ints(tk.MarkT, true)
	j.raw(`,"nm":`)
	j.int32s(tk.MarkNm)
	j.raw(`,"ev":`)
	j.ints(tk.MarkEv, true)
	j.raw("}}")
}

// writeLane writes one lane's slices.
func (d *Data) writeLane(j *jw, l *Lane) {
	j.raw(`{"name":`)
	j.str(l.Name)
	if d.byEvents(l) {
		// Every slice spans from its event's time to its end event's:
		// the viewer computes starts and durations.
		j.raw(`,"byev":true`)
	} else {
		j.raw(`,"start":`)
		j.ints(l.Start, true)
		j.raw(`,"dur":`)
		j.ints(l.Dur, false)
	}
	j.raw(`,"nm":`)
	j.int32s(l.Nm)
	j.raw(`,"ev":`)
	j.ints(l.Ev, true)
	// ev2 as an offset from ev, -1 when absent; left out when every slice
	// lacks it.
	if slices.ContainsFunc(l.Ev2, func(e2 int64) bool { return e2 >= 0 }) {
		j.raw(`,"ev2":[`)
		for x, e2 := range l.Ev2 {
			if x > 0 {
				j.w.WriteByte(',')
			}
			if e2 < 0 {
				j.raw("-1")
			} else {
				j.int(e2 - l.Ev[x])
			}
		}
		j.w.WriteByte(']')
	}
	if l.TID != nil {
		j.raw(`,"tid":`)
		j.int32s(l.TID)
	}
	if l.State != nil {
		j.raw(`,"state":[`)
		for x, s := range l.State {
			if x > 0 {
				j.w.WriteByte(',')
			}
			j.w.WriteByte('0' + byte(s))
		}
		j.raw(`],"cpu":`)
		j.int32s(l.CPU)
	}
	j.w.WriteByte('}')
}

// writeTail writes the latencies, the aggregates and the flame graph.
func (d *Data) writeTail(j *jw) {
	j.key("latency")
	j.value(orEmpty(d.Latency))
	j.raw(",\n")
	j.key("aggregates")
	if len(d.Aggregates) > 0 {
		j.w.Write(d.Aggregates)
	} else {
		j.raw("[]")
	}
	j.raw(",\n")
	j.key("flame")
	if f := d.Flame; f != nil {
		j.raw(`{"samples":`)
		j.int(f.Samples)
		j.raw(`,"nm":`)
		j.int32s(f.Nm)
		j.raw(`,"parent":`)
		j.int32s(f.Parent)
		j.raw(`,"value":`)
		j.ints(f.Value, false)
		j.raw(`,"self":`)
		j.ints(f.Self, false)
		j.raw(`,"kernel":[`)
		for i, k := range f.Kernel {
			if i > 0 {
				j.w.WriteByte(',')
			}
			if k {
				j.w.WriteByte('1')
			} else {
				j.w.WriteByte('0')
			}
		}
		j.raw("]}")
	} else {
		j.raw("null")
	}
	j.raw("}\n")
}

// byEvents reports whether each slice of l starts at the time of its event
// Ev (0 when -1) and ends at the time of its event Ev2 (the end of the trace
// when -1).
func (d *Data) byEvents(l *Lane) bool {
	n := int64(len(d.T))
	for i, s := range l.Start {
		ev, ev2 := l.Ev[i], l.Ev2[i]
		if ev >= n || ev2 >= n {
			return false
		}
		start, end := int64(0), d.Duration
		if ev >= 0 {
			start = d.T[ev]
		}
		if ev2 >= 0 {
			end = d.T[ev2]
		}
		if s != start || s+l.Dur[i] != end {
			return false
		}
	}
	return true
}

func orEmpty[T any](a []T) []T {
	if a == nil {
		return []T{}
	}
	return a
}
