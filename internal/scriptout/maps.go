package scriptout

import (
	"io"
	"sort"
	"strings"
	"time"
)

// shown is one map entry ready to print: the key and either a value or a
// histogram.
type shown struct {
	key   Value
	value Value
	hist  *histView
}

// isHist says whether the map prints as histograms.
func (m *Map) isHist() bool { return m.Kind == Hist || m.Kind == LHist }

// isStats says whether bpftrace wraps the map as "stats" (avg and stats).
func (m *Map) isStats() bool { return m.Kind == Avg || m.Kind == Stats }

func signExtend(v Value) int64 {
	w := v
	w.Signed = true
	return w.intBits()
}

// avgOf is bpftrace's average: total / count in the map's signedness,
// 0 without samples.
func (m *Map) avgOf(e Entry) Value {
	if m.Signed {
		var a int64
		if e.Count != 0 {
			a = e.Total / e.Count
		}
		return SInt(a)
	}
	var a uint64
	if e.Count != 0 {
		a = uint64(e.Total) / uint64(e.Count)
	}
	return Uint(a)
}

func divide(v Value, div uint64) Value {
	if div <= 1 || v.Kind != Int {
		return v
	}
	if v.Signed {
		v.Int = v.intBits() / int64(div)
	} else {
		v.Int = int64(uint64(v.intBits()) / div)
	}
	return v
}

// sortEntries orders entries as bpftrace does before printing: histograms
// by the sum of their buckets, counts, sums and integers by value, min and
// max by value read as unsigned, avg and stats by average, and anything
// else by key. Ties are in key order (the kernel's hash order is no
// order at all).
func (m *Map) sortEntries() []Entry {
	es := append([]Entry(nil), m.Entries...)
	sortByKey(es)
	by := func(less func(a, b Entry) bool) {
		sort.SliceStable(es, func(i, j int) bool { return less(es[i], es[j]) })
	}
	switch {
	case m.isHist():
		sum := func(e Entry) uint64 {
			var s uint64
			for _, c := range e.Buckets {
				s += c
			}
			return s
		}
		by(func(a, b Entry) bool { return sum(a) < sum(b) })
	case m.Kind == Count || m.Kind == Sum || (m.Kind == Plain && isIntValues(es)):
		by(func(a, b Entry) bool {
			if a.Value.Signed {
				return a.Value.intBits() < b.Value.intBits()
			}
			return uint64(a.Value.intBits()) < uint64(b.Value.intBits())
		})
	case m.Kind == Min || m.Kind == Max:
		by(func(a, b Entry) bool { return uint64(a.Value.intBits()) < uint64(b.Value.intBits()) })
	case m.isStats():
		by(func(a, b Entry) bool {
			x, y := m.avgOf(a), m.avgOf(b)
			if m.Signed {
				return x.Int < y.Int
			}
			return uint64(x.Int) < uint64(y.Int)
		})
	}
	return es
}

func isIntValues(es []Entry) bool {
	return len(es) > 0 && es[0].Value.Kind == Int
}

// sortByKey sorts by integer keys (read as signed), string keys (bytes),
// and tuple keys field by field, first field first; other keys keep their
// order.
func sortByKey(es []Entry) {
	if len(es) == 0 {
		return
	}
	field := func(f func(Entry) Value) {
		switch f(es[0]).Kind {
		case Int:
			sort.SliceStable(es, func(i, j int) bool { return signExtend(f(es[i])) < signExtend(f(es[j])) })
		case String:
			sort.SliceStable(es, func(i, j int) bool { return f(es[i]).Str < f(es[j]).Str })
		}
	}
	k := es[0].Key
	if k.Kind != Tuple {
		field(func(e Entry) Value { return e.Key })
		return
	}
	for i := len(k.Elems) - 1; i >= 0; i-- {
		field(func(e Entry) Value {
			if i < len(e.Key.Elems) {
				return e.Key.Elems[i]
			}
			return Value{Kind: None}
		})
	}
}

