package recorder

import (
	"encoding/binary"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/ctf"
)

var (
	tU8   = &btf.Int{Name: "unsigned char", Size: 1}
	tU32  = &btf.Int{Name: "unsigned int", Size: 4}
	tU64  = &btf.Int{Name: "unsigned long long", Size: 8}
	tS16  = &btf.Int{Name: "short", Size: 2, Encoding: btf.Signed}
	tChar = &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
)

func member(name string, t btf.Type, byteOff int) btf.Member {
	return btf.Member{Name: name, Type: t, Offset: btf.Bits(byteOff * 8)}
}

func bitfield(name string, t btf.Type, bitOff, bits int) btf.Member {
	return btf.Member{Name: name, Type: t, Offset: btf.Bits(bitOff), BitfieldSize: btf.Bits(bits)}
}

// everyKind is, in BTF, the C struct
//
//	struct ev {
//		__u8 kind;               //  0
//		__u32 pid;               //  4, after 3 bytes of alignment
//		__u64 ts;                //  8
//		_Bool on;                // 16
//		enum state state;        // 20
//		char comm[5];            // 24: text
//		__u8 raw[3];             // 29: numbers
//		short vals[2];           // 32
//		__u32 f1:3, f2:5, :4, f3:4; // bits 288, 291, (296..299 unnamed), 300
//		const char *ptr;         // 40
//		double dbl;              // 48
//		struct { __u64 a; __u8 b; } in; // 56, 7 bytes of trailing padding
//		union { __u32 x; __u64 y; } u;  // 72
//		__u32 tail __attribute__((aligned(8)))... at 84 // a hole the alignment does not explain
//	}; // sizeof 88
func everyKind() *btf.Struct {
	state := &btf.Enum{Name: "state", Size: 4, Signed: true, Values: []btf.EnumValue{
		{Name: "IDLE", Value: 0}, {Name: "RUN", Value: 1}, {Name: "GONE", Value: math.MaxUint64}}}
	inner := &btf.Struct{Name: "inner", Size: 16, Members: []btf.Member{member("a", tU64, 0), member("b", tU8, 8)}}
	un := &btf.Union{Name: "u", Size: 8, Members: []btf.Member{member("x", tU32, 0), member("y", tU64, 0)}}
	return &btf.Struct{Name: "ev", Size: 88, Members: []btf.Member{
		member("kind", tU8, 0),
		member("pid", &btf.Typedef{Name: "__u32", Type: tU32}, 4),
		member("ts", &btf.Volatile{Type: tU64}, 8),
		member("on", &btf.Int{Name: "_Bool", Size: 1, Encoding: btf.Bool}, 16),
		member("state", state, 20),
		member("comm", &btf.Array{Index: tU32, Type: tChar, Nelems: 5}, 24),
		member("raw", &btf.Array{Index: tU32, Type: &btf.Typedef{Name: "__u8", Type: tU8}, Nelems: 3}, 29),
		member("vals", &btf.Array{Index: tU32, Type: tS16, Nelems: 2}, 32),
		bitfield("f1", tU32, 288, 3), bitfield("f2", tU32, 291, 5), bitfield("f3", tU32, 300, 4),
		member("ptr", &btf.Pointer{Target: &btf.Const{Type: tChar}}, 40),
		member("dbl", &btf.Float{Name: "double", Size: 8}, 48),
		member("in", inner, 56),
		member("u", un, 72),
		member("tail", tU32, 84),
	}}
}

// everyRecord lays out one everyKind record.
func everyRecord(ts uint64) []byte {
	r := make([]byte, 88)
	le := binary.NativeEndian
	r[0] = 7
	le.PutUint32(r[4:], 4321)
	le.PutUint64(r[8:], ts)
	r[16] = 1
	le.PutUint32(r[20:], math.MaxUint32) // GONE
	copy(r[24:], "ab")
	copy(r[29:], []byte{1, 2, 3})
	le.PutUint16(r[32:], uint16(0xFFFF)) // -1
	le.PutUint16(r[34:], 300)
	// f1 = 5, f2 = 17, f3 = 9: bits 288.. of the struct, byte 36 on.
	bits := uint32(5) | 17<<3 | 9<<12
	le.PutUint32(r[36:], bits)
	le.PutUint64(r[40:], 0xdeadbeef)
	le.PutUint64(r[48:], math.Float64bits(2.5))
	le.PutUint64(r[56:], 1<<40)
	r[64] = 9
	le.PutUint64(r[72:], 1<<33)
	for i := 80; i < 84; i++ {
		r[i] = 0xEE // the hole
	}
	le.PutUint32(r[84:], 77)
	return r
}

