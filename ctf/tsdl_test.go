package ctf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/ctf/internal/tsdl"
)

// tsdlLTTngHeaders returns LTTng's packet context and large event header.
func tsdlLTTngHeaders() (pktCtx, evHeader *Type) {
	clk := func(bits int) *Type {
		t := Uint(bits)
		t.Clock = "monotonic"
		return t
	}
	pktCtx = Struct(
		F("timestamp_begin", clk(64)),
		F("timestamp_end", clk(64)),
		F("content_size", Uint(64)),
		F("packet_size", Uint(64)),
		F("packet_seq_num", Uint(64)),
		F("events_discarded", Uint(64)),
		F("cpu_id", Uint(32)),
	)
	evHeader = Struct(
		F("id", Enum(Uint(16),
			EnumMapping{Label: "compact", Start: 0, End: 65534},
			EnumMapping{Label: "extended", Start: 65535, End: 65535})),
		F("v", Variant("id",
			F("compact", Struct(F("timestamp", clk(32)))),
			F("extended", Struct(F("id", Uint(32)), F("timestamp", clk(64)))))),
	)
	evHeader.MinAlign = 8
	return pktCtx, evHeader
}

func tsdlPacketHeader() *Type {
	return Struct(
		F("magic", Uint(32)),
		F("uuid", Array(Uint(8), 16)),
		F("stream_id", Uint(32)),
		F("stream_instance_id", Uint(64)),
	)
}

// tsdlRoundTripCases are metadata values that must survive TSDL() and
// ParseMetadata unchanged (after tsdlNormalize).
func tsdlRoundTripCases() map[string]*Metadata {
	pktCtx, evHeader := tsdlLTTngHeaders()
	clockTS := Uint(64)
	clockTS.Clock = "monotonic"
	bitfield := &Type{Kind: KindInteger, Size: 5}
	beInt := Int(32)
	beInt.ByteOrder = BigEndian
	leInt := Uint(16)
	leInt.ByteOrder = LittleEndian
	aligned := Int(64)
	aligned.Align = 64
	ascii := String()
	ascii.Encoding = EncodingASCII
	signedEnum := Enum(Int(8),
		EnumMapping{Label: "NEG", Start: -128, End: -1},
		EnumMapping{Label: "ZERO", Start: 0, End: 0},
		EnumMapping{Label: "POS", Start: 1, End: 127})
	bigEnum := Enum(Uint(64),
		EnumMapping{Label: "LOW", Start: 0, End: 9},
		EnumMapping{Label: "label with \"quotes\" and spaces", Start: 10, End: 10},
		EnumMapping{Label: "MAX", Start: -1, End: -1}) // 0xffffffffffffffff
	nested := Struct(F("a", Int(32)), F("inner", Struct(F("b", Float64()), F("c", String()))))
	nested.MinAlign = 64

	everything := Struct(
		F("_s8", Int(8)), F("_s16", Int(16)), F("_s32", Int(32)), F("_s64", Int(64)),
		F("_u8", Uint(8)), F("_u16", Uint(16)), F("_u32", Uint(32)), F("_u64", Uint(64)),
		F("_hex", Hex(Uint(64))),
		F("_bin", &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 2}),
		F("_oct", &Type{Kind: KindInteger, Size: 16, Align: 8, Base: 8}),
		F("_bits", bitfield),
		F("_be", beInt), F("_le", leInt), F("_aligned", aligned),
		F("_bool", Bool()),
		F("_f32", Float32()), F("_f64", Float64()),
		F("_str", String()), F("_ascii", ascii),
		F("_comm", Text(16)),
		F("_vals", Array(Int(32), 4)),
		F("_matrix", Array(Array(Uint(8), 3), 2)),
		F("__n", Uint(32)),
		F("_seq", Sequence(Int(64), "__n")),
		F("_seqtext", Sequence(Char(), "__n")),
		F("_seqarr", Sequence(Array(Uint(16), 2), "__n")),
		F("_arrseq", Array(Sequence(Uint(8), "event.fields.__n"), 2)),
		F("_kind", signedEnum),
		F("_big", bigEnum),
		F("_nested", nested),
		F("_structs", Array(Struct(F("x", Uint(8)), F("y", Uint(8))), 2)),
		F("_ts", clockTS),
		F("_sel", Enum(Uint(8),
			EnumMapping{Label: "i", Start: 0, End: 0},
			EnumMapping{Label: "s", Start: 1, End: 1})),
		F("_var", Variant("_sel", F("i", Int(32)), F("s", String()))),
	)

	return map[string]*Metadata{
		"minimal": {
			Major: 1, Minor: 8, ByteOrder: LittleEndian,
			Streams: []*StreamClass{{ID: 0, Events: []*EventClass{
				{ID: 0, Name: "hello", Fields: Struct(F("x", Int(32)))},
			}}},
		},
		"empty-payload": {
			Major: 1, Minor: 8, ByteOrder: BigEndian,
			Streams: []*StreamClass{{ID: 0, EventHeader: Struct(F("id", Uint(8))), Events: []*EventClass{
				{ID: 0, Name: "nothing"},
				{ID: 1, Name: "empty", Fields: Struct()},
			}}},
		},
		"lttng-kernel-like": {
			Major: 1, Minor: 8,
			UUID:    [16]byte{0x6a, 0x77, 0x15, 0xd0, 0xb5, 0x02, 0x4c, 0x65, 0x86, 0x78, 0x67, 0x77, 0xac, 0x7f, 0x75, 0x5a},
			HasUUID: true, ByteOrder: LittleEndian,
			PacketHeader: tsdlPacketHeader(),
			Env: []EnvValue{
				{Key: "hostname", Str: "vm"},
				{Key: "domain", Str: "kernel"},
				{Key: "tracer_name", Str: "lttng-modules"},
				{Key: "tracer_major", Int: 2, IsInt: true},
				{Key: "tracer_minor", Int: 13, IsInt: true},
				{Key: "negative", Int: -42, IsInt: true},
				{Key: "trace_name", Str: "weird \"name\" with \\ and\nnewline\ttab\x01ctl é"},
			},
			Clocks: []*Clock{{
				Name: "monotonic", UUID: "a92b8910-faac-4f7c-80fe-ded79ed2addf",
				Description: "Monotonic Clock", Freq: 1_000_000_000, Precision: 1,
				OffsetS: 1_700_000_000, Offset: 123, Absolute: true,
			}},
			Streams: []*StreamClass{{
				ID: 0, PacketContext: pktCtx, EventHeader: evHeader,
				EventContext: Struct(F("_tid", Int(32))),
				Events: []*EventClass{
					{ID: 0, Name: "sched_switch", Fields: Struct(
						F("_prev_comm", Text(16)), F("_prev_tid", Int(32)), F("_prev_prio", Int(32)),
						F("_prev_state", Int(64)), F("_next_comm", Text(16)), F("_next_tid", Int(32)),
						F("_next_prio", Int(32)))},
					{ID: 1, Name: "syscalls:sys_enter_openat", LogLevel: 13, HasLevel: true,
						Context: Struct(F("_cpu", Uint(32))),
						Fields:  Struct(F("_dfd", Int(32)), F("_filename", String()), F("_flags", Hex(Int(32))))},
					{ID: 2, Name: "every_type", Fields: everything},
				},
			}},
		},
		"two-streams-two-clocks": {
			Major: 1, Minor: 8, ByteOrder: LittleEndian,
			PacketHeader: Struct(F("magic", Uint(32)), F("stream_id", Uint(32))),
			Clocks: []*Clock{
				{Name: "monotonic", Freq: 1_000_000_000, Offset: -5},
				{Name: "slow", Description: "1 kHz", Freq: 1000, OffsetS: -3},
			},
			Streams: []*StreamClass{
				{ID: 0, EventHeader: Struct(F("id", Uint(16)), F("timestamp", clockTS)),
					Events: []*EventClass{{ID: 0, StreamID: 0, Name: "a", Fields: Struct(F("_v", Uint(8)))}}},
				{ID: 7, EventHeader: Struct(F("id", Uint(32)), F("timestamp", func() *Type {
					t := Uint(64)
					t.Clock = "slow"
					return t
				}())),
					Events: []*EventClass{
						{ID: 3, StreamID: 7, Name: "b", LogLevel: -1, HasLevel: true, Fields: Struct(F("_v", Float32()))},
						{ID: 4, StreamID: 7, Name: "c:d", Fields: Struct(F("_v", String()))},
					}},
			},
		},
	}
}