// view applies bpftrace's sort, top (keep the last top entries) and div
// (divide counts and values; lhist ignores it).
func (m *Map) view(top, div int) []shown {
	d := uint64(1)
	if div > 0 {
		d = uint64(div)
	}
	es := m.sortEntries()
	if top > 0 && len(es) > top {
		es = es[len(es)-top:]
	}
	out := make([]shown, 0, len(es))
	for _, e := range es {
		s := shown{key: e.Key}
		switch m.Kind {
		case Hist:
			h := buildHist(e.Buckets, d, m.Bits)
			s.hist = &h
		case LHist:
			h := buildLinear(e.Buckets, m.Min, m.Max, m.Step)
			s.hist = &h
		case Avg:
			s.value = divide(m.avgOf(e), d)
		case Stats:
			avg := divide(m.avgOf(e), d)
			cnt, tot := SInt(e.Count), SInt(e.Total)
			if !m.Signed {
				cnt, tot = Uint(uint64(e.Count)), Uint(uint64(e.Total))
			}
			s.value = Value{Kind: Record, Names: []string{"count", "average", "total"},
				Elems: []Value{cnt, avg, tot}}
		default:
			s.value = divide(e.Value, d)
		}
		out = append(out, s)
	}
	return out
}

// keyText is a key as map lines show it: a tuple loses its parentheses.
func keyText(k Value) string {
	s := textString(k)
	if len(s) >= 2 && s[0] == '(' && s[len(s)-1] == ')' {
		s = s[1 : len(s)-1]
	}
	return s
}

// WriteMap writes m as bpftrace prints a map at exit or on print(@m, top,
// div): "@m[k1, k2]: v" lines, "@m: v" for a map without keys, and for
// histograms a "@m:" or "@m[k]:" line, the buckets and a blank line. A map
// without entries prints nothing. top 0 shows all entries; div 0 is 1.
// A tseries map's plots show local time (see WriteMapIn).
func WriteMap(w io.Writer, m *Map, top, div int) error {
	return WriteMapIn(w, m, top, div, nil)
}

// WriteMapIn is WriteMap with a tseries map's times shown in loc
// (time.Local when nil). A tseries map prints a plot per key (see
// writeTSeriesText) and ignores top and div, as bpftrace does.
func WriteMapIn(w io.Writer, m *Map, top, div int, loc *time.Location) error {
	var b strings.Builder
	if m.Kind == TSeries {
		writeTSeries(&b, m, loc)
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, s := range m.view(top, div) {
		b.WriteString(m.Name)
		if m.Keyed {
			b.WriteString("[" + keyText(s.key) + "]")
		}
		if s.hist != nil {
			b.WriteString(":\n")
			s.hist.writeText(&b)
		} else {
			b.WriteString(": ")
			b.WriteString(textString(s.value))
		}
		b.WriteByte('\n')
		if !m.Keyed {
			break
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonKey is a key as a JSON object member name: the text form without a
// tuple's parentheses and without any spaces ("bpftrace,2").
func jsonKey(k Value) string {
	return strings.ReplaceAll(keyText(k), " ", "")
}

// MapJSONType is the record type bpftrace gives a map: "stats" for avg()
// and stats(), "tseries" for tseries(), "hist" for hist() and lhist(),
// "map" otherwise.
func MapJSONType(m *Map) string {
	switch {
	case m.isStats():
		return "stats"
	case m.Kind == TSeries:
		return "tseries"
	case m.isHist():
		return "hist"
	}
	return "map"
}

// WriteMapJSON writes m as one bpftrace NDJSON record:
// {"type": "map", "data": {"@m": {"k": 1, "k2": 2}}}. A map without
// entries writes nothing, except that avg and stats maps write {}. A
// tseries map writes {"type": "tseries", "data": {"@m": [{"interval_start":
// "1970-01-01 00:00:00.500000000","value":9}]}} (times in UTC, only the
// intervals that have a value, and an object by key for a keyed map); top
// and div do not apply to it.
func WriteMapJSON(w io.Writer, m *Map, top, div int) error {
	if m.Kind == TSeries {
		var b strings.Builder
		writeTSeriesRecord(&b, m)
		_, err := io.WriteString(w, b.String())
		return err
	}
	vs := m.view(top, div)
	if len(vs) == 0 && !m.isStats() {
		return nil
	}
	var b strings.Builder
	b.WriteString(`{"type": "` + MapJSONType(m) + `", "data": {`)
	appendJSONString(&b, m.Name)
	b.WriteString(": ")
	val := func(s shown) {
		if s.hist != nil {
			s.hist.writeJSON(&b)
		} else {
			appendJSON(&b, s.value)
		}
	}
	if !m.Keyed && len(vs) > 0 {
		val(vs[0])
	} else {
		b.WriteByte('{')
		for i, s := range vs {
			if i > 0 {
				b.WriteString(", ")
			}
			appendJSONString(&b, jsonKey(s.key))
			b.WriteString(": ")
			val(s)
		}
		b.WriteByte('}')
	}
	b.WriteString("}}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// KeyText is a key as map lines show it ("bpftrace, 2" for a tuple).
func KeyText(k Value) string { return keyText(k) }
