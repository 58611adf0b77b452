package scriptout

import (
	"strings"
	"testing"
)

// hist builds a Hist entry from sample values, indexing buckets as
// bpftrace's kernel code does.
func histEntry(key Value, k int, vals ...int64) Entry {
	e := Entry{Key: key}
	for _, v := range vals {
		i := Log2Index(v, k)
		for len(e.Buckets) <= i {
			e.Buckets = append(e.Buckets, 0)
		}
		e.Buckets[i]++
	}
	return e
}

func lhistEntry(key Value, lmin, lmax, step int64, vals ...int64) Entry {
	e := Entry{Key: key, Buckets: make([]uint64, (lmax-lmin)/step+2)}
	for _, v := range vals {
		e.Buckets[LinearIndex(v, lmin, lmax, step)]++
	}
	return e
}

func text(t *testing.T, m *Map, top, div int) string {
	t.Helper()
	var b strings.Builder
	if err := WriteMap(&b, m, top, div); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func jsonOut(t *testing.T, m *Map, top, div int) string {
	t.Helper()
	var b strings.Builder
	if err := WriteMapJSON(&b, m, top, div); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLog2Index(t *testing.T) {
	// The worked example in bpftrace's createLog2Function: 225, k=2 -> 28.
	cases := []struct {
		v    int64
		k, i int
	}{{-1, 0, 0}, {0, 0, 1}, {1, 0, 2}, {2, 0, 3}, {3, 0, 3}, {4, 0, 4}, {1024, 0, 12}, {225, 2, 28}, {15, 3, 16}, {16, 3, 17}}
	for _, c := range cases {
		if got := Log2Index(c.v, c.k); got != c.i {
			t.Errorf("Log2Index(%d, %d) = %d, want %d", c.v, c.k, got, c.i)
		}
	}
}

// Expected texts are bpftrace v0.26.1's tests/runtime/outputs and the
// EXPECTs of tests/runtime/call, json-output and tests/bpftrace.cpp.
func TestMapText(t *testing.T) {
	cases := []struct {
		name     string
		m        Map
		top, div int
		want     string
	}{
		{"hist.txt", Map{Name: "@", Kind: Hist, Entries: []Entry{histEntry(Value{}, 0, -1, 2, 3, 7, 20)}}, 0, 0,
			"@:\n" +
				"(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n" +
				"[0]                    0 |                                                    |\n" +
				"[1]                    0 |                                                    |\n" +
				"[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n" +
				"[8, 16)                0 |                                                    |\n" +
				"[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\n"},
		{"hist_2_values.txt", Map{Name: "@", Kind: Hist, Entries: []Entry{histEntry(Value{}, 0, 3, 20)}}, 0, 0,
			"@:\n" +
				"[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[4, 8)                 0 |                                                    |\n" +
				"[8, 16)                0 |                                                    |\n" +
				"[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{"lhist.txt", Map{Name: "@", Kind: LHist, Min: 0, Max: 10, Step: 2, Entries: []Entry{lhistEntry(Value{}, 0, 10, 2, 2, 3, 7, -1, 11)}}, 0, 0,
			"@:\n" +
				"(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n" +
				"[0, 2)                 0 |                                                    |\n" +
				"[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[4, 6)                 0 |                                                    |\n" +
				"[6, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n" +
				"[8, 10)                0 |                                                    |\n" +
				"[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\n"},
		{"lhist K labels, sorted by total, top 1", Map{Name: "lhist_map_2", Kind: LHist, Keyed: true, Min: 0, Max: 5 * 1024, Step: 1024, Entries: []Entry{
			{Key: SInt(0), Buckets: []uint64{0, 10, 20, 30, 40, 50, 0}},
			{Key: SInt(1), Buckets: []uint64{0, 2, 2, 2, 2, 2, 0}}}}, 1, 0,
			"lhist_map_2[0]:\n" +
				"[0, 1K)               10 |@@@@@@@@@@                                          |\n" +
				"[1K, 2K)              20 |@@@@@@@@@@@@@@@@@@@@                                |\n" +
				"[2K, 3K)              30 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                     |\n" +
				"[3K, 4K)              40 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@           |\n" +
				"[4K, 5K)              50 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{"lhist overflow only", Map{Name: "@", Kind: LHist, Min: 0, Max: 10, Step: 2, Entries: []Entry{lhistEntry(Value{}, 0, 10, 2, 50)}}, 0, 0,
			"@:\n[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{"lhist_no_suffix", Map{Name: "@mymap", Kind: LHist, Min: 610000, Max: 670000, Step: 10000, Entries: []Entry{{Buckets: []uint64{0, 1, 1, 1, 1, 1, 1, 0}}}}, 0, 0,
			"@mymap:\n" +
				"[610000, 620000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[620000, 630000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[630000, 640000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[640000, 650000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[650000, 660000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[660000, 670000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{"lhist_overflow_only", Map{Name: "@mymap", Kind: LHist, Min: 0, Max: 100, Step: 10, Entries: []Entry{{Buckets: []uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}}}, 0, 0,
			"@mymap:\n[100, ...)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{"lhist_underflow_only", Map{Name: "@mymap", Kind: LHist, Min: 10, Max: 110, Step: 10, Entries: []Entry{{Buckets: []uint64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}}, 0, 0,
			"@mymap:\n(..., 10)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		// 0.26.1 (unlike 0.17) writes a one-value lhist bucket as "[3]".
		{"lhist step 1", Map{Name: "@", Kind: LHist, Min: 0, Max: 10, Step: 1, Entries: []Entry{lhistEntry(Value{}, 0, 10, 1, 3, 4, 4)}}, 0, 0,
			"@:\n[3]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n" +
				"[4]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{"hist zeroed", Map{Name: "@hist", Kind: Hist, Entries: []Entry{{Buckets: make([]uint64, 4)}}}, 0, 0, "@hist:\n\n"},
		{"avg, div", Map{Name: "@", Kind: Avg, Keyed: true, Entries: []Entry{
			{Key: Str("a"), Count: 1, Total: 10}, {Key: Str("b"), Count: 1, Total: 20},
			{Key: Str("c"), Count: 1, Total: 30}, {Key: Str("d"), Count: 1, Total: 40}}}, 2, 10,
			"@[c]: 3\n@[d]: 4\n"},
		{"avg, large top", Map{Name: "@", Kind: Avg, Keyed: true, Entries: []Entry{
			{Key: Str("d"), Count: 1, Total: 40}, {Key: Str("b"), Count: 1, Total: 20},
			{Key: Str("a"), Count: 1, Total: 10}, {Key: Str("c"), Count: 1, Total: 30}}}, 10, 10,
			"@[a]: 1\n@[b]: 2\n@[c]: 3\n@[d]: 4\n"},
		{"avg per-cpu sums", Map{Name: "avg_map_3", Kind: Avg, Keyed: true, Entries: []Entry{
			{Key: SInt(3), Count: 1, Total: 200}, {Key: SInt(1), Count: 3, Total: 16}, {Key: SInt(2), Count: 2, Total: 28}}}, 0, 2,
			"avg_map_3[1]: 2\navg_map_3[2]: 7\navg_map_3[3]: 100\n"},
		{"stats", Map{Name: "@stats", Kind: Stats, Entries: []Entry{{Count: 3, Total: 6}}}, 0, 0,
			"@stats: { .count = 3, .average = 2, .total = 6 }\n"},
		{"signed stats", Map{Name: "@", Kind: Stats, Signed: true, Entries: []Entry{{Count: 3, Total: -10}}}, 0, 0,
			"@: { .count = 3, .average = -3, .total = -10 }\n"},
		{"strings sorted by key", Map{Name: "string_map_4", Keyed: true, Entries: []Entry{
			{Key: SInt(3), Value: Str("hello")}, {Key: SInt(1), Value: Str("world")}, {Key: SInt(2), Value: Str("bpftrace")}}}, 2, 2,
			"string_map_4[2]: bpftrace\nstring_map_4[3]: hello\n"},
		{"tuple key", Map{Name: "@x", Keyed: true, Entries: []Entry{{Key: tuple(SInt(2), SInt(1)), Value: SInt(2)}}}, 0, 0, "@x[2, 1]: 2\n"},
		{"scalar string", Map{Name: "@x", Entries: []Entry{{Value: Str("xxxx")}}}, 0, 0, "@x: xxxx\n"},
		{"tuple value", Map{Name: "@", Entries: []Entry{{Value: tuple(SInt(1), tuple(SInt(2), Str("XXXX")))}}}, 0, 0, "@: (1, (2, XXXX))\n"},
		{"counts by value", Map{Name: "@c", Kind: Count, Keyed: true, Entries: []Entry{
			{Key: Str("b"), Value: Uint(5)}, {Key: Str("a"), Value: Uint(9)}, {Key: Str("c"), Value: Uint(1)}}}, 0, 0,
			"@c[c]: 1\n@c[b]: 5\n@c[a]: 9\n"},
		{"signed sums", Map{Name: "@s", Kind: Sum, Keyed: true, Entries: []Entry{
			{Key: SInt(1), Value: SInt(5)}, {Key: SInt(2), Value: SInt(-7)}}}, 0, 0,
			"@s[2]: -7\n@s[1]: 5\n"},
		{"empty", Map{Name: "@e", Kind: Count, Keyed: true}, 0, 0, ""},
		{"keyed hist, top", Map{Name: "@", Kind: Hist, Keyed: true, Entries: []Entry{
			histEntry(SInt(3), 0, 30), histEntry(SInt(1), 0, 10), histEntry(SInt(2), 0, 20, 20)}}, 1, 0,
			"@[2]:\n[16, 32)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{"hist suffixes", Map{Name: "@", Kind: Hist, Entries: []Entry{histEntry(Value{}, 0, 1500, 3<<20)}}, 0, 0, ""},
	}
	for _, c := range cases {
		got := text(t, &c.m, c.top, c.div)
		if c.name == "hist suffixes" {
			for _, l := range []string{"[1K, 2K)", "[2M, 4M)", "[512K, 1M)"} {
				if !strings.Contains(got, "\n"+l+" ") {
					t.Errorf("%s: no %q in\n%s", c.name, l, got)
				}
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", c.name, got, c.want)
		}
	}
}

func TestMapJSON(t *testing.T) {
	fine := histEntry(Value{}, 3)
	for v := int64(0); v < 1024; v++ {
		i := Log2Index(v, 3)
		for len(fine.Buckets) <= i {
			fine.Buckets = append(fine.Buckets, 0)
		}
		fine.Buckets[i]++
	}
	cases := []struct {
		name     string
		m        Map
		top, div int
		want     string
	}{
		{"scalar", Map{Name: "@scalar", Entries: []Entry{{Value: SInt(5)}}}, 0, 0, `{"type": "map", "data": {"@scalar": 5}}`},
		{"scalar_str", Map{Name: "@scalar_str", Entries: []Entry{{Value: Str("a b \n d e")}}}, 0, 0, `{"type": "map", "data": {"@scalar_str": "a b \n d e"}}`},
		{"complex", Map{Name: "@complex", Keyed: true, Entries: []Entry{{Key: tuple(Str("bpftrace"), SInt(2)), Value: SInt(5)}}}, 0, 0,
			`{"type": "map", "data": {"@complex": {"bpftrace,2": 5}}}`},
		{"map", Map{Name: "@map", Keyed: true, Entries: []Entry{{Key: Str("key2"), Value: SInt(3)}, {Key: Str("key1"), Value: SInt(2)}}}, 0, 0,
			`{"type": "map", "data": {"@map": {"key1": 2, "key2": 3}}}`},
		{"histogram", Map{Name: "@hist", Kind: Hist, Entries: []Entry{histEntry(Value{}, 0, 2, 1025)}}, 0, 0,
			`{"type": "hist", "data": {"@hist": [{"min": 2, "max": 3, "count": 1},{"min": 4, "max": 7, "count": 0},{"min": 8, "max": 15, "count": 0},{"min": 16, "max": 31, "count": 0},{"min": 32, "max": 63, "count": 0},{"min": 64, "max": 127, "count": 0},{"min": 128, "max": 255, "count": 0},{"min": 256, "max": 511, "count": 0},{"min": 512, "max": 1023, "count": 0},{"min": 1024, "max": 2047, "count": 1}]}}`},
		{"histogram zero", Map{Name: "@hist", Kind: Hist, Entries: []Entry{{Buckets: make([]uint64, 8)}}}, 0, 0, `{"type": "hist", "data": {"@hist": []}}`},
		{"hist 10g", Map{Name: "@", Kind: Hist, Entries: []Entry{histEntry(Value{}, 0, 10<<30)}}, 0, 0,
			`{"type": "hist", "data": {"@": [{"min": 8589934592, "max": 17179869183, "count": 1}]}}`},
		{"multiple histograms", Map{Name: "@", Kind: Hist, Keyed: true, Entries: []Entry{
			histEntry(Str("curl"), 0, -1, 0, 511, 1024, 1025), histEntry(Str("bpftrace"), 0, 2)}}, 0, 0,
			`{"type": "hist", "data": {"@": {"bpftrace": [{"min": 2, "max": 3, "count": 1}], "curl": [{"max": -1, "count": 1},{"min": 0, "max": 0, "count": 1},{"min": 1, "max": 1, "count": 0},{"min": 2, "max": 3, "count": 0},{"min": 4, "max": 7, "count": 0},{"min": 8, "max": 15, "count": 0},{"min": 16, "max": 31, "count": 0},{"min": 32, "max": 63, "count": 0},{"min": 64, "max": 127, "count": 0},{"min": 128, "max": 255, "count": 0},{"min": 256, "max": 511, "count": 1},{"min": 512, "max": 1023, "count": 0},{"min": 1024, "max": 2047, "count": 2}]}}}`},
		{"lhist", Map{Name: "@h", Kind: LHist, Min: 0, Max: 100, Step: 10, Entries: []Entry{lhistEntry(Value{}, 0, 100, 10, 2, 50, 1000)}}, 0, 0,
			`{"type": "hist", "data": {"@h": [{"min": 0, "max": 9, "count": 1},{"min": 10, "max": 19, "count": 0},{"min": 20, "max": 29, "count": 0},{"min": 30, "max": 39, "count": 0},{"min": 40, "max": 49, "count": 0},{"min": 50, "max": 59, "count": 1},{"min": 60, "max": 69, "count": 0},{"min": 70, "max": 79, "count": 0},{"min": 80, "max": 89, "count": 0},{"min": 90, "max": 99, "count": 0},{"min": 100, "count": 1}]}}`},
		{"stats", Map{Name: "@stats", Kind: Stats, Entries: []Entry{{Count: 2, Total: 12}}}, 0, 0,
			`{"type": "stats", "data": {"@stats": {"count": 2, "average": 6, "total": 12}}}`},
		{"stats multiple", Map{Name: "@stats", Kind: Stats, Keyed: true, Entries: []Entry{{Key: Str("zsh"), Count: 1, Total: 10}, {Key: Str("curl"), Count: 1, Total: 2}}}, 0, 0,
			`{"type": "stats", "data": {"@stats": {"curl": {"count": 1, "average": 2, "total": 2}, "zsh": {"count": 1, "average": 10, "total": 10}}}}`},
		{"print_avg_map_args", Map{Name: "@", Kind: Avg, Keyed: true, Entries: []Entry{
			{Key: Str("a"), Count: 1, Total: 10}, {Key: Str("b"), Count: 1, Total: 20},
			{Key: Str("c"), Count: 1, Total: 30}, {Key: Str("d"), Count: 1, Total: 40}}}, 2, 10,
			`{"type": "stats", "data": {"@": {"c": 3, "d": 4}}}`},
		{"print_hist_with_top_arg", Map{Name: "@", Kind: Hist, Keyed: true, Entries: []Entry{
			histEntry(SInt(1), 0, 10), histEntry(SInt(2), 0, 20), histEntry(SInt(3), 0, 30)}}, 2, 0,
			`{"type": "hist", "data": {"@": {"2": [{"min": 16, "max": 31, "count": 1}], "3": [{"min": 16, "max": 31, "count": 1}]}}}`},
		{"tuple", Map{Name: "@", Entries: []Entry{{Value: tuple(SInt(1), SInt(2), Str("string"), tuple(SInt(4), SInt(5)))}}}, 0, 0,
			`{"type": "map", "data": {"@": [1,2,"string",[4,5]]}}`},
		{"tuple_with_escaped_string", Map{Name: "@", Entries: []Entry{{Value: tuple(SInt(1), SInt(2), Str(`string with "quotes"`))}}}, 0, 0,
			`{"type": "map", "data": {"@": [1,2,"string with \"quotes\""]}}`},
		{"record", Map{Name: "@a", Entries: []Entry{{Value: Value{Kind: Record, Names: []string{"a", "b", "c", "d", "e"}, Elems: []Value{
			SInt(0), SInt(1), Str("str"), tuple(SInt(5), SInt(6)), {Kind: Record, Names: []string{"x", "y"}, Elems: []Value{SInt(1), SInt(2)}}}}}}}, 0, 0,
			`{"type": "map", "data": {"@a": {"a": 0, "b": 1, "c": "str", "d": [5,6], "e": {"x": 1, "y": 2}}}}`},
		{"print_hex_values", Map{Name: "@", Entries: []Entry{{Value: Value{Kind: Pointer, Int: 0x32}}}}, 0, 0, `{"type": "map", "data": {"@": 50}}`},
		{"empty", Map{Name: "@", Kind: Count, Keyed: true}, 0, 0, ``},
		{"empty avg", Map{Name: "@", Kind: Avg, Keyed: true}, 0, 0, `{"type": "stats", "data": {"@": {}}}`},
		{"key spaces", Map{Name: "@", Keyed: true, Entries: []Entry{{Key: Str("a b"), Value: SInt(1)}}}, 0, 0, `{"type": "map", "data": {"@": {"ab": 1}}}`},
		{"big", Map{Name: "@", Entries: []Entry{{Value: Uint(1<<63 + 1)}}}, 0, 0, `{"type": "map", "data": {"@": "9223372036854775809"}}`},
	}
	for _, c := range cases {
		got := jsonOut(t, &c.m, c.top, c.div)
		want := c.want
		if want != "" {
			want += "\n"
		}
		if got != want {
			t.Errorf("%s:\ngot  %s\nwant %s", c.name, got, want)
		}
	}
	// hist_2args.json: hist($i, 3) for $i in 0..1023, checked in part.
	got := jsonOut(t, &Map{Name: "@", Kind: Hist, Bits: 3, Entries: []Entry{fine}}, 0, 0)
	for _, part := range []string{
		`{"type": "hist", "data": {"@": [{"min": 0, "max": 0, "count": 1},`,
		`{"min": 15, "max": 15, "count": 1},{"min": 16, "max": 17, "count": 2},`,
		`{"min": 224, "max": 239, "count": 16},`,
		`{"min": 960, "max": 1023, "count": 64}]}}`,
	} {
		if !strings.Contains(got, part) {
			t.Errorf("hist_2args: no %s in %s", part, got)
		}
	}
}
