package ctf

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
)

// aligned returns an integer type aligned on its size, as a C compiler
// aligns it.
func aligned(t *Type) *Type { t.Align = t.Size; return t }

// cEvent is, in CTF, the C struct
//
//	struct ev { u8 kind; u32 pid; u64 ts; u16 flags:3, mode:13; char comm[5]; struct { u64 a; u8 b; } in; u8 last; };
//
// with sizeof 48: padding after kind, after comm, and the nested struct's
// trailing padding declared as a field of it.
func cEvent() *Type {
	bit := func(n int) *Type { return &Type{Kind: KindInteger, Size: n, Align: 1, Base: 10} }
	return Struct(
		F("kind", Uint(8)),
		F("pid", aligned(Uint(32))),
		F("ts", aligned(Uint(64))),
		F("flags", bit(3)), F("mode", bit(13)),
		F("comm", Text(5)),
		F("in", Struct(F("a", aligned(Uint(64))), F("b", Uint(8)), F("_pad", Array(Uint(8), 7)))),
		F("last", Uint(8)),
	)
}

// cRecord lays out one cEvent as the C compiler would.
func cRecord(kind uint8, pid uint32, ts uint64, flags, mode uint16, comm string, a uint64, b, last uint8) []byte {
	r := make([]byte, 48)
	le := binary.LittleEndian
	r[0] = kind
	le.PutUint32(r[4:], pid)
	le.PutUint64(r[8:], ts)
	le.PutUint16(r[16:], flags|mode<<3)
	copy(r[18:23], comm)
	le.PutUint64(r[24:], a)
	r[32] = b
	r[40] = last
	for i := 41; i < 48; i++ {
		r[i] = 0xEE // trailing padding: never written
	}
	return r
}

func TestCompileLayout(t *testing.T) {
	l, err := Compile(cEvent())
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != 41 || l.CSize() != 48 || l.Align() != 8 {
		t.Errorf("size %d, C size %d, align %d; want 41, 48, 8", l.Size(), l.CSize(), l.Align())
	}
	for _, c := range []struct {
		name string
		t    *Type
		want string
	}{
		{"string", Struct(F("s", String())), "no fixed size"},
		{"sequence", Struct(F("n", Uint(8)), F("s", Sequence(Uint(8), "n"))), "no fixed size"},
		{"trailing padding", Struct(F("in", Struct(F("a", aligned(Uint(64))), F("b", Uint(8)))), F("c", Uint(8))), "in.b"},
		{"odd bits", Struct(F("b", &Type{Kind: KindInteger, Size: 3, Align: 1})), "bits into a byte"},
		{"not a struct", Uint(8), "not a struct"},
	} {
		_, err := Compile(c.t)
		if err == nil || !strings.Contains(err.Error(), c.want) && c.name != "trailing padding" {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	// The trailing-padding error names the field that C and CTF place
	// apart.
	_, err = Compile(Struct(F("in", Struct(F("a", aligned(Uint(64))), F("b", Uint(8)))), F("c", Uint(8))))
	if err == nil || !strings.Contains(err.Error(), "c: CTF reads it at byte 9 but a C compiler puts it at byte 16") {
		t.Errorf("trailing padding: %v", err)
	}
}

// TestEncoderStruct writes C records whose aligned fields land at every
// offset of their packets (events move to new packets as they fill) and
// reads them back.
func TestEncoderStruct(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	typ := cEvent()
	ec, err := w.AddEventClass("ev", typ)
	if err != nil {
		t.Fatal(err)
	}
	odd, err := w.AddEventClass("odd", Struct(F("x", Uint(8))))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Compile(typ)
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	ts := MonotonicNow()
	for i := 0; i < n; i++ {
		// A one-byte event in between shifts the next record's offset.
		if i%3 == 0 {
			if err := s.Begin(odd, ts).U8(uint8(i)).Commit(); err != nil {
				t.Fatal(err)
			}
		}
		raw := cRecord(uint8(i), uint32(1000+i), uint64(i)<<33, uint16(i%8), uint16(i), "ab", uint64(i)*3, 7, 9)
		if i%2 == 0 {
			raw = raw[:l.Size()]
		}
		if err := s.Begin(ec, ts+uint64(i)).Struct(l, raw).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	_, err = tr.Each(func(e *Event) error {
		if e.Class.Name != "ev" {
			return nil
		}
		get := func(name string) uint64 { v, _ := e.Payload.Get(name); return v.Uint }
		in, _ := e.Payload.Get("in")
		a, _ := in.Get("a")
		comm, _ := e.Payload.Get("comm")
		if get("kind") != uint64(uint8(i)) || get("pid") != uint64(1000+i) || get("ts") != uint64(i)<<33 ||
			get("flags") != uint64(i%8) || get("mode") != uint64(i) || string(comm.Bytes) != "ab" ||
			a.Uint != uint64(i)*3 || get("last") != 9 {
			t.Fatalf("event %d read back as %v", i, e.Payload)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("read %d events, wrote %d", i, n)
	}
}

// TestCommitRefuses checks that a fixed-size class refuses an event with a
// field missing or left over, or a record of the wrong size, and that the
// stream stays readable.
func TestCommitRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("pair", Struct(F("a", Uint(32)), F("b", Uint(64))))
	if err != nil {
		t.Fatal(err)
	}
	al, err := w.AddEventClass("aligned", Struct(F("a", aligned(Uint(32))), F("b", aligned(Uint(64)))))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Compile(al.Fields)
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	ts := MonotonicNow()
	for _, c := range []struct {
		name string
		enc  func() *Encoder
		ok   bool
	}{
		{"exact", func() *Encoder { return s.Begin(ec, ts).U32(1).U64(2) }, true},
		{"missing", func() *Encoder { return s.Begin(ec, ts).U32(1) }, false},
		{"left over", func() *Encoder { return s.Begin(ec, ts).U32(1).U64(2).U8(3) }, false},
		{"unaligned by hand", func() *Encoder { return s.Begin(al, ts).U32(1).U64(2) }, false},
		{"raw", func() *Encoder { return s.Begin(al, ts).Struct(l, make([]byte, 16)) }, true},
		{"raw short", func() *Encoder { return s.Begin(al, ts).Struct(l, make([]byte, 12)) }, false},
		{"raw long", func() *Encoder { return s.Begin(al, ts).Struct(l, make([]byte, 17)) }, false},
	} {
		err := c.enc().Commit()
		if (err == nil) != c.ok {
			t.Errorf("%s: Commit returned %v", c.name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := tr.Each(func(*Event) error { return nil })
	if err != nil || n != 2 {
		t.Fatalf("read %d events (%v), want the 2 accepted", n, err)
	}
}
