package scriptout

import (
	"strings"
	"testing"
	"time"
)

// tsKernel plays the kernel program's tseries() on a per-CPU hash map
// keyed by (key, bucket), as bpftrace v0.26.1's code generation does:
// epoch = now / interval, bucket = epoch % n; a new key starts from a
// zero slot of this epoch; an aggregating call that finds another epoch
// in its CPU's slot clears it first; the last-value mode stores the value
// and now, avg adds the value and counts, sum adds, min and max keep the
// extreme and set meta to 1.
type tsKernel struct {
	interval, n uint64
	agg         string
	signed      bool
	ncpu        int
	keys        []Value
	slots       map[string]map[uint64][]TSPoint
}

func newTSKernel(interval, n uint64, agg string, signed bool, ncpu int) *tsKernel {
	return &tsKernel{interval: interval, n: n, agg: agg, signed: signed, ncpu: ncpu,
		slots: map[string]map[uint64][]TSPoint{}}
}

func (k *tsKernel) call(key Value, cpu int, v int64, now uint64) {
	epoch := now / k.interval
	bucket := epoch % k.n
	id := textString(key)
	byBucket, ok := k.slots[id]
	if !ok {
		byBucket = map[uint64][]TSPoint{}
		k.slots[id] = byBucket
		k.keys = append(k.keys, key)
	}
	slots, ok := byBucket[bucket]
	if !ok {
		slots = make([]TSPoint, k.ncpu)
		for i := range slots {
			slots[i].Bucket = bucket
		}
		slots[cpu].Epoch = epoch
		byBucket[bucket] = slots
	}
	s := &slots[cpu]
	if k.agg != "" && s.Epoch != epoch {
		s.Value, s.Meta = 0, 0
	}
	less := func(a, b int64) bool {
		if k.signed {
			return a < b
		}
		return uint64(a) < uint64(b)
	}
	switch k.agg {
	case "avg":
		s.Meta++
		s.Value += v
	case "sum":
		s.Value += v
	case "min", "max":
		if s.Meta != 1 || (k.agg == "max" && !less(v, s.Value)) || (k.agg == "min" && !less(s.Value, v)) {
			s.Value = v
			s.Meta = 1
		}
	default:
		s.Value, s.Meta = v, now
	}
	s.Epoch = epoch
}

// zero is zero(@m): every slot of every key and bucket set to zeros.
func (k *tsKernel) zero() {
	for _, byBucket := range k.slots {
		for b, slots := range byBucket {
			byBucket[b] = make([]TSPoint, len(slots))
		}
	}
}

