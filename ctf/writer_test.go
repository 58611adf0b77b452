package ctf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// wtEvent is one event class of the all-types table: its payload fields,
// the values given to StreamWriter.Write, the same event through the
// Encoder, and what Value.Interface returns for each field when read back.
type wtEvent struct {
	name   string
	fields []Field
	in     []any            // Write values, one per field
	enc    func(e *Encoder) // Encoder path (after the event context)
	want   []any            // Interface() of each payload field
	noEnc  string           // why the Encoder path cannot write it
}

// wtAlign64 is a custom 64-bit integer aligned on 64 bits.
func wtAlign64(signed bool) *Type {
	return &Type{Kind: KindInteger, Size: 64, Align: 64, Signed: signed, Base: 10}
}

// wtStrings are strings that need escaping or are not ASCII.
var wtStrings = []string{
	`say "hi"`,
	`back\slash`,
	"new\nline",
	"UTF-8: héllo → 世界 🚀",
	"",
	"tab\there",
}

// wtAllTypes returns one event class per group of field types the writer
// supports.
func wtAllTypes() []wtEvent {
	colour := Enum(Int(32),
		EnumMapping{Label: "ZERO", Start: 0, End: 0},
		EnumMapping{Label: "ONE", Start: 1, End: 1},
		EnumMapping{Label: "RANGE", Start: 10, End: 20},
		EnumMapping{Label: "NEG", Start: -5, End: -3})
	level := Enum(Uint(8),
		EnumMapping{Label: "LOW", Start: 0, End: 0},
		EnumMapping{Label: "HIGH", Start: 200, End: 255})
	pair := Struct(F("k", Uint(8)), F("v", Int(16)))
	return []wtEvent{
		{
			name: "ints",
			fields: []Field{
				F("s8", Int(8)), F("s16", Int(16)), F("s32", Int(32)), F("s64", Int(64)),
				F("u8", Uint(8)), F("u16", Uint(16)), F("u32", Uint(32)), F("u64", Uint(64)),
			},
			in: []any{int8(math.MinInt8), int16(math.MinInt16), int32(math.MinInt32), int64(math.MinInt64),
				uint8(math.MaxUint8), uint16(math.MaxUint16), uint32(math.MaxUint32), uint64(math.MaxUint64)},
			enc: func(e *Encoder) {
				e.I8(math.MinInt8).I16(math.MinInt16).I32(math.MinInt32).I64(math.MinInt64).
					U8(math.MaxUint8).U16(math.MaxUint16).U32(math.MaxUint32).U64(math.MaxUint64)
			},
			want: []any{int64(math.MinInt8), int64(math.MinInt16), int64(math.MinInt32), int64(math.MinInt64),
				uint64(math.MaxUint8), uint64(math.MaxUint16), uint64(math.MaxUint32), uint64(math.MaxUint64)},
		},
		{
			name: "ints_small",
			fields: []Field{
				F("s8", Int(8)), F("s16", Int(16)), F("s32", Int(32)), F("s64", Int(64)),
				F("u8", Uint(8)), F("u16", Uint(16)), F("u32", Uint(32)), F("u64", Uint(64)),
				F("smax", Int(64)),
			},
			in: []any{-1, 0, 42, -7, 0, 1, 4242, uint64(1) << 40, int64(math.MaxInt64)},
			enc: func(e *Encoder) {
				e.I8(-1).I16(0).I32(42).I64(-7).U8(0).U16(1).U32(4242).U64(1 << 40).I64(math.MaxInt64)
			},
			want: []any{int64(-1), int64(0), int64(42), int64(-7), uint64(0), uint64(1), uint64(4242), uint64(1) << 40, int64(math.MaxInt64)},
		},
		{
			name:   "hex",
			fields: []Field{F("h32", Hex(Uint(32))), F("h64", Hex(Uint(64))), F("hs16", Hex(Int(16))), F("h8", Hex(Uint(8)))},
			in:     []any{uint32(0xdeadbeef), uint64(0xfedcba9876543210), int16(-2), uint8(0x0a)},
			enc:    func(e *Encoder) { e.U32(0xdeadbeef).U64(0xfedcba9876543210).I16(-2).U8(0x0a) },
			want:   []any{uint64(0xdeadbeef), uint64(0xfedcba9876543210), int64(-2), uint64(0x0a)},
		},
		{
			name:   "bools",
			fields: []Field{F("yes", Bool()), F("no", Bool())},
			in:     []any{true, false},
			enc:    func(e *Encoder) { e.U8(1).U8(0) },
			want:   []any{uint64(1), uint64(0)},
		},
		{
			name: "enums",
			fields: []Field{
				F("by_label", colour), F("in_range", colour), F("negative", colour), F("unmapped", colour),
				F("u_high", level), F("u_unmapped", level), F("u_zero", level),
			},
			in: []any{"ONE", 15, -4, 99, uint8(250), 7, "LOW"},
			enc: func(e *Encoder) {
				e.I32(1).I32(15).I32(-4).I32(99).U8(250).U8(7).U8(0)
			},
			want: []any{"ONE", "RANGE", "NEG", int64(99), "HIGH", uint64(7), "LOW"},
		},
		{
			name:   "floats",
			fields: []Field{F("f1", Float32()), F("f2", Float32()), F("d1", Float64()), F("d2", Float64()), F("d3", Float64()), F("d4", Float64())},
			in:     []any{float32(1.5), float32(-0.1), math.Pi, -1e300, 5e-324, 3},
			enc: func(e *Encoder) {
				e.F32(1.5).F32(-0.1).F64(math.Pi).F64(-1e300).F64(5e-324).F64(3)
			},
			want: []any{1.5, float64(float32(-0.1)), math.Pi, -1e300, 5e-324, 3.0},
		},
		{
			name: "test:strings",
			fields: []Field{
				F("quote", String()), F("backslash", String()), F("newline", String()),
				F("utf8", String()), F("empty", String()), F("string", String()),
			},
			in: []any{wtStrings[0], wtStrings[1], []byte(wtStrings[2]), wtStrings[3], wtStrings[4], wtStrings[5]},
			enc: func(e *Encoder) {
				e.String(wtStrings[0]).String(wtStrings[1]).CString([]byte(wtStrings[2] + "\x00junk")).
					String(wtStrings[3]).String(wtStrings[4]).String(wtStrings[5])
			},
			want: []any{wtStrings[0], wtStrings[1], wtStrings[2], wtStrings[3], wtStrings[4], wtStrings[5]},
		},
		{
			name:   "text",
			fields: []Field{F("comm", Text(16)), F("full", Text(16)), F("long", Text(16)), F("utf8", Text(16)), F("bytes", Text(4))},
			in:     []any{"bash", "0123456789abcdef", "0123456789abcdefXYZ", "héllo wörld", []byte("ab")},
			enc: func(e *Encoder) {
				e.Text([]byte("bash"), 16).Text([]byte("0123456789abcdef"), 16).
					Text([]byte("0123456789abcdefXYZ"), 16).Text([]byte("héllo wörld"), 16).Text([]byte("ab"), 4)
			},
			want: []any{"bash", "0123456789abcdef", "0123456789abcdef", "héllo wörld", "ab"},
		},
		{
			name: "arrays",
			fields: []Field{
				F("u16x3", Array(Uint(16), 3)), F("s64x2", Array(Int(64), 2)),
				F("hex8x4", Array(Hex(Uint(8)), 4)), F("pairs", Array(pair, 2)),
				F("strs", Array(String(), 2)),
			},
			in: []any{[]uint16{1, 2, 65535}, []any{-1, int64(math.MaxInt64)}, [4]uint8{0xde, 0xad, 0xbe, 0xef},
				[]any{[]any{1, -1}, map[string]any{"k": 2, "v": -300}}, []string{"a", "b\"c"}},
			enc: func(e *Encoder) {
				e.U16(1).U16(2).U16(65535).I64(-1).I64(math.MaxInt64).U8(0xde).U8(0xad).U8(0xbe).U8(0xef).
					U8(1).I16(-1).U8(2).I16(-300).String("a").String("b\"c")
			},
			want: []any{
				[]any{uint64(1), uint64(2), uint64(65535)}, []any{int64(-1), int64(math.MaxInt64)},
				[]any{uint64(0xde), uint64(0xad), uint64(0xbe), uint64(0xef)},
				[]any{Fields{{"k", uint64(1)}, {"v", int64(-1)}}, Fields{{"k", uint64(2)}, {"v", int64(-300)}}},
				[]any{"a", "b\"c"},
			},
		},
		{
			name: "sequences",
			fields: []Field{
				F("n", Uint(32)), F("seq", Sequence(Int(32), "n")),
				F("zero", Uint(8)), F("empty", Sequence(Uint(64), "zero")),
				F("tl", Uint(16)), F("txt", Sequence(Char(), "tl")),
				F("ns", Uint(8)), F("strs", Sequence(String(), "ns")),
			},
			in: []any{3, []int32{-1, 0, 1}, 0, []uint64{}, 5, "hello", 2, []any{"x", "yz"}},
			enc: func(e *Encoder) {
				e.U32(3).I32(-1).I32(0).I32(1).U8(0).U16(5).Text([]byte("hello"), 5).U8(2).String("x").String("yz")
			},
			want: []any{uint64(3), []any{int64(-1), int64(0), int64(1)}, uint64(0), []any{}, uint64(5), "hello",
				uint64(2), []any{"x", "yz"}},
		},
		{
			name: "nested",
			fields: []Field{
				F("a", Uint(8)),
				F("inner", Struct(
					F("x", Int(16)),
					F("s", String()),
					F("deep", Struct(F("y", Uint(64)), F("event", Text(8)))),
					F("cnt", Uint(8)),
					F("vals", Sequence(Uint(8), "cnt")),
				)),
				F("z", Int(32)),
			},
			in: []any{
				9,
				[]any{-12, "in", map[string]any{"y": uint64(1) << 63, "event": "ev"}, 2, []uint8{7, 8}},
				-99,
			},
			enc: func(e *Encoder) {
				e.U8(9).I16(-12).String("in").U64(1<<63).Text([]byte("ev"), 8).U8(2).U8(7).U8(8).I32(-99)
			},
			want: []any{
				uint64(9),
				Fields{{"x", int64(-12)}, {"s", "in"}, {"deep", Fields{{"y", uint64(1) << 63}, {"event", "ev"}}},
					{"cnt", uint64(2)}, {"vals", []any{uint64(7), uint64(8)}}},
				int64(-99),
			},
		},
		{
			name: "align64",
			fields: []Field{
				F("odd", Uint(8)), F("odd2", Uint(16)),
				F("big", wtAlign64(false)),
				F("s", String()),
				F("sbig", wtAlign64(true)),
				F("a32", &Type{Kind: KindInteger, Size: 32, Align: 32, Base: 16}),
			},
			in:    []any{7, 0x1234, uint64(0x1122334455667788), "abc", int64(-5), uint32(0xcafe)},
			noEnc: "the Encoder writes no alignment padding (fast path for byte-aligned payloads only)",
			want:  []any{uint64(7), uint64(0x1234), uint64(0x1122334455667788), "abc", int64(-5), uint64(0xcafe)},
		},
		{
			name: "empty",
			enc:  func(e *Encoder) {},
		},
	}
}

