package ctf

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// ---- a bit-level packet encoder for tests --------------------------------

// tw writes bits: little-endian fields fill each byte from its low bits,
// big-endian ones from its high bits.
type tw struct {
	b []byte
	n int64 // bits written
}

func (w *tw) bit(x uint64, be bool) {
	i := w.n / 8
	for int64(len(w.b)) <= i {
		w.b = append(w.b, 0)
	}
	if x&1 != 0 {
		if be {
			w.b[i] |= 1 << (7 - w.n%8)
		} else {
			w.b[i] |= 1 << (w.n % 8)
		}
	}
	w.n++
}

func (w *tw) align(a int64) {
	for a > 1 && w.n%a != 0 {
		w.bit(0, false)
	}
}

func (w *tw) put(size int, v uint64, be bool) {
	if be {
		for i := size - 1; i >= 0; i-- {
			w.bit(v>>uint(i), true)
		}
		return
	}
	for i := 0; i < size; i++ {
		w.bit(v>>uint(i), false)
	}
}

// tVar selects a variant option.
type tVar struct {
	opt string
	val any
}

func tU64(v any) uint64 {
	switch x := v.(type) {
	case nil:
		return 0
	case int:
		return uint64(x)
	case int64:
		return uint64(x)
	case uint64:
		return x
	case uint32:
		return uint64(x)
	case int32:
		return uint64(x)
	}
	panic(fmt.Sprintf("tU64 %T", v))
}

// tEnc encodes v as a value of type t.
func tEnc(w *tw, t *Type, v any, traceBE bool) {
	be := t.ByteOrder == BigEndian || (t.ByteOrder == DefaultOrder && traceBE)
	switch t.Kind {
	case KindInteger:
		w.align(int64(t.Alignment()))
		w.put(t.Size, tU64(v), be)
	case KindEnum:
		tEnc(w, t.Container, v, traceBE)
	case KindFloat:
		w.align(int64(t.Alignment()))
		if t.Size == 32 {
			w.put(32, uint64(math.Float32bits(float32(v.(float64)))), be)
		} else {
			w.put(64, math.Float64bits(v.(float64)), be)
		}
	case KindString:
		w.align(8)
		for _, c := range []byte(v.(string)) {
			w.put(8, uint64(c), false)
		}
		w.put(8, 0, false)
	case KindArray, KindSequence:
		w.align(int64(t.Elem.Alignment()))
		if s, ok := v.(string); ok {
			n := len(s)
			if t.Kind == KindArray {
				n = t.Length
			}
			for i := 0; i < n; i++ {
				var c byte
				if i < len(s) {
					c = s[i]
				}
				tEnc(w, t.Elem, int(c), traceBE)
			}
			return
		}
		for _, e := range v.([]any) {
			tEnc(w, t.Elem, e, traceBE)
		}
	case KindStruct:
		w.align(int64(t.Alignment()))
		vals, _ := v.([]any)
		for i, f := range t.Fields {
			var fv any
			if i < len(vals) {
				fv = vals[i]
			}
			tEnc(w, f.Type, fv, traceBE)
		}
	case KindVariant:
		tv := v.(tVar)
		f := t.Field(tv.opt)
		tEnc(w, f.Type, tv.val, traceBE)
	}
}

// tEv is one event to encode: values for each scope ([]any in field order).
type tEv struct {
	ec                      *EventClass
	hdr, sctx, ctx, payload []any
}

// tPkt is one packet to encode.
type tPkt struct {
	hdr  []any            // packet header values
	ctx  map[string]any   // packet context values by name (sizes are computed)
	evs  []tEv            //
	pad  int              // padding bytes after the content
	over map[string]int64 // override computed sizes (bits)
}

func tBuild(m *Metadata, sc *StreamClass, p tPkt) []byte {
	be := m.ByteOrder == BigEndian
	enc := func(content, packet int64) *tw {
		w := &tw{}
		if m.PacketHeader != nil {
			tEnc(w, m.PacketHeader, p.hdr, be)
		}
		if sc.PacketContext != nil {
			var vals []any
			for _, f := range sc.PacketContext.Fields {
				n := StripName(f.Name)
				switch {
				case p.over[n] != 0:
					vals = append(vals, p.over[n])
				case n == "content_size":
					vals = append(vals, content)
				case n == "packet_size":
					vals = append(vals, packet)
				default:
					vals = append(vals, p.ctx[n])
				}
			}
			tEnc(w, sc.PacketContext, vals, be)
		}
		for _, e := range p.evs {
			if sc.EventHeader != nil {
				tEnc(w, sc.EventHeader, e.hdr, be)
			}
			if sc.EventContext != nil {
				tEnc(w, sc.EventContext, e.sctx, be)
			}
			if e.ec.Context != nil {
				tEnc(w, e.ec.Context, e.ctx, be)
			}
			if e.ec.Fields != nil {
				tEnc(w, e.ec.Fields, e.payload, be)
			}
		}
		return w
	}
	w := enc(0, 0)
	content := w.n
	packet := (content+7)/8*8 + int64(p.pad)*8
	w = enc(content, packet)
	for int64(len(w.b))*8 < packet {
		w.b = append(w.b, 0)
	}
	return w.b
}

// ---- metadata used by the tests -----------------------------------------