// tsdlNormalize returns what ParseMetadata is expected to give back for m:
// default alignments, bases and frequencies made explicit.
func tsdlNormalize(m *Metadata) *Metadata {
	c := *m
	if c.Major == 0 && c.Minor == 0 {
		c.Major, c.Minor = 1, 8
	}
	if c.ByteOrder == DefaultOrder {
		c.ByteOrder = LittleEndian
	}
	c.PacketHeader = tsdlNormType(m.PacketHeader)
	c.Clocks = nil
	for _, k := range m.Clocks {
		k2 := *k
		k2.Freq = k.Frequency()
		k2.OffsetS, k2.Offset = tsdlClockOffset(k)
		c.Clocks = append(c.Clocks, &k2)
	}
	c.Streams = nil
	for _, s := range m.Streams {
		s2 := *s
		if m.PacketHeader == nil {
			s2.ID = 0 // no packet header: no stream ids written
		}
		s2.PacketContext = tsdlNormType(s.PacketContext)
		s2.EventHeader = tsdlNormType(s.EventHeader)
		s2.EventContext = tsdlNormType(s.EventContext)
		s2.Events = nil
		for _, e := range s.Events {
			e2 := *e
			e2.StreamID = s2.ID
			if e2.LogLevel < 0 {
				e2.LogLevel, e2.HasLevel = 0, false // not written
			}
			e2.Context = tsdlNormType(e.Context)
			e2.Fields = tsdlNormType(e.Fields)
			s2.Events = append(s2.Events, &e2)
		}
		c.Streams = append(c.Streams, &s2)
	}
	if len(c.Streams) == 0 {
		c.Streams = []*StreamClass{{ID: 0}}
	}
	return &c
}

