package ctftrace

import (
	"encoding/binary"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/event"
)

// BenchmarkWriteRecord measures the transcoding of a getpid-like record
// (header and one int field) into CTF, the collector's per-event work.
func BenchmarkWriteRecord(b *testing.B) {
	s := &event.Schema{Name: "syscalls:sys_enter_getpid", Fields: []event.Field{
		{Name: "__syscall_nr", Kind: event.Int, Size: 4, Signed: true, Src: event.FromContext, SrcOffset: 8},
	}}
	s.Layout()
	w, err := ctf.Create(b.TempDir()+"/t", ctf.Options{EventContext: ContextType(), Clock: func() uint64 { return 0 }})
	if err != nil {
		b.Fatal(err)
	}
	tw, err := NewWriter(w, []*event.Schema{s}, 1)
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, s.RecordSize())
	copy(rec[event.OffComm:], "btload")
	binary.LittleEndian.PutUint32(rec[event.OffPID:], 1234)
	binary.LittleEndian.PutUint32(rec[event.OffTID:], 1234)
	b.ReportAllocs()
	ts := uint64(1)
	for b.Loop() {
		ts += 100
		binary.LittleEndian.PutUint64(rec, ts)
		if err := tw.WriteRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	st := w.Stats()
	b.ReportMetric(float64(st.Bytes)/float64(st.Events), "B/event")
}
