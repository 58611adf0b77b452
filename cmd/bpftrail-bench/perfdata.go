package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// perf.data record types (include/uapi/linux/perf_event.h).
const (
	perfRecordLost        = 2
	perfRecordSample      = 9
	perfRecordLostSamples = 13
)

// dupWindow is how many recent samples are checked for byte-identical
// copies.
const dupWindow = 1 << 16

// perfCounts reads a perf.data file written by perf record and returns the
// number of distinct SAMPLE records (events kept), the number of SAMPLE
// records that are byte-identical copies of one of the previous dupWindow
// samples (perf 6.1 writes some samples twice at this rate: same timestamp,
// same bytes), and the events lost. The kernel's ring-full drops appear
// twice in perf 6.1's file: as PERF_RECORD_LOST records and, at the end, as
// PERF_RECORD_LOST_SAMPLES that perf synthesizes from each event's
// lost-samples counter; lost is the larger of the two sums, not their total. It walks the data section record by record, which
// is exact and much faster than perf report -D.
func perfCounts(path string) (kept, dups, lost uint64, err error) {
	f, r, err := openPerfData(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	le := binary.LittleEndian
	d := newSampleDedup()
	var lostRec, lostSamples uint64
	sample := make([]byte, 0, 256)
	for {
		var eh [8]byte
		if _, err := io.ReadFull(r, eh[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return d.kept, d.dups, max(lostRec, lostSamples), nil
			}
			return d.kept, d.dups, lost, fmt.Errorf("%s: record header: %w", path, err)
		}
		typ, size := le.Uint32(eh[0:]), int(le.Uint16(eh[6:]))
		if size < 8 {
			return d.kept, d.dups, lost, fmt.Errorf("%s: bad record size %d", path, size)
		}
		body := size - 8
		var n uint64
		switch typ {
		case perfRecordSample:
			sample = sample[:body]
			if _, err := io.ReadFull(r, sample); err != nil {
				return d.kept, d.dups, lost, err
			}
			body = 0
			d.add(sample)
		case perfRecordLost: // u64 id, u64 lost
			n, body, err = readCount(r, body, 8)
			lostRec += n
		case perfRecordLostSamples: // u64 lost
			n, body, err = readCount(r, body, 0)
			lostSamples += n
		}
		if err != nil {
			return d.kept, d.dups, lost, err
		}
		if _, err := r.Discard(body); err != nil {
			return d.kept, d.dups, lost, fmt.Errorf("%s: record body: %w", path, err)
		}
	}
}

// openPerfData opens a perf.data file, checks its header and returns a
// reader of its data section.
func openPerfData(path string) (*os.File, *bufio.Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	var hdr [64]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: header: %w", path, err)
	}
	if string(hdr[:8]) != "PERFILE2" {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a perf.data file (magic %q)", path, hdr[:8])
	}
	le := binary.LittleEndian
	dataOff, dataSize := le.Uint64(hdr[40:]), le.Uint64(hdr[48:])
	if dataSize == 0 {
		f.Close()
		return nil, nil, fmt.Errorf("%s: empty data section (perf did not finish)", path)
	}
	if _, err := f.Seek(int64(dataOff), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, bufio.NewReaderSize(io.LimitReader(f, int64(dataSize)), 1<<20), nil
}

// readCount reads the u64 at byte off of a record body of size body, when
// the body holds it, and returns it with the size of the body left to
// skip.
func readCount(r io.Reader, body, off int) (uint64, int, error) {
	if body < off+8 {
		return 0, body, nil
	}
	var buf [16]byte
	if _, err := io.ReadFull(r, buf[:off+8]); err != nil {
		return 0, body, err
	}
	return binary.LittleEndian.Uint64(buf[off:]), body - off - 8, nil
}

// sampleDedup counts SAMPLE records, telling apart the byte-identical
// copies of one of the previous dupWindow samples.
type sampleDedup struct {
	recent     map[uint64]int32 // hash of a recent sample: how many of the window have it
	ring       []uint64         // hashes of the window, oldest overwritten first
	n          int              // distinct samples seen
	kept, dups uint64
}

func newSampleDedup() *sampleDedup {
	return &sampleDedup{recent: make(map[uint64]int32, dupWindow), ring: make([]uint64, dupWindow)}
}

func (d *sampleDedup) add(sample []byte) {
	h := fnv.New64a()
	h.Write(sample)
	sum := h.Sum64()
	if d.recent[sum] > 0 {
		d.dups++
		return
	}
	d.kept++
	if d.n >= dupWindow {
		old := d.ring[d.n%dupWindow]
		if d.recent[old]--; d.recent[old] <= 0 {
			delete(d.recent, old)
		}
	}
	d.ring[d.n%dupWindow] = sum
	d.recent[sum]++
	d.n++
}