// wtContext is the event context used by the tests that want one.
func wtContext() *Type {
	return Struct(F("vpid", Int(32)), F("procname", Text(16)), F("flag", Bool()))
}

// wtCtxValues returns the context values of event i.
func wtCtxValues(i int) (in []any, enc func(*Encoder), want []any) {
	pid := int32(1000 + i)
	name := fmt.Sprintf("proc-%d", i)
	return []any{pid, name, i%2 == 0},
		func(e *Encoder) {
			e.I32(pid).Text([]byte(name), 16)
			if i%2 == 0 {
				e.U8(1)
			} else {
				e.U8(0)
			}
		},
		[]any{int64(pid), name, map[bool]uint64{true: 1, false: 0}[i%2 == 0]}
}

// wtClasses declares the event classes of evs.
func wtClasses(t testing.TB, w *Writer, evs []wtEvent) []*EventClass {
	t.Helper()
	ecs := make([]*EventClass, len(evs))
	for i, e := range evs {
		var st *Type
		if e.fields != nil {
			st = Struct(e.fields...)
		}
		ec, err := w.AddEventClass(e.name, st)
		if err != nil {
			t.Fatal(err)
		}
		ecs[i] = ec
	}
	return ecs
}

// wtPut writes event e of class ec with context values of index i (when
// the trace has a context) through Write or the Encoder.
func wtPut(t testing.TB, s *StreamWriter, ec *EventClass, e wtEvent, ts uint64, ctx bool, i int, useEnc bool) {
	t.Helper()
	cin, cenc, _ := wtCtxValues(i)
	if useEnc {
		enc := s.Begin(ec, ts)
		if ctx {
			cenc(enc)
		}
		e.enc(enc)
		if err := enc.Commit(); err != nil {
			t.Fatal(err)
		}
		return
	}
	var vals []any
	if ctx {
		vals = append(vals, cin...)
	}
	vals = append(vals, e.in...)
	if err := s.Write(ec, ts, vals...); err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
}

