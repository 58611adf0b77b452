package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// perfRecord encodes one perf.data record of type typ with body.
func perfRecord(typ uint32, body []byte) []byte {
	rec := make([]byte, 8, 8+len(body))
	binary.LittleEndian.PutUint32(rec, typ)
	binary.LittleEndian.PutUint16(rec[6:], uint16(8+len(body)))
	return append(rec, body...)
}

func u64s(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// writePerfData writes a perf.data file whose data section holds records,
// after a gap that the header's data offset skips.
func writePerfData(t *testing.T, records ...[]byte) string {
	t.Helper()
	var data []byte
	for _, r := range records {
		data = append(data, r...)
	}
	const dataOff = 64 + 40
	hdr := make([]byte, dataOff)
	copy(hdr, "PERFILE2")
	binary.LittleEndian.PutUint64(hdr[40:], dataOff)
	binary.LittleEndian.PutUint64(hdr[48:], uint64(len(data)))
	for i := 64; i < dataOff; i++ {
		hdr[i] = 0xff // not records: must be skipped
	}
	path := filepath.Join(t.TempDir(), "perf.data")
	if err := os.WriteFile(path, append(append(hdr, data...), perfRecord(perfRecordSample, u64s(99))...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPerfCounts(t *testing.T) {
	const comm = 3 // PERF_RECORD_COMM, neither sample nor loss
	path := writePerfData(t,
		perfRecord(perfRecordSample, u64s(1, 100)),
		perfRecord(perfRecordSample, u64s(1, 100)), // a copy
		perfRecord(perfRecordSample, u64s(2, 100)),
		perfRecord(comm, []byte("comm\x00\x00\x00\x00")),
		perfRecord(perfRecordLost, u64s(7, 5)),
		perfRecord(perfRecordSample, u64s(3, 101, 5)),
		perfRecord(perfRecordLost, u64s(7, 6)),
		perfRecord(perfRecordLost, u64s(7)), // too short to hold a count
		perfRecord(perfRecordLostSamples, u64s(4)),
		perfRecord(perfRecordSample, u64s(1, 100)), // a copy, still in the window
		perfRecord(perfRecordLostSamples, u64s(3, 0xdead)),
	)
	kept, dups, lost, err := perfCounts(path)
	if err != nil {
		t.Fatal(err)
	}
	// LOST records sum to 11, LOST_SAMPLES to 7: the larger is kept.
	if kept != 3 || dups != 2 || lost != 11 {
		t.Errorf("perfCounts = kept %d, dups %d, lost %d; want 3, 2, 11", kept, dups, lost)
	}

	path = writePerfData(t,
		perfRecord(perfRecordLostSamples, u64s(20)),
		perfRecord(perfRecordLost, u64s(1, 2)),
	)
	if _, _, lost, err := perfCounts(path); err != nil || lost != 20 {
		t.Errorf("perfCounts lost = %d, %v; want 20", lost, err)
	}
}

func TestPerfCountsWindow(t *testing.T) {
	var records [][]byte
	for i := range dupWindow + 1 {
		records = append(records, perfRecord(perfRecordSample, u64s(uint64(i))))
	}
	// Sample 0 has left the window; kept again, it pushes sample 1 out,
	// but sample 2 is still in it.
	records = append(records, perfRecord(perfRecordSample, u64s(0)), perfRecord(perfRecordSample, u64s(2)))
	kept, dups, _, err := perfCounts(writePerfData(t, records...))
	if err != nil || kept != dupWindow+2 || dups != 1 {
		t.Errorf("perfCounts = kept %d, dups %d, %v; want %d, 1", kept, dups, err, dupWindow+2)
	}
}

func TestPerfCountsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := make([]byte, 64)
	copy(empty, "PERFILE2")
	badSize := writePerfData(t, []byte{byte(perfRecordSample), 0, 0, 0, 0, 0, 4, 0})
	truncated := writePerfData(t, perfRecord(perfRecordSample, u64s(1))[:12])
	for path, want := range map[string]string{
		filepath.Join(dir, "missing"):    "no such file",
		write("short", []byte("PERF")):   "header",
		write("magic", make([]byte, 64)): "not a perf.data file",
		write("empty", empty):            "empty data section",
		badSize:                          "bad record size 4",
		truncated:                        "unexpected EOF",
	} {
		if _, _, _, err := perfCounts(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("perfCounts(%s) error = %v, want %q", filepath.Base(path), err, want)
		}
	}
}
