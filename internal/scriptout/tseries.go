package scriptout

import (
	"bytes"
	"encoding/binary"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A tseries map prints as bpftrace v0.26.1 prints it: the kernel keeps,
// per key, NumIntervals buckets of per-CPU slots {value, meta, epoch}.
// bpftrace reduces each bucket to its latest epoch's value, keeps the
// NumIntervals epochs that end at the newest epoch any key has, starts
// each key's series at its own first epoch in that window, and shows the
// epochs it has no value for as gaps.

// tsPoint is one interval of a series: its start in wall-clock
// nanoseconds and its value, if it has one.
type tsPoint struct {
	ns  int64
	val tsPrim
}

// tsPrim is a series value as bpftrace's Primitive holds it: missing
// (printed "null"), or a 64-bit integer of the map's signedness.
type tsPrim struct {
	set    bool
	signed bool
	v      int64
}

func (a tsPrim) less(b tsPrim) bool {
	if a.set != b.set {
		return !a.set // the missing value orders first
	}
	if !a.set {
		return false
	}
	if a.signed {
		return a.v < b.v
	}
	return uint64(a.v) < uint64(b.v)
}

func (a tsPrim) String() string {
	switch {
	case !a.set:
		return "null"
	case a.signed:
		return strconv.FormatInt(a.v, 10)
	}
	return strconv.FormatUint(uint64(a.v), 10)
}

// dec and inc move a value one step unless at its type's bound.
func (a *tsPrim) dec() {
	if a.set && ((a.signed && a.v > math.MinInt64) || (!a.signed && a.v != 0)) {
		a.v--
	}
}

func (a *tsPrim) inc() {
	if a.set && ((a.signed && a.v < math.MaxInt64) || (!a.signed && uint64(a.v) < math.MaxUint64)) {
		a.v++
	}
}

// dist is bpftrace's distance(p, other): p - other, computed for an
// unsigned p without going through a negative unsigned value; 0 for a
// missing p.
func (a tsPrim) dist(other int64) int64 {
	if !a.set {
		return 0
	}
	if a.signed {
		return a.v - other
	}
	v := uint64(a.v)
	if other < 0 {
		return int64(uint64(-other) + v)
	}
	if v > uint64(other) {
		return int64(v - uint64(other))
	}
	return -int64(uint64(other) - v)
}

// distTo is distance(p, q) for a value q: 0 when q is missing.
func (a tsPrim) distTo(b tsPrim) int64 {
	if !b.set {
		return 0
	}
	return a.dist(b.v)
}

// tsSlot is a bucket's value during the reduction.
type tsSlot struct {
	epoch, meta uint64
	val         int64
}

// reduceBucket reduces the per-CPU slots of one bucket as bpftrace does:
// slots never written (epoch 0) are ignored, slots of the same epoch are
// combined by the aggregation (the last-value mode keeps the one with the
// greatest timestamp), and the latest epoch's value is the bucket's, an
// average divided out. A bucket with no written slot is epoch 0, value 0.
func (m *Map) reduceBucket(slots []TSPoint) (uint64, int64) {
	byEpoch := map[uint64]*tsSlot{}
	var latest uint64
	for _, p := range slots {
		if p.Epoch == 0 {
			continue
		}
		latest = max(latest, p.Epoch)
		cur, ok := byEpoch[p.Epoch]
		if !ok {
			byEpoch[p.Epoch] = &tsSlot{epoch: p.Epoch, meta: p.Meta, val: p.Value}
			continue
		}
		switch m.Agg {
		case "avg":
			cur.val += p.Value
			cur.meta += p.Meta
		case "sum":
			cur.val += p.Value
		case "min":
			if m.lessVal(p.Value, cur.val) {
				cur.val = p.Value
			}
		case "max":
			if m.lessVal(cur.val, p.Value) {
				cur.val = p.Value
			}
		default:
			// bpftrace compares the timestamps in the value's type.
			if m.lessVal(int64(cur.meta), int64(p.Meta)) {
				cur.val, cur.meta = p.Value, p.Meta
			}
		}
	}
	if latest == 0 {
		return 0, 0
	}
	s := byEpoch[latest]
	if m.Agg == "avg" {
		// A count of 0 cannot come from the kernel program (bpftrace
		// would fault dividing); show 0.
		switch {
		case s.meta == 0:
			s.val = 0
		case m.Signed:
			s.val /= int64(s.meta)
		default:
			s.val = int64(uint64(s.val) / s.meta)
		}
	}
	return latest, s.val
}

func (m *Map) lessVal(a, b int64) bool {
	if m.Signed {
		return a < b
	}
	return uint64(a) < uint64(b)
}

// tsValues reduces an entry's buckets to a value per epoch. Two buckets
// of one epoch (only epoch 0, from unwritten buckets) keep the first.
func (m *Map) tsValues(e Entry) map[uint64]int64 {
	var order []uint64
	byBucket := map[uint64][]TSPoint{}
	for _, p := range e.Series {
		if _, ok := byBucket[p.Bucket]; !ok {
			order = append(order, p.Bucket)
		}
		byBucket[p.Bucket] = append(byBucket[p.Bucket], p)
	}
	vals := map[uint64]int64{}
	for _, b := range order {
		epoch, v := m.reduceBucket(byBucket[b])
		if _, ok := vals[epoch]; !ok {
			vals[epoch] = v
		}
	}
	return vals
}

// tsKeyed is one key's series, ready to print.
type tsKeyed struct {
	key    Value
	points []tsPoint
}

// tsView is the map's series in bpftrace's order, by the key's bytes as
// the kernel keeps them. The window is the NumIntervals epochs ending at
// the newest epoch of any key (with unsigned wrap-around: a newest epoch
// below NumIntervals-1 leaves the window empty, as after zero()); a key's
// series starts at its first epoch in the window, or is the window's
// last epoch alone, without value, when it has none there.
func (m *Map) tsView() []tsKeyed {
	es := append([]Entry(nil), m.Entries...)
	sort.SliceStable(es, func(i, j int) bool {
		return bytes.Compare(keyBytes(es[i].Key), keyBytes(es[j].Key)) < 0
	})
	vals := make([]map[uint64]int64, len(es))
	var last uint64
	for i, e := range es {
		vals[i] = m.tsValues(e)
		for epoch := range vals[i] {
			last = max(last, epoch)
		}
	}
	first := last - m.NumIntervals + 1
	out := make([]tsKeyed, 0, len(es))
	for i, e := range es {
		start := last
		for epoch := range vals[i] {
			if epoch >= first {
				start = min(start, epoch)
			}
		}
		k := tsKeyed{key: e.Key}
		for epoch := start; epoch >= first && epoch <= last; epoch++ {
			p := tsPoint{ns: int64(epoch*m.Interval) + int64(m.TimeOffset)}
			if v, ok := vals[i][epoch]; ok {
				p.val = tsPrim{set: true, signed: m.Signed, v: v}
			}
			k.points = append(k.points, p)
			if epoch == math.MaxUint64 {
				break
			}
		}
		out = append(out, k)
	}
	return out
}

// keyBytes approximates a key's bytes in the BPF map, whose order
// (memcmp) is the order bpftrace prints tseries keys in: integers little
// endian in their size, strings up to their NUL, tuples field by field.
func keyBytes(k Value) []byte {
	switch k.Kind {
	case Int, Bool, Pointer:
		n := k.Size
		if n <= 0 || n > 8 {
			n = 8
			if k.Kind == Bool {
				n = 1
			}
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(k.Int))[:n]
	case String:
		return append([]byte(k.Str), 0)
	case Buf:
		return []byte(k.Str)
	case Tuple, Record, Array:
		var b []byte
		for _, e := range k.Elems {
			b = append(b, keyBytes(e)...)
		}
		return b
	case None:
		return nil
	}
	return []byte(textString(k))
}

// tsUnit is bpftrace's display unit for an interval: the number of
// fraction digits (0 for seconds) and its name.
func tsUnit(interval uint64) (int, string) {
	switch {
	case interval >= 1e9:
		return 0, "s"
	case interval >= 1e6:
		return 3, "ms"
	case interval >= 1e3:
		return 6, "μs"
	}
	return 9, "ns"
}

// tsClock is an interval's start as the plot's rows show it: hh:mm:ss in
// loc, and the fraction of the second to the unit.
func tsClock(ns int64, digits int, loc *time.Location) string {
	sec := ns / 1e9
	frac := ns - sec*1e9
	s := cStrftime("%H:%M:%S", time.Unix(sec, 0).In(loc))
	switch digits {
	case 9:
		s += "." + pad0(frac, 9)
	case 6:
		s += "." + pad0(frac/1e3, 6)
	case 3:
		s += "." + pad0(frac/1e6, 3)
	}
	return s
}

// padRight and padLeft pad to n bytes, as a C++ stream's setw does.
func padRight(s string, n int) string {
	if len(s) < n {
		s += strings.Repeat(" ", n-len(s))
	}
	return s
}

func padLeft(s string, n int) string {
	if len(s) < n {
		s = strings.Repeat(" ", n-len(s)) + s
	}
	return s
}

// tsGraphWidth is the plot's width, its two borders included; the
// minimum's column in the header and footer is tsPadding wide.
const (
	tsGraphWidth = 53
	tsPadding    = 21
)

// writeTSeriesText writes a series as bpftrace's text plot, ending with a
// newline; an empty series is "<no data>" without one.
func writeTSeriesText(b *strings.Builder, pts []tsPoint, loc *time.Location) {
	if len(pts) == 0 {
		b.WriteString("<no data>")
		return
	}
	lo, hi := pts[0].val, pts[0].val
	for _, p := range pts {
		if !p.val.set {
			continue
		}
		if p.val.less(lo) {
			lo = p.val
		}
		if hi.less(p.val) {
			hi = p.val
		}
	}
	if lo == hi {
		lo.dec()
		hi.inc()
	}
	n := uint64(len(pts) - 1)
	if n == 0 {
		n = 1
	}
	interval := uint64(pts[len(pts)-1].ns-pts[0].ns) / n
	digits, unit := tsUnit(interval)
	timeFmt := "hh:mm:ss"
	timeSize := len(timeFmt)
	if digits > 0 {
		timeFmt += "." + unit
		timeSize += 1 + digits
	}
	scale := func() {
		b.WriteString(padRight(lo.String(), tsPadding))
		b.WriteString(padLeft(hi.String(), tsGraphWidth-tsPadding))
		b.WriteByte('\n')
	}
	b.WriteString(strings.Repeat(" ", timeSize+1))
	scale()
	b.WriteString(padRight(timeFmt, timeSize+1))
	b.WriteString("|" + strings.Repeat("_", tsGraphWidth-2) + "|\n")

	// bpftrace computes the columns in single precision.
	zero := 0
	zeroVal := tsPrim{set: true, signed: true}
	if lo.dist(0) < 0 && zeroVal.distTo(hi) < 0 {
		f := float32(float32(tsGraphWidth) * float32(lo.dist(0)))
		zero = int(f / float32(lo.distTo(hi)))
	}
	for _, p := range pts {
		line := []byte(strings.Repeat(" ", tsGraphWidth))
		line[0], line[tsGraphWidth-1] = '|', '|'
		if zero > 0 && zero < tsGraphWidth {
			line[zero] = '.'
		}
		b.WriteString(tsClock(p.ns, digits, loc))
		b.WriteByte(' ')
		if !p.val.set {
			b.Write(line)
			b.WriteString(" -\n")
			continue
		}
		col := tsGraphWidth / 2
		if lo != hi {
			f := float32(float32(tsGraphWidth-1) * float32(lo.distTo(p.val)))
			col = int(f / float32(lo.distTo(hi)))
		}
		line[max(0, min(tsGraphWidth-1, col))] = '*'
		b.Write(line)
		b.WriteString(" " + p.val.String() + "\n")
	}
	b.WriteString(strings.Repeat(" ", timeSize+1))
	b.WriteString("v" + strings.Repeat("_", tsGraphWidth-2) + "v\n")
	b.WriteString(strings.Repeat(" ", timeSize+1))
	scale()
}

// writeTSeriesJSON writes a series as bpftrace's JSON array: the points
// that have a value, their start in UTC with nanoseconds, no spaces.
func writeTSeriesJSON(b *strings.Builder, pts []tsPoint) {
	b.WriteByte('[')
	first := true
	for _, p := range pts {
		if !p.val.set {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		t := time.Unix(0, p.ns).UTC().Format("2006-01-02 15:04:05.000000000")
		b.WriteString(`{"interval_start":"` + t + `","value":` + p.val.String() + "}")
	}
	b.WriteByte(']')
}

// writeTSeries writes a tseries map as text: per key (the first one only
// for a map without keys) "@m:" or "@m[k]:", the plot and a blank line.
// top and div do not apply to tseries.
func writeTSeries(b *strings.Builder, m *Map, loc *time.Location) {
	if loc == nil {
		loc = time.Local
	}
	for _, k := range m.tsView() {
		b.WriteString(m.Name)
		if m.Keyed {
			b.WriteString("[" + keyText(k.key) + "]")
		}
		b.WriteString(":\n")
		writeTSeriesText(b, k.points, loc)
		b.WriteByte('\n')
		if !m.Keyed {
			break
		}
	}
}

// writeTSeriesRecord writes a tseries map as a "tseries" record; a map
// without entries writes nothing.
func writeTSeriesRecord(b *strings.Builder, m *Map) {
	ks := m.tsView()
	if len(ks) == 0 {
		return
	}
	b.WriteString(`{"type": "` + MapJSONType(m) + `", "data": {`)
	appendJSONString(b, m.Name)
	b.WriteString(": ")
	if !m.Keyed {
		writeTSeriesJSON(b, ks[0].points)
	} else {
		b.WriteByte('{')
		for i, k := range ks {
			if i > 0 {
				b.WriteString(", ")
			}
			appendJSONString(b, jsonKey(k.key))
			b.WriteString(": ")
			writeTSeriesJSON(b, k.points)
		}
		b.WriteByte('}')
	}
	b.WriteString("}}\n")
}
