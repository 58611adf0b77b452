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
	recent := make(map[uint64]int32, dupWindow)
	ring := make([]uint64, dupWindow)
	var nsamples int
	var lostRec, lostSamples uint64
	sample := make([]byte, 0, 256)
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	var hdr [64]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, 0, 0, fmt.Errorf("%s: header: %w", path, err)
	}
	if string(hdr[:8]) != "PERFILE2" {
		return 0, 0, 0, fmt.Errorf("%s: not a perf.data file (magic %q)", path, hdr[:8])
	}
	le := binary.LittleEndian
	dataOff, dataSize := le.Uint64(hdr[40:]), le.Uint64(hdr[48:])
	if dataSize == 0 {
		return 0, 0, 0, fmt.Errorf("%s: empty data section (perf did not finish)", path)
	}
	if _, err := f.Seek(int64(dataOff), io.SeekStart); err != nil {
		return 0, 0, 0, err
	}
	r := bufio.NewReaderSize(io.LimitReader(f, int64(dataSize)), 1<<20)
	var buf [16]byte
	for {
		var eh [8]byte
		if _, err := io.ReadFull(r, eh[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return kept, dups, max(lostRec, lostSamples), nil
			}
			return kept, dups, lost, fmt.Errorf("%s: record header: %w", path, err)
		}
		typ, size := le.Uint32(eh[0:]), int(le.Uint16(eh[6:]))
		if size < 8 {
			return kept, dups, lost, fmt.Errorf("%s: bad record size %d", path, size)
		}
		body := size - 8
		switch typ {
		case perfRecordSample:
			sample = sample[:body]
			if _, err := io.ReadFull(r, sample); err != nil {
				return kept, dups, lost, err
			}
			body = 0
			h := fnv.New64a()
			h.Write(sample)
			sum := h.Sum64()
			if recent[sum] > 0 {
				dups++
				continue
			}
			kept++
			if nsamples >= dupWindow {
				old := ring[nsamples%dupWindow]
				if recent[old]--; recent[old] <= 0 {
					delete(recent, old)
				}
			}
			ring[nsamples%dupWindow] = sum
			recent[sum]++
			nsamples++
		case perfRecordLost: // u64 id, u64 lost
			if body >= 16 {
				if _, err := io.ReadFull(r, buf[:16]); err != nil {
					return kept, dups, lost, err
				}
				lostRec += le.Uint64(buf[8:])
				body -= 16
			}
		case perfRecordLostSamples: // u64 lost
			if body >= 8 {
				if _, err := io.ReadFull(r, buf[:8]); err != nil {
					return kept, dups, lost, err
				}
				lostSamples += le.Uint64(buf[:8])
				body -= 8
			}
		}
		if _, err := r.Discard(body); err != nil {
			return kept, dups, lost, fmt.Errorf("%s: record body: %w", path, err)
		}
	}
}
