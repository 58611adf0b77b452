package ctf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wbTypical declares the typical event: no event context; payload pid u32,
// tid u32, comm Text(16), a 64-byte string, two u64.
func wbTypical(b testing.TB, w *Writer) *EventClass {
	ec, err := w.AddEventClass("syscalls:sys_enter_openat", Struct(
		F("pid", Uint(32)), F("tid", Uint(32)), F("comm", Text(16)),
		F("filename", String()), F("flags", Uint(64)), F("mode", Uint(64)),
	))
	if err != nil {
		b.Fatal(err)
	}
	return ec
}

// wbFilename is 64 bytes with its NUL.
var wbFilename = strings.Repeat("/usr/lib/x86_64-linux-gnu/", 3)[:63]

var wbComm = []byte("kworker/u16:3")

// wbSize returns the bytes of every stream file in dir.
func wbSize(b *testing.B, dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "stream_*"))
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			b.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// BenchmarkWriteEvents writes the typical event through the Encoder into a
// file, on one stream.
func BenchmarkWriteEvents(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "trace")
	w, err := Create(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ec := wbTypical(b, w)
	s, err := w.Stream(0)
	if err != nil {
		b.Fatal(err)
	}
	ts := MonotonicNow()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts += 100
		err := s.Begin(ec, ts).U32(1234).U32(1235).Text(wbComm, 16).String(wbFilename).U64(0x80000).U64(0o644).Commit()
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(wbSize(b, dir))/float64(b.N), "bytes/event")
}

// BenchmarkWriteEventsNoIO is BenchmarkWriteEvents with the stream file
// replaced by /dev/null: the cost of encoding and packetizing alone,
// without the write(2) copy into the page cache and writeback.
func BenchmarkWriteEventsNoIO(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "trace")
	w, err := Create(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ec := wbTypical(b, w)
	s, err := w.Stream(0)
	if err != nil {
		b.Fatal(err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	s.f.Close()
	s.f = null
	ts := MonotonicNow()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts += 100
		err := s.Begin(ec, ts).U32(1234).U32(1235).Text(wbComm, 16).String(wbFilename).U64(0x80000).U64(0o644).Commit()
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(w.Stats().Bytes)/float64(b.N), "bytes/event")
}

// BenchmarkWriteEventsGeneric writes the same event through Write.
func BenchmarkWriteEventsGeneric(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "trace")
	w, err := Create(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ec := wbTypical(b, w)
	s, err := w.Stream(0)
	if err != nil {
		b.Fatal(err)
	}
	ts := MonotonicNow()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts += 100
		if err := s.Write(ec, ts, uint32(1234), uint32(1235), wbComm, wbFilename, uint64(0x80000), uint64(0o644)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(wbSize(b, dir))/float64(b.N), "bytes/event")
}

// BenchmarkReadWrittenTrace reads a trace written by our writer (two
// streams of the typical event) with the merging iterator.
func BenchmarkReadWrittenTrace(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "trace")
	w, err := Create(dir, Options{Clock: func() uint64 { return 1 }})
	if err != nil {
		b.Fatal(err)
	}
	ec := wbTypical(b, w)
	const perStream = 200_000
	for cpu := 0; cpu < 2; cpu++ {
		s, err := w.Stream(cpu)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < perStream; i++ {
			s.Begin(ec, uint64(10+2*i+cpu)).U32(uint32(i)).U32(1235).Text(wbComm, 16).String(wbFilename).U64(0x80000).U64(0o644).Commit()
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	tr, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		it := tr.Events()
		k := 0
		var sum uint64
		for it.Next() {
			e := it.Event()
			sum += e.Payload.Elems[0].Uint + uint64(len(e.Payload.Elems[3].Bytes))
			k++
		}
		if it.Err() != nil || k != 2*perStream || sum == 0 {
			b.Fatalf("%v: %d events", it.Err(), k)
		}
		n += k
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWriteStruct writes opensnoop's struct event (u32 pid, u64 ts,
// char comm[16], char filename[256]; 288 bytes with its padding) from its
// C layout through Encoder.Struct, without I/O.
func BenchmarkWriteStruct(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "trace")
	w, err := Create(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	u32, u64 := Uint(32), Uint(64)
	u32.Align, u64.Align = 32, 64
	typ := Struct(F("pid", u32), F("ts", u64), F("comm", Text(16)), F("filename", Text(256)))
	ec, err := w.AddEventClass("open", typ)
	if err != nil {
		b.Fatal(err)
	}
	l, err := Compile(typ)
	if err != nil {
		b.Fatal(err)
	}
	s, err := w.Stream(0)
	if err != nil {
		b.Fatal(err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	s.f.Close()
	s.f = null
	raw := make([]byte, l.CSize())
	copy(raw[24:], wbComm)
	copy(raw[40:], wbFilename)
	ts := MonotonicNow()
	b.ReportAllocs()
	for b.Loop() {
		ts += 100
		if err := s.Begin(ec, ts).Struct(l, raw).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