func tsdlNormType(t *Type) *Type {
	if t == nil {
		return nil
	}
	c := tsdlCopy(t)
	switch c.Kind {
	case KindInteger, KindFloat:
		c.Align = t.Alignment()
		if c.Kind == KindInteger && c.Base == 0 {
			c.Base = 10
		}
	case KindString:
		c.Align = 8
		if c.Encoding == EncodingNone {
			c.Encoding = EncodingUTF8
		}
	}
	c.Container = tsdlNormType(t.Container)
	c.Elem = tsdlNormType(t.Elem)
	for i := range c.Fields {
		c.Fields[i].Type = tsdlNormType(t.Fields[i].Type)
	}
	return c
}

func TestTSDLRoundTrip(t *testing.T) {
	for name, m := range tsdlRoundTripCases() {
		t.Run(name, func(t *testing.T) {
			text := m.TSDL()
			if !bytes.HasPrefix(text, []byte("/* CTF 1.8 */\n")) {
				t.Fatalf("TSDL does not start with the signature: %q", text[:min(len(text), 20)])
			}
			if again := m.TSDL(); !bytes.Equal(text, again) {
				t.Fatal("TSDL is not deterministic")
			}
			got, err := ParseMetadata(text)
			if err != nil {
				t.Fatalf("ParseMetadata: %v\n%s", err, text)
			}
			if diff := cmp.Diff(tsdlNormalize(m), got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s\n%s", diff, text)
			}
			// A second pass must be a fixed point.
			if again := got.TSDL(); !bytes.Equal(text, again) {
				t.Errorf("TSDL(ParseMetadata(TSDL(m))) differs from TSDL(m):\n%s", again)
			}
			tsdlBabeltraceCheck(t, text)
		})
	}
}

func TestTSDLLegalNames(t *testing.T) {
	clk := Uint(64)
	clk.Clock = "event"
	m := &Metadata{
		Major: 1, Minor: 8, ByteOrder: LittleEndian,
		Env:    []EnvValue{{Key: "my-key", Str: "v"}, {Key: "9lives", Int: 9, IsInt: true}},
		Clocks: []*Clock{{Name: "event", UUID: "not-a-uuid"}},
		Streams: []*StreamClass{{
			EventHeader: Struct(F("id", Uint(8)), F("timestamp", clk)),
			Events: []*EventClass{{Name: "kw", Fields: Struct(
				F("event", Int(32)),
				F("string", String()),
				F("uint32_t", Uint(32)),
				F("struct", Uint(8)),
				F("sel", Enum(Uint(8), EnumMapping{Label: "a"}, EnumMapping{Label: "b", Start: 1, End: 1})),
				F("variant", Sequence(Uint(8), "struct")),
				F("align", Variant("sel", F("a", Uint(8)), F("b", Uint(16)))),
				F("has-dash", Uint(8)),
				F("1st", Uint(8)),
				F("", Uint(8)),
				F("éx", Uint(8)),
				F("enum", Sequence(Uint(8), "event.fields.struct")),
			)}},
		}},
	}
	text := m.TSDL()
	got, err := ParseMetadata(text)
	if err != nil {
		t.Fatalf("ParseMetadata: %v\n%s", err, text)
	}
	var names []string
	for _, f := range got.Streams[0].Events[0].Fields.Fields {
		names = append(names, f.Name)
	}
	want := []string{"_event", "_string", "_uint32_t", "_struct", "sel", "_variant", "_align",
		"has_dash", "_1st", "_", "__x", "_enum"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("field names (-want +got):\n%s", diff)
	}
	f := got.Streams[0].Events[0].Fields
	if l := f.Field("_variant").Type.LengthField; l != "_struct" {
		t.Errorf("sequence length = %q, want _struct", l)
	}
	if l := f.Field("_enum").Type.LengthField; l != "event.fields._struct" {
		t.Errorf("sequence length = %q, want event.fields._struct", l)
	}
	if c := got.Clocks[0]; c.Name != "_event" || c.UUID != "" {
		t.Errorf("clock = %+v, want name _event and no UUID", c)
	}
	if ts := got.Streams[0].EventHeader.Fields[1].Type; ts.Clock != "_event" {
		t.Errorf("timestamp clock = %q, want _event", ts.Clock)
	}
	if got.Env[0].Key != "my_key" || got.Env[1].Key != "_9lives" {
		t.Errorf("env keys = %q, %q", got.Env[0].Key, got.Env[1].Key)
	}
	tsdlBabeltraceCheck(t, text)
}

// tsdlBabeltraceCheck writes text as the metadata of a trace with one empty
// stream file and requires babeltrace2 to accept it, both when printing the
// metadata (syntax) and when reading the trace (semantics).
func tsdlBabeltraceCheck(t *testing.T, text []byte) {
	t.Helper()
	bt, err := exec.LookPath("babeltrace2")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("babeltrace2 not found (required when CI=true)")
		}
		t.Log("babeltrace2 not found; skipping conformance check")
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metadata"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stream"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-o", "ctf-metadata", dir}, {dir}} {
		out, err := exec.Command(bt, args...).CombinedOutput()
		if err != nil {
			t.Errorf("babeltrace2 %s: %v\n%s\nmetadata:\n%s", strings.Join(args, " "), err, out, text)
		}
	}
}

func tsdlReadFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "metadata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tsdlParseFile(t *testing.T, name string) *Metadata {
	t.Helper()
	m, err := ParseMetadata(tsdlReadFile(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func tsdlEvent(t *testing.T, m *Metadata, name string) *EventClass {
	t.Helper()
	for _, s := range m.Streams {
		for _, e := range s.Events {
			if e.Name == name {
				return e
			}
		}
	}
	t.Fatalf("no event %q", name)
	return nil
}

func tsdlEnvInt(t *testing.T, m *Metadata, key string) int64 {
	t.Helper()
	for _, e := range m.Env {
		if e.Key == key {
			if !e.IsInt {
				t.Fatalf("env %s = %q, want an integer", key, e.Str)
			}
			return e.Int
		}
	}
	t.Fatalf("no env %s", key)
	return 0
}

// TestParseLTTngUSTReal reads the metadata of a real LTTng-UST 2.13.5 trace,
// recorded on Debian bookworm with a tracepoint provider using every field
// macro plus tracef, as written (packetized: two 4 KiB packets, the second
// partly filled) and as babeltrace2 -o ctf-metadata printed it.
func TestParseLTTngUSTReal(t *testing.T) {
	raw := tsdlReadFile(t, "lttng-ust-2.13.packetized")
	if !tsdl.IsPacketized(raw) {
		t.Fatal("fixture is not packetized")
	}
	m := tsdlParseFile(t, "lttng-ust-2.13.packetized")
	plain := tsdlParseFile(t, "lttng-ust-2.13.tsdl")
	if diff := cmp.Diff(plain, m); diff != "" {
		t.Errorf("packetized and plain metadata differ (-plain +packetized):\n%s", diff)
	}

	if m.Major != 1 || m.Minor != 8 || m.ByteOrder != LittleEndian || !m.HasUUID ||
		tsdl.FormatUUID(m.UUID) != "58cfa7e6-289a-4c05-adc9-e8049c79bfc4" {
		t.Errorf("trace = %d.%d %v uuid %x", m.Major, m.Minor, m.ByteOrder, m.UUID)
	}
	if diff := cmp.Diff(tsdlPacketHeader(), m.PacketHeader); diff != "" {
		t.Errorf("packet header (-want +got):\n%s", diff)
	}
	if v, _ := m.EnvString("domain"); v != "ust" {
		t.Errorf("env domain = %q", v)
	}
	if v, _ := m.EnvString("tracer_name"); v != "lttng-ust" {
		t.Errorf("env tracer_name = %q", v)
	}
	if tsdlEnvInt(t, m, "tracer_major") != 2 || tsdlEnvInt(t, m, "tracer_minor") != 13 ||
		tsdlEnvInt(t, m, "architecture_bit_width") != 64 {
		t.Error("env tracer version / width wrong")
	}
	wantClock := &Clock{Name: "monotonic", UUID: "4442dad2-692a-4645-906a-7eb00d736fb3",
		Description: "Monotonic Clock", Freq: 1_000_000_000, Offset: 1795631560464587859}
	if diff := cmp.Diff([]*Clock{wantClock}, m.Clocks); diff != "" {
		t.Errorf("clocks (-want +got):\n%s", diff)
	}

	if len(m.Streams) != 1 || m.Streams[0].ID != 0 || len(m.Streams[0].Events) != 2 {
		t.Fatalf("streams = %+v", m.Streams)
	}
	s := m.Streams[0]
	pktCtx, evHeader := tsdlLTTngHeaders()
	if diff := cmp.Diff(pktCtx, s.PacketContext); diff != "" {
		t.Errorf("packet context (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(evHeader, s.EventHeader); diff != "" {
		t.Errorf("event header (-want +got):\n%s", diff)
	}
	schar := &Type{Kind: KindInteger, Size: 8, Align: 8, Signed: true, Base: 10, Encoding: EncodingUTF8}
	if diff := cmp.Diff(Struct(F("_vpid", Int(32)), F("_procname", Array(schar, 17))), s.EventContext); diff != "" {
		t.Errorf("event context (-want +got):\n%s", diff)
	}

	tracef := tsdlEvent(t, m, "lttng_ust_tracef:event")
	if tracef.ID != 0 || !tracef.HasLevel || tracef.LogLevel != 14 {
		t.Errorf("tracef = %+v", tracef)
	}
	wantTracef := Struct(F("__msg_length", Uint(32)), F("_msg", Sequence(schar, "__msg_length")))
	if diff := cmp.Diff(wantTracef, tracef.Fields); diff != "" {
		t.Errorf("tracef fields (-want +got):\n%s", diff)
	}
	if !tracef.Fields.Field("msg").Type.IsText() {
		t.Error("_msg is not text")
	}

	ev := tsdlEvent(t, m, "bpftrail_test:everything")
	if ev.ID != 1 || ev.LogLevel != 4 || ev.StreamID != 0 {
		t.Errorf("everything = %+v", ev)
	}
	net := Uint(32)
	net.ByteOrder = BigEndian
	want := Struct(
		F("_int_field", Int(32)), F("_s8_field", Int(8)), F("_u16_field", Uint(16)),
		F("_u64_field", Uint(64)), F("_hex_field", Hex(Uint(32))), F("_net_field", net),
		F("_double_field", Float64()), F("_float_field", Float32()), F("_string_field", String()),
		F("_array_field", Array(Int(32), 3)), F("_text_field", Array(schar, 4)),
		F("__seq_field_length", Uint(32)), F("_seq_field", Sequence(Int(32), "__seq_field_length")),
		F("__seqtext_field_length", Uint(32)), F("_seqtext_field", Sequence(schar, "__seqtext_field_length")),
		F("_enum_field", Enum(Int(32),
			EnumMapping{Label: "RED", Start: 0, End: 0},
			EnumMapping{Label: "GREEN", Start: 1, End: 5},
			EnumMapping{Label: "BLUE", Start: 6, End: 6})),
	)
	if diff := cmp.Diff(want, ev.Fields); diff != "" {
		t.Errorf("everything fields (-want +got):\n%s", diff)
	}

	// Our TSDL for it is accepted by babeltrace2 and parses back the same.
	again, err := ParseMetadata(m.TSDL())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, again); diff != "" {
		t.Errorf("re-emitted metadata differs (-orig +again):\n%s", diff)
	}
	tsdlBabeltraceCheck(t, m.TSDL())
}

func TestParseLTTngLikeGolden(t *testing.T) {
	m := tsdlParseFile(t, "lttng-ust.tsdl")
	if v, _ := m.EnvString("trace_name"); v != `my "quoted" session\name` {
		t.Errorf("trace_name = %q", v)
	}
	if v, _ := m.EnvString("hostname"); v != "testhost" {
		t.Errorf("hostname = %q", v)
	}
	if len(m.Streams) != 2 {
		t.Fatalf("%d streams, want 2", len(m.Streams))
	}
	compact := m.Streams[0].EventHeader
	if compact.MinAlign != 8 || compact.Fields[0].Type.Kind != KindEnum {
		t.Fatalf("compact header = %+v", compact)
	}
	id := compact.Fields[0].Type
	if id.Container.Size != 5 || id.Container.Align != 1 ||
		!cmp.Equal(id.Mappings, []EnumMapping{{"compact", 0, 30}, {"extended", 31, 31}}) {
		t.Errorf("compact id = %+v / %+v", id.Container, id.Mappings)
	}
	ts27 := compact.Fields[1].Type.Fields[0].Type.Fields[0].Type
	if ts27.Size != 27 || ts27.Clock != "monotonic" || ts27.Align != 1 {
		t.Errorf("compact timestamp = %+v", ts27)
	}
	if m.Streams[1].ID != 1 || m.Streams[1].EventHeader.Fields[0].Type.Container.Size != 16 {
		t.Errorf("stream 1 = %+v", m.Streams[1])
	}
	if len(m.Streams[0].Events) != 3 || len(m.Streams[1].Events) != 1 || m.Streams[1].Events[0].ID != 70000 {
		t.Errorf("events per stream: %d, %d", len(m.Streams[0].Events), len(m.Streams[1].Events))
	}
	tl := tsdlEvent(t, m, "lttng_ust_tracelog:TRACE_WARNING")
	if tl.LogLevel != 4 || tl.Fields.Field("file").Type.Kind != KindString {
		t.Errorf("tracelog = %+v", tl)
	}
	hello := tsdlEvent(t, m, "ust_tests_hello:tptest").Fields
	if f := hello.Field("netintfieldhex").Type; f.Base != 16 || f.ByteOrder != BigEndian || !f.Signed {
		t.Errorf("netintfieldhex = %+v", f)
	}
	if f := hello.Field("seqfield2").Type; f.Kind != KindSequence || f.LengthField != "__seqfield2_length" || !f.IsText() {
		t.Errorf("seqfield2 = %+v", f)
	}
	if f := hello.Field("arrfield1").Type; f.Kind != KindArray || f.Length != 3 || f.Elem.Size != 64 {
		t.Errorf("arrfield1 = %+v", f)
	}
	wantMaps := []EnumMapping{
		{"VALUE", 0, 0}, {"ZERO_TO_TWO", 0, 2}, {"NEXT", 3, 3}, {"NEGATIVE", -5, -1}, {"LAST", 0, 0},
	}
	if diff := cmp.Diff(wantMaps, hello.Field("enumfield").Type.Mappings); diff != "" {
		t.Errorf("enum mappings (-want +got):\n%s", diff)
	}
	tsdlBabeltraceCheck(t, tsdlReadFile(t, "lttng-ust.tsdl"))
	tsdlBabeltraceCheck(t, m.TSDL())
}

func TestParseFeatures(t *testing.T) {
	m := tsdlParseFile(t, "features.tsdl")
	if m.ByteOrder != BigEndian || m.HasUUID {
		t.Errorf("trace order %v, uuid %v", m.ByteOrder, m.HasUUID)
	}
	wantHeader := Struct(
		F("magic", Hex(Uint(32))),
		F("uuid", Array(&Type{Kind: KindInteger, Size: 8, Align: 8, Base: 10}, 16)),
	)
	wantHeader.MinAlign = 64
	if diff := cmp.Diff(wantHeader, m.PacketHeader); diff != "" {
		t.Errorf("packet header (-want +got):\n%s", diff)
	}
	wantEnv := []EnvValue{
		{Key: "negative", Int: -16, IsInt: true},
		{Key: "octal", Int: 15, IsInt: true},
		{Key: "suffixed", Int: 42, IsInt: true},
		{Key: "bare", Str: "somename"},
	}
	if diff := cmp.Diff(wantEnv, m.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	wantClock := &Clock{Name: "refclk", Freq: 1000, Precision: 16, OffsetS: -3, Absolute: true}
	if diff := cmp.Diff([]*Clock{wantClock}, m.Clocks); diff != "" {
		t.Errorf("clock (-want +got):\n%s", diff)
	}
	if len(m.Streams) != 1 || m.Streams[0].ID != 0 || len(m.Streams[0].Events) != 1 {
		t.Fatalf("streams = %+v", m.Streams)
	}
	e := m.Streams[0].Events[0]
	if e.Name != "plain_ident_name" || e.ID != 0 || e.StreamID != 0 || e.HasLevel {
		t.Errorf("event = %+v", e)
	}

	i32 := &Type{Kind: KindInteger, Size: 32, Align: 32, Signed: true, Base: 10}
	u8 := &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 10}
	pair := Struct(F("a", i32), F("b", i32))
	color := Enum(i32,
		EnumMapping{"RED", 0, 0}, EnumMapping{"GREEN", 1, 1},
		EnumMapping{"BLUE", 10, 10}, EnumMapping{"CYAN", 11, 11})
	choice := func(tag string) *Type {
		return Variant(tag, F("red", i32), F("green", pair), F("blue", String()), F("cyan", String()))
	}
	u3 := &Type{Kind: KindInteger, Size: 3, Align: 1, Base: 10}
	bin := &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 2, Encoding: EncodingASCII}
	be16 := &Type{Kind: KindInteger, Size: 16, Align: 16, Base: 16, ByteOrder: BigEndian}
	ascii := String()
	ascii.Encoding = EncodingASCII
	want := Struct(
		F("c", color),
		F("v", choice("c")),
		F("v2", choice("c")),
		F("matrix", Array(Array(i32, 3), 2)),
		F("bits", u3), F("morebits", u3),
		F("_a", bin), F("_b", Array(bin, 4)),
		F("_o", &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 8}),
		F("_p", &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 16, Signed: true}),
		F("_eight", &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 8}),
		F("be", be16),
		F("s", u8),
		F("d", Float64()),
		F("ascii", ascii),
		F("utf", String()),
		F("nested", Array(pair, 2)),
		F("len", u8),
		F("seq_of_pairs", Sequence(pair, "len")),
		F("seq_of_arrays", Sequence(Array(i32, 2), "event.fields.len")),
	)
	if diff := cmp.Diff(want, e.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	// Everything we parsed can be written back and read again unchanged.
	again, err := ParseMetadata(m.TSDL())
	if err != nil {
		t.Fatalf("%v\n%s", err, m.TSDL())
	}
	if diff := cmp.Diff(m, again); diff != "" {
		t.Errorf("re-emitted metadata differs (-orig +again):\n%s", diff)
	}
}

