package aggregate

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

func str(name, v string) record.KeyValue { return record.KeyValue{Name: name, Str: v} }
func num(name string, v int64) record.KeyValue {
	return record.KeyValue{Name: name, Int: v, IsInt: true}
}

// logLinear returns the LogLinear buckets of the nanosecond values vs.
func logLinear(vs ...uint64) map[int]uint64 {
	b := map[int]uint64{}
	for _, v := range vs {
		b[hist.LogLinearIndex(v)]++
	}
	return b
}

// latencyGroup is the group of the latencies vs (ns), as the kernel counts
// them: buckets, count, sum, min and max.
func latencyGroup(key record.Key, vs ...uint64) *Group {
	g := &Group{Key: key, Buckets: logLinear(vs...), Min: vs[0]}
	for _, v := range vs {
		g.Count++
		g.Sum += v
		g.Min = min(g.Min, v)
		g.Max = max(g.Max, v)
	}
	return g
}

// snapshots are synthetic snapshots of each mode, as Reader.Read returns
// them (groups by descending count).
func snapshots() []struct {
	name string
	snap *Snapshot
	f    Format
} {
	counts := &Snapshot{Name: "opens", Mode: Count, By: []string{"comm", "pid"}, Groups: []*Group{
		{Key: record.Key{str("comm", "bash"), num("pid", 4242)}, Count: 1234},
		{Key: record.Key{str("comm", "systemd-journal"), num("pid", 1)}, Count: 77},
		{Key: record.Key{str("comm", ""), num("pid", -1)}, Count: 1},
	}}
	top := *counts
	top.Name = "opens-top"
	return []struct {
		name string
		snap *Snapshot
		f    Format
	}{
		{"count", counts, Format{}},
		{"count_top", &top, Format{Top: 2}},
		{"count_renamed", &Snapshot{Name: "syscalls", Mode: Count, By: []string{"event"}, Groups: []*Group{
			// A front end renamed the class id member to the syscall.
			{Key: record.Key{str("syscall", "read")}, Count: 900},
			{Key: record.Key{str("syscall", "openat")}, Count: 12},
		}}, Format{}},
		{"count_no_key", &Snapshot{Name: "all", Mode: Count, Groups: []*Group{{Key: record.Key{}, Count: 5}}}, Format{}},
		{"count_empty", &Snapshot{Name: "none", Mode: Count, By: []string{"comm"}}, Format{}},
		{"count_map_full", &Snapshot{Name: "full", Mode: Count, By: []string{"tid"}, MapFull: 321, Groups: []*Group{
			{Key: record.Key{num("tid", 10)}, Count: 2},
		}}, Format{}},
		{"hist_log2", &Snapshot{Name: "sizes", Mode: Hist, Scheme: hist.Log2{}, By: []string{"comm"}, MapFull: 4, Groups: []*Group{
			{Key: record.Key{str("comm", "dd")}, Count: 12, Buckets: map[int]uint64{0: 1, 1: 2, 3: 4, 11: 5}},
			{Key: record.Key{str("comm", "cat")}, Count: 3, Buckets: map[int]uint64{13: 3}},
		}}, Format{}},
		{"hist_linear", &Snapshot{Name: "ret", Mode: Hist, Scheme: hist.Linear{Min: 0, Max: 100, Step: 10}, Groups: []*Group{
			{Key: record.Key{}, Count: 10, Buckets: map[int]uint64{0: 1, 1: 2, 4: 3, 11: 4}},
		}}, Format{}},
		{"latency_us", &Snapshot{Name: "runqlat", Mode: Latency, Scheme: hist.LogLinear{}, By: []string{"comm"},
			Starts: 20, Matched: 14, Pending: 2, Unmatched: 4, Groups: []*Group{
				latencyGroup(record.Key{str("comm", "kworker/0:1")}, 1500, 2500, 3000, 40_000, 41_000, 900_000, 5_000_000, 12_000, 7000, 3100),
				latencyGroup(record.Key{str("comm", "sshd")}, 250_000, 260_000, 1_200_000, 999),
			}}, Format{Unit: mustUnit("us")}},
		{"latency_ms", &Snapshot{Name: "io", Mode: Latency, Scheme: hist.LogLinear{}, MapFull: 9, Groups: []*Group{
			latencyGroup(record.Key{}, 1_000_000, 2_500_000, 3_000_000, 40_000_000, 41_000_000, 250_000_000),
		}}, Format{Unit: mustUnit("ms")}},
		{"latency_default_unit", &Snapshot{Name: "wait", Mode: Latency, Scheme: hist.LogLinear{}, Groups: []*Group{
			latencyGroup(record.Key{num("pid", 7)}, 5000, 6000),
		}}, Format{}},
	}
}