// dump is the map as the kernel side reads it: an entry per key, every
// slot of every bucket (in no particular order) in Series.
func (k *tsKernel) dump(name string, keyed bool) *Map {
	m := &Map{Name: name, Kind: TSeries, Keyed: keyed, Signed: k.signed,
		Interval: k.interval, NumIntervals: k.n, Agg: k.agg}
	for i := len(k.keys) - 1; i >= 0; i-- { // not the print order
		e := Entry{Key: k.keys[i]}
		if !keyed {
			e.Key = Value{}
		}
		for _, slots := range k.slots[textString(k.keys[i])] {
			e.Series = append(e.Series, slots...)
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}

const ms = uint64(time.Millisecond)

// tsLoop is the runtime tests' probe: @ts from 0, a hundred calls of
// tseries($i % 10, 100ms, 5, agg), @ts advancing 10ms after each.
func tsLoop(agg string) *tsKernel {
	k := newTSKernel(100*ms, 5, agg, false, 2)
	var now uint64
	for i := int64(0); i < 100; i++ {
		k.call(Value{}, 1, i%10, now)
		now += 10 * ms
	}
	return k
}

// tsMultiple: five calls of @a["one"] = tseries(5, 100ms, 10), then five
// of @a["two"] = tseries(4, 100ms, 10), @ts advancing 100ms each, from 0.
func tsMultiple() *tsKernel {
	k := newTSKernel(100*ms, 10, "", false, 4)
	var now uint64
	for _, kv := range []struct {
		key string
		v   int64
	}{{"one", 5}, {"two", 4}} {
		for i := 0; i < 5; i++ {
			k.call(Str(kv.key), 2, kv.v, now)
			now += 100 * ms
		}
	}
	return k
}

// tsZigzag: @c from -5 up to 5 and back down, one @ = tseries(@c, 100ms,
// 20) per 100ms from @ts = 100ms, twenty calls; @c is signed.
func tsZigzag() *tsKernel {
	k := newTSKernel(100*ms, 20, "", true, 1)
	now, c, dir := 100*ms, int64(-5), int64(1)
	for i := 0; i < 20; i++ {
		k.call(Value{}, 0, c, now)
		now += 100 * ms
		c += dir
		if c > 5 {
			dir, c = -1, 4
		} else if c < -5 {
			dir, c = 1, -4
		}
	}
	return k
}

func tsText(t *testing.T, m *Map, loc *time.Location) string {
	t.Helper()
	var b strings.Builder
	if err := WriteMapIn(&b, m, 0, 0, loc); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Expected outputs: bpftrace v0.26.1's tests/runtime/outputs/tseries*,
// with the timestamps as its harness localizes them for epoch 0 in UTC
// (LOCALIZE_TIMESTAMPS 0), and the JSON in bpftrace's own spacing.
const (
	tsLastText = `@a:
             8                                                  10
hh:mm:ss.ms  |___________________________________________________|
00:00:00.500 |                         *                         | 9
00:00:00.600 |                         *                         | 9
00:00:00.700 |                         *                         | 9
00:00:00.800 |                         *                         | 9
00:00:00.900 |                         *                         | 9
             v___________________________________________________v
             8                                                  10

`
	tsminText = `@a:
             0                                                   1
hh:mm:ss.ms  |___________________________________________________|
00:00:00.500 *                                                   | 0
00:00:00.600 *                                                   | 0
00:00:00.700 *                                                   | 0
00:00:00.800 *                                                   | 0
00:00:00.900 *                                                   | 0
             v___________________________________________________v
             0                                                   1

`
	tsmaxText = `@a:
             8                                                  10
hh:mm:ss.ms  |___________________________________________________|
00:00:00.500 |                         *                         | 9
00:00:00.600 |                         *                         | 9
00:00:00.700 |                         *                         | 9
00:00:00.800 |                         *                         | 9
00:00:00.900 |                         *                         | 9
             v___________________________________________________v
             8                                                  10

`
	tsavgText = `@a:
             3                                                   5
hh:mm:ss.ms  |___________________________________________________|
00:00:00.500 |                         *                         | 4
00:00:00.600 |                         *                         | 4
00:00:00.700 |                         *                         | 4
00:00:00.800 |                         *                         | 4
00:00:00.900 |                         *                         | 4
             v___________________________________________________v
             3                                                   5

`
	tsmultipleText = `@a[one]:
             0                                                   5
hh:mm:ss.ms  |___________________________________________________|
00:00:00.000 *                                                   | 0
00:00:00.100 |                                                   * 5
00:00:00.200 |                                                   * 5
00:00:00.300 |                                                   * 5
00:00:00.400 |                                                   * 5
00:00:00.500 |                                                   | -
00:00:00.600 |                                                   | -
00:00:00.700 |                                                   | -
00:00:00.800 |                                                   | -
00:00:00.900 |                                                   | -
             v___________________________________________________v
             0                                                   5

@a[two]:
             3                                                   5
hh:mm:ss.ms  |___________________________________________________|
00:00:00.500 |                         *                         | 4
00:00:00.600 |                         *                         | 4
00:00:00.700 |                         *                         | 4
00:00:00.800 |                         *                         | 4
00:00:00.900 |                         *                         | 4
             v___________________________________________________v
             3                                                   5

`
	tszigzagText = `@:
             -5                                                  5
hh:mm:ss.ms  |___________________________________________________|
00:00:00.100 *                         .                         | -5
00:00:00.200 |    *                    .                         | -4
00:00:00.300 |         *               .                         | -3
00:00:00.400 |              *          .                         | -2
00:00:00.500 |                   *     .                         | -1
00:00:00.600 |                         *                         | 0
00:00:00.700 |                         .    *                    | 1
00:00:00.800 |                         .         *               | 2
00:00:00.900 |                         .              *          | 3
00:00:01.000 |                         .                   *     | 4
00:00:01.100 |                         .                         * 5
00:00:01.200 |                         .                   *     | 4
00:00:01.300 |                         .              *          | 3
00:00:01.400 |                         .         *               | 2
00:00:01.500 |                         .    *                    | 1
00:00:01.600 |                         *                         | 0
00:00:01.700 |                   *     .                         | -1
00:00:01.800 |              *          .                         | -2
00:00:01.900 |         *               .                         | -3
00:00:02.000 |    *                    .                         | -4
             v___________________________________________________v
             -5                                                  5

`
)

func tsJSONPoints(value string, starts ...string) string {
	var ps []string
	for _, s := range starts {
		ps = append(ps, `{"interval_start":"1970-01-01 00:00:0`+s+`","value":`+value+`}`)
	}
	return "[" + strings.Join(ps, ",") + "]"
}

func TestTSeriesRuntimeOutputs(t *testing.T) {
	last5 := []string{"0.500000000", "0.600000000", "0.700000000", "0.800000000", "0.900000000"}
	zeroed := tsLoop("avg")
	zeroed.zero()
	cases := []struct {
		name     string
		m        *Map
		text     string
		json     string
		skipJSON bool
	}{
		{name: "tseries", m: tsLoop("").dump("@a", false), text: tsLastText,
			json: `{"type": "tseries", "data": {"@a": ` + tsJSONPoints("9", last5...) + "}}\n"},
		{name: "tseries_min", m: tsLoop("min").dump("@a", false), text: tsminText,
			json: `{"type": "tseries", "data": {"@a": ` + tsJSONPoints("0", last5...) + "}}\n"},
		{name: "tseries_max", m: tsLoop("max").dump("@a", false), text: tsmaxText,
			json: `{"type": "tseries", "data": {"@a": ` + tsJSONPoints("9", last5...) + "}}\n"},
		{name: "tseries_avg", m: tsLoop("avg").dump("@a", false), text: tsavgText,
			json: `{"type": "tseries", "data": {"@a": ` + tsJSONPoints("4", last5...) + "}}\n"},
		{name: "tseries_multiple", m: tsMultiple().dump("@a", true), text: tsmultipleText,
			json: `{"type": "tseries", "data": {"@a": {"one": ` +
				`[{"interval_start":"1970-01-01 00:00:00.000000000","value":0},` +
				`{"interval_start":"1970-01-01 00:00:00.100000000","value":5},` +
				`{"interval_start":"1970-01-01 00:00:00.200000000","value":5},` +
				`{"interval_start":"1970-01-01 00:00:00.300000000","value":5},` +
				`{"interval_start":"1970-01-01 00:00:00.400000000","value":5}], ` +
				`"two": ` + tsJSONPoints("4", last5...) + "}}}\n"},
		{name: "tseries_zero", m: zeroed.dump("@a", false), text: "@a:\n<no data>\n",
			json: `{"type": "tseries", "data": {"@a": []}}` + "\n"},
		{name: "tseries_zigzag", m: tsZigzag().dump("@", false), text: tszigzagText, skipJSON: true},
	}
	for _, c := range cases {
		if got := tsText(t, c.m, time.UTC); got != c.text {
			t.Errorf("%s: text\n%s\nwant\n%s", c.name, got, c.text)
		}
		if !c.skipJSON {
			if got := jsonOut(t, c.m, 0, 0); got != c.json {
				t.Errorf("%s: JSON\n%s\nwant\n%s", c.name, got, c.json)
			}
		}
	}
}

func sp(n int) string { return strings.Repeat(" ", n) }

const (
	tsRuler  = "|___________________________________________________|\n"
	tsBottom = "v___________________________________________________v\n"
)

// Cases beyond bpftrace's runtime tests, worked out from its text.cpp,
// json.cpp, types_format.cpp and util/tseries.cpp.
func TestTSeriesBuckets(t *testing.T) {
	// Last value across CPUs: the slot written last (by timestamp) wins
	// within an epoch; a CPU's slot left from an older epoch of the same
	// bucket is ignored; only the last NumIntervals epochs show.
	last := newTSKernel(100*ms, 3, "", false, 2)
	for _, c := range []struct {
		cpu int
		v   int64
		now uint64
	}{{0, 1, 1000 * ms}, {1, 2, 1010 * ms}, {1, 5, 1120 * ms}, {0, 6, 1150 * ms}, {0, 9, 1230 * ms}, {1, 4, 1300 * ms}} {
		last.call(Value{}, c.cpu, c.v, c.now)
	}
	// avg across CPUs: sums and counts add up (9 / 3); signed values
	// below zero draw the zero line; an interval of 1s shows no fraction.
	avg := newTSKernel(1000*ms, 2, "avg", true, 2)
	avg.call(Value{}, 0, 1, 5000*ms)
	avg.call(Value{}, 0, 2, 5100*ms)
	avg.call(Value{}, 1, 6, 5200*ms)
	avg.call(Value{}, 1, -7, 6500*ms)
	// Keys print in the order of their bytes in the map (little-endian
	// integers: 256 before 1); a key with nothing in the window shows the
	// window's last epoch without a value; a single point has no interval
	// (nanoseconds) and a constant value is drawn between value-1 and +1.
	keys := newTSKernel(100*ms, 3, "", false, 1)
	keys.call(Uint(1), 0, 7, 100*ms)
	keys.call(Uint(256), 0, 1, 900*ms)
	keys.call(Uint(256), 0, 2, 1000*ms)
	keys.call(Uint(2), 0, 3, 1000*ms)
	// Sum, signed constant 0: -1 to 1.
	sum := newTSKernel(1000*ms, 1, "sum", true, 1)
	sum.call(Value{}, 0, 2, 3000*ms)
	sum.call(Value{}, 0, -2, 3500*ms)
	// Microseconds: "hh:mm:ss.μs" padded by bytes as a C++ stream does.
	us := newTSKernel(100*1000, 2, "max", false, 1)
	us.call(Value{}, 0, 5, 100*1000)
	us.call(Value{}, 0, 5, 200*1000)

	cases := []struct {
		name       string
		m          *Map
		loc        *time.Location
		text, json string
	}{
		{"last value across CPUs", last.dump("@", false), time.UTC,
			"@:\n" +
				sp(13) + "4" + sp(20) + sp(31) + "9\n" +
				"hh:mm:ss.ms  " + tsRuler +
				"00:00:01.100 |" + sp(19) + "*" + sp(31) + "| 6\n" +
				"00:00:01.200 |" + sp(51) + "* 9\n" +
				"00:00:01.300 *" + sp(51) + "| 4\n" +
				sp(13) + tsBottom +
				sp(13) + "4" + sp(20) + sp(31) + "9\n\n",
			`{"type": "tseries", "data": {"@": [{"interval_start":"1970-01-01 00:00:01.100000000","value":6},` +
				`{"interval_start":"1970-01-01 00:00:01.200000000","value":9},` +
				`{"interval_start":"1970-01-01 00:00:01.300000000","value":4}]}}` + "\n"},
		{"avg across CPUs", avg.dump("@", false), time.UTC,
			"@:\n" +
				sp(9) + "-7" + sp(19) + sp(31) + "3\n" +
				"hh:mm:ss " + tsRuler +
				"00:00:05 |" + sp(36) + "." + sp(14) + "* 3\n" +
				"00:00:06 *" + sp(36) + "." + sp(14) + "| -7\n" +
				sp(9) + tsBottom +
				sp(9) + "-7" + sp(19) + sp(31) + "3\n\n",
			`{"type": "tseries", "data": {"@": [{"interval_start":"1970-01-01 00:00:05.000000000","value":3},` +
				`{"interval_start":"1970-01-01 00:00:06.000000000","value":-7}]}}` + "\n"},
		{"keys", keys.dump("@m", true), time.UTC,
			"@m[256]:\n" +
				sp(13) + "1" + sp(20) + sp(31) + "2\n" +
				"hh:mm:ss.ms  " + tsRuler +
				"00:00:00.900 *" + sp(51) + "| 1\n" +
				"00:00:01.000 |" + sp(51) + "* 2\n" +
				sp(13) + tsBottom +
				sp(13) + "1" + sp(20) + sp(31) + "2\n\n" +
				"@m[1]:\n" +
				sp(19) + "null" + sp(17) + sp(28) + "null\n" +
				"hh:mm:ss.ns" + sp(8) + tsRuler +
				"00:00:01.000000000 |" + sp(51) + "| -\n" +
				sp(19) + tsBottom +
				sp(19) + "null" + sp(17) + sp(28) + "null\n\n" +
				"@m[2]:\n" +
				sp(19) + "2" + sp(20) + sp(31) + "4\n" +
				"hh:mm:ss.ns" + sp(8) + tsRuler +
				"00:00:01.000000000 |" + sp(25) + "*" + sp(25) + "| 3\n" +
				sp(19) + tsBottom +
				sp(19) + "2" + sp(20) + sp(31) + "4\n\n",
			`{"type": "tseries", "data": {"@m": {"256": [{"interval_start":"1970-01-01 00:00:00.900000000","value":1},` +
				`{"interval_start":"1970-01-01 00:00:01.000000000","value":2}], "1": [], ` +
				`"2": [{"interval_start":"1970-01-01 00:00:01.000000000","value":3}]}}}` + "\n"},
		{"signed constant", sum.dump("@s", false), time.UTC,
			"@s:\n" +
				sp(19) + "-1" + sp(19) + sp(31) + "1\n" +
				"hh:mm:ss.ns" + sp(8) + tsRuler +
				"00:00:03.000000000 |" + sp(25) + "*" + sp(25) + "| 0\n" +
				sp(19) + tsBottom +
				sp(19) + "-1" + sp(19) + sp(31) + "1\n\n",
			`{"type": "tseries", "data": {"@s": [{"interval_start":"1970-01-01 00:00:03.000000000","value":0}]}}` + "\n"},
		{"microseconds, +05:30", us.dump("@", false), time.FixedZone("IST", 5*3600+1800),
			"@:\n" +
				sp(16) + "4" + sp(20) + sp(31) + "6\n" +
				"hh:mm:ss.\u03bcs" + sp(4) + tsRuler +
				"05:30:00.000100 |" + sp(25) + "*" + sp(25) + "| 5\n" +
				"05:30:00.000200 |" + sp(25) + "*" + sp(25) + "| 5\n" +
				sp(16) + tsBottom +
				sp(16) + "4" + sp(20) + sp(31) + "6\n\n",
			`{"type": "tseries", "data": {"@": [{"interval_start":"1970-01-01 00:00:00.000100000","value":5},` +
				`{"interval_start":"1970-01-01 00:00:00.000200000","value":5}]}}` + "\n"},
		{"empty keyed", &Map{Name: "@e", Kind: TSeries, Keyed: true, Interval: 1e9, NumIntervals: 5}, time.UTC, "", ""},
		{"empty scalar", &Map{Name: "@e", Kind: TSeries, Interval: 1e9, NumIntervals: 5}, time.UTC, "", ""},
	}
	for _, c := range cases {
		if got := tsText(t, c.m, c.loc); got != c.text {
			t.Errorf("%s: text\n%s\nwant\n%s", c.name, got, c.text)
		}
		if got := jsonOut(t, c.m, 0, 0); got != c.json {
			t.Errorf("%s: JSON\n%s\nwant\n%s", c.name, got, c.json)
		}
	}
}

// The printer shows tseries in its Loc, ignores top and div for them,
// and TimeOffset moves the epochs' times.
func TestTSeriesPrinter(t *testing.T) {
	m := tsLoop("").dump("@a", false)
	var b strings.Builder
	p := &Printer{W: &b, Loc: time.FixedZone("CET", 3600)}
	if err := p.Map(m, 1, 10); err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(tsLastText, "\n00:00:", "\n01:00:"); b.String() != want {
		t.Errorf("text in +01:00\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	m.TimeOffset = 2 * time.Hour
	p.JSON = true
	if err := p.Map(m, 1, 10); err != nil {
		t.Fatal(err)
	}
	want := `{"type": "tseries", "data": {"@a": ` + tsJSONPoints("9", "0.500000000", "0.600000000", "0.700000000", "0.800000000", "0.900000000") + "}}\n"
	want = strings.ReplaceAll(want, "1970-01-01 00:", "1970-01-01 02:")
	if b.String() != want {
		t.Errorf("JSON with a 2h offset\n%s\nwant\n%s", b.String(), want)
	}
}