// wtWant returns what Interface() gives for the payload of e.
func wtWant(e wtEvent) any {
	if e.fields == nil {
		return nil
	}
	f := Fields{}
	for i, fl := range e.fields {
		f = append(f, KV{StripName(fl.Name), e.want[i]})
	}
	return f
}

// wtRead reads every event of the trace in dir.
type wtGot struct {
	Name    string
	Ns      int64
	CPU     int
	Ctx     any
	Payload any
}

func wtReadAll(t testing.TB, dir string) ([]wtGot, *Trace) {
	t.Helper()
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []wtGot
	it := tr.Events()
	for it.Next() {
		e := it.Event()
		got = append(got, wtGot{e.Class.Name, e.Ns, e.CPU, e.StreamContext.Interface(), e.Payload.Interface()})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return got, tr
}

// TestWriterRoundTrip writes every field type through Write and through the
// Encoder, with and without an event context, and reads it back.
func TestWriterRoundTrip(t *testing.T) {
	evs := wtAllTypes()
	for _, withCtx := range []bool{false, true} {
		for _, useEnc := range []bool{false, true} {
			name := map[bool]string{false: "Write", true: "Encoder"}[useEnc]
			if withCtx {
				name += "/context"
			}
			t.Run(name, func(t *testing.T) {
				opts := Options{Hostname: "testhost", Clock: func() uint64 { return 1000 }, ClockOffset: 1_700_000_000e9}
				if withCtx {
					opts.EventContext = wtContext()
				}
				dir := filepath.Join(t.TempDir(), "trace")
				w, err := Create(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				ecs := wtClasses(t, w, evs)
				s, err := w.Stream(3)
				if err != nil {
					t.Fatal(err)
				}
				type exp struct {
					name    string
					ts      uint64
					ctx     any
					payload any
				}
				var want []exp
				ts := uint64(1000)
				// Twice, so that the second round starts at odd offsets.
				for round := 0; round < 2; round++ {
					for i, e := range evs {
						if useEnc && e.noEnc != "" {
							if round == 0 {
								t.Logf("%s: not written through the Encoder: %s", e.name, e.noEnc)
							}
							continue
						}
						ts += 1 + uint64(i)*977
						k := len(want)
						wtPut(t, s, ecs[i], e, ts, withCtx, k, useEnc)
						var ctx any
						if withCtx {
							_, _, cw := wtCtxValues(k)
							ctx = Fields{{"vpid", cw[0]}, {"procname", cw[1]}, {"flag", cw[2]}}
						}
						want = append(want, exp{e.name, ts, ctx, wtWant(e)})
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				got, tr := wtReadAll(t, dir)
				if err := tr.Check(); err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("read %d events, wrote %d", len(got), len(want))
				}
				for i, g := range got {
					x := want[i]
					if g.Name != x.name || g.Ns != 1_700_000_000e9+int64(x.ts) || g.CPU != 3 {
						t.Errorf("event %d: %s at %d cpu %d, want %s at %d cpu 3", i, g.Name, g.Ns, g.CPU, x.name, 1_700_000_000e9+int64(x.ts))
					}
					if !reflect.DeepEqual(g.Ctx, x.ctx) {
						t.Errorf("event %d (%s) context:\n got %#v\nwant %#v", i, x.name, g.Ctx, x.ctx)
					}
					if !reflect.DeepEqual(g.Payload, x.payload) {
						t.Errorf("event %d (%s) payload:\n got %#v\nwant %#v", i, x.name, g.Payload, x.payload)
					}
				}
			})
		}
	}
}

// TestWriterAlign64Layout checks the bytes of a 64-bit aligned field after
// an odd-sized one: the padding is relative to the packet start.
func TestWriterAlign64Layout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{Clock: func() uint64 { return 1 }})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("a", Struct(F("odd", Uint(8)), F("big", wtAlign64(false))))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.Stream(0)
	if err := s.Write(ec, 2, 0xAB, uint64(0x0102030405060708)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "stream_0"))
	if err != nil {
		t.Fatal(err)
	}
	// Second packet: 84 bytes of header and context, a 4-byte compact event
	// header (offset 84..88: id 0, time 2), the payload aligned on 8 bytes:
	// odd at 88, big at 96.
	p := data[PageSize:]
	if !bytes.Equal(p[84:88], []byte{0, 2, 0, 0}) || p[88] != 0xAB || p[96] != 0x08 || p[103] != 0x01 {
		t.Fatalf("layout: % x", p[84:112])
	}
	for _, i := range []int{89, 90, 91, 92, 93, 94, 95} {
		if p[i] != 0 {
			t.Fatalf("padding byte %d is %#x: % x", i, p[i], p[84:112])
		}
	}
}