// tsdlPacketize splits text into metadata packets of at most chunk text bytes,
// padding each packet with pad zero bytes.
func tsdlPacketize(text []byte, chunk, pad int, order binary.ByteOrder) []byte {
	var out []byte
	for len(text) > 0 {
		n := min(chunk, len(text))
		hdr := make([]byte, tsdl.PacketHeaderLen)
		order.PutUint32(hdr, tsdl.PacketMagic)
		copy(hdr[4:20], "0123456789abcdef")
		order.PutUint32(hdr[24:], uint32(tsdl.PacketHeaderLen+n)*8)
		order.PutUint32(hdr[28:], uint32(tsdl.PacketHeaderLen+n+pad)*8)
		hdr[35], hdr[36] = 1, 8
		out = append(out, hdr...)
		out = append(out, text[:n]...)
		out = append(out, make([]byte, pad)...)
		text = text[n:]
	}
	return out
}

func TestParsePacketized(t *testing.T) {
	m := tsdlRoundTripCases()["lttng-kernel-like"]
	text := m.TSDL()
	want, err := ParseMetadata(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		chunk, pad int
		order      binary.ByteOrder
	}{
		{"le-one-packet", len(text), 0, binary.LittleEndian},
		{"le-small-padded", 100, 13, binary.LittleEndian},
		{"be-padded", 1000, 4096 - 1000 - tsdl.PacketHeaderLen, binary.BigEndian},
		{"be-tiny", 1, 0, binary.BigEndian},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetadata(tsdlPacketize(text, tc.chunk, tc.pad, tc.order))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-plain +packetized):\n%s", diff)
			}
		})
	}
}