func tClk(bits int, align int) *Type {
	t := Uint(bits)
	t.Align = align
	t.Clock = "monotonic"
	return t
}

// tWriterMeta returns metadata shaped like the writer's and like LTTng's:
// full packet header and context, the "large" event header.
func tWriterMeta(events ...*EventClass) *Metadata {
	idEnum := Enum(Uint(16), EnumMapping{"compact", 0, 65534}, EnumMapping{"extended", 65535, 65535})
	hdr := Struct(
		F("id", idEnum),
		F("v", Variant("id",
			F("compact", Struct(F("timestamp", tClk(32, 8)))),
			F("extended", Struct(F("id", Uint(32)), F("timestamp", tClk(64, 8)))))))
	sc := &StreamClass{
		ID: 0,
		PacketContext: Struct(
			F("timestamp_begin", tClk(64, 8)),
			F("timestamp_end", tClk(64, 8)),
			F("content_size", Uint(64)),
			F("packet_size", Uint(64)),
			F("packet_seq_num", Uint(64)),
			F("events_discarded", Uint(64)),
			F("cpu_id", Uint(32))),
		EventHeader: hdr,
		Events:      events,
	}
	return &Metadata{
		Major: 1, Minor: 8, ByteOrder: LittleEndian,
		PacketHeader: Struct(F("magic", Uint(32)), F("uuid", Array(Uint(8), 16)), F("stream_id", Uint(32)), F("stream_instance_id", Uint(64))),
		Clocks:       []*Clock{{Name: "monotonic", Freq: 1e9, Offset: 1_700_000_000_000_000_000}},
		Streams:      []*StreamClass{sc},
	}
}

func tLargeHdr(id uint64, ts uint64) []any {
	if id < 65535 && ts < 1<<32 {
		return []any{id, tVar{"compact", []any{ts & 0xffffffff}}}
	}
	return []any{uint64(65535), tVar{"extended", []any{id, ts}}}
}

func tPH(inst uint64) []any {
	return []any{uint64(0xC1FC1FC1), make([]any, 16), uint64(0), inst}
}

func tCtx(begin, end, seq, disc uint64, cpu int) map[string]any {
	return map[string]any{"timestamp_begin": begin, "timestamp_end": end, "packet_seq_num": seq, "events_discarded": disc, "cpu_id": cpu}
}

func tOpenEvent() *EventClass {
	return &EventClass{ID: 1, Name: "syscall_entry_openat", Fields: Struct(
		F("_pid", Uint(32)), F("_tid", Uint(32)), F("_comm", Text(16)), F("_filename", String()),
		F("_flags", Hex(Uint(64))), F("_mode", Uint(64)))}
}

