package ctf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Tests of what a run of public CTF traces through the reader and
// babeltrace2 showed: each case is a trace babeltrace2 2.0 refuses, or
// reads, where the reader did otherwise.

const fxHead = "/* CTF 1.8 */\ntrace { major = 1; minor = 8; byte_order = le; };\n" +
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n" +
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"

func TestParseRefusesLikeBabeltrace(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		// A clock offset that does not fit 64-bit ns from origin: every
		// time would wrap.
		{"offset_s beyond int64 ns", fxHead + "clock { name = c;\n offset_s = 9223372036; };", `metadata line 5: clock "c": offset of 9223372036 s + 0 cycles is beyond 64-bit nanoseconds from origin`},
		{"negative offset_s beyond int64 ns", fxHead + "clock { name = c; offset_s = -9223372037; };", "beyond 64-bit nanoseconds"},
		{"offset cycles beyond int64 ns", fxHead + "clock { name = c; freq = 1; offset = 9223372036; };", "beyond 64-bit nanoseconds"},
		{"negative offset", fxHead + "clock { name = c; offset = -1; };", "metadata line 5: offset: expected an unsigned integer"},
		// The version.
		{"minor 1", "/* CTF 1.8 */\ntrace {\n major = 1;\n minor = 1; byte_order = le; };", "metadata line 3: CTF 1.1 is not supported (only 1.8)"},
		{"major 2", "trace { major = 2; minor = 0; byte_order = le; };", "metadata line 1: CTF 2.0 is not supported (only 1.8)"},
		{"no version", "trace { byte_order = le; };", "metadata line 1: trace block without major and minor"},
		// References of the wrong type, found when the metadata is parsed.
		{"sequence length string", fxHead + "event {\n name = e; fields := struct { string n; uint8_t s[n]; }; };", `metadata line 5: event "e": event payload: field s: sequence length "n" is a string, not an unsigned integer`},
		{"sequence length signed", fxHead + "event { name = e; fields := struct { integer { size = 8; signed = true; } n; uint8_t s[n]; }; };", `sequence length "n" is a signed integer, not an unsigned integer`},
		{"sequence length struct", fxHead + "event { name = e; fields := struct { struct { uint8_t a; } n; uint8_t s[n]; }; };", `sequence length "n" is a struct, not an unsigned integer`},
		{"sequence length missing", fxHead + "event { name = e; fields := struct { uint8_t s[n]; }; };", `event "e": event payload: field s: sequence length: field "n" not found`},
		{"variant tag integer", fxHead + "event { name = e; fields := struct { uint8_t t; variant <t> { uint8_t a; } v; }; };", `variant tag "t" is an integer, not an enum`},
		{"variant tag in stream header", fxHead + "stream {\n event.header := struct { uint32_t id; variant <id> { uint8_t a; } v; }; };", `metadata line 5: stream 0: event header: field v: variant tag "id" is an integer, not an enum`},
		// CTF 2: a JSON text sequence.
		{"ctf 2", "\x1e{\"type\":\"preamble\",\"version\":2}\n\x1e{\"type\":\"trace-class\"}", "metadata: CTF 2 is not supported (JSON fragments; only CTF 1.8 is read)"},
		{"ctf 2 packetized", string(tsdlPacketize([]byte("\x1e{\"type\":\"preamble\",\"version\":2}"), 100, 0, binary.LittleEndian)), "CTF 2 is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata([]byte(tc.in))
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q\nwant one line containing %q", err, tc.want)
			}
			if strings.HasPrefix(tc.name, "ctf 2") && !errors.Is(err, ErrCTF2) {
				t.Errorf("error %v is not ErrCTF2", err)
			}
		})
	}
}

