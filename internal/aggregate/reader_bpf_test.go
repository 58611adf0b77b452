package aggregate

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

// twoCPUs returns the number of possible CPUs, skipping the test when
// there are fewer than two (the values of two CPUs must be summed).
func twoCPUs(t *testing.T) int {
	t.Helper()
	n, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Skipf("%d possible CPU: the test sums the values of two", n)
	}
	return n
}

// perCPU returns a per-CPU value with v0 on CPU 0, v1 on CPU 1 and zero
// elsewhere.
func perCPU[T any](n int, v0, v1 T) []T {
	out := make([]T, n)
	out[0], out[1] = v0, v1
	return out
}

func newMap(t *testing.T, spec *ebpf.MapSpec) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(spec)
	if err != nil {
		t.Fatalf("create %s: %v", spec.Name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// maps creates the maps of an aggregation as the engine does.
func maps(t *testing.T, mode Mode, keys record.KeyLayout) Maps {
	t.Helper()
	keySize := keys.Size()
	if mode != Count {
		keySize += 8
	}
	m := Maps{
		Counts: newMap(t, &ebpf.MapSpec{Name: "bt_counts", Type: ebpf.PerCPUHash, KeySize: uint32(keySize), ValueSize: 8, MaxEntries: 64}),
		Stats:  newMap(t, &ebpf.MapSpec{Name: "bt_aggstats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: record.StatCount}),
	}
	if mode == Latency {
		m.Sums = newMap(t, &ebpf.MapSpec{Name: "bt_sums", Type: ebpf.PerCPUHash, KeySize: uint32(keys.Size()), ValueSize: record.SumsValueSize, MaxEntries: 64})
		m.Starts = newMap(t, &ebpf.MapSpec{Name: "bt_starts", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: 64})
	}
	return m
}

func put(t *testing.T, m *ebpf.Map, key, value any) {
	t.Helper()
	if err := m.Update(key, value, ebpf.UpdateAny); err != nil {
		t.Fatalf("update %v: %v", m, err)
	}
}

// key builds a key: 8-byte ints, strings NUL-padded to 16 bytes, and an
// optional u32 bucket with its padding.
func key(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			b = binary.LittleEndian.AppendUint64(b, uint64(p))
		case string:
			s := make([]byte, 16)
			copy(s, p)
			b = append(b, s...)
		case bucket:
			b = binary.LittleEndian.AppendUint32(b, uint32(p))
			b = append(b, 0, 0, 0, 0)
		}
	}
	return b
}

type bucket uint32

func stats(t *testing.T, m *ebpf.Map, n int, mapFull, starts, matched [2]uint64) {
	t.Helper()
	put(t, m, uint32(record.StatMapFull), perCPU(n, mapFull[0], mapFull[1]))
	put(t, m, uint32(record.StatStarts), perCPU(n, starts[0], starts[1]))
	put(t, m, uint32(record.StatMatched), perCPU(n, matched[0], matched[1]))
}

func TestBPFReaderCount(t *testing.T) {
	bpftest.Require(t)
	n := twoCPUs(t)
	keys := record.KeyLayout{{Name: "comm", Kind: record.KeyString, Size: 16}, {Name: "pid", Kind: record.KeyInt, Size: 8}}
	m := maps(t, Count, keys)
	put(t, m.Counts, key("bash", 1), perCPU[uint64](n, 3, 4))
	put(t, m.Counts, key("zsh", 2), perCPU[uint64](n, 0, 10))
	put(t, m.Counts, key("cat", -3), perCPU[uint64](n, 1, 0))
	stats(t, m.Stats, n, [2]uint64{2, 3}, [2]uint64{}, [2]uint64{})
	r := &Reader{Name: "by-comm", Mode: Count, Keys: keys, Maps: m}
	got, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := &Snapshot{Name: "by-comm", Mode: Count, By: []string{"comm", "pid"}, MapFull: 5, Groups: []*Group{
		{Key: record.Key{{Name: "comm", Str: "zsh"}, {Name: "pid", Int: 2, IsInt: true}}, Count: 10},
		{Key: record.Key{{Name: "comm", Str: "bash"}, {Name: "pid", Int: 1, IsInt: true}}, Count: 7},
		{Key: record.Key{{Name: "comm", Str: "cat"}, {Name: "pid", Int: -3, IsInt: true}}, Count: 1},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

func TestBPFReaderHist(t *testing.T) {
	bpftest.Require(t)
	n := twoCPUs(t)
	keys := record.KeyLayout{{Name: "event", Kind: record.KeyClass, Size: 8}}
	m := maps(t, Hist, keys)
	put(t, m.Counts, key(1, bucket(3)), perCPU[uint64](n, 2, 1))
	put(t, m.Counts, key(1, bucket(5)), perCPU[uint64](n, 0, 4))
	put(t, m.Counts, key(0, bucket(0)), perCPU[uint64](n, 1, 0))
	put(t, m.Counts, key(0, bucket(64)), perCPU[uint64](n, 0, 0)) // a key every CPU has counted nothing in
	stats(t, m.Stats, n, [2]uint64{}, [2]uint64{}, [2]uint64{})
	r := &Reader{Name: "sizes", Mode: Hist, Scheme: hist.Log2{}, Keys: keys, Classes: []string{"syscalls:sys_exit_read", "syscalls:sys_exit_write"}, Maps: m}
	got, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := &Snapshot{Name: "sizes", Mode: Hist, Scheme: hist.Log2{}, By: []string{"event"}, Groups: []*Group{
		{Key: record.Key{{Name: "event", Str: "syscalls:sys_exit_write"}}, Count: 7, Buckets: map[int]uint64{3: 3, 5: 4}},
		{Key: record.Key{{Name: "event", Str: "syscalls:sys_exit_read"}}, Count: 1, Buckets: map[int]uint64{0: 1, 64: 0}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

func TestBPFReaderLatency(t *testing.T) {
	bpftest.Require(t)
	n := twoCPUs(t)
	keys := record.KeyLayout{{Name: "pid", Kind: record.KeyInt, Size: 8}}
	m := maps(t, Latency, keys)
	// pid 10: two ends on CPU 0 (100 and 200 ns), one on CPU 1 (50 ns).
	put(t, m.Counts, key(10, bucket(hist.LogLinearIndex(100))), perCPU[uint64](n, 1, 0))
	put(t, m.Counts, key(10, bucket(hist.LogLinearIndex(200))), perCPU[uint64](n, 1, 0))
	put(t, m.Counts, key(10, bucket(hist.LogLinearIndex(50))), perCPU[uint64](n, 0, 1))
	put(t, m.Sums, key(10), perCPU(n, [4]uint64{2, 300, 100, 200}, [4]uint64{1, 50, 50, 50}))
	// pid 20: one end on CPU 1 (7000 ns); CPU 0's value is the zeroed one
	// the kernel gives the other CPUs of an element a program inserts.
	put(t, m.Counts, key(20, bucket(hist.LogLinearIndex(7000))), perCPU[uint64](n, 0, 1))
	put(t, m.Sums, key(20), perCPU(n, [4]uint64{}, [4]uint64{1, 7000, 7000, 7000}))
	// A summary without counts (its count update failed: map full) is
	// not a group.
	put(t, m.Sums, key(30), perCPU(n, [4]uint64{1, 5, 5, 5}, [4]uint64{}))
	// Two starts still waiting for their end.
	put(t, m.Starts, uint64(77), uint64(1000))
	put(t, m.Starts, uint64(78), uint64(2000))
	stats(t, m.Stats, n, [2]uint64{0, 1}, [2]uint64{6, 4}, [2]uint64{3, 1})
	r := &Reader{Name: "lat", Mode: Latency, Scheme: hist.LogLinear{}, Keys: keys, Maps: m}
	got, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := &Snapshot{Name: "lat", Mode: Latency, Scheme: hist.LogLinear{}, By: []string{"pid"},
		MapFull: 1, Starts: 10, Matched: 4, Pending: 2, Unmatched: 4,
		Groups: []*Group{
			{Key: record.Key{{Name: "pid", Int: 10, IsInt: true}}, Count: 3, Sum: 350, Min: 50, Max: 200, Buckets: map[int]uint64{
				hist.LogLinearIndex(100): 1, hist.LogLinearIndex(200): 1, hist.LogLinearIndex(50): 1}},
			{Key: record.Key{{Name: "pid", Int: 20, IsInt: true}}, Count: 1, Sum: 7000, Min: 7000, Max: 7000, Buckets: map[int]uint64{
				hist.LogLinearIndex(7000): 1}},
		}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

func TestBPFReaderNoPendingBeyondStarts(t *testing.T) {
	// More pending starts than counted (the counters were read first):
	// unmatched is never negative.
	bpftest.Require(t)
	n := twoCPUs(t)
	m := maps(t, Latency, nil)
	put(t, m.Starts, uint64(1), uint64(1))
	put(t, m.Starts, uint64(2), uint64(1))
	stats(t, m.Stats, n, [2]uint64{}, [2]uint64{1, 0}, [2]uint64{})
	got, err := (&Reader{Name: "x", Mode: Latency, Scheme: hist.LogLinear{}, Maps: m}).Read()
	if err != nil {
		t.Fatal(err)
	}
	if got.Pending != 2 || got.Unmatched != 0 || len(got.Groups) != 0 {
		t.Errorf("pending %d unmatched %d groups %d; want 2, 0, 0", got.Pending, got.Unmatched, len(got.Groups))
	}
}

func TestBPFLogWrite(t *testing.T) {
	bpftest.Require(t)
	n := twoCPUs(t)
	keys := record.KeyLayout{{Name: "pid", Kind: record.KeyInt, Size: 8}}
	mc := maps(t, Count, keys)
	put(t, mc.Counts, key(1), perCPU[uint64](n, 1, 1))
	mh := maps(t, Hist, nil)
	put(t, mh.Counts, key(0, bucket(2)), perCPU[uint64](n, 5, 0))
	readers := []*Reader{
		{Name: "counts", Mode: Count, Keys: keys, Maps: mc},
		{Name: "sizes", Mode: Hist, Scheme: hist.Log2{}, Maps: mh},
	}
	var b bytes.Buffer
	l := NewLog(&b, readers)
	at := time.Unix(1700000000, 5)
	l.now = func() time.Time { return at }
	// Written from two goroutines at once: lines stay whole.
	var wg sync.WaitGroup
	for _, final := range []bool{false, true} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Write(final); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	lines := parseLog(t, b.Bytes())
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 2 per Write:\n%s", len(lines), b.String())
	}
	finals := 0
	for i, l := range lines {
		if l.TimeNs != at.UnixNano() {
			t.Errorf("line %d: time_ns %d, want %d", i, l.TimeNs, at.UnixNano())
		}
		if l.Final {
			finals++
		}
		r := readers[i%2]
		if l.Aggregate != r.Name {
			t.Errorf("line %d: aggregate %q, want %q (the readers in order)", i, l.Aggregate, r.Name)
		}
		snap, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		want, err := JSON(snap, Format{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(members(t, want), l.Body, rawCmp); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i, diff)
		}
	}
	if finals != 2 || lines[0].Final != lines[1].Final || lines[2].Final != lines[3].Final {
		t.Errorf("final flags %v %v %v %v: want one Write's pair each", lines[0].Final, lines[1].Final, lines[2].Final, lines[3].Final)
	}
}
