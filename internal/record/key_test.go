package record_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/record"
)

func TestKeyLayoutSize(t *testing.T) {
	tests := []struct {
		name string
		k    record.KeyLayout
		want int
	}{
		{"no part: 8 zero bytes", nil, 8},
		{"empty", record.KeyLayout{}, 8},
		{"one int", record.KeyLayout{{Name: "pid", Kind: record.KeyInt, Size: 8}}, 8},
		{"class, comm, int", record.KeyLayout{
			{Name: "event", Kind: record.KeyClass, Size: 8},
			{Name: "comm", Kind: record.KeyString, Size: 16},
			{Name: "ret", Kind: record.KeyInt, Size: 8},
		}, 32},
		{"capped string", record.KeyLayout{{Name: "filename", Kind: record.KeyString, Size: record.KeyStringCap}}, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.k.Size(); got != tt.want {
				t.Errorf("Size = %d, want %d", got, tt.want)
			}
		})
	}
}

// keyBytes concatenates the 8-byte little-endian ints and the NUL-padded
// strings of a key.
func keyBytes(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int64:
			b = le.AppendUint64(b, uint64(p))
		case uint64:
			b = le.AppendUint64(b, p)
		case [2]any: // {string, slot size}
			s, n := p[0].(string), p[1].(int)
			slot := make([]byte, n)
			copy(slot, s)
			b = append(b, slot...)
		}
	}
	return b
}

func TestKeyLayoutDecode(t *testing.T) {
	classes := []string{"syscalls:sys_enter_openat", "syscalls:sys_enter_read"}
	comm := record.KeyPart{Name: "comm", Kind: record.KeyString, Size: 16}
	tests := []struct {
		name string
		k    record.KeyLayout
		b    []byte
		want record.Key
		str  string
	}{
		{"ints, signed", record.KeyLayout{
			{Name: "pid", Kind: record.KeyInt, Size: 8},
			{Name: "ret", Kind: record.KeyInt, Size: 8},
		}, keyBytes(int64(42), int64(-2)), record.Key{
			{Name: "pid", Int: 42, IsInt: true},
			{Name: "ret", Int: -2, IsInt: true},
		}, "pid=42 ret=-2"},
		{"all ones of a signed member is -1", record.KeyLayout{{Name: "ret", Kind: record.KeyInt, Size: 8}},
			keyBytes(^uint64(0)), record.Key{{Name: "ret", Int: -1, IsInt: true}}, "ret=-1"},
		{"an unsigned member above 2^63", record.KeyLayout{{Name: "addr", Kind: record.KeyInt, Size: 8, Unsigned: true}},
			keyBytes(uint64(0xffffffff81000000)), record.Key{{Name: "addr", Int: -0x7f000000, IsInt: true, Unsigned: true}}, "addr=18446744071578845184"},
		{"string up to NUL", record.KeyLayout{comm},
			keyBytes([2]any{"bash", 16}), record.Key{{Name: "comm", Str: "bash"}}, "comm=bash"},
		{"string filling the slot", record.KeyLayout{comm},
			keyBytes([2]any{"0123456789abcdef", 16}), record.Key{{Name: "comm", Str: "0123456789abcdef"}}, "comm=0123456789abcdef"},
		{"empty string", record.KeyLayout{comm},
			keyBytes([2]any{"", 16}), record.Key{{Name: "comm", Str: ""}}, "comm="},
		{"class names", record.KeyLayout{{Name: "event", Kind: record.KeyClass, Size: 8}, comm},
			keyBytes(int64(1), [2]any{"cat", 16}), record.Key{
				{Name: "event", Str: "syscalls:sys_enter_read"},
				{Name: "comm", Str: "cat"},
			}, "event=syscalls:sys_enter_read comm=cat"},
		{"unknown class id is empty", record.KeyLayout{{Name: "event", Kind: record.KeyClass, Size: 8}},
			keyBytes(int64(2)), record.Key{{Name: "event"}}, "event="},
		{"a string then an int", record.KeyLayout{
			{Name: "filename", Kind: record.KeyString, Size: 24},
			{Name: "flags", Kind: record.KeyInt, Size: 8},
		}, keyBytes([2]any{"/etc/hosts", 24}, int64(0x80000)), record.Key{
			{Name: "filename", Str: "/etc/hosts"},
			{Name: "flags", Int: 0x80000, IsInt: true},
		}, "filename=/etc/hosts flags=524288"},
		{"no part", nil, keyBytes(int64(0)), record.Key{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.b) != tt.k.Size() {
				t.Fatalf("test key has %d bytes, layout %d", len(tt.b), tt.k.Size())
			}
			got := tt.k.Decode(tt.b, classes)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String = %q, want %q", s, tt.str)
			}
		})
	}
}

