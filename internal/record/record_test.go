package record_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/record/recordtest"
)

var le = binary.LittleEndian

func TestSequential(t *testing.T) {
	tests := []struct {
		name   string
		fields []event.Field
		want   record.Layout
	}{
		{"no field", nil, record.Layout{Off: []int{}, Size: record.HeaderSize}},
		{"one int", []event.Field{{Name: "a", Kind: event.Int, Size: 4}},
			record.Layout{Off: []int{40}, Size: 44}},
		{"unaligned sizes follow each other", []event.Field{
			{Name: "a", Kind: event.Int, Size: 1},
			{Name: "b", Kind: event.Int, Size: 8},
			{Name: "c", Kind: event.Text, Size: 16},
			{Name: "d", Kind: event.Int, Size: 2},
		}, record.Layout{Off: []int{40, 41, 49, 65}, Size: 67}},
		{"stack and bytes", []event.Field{
			event.StackField(true),
			{Name: "b", Kind: event.Bytes, Size: 10},
		}, record.Layout{Off: []int{40, 40 + event.StackSize}, Size: 40 + event.StackSize + 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := record.Sequential(&event.Schema{Name: "t:t", Fields: tt.fields})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
		})
	}
}

// testClass is a class with one field of each kind, laid out sequentially.
func testClass(id uint32) *record.Class {
	s := &event.Schema{Name: "test:every_kind", Fields: []event.Field{
		{Name: "i8", Kind: event.Int, Size: 1, Signed: true},
		{Name: "u8", Kind: event.Int, Size: 1},
		{Name: "i16", Kind: event.Int, Size: 2, Signed: true},
		{Name: "u16", Kind: event.Int, Size: 2},
		{Name: "i32", Kind: event.Int, Size: 4, Signed: true},
		{Name: "u32", Kind: event.Int, Size: 4},
		{Name: "i64", Kind: event.Int, Size: 8, Signed: true},
		{Name: "u64", Kind: event.Int, Size: 8},
		{Name: "text", Kind: event.Text, Size: 8},
		{Name: "str", Kind: event.String, Size: 16},
		{Name: "bytes", Kind: event.Bytes, Size: 6},
		{Name: "arr", Kind: event.Array, Size: 4, ElemSize: 2, Len: 2},
		event.StackField(false),
	}}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return &record.Class{ID: id, Schema: s, Layout: record.Sequential(s)}
}

func TestDecodeErrors(t *testing.T) {
	c := testClass(1)
	dec := &record.Decoder{Classes: []*record.Class{nil, c}}
	full := recordtest.Build(c, recordtest.Header{}, nil)
	unknown := func(id uint32) []byte {
		b := append([]byte(nil), full...)
		le.PutUint32(b[record.OffClass:], id)
		return b
	}
	tests := []struct {
		name    string
		b       []byte
		want    error
		wantMsg string
	}{
		{"empty", nil, record.ErrShort, "record shorter than its layout"},
		{"shorter than the header", full[:record.HeaderSize-1], record.ErrShort, "record shorter than its layout"},
		{"header only", full[:record.HeaderSize], record.ErrShort,
			fmt.Sprintf("record shorter than its layout: test:every_kind: 40 of %d bytes", c.Layout.Size)},
		{"one byte short", full[:len(full)-1], record.ErrShort,
			fmt.Sprintf("record shorter than its layout: test:every_kind: %d of %d bytes", len(full)-1, c.Layout.Size)},
		{"nil class", unknown(0), record.ErrUnknownClass, "record of an unknown class: 0"},
		{"id past the classes", unknown(2), record.ErrUnknownClass, "record of an unknown class: 2"},
		{"huge id", unknown(0xffffffff), record.ErrUnknownClass, "record of an unknown class: 4294967295"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := dec.Decode(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode: err = %v, want %v", err, tt.want)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Decode: err = %q, want %q", err, tt.wantMsg)
			}
			if r.Class != nil || r.B != nil {
				t.Errorf("Decode returned a record with its error: %+v", r)
			}
		})
	}
}