func tWrite(t testing.TB, dir, name string, packets ...[]byte) string {
	t.Helper()
	var all []byte
	for _, p := range packets {
		all = append(all, p...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, all, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type tGot struct {
	name    string
	ns      int64
	cyc     uint64
	cpu     int
	payload string
}

func tReadAll(t testing.TB, tr *Trace) []tGot {
	t.Helper()
	var got []tGot
	it := tr.Events()
	for it.Next() {
		e := it.Event()
		b, err := json.Marshal(e.Payload.Interface())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tGot{e.Class.Name, e.Ns, e.Cycles, e.CPU, string(b)})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// ---- tests ------------------------------------------------------------------

func TestReadWriterLayout(t *testing.T) {
	ev := tOpenEvent()
	exit := &EventClass{ID: 70000, Name: "syscall_exit_openat", Fields: Struct(F("_ret", Int(64)))}
	m := tWriterMeta(ev, exit)
	sc := m.Streams[0]
	dir := t.TempDir()
	p1 := tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(100, 300, 0, 0, 2), pad: 13, evs: []tEv{
		{ec: ev, hdr: tLargeHdr(1, 100), payload: []any{42, 43, "bash", "/etc/passwd", 0xdead, 0o644}},
		{ec: exit, hdr: tLargeHdr(70000, 300), payload: []any{-2}},
	}})
	p2 := tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(300, 1<<33, 1, 0, 2), evs: []tEv{
		{ec: ev, hdr: tLargeHdr(1, 1<<33), payload: []any{1, 2, "a-very-long-command-name", "", 0, 0}},
	}})
	tWrite(t, dir, "stream_0", p1, p2)
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Streams) != 1 {
		t.Fatalf("streams: %d", len(tr.Streams))
	}
	s := tr.Streams[0]
	if s.Packets != 2 || s.CPU != 2 || s.InstanceID != 0 || s.TornBytes != 0 || s.Class != sc {
		t.Fatalf("stream: %+v", s)
	}
	if err := tr.Check(); err != nil {
		t.Fatal(err)
	}
	got := tReadAll(t, tr)
	base := int64(1_700_000_000_000_000_000)
	want := []tGot{
		{"syscall_entry_openat", base + 100, 100, 2, `{"pid":42,"tid":43,"comm":"bash","filename":"/etc/passwd","flags":57005,"mode":420}`},
		{"syscall_exit_openat", base + 300, 300, 2, `{"ret":-2}`},
		{"syscall_entry_openat", base + 1<<33, 1 << 33, 2, `{"pid":1,"tid":2,"comm":"a-very-long-comm","filename":"","flags":0,"mode":0}`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// String, Get and the header values.
	it := tr.Events()
	if !it.Next() {
		t.Fatal(it.Err())
	}
	e := it.Event()
	if s := e.Payload.String(); s != `{ pid = 42, tid = 43, comm = "bash", filename = "/etc/passwd", flags = 0xDEAD, mode = 420 }` {
		t.Errorf("String: %s", s)
	}
	if v, ok := e.Payload.Get("filename"); !ok || string(v.Bytes) != "/etc/passwd" {
		t.Errorf("Get filename: %v %v", v, ok)
	}
	if v, ok := e.Payload.Get("_pid"); !ok || v.Uint != 42 {
		t.Errorf("Get _pid: %v %v", v, ok)
	}
	if s := e.Header.String(); s != `{ id = ( "compact" : container = 1 ), v = { compact = { timestamp = 100 } } }` {
		t.Errorf("header: %s", s)
	}
	if v, _ := e.PacketContext.Get("cpu_id"); v.Uint != 2 {
		t.Errorf("cpu_id %v", v)
	}
	if e.StreamContext.Type != nil || e.Context.Type != nil {
		t.Errorf("absent scopes have types")
	}
	it.Close()
}

func TestBitPackedAndBigEndian(t *testing.T) {
	be13 := Uint(13)
	be13.Align, be13.ByteOrder = 1, BigEndian
	u3 := Uint(3)
	u3.Align = 1
	i5 := Int(5)
	i5.Align = 1
	u64u := Uint(64)
	u64u.Align = 1
	i64u := Int(64)
	i64u.Align = 1
	beU32 := Uint(32)
	beU32.ByteOrder = BigEndian
	beF := Float64()
	beF.ByteOrder = BigEndian
	ev := &EventClass{ID: 0, Name: "bits", Fields: Struct(
		F("a", u3), F("b", i5), F("c", u64u), F("d", i64u), F("e", be13), F("f", beU32), F("g", Float32()), F("h", beF), F("i", u3))}
	for _, traceBE := range []bool{false, true} {
		t.Run(fmt.Sprint("traceBE=", traceBE), func(t *testing.T) {
			m := &Metadata{Major: 1, Minor: 8, ByteOrder: LittleEndian, Streams: []*StreamClass{{Events: []*EventClass{ev}}}}
			if traceBE {
				m.ByteOrder = BigEndian
			}
			// No packet header or context: the file is one packet.
			sc := m.Streams[0]
			vals := []any{5, -3, uint64(0xfedcba9876543210), int64(-0x123456789), 0x1abc, 0xdeadbeef, 1.5, -2.25, 6}
			pk := tBuild(m, sc, tPkt{evs: []tEv{{ec: ev, payload: vals}, {ec: ev, payload: vals}}})
			dir := t.TempDir()
			tWrite(t, dir, "s", pk)
			tr, err := rdOpen(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			got := tReadAll(t, tr)
			if len(got) != 2 {
				t.Fatalf("%d events", len(got))
			}
			want := `{"a":5,"b":-3,"c":18364758544493064720,"d":-4886718345,"e":6844,"f":3735928559,"g":1.5,"h":-2.25,"i":6}`
			for _, g := range got {
				if g.payload != want {
					t.Errorf("got  %s\nwant %s", g.payload, want)
				}
			}
		})
	}
}

func TestBitReader(t *testing.T) {
	// Every size and bit offset, both orders, against the test encoder.
	for _, be := range []bool{false, true} {
		for size := 1; size <= 64; size++ {
			for off := 0; off < 8; off++ {
				w := &tw{}
				w.put(off, 0x55, be)
				v := uint64(0xA5C3_96E1_0F7B_D248) >> uint(64-size)
				w.put(size, v, be)
				w.put(11, 0x7ff, be)
				d := &decoder{buf: w.b, limit: w.n, srcLen: int64(len(w.b)), pos: int64(off)}
				got, err := d.bits(size, be)
				if err != nil || got != v {
					t.Fatalf("be=%v size=%d off=%d: %#x %v, want %#x", be, size, off, got, err, v)
				}
			}
		}
	}
}

func TestAlign64AcrossOddPackets(t *testing.T) {
	a64 := Uint(64)
	a64.Align = 64
	ev := &EventClass{ID: 0, Name: "al", Fields: Struct(F("a", Uint(8)), F("b", a64), F("s", String()))}
	m := &Metadata{Major: 1, Minor: 8, ByteOrder: LittleEndian,
		PacketHeader: Struct(F("magic", Uint(32)), F("x", Uint(8))),
		Streams: []*StreamClass{{
			PacketContext: Struct(F("content_size", Uint(32)), F("packet_size", Uint(32)), F("odd", Uint(8))),
			Events:        []*EventClass{ev}}}}
	sc := m.Streams[0]
	dir := t.TempDir()
	var pks [][]byte
	var want []string
	for i := 0; i < 4; i++ {
		var evs []tEv
		for j := 0; j <= i; j++ {
			s := strings.Repeat("x", i+j)
			evs = append(evs, tEv{ec: ev, payload: []any{i, uint64(1000*i + j), s}})
			want = append(want, fmt.Sprintf(`{"a":%d,"b":%d,"s":"%s"}`, i, 1000*i+j, s))
		}
		pk := tBuild(m, sc, tPkt{hdr: []any{uint64(0xC1FC1FC1), 7}, evs: evs, pad: i % 3})
		if len(pk)%8 == 0 {
			pk = tBuild(m, sc, tPkt{hdr: []any{uint64(0xC1FC1FC1), 7}, evs: evs, pad: i%3 + 1})
		}
		pks = append(pks, pk)
	}
	tWrite(t, dir, "s", pks...)
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Streams[0].Packets != 4 {
		t.Fatalf("packets %d", tr.Streams[0].Packets)
	}
	got := tReadAll(t, tr)
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].payload != want[i] {
			t.Errorf("event %d: %s, want %s", i, got[i].payload, want[i])
		}
	}
}