func TestParseMetadataErrors(t *testing.T) {
	const head = "/* CTF 1.8 */\ntrace { major = 1; minor = 8; byte_order = le; };\n"
	good := tsdlPacketize([]byte(head), 1000, 0, binary.LittleEndian)
	corrupt := func(off int, b byte) []byte {
		c := bytes.Clone(good)
		c[off] = b
		return c
	}
	deep := head + "event { name = x; fields := " + strings.Repeat("struct { ", 100) + strings.Repeat("} f;", 99) + "}; };"
	blowup := head
	for i := 1; i < 40; i++ {
		blowup += "struct s" + string(rune('a'+i%26)) + strings.Repeat("x", i) + " { "
		if i == 1 {
			blowup += "integer { size = 8; } a; integer { size = 8; } b; };\n"
		} else {
			prev := "s" + string(rune('a'+(i-1)%26)) + strings.Repeat("x", i-1)
			blowup += "struct " + prev + " a; struct " + prev + " b; };\n"
		}
	}

	for _, tc := range []struct {
		name string
		in   string
		want string
	}{
		{"missing semicolon", head + "event {\n\tname = \"x\"\n};\n", "metadata line 5: syntax error: expected ';', got '}'"},
		{"unknown type", head + "\n\nevent { name = x; fields := struct {\n uint31_t x; }; };", `metadata line 6: unknown type "uint31_t"`},
		{"unknown multiword type", head + "event { fields := struct { unsigned int x; }; };", `metadata line 3: unknown type "unsigned int"`},
		{"unknown struct", head + "event { fields := struct nope; };", `metadata line 3: unknown type "struct nope"`},
		{"unknown variant", head + "event { fields := struct { variant v <x> y; }; };", `metadata line 3: unknown type "variant v"`},
		{"keyword as type", head + "event { fields := struct { trace x; }; };", "metadata line 3: syntax error: expected type, got 'trace'"},
		{"no trace", "/* CTF 1.8 */\nenv { a = 1; };", "metadata: no trace block"},
		{"no byte order", "/* CTF 1.8 */\n\ntrace { major = 1; minor = 8; };", "metadata line 3: trace block without byte_order"},
		{"native trace order", "trace { byte_order = native; };", "metadata line 1: byte_order: the trace byte order must be le or be"},
		{"duplicate trace", head + "trace { byte_order = be; };", "metadata line 3: duplicate trace block (first on line 2)"},
		{"bad uuid", "trace { byte_order = le; uuid = \"xyz\"; };", `metadata line 1: uuid: invalid UUID "xyz"`},
		{"unknown clock", head + "stream { event.header := struct {\n integer { size = 64; map = clock.nope.value; } ts; }; };", `metadata line 4: unknown clock "nope"`},
		{"bad map", head + "typealias integer { size = 64; map = nope; } := t;", "metadata line 3: map: expected clock.NAME.value"},
		{"integer without size", head + "typealias integer { align = 8; } := t;", "metadata line 3: integer without size"},
		{"integer too large", head + "typealias integer { size = 65; } := t;", "metadata line 3: size: 65 out of range [1, 64]"},
		{"bad align", head + "typealias integer { size = 8; align = 3; } := t;", "metadata line 3: align: alignment 3 is not a power of two"},
		{"bad base", head + "typealias integer { size = 8; base = 7; } := t;", "metadata line 3: base: invalid base"},
		{"bad float", head + "typealias floating_point { exp_dig = 5; mant_dig = 11; } := half;", "metadata line 3: floating_point with exp_dig = 5, mant_dig = 11 is not supported"},
		{"huge array", head + "typealias integer { size = 8; } := u8;\nevent { fields := struct { u8 x[16777217]; }; };", "metadata line 4: array length 16777217 larger than 16777216"},
		{"integer overflow", head + "env { x = 18446744073709551616; };", "metadata line 3: integer \"18446744073709551616\" out of range"},
		{"env too large", head + "env { x = 9223372036854775808; };", "metadata line 3: x: integer out of range"},
		{"enum range", head + "typealias enum : integer { size = 8; } { A = 5 ... 1 } := e;", `metadata line 3: enumerator "A": range start greater than end`},
		{"enum without int", head + "typealias enum { A } := e;", `metadata line 3: unknown type "int" (enum without container type)`},
		{"unknown stream", head + "stream { id = 1; };\nevent { name = \"e\"; stream_id = 2; };", `metadata line 4: event "e": unknown stream_id 2`},
		{"implicit stream only 0", head + "event { name = \"e\"; stream_id = 2; };", `metadata line 3: event "e": unknown stream_id 2`},
		{"duplicate event", head + "event { name = a; id = 1; };\nevent { name = b; id = 1; };", `metadata line 4: event "b": duplicate id 1 in stream 0 (also "a")`},
		{"duplicate stream", head + "stream { id = 1; };\nstream { id = 1; };", "metadata line 4: duplicate stream id 1 (first on line 3)"},
		{"duplicate clock", head + "clock { name = c; };\nclock { name = \"c\"; };", `metadata line 4: duplicate clock "c"`},
		{"clock without name", head + "clock { freq = 1; };", "metadata line 3: clock block without name"},
		{"string where int", head + "stream { id = \"one\"; };", "metadata line 3: id: expected an unsigned integer"},
		{"unterminated comment", head + "/* x\n\n", "metadata line 3: unterminated comment"},
		{"unterminated string", head + "env { x = \"abc\n };", "metadata line 3: unterminated string literal"},
		{"bad escape", head + "env { x = \"\\q\"; };", `metadata line 3: invalid escape '\q' in string literal`},
		{"bad char", head + "env { x = @; };", "metadata line 3: invalid character '@'"},
		{"bad octal", head + "env { x = 08; };", `metadata line 3: invalid integer "08"`},
		{"eof in struct", head + "event { fields := struct { ", "metadata line 3: syntax error: expected '}', got end of metadata"},
		{"too deep", deep, "nesting deeper than 64 levels"},
		{"too many nodes", blowup, "types too large"},
		{"packet truncated", string(good[:len(good)-1]), fmt.Sprintf("metadata packet 0 at offset 0: packet of %d bytes truncated to %d", len(good), len(good)-1)},
		{"packet short header", string(good[:10]), "metadata packet 0 at offset 0: truncated header"},
		{"packet bad content", string(corrupt(27, 0xff)), "exceeds packet size"},
		{"packet compressed", string(corrupt(32, 1)), "compression, encryption and checksums are not supported"},
		{"second packet bad magic", string(append(bytes.Clone(good), 0x57, 0x1d, 0xd1, 0x76, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
			fmt.Sprintf("metadata packet 1 at offset %d: bad magic 0x76d11d57", len(good))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata([]byte(tc.in))
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
			var te *tsdl.Error
			if strings.HasPrefix(tc.want, "metadata line") && !errors.As(err, &te) {
				t.Errorf("error %T is not a *tsdl.Error", err)
			}
		})
	}
}

func TestParseMetadataAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"no signature", "trace { major = 1; minor = 8; byte_order = be; };"},
		{"line comments and stray semicolons", "// c\ntrace { major = 1; minor = 8; byte_order = le; ; };;\n// end"},
		{"callsite ignored", "trace { major = 1; minor = 8; byte_order = le; }; callsite { name = \"x\"; ip = 0x1234; };"},
		{"unknown attributes ignored", "trace { major = 1; minor = 8; byte_order = le; foo = bar; }; event { name = e; model.emf.uri = \"u\"; weird.attr = -1; };"},
		{"typealias inside blocks", "trace { major = 1; minor = 8; byte_order = le; }; event { typealias integer { size = 8; } := b; fields := struct { b x; }; };"},
		{"empty metadata struct", "trace { major = 1; minor = 8; byte_order = le; }; event { fields := struct { }; };"},
		{"trace after types", "typealias integer { size = 8; byte_order = native; } := u8; trace { major = 1; minor = 8; byte_order = be; };"},
		{"char literal env", "trace { major = 1; minor = 8; byte_order = le; }; env { c = 'x'; };"},
		{"string escapes", `trace { major = 1; minor = 8; byte_order = le; }; env { s = "\a\b\f\n\r\t\v\\\'\"\?\101\x41"; };`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseMetadata([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
		})
	}
	m, err := ParseMetadata([]byte(`trace { major = 1; minor = 8; byte_order = le; }; env { s = "\a\b\f\n\r\t\v\\\'\"\?\101\x41\0"; };`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Env[0].Str, "\a\b\f\n\r\t\v\\'\"?AA\x00"; got != want {
		t.Errorf("escapes = %q, want %q", got, want)
	}
	if len(m.Streams) != 1 || m.Streams[0].ID != 0 {
		t.Errorf("implicit stream = %+v", m.Streams)
	}
}

func TestTSDLClockOffset(t *testing.T) {
	for _, tc := range []struct {
		freq              uint64
		offS, off         int64
		wantOffS, wantOff int64
	}{
		{0, 5, 7, 5, 7},
		{0, 0, -5, -1, 999_999_995},
		{1000, 10, -2500, 7, 500},
		{1000, 0, -1000, -1, 0},
		{1_000_000_000, 0, math.MinInt64, -9_223_372_037, 145_224_192},
	} {
		c := &Clock{Freq: tc.freq, OffsetS: tc.offS, Offset: tc.off}
		gotS, got := tsdlClockOffset(c)
		if gotS != tc.wantOffS || got != tc.wantOff {
			t.Errorf("offset(%d, %d @ %d Hz) = %d, %d; want %d, %d", tc.offS, tc.off, tc.freq, gotS, got, tc.wantOffS, tc.wantOff)
		}
	}
}
