package traceout

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/record/recordtest"
)

func TestNames(t *testing.T) {
	begin := time.Date(2017, 11, 19, 15, 24, 7, 0, time.FixedZone("", -5*3600))
	end := time.Date(2018, 1, 18, 15, 24, 7, 0, time.FixedZone("", 9*3600+1800))
	if got, want := ChunkName(begin, end, 3), "20171119T152407-0500-20180118T152407+0930-3"; got != want {
		t.Errorf("ChunkName = %s, want %s", got, want)
	}
	if got, want := SnapshotName(time.Date(2026, 12, 1, 18, 51, 31, 0, time.UTC), 2), "snapshot-1-20261201-185131-2"; got != want {
		t.Errorf("SnapshotName = %s, want %s", got, want)
	}
}

// toClass is the class of the test records: one 64-bit field n.
var toClass = func() *record.Class {
	s := &event.Schema{Name: "ev", Fields: []event.Field{{Name: "n", Kind: event.Int, Size: 8}}}
	return &record.Class{ID: 0, Schema: s, Layout: record.Sequential(s)}
}()

// toOpen opens an output of 2 CPUs in a fresh directory whose clock reads
// toClock, and collects what it reports.
func toOpen(t *testing.T, o Options) (*Output, *[]Written) {
	t.Helper()
	var written []Written
	o.Dir = filepath.Join(t.TempDir(), "out")
	o.CTF = ctf.Options{Hostname: "test", ClockOffset: 1, EventContext: ctftrace.ContextType(),
		Clock: func() uint64 { return toClock }}
	toClock = toNow
	o.Classes, o.CPUs = []*record.Class{toClass}, 2
	o.Written = func(w Written) { written = append(written, w) }
	out, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return out, &written
}

var toNow, toClock uint64 = 1_000_000_000, 0

// toWrite writes n records alternating between CPUs 0 and 1, numbered from
// first, one µs apart.
func toWrite(t *testing.T, out *Output, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		toNow += 1000
		b := recordtest.Build(toClass, recordtest.Header{Time: toNow, CPU: i % 2, PID: 7, TID: 7, Comm: "w"}, map[string]any{"n": int64(i)})
		if err := out.WriteRecord(record.Record{Class: toClass, B: b}); err != nil {
			t.Fatal(err)
		}
	}
}

// toCount reads the events of the trace (or directory of traces) in dir.
func toCount(t *testing.T, dir string) uint64 {
	t.Helper()
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := tr.Each(func(*ctf.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRotateSizeKeep(t *testing.T) {
	out, written := toOpen(t, Options{Rotate: &Rotation{Size: 16 << 10, Keep: 2}})
	toWrite(t, out, 0, 3000)
	st, err := out.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 3000 || st.Clamped != 0 {
		t.Fatalf("stats %+v", st)
	}
	var sum uint64
	var kept, deleted []string
	var events []uint64
	for _, w := range *written {
		switch w.Kind {
		case "chunk":
			sum += w.Events
			kept = append(kept, w.Dir)
			events = append(events, w.Events)
		case "deleted":
			deleted = append(deleted, w.Dir)
		}
	}
	if sum != 3000 || len(kept) < 4 || len(deleted) != len(kept)-2 {
		t.Fatalf("%d chunks (%d events), %d deleted: %+v", len(kept), sum, len(deleted), *written)
	}
	for i, d := range kept {
		if !strings.HasSuffix(d, "-"+strconv.Itoa(i)) || !chunkNameOK(filepath.Base(d)) {
			t.Errorf("chunk %d is %s", i, d)
		}
		_, err := os.Stat(d)
		if gone := i < len(kept)-2; gone != os.IsNotExist(err) {
			t.Errorf("chunk %s: deleted %v, stat %v", d, gone, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(filepath.Dir(kept[0])))
	if len(ents) != 2 {
		t.Fatalf("archives holds %d entries, want 2", len(ents))
	}
	// The two kept chunks read as one trace, from the output's directory.
	if n, want := toCount(t, filepath.Dir(filepath.Dir(kept[0]))), events[len(events)-1]+events[len(events)-2]; n != want {
		t.Fatalf("reading the directory gives %d events, want %d", n, want)
	}
}

var chunkRe = regexp.MustCompile(`^\d{8}T\d{6}[+-]\d{4}-\d{8}T\d{6}[+-]\d{4}-\d+$`)

func chunkNameOK(s string) bool { return chunkRe.MatchString(s) }

// TestRotateTrigger checks that a chunk started while records are still to
// come (their times before the rotation) takes them without raising their
// timestamps.
func TestRotateTrigger(t *testing.T) {
	out, written := toOpen(t, Options{Rotate: &Rotation{Size: 1 << 30}})
	toWrite(t, out, 0, 100)
	toClock = toNow + 1_000_000_000 // records of before the rotation are still to come
	if err := out.Trigger(); err != nil {
		t.Fatal(err)
	}
	toWrite(t, out, 100, 100)
	st, err := out.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(*written) != 2 || (*written)[0].Events != 100 || (*written)[1].Events != 100 {
		t.Fatalf("written %+v", *written)
	}
	if st.Clamped != 0 {
		t.Fatalf("%d timestamps raised at the chunk boundary", st.Clamped)
	}
	if n := toCount(t, filepath.Dir(filepath.Dir((*written)[0].Dir))); n != 200 {
		t.Fatalf("read %d events, want 200", n)
	}
}

func TestRotateEvery(t *testing.T) {
	out, written := toOpen(t, Options{Rotate: &Rotation{Every: 40 * time.Millisecond}})
	toWrite(t, out, 0, 10)
	time.Sleep(150 * time.Millisecond)
	toWrite(t, out, 10, 10)
	if _, err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if len(*written) < 2 {
		t.Fatalf("150ms of 40ms chunks gave %d chunks", len(*written))
	}
}

func TestRingOnRecord(t *testing.T) {
	o := Options{Ring: &Ring{Size: 16 << 10, On: func(r record.Record) bool { return r.Int(0) == 1999 }}}
	out, written := toOpen(t, o)
	toWrite(t, out, 0, 3000)
	st, err := out.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(*written) != 1 || (*written)[0].Kind != "snapshot" {
		t.Fatalf("written %+v", *written)
	}
	s := (*written)[0]
	if s.Events+s.Discarded != 2000 || s.Discarded == 0 {
		t.Fatalf("snapshot at record 1999 keeps %d and discards %d", s.Events, s.Discarded)
	}
	if n := toCount(t, s.Dir); n != s.Events {
		t.Fatalf("read %d events, snapshot says %d", n, s.Events)
	}
	if st.Events != 3000 || st.Bytes != s.Bytes {
		t.Fatalf("stats %+v", st)
	}
	if err := out.Trigger(); err != nil {
		t.Fatalf("a trigger after Close: %v", err)
	}
}

func TestOpenRefusesARecording(t *testing.T) {
	out, written := toOpen(t, Options{Rotate: &Rotation{Size: 1 << 20}})
	toWrite(t, out, 0, 10)
	out.Close()
	dir := filepath.Dir(filepath.Dir((*written)[0].Dir))
	_, err := Open(Options{Dir: dir, Ring: &Ring{Size: 1 << 20}, Classes: []*record.Class{toClass}, CPUs: 1})
	if err == nil || !strings.Contains(err.Error(), "already holds a recording") {
		t.Fatalf("err = %v", err)
	}
}