func TestSequencesAndVariants(t *testing.T) {
	kind := Enum(Int(8), EnumMapping{"num", 0, 0}, EnumMapping{"str", 1, 1}, EnumMapping{"both", 2, 5})
	elem := Struct(F("n", Uint(8)), F("v", Sequence(Uint(16), "n")))
	ev := &EventClass{ID: 3, Name: "seq",
		Context: Struct(F("_cnt", Uint(8))),
		Fields: Struct(
			F("__msg_length", Uint(32)),
			F("_msg", Sequence(Char(), "__msg_length")),
			F("_vals", Sequence(Int(32), "event.context._cnt")),
			F("_pc", Sequence(Uint(8), "stream.packet.context.n")),
			F("_nested", Sequence(elem, "event.fields.__msg_length")),
			F("_tag", kind),
			F("_u", Variant("_tag", F("num", Uint(64)), F("str", String()), F("both", Struct(F("a", Uint(8)), F("b", String()))))),
			F("_arr", Array(Struct(F("k", Uint(8)), F("t", Sequence(Char(), "k"))), 2)),
		)}
	m := &Metadata{Major: 1, Minor: 8, ByteOrder: LittleEndian, Streams: []*StreamClass{{
		PacketContext: Struct(F("content_size", Uint(64)), F("packet_size", Uint(64)), F("n", Uint(8))),
		EventHeader:   Struct(F("id", Uint(8))),
		Events:        []*EventClass{ev}}}}
	sc := m.Streams[0]
	pk := tBuild(m, sc, tPkt{ctx: map[string]any{"n": 2}, evs: []tEv{
		{ec: ev, hdr: []any{3}, ctx: []any{3},
			payload: []any{2, "hi", []any{-1, 2, -3}, []any{9, 8},
				[]any{[]any{1, []any{7}}, []any{0, []any{}}},
				0, tVar{"num", uint64(77)},
				[]any{[]any{1, "a"}, []any{2, "bc"}}}},
		{ec: ev, hdr: []any{3}, ctx: []any{0},
			payload: []any{0, "", []any{}, []any{1, 2},
				[]any{},
				4, tVar{"both", []any{5, "x"}},
				[]any{[]any{0, ""}, []any{0, ""}}}},
	}})
	dir := t.TempDir()
	tWrite(t, dir, "s", pk)
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	got := tReadAll(t, tr)
	want := []string{
		`{"_msg_length":2,"msg":"hi","vals":[-1,2,-3],"pc":[9,8],"nested":[{"n":1,"v":[7]},{"n":0,"v":[]}],"tag":"num","u":77,"arr":[{"k":1,"t":"a"},{"k":2,"t":"bc"}]}`,
		`{"_msg_length":0,"msg":"","vals":[],"pc":[1,2],"nested":[],"tag":"both","u":{"a":5,"b":"x"},"arr":[{"k":0,"t":""},{"k":0,"t":""}]}`,
	}
	if len(got) != 2 {
		t.Fatalf("%d events", len(got))
	}
	for i := range want {
		if got[i].payload != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got[i].payload, want[i])
		}
	}
	// String of an enum and a variant.
	it := tr.Events()
	it.Next()
	p := it.Event().Payload
	if v, _ := p.Get("tag"); v.String() != `( "num" : container = 0 )` {
		t.Errorf("enum String %s", v.String())
	}
	if v, _ := p.Get("u"); v.String() != `{ num = 77 }` || v.Label != "num" {
		t.Errorf("variant String %s", v.String())
	}
	if v, _ := p.Get("vals"); v.String() != `[ [0] = -1, [1] = 2, [2] = -3 ]` {
		t.Errorf("array String %s", v.String())
	}
	it.Close()
}

// tCompactMeta returns LTTng's compact event header layout.
func tCompactMeta(events ...*EventClass) *Metadata {
	m := tWriterMeta(events...)
	u5 := Uint(5)
	u5.Align = 1
	m.Streams[0].EventHeader = Struct(
		F("id", Enum(u5, EnumMapping{"compact", 0, 30}, EnumMapping{"extended", 31, 31})),
		F("v", Variant("id",
			F("compact", Struct(F("timestamp", tClk(27, 1)))),
			F("extended", Struct(F("id", Uint(32)), F("timestamp", tClk(64, 8)))))))
	m.Streams[0].EventHeader.MinAlign = 8
	return m
}

func tCompactHdr(id uint64, ts uint64, ext bool) []any {
	if ext {
		return []any{uint64(31), tVar{"extended", []any{id, ts}}}
	}
	return []any{id, tVar{"compact", []any{ts & (1<<27 - 1)}}}
}

