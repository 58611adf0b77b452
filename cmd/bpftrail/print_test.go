package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
)

// writeSample writes a two-stream trace with known events and 5 discarded
// events on stream 1.
func writeSample(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := ctf.Create(dir, ctf.Options{Hostname: "testhost", Clock: func() uint64 { return 1000 }, ClockOffset: 1_700_000_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("syscalls:sys_enter_openat", ctf.Struct(
		ctf.F("_dfd", ctf.Int(32)), ctf.F("_filename", ctf.String()), ctf.F("_flags", ctf.Hex(ctf.Uint(32))),
		ctf.F("_vals", ctf.Array(ctf.Uint(8), 2))))
	if err != nil {
		t.Fatal(err)
	}
	s0, _ := w.Stream(0)
	s1, _ := w.Stream(1)
	if err := s0.Write(ec, 2000, -100, "/etc/passwd", 0x80000, []any{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Write(ec, 3000, 3, "a \"b\"", 0, []any{3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Flush(); err != nil {
		t.Fatal(err)
	}
	s1.AddDiscarded(5, 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPrintText(t *testing.T) {
	dir := writeSample(t)
	var out, errb bytes.Buffer
	if err := printTrace(dir, false, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`[22:13:20.000002000] (+?.?????????) cpu 0 syscalls:sys_enter_openat: { dfd = -100, filename = "/etc/passwd", flags = 0x80000, vals = [ [0] = 1, [1] = 2 ] }`,
		`[22:13:20.000003000] (+0.000001000) cpu 1 syscalls:sys_enter_openat: { dfd = 3, filename = "a \"b\"", flags = 0x0, vals = [ [0] = 3, [1] = 4 ] }`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
	if !strings.Contains(errb.String(), "stream stream_1 (cpu 1) discarded 5 events") {
		t.Errorf("discarded events not reported on stderr: %q", errb.String())
	}
}

func TestPrintJSON(t *testing.T) {
	dir := writeSample(t)
	var out, errb bytes.Buffer
	if err := printTrace(dir, true, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	var ev struct {
		TimestampNs int64          `json:"timestamp_ns"`
		Name        string         `json:"name"`
		CPU         *int           `json:"cpu"`
		Fields      map[string]any `json:"fields"`
	}
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.TimestampNs != 1_700_000_000_000_002_000 || ev.Name != "syscalls:sys_enter_openat" || ev.CPU == nil || *ev.CPU != 0 {
		t.Errorf("event header: %+v", ev)
	}
	if ev.Fields["dfd"] != json.Number("-100") || ev.Fields["filename"] != "/etc/passwd" || ev.Fields["flags"] != json.Number("524288") {
		t.Errorf("fields: %v", ev.Fields)
	}
	if !strings.HasPrefix(lines[0], `{"timestamp_ns":1700000000000002000,"name":"syscalls:sys_enter_openat","cpu":0,"fields":{"dfd":-100,"filename":"/etc/passwd","flags":524288,"vals":[1,2]}`) {
		t.Errorf("field order or shape: %s", lines[0])
	}
}

func TestPrintBadInput(t *testing.T) {
	good := writeSample(t)
	cases := []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "no such trace directory"},
		{"not a directory", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, []byte("x"), 0o644)
			return p
		}, "is not a directory"},
		{"no metadata", func(t *testing.T) string { return t.TempDir() }, "is not a CTF trace"},
		{"metadata syntax error", func(t *testing.T) string {
			dir := copyTrace(t, good)
			m, _ := os.ReadFile(filepath.Join(dir, "metadata"))
			m = bytes.Replace(m, []byte("byte_order = le;"), []byte("byte_order = le"), 1)
			os.WriteFile(filepath.Join(dir, "metadata"), m, 0o644)
			return dir
		}, "line"},
		{"corrupt packet", func(t *testing.T) string {
			dir := copyTrace(t, good)
			f, _ := os.OpenFile(filepath.Join(dir, "stream_1"), os.O_RDWR, 0)
			f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, ctf.PageSize)
			f.Close()
			return dir
		}, "stream_1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := printTrace(c.make(t), false, &out, &errb)
			if err == nil {
				t.Fatal("no error")
			}
			msg := oneLine(err)
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not mention %q", msg, c.want)
			}
		})
	}
}

func copyTrace(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
	return dst
}