// TestWriterStats covers the counters, clamping of decreasing times and the
// extended header for large ids and time jumps.
func TestWriterStats(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{Clock: func() uint64 { return 100 }})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("e", Struct(F("v", Uint(32))))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.Stream(0)
	times := []uint64{1000, 900, 1000, 1 << 40, 5, (1 << 40) + 3}
	for i, ts := range times {
		if err := s.Write(ec, ts, i); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Events != 6 || st.Clamped != 2 {
		t.Fatalf("stats %+v", st)
	}
	s.AddDiscarded(5, 1<<41)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ws := w.Stats()
	fi, _ := os.Stat(filepath.Join(dir, "stream_0"))
	if ws.Discarded != 5 || ws.Bytes != fi.Size() || ws.Packets != 3 || fi.Size() != 3*PageSize {
		t.Fatalf("writer stats %+v, file %d bytes", ws, fi.Size())
	}
	got, tr := wtReadAll(t, dir)
	wantTs := []uint64{1000, 1000, 1000, 1 << 40, 1 << 40, (1 << 40) + 3}
	for i, g := range got {
		if g.Ns != int64(wantTs[i])+w.opts.ClockOffset {
			t.Errorf("event %d at %d, want %d", i, g.Ns-w.opts.ClockOffset, wantTs[i])
		}
	}
	if len(got) != len(wantTs) || tr.DiscardedTotal() != 5 {
		t.Fatalf("%d events, %d discarded", len(got), tr.DiscardedTotal())
	}
}

