package ctf

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// rgRing makes a ring of max bytes with one event class of a 64-bit
// payload (12 bytes an event: 334 events fill a 4 KiB packet) and a clock
// that advances 1 µs a call.
func rgRing(t *testing.T, max int64) (*Ring, *EventClass, func() uint64) {
	t.Helper()
	now := uint64(1_000_000_000)
	clock := func() uint64 { now += 1000; return now }
	r, err := NewRing("ring", max, Options{Hostname: "test", Clock: clock, ClockOffset: 1_700_000_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := r.Writer().AddEventClass("ev", Struct(F("n", Uint(64))))
	if err != nil {
		t.Fatal(err)
	}
	return r, ec, clock
}

// rgWrite writes n events alternating between streams 0 and 1.
func rgWrite(t *testing.T, r *Ring, ec *EventClass, clock func() uint64, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		s, err := r.Writer().Stream(i % 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Begin(ec, clock()).U64(uint64(i)).Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRingEvictsOldestAndCounts(t *testing.T) {
	const max = 4 * PageSize
	r, ec, clock := rgRing(t, max)
	rgWrite(t, r, ec, clock, 5000)
	st := r.Stats()
	if st.Bytes > max || st.Packets > 4 || st.Bytes != int64(st.Packets)*PageSize {
		t.Fatalf("ring holds %d bytes in %d packets, bound %d: %+v", st.Bytes, st.Packets, max, st)
	}
	if st.EvictedPackets == 0 || st.EvictedEvents == 0 {
		t.Fatalf("5000 events in a 16 KiB ring evicted nothing: %+v", st)
	}
	// 334 events fill a packet: every closed packet is full.
	if st.EvictedEvents != st.EvictedPackets*334 || st.Events != uint64(st.Packets)*334 {
		t.Fatalf("counts do not match full packets of 334 events: %+v", st)
	}
	open := uint64(0)
	for _, s := range r.Writer().streams {
		open += uint64(s.pktEvs)
	}
	if got := st.Events + st.EvictedEvents + open; got != 5000 {
		t.Fatalf("held %d + evicted %d + open %d = %d, want 5000", st.Events, st.EvictedEvents, open, got)
	}
}

func TestRingTooSmall(t *testing.T) {
	if _, err := NewRing("x", PageSize, Options{}); err == nil || !strings.Contains(err.Error(), "two packets") {
		t.Fatalf("err = %v", err)
	}
}

// TestRingSnapshot checks that a snapshot holds the newest events and
// reports every other one as discarded, exactly, to our reader and to
// babeltrace2; and that the ring goes on after it.
func TestRingSnapshot(t *testing.T) {
	r, ec, clock := rgRing(t, 4*PageSize)
	rgWrite(t, r, ec, clock, 3001)
	s0, _ := r.Writer().Stream(0)
	s0.AddDiscarded(7, clock()) // lost before reaching the ring
	dir := filepath.Join(t.TempDir(), "snapshot-1-20260101-000000-0")
	snap, err := r.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Events+snap.Discarded != 3001+7 {
		t.Fatalf("snapshot keeps %d and discards %d: sum %d, want %d", snap.Events, snap.Discarded, snap.Events+snap.Discarded, 3008)
	}
	if snap.Events == 0 || snap.Events > 4*286+2 {
		t.Fatalf("snapshot keeps %d events", snap.Events)
	}
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	n, err := tr.Each(func(e *Event) error {
		v, _ := e.Payload.Get("n")
		last = v.Uint
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != snap.Events || last != 3000 {
		t.Fatalf("read %d events (last %d), snapshot says %d (last must be 3000)", n, last, snap.Events)
	}
	if d := tr.DiscardedTotal(); d != snap.Discarded {
		t.Fatalf("reader counts %d discarded, snapshot %d", d, snap.Discarded)
	}
	for _, s := range tr.Streams {
		for _, d := range s.Discarded {
			if d.Unknown {
				t.Fatalf("stream %s: a discarded count without a number", s.Path)
			}
		}
	}
	if _, err := r.Snapshot(dir); err == nil {
		t.Fatal("a second snapshot into the same directory succeeded")
	}

	// The ring goes on; a later snapshot overlaps the first and ends later.
	rgWrite(t, r, ec, clock, 100)
	snap2, err := r.Snapshot(dir + "-1")
	if err != nil {
		t.Fatal(err)
	}
	if snap2.Events+snap2.Discarded != 3101+7 || snap2.EndNs <= snap.EndNs {
		t.Fatalf("second snapshot %+v after %+v", snap2, snap)
	}

	wtNeed(t, "babeltrace2")
	out, stderr, code := wtBabeltrace(t, dir)
	if code != 0 {
		t.Fatalf("babeltrace2 exit %d\n%s", code, stderr)
	}
	if got := strings.Count(out, " ev: "); got != int(snap.Events) {
		t.Fatalf("babeltrace2 printed %d events, want %d", got, snap.Events)
	}
	if strings.Contains(stderr, "may have discarded") {
		t.Fatalf("babeltrace2 saw an unknown discarded count:\n%s", stderr)
	}
	var disc uint64
	for _, m := range regexp.MustCompile(`Tracer discarded (\d+) events`).FindAllStringSubmatch(stderr, -1) {
		k, _ := strconv.ParseUint(m[1], 10, 64)
		disc += k
	}
	if disc != snap.Discarded {
		t.Fatalf("babeltrace2 reports %d discarded, want %d\n%s", disc, snap.Discarded, stderr)
	}
}

// TestOpenTree checks that a directory of traces (chunks of a rotation)
// reads as one trace, in time order, with one event class across chunks.
func TestOpenTree(t *testing.T) {
	root := t.TempDir()
	now := uint64(1_000_000_000)
	clock := func() uint64 { now += 1000; return now }
	names := []string{"archives/20260101T000000+0000-20260101T000001+0000-0", "archives/20260101T000001+0000-20260101T000002+0000-1", "archives/20260101T000002+0000-10"}
	want := 0
	for k, name := range names {
		w, err := Create(filepath.Join(root, name), Options{Hostname: "test", Clock: clock, ClockOffset: 1})
		if err != nil {
			t.Fatal(err)
		}
		ec, err := w.AddEventClass("ev", Struct(F("n", Uint(64))))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10*(k+1); i++ {
			s, _ := w.Stream(i % 2)
			if err := s.Begin(ec, clock()).U64(uint64(want)).Commit(); err != nil {
				t.Fatal(err)
			}
			want++
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dirs, err := Find(root)
	if err != nil || len(dirs) != 3 || !strings.HasSuffix(dirs[2], "-10") {
		t.Fatalf("Find = %v, %v", dirs, err)
	}
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Parts) != 3 || len(tr.Streams) != 6 {
		t.Fatalf("%d parts, %d streams", len(tr.Parts), len(tr.Streams))
	}
	next := uint64(0)
	var class *EventClass
	_, err = tr.Each(func(e *Event) error {
		v, _ := e.Payload.Get("n")
		if v.Uint != next {
			t.Fatalf("event %d read as %d", next, v.Uint)
		}
		if class == nil {
			class = e.Class
		} else if e.Class != class {
			t.Fatalf("event %d: a second *EventClass for %q", next, e.Class.Name)
		}
		next++
		return nil
	})
	if err != nil || next != uint64(want) {
		t.Fatalf("read %d of %d events: %v", next, want, err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no CTF trace") {
		t.Fatalf("empty directory: %v", err)
	}
}