func mustUnit(name string) hist.Unit {
	u, err := hist.ParseUnit(name)
	if err != nil {
		panic(err)
	}
	return u
}

func TestWriteTextGolden(t *testing.T) {
	for _, tt := range snapshots() {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, tt.snap, tt.f); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "text", tt.name+".txt"), b.Bytes())
		})
	}
}

func TestJSONGolden(t *testing.T) {
	for _, tt := range snapshots() {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := JSON(tt.snap, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(raw) {
				t.Fatalf("JSON is not valid: %s", raw)
			}
			var b bytes.Buffer
			if err := WriteJSON(&b, tt.snap, tt.f); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != string(raw)+"\n" {
				t.Errorf("WriteJSON = %q, want JSON and a newline", got)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, raw, "", "\t"); err != nil {
				t.Fatal(err)
			}
			indented.WriteByte('\n')
			golden.Check(t, filepath.Join("testdata", "json", tt.name+".json"), indented.Bytes())
		})
	}
}

// TestJSONMeaning checks what the golden JSON files hold against the
// snapshots: the groups in order, their counts and the buckets' counts.
func TestJSONMeaning(t *testing.T) {
	for _, tt := range snapshots() {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := JSON(tt.snap, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Counts []struct {
					Key   json.RawMessage
					Count uint64
				}
				Histograms []struct {
					Key     json.RawMessage
					Buckets []hist.Bucket
				}
				Latencies []struct {
					Key     json.RawMessage
					C       uint64        `json:"count"`
					Min     uint64        `json:"min_ns"`
					Max     uint64        `json:"max_ns"`
					Avg     float64       `json:"avg_ns"`
					P50     float64       `json:"p50_ns"`
					P99     float64       `json:"p99_ns"`
					Buckets []hist.Bucket `json:"buckets"`
				}
				Lost, Unmatched, Pending *uint64
			}
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatal(err)
			}
			groups := tt.f.groups(tt.snap)
			if out.Lost == nil || *out.Lost != tt.snap.MapFull {
				t.Errorf("lost = %v, want %d", out.Lost, tt.snap.MapFull)
			}
			switch tt.snap.Mode {
			case Count:
				if len(out.Counts) != len(groups) || out.Histograms != nil || out.Latencies != nil {
					t.Fatalf("%d counts for %d groups (%s)", len(out.Counts), len(groups), raw)
				}
				for i, g := range groups {
					if out.Counts[i].Count != g.Count || string(out.Counts[i].Key) != string(KeyJSON(g.Key)) {
						t.Errorf("count %d = %s %d, want %s %d", i, out.Counts[i].Key, out.Counts[i].Count, KeyJSON(g.Key), g.Count)
					}
				}
			case Hist:
				if len(out.Histograms) != len(groups) {
					t.Fatalf("%d histograms for %d groups", len(out.Histograms), len(groups))
				}
				for i, g := range groups {
					checkBuckets(t, out.Histograms[i].Buckets, g)
				}
			case Latency:
				if len(out.Latencies) != len(groups) || out.Unmatched == nil || *out.Unmatched != tt.snap.Unmatched ||
					out.Pending == nil || *out.Pending != tt.snap.Pending {
					t.Fatalf("latencies %d for %d groups, unmatched %v pending %v", len(out.Latencies), len(groups), out.Unmatched, out.Pending)
				}
				for i, g := range groups {
					l := out.Latencies[i]
					if l.C != g.Count || l.Min != g.Min || l.Max != g.Max || l.Avg != float64(g.Sum)/float64(g.Count) {
						t.Errorf("latency %d = count %d min %d max %d avg %g; want %d %d %d %g", i, l.C, l.Min, l.Max, l.Avg, g.Count, g.Min, g.Max, float64(g.Sum)/float64(g.Count))
					}
					if l.P50 < float64(g.Min) || l.P50 > float64(g.Max) || l.P99 < l.P50 || l.P99 > float64(g.Max) {
						t.Errorf("latency %d: p50 %g p99 %g outside [%d, %d] or out of order", i, l.P50, l.P99, g.Min, g.Max)
					}
					checkBuckets(t, l.Buckets, g)
				}
			}
		})
	}
}