// TestWriterManyClasses uses an event id that needs the extended header.
func TestWriterManyClasses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{Clock: func() uint64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	// AddEventClass numbers classes from 0; declare a few with large ids
	// directly (same package) and write the metadata once.
	sc := w.meta.Streams[0]
	ids := []int{0, 65534, 65535, 70000, 1}
	byID := map[int]*EventClass{}
	for _, id := range []int{0, 1, 65534, 65535, 70000} {
		ec := &EventClass{ID: uint64(id), Name: fmt.Sprintf("e%d", id), Fields: Struct(F("v", Uint(32)))}
		sc.Events = append(sc.Events, ec)
		byID[id] = ec
	}
	if err := w.writeMetadata(); err != nil {
		t.Fatal(err)
	}
	s, _ := w.Stream(0)
	for i, id := range ids {
		e := s.Begin(byID[id], uint64(10+i))
		e.U32(uint32(id))
		if err := e.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := wtReadAll(t, dir)
	if len(got) != len(ids) {
		t.Fatalf("%d events", len(got))
	}
	for i, g := range got {
		if g.Name != fmt.Sprintf("e%d", ids[i]) || !reflect.DeepEqual(g.Payload, Fields{{"v", uint64(ids[i])}}) {
			t.Errorf("event %d: %+v", i, g)
		}
	}
}

// TestWriterHeaderTiers writes events at the bounds of each event header
// size (4, 7 and 13 bytes, by class id and time since the previous event)
// and reads them back with the reader and babeltrace2: same ids, same
// times.
func TestWriterHeaderTiers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{Clock: func() uint64 { return 10 }, ClockOffset: wtOffset})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		id    int
		delta uint64
		hdr   int
	}{
		{0, 1, 4},
		{253, 1<<24 - 1, 4},
		{254, 1, 7},
		{0, 1 << 24, 7},
		{65535, 1, 7},
		{65536, 1, 13},
		{1, 1<<32 - 1, 7},
		{1, 1 << 32, 13},
		{2, 0, 4},
	}
	sc := w.meta.Streams[0]
	byID := map[int]*EventClass{}
	for _, st := range steps {
		if byID[st.id] == nil {
			ec := &EventClass{ID: uint64(st.id), Name: fmt.Sprintf("e%d", st.id), Fields: Struct(F("v", Uint(32)))}
			sc.Events = append(sc.Events, ec)
			byID[st.id] = ec
		}
	}
	if err := w.writeMetadata(); err != nil {
		t.Fatal(err)
	}
	s, _ := w.Stream(0)
	ts := uint64(10)
	var want []int64
	for i, st := range steps {
		ts += st.delta
		before := s.Size()
		if err := s.Begin(byID[st.id], ts).U32(uint32(i)).Commit(); err != nil {
			t.Fatal(err)
		}
		if got := int(s.Size()-before) - 4; got != st.hdr {
			t.Errorf("event %d (id %d, %d ns after the previous): %d-byte header, want %d", i, st.id, st.delta, got, st.hdr)
		}
		want = append(want, int64(ts)+wtOffset)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := wtReadAll(t, dir)
	if len(got) != len(steps) {
		t.Fatalf("%d events, want %d", len(got), len(steps))
	}
	for i, g := range got {
		if g.Name != fmt.Sprintf("e%d", steps[i].id) || g.Ns != want[i] {
			t.Errorf("event %d: %s at %d, want e%d at %d", i, g.Name, g.Ns, steps[i].id, want[i])
		}
	}
	if _, err := exec.LookPath("babeltrace2"); err == nil || os.Getenv("CI") == "true" {
		wtNeedBT2(t)
		wtCompareBT2(t, dir)
	}
}