func TestDecodeLongerRecord(t *testing.T) {
	// A record may be longer than its layout (the ring rounds sizes up).
	c := testClass(0)
	dec := &record.Decoder{Classes: []*record.Class{c}}
	b := append(recordtest.Build(c, recordtest.Header{PID: 7}, nil), 0, 0, 0)
	r, err := dec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Class != c || len(r.B) != len(b) || r.PID() != 7 {
		t.Errorf("Decode = class %p, %d bytes, pid %d; want class %p, %d bytes, pid 7", r.Class, len(r.B), r.PID(), c, len(b))
	}
}

func TestHeaderAccessors(t *testing.T) {
	c := testClass(0)
	h := recordtest.Header{Time: 0x1122334455667788, CPU: 3, PID: 1234, TID: 1240, Comm: "worker/3"}
	r, err := (&record.Decoder{Classes: []*record.Class{c}}).Decode(recordtest.Build(c, h, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Time(); got != h.Time {
		t.Errorf("Time = %#x, want %#x", got, h.Time)
	}
	if got := r.CPU(); got != 3 {
		t.Errorf("CPU = %d, want 3", got)
	}
	if got := r.PID(); got != 1234 {
		t.Errorf("PID = %d, want 1234", got)
	}
	if got := r.TID(); got != 1240 {
		t.Errorf("TID = %d, want 1240", got)
	}
	if got := string(r.Comm()); got != "worker/3" {
		t.Errorf("Comm = %q, want %q", got, "worker/3")
	}
}

func TestCommFullSlot(t *testing.T) {
	// A comm of 16 bytes without a NUL is kept whole.
	c := testClass(0)
	b := recordtest.Build(c, recordtest.Header{}, nil)
	copy(b[record.OffComm:], "0123456789abcdef")
	r := record.Record{Class: c, B: b}
	if got := string(r.Comm()); got != "0123456789abcdef" {
		t.Errorf("Comm = %q, want the whole 16-byte slot", got)
	}
}

func TestInt(t *testing.T) {
	c := testClass(0)
	tests := []struct {
		field string
		put   int64 // bits written to the slot (truncated to its size)
		want  int64
	}{
		{"i8", -1, -1},
		{"i8", 0x7f, 127},
		{"i8", 0x80, -128},
		{"u8", 0xff, 255},
		{"u8", 0x80, 128},
		{"i16", -2, -2},
		{"i16", 0x8000, -32768},
		{"u16", 0xffff, 65535},
		{"u16", 0x8001, 0x8001},
		{"i32", -100, -100},
		{"i32", 0x80000000, -2147483648},
		{"u32", 0xffffffff, 4294967295},
		{"u32", 0x80000000, 2147483648},
		{"i64", -5, -5},
		{"i64", 1 << 62, 1 << 62},
		{"u64", -1, -1}, // the bits of an unsigned 8-byte value
		{"u64", 0x0102030405060708, 0x0102030405060708},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s=%#x", tt.field, tt.put), func(t *testing.T) {
			b := recordtest.Build(c, recordtest.Header{}, map[string]any{tt.field: tt.put})
			r := record.Record{Class: c, B: b}
			i := c.Schema.Index(tt.field)
			if got := r.Int(i); got != tt.want {
				t.Errorf("Int = %d (%#x), want %d", got, got, tt.want)
			}
			v, ok := r.Value(tt.field)
			if !ok || v != any(tt.want) {
				t.Errorf("Value = %v (%T), %v; want int64 %d", v, v, ok, tt.want)
			}
		})
	}
}

