package text_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/bpftrail/bpftrail/internal/analyze/tracetest"
	"github.com/bpftrail/bpftrail/internal/sink/text"
)

// BenchmarkPrintText reads and writes a trace of 100 k syscall events as
// bpftrail print does, to io.Discard.
func BenchmarkPrintText(b *testing.B) {
	tr := tracetest.Mix(b, filepath.Join(b.TempDir(), "trace"), 100_000)
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		var err error
		if n, err = text.Write(io.Discard, tr, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
}