// sink records what it is handed, and fails when told to.
type sink struct {
	name  string
	log   *[]string
	fail  error
	seen  []record.Record
	drops [][3]uint64
}

func (s *sink) WriteRecord(r record.Record) error {
	*s.log = append(*s.log, s.name+".WriteRecord")
	s.seen = append(s.seen, r)
	return s.fail
}

func (s *sink) AddDiscarded(cpu int, n, ts uint64) error {
	*s.log = append(*s.log, s.name+".AddDiscarded")
	s.drops = append(s.drops, [3]uint64{uint64(cpu), n, ts})
	return s.fail
}

func TestTee(t *testing.T) {
	c := testClass(0)
	rec := record.Record{Class: c, B: make([]byte, c.Layout.Size)}
	var log []string
	a, b, d := &sink{name: "a", log: &log}, &sink{name: "b", log: &log}, &sink{name: "c", log: &log}
	tee := record.Tee{a, b, d}
	if err := tee.WriteRecord(rec); err != nil {
		t.Fatal(err)
	}
	if err := tee.AddDiscarded(2, 5, 99); err != nil {
		t.Fatal(err)
	}
	want := []string{"a.WriteRecord", "b.WriteRecord", "c.WriteRecord", "a.AddDiscarded", "b.AddDiscarded", "c.AddDiscarded"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	for _, s := range []*sink{a, b, d} {
		if len(s.seen) != 1 || s.seen[0].Class != c || &s.seen[0].B[0] != &rec.B[0] {
			t.Errorf("%s got records %v, want the one record", s.name, s.seen)
		}
		if diff := cmp.Diff([][3]uint64{{2, 5, 99}}, s.drops); diff != "" {
			t.Errorf("%s discarded (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestTeeSink: a tee of one sink is that sink; of several, the tee.
func TestTeeSink(t *testing.T) {
	var log []string
	a, b := &sink{name: "a", log: &log}, &sink{name: "b", log: &log}
	if got := (record.Tee{a}).Sink(); got != record.Sink(a) {
		t.Errorf("a tee of one sink is %T, want the sink", got)
	}
	if err := (record.Tee{a, b}).Sink().AddDiscarded(0, 1, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.AddDiscarded", "b.AddDiscarded"}, log); diff != "" {
		t.Errorf("a tee of two: calls (-want +got):\n%s", diff)
	}
}

func TestTeeStopsAtError(t *testing.T) {
	boom := errors.New("disk full")
	tests := []struct {
		name string
		call func(record.Tee) error
		want []string
	}{
		{"WriteRecord", func(tee record.Tee) error { return tee.WriteRecord(record.Record{}) },
			[]string{"a.WriteRecord", "b.WriteRecord"}},
		{"AddDiscarded", func(tee record.Tee) error { return tee.AddDiscarded(0, 1, 0) },
			[]string{"a.AddDiscarded", "b.AddDiscarded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			tee := record.Tee{&sink{name: "a", log: &log}, &sink{name: "b", log: &log, fail: boom}, &sink{name: "c", log: &log}}
			if err := tt.call(tee); !errors.Is(err, boom) {
				t.Errorf("err = %v, want %v", err, boom)
			}
			if diff := cmp.Diff(tt.want, log); diff != "" {
				t.Errorf("calls (-want +got): the sink after the failing one must not run\n%s", diff)
			}
		})
	}
}

func TestEmptyTee(t *testing.T) {
	var tee record.Tee
	if err := tee.WriteRecord(record.Record{}); err != nil {
		t.Errorf("WriteRecord = %v", err)
	}
	if err := tee.AddDiscarded(0, 1, 0); err != nil {
		t.Errorf("AddDiscarded = %v", err)
	}
}
