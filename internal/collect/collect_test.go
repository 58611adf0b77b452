package collect_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/record/recordtest"
)

// ringSize is what a record of n bytes takes in a BPF ring buffer: an
// 8-byte header, then the data rounded up to 8 bytes.
func ringSize(n int) int { return 8 + (n+7)&^7 }

// fakeRing serves prepared records. AvailableBytes announces the next
// perTick records (all of them when perTick is 0); ReadInto serves every
// record left, announced or not, then os.ErrDeadlineExceeded.
type fakeRing struct {
	mu       sync.Mutex
	queue    [][]byte
	perTick  int
	readErr  error // returned by ReadInto once the queue is empty, instead of the deadline
	extra    int   // bytes announced beyond the records (a ring that lies, or a reader error)
	deadline time.Time
	closed   bool
	// ticks logs, for each AvailableBytes call, the records announced and
	// the records read before the next call.
	ticks []tick
}

type tick struct{ Announced, Read int }

func (f *fakeRing) ReadInto(rec *ringbuf.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deadline.IsZero() || !f.deadline.Before(time.Now()) {
		panic("ReadInto without a deadline in the past: it would block")
	}
	if len(f.queue) == 0 {
		if f.readErr != nil {
			return f.readErr
		}
		return os.ErrDeadlineExceeded
	}
	// Reuse the buffer, as ringbuf.Reader.ReadInto does.
	rec.RawSample = append(rec.RawSample[:0], f.queue[0]...)
	f.queue = f.queue[1:]
	if n := len(f.ticks); n > 0 {
		f.ticks[n-1].Read++
	}
	return nil
}

func (f *fakeRing) AvailableBytes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.queue)
	if f.perTick > 0 {
		n = min(n, f.perTick)
	}
	bytes := 0
	for _, b := range f.queue[:n] {
		bytes += ringSize(len(b))
	}
	f.ticks = append(f.ticks, tick{Announced: n})
	return bytes + f.extra
}

func (f *fakeRing) SetDeadline(t time.Time) {
	f.mu.Lock()
	f.deadline = t
	f.mu.Unlock()
}

func (f *fakeRing) Close() error {
	f.closed = true
	return nil
}

func (f *fakeRing) left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// got is one record as a sink saw it, copied out of the borrowed bytes.
type got struct {
	Class  string
	PID    int64
	Fields map[string]any
}

type discard struct {
	CPU int
	N   uint64
}

// sink copies what it receives; it can fail after a number of records.
type sink struct {
	mu        sync.Mutex
	records   []got
	discarded []discard
	failAt    int // fail the failAt-th record (1-based); 0: never
	failDrop  error
	onRecord  func(n int)
}

var errSink = errors.New("sink full")

func (s *sink) WriteRecord(r record.Record) error {
	s.mu.Lock()
	g := got{Class: r.Class.Schema.Name, PID: int64(r.PID()), Fields: map[string]any{}}
	for _, f := range r.Class.Schema.Fields {
		v, _ := r.Value(f.Name)
		if b, ok := v.([]byte); ok {
			v = append([]byte(nil), b...)
		}
		g.Fields[f.Name] = v
	}
	s.records = append(s.records, g)
	n := len(s.records)
	cb := s.onRecord
	s.mu.Unlock()
	if cb != nil {
		cb(n)
	}
	if n == s.failAt {
		return errSink
	}
	return nil
}