func TestCompactHeaderClockWrap(t *testing.T) {
	ev := &EventClass{ID: 2, Name: "e2", Fields: Struct(F("x", Uint(32)))}
	big := &EventClass{ID: 40, Name: "e40", Fields: Struct(F("y", Uint(8)))}
	m := tCompactMeta(ev, big)
	sc := m.Streams[0]
	begin := uint64(5<<27 - 100)
	ts := []uint64{begin + 10, begin + 99, begin + 150, begin + 150 + 1<<26, 6<<27 + 5, 7<<27 + 6}
	evs := []tEv{
		{ec: ev, hdr: tCompactHdr(2, ts[0], false), payload: []any{0}},
		{ec: ev, hdr: tCompactHdr(2, ts[1], false), payload: []any{1}},
		{ec: ev, hdr: tCompactHdr(2, ts[2], false), payload: []any{2}}, // wraps 2^27
		{ec: big, hdr: tCompactHdr(40, ts[3], true), payload: []any{3}},
		{ec: ev, hdr: tCompactHdr(2, ts[4], false), payload: []any{4}}, // one wrap from ts[3]
		{ec: big, hdr: tCompactHdr(40, ts[5], true), payload: []any{5}},
	}
	pk := tBuild(m, sc, tPkt{hdr: tPH(3), ctx: tCtx(begin, ts[5], 0, 0, 1), evs: evs})
	dir := t.TempDir()
	tWrite(t, dir, "channel0_1", pk)
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	got := tReadAll(t, tr)
	if len(got) != len(ts) {
		t.Fatalf("%d events", len(got))
	}
	for i, g := range got {
		if g.cyc != ts[i] {
			t.Errorf("event %d: cycles %d, want %d", i, g.cyc, ts[i])
		}
		wantName := "e2"
		if i == 3 || i == 5 {
			wantName = "e40"
		}
		if g.name != wantName {
			t.Errorf("event %d: %s, want %s", i, g.name, wantName)
		}
	}
}

func TestUpdateClock(t *testing.T) {
	d := &decoder{clock: 0x1234_5678_9abc}
	d.updateClock(16, 0x9abd)
	if d.clock != 0x1234_5678_9abd {
		t.Fatalf("%#x", d.clock)
	}
	d.updateClock(16, 0x0001) // wraps once
	if d.clock != 0x1234_5679_0001 {
		t.Fatalf("%#x", d.clock)
	}
	d.updateClock(64, 5)
	if d.clock != 5 {
		t.Fatalf("%#x", d.clock)
	}
}

func TestDiscarded(t *testing.T) {
	ev := tOpenEvent()
	m := tWriterMeta(ev)
	sc := m.Streams[0]
	e := func(ts uint64) tEv {
		return tEv{ec: ev, hdr: tLargeHdr(1, ts), payload: []any{1, 1, "c", "f", 0, 0}}
	}
	dir := t.TempDir()
	tWrite(t, dir, "stream_0",
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(100, 100, 0, 0, 0)}),
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(100, 200, 1, 3, 0), evs: []tEv{e(150)}}),
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(200, 400, 2, 7, 0)}))
	tWrite(t, dir, "stream_1",
		tBuild(m, sc, tPkt{hdr: tPH(1), ctx: tCtx(100, 500, 0, 5, 1), evs: []tEv{e(120)}}))
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1_700_000_000_000_000_000)
	s0, s1 := tr.Streams[0], tr.Streams[1]
	want0 := []Discarded{{s0, 3, false, base + 100, base + 200}, {s0, 4, false, base + 200, base + 400}}
	if !reflect.DeepEqual(s0.Discarded, want0) {
		t.Errorf("stream 0: %+v", s0.Discarded)
	}
	want1 := []Discarded{{s1, 5, true, base + 100, base + 500}}
	if !reflect.DeepEqual(s1.Discarded, want1) {
		t.Errorf("stream 1: %+v", s1.Discarded)
	}
	if n := tr.DiscardedTotal(); n != 12 {
		t.Errorf("total %d", n)
	}
	if got := tReadAll(t, tr); len(got) != 2 {
		t.Errorf("%d events", len(got))
	}
}