// checkBuckets checks that the JSON buckets hold exactly g's counts, from
// its first non-empty bucket to its last.
func checkBuckets(t *testing.T, bs []hist.Bucket, g *Group) {
	t.Helper()
	var total uint64
	for _, b := range bs {
		if b.Count != g.Buckets[b.Index] {
			t.Errorf("bucket %d: count %d, want %d", b.Index, b.Count, g.Buckets[b.Index])
		}
		if b.Low >= b.High {
			t.Errorf("bucket %d: [%g, %g) is empty", b.Index, b.Low, b.High)
		}
		total += b.Count
	}
	if total != g.Count {
		t.Errorf("buckets hold %d, the group %d", total, g.Count)
	}
	if len(bs) > 0 && (bs[0].Count == 0 || bs[len(bs)-1].Count == 0) {
		t.Errorf("buckets do not start and end with a non-empty one: %v", bs)
	}
}

func TestWriteTextContents(t *testing.T) {
	// The lines the golden files must hold, written out by hand.
	tests := []struct {
		name  string
		lines []string
		not   []string
	}{
		{"count", []string{
			"COUNT        COMM PID",
			"1234         bash 4242",
			"77           systemd-journal 1",
			"1             -1",
		}, []string{"not counted"}},
		{"count_top", []string{"1234         bash 4242", "77           systemd-journal 1"}, []string{" -1"}},
		{"count_renamed", []string{"COUNT        SYSCALL", "900          read"}, []string{"EVENT"}},
		{"count_empty", []string{"COUNT        COMM"}, nil},
		{"count_map_full", []string{"(321 events not counted: the key map is full)"}, nil},
		{"hist_log2", []string{"comm=dd", "comm=cat", "(4 events not counted: the key map is full)"}, nil},
		{"latency_us", []string{
			"comm=kworker/0:1",
			"usecs",
			"count 10  avg 601.0  min 1.5  max 5000.0",
			"4 start events were not followed by their end event",
		}, nil},
		{"latency_ms", []string{"msecs", "count 6  avg 56.2  min 1.0  max 250.0", "(9 events not counted"}, []string{"start events"}},
		{"latency_default_unit", []string{"pid=7", "usecs", "count 2  avg 5.5  min 5.0  max 6.0"}, nil},
	}
	snaps := map[string]struct {
		snap *Snapshot
		f    Format
	}{}
	for _, s := range snapshots() {
		snaps[s.name] = struct {
			snap *Snapshot
			f    Format
		}{s.snap, s.f}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snaps[tt.name]
			var b bytes.Buffer
			if err := WriteText(&b, s.snap, s.f); err != nil {
				t.Fatal(err)
			}
			for _, l := range tt.lines {
				if !strings.Contains(b.String(), l) {
					t.Errorf("text lacks %q:\n%s", l, b.String())
				}
			}
			for _, l := range tt.not {
				if strings.Contains(b.String(), l) {
					t.Errorf("text has %q:\n%s", l, b.String())
				}
			}
		})
	}
}