func (s *sink) AddDiscarded(cpu int, n, ts uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discarded = append(s.discarded, discard{cpu, n})
	return s.failDrop
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// classes are two event classes of different, unaligned record sizes.
func classes() []*record.Class {
	open := &event.Schema{Name: "syscalls:sys_enter_openat", Fields: []event.Field{
		{Name: "dfd", Kind: event.Int, Size: 4, Signed: true},
		{Name: "filename", Kind: event.String, Size: 21},
	}}
	exit := &event.Schema{Name: "syscalls:sys_exit_openat", Fields: []event.Field{
		{Name: "ret", Kind: event.Int, Size: 8, Signed: true},
	}}
	return []*record.Class{
		{ID: 0, Schema: open, Layout: record.Sequential(open)},
		{ID: 1, Schema: exit, Layout: record.Sequential(exit)},
	}
}

// records builds n records alternating between the two classes; the
// i-th has pid 100+i.
func records(cs []*record.Class, n int) ([][]byte, []got) {
	var raw [][]byte
	var want []got
	for i := 0; i < n; i++ {
		h := recordtest.Header{PID: int32(100 + i), TID: int32(100 + i), Comm: "t"}
		if i%2 == 0 {
			raw = append(raw, recordtest.Build(cs[0], h, map[string]any{"dfd": int64(-100), "filename": "/etc/f" + string(rune('a'+i))}))
			want = append(want, got{Class: cs[0].Schema.Name, PID: int64(100 + i), Fields: map[string]any{"dfd": int64(-100), "filename": "/etc/f" + string(rune('a'+i))}})
		} else {
			raw = append(raw, recordtest.Build(cs[1], h, map[string]any{"ret": int64(i)}))
			want = append(want, got{Class: cs[1].Schema.Name, PID: int64(100 + i), Fields: map[string]any{"ret": int64(i)}})
		}
	}
	return raw, want
}

func totalBytes(raw [][]byte) uint64 {
	var n uint64
	for _, b := range raw {
		n += uint64(len(b))
	}
	return n
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestRunReadsWhatWasAnnouncedThenDrain(t *testing.T) {
	cs := classes()
	raw, want := records(cs, 7)
	ring := &fakeRing{queue: raw, perTick: 3}
	s := &sink{}
	c := collect.NewFrom(ring, nil, &record.Decoder{Classes: cs}, s, time.Hour)

	// A cancelled context: Run drains once, then returns.
	if err := c.Run(cancelled()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff([]tick{{Announced: 3, Read: 3}}, ring.ticks); diff != "" {
		t.Errorf("Run read other than what the ring announced (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:3], s.records); diff != "" {
		t.Errorf("records after Run (-want +got):\n%s", diff)
	}
	if n := c.Stats.Records.Load(); n != 3 {
		t.Errorf("Stats.Records after Run = %d, want 3", n)
	}
	if n := c.Stats.Bytes.Load(); n != totalBytes(raw[:3]) {
		t.Errorf("Stats.Bytes after Run = %d, want %d", n, totalBytes(raw[:3]))
	}

	if err := c.Drain(); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if ring.left() != 0 {
		t.Errorf("Drain left %d records in the ring", ring.left())
	}
	if diff := cmp.Diff(want, s.records); diff != "" {
		t.Errorf("records after Drain (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{4, 3}, c.PerClass()); diff != "" {
		t.Errorf("PerClass (-want +got):\n%s", diff)
	}
	if n := c.Stats.Records.Load(); n != 7 {
		t.Errorf("Stats.Records = %d, want 7", n)
	}
	if n := c.Stats.Bytes.Load(); n != totalBytes(raw) {
		t.Errorf("Stats.Bytes = %d, want %d", n, totalBytes(raw))
	}
	if n := c.Stats.Lost.Load(); n != 0 {
		t.Errorf("Stats.Lost = %d without loss counters", n)
	}
	if err := c.Close(); err != nil || !ring.closed {
		t.Errorf("Close = %v, ring closed %v", err, ring.closed)
	}
}

func TestRunTicks(t *testing.T) {
	// Each tick reads exactly what AvailableBytes announced at its start,
	// whatever the sizes of the records (their ring size is rounded up).
	cs := classes()
	raw, want := records(cs, 10)
	ring := &fakeRing{queue: raw, perTick: 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &sink{onRecord: func(n int) {
		if n == len(raw) {
			cancel()
		}
	}}
	c := collect.NewFrom(ring, nil, &record.Decoder{Classes: cs}, s, time.Millisecond)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if diff := cmp.Diff(want, s.records); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	ring.mu.Lock()
	defer ring.mu.Unlock()
	if len(ring.ticks) < 5 {
		t.Fatalf("%d ticks for 10 records announced 2 at a time: %v", len(ring.ticks), ring.ticks)
	}
	for i, tk := range ring.ticks {
		if tk.Read != tk.Announced {
			t.Errorf("tick %d read %d records, %d announced (ticks %v)", i, tk.Read, tk.Announced, ring.ticks)
		}
	}
}

func TestRunReturnsWhenCancelled(t *testing.T) {
	cs := classes()
	ring := &fakeRing{}
	ctx, cancel := context.WithCancel(context.Background())
	c := collect.NewFrom(ring, nil, &record.Decoder{Classes: cs}, &sink{}, time.Millisecond)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("Run returned %v before its context was cancelled", err)
	default:
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// losses returns successive loss counter readings, repeating the last.
func losses(readings ...[]uint64) collect.Losses {
	var mu sync.Mutex
	i := 0
	return func() ([]uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		v := readings[min(i, len(readings)-1)]
		i++
		return append([]uint64(nil), v...), nil
	}
}

func TestLosses(t *testing.T) {
	cs := classes()
	tests := []struct {
		name     string
		readings [][]uint64
		want     []discard
		lost     uint64
	}{
		{"none", [][]uint64{{0, 0}}, nil, 0},
		{"one CPU grows once", [][]uint64{{0, 3}}, []discard{{1, 3}}, 3},
		{"growth reported as deltas", [][]uint64{{2, 0}, {2, 0}, {5, 4}, {5, 4}, {6, 4}},
			[]discard{{0, 2}, {0, 3}, {1, 4}, {0, 1}}, 10},
		{"more CPUs appear", [][]uint64{{1}, {1, 0, 7}}, []discard{{0, 1}, {2, 7}}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			c := collect.NewFrom(&fakeRing{}, losses(tt.readings...), &record.Decoder{Classes: cs}, s, time.Hour)
			// One reading per Run, then Drain reads the rest.
			for range len(tt.readings) - 1 {
				if err := c.Run(cancelled()); err != nil {
					t.Fatalf("Run: %v", err)
				}
			}
			if err := c.Drain(); err != nil {
				t.Fatalf("Drain: %v", err)
			}
			// Once more: nothing grew, nothing is reported again.
			if err := c.Drain(); err != nil {
				t.Fatalf("Drain: %v", err)
			}
			if diff := cmp.Diff(tt.want, s.discarded); diff != "" {
				t.Errorf("AddDiscarded calls (-want +got):\n%s", diff)
			}
			if n := c.Stats.Lost.Load(); n != tt.lost {
				t.Errorf("Stats.Lost = %d, want %d", n, tt.lost)
			}
		})
	}
}

func TestErrorsStopTheCollector(t *testing.T) {
	cs := classes()
	raw, _ := records(cs, 4)
	unknown := append([]byte(nil), raw[1]...)
	unknown[record.OffClass] = 9
	errRing := errors.New("ring unmapped")
	errLosses := errors.New("map gone")
	tests := []struct {
		name    string
		queue   [][]byte
		readErr error
		extra   int
		losses  collect.Losses
		sink    *sink
		want    error // matched with errors.Is
		records int   // records the sink saw before the error
	}{
		{"unknown class", [][]byte{raw[0], unknown, raw[2]}, nil, 0, nil, &sink{}, record.ErrUnknownClass, 1},
		{"short record", [][]byte{raw[0], raw[2][:record.HeaderSize+3]}, nil, 0, nil, &sink{}, record.ErrShort, 1},
		{"sink fails", raw, nil, 0, nil, &sink{failAt: 2}, errSink, 2},
		{"ring fails", raw[:1], errRing, 64, nil, &sink{}, errRing, 1},
		{"loss counters fail", raw[:1], nil, 0, func() ([]uint64, error) { return nil, errLosses }, &sink{}, errLosses, 1},
		{"AddDiscarded fails", raw[:1], nil, 0, losses([]uint64{1}), &sink{failDrop: errSink}, errSink, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []string{"Run", "Drain"} {
				t.Run(step, func(t *testing.T) {
					s := &sink{failAt: tt.sink.failAt, failDrop: tt.sink.failDrop}
					ring := &fakeRing{queue: append([][]byte(nil), tt.queue...), readErr: tt.readErr, extra: tt.extra}
					c := collect.NewFrom(ring, tt.losses, &record.Decoder{Classes: cs}, s, time.Hour)
					var err error
					if step == "Run" {
						// A live context: Run must return on the error itself.
						done := make(chan error, 1)
						go func() { done <- c.Run(context.Background()) }()
						select {
						case err = <-done:
						case <-time.After(10 * time.Second):
							t.Fatal("Run did not return on the error")
						}
					} else {
						err = c.Drain()
					}
					if !errors.Is(err, tt.want) {
						t.Fatalf("%s = %v, want %v", step, err, tt.want)
					}
					if n := s.count(); n != tt.records {
						t.Errorf("sink saw %d records before the error, want %d", n, tt.records)
					}
				})
			}
		})
	}
}