func TestTornTailAndRecover(t *testing.T) {
	ev := tOpenEvent()
	m := tWriterMeta(ev)
	sc := m.Streams[0]
	var pks [][]byte
	for i := uint64(0); i < 4; i++ {
		pks = append(pks, tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(i*10, i*10+5, i, 0, 0), pad: 100, evs: []tEv{
			{ec: ev, hdr: tLargeHdr(1, i*10+1), payload: []any{i, i, "c", "f", 0, 0}},
		}}))
	}
	for _, cut := range []int{3, 40, 90, len(pks[3]) - 1} {
		t.Run(fmt.Sprint("cut=", cut), func(t *testing.T) {
			dir := t.TempDir()
			p := tWrite(t, dir, "stream_0", pks[0], pks[1], pks[2], pks[3][:cut])
			tWrite(t, dir, "stream_1", pks[0]) // intact
			tr, err := rdOpen(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			s := tr.Streams[0]
			if s.Packets != 3 || s.TornBytes != int64(cut) {
				t.Fatalf("packets %d torn %d", s.Packets, s.TornBytes)
			}
			err = tr.Check()
			if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), fmt.Sprint(cut, " bytes")) {
				t.Fatalf("Check: %v", err)
			}
			if got := tReadAll(t, tr); len(got) != 4 {
				t.Fatalf("%d events", len(got))
			}
			removed, err := rdRecover(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(removed, map[string]int64{p: int64(cut)}) {
				t.Fatalf("removed %v", removed)
			}
			tr, err = rdOpen(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Streams[0].TornBytes != 0 || tr.Check() != nil || tr.Streams[0].Packets != 3 {
				t.Fatalf("after recover: %+v %v", tr.Streams[0], tr.Check())
			}
		})
	}
	t.Run("zero tail", func(t *testing.T) {
		dir := t.TempDir()
		tWrite(t, dir, "stream_0", pks[0], make([]byte, 5000))
		tr, err := rdOpen(dir, m)
		if err != nil {
			t.Fatal(err)
		}
		if s := tr.Streams[0]; s.Packets != 1 || s.TornBytes != 5000 {
			t.Fatalf("%+v", s)
		}
		if _, err := rdRecover(dir, m); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, "stream_0")); fi.Size() != int64(len(pks[0])) {
			t.Fatalf("size %d", fi.Size())
		}
	})
}

func TestMergePerCPU(t *testing.T) {
	ev := tOpenEvent()
	m := tWriterMeta(ev)
	sc := m.Streams[0]
	mk := func(cpu int, tss ...uint64) []byte {
		var evs []tEv
		for _, ts := range tss {
			evs = append(evs, tEv{ec: ev, hdr: tLargeHdr(1, ts), payload: []any{cpu, ts, "c", "f", 0, 0}})
		}
		return tBuild(m, sc, tPkt{hdr: tPH(uint64(cpu)), ctx: tCtx(tss[0], tss[len(tss)-1], 0, 0, cpu), evs: evs})
	}
	dir := t.TempDir()
	tWrite(t, dir, "stream_10", mk(10, 1, 2, 3)) // natural order: after stream_2
	tWrite(t, dir, "stream_2", mk(2, 2, 5), mk(2, 6, 9))
	tWrite(t, dir, "stream_0", mk(0, 3, 4, 10))
	// Ignored: hidden, empty, directory, metadata.
	tWrite(t, dir, ".hidden", []byte("junk"))
	tWrite(t, dir, "empty")
	tWrite(t, dir, "metadata", []byte("/* CTF 1.8 */"))
	if err := os.Mkdir(filepath.Join(dir, "views"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range tr.Streams {
		names = append(names, filepath.Base(s.Path))
	}
	if strings.Join(names, ",") != "stream_0,stream_2,stream_10" {
		t.Fatalf("streams %v", names)
	}
	var order []string
	for _, g := range tReadAll(t, tr) {
		order = append(order, fmt.Sprintf("%d@%d", g.cpu, g.cyc))
	}
	want := "10@1,2@2,10@2,0@3,10@3,0@4,2@5,2@6,2@9,0@10"
	if strings.Join(order, ",") != want {
		t.Fatalf("order %s\nwant  %s", strings.Join(order, ","), want)
	}
}

func TestCorruptInput(t *testing.T) {
	ev := tOpenEvent()
	m := tWriterMeta(ev)
	sc := m.Streams[0]
	good := func() []byte {
		return tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(1, 2, 0, 0, 0), evs: []tEv{
			{ec: ev, hdr: tLargeHdr(1, 1), payload: []any{1, 1, "c", "f", 0, 0}}}})
	}
	cases := []struct {
		name   string
		data   func() []byte
		atOpen bool
		want   string
	}{
		{"bad magic", func() []byte {
			b := append(good(), good()...)
			b[len(b)/2] = 0
			return b
		}, true, fmt.Sprintf("offset %d: invalid CTF magic number 0xc1fc1f00", len(good()))},
		{"unknown id", func() []byte {
			return tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(1, 2, 0, 0, 0), evs: []tEv{
				{ec: ev, hdr: tLargeHdr(9, 1), payload: []any{1, 1, "c", "f", 0, 0}}}})
		}, false, "offset 84: unknown event class ID 9"},
		{"content > packet", func() []byte {
			return tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(1, 2, 0, 0, 0), over: map[string]int64{"content_size": 8000, "packet_size": 800}})
		}, true, "content size 8000 bits is greater than packet size 800 bits"},
		{"content too small", func() []byte {
			return tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(1, 2, 0, 0, 0), over: map[string]int64{"content_size": 8, "packet_size": 800}})
		}, true, "smaller than the packet header"},
		{"beyond content", func() []byte {
			b := good()
			return tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(1, 2, 0, 0, 0), evs: []tEv{
				{ec: ev, hdr: tLargeHdr(1, 1), payload: []any{1, 1, "c", "f", 0, 0}}},
				over: map[string]int64{"content_size": int64(len(b)*8 - 16), "packet_size": int64(len(b) * 8)}})
		}, false, "read beyond end of data"},
		{"unterminated string", func() []byte {
			b := good()
			for i := len(b) - 18; i < len(b); i++ {
				b[i] = 'x'
			}
			return b
		}, false, "unterminated string"},
		{"unknown stream class", func() []byte {
			b := good()
			b[20] = 5
			return b
		}, true, "unknown stream class ID 5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tWrite(t, dir, "stream_0", c.data())
			tr, err := rdOpen(dir, m)
			if !c.atOpen {
				if err != nil {
					t.Fatal(err)
				}
				it := tr.Events()
				for it.Next() {
				}
				err = it.Err()
			}
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q naming %s", err, c.want, p)
			}
		})
	}
}