// TestWriterErrors covers what the writer rejects.
func TestWriterErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := Create(dir, Options{}); err == nil {
		t.Error("Create over an existing trace succeeded")
	}
	bad := []*Type{
		Int(8),
		Struct(F("x", &Type{Kind: KindInteger, Size: 12})),
		Struct(F("x", &Type{Kind: KindInteger, Size: 32, Align: 4})),
		Struct(F("seq", Sequence(Uint(8), "n")), F("n", Uint(8))),
		Struct(F("v", Variant("t", F("a", Uint(8))))),
		Struct(F("f", &Type{Kind: KindFloat, Size: 16})),
		Struct(F("nil", nil)),
	}
	for i, b := range bad {
		if _, err := w.AddEventClass(fmt.Sprintf("bad%d", i), b); err == nil {
			t.Errorf("type %d accepted", i)
		}
	}
	ec, err := w.AddEventClass("ok", Struct(F("n", Uint(8)), F("seq", Sequence(Uint(8), "n")), F("e", Enum(Uint(8), EnumMapping{"A", 1, 1}))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddEventClass("ok", nil); err == nil {
		t.Error("duplicate class accepted")
	}
	s, err := w.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Stream(-1); err == nil {
		t.Error("negative stream accepted")
	}
	for _, vals := range [][]any{
		{1},                           // too few
		{2, []uint8{1}, "A"},          // length mismatch
		{1, []uint8{1}, "B"},          // unknown label
		{"x", []uint8{1}, "A"},        // string for an integer
		{1, 5, "A"},                   // not a slice
		{1, []uint8{1}, "A", 4},       // too many
		{1, []any{"not an int"}, "A"}, // element type
		{1, []uint8{1}, 2.5},          // float for an enum
	} {
		if err := s.Write(ec, 1, vals...); err == nil {
			t.Errorf("Write(%v) succeeded", vals)
		}
	}
	if err := s.Write(ec, 1, 1, []uint8{9}, "A"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Stream(1); err == nil {
		t.Error("Stream after Close succeeded")
	}
	got, _ := wtReadAll(t, dir)
	if len(got) != 1 || !reflect.DeepEqual(got[0].Payload, Fields{{"n", uint64(1)}, {"seq", []any{uint64(9)}}, {"e", "A"}}) {
		t.Fatalf("after rejected writes: %+v", got)
	}
}

// ---- shared helpers for the tests that run external tools ----

// wtNeed skips the test when the program is missing, or fails it in CI.
func wtNeed(t testing.TB, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI: %v", p, err)
			}
			t.Skipf("%s not installed: %v", p, err)
		}
	}
}