func TestParseAcceptsLikeBabeltrace(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"void pointer alias", fxHead + "typealias integer { size = 64; align = 8; signed = false; base = hex; } := void *;\n" +
			"typealias integer { size = 32; } := unsigned long **;\n" +
			"event { name = e; fields := struct { void * p; unsigned long ** q; }; };"},
		{"largest offset_s", fxHead + "clock { name = c; offset_s = 9223372034; offset = 999999999; };"},
		{"negative offset_s", fxHead + "clock { name = c; offset_s = -9223372035; };"},
		{"enum sequence length", fxHead + "event { name = e; fields := struct { enum : uint8_t { a = 0, b = 1 } n; uint8_t s[n]; }; };"},
		{"length in packet context", fxHead + "stream { packet.context := struct { uint8_t n; }; };\nevent { name = e; fields := struct { uint8_t s[stream.packet.context.n]; }; };"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseMetadata([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
		})
	}
	// "void *" is a type name like any other.
	m, err := ParseMetadata([]byte(fxHead + "typealias integer { size = 64; align = 8; signed = false; base = hex; } := void *;\n" +
		"event { name = e; fields := struct { void * p; void *q; }; };"))
	if err != nil {
		t.Fatal(err)
	}
	f := m.Streams[0].Events[0].Fields
	if len(f.Fields) != 2 || f.Fields[0].Name != "p" || f.Fields[1].Name != "q" || f.Fields[0].Type.Size != 64 || f.Fields[1].Type.Base != 16 {
		t.Fatalf("fields %+v", f.Fields)
	}
}

// TestEventTimeBeyondInt64 reads an event whose time, offset added, does not
// fit 64-bit ns: an error that names the file, the packet and the offset,
// not a wrapped time.
func TestEventTimeBeyondInt64(t *testing.T) {
	ev := &EventClass{ID: 1, Name: "e", Fields: Struct(F("x", Uint(8)))}
	m := tWriterMeta(ev)
	m.Clocks[0].Offset = 0
	m.Clocks[0].OffsetS = 9_000_000_000 // 9e18 ns
	sc := m.Streams[0]
	dir := t.TempDir()
	ts := uint64(300_000_000_000_000_000) // + 3e17 ns > MaxInt64
	p := tWrite(t, dir, "stream_0",
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(0, 0, 0, 0, 0)}),
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(ts, ts, 1, 0, 0), evs: []tEv{{ec: ev, hdr: tLargeHdr(1, ts), payload: []any{7}}}}))
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Each(func(*Event) error { return nil })
	want := fmt.Sprintf("ctf: %s: packet 1 (at offset 84), offset 168: event time of %d cycles is beyond 64-bit nanoseconds from the clock's origin", p, ts)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
}

// TestDiscardedPackets checks that gaps in packet_seq_num are reported as
// babeltrace2 reports them: the count of missing numbers, from the end of
// the packet before the gap to the beginning of the packet after it; the
// first packet's number is not checked.
func TestDiscardedPackets(t *testing.T) {
	ev := tOpenEvent()
	m := tWriterMeta(ev)
	sc := m.Streams[0]
	e := func(ts uint64) tEv {
		return tEv{ec: ev, hdr: tLargeHdr(1, ts), payload: []any{1, 1, "c", "f", 0, 0}}
	}
	dir := t.TempDir()
	tWrite(t, dir, "stream_0",
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(100, 110, 3, 0, 0), evs: []tEv{e(105)}}),
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(120, 130, 4, 0, 0)}),
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(200, 300, 7, 0, 0), evs: []tEv{e(250)}}),
		tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(400, 500, 8, 0, 0)}))
	tWrite(t, dir, "stream_1",
		tBuild(m, sc, tPkt{hdr: tPH(1), ctx: tCtx(100, 150, 0, 0, 1)}),
		tBuild(m, sc, tPkt{hdr: tPH(1), ctx: tCtx(160, 170, 2, 0, 1), evs: []tEv{e(165)}}))
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1_700_000_000_000_000_000)
	s0, s1 := tr.Streams[0], tr.Streams[1]
	if want := []Discarded{{s0, 2, false, base + 130, base + 200}}; !reflect.DeepEqual(s0.DiscardedPackets, want) {
		t.Errorf("stream 0: %+v", s0.DiscardedPackets)
	}
	if want := []Discarded{{s1, 1, false, base + 150, base + 160}}; !reflect.DeepEqual(s1.DiscardedPackets, want) {
		t.Errorf("stream 1: %+v", s1.DiscardedPackets)
	}
	if n := tr.DiscardedPacketsTotal(); n != 3 {
		t.Errorf("total %d", n)
	}
	if n := tr.DiscardedTotal(); n != 0 {
		t.Errorf("discarded events %d", n)
	}
	if filepath.Base(s0.Path) != "stream_0" {
		t.Errorf("stream order %s", s0.Path)
	}
}