func TestEventTypeKinds(t *testing.T) {
	ct, err := EventType(everyKind())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ct.Fields {
		names = append(names, f.Name)
	}
	want := "kind pid ts on state comm raw vals f1 f2 _pad_bits_0 f3 ptr dbl in u _pad_1 tail"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("fields\n got %s\nwant %s", got, want)
	}
	f := func(name string) *ctf.Type { return ct.Field(name).Type }
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"pid u32 aligned", f("pid").Kind == ctf.KindInteger && f("pid").Size == 32 && !f("pid").Signed && f("pid").Alignment() == 32},
		{"ts u64", f("ts").Size == 64 && f("ts").Alignment() == 64},
		{"bool u8", f("on").Kind == ctf.KindInteger && f("on").Size == 8},
		{"enum signed with labels", f("state").Kind == ctf.KindEnum && f("state").Container.Signed && len(f("state").Mappings) == 3 && f("state").Mappings[2].Start == -1},
		{"char array is text", f("comm").IsText() && f("comm").Length == 5},
		{"u8 array is numbers", !f("raw").IsText() && f("raw").Kind == ctf.KindArray},
		{"short array", f("vals").Elem.Signed && f("vals").Elem.Size == 16},
		{"bit-field", f("f2").Size == 5 && f("f2").Alignment() == 1},
		{"unnamed bits", f("_pad_bits_0").Size == 4},
		{"pointer hex", f("ptr").Base == 16 && f("ptr").Size == 64},
		{"double", f("dbl").Kind == ctf.KindFloat && f("dbl").Size == 64},
		{"nested struct keeps its trailing padding", len(f("in").Fields) == 3 && f("in").Fields[2].Type.Length == 7},
		{"union as its full-size member", f("u").Kind == ctf.KindStruct && f("u").Fields[0].Name == "y" && f("u").Alignment() == 64},
		{"hole as bytes", f("_pad_1").Length == 4},
	} {
		if !c.ok {
			t.Errorf("%s: not so", c.name)
		}
	}
	l, err := ctf.Compile(ct)
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != 88 {
		t.Errorf("CTF size %d, C size 88", l.Size())
	}
}

func TestEventTypePacked(t *testing.T) {
	// struct __attribute__((packed)) { __u8 a; __u64 b; __u16 c; } — sizeof 11.
	s := &btf.Struct{Name: "p", Size: 11, Members: []btf.Member{member("a", tU8, 0), member("b", tU64, 1), member("c", &btf.Int{Name: "u16", Size: 2}, 9)}}
	ct, err := EventType(s)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctf.Compile(ct)
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != 11 || l.Align() != 1 {
		t.Errorf("packed struct: size %d align %d, want 11 and 1", l.Size(), l.Align())
	}
	for _, bad := range []*btf.Struct{
		{Name: "overlap", Size: 8, Members: []btf.Member{member("a", tU64, 0), member("b", tU32, 4)}},
		{Name: "int128", Size: 16, Members: []btf.Member{member("a", &btf.Int{Name: "__int128", Size: 16}, 0)}},
		{Name: "func", Size: 8, Members: []btf.Member{member("f", &btf.FuncProto{}, 0)}},
	} {
		if _, err := EventType(bad); err == nil {
			t.Errorf("%s: derived", bad.Name)
		}
	}
}