// wtNeedBT2 checks for babeltrace2 and python3-bt2.
func wtNeedBT2(t testing.TB) {
	t.Helper()
	wtNeed(t, "babeltrace2", "/usr/bin/python3")
	if out, err := exec.Command("/usr/bin/python3", "-c", "import bt2").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-bt2 is required in CI: %v\n%s", err, out)
		}
		t.Skipf("python3-bt2 not importable: %v", err)
	}
}

// wtBT2Script dumps every message of a trace as a JSON line: events as
// {"name","ns","cpu","ctx","payload"}, discarded events as
// {"discarded": count, "stream": id}.
const wtBT2Script = `
import bt2, json, sys
def conv(f):
    if f is None:
        return None
    if isinstance(f, bt2._EnumerationFieldConst):
        try:
            l = list(f.labels)
        except AssertionError:  # bt2 2.0.4: no label matches
            l = []
        return sorted(l)[0] if l else int(f)
    if isinstance(f, bt2._BoolFieldConst): return bool(f)
    if isinstance(f, bt2._IntegerFieldConst): return int(f)
    if isinstance(f, bt2._RealFieldConst): return float(f)
    if isinstance(f, bt2._StringFieldConst): return str(f)
    if isinstance(f, bt2._StructureFieldConst): return {k: conv(v) for k, v in f.items()}
    if isinstance(f, bt2._VariantFieldConst): return conv(f.selected_option)
    if isinstance(f, bt2._ArrayFieldConst): return [conv(x) for x in f]
    raise Exception(type(f))
for msg in bt2.TraceCollectionMessageIterator(sys.argv[1]):
    if type(msg) is bt2._EventMessageConst:
        ev = msg.event
        pc = ev.packet.context_field
        cpu = int(pc["cpu_id"]) if pc is not None and "cpu_id" in pc else -1
        print(json.dumps({"name": ev.name, "ns": msg.default_clock_snapshot.ns_from_origin, "cpu": cpu,
            "ctx": conv(ev.common_context_field), "payload": conv(ev.payload_field)}, ensure_ascii=False))
    elif type(msg) is bt2._DiscardedEventsMessageConst:
        print(json.dumps({"discarded": msg.count, "stream": msg.stream.id}))
`

// wtBT2Line is one line of wtBT2Script.
type wtBT2Line struct {
	Name      string `json:"name"`
	Ns        int64  `json:"ns"`
	CPU       int    `json:"cpu"`
	Ctx       any    `json:"ctx"`
	Payload   any    `json:"payload"`
	Discarded uint64 `json:"discarded"`
	Stream    uint64 `json:"stream"`
}

// wtBT2Dump runs wtBT2Script on dir. Numbers are kept exact (json.Number).
func wtBT2Dump(t testing.TB, dir string) []wtBT2Line {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", wtBT2Script, dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bt2 on %s: %v\n%s", dir, err, stderr.String())
	}
	var lines []wtBT2Line
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.UseNumber()
	for dec.More() {
		var l wtBT2Line
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("bt2 output: %v", err)
		}
		l.Ctx, l.Payload = wtNorm(l.Ctx), wtNorm(l.Payload)
		lines = append(lines, l)
	}
	return lines
}