func TestIntReadsOnlyItsSlot(t *testing.T) {
	// Neighbouring fields must not leak into a field's value.
	c := testClass(0)
	b := recordtest.Build(c, recordtest.Header{}, map[string]any{"i8": int64(-1), "i16": int64(-1), "u16": int64(0x1234)})
	r := record.Record{Class: c, B: b}
	if got := r.Int(c.Schema.Index("u8")); got != 0 {
		t.Errorf("u8 between two 0xff fields = %#x, want 0", got)
	}
	if got := r.Int(c.Schema.Index("u16")); got != 0x1234 {
		t.Errorf("u16 = %#x, want 0x1234", got)
	}
}

func TestStr(t *testing.T) {
	c := testClass(0)
	tests := []struct {
		name  string
		field string
		slot  []byte // raw bytes of the slot
		want  string
	}{
		{"text up to NUL", "text", []byte("ab\x00cdefg"), "ab"},
		{"text filling the slot", "text", []byte("abcdefgh"), "abcdefgh"},
		{"empty text", "text", []byte{0, 'x', 'y'}, ""},
		{"string up to NUL, garbage after", "str", []byte("/etc/passwd\x00zzzz"), "/etc/passwd"},
		{"string filling the slot", "str", []byte("0123456789abcdef"), "0123456789abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := recordtest.Build(c, recordtest.Header{}, nil)
			i := c.Schema.Index(tt.field)
			copy(b[c.Layout.Off[i]:c.Layout.Off[i]+c.Schema.Fields[i].Size], tt.slot)
			r := record.Record{Class: c, B: b}
			if got := string(r.Str(i)); got != tt.want {
				t.Errorf("Str = %q, want %q", got, tt.want)
			}
			if v, ok := r.Value(tt.field); !ok || v != any(tt.want) {
				t.Errorf("Value = %#v, %v; want string %q", v, ok, tt.want)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	c := testClass(0) // "bytes": 6 bytes, so at most 4 after the length
	i := c.Schema.Index("bytes")
	tests := []struct {
		name string
		n    uint16
		data []byte
		want []byte
	}{
		{"empty", 0, []byte{9, 9, 9, 9}, []byte{}},
		{"shorter than the slot", 2, []byte{1, 2, 9, 9}, []byte{1, 2}},
		{"the whole slot", 4, []byte{1, 2, 3, 4}, []byte{1, 2, 3, 4}},
		{"length past the slot", 200, []byte{1, 2, 3, 4}, []byte{1, 2, 3, 4}},
		{"max length", 0xffff, []byte{5, 6, 7, 8}, []byte{5, 6, 7, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := recordtest.Build(c, recordtest.Header{}, nil)
			off := c.Layout.Off[i]
			le.PutUint16(b[off:], tt.n)
			copy(b[off+2:off+6], tt.data)
			// A byte after the slot that must never be returned.
			b[off+6] = 0xee
			r := record.Record{Class: c, B: b}
			if diff := cmp.Diff(tt.want, r.Bytes(i)); diff != "" {
				t.Errorf("Bytes (-want +got):\n%s", diff)
			}
			v, ok := r.Value("bytes")
			if !ok {
				t.Fatal("Value: no bytes")
			}
			if diff := cmp.Diff(any(tt.want), v); diff != "" {
				t.Errorf("Value (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStack(t *testing.T) {
	c := testClass(0)
	i := c.Schema.Index("kstack")
	put := func(count int64, addrs ...uint64) []byte {
		b := recordtest.Build(c, recordtest.Header{}, nil)
		off := c.Layout.Off[i]
		le.PutUint64(b[off:], uint64(count))
		for k, a := range addrs {
			le.PutUint64(b[off+8+8*k:], a)
		}
		return b
	}
	full := make([]uint64, event.StackFrames)
	for k := range full {
		full[k] = 0xffffffff81000000 + uint64(k)
	}
	tests := []struct {
		name string
		b    []byte
		want []uint64
	}{
		{"three frames", put(24, 0x1000, 0x2000, 0x3000), []uint64{0x1000, 0x2000, 0x3000}},
		{"count shorter than the frames", put(16, 0x1000, 0x2000, 0x3000), []uint64{0x1000, 0x2000}},
		{"stops at the first zero", put(32, 0x1000, 0, 0x3000, 0x4000), []uint64{0x1000}},
		{"zero count", put(0, 0x1000), nil},
		{"negative count (an error)", put(-14, 0x1000, 0x2000), nil},
		{"count past the slot", put(1<<20, full...), full},
		{"a partial address is dropped", put(20, 0x1000, 0x2000, 0x3000), []uint64{0x1000, 0x2000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := record.Record{Class: c, B: tt.b}
			got := r.Stack(i, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Stack (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("appends to dst", func(t *testing.T) {
		r := record.Record{Class: c, B: put(8, 0xabc)}
		got := r.Stack(i, []uint64{1, 2})
		if diff := cmp.Diff([]uint64{1, 2, 0xabc}, got); diff != "" {
			t.Errorf("Stack (-want +got):\n%s", diff)
		}
	})
}

func TestStackAddrsShortSlot(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want []uint64
	}{
		{"nil", nil, nil},
		{"shorter than the count", []byte{8, 0, 0}, nil},
		{"count only", le.AppendUint64(nil, 8), nil},
		{"one address", le.AppendUint64(le.AppendUint64(nil, 8), 0x42), []uint64{0x42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, record.StackAddrs(tt.b, nil)); diff != "" {
				t.Errorf("StackAddrs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValue(t *testing.T) {
	c := testClass(0)
	h := recordtest.Header{Time: 1_000_000_007, CPU: 5, PID: 300, TID: 301, Comm: "bash"}
	b := recordtest.Build(c, h, map[string]any{
		"i32":   int64(-7),
		"text":  "hi",
		"str":   "/tmp/x",
		"bytes": []byte{1, 2},
		"arr":   []byte{0xaa, 0xbb, 0xcc, 0xdd},
	})
	r := record.Record{Class: c, B: b}
	tests := []struct {
		name string
		want any
		ok   bool
	}{
		{"pid", int64(300), true},
		{"tid", int64(301), true},
		{"cpu", int64(5), true},
		{"comm", "bash", true},
		{"time", int64(1_000_000_007), true},
		{"i32", int64(-7), true},
		{"text", "hi", true},
		{"str", "/tmp/x", true},
		{"bytes", []byte{1, 2}, true},
		{"arr", []byte{0xaa, 0xbb, 0xcc, 0xdd}, true}, // other kinds: the raw slot
		{"nosuch", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.Value(tt.name)
			if ok != tt.ok {
				t.Fatalf("Value(%q) ok = %v, want %v", tt.name, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Value(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
	t.Run("stack is raw", func(t *testing.T) {
		got, ok := r.Value("kstack")
		raw, isBytes := got.([]byte)
		if !ok || !isBytes || len(raw) != event.StackSize {
			t.Errorf("Value(kstack) = %T of %d bytes, %v; want the %d raw bytes", got, len(raw), ok, event.StackSize)
		}
	})
}

func TestValueFieldReplacesBuiltin(t *testing.T) {
	// A field named like a builtin takes its place (as sched_wakeup's pid,
	// the woken thread, does in filters and keys); the other builtins
	// still answer from the header.
	s := &event.Schema{Name: "t:pid", Fields: []event.Field{{Name: "pid", Kind: event.Int, Size: 4, Signed: true}}}
	c := &record.Class{Schema: s, Layout: record.Sequential(s)}
	r := record.Record{Class: c, B: recordtest.Build(c, recordtest.Header{PID: 11, TID: 12}, map[string]any{"pid": int64(22)})}
	if v, _ := r.Value("pid"); v != any(int64(22)) {
		t.Errorf("Value(pid) = %v, want the field's 22", v)
	}
	if v, _ := r.Value("tid"); v != any(int64(12)) || r.PID() != 11 {
		t.Errorf("Value(tid) = %v, PID() = %d, want the header's 12 and 11", v, r.PID())
	}
}