func TestHugeSequenceLength(t *testing.T) {
	ev := &EventClass{Name: "s", Fields: Struct(F("n", Uint(64)), F("v", Sequence(Uint(32), "n")), F("w", Sequence(Struct(), "n")))}
	m := &Metadata{Major: 1, Minor: 8, ByteOrder: LittleEndian, Streams: []*StreamClass{{Events: []*EventClass{ev}}}}
	for _, n := range []uint64{1 << 62, math.MaxUint64, 3} {
		w := &tw{}
		w.put(64, n, false)
		w.put(32, 1, false)
		dir := t.TempDir()
		tWrite(t, dir, "s", w.b)
		tr, err := rdOpen(dir, m)
		if err != nil {
			t.Fatal(err)
		}
		it := tr.Events()
		for it.Next() {
		}
		if it.Err() == nil {
			t.Fatalf("n=%d: no error", n)
		}
	}
}

func TestValueInterfaceJSON(t *testing.T) {
	st := Struct(F("_a", Int(8)), F("b", Enum(Int(8), EnumMapping{"X", 1, 1})), F("c", Float32()))
	v := Value{Type: st, Elems: []Value{{Type: st.Fields[0].Type, Int: -1}, {Type: st.Fields[1].Type, Int: 5}, {Type: st.Fields[2].Type, Float: 0.5}}}
	b, err := json.Marshal(v.Interface())
	if err != nil || string(b) != `{"a":-1,"b":5,"c":0.5}` {
		t.Fatalf("%s %v", b, err)
	}
	if s := v.String(); s != `{ a = -1, b = ( <unknown> : container = 5 ), c = 0.5 }` {
		t.Fatalf("%s", s)
	}
}

// tBenchTrace writes a trace of 4 KiB packets of typical events and returns
// the directory, its metadata and the number of events.
func tBenchTrace(b testing.TB, packets int) (string, *Metadata, int) {
	ev := tOpenEvent()
	m := tWriterMeta(ev)
	sc := m.Streams[0]
	fname := strings.Repeat("/usr/lib/x86_64-linux-gnu/", 3)[:63]
	var evs []tEv
	for ts := uint64(1); ; ts++ {
		evs = append(evs, tEv{ec: ev, hdr: tLargeHdr(1, ts), payload: []any{1234, 1235, "kworker/u16:3", fname, 0x80000, 0o644}})
		if len(tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(0, ts, 0, 0, 0), evs: evs})) > 4096 {
			evs = evs[:len(evs)-1]
			break
		}
	}
	pk := tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(0, uint64(len(evs)), 0, 0, 0), evs: evs})
	pk = append(pk, make([]byte, 4096-len(pk))...)
	// Fix up packet_size: the padding was added after building.
	pk2 := tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(0, uint64(len(evs)), 0, 0, 0), evs: evs, over: map[string]int64{"packet_size": 4096 * 8}})
	copy(pk, pk2)
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "stream_0"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < packets; i++ {
		if _, err := f.Write(pk); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return dir, m, packets * len(evs)
}