func TestKeyJSON(t *testing.T) {
	tests := []struct {
		name string
		key  record.Key
		want string
	}{
		{"nil", nil, `{}`},
		{"empty", record.Key{}, `{}`},
		{"order kept, not sorted", record.Key{num("pid", 1), str("comm", "a"), str("event", "sched:sched_switch")},
			`{"pid":1,"comm":"a","event":"sched:sched_switch"}`},
		{"negative and extreme ints", record.Key{num("ret", -2), num("min", -9223372036854775808), num("max", 9223372036854775807)},
			`{"ret":-2,"min":-9223372036854775808,"max":9223372036854775807}`},
		{"escaped strings", record.Key{str("comm", "a\"b\\c\n\t"), str("f", "<&>"), str("ctl", "\x01\x7f")},
			`{"comm":"a\"b\\c\n\t","f":"\u003c\u0026\u003e","ctl":"\u0001` + "\x7f" + `"}`},
		{"escaped names", record.Key{num(`we"ird`, 3)}, `{"we\"ird":3}`},
		{"invalid UTF-8 is replaced", record.Key{str("comm", "a\xffb")}, `{"comm":"a\ufffdb"}`},
		{"unicode kept", record.Key{str("comm", "café")}, `{"comm":"café"}`},
		{"empty string and zero", record.Key{str("s", ""), num("n", 0)}, `{"s":"","n":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KeyJSON(tt.key)
			if string(got) != tt.want {
				t.Errorf("KeyJSON = %s, want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("KeyJSON = %s is not valid JSON", got)
			}
		})
	}
}

func TestKeyJSONRoundTrip(t *testing.T) {
	// Decoding the object gives back the members' values, in order.
	key := record.Key{str("comm", "x\"y"), num("pid", -5), str("event", "a:b")}
	dec := json.NewDecoder(bytes.NewReader(KeyJSON(key)))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("first token %v, %v", tok, err)
	}
	var got record.Key
	for dec.More() {
		name, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		val, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		switch v := val.(type) {
		case json.Number:
			n, err := v.Int64()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, num(name.(string), n))
		case string:
			got = append(got, str(name.(string), v))
		}
	}
	if diff := cmp.Diff(key, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestHistogramOfGroup(t *testing.T) {
	s := &Snapshot{Mode: Hist, Scheme: hist.Linear{Min: 0, Max: 10, Step: 5}}
	h, err := s.Histogram(&Group{Buckets: map[int]uint64{0: 1, 3: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 0, 0, 2}, h.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	// A bucket past the scheme (a map written with another scheme) is an
	// error, not a panic.
	if _, err := s.Histogram(&Group{Buckets: map[int]uint64{4: 1}}); err == nil {
		t.Error("Histogram accepted bucket 4 of a 4-bucket scheme")
	}
	bad := &Snapshot{Mode: Hist, Scheme: hist.Linear{Min: 10, Max: 0, Step: 1}}
	if _, err := bad.Histogram(&Group{}); err == nil {
		t.Error("Histogram accepted an invalid scheme")
	}
	var b bytes.Buffer
	if err := WriteText(&b, &Snapshot{Mode: Hist, Scheme: s.Scheme, Groups: []*Group{{Buckets: map[int]uint64{9: 1}}}}, Format{}); err == nil {
		t.Errorf("WriteText of a bucket past the scheme succeeded:\n%s", b.String())
	}
	if _, err := JSON(&Snapshot{Mode: Latency, Scheme: hist.LogLinear{}, Groups: []*Group{{Buckets: map[int]uint64{1000: 1}}}}, Format{}); err == nil {
		t.Error("JSON of a latency bucket past the scheme succeeded")
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Count: "count", Hist: "hist", Latency: "latency", 9: "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
}