// TestRoundTrip writes every-kind records and reads them back with the
// package's reader and, where installed, babeltrace2.
func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	rec, err := Create(dir, []Event{{Type: everyKind()}}, &Options{TimeField: "ts", Trace: ctf.Options{Hostname: "h"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := ctf.MonotonicNow()
	for i := 0; i < 100; i++ {
		if err := rec.WriteRecord(i%2, everyRecord(ts+uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range [][]byte{make([]byte, 87), make([]byte, 89)} {
		if err := rec.WriteRecord(0, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("record of %d bytes: %v", len(bad), err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if st := rec.Stats(); st.Events != 100 || st.Malformed != 2 {
		t.Errorf("stats %+v", st)
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := tr.Each(func(e *ctf.Event) error {
		got := e.Payload.String()
		for _, w := range []string{`kind = 7`, `pid = 4321`, `on = 1`, `state = ( "GONE" : container = -1 )`, `comm = "ab"`,
			`raw = [ [0] = 1, [1] = 2, [2] = 3 ]`, `vals = [ [0] = -1, [1] = 300 ]`, `f1 = 5`, `f2 = 17`, `f3 = 9`,
			`ptr = 0xDEADBEEF`, `dbl = 2.5`, `in = { a = 1099511627776, b = 9`, `u = { y = 8589934592 }`, `tail = 77`} {
			if !strings.Contains(got, w) {
				t.Fatalf("event %s\nlacks %s", got, w)
			}
		}
		return nil
	})
	if err != nil || n != 100 {
		t.Fatalf("read %d events: %v", n, err)
	}
	bt, err := exec.LookPath("babeltrace2")
	if err != nil {
		t.Log("babeltrace2 not installed: not compared")
		return
	}
	out, err := exec.Command(bt, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("babeltrace2: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 100 || !strings.Contains(lines[0], `f2 = 17`) || !strings.Contains(lines[0], `comm = "ab"`) || !strings.Contains(lines[0], `dbl = 2.5`) {
		t.Fatalf("babeltrace2 printed %d lines, the first:\n%s", len(lines), lines[0])
	}
}

// TestSeveralEvents tells two event types apart by their type field.
func TestSeveralEvents(t *testing.T) {
	a := &btf.Struct{Name: "a", Size: 16, Members: []btf.Member{member("type", tU32, 0), member("ts", tU64, 8)}}
	b := &btf.Struct{Name: "b", Size: 24, Members: []btf.Member{member("type", tU32, 0), member("ts", tU64, 8), member("comm", &btf.Array{Type: tChar, Nelems: 8}, 16)}}
	dir := filepath.Join(t.TempDir(), "trace")
	if _, err := Create(dir, []Event{{Type: a}, {Type: b}}, nil); err == nil {
		t.Fatal("two events without a type field accepted")
	}
	rec, err := Create(dir, []Event{{Name: "ev:a", Type: a, ID: 1}, {Name: "ev:b", Type: b, ID: 2}}, &Options{TypeField: "type", TimeField: "ts"})
	if err != nil {
		t.Fatal(err)
	}
	ts := ctf.MonotonicNow()
	mk := func(typ uint32, size int) []byte {
		r := make([]byte, size)
		binary.NativeEndian.PutUint32(r, typ)
		binary.NativeEndian.PutUint64(r[8:], ts)
		if size == 24 {
			copy(r[16:], "bee")
		}
		ts++
		return r
	}
	for _, r := range [][]byte{mk(1, 16), mk(2, 24), mk(1, 16)} {
		if err := rec.WriteRecord(0, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range [][]byte{mk(3, 16), mk(2, 16), {1}} {
		if err := rec.WriteRecord(0, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("bad record accepted: %v", err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if _, err := tr.Each(func(e *ctf.Event) error { names = append(names, e.Class.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != "ev:a ev:b ev:a" {
		t.Errorf("events %s", got)
	}
}

type goRecord struct {
	Pid      uint32
	_        [4]byte
	TimeNs   uint64
	Comm     [8]int8
	Data     [2]uint8
	Name     [6]byte `ctf:"label,text"`
	Ok       bool
	Skipped  uint8 `ctf:"-"`
	ParentID int16
}

func TestGoEvent(t *testing.T) {
	ev, err := GoEvent("", &goRecord{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != "go_record" {
		t.Errorf("name %q", ev.Name)
	}
	dir := filepath.Join(t.TempDir(), "trace")
	rec, err := Create(dir, []Event{ev}, &Options{TimeField: "time_ns"})
	if err != nil {
		t.Fatal(err)
	}
	v := goRecord{Pid: 12, TimeNs: ctf.MonotonicNow(), Data: [2]uint8{4, 5}, Ok: true, ParentID: -3}
	copy(v.Name[:], "xyz")
	for i, c := range "go" {
		v.Comm[i] = int8(c)
	}
	if err := rec.Write(1, &v); err != nil {
		t.Fatal(err)
	}
	if err := rec.Write(1, v); err != nil {
		t.Fatal(err)
	}
	if err := rec.Write(1, struct{ X int }{}); err == nil {
		t.Error("a value of another type written")
	}
	if _, err := GoEvent("", struct{ S string }{}); err == nil {
		t.Error("a string field accepted")
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := tr.Each(func(e *ctf.Event) error {
		want := `{ pid = 12, time_ns = `
		got := e.Payload.String()
		if !strings.HasPrefix(got, want) || !strings.Contains(got, `comm = "go", data = [ [0] = 4, [1] = 5 ], label = "xyz", ok = 1, parent_id = -3 }`) || e.CPU != 1 {
			t.Errorf("event on CPU %d: %s", e.CPU, got)
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("read %d events: %v", n, err)
	}
}