func BenchmarkReadEvents(b *testing.B) {
	dir, m, perRun := tBenchTrace(b, 2000)
	tr, err := rdOpen(dir, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		it := tr.Events()
		k := 0
		var sum uint64
		for it.Next() {
			e := it.Event()
			sum += e.Payload.Elems[0].Uint + uint64(len(e.Payload.Elems[3].Bytes))
			k++
		}
		if it.Err() != nil || k != perRun || sum == 0 {
			b.Fatalf("%v: %d events, want %d", it.Err(), k, perRun)
		}
		n += k
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func TestLargePacketWindow(t *testing.T) {
	ev := &EventClass{Name: "s", Fields: Struct(F("i", Uint(32)), F("s", String()), F("t", Text(5)))}
	for _, withCtx := range []bool{false, true} {
		t.Run(fmt.Sprint("ctx=", withCtx), func(t *testing.T) {
			sc := &StreamClass{Events: []*EventClass{ev}}
			if withCtx {
				sc.PacketContext = Struct(F("content_size", Uint(64)), F("packet_size", Uint(64)))
			}
			m := &Metadata{Major: 1, Minor: 8, ByteOrder: LittleEndian, Streams: []*StreamClass{sc}}
			var evs []tEv
			var want []string
			total := 0
			for i := 0; total < 3<<20; i++ {
				n := (i * 7919) % 3000
				if i == 300 {
					n = 1<<20 + 12345 // larger than the window
				}
				s := strings.Repeat(string(rune('a'+i%26)), n)
				total += n + 10
				evs = append(evs, tEv{ec: ev, payload: []any{i, s, "xy"}})
				want = append(want, fmt.Sprintf(`{"i":%d,"s":"%s","t":"xy"}`, i, s))
			}
			dir := t.TempDir()
			tWrite(t, dir, "s", tBuild(m, sc, tPkt{evs: evs, pad: 3}), tBuild(m, sc, tPkt{evs: evs[:2]}))
			if !withCtx {
				// Without a context the file is one packet: no padding.
				tWrite(t, dir, "s", tBuild(m, sc, tPkt{evs: evs}))
			} else {
				want = append(want, want[:2]...)
			}
			tr, err := rdOpen(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			got := tReadAll(t, tr)
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].payload != want[i] {
					t.Fatalf("event %d differs (len %d vs %d)", i, len(got[i].payload), len(want[i]))
				}
			}
		})
	}
}

// TestValueAppendText checks the text of each kind of value, escapes and
// display bases included, and that AppendText appends to what b holds.
func TestValueAppendText(t *testing.T) {
	u8 := func(u uint64) Value { return Value{Type: Uint(8), Uint: u, Int: int64(u)} }
	i32 := Int(32)
	hex16 := Hex(Int(16))
	oct := &Type{Kind: KindInteger, Size: 32, Align: 8, Base: 8}
	bin := &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 2}
	en := Enum(Int(8), EnumMapping{Label: `a"b`, Start: 1, End: 1})
	tests := []struct {
		name string
		v    Value
		want string
	}{
		{"none", Value{}, "<none>"},
		{"signed", Value{Type: i32, Int: -5, Uint: ^uint64(4)}, "-5"},
		{"unsigned", Value{Type: Uint(64), Uint: 1<<64 - 1}, "18446744073709551615"},
		{"hex masked to its size", Value{Type: hex16, Int: -2, Uint: ^uint64(1)}, "0xFFFE"},
		{"hex zero", Value{Type: Hex(Uint(32))}, "0x0"},
		{"octal", Value{Type: oct, Uint: 8}, "010"},
		{"binary", Value{Type: bin, Uint: 5}, "0b101"},
		{"enum", Value{Type: en, Int: 1, Uint: 1, Label: `a"b`}, `( "a\"b" : container = 1 )`},
		{"enum without label", Value{Type: en, Int: -3, Uint: ^uint64(2)}, `( <unknown> : container = -3 )`},
		{"float", Value{Type: Float64(), Float: 1.0 / 3}, "0.333333"},
		{"float exponent", Value{Type: Float64(), Float: 1.5e300}, "1.5e+300"},
		{"string escapes", Value{Type: String(), Bytes: []byte("a\"\\\n\r\t\v\f\a\b\x01\x7f\xc3\xa9z")}, `"a\"\\\n\r\t\v\f\a\b\x01\x7f` + "\xc3\xa9" + `z"`},
		{"text array", Value{Type: Text(8), Bytes: []byte("comm")}, `"comm"`},
		{"empty array", Value{Type: Array(Uint(8), 0)}, "[ ]"},
		{"array", Value{Type: Array(Uint(8), 2), Elems: []Value{u8(1), u8(200)}}, "[ [0] = 1, [1] = 200 ]"},
		{"empty struct", Value{Type: Struct()}, "{ }"},
		{"struct", Value{Type: Struct(F("_x", Uint(8)), F("y", Struct(F("_z", Uint(8))))), Elems: []Value{u8(1), {Type: Struct(F("_z", Uint(8))), Elems: []Value{u8(2)}}}},
			"{ x = 1, y = { z = 2 } }"},
		{"variant", Value{Type: Variant("tag", F("_num", Uint(8))), Label: "_num", Elems: []Value{u8(7)}}, "{ num = 7 }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.v.AppendText([]byte("pre "))); got != "pre "+tt.want {
				t.Errorf("AppendText = %q, want %q", got, "pre "+tt.want)
			}
			if got := tt.v.String(); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadMemoryFlat checks that opening and reading a trace allocates no
// more for four times the packets: nothing is kept per packet.
func TestReadMemoryFlat(t *testing.T) {
	write := func(packets int) string {
		dir := filepath.Join(t.TempDir(), "trace")
		ns := uint64(0)
		w, err := Create(dir, Options{Clock: func() uint64 { return ns }, ClockOffset: 1_700_000_000_000_000_000})
		if err != nil {
			t.Fatal(err)
		}
		ec, err := w.AddEventClass("e", Struct(F("_n", Uint(64)), F("_s", String())))
		if err != nil {
			t.Fatal(err)
		}
		for cpu := 0; cpu < 2; cpu++ {
			s, err := w.Stream(cpu)
			if err != nil {
				t.Fatal(err)
			}
			// 100-byte events, about 40 to a 4 KiB packet.
			for i := 0; i < packets*40/2; i++ {
				ns += 10
				if err := s.Write(ec, ns, uint64(i), strings.Repeat("x", 80)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	read := func(dir string) (packets int, allocated uint64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Each(func(*Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		for _, s := range tr.Streams {
			packets += s.Packets
		}
		return packets, after.TotalAlloc - before.TotalAlloc
	}
	p1, a1 := read(write(500))
	p4, a4 := read(write(2000))
	if p4 < 3*p1 {
		t.Fatalf("%d and %d packets: not four times as many", p1, p4)
	}
	// The old index kept ~100 bytes per packet.
	if a4 > a1+16<<10 {
		t.Errorf("reading %d packets allocated %d bytes, %d packets %d bytes: memory grows with the trace", p1, a1, p4, a4)
	}
}