// wtNorm turns decoded JSON or Interface() data into a canonical form for
// comparison: integers and integral floats as "int:<decimal>" (JSON from
// Go prints the float 5 as 5, Python as 5.0), other floats as float64,
// structs as map[string]any.
func wtNorm(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			return "int:" + s
		}
		f, _ := x.Float64()
		return wtNorm(f)
	case int64:
		return fmt.Sprintf("int:%d", x)
	case uint64:
		return fmt.Sprintf("int:%d", x)
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return "int:" + strconv.FormatFloat(x, 'f', -1, 64)
		}
		return x
	case Fields:
		m := map[string]any{}
		for _, kv := range x {
			m[kv.Key] = wtNorm(kv.Value)
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = wtNorm(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i := range x {
			a[i] = wtNorm(x[i])
		}
		return a
	}
	return v
}

// wtCompareBT2 checks that bt2's view of dir equals our reader's: every
// event (name, ns, cpu, context, payload) in order, and the discarded
// counts. It returns the number of events.
func wtCompareBT2(t testing.TB, dir string) int {
	t.Helper()
	lines := wtBT2Dump(t, dir)
	got, tr := wtReadAll(t, dir)
	var theirs []wtBT2Line
	var theirDisc uint64
	for _, l := range lines {
		if l.Name == "" {
			theirDisc += l.Discarded
			continue
		}
		theirs = append(theirs, l)
	}
	if theirDisc != tr.DiscardedTotal() {
		t.Errorf("discarded: bt2 %d, ours %d", theirDisc, tr.DiscardedTotal())
	}
	if len(got) != len(theirs) {
		t.Fatalf("%d events, bt2 %d", len(got), len(theirs))
	}
	// Events with equal times may come in another order from different
	// streams: sort both by (ns, cpu) stably.
	sort.SliceStable(got, func(i, j int) bool {
		if got[i].Ns != got[j].Ns {
			return got[i].Ns < got[j].Ns
		}
		return got[i].CPU < got[j].CPU
	})
	sort.SliceStable(theirs, func(i, j int) bool {
		if theirs[i].Ns != theirs[j].Ns {
			return theirs[i].Ns < theirs[j].Ns
		}
		return theirs[i].CPU < theirs[j].CPU
	})
	bad := 0
	for i := range got {
		g, b := got[i], theirs[i]
		gc, gp := wtNorm(g.Ctx), wtNorm(g.Payload)
		if g.Name != b.Name || g.Ns != b.Ns || g.CPU != b.CPU || !reflect.DeepEqual(gc, b.Ctx) || !reflect.DeepEqual(gp, b.Payload) {
			t.Errorf("event %d differs:\n ours %s %d cpu %d %v %v\n  bt2 %s %d cpu %d %v %v",
				i, g.Name, g.Ns, g.CPU, gc, gp, b.Name, b.Ns, b.CPU, b.Ctx, b.Payload)
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}
	return len(got)
}

// wtBabeltrace runs babeltrace2 with args and returns stdout, stderr and
// the exit code.
func wtBabeltrace(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("babeltrace2", args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("babeltrace2: %v", err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

var wtCLI struct {
	once sync.Once
	path string
	err  error
}

// wtBuildCLI builds cmd/bpftrail once per test binary into a temporary
// directory. Other engineers change cmd/bpftrail concurrently, so a build
// failure skips the caller rather than failing it (unless CI=true).
func wtBuildCLI(t testing.TB) string {
	t.Helper()
	wtCLI.once.Do(func() {
		dir, err := os.MkdirTemp("", "bpftrail-cli-")
		if err != nil {
			wtCLI.err = err
			return
		}
		p := filepath.Join(dir, "bpftrail")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-o", p, "./cmd/bpftrail")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			wtCLI.err = fmt.Errorf("go build ./cmd/bpftrail: %v\n%s", err, out)
			return
		}
		wtCLI.path = p
	})
	if wtCLI.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(wtCLI.err)
		}
		t.Skip(wtCLI.err)
	}
	return wtCLI.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if wtCLI.path != "" {
		os.RemoveAll(filepath.Dir(wtCLI.path))
	}
	os.Exit(code)
}
