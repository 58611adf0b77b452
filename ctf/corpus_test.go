package ctf

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// The conformance corpus: traces written byte by byte by the builders of
// this file from their TSDL text, independently of the writer and of the
// reader's type model, so that the reader meets layouts the writer never
// produces. Each case is read by the reader and by babeltrace2's Python
// bindings (conform_test.go), which must agree: on every event and field
// value of the traces babeltrace2 reads, and on refusing the others.

// cfUUID is the trace UUID of every case; its bytes are those
// tsdlPacketize writes in metadata packet headers.
const cfUUID = "30313233-3435-3637-3839-616263646566"

var cfUUIDBytes = []byte("0123456789abcdef")

// cfW writes a packet bit by bit, in CTF's bit order: a little-endian field
// fills each byte from its least significant bit, a big-endian one from its
// most significant bit. Offsets are relative to the packet start.
type cfW struct {
	b  []byte
	n  int64 // bits written
	be bool  // the trace's byte order
}

func (w *cfW) bit(v uint64, be bool) {
	i := w.n / 8
	for int64(len(w.b)) <= i {
		w.b = append(w.b, 0)
	}
	sh := uint(w.n % 8)
	if be {
		sh = 7 - sh
	}
	w.b[i] = w.b[i]&^(1<<sh) | byte(v&1)<<sh
	w.n++
}

// bits writes the size low bits of v in byte order be, unaligned.
func (w *cfW) bits(size int, v uint64, be bool) {
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

// align pads with zero bits to a multiple of a bits.
func (w *cfW) align(a int64) {
	for w.n%a != 0 {
		w.bit(0, w.be)
	}
}

// u writes an integer of size bits aligned on align bits, in the trace's
// byte order.
func (w *cfW) u(size int, align int64, v uint64) { w.align(align); w.bits(size, v, w.be) }

// ue writes an integer in an explicit byte order.
func (w *cfW) ue(size int, align int64, v uint64, be bool) { w.align(align); w.bits(size, v, be) }

func (w *cfW) u8(v uint64)  { w.u(8, 8, v) }
func (w *cfW) u16(v uint64) { w.u(16, 8, v) }
func (w *cfW) u32(v uint64) { w.u(32, 8, v) }
func (w *cfW) u64(v uint64) { w.u(64, 8, v) }

// str writes a NUL-terminated string.
func (w *cfW) str(s string) {
	w.align(8)
	for i := 0; i < len(s); i++ {
		w.bits(8, uint64(s[i]), false)
	}
	w.bits(8, 0, false)
}

// text writes s in a fixed array of n bytes, NUL-padded.
func (w *cfW) text(s string, n int) {
	w.align(8)
	for i := 0; i < n; i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		w.bits(8, uint64(c), false)
	}
}

func (w *cfW) f32(f float32, align int64) { w.u(32, align, uint64(math.Float32bits(f))) }
func (w *cfW) f64(f float64, align int64) { w.u(64, align, math.Float64bits(f)) }

// slot writes a 64-bit placeholder, byte-aligned, and returns its offset.
func (w *cfW) slot() int64 {
	w.align(8)
	p := w.n
	w.bits(64, 0, w.be)
	return p
}

// finish sets the content and packet sizes in their slots (-1: the packet
// context has none), pads the packet with pad bytes beyond the content's
// last byte and returns it.
func (w *cfW) finish(content, packet int64, pad int) []byte {
	c := w.n
	size := (c+7)/8*8 + int64(pad)*8
	for int64(len(w.b))*8 < size {
		w.b = append(w.b, 0)
	}
	end := w.n
	for _, s := range []struct{ at, v int64 }{{content, c}, {packet, size}} {
		if s.at >= 0 {
			w.n = s.at
			w.bits(64, uint64(s.v), w.be)
		}
	}
	w.n = end
	return w.b
}

// cfHeader writes the usual packet header: magic, UUID, stream class id and
// stream instance id.
func (w *cfW) cfHeader(streamID, instance uint64) {
	w.u32(0xC1FC1FC1)
	for _, c := range cfUUIDBytes {
		w.u8(uint64(c))
	}
	w.u32(streamID)
	w.u64(instance)
}

// cfCtx writes the full packet context of cfPrelude's cfFullCtx and returns
// the content and packet size slots.
func (w *cfW) cfCtx(begin, end, seq, disc, cpu uint64) (int64, int64) {
	w.u64(begin)
	w.u64(end)
	cs, ps := w.slot(), w.slot()
	w.u64(seq)
	w.u64(disc)
	w.u32(cpu)
	return cs, ps
}

// cfPrelude is the metadata every case but a few starts with: integer
// aliases, the trace block with the usual packet header, a clock.
func cfPrelude(order, clock string) string {
	return `/* CTF 1.8 */
typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
typealias integer { size = 16; align = 8; signed = false; } := uint16_t;
typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
typealias integer { size = 64; align = 8; signed = false; } := uint64_t;
typealias integer { size = 64; align = 8; signed = true; } := int64_t;
trace {
	major = 1; minor = 8; byte_order = ` + order + `; uuid = "` + cfUUID + `";
	packet.header := struct { uint32_t magic; uint8_t uuid[16]; uint32_t stream_id; uint64_t stream_instance_id; };
};
env { hostname = "corpus"; domain = "ust"; };
` + clock + `
typealias integer { size = 64; align = 8; signed = false; map = clock.mono.value; } := clk64;
typealias integer { size = 32; align = 8; signed = false; map = clock.mono.value; } := clk32;
typealias integer { size = 27; align = 1; signed = false; map = clock.mono.value; } := clk27;
`
}

const cfClock = `clock { name = mono; uuid = "` + cfUUID + `"; freq = 1000000000; offset_s = 1700000000; offset = 123; };`

// cfFullCtx is the packet context of the writer and of LTTng.
const cfFullCtx = `packet.context := struct { clk64 timestamp_begin; clk64 timestamp_end; uint64_t content_size;
		uint64_t packet_size; uint64_t packet_seq_num; uint64_t events_discarded; uint32_t cpu_id; };`

// cfCase is one trace of the corpus: its files by name ("metadata" and
// the data streams).
type cfCase struct {
	name   string
	refuse bool // babeltrace2 refuses the trace, and so must the reader
	files  func() map[string][]byte
}

// cfTrace returns the files of a trace: metadata text and streams.
func cfTrace(meta string, streams ...any) map[string][]byte {
	m := map[string][]byte{"metadata": []byte(meta)}
	for i := 0; i+1 < len(streams); i += 2 {
		var all []byte
		for _, p := range streams[i+1].([][]byte) {
			all = append(all, p...)
		}
		m[streams[i].(string)] = all
	}
	return m
}

// ---- bit-packed and unaligned fields, both byte orders -------------------

const cfBitsEvent = `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
};
event { name = "bits"; id = 0; stream_id = 0; fields := struct {
	integer { size = 3; align = 1; signed = false; } a;
	integer { size = 5; align = 1; signed = true; } b;
	integer { size = 13; align = 1; signed = false; } c;
	integer { size = 64; align = 1; signed = false; } d;
	integer { size = 61; align = 1; signed = true; } e;
	integer { size = 1; align = 1; signed = false; } f;
	uint8_t g;
	integer { size = 33; align = 1; signed = false; base = 16; } h;
	integer { size = 7; align = 1; signed = true; } i;
	integer { size = 16; align = 16; signed = false; } j;
	floating_point { exp_dig = 8; mant_dig = 24; align = 8; } k;
	floating_point { exp_dig = 11; mant_dig = 53; align = 32; } l;
}; };
event { name = "orders"; id = 1; stream_id = 0; fields := struct {
	integer { size = 16; align = 8; signed = false; byte_order = le; } le16;
	integer { size = 16; align = 8; signed = false; byte_order = be; } be16;
	integer { size = 12; align = 1; signed = true; byte_order = network; } n12;
	integer { size = 4; align = 1; signed = false; byte_order = be; } n4;
	integer { size = 32; align = 8; signed = true; byte_order = native; } nat;
	floating_point { exp_dig = 11; mant_dig = 53; align = 8; byte_order = be; } bed;
	floating_point { exp_dig = 8; mant_dig = 24; align = 8; byte_order = le; } lef;
}; };
`

func cfBitsPayload(w *cfW, i uint64) {
	w.align(32) // the payload is aligned on its largest member (l)
	w.u(3, 1, i%8)
	w.u(5, 1, uint64(-int64(i)-3)&31)
	w.u(13, 1, 0x1abc+i)
	w.u(64, 1, ^uint64(0)-i*0x1111)
	w.u(61, 1, uint64(-int64(1)<<59+int64(i)))
	w.u(1, 1, i&1)
	w.u8(200 + i)
	w.u(33, 1, 1<<32|0xdead0000+i)
	w.u(7, 1, uint64(-64+int64(i))&127)
	w.u(16, 16, 0xbeef)
	w.f32(float32(i)+0.25, 8)
	w.f64(-1.5e300/float64(i+1), 32)
}

func cfOrdersPayload(w *cfW, i uint64) {
	w.ue(16, 8, 0x1234+i, false)
	w.ue(16, 8, 0x5678+i, true)
	w.ue(12, 1, uint64(-100-int64(i))&0xfff, true)
	w.ue(4, 1, 9, true)
	w.u(32, 8, uint64(uint32(int32(-70000-int32(i)))))
	w.ue(64, 8, math.Float64bits(math.Pi*float64(i)), true)
	w.ue(32, 8, uint64(math.Float32bits(float32(math.Copysign(0, -1)))), false)
}

func cfBits(order string) func() map[string][]byte {
	return func() map[string][]byte {
		be := order == "be"
		stream := func(inst, base uint64, pads ...int) [][]byte {
			var pkts [][]byte
			ts := base
			for p, pad := range pads {
				w := &cfW{be: be}
				w.cfHeader(0, inst)
				cs, ps := w.cfCtx(ts, ts+1000, uint64(p), 0, inst)
				for k := uint64(0); k < 3; k++ {
					ts += 100 + inst
					i := uint64(p)*3 + k
					w.u32(i % 2)
					w.u64(ts)
					if i%2 == 0 {
						cfBitsPayload(w, i)
					} else {
						cfOrdersPayload(w, i)
					}
				}
				ts += 1000 - 300 - 3*inst
				pkts = append(pkts, w.finish(cs, ps, pad))
			}
			return pkts
		}
		meta := cfPrelude(order, cfClock) + cfBitsEvent
		return cfTrace(meta, "stream_0", stream(0, 1000, 0, 5, 3), "stream_1", stream(1, 1050, 1, 0))
	}
}

// ---- variants tagged by enums, nested ------------------------------------

const cfVariantEvent = `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
};
enum kind_t : uint8_t { I = 0, S = 1, N = 2 ... 4, X = 10, "_U" = 11, "never used" = 12 };
event { name = "var"; id = 0; stream_id = 0; fields := struct {
	enum kind_t _t;
	variant <_t> {
		uint32_t I;
		string S;
		struct {
			enum : integer { size = 2; align = 1; signed = false; } { A = 0, B = 1, C = 2 } k;
			variant <k> { integer { size = 9; align = 1; signed = true; } A; uint64_t B; struct { } C; } v;
			integer { size = 3; align = 1; signed = false; } after;
		} N;
		uint8_t X;
		int64_t _U;
	} u;
	variant <_t> { uint16_t I; uint8_t S; uint8_t N; string X; uint8_t _U; } w;
	variant named_v <_t> { uint8_t I; uint8_t S; uint8_t N; uint8_t X; uint8_t _U; } x;
}; };
`

func cfVariants() map[string][]byte {
	w := &cfW{}
	w.cfHeader(0, 0)
	cs, ps := w.cfCtx(500, 5000, 0, 0, 0)
	ts := uint64(500)
	for i, tag := range []uint64{0, 1, 2, 3, 4, 10, 11, 3} {
		ts += 400
		w.u32(0)
		w.u64(ts)
		w.u8(tag)
		switch tag {
		case 0:
			w.u32(0xfeedface)
		case 1:
			w.str("option S")
		case 2, 3, 4:
			k := uint64(i) % 3
			w.u(2, 1, k)
			switch k {
			case 0:
				w.u(9, 1, uint64(-200+int64(i))&511)
			case 1:
				w.u64(1 << 63)
			}
			w.u(3, 1, 5)
		case 10:
			w.u8(10)
		case 11:
			w.u(64, 8, uint64(math.MinInt64+int64(i)))
		}
		switch tag {
		case 0:
			w.u16(65535)
		case 10:
			w.str("x")
		default:
			w.u8(uint64(i))
		}
		w.u8(tag * 2)
	}
	meta := cfPrelude("le", cfClock) + cfVariantEvent
	return cfTrace(meta, "stream_0", [][]byte{w.finish(cs, ps, 7)})
}

// ---- sequences of structs, arrays of strings, text ------------------------

const cfSeqEvent = `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
};
event { name = "seqs"; id = 7; stream_id = 0; fields := struct {
	uint8_t n;
	struct { uint16_t a; string s; integer { size = 4; align = 1; signed = false; } b[2]; } items[n];
	uint8_t m;
	string names[m];
	string fixed[3];
	integer { size = 8; align = 8; signed = false; encoding = UTF8; } txt[6];
	uint32_t tl;
	integer { size = 8; align = 8; signed = false; encoding = ASCII; } tseq[tl];
	uint16_t grid[2][3];
	uint8_t k;
	integer { size = 5; align = 1; signed = true; } dyn[k][2];
	struct { uint8_t len; uint32_t v[len]; } inner;
	uint64_t big[inner.len];
}; };
`

func cfSequences() map[string][]byte {
	w := &cfW{}
	w.cfHeader(0, 0)
	cs, ps := w.cfCtx(10, 100000, 0, 0, 0)
	ts := uint64(10)
	for e := 0; e < 4; e++ {
		ts += 1000
		w.u32(7)
		w.u64(ts)
		n := e % 3
		w.u8(uint64(n))
		for j := 0; j < n; j++ {
			w.u16(uint64(1000*e + j))
			w.str(fmt.Sprintf("item %d.%d é", e, j))
			w.u(4, 1, uint64(j))
			w.u(4, 1, 15)
		}
		w.u8(uint64(e))
		for j := 0; j < e; j++ {
			w.str(strings.Repeat("n", j))
		}
		for _, s := range []string{"a", "", "ccc"} {
			w.str(s)
		}
		w.text([]string{"abcdef", "ab\x00cd", "", "xyz"}[e], 6)
		tl := []string{"", "t", "tab\tq\"", "long text sequence"}[e]
		w.u32(uint64(len(tl)))
		w.text(tl, len(tl))
		for j := 0; j < 6; j++ {
			w.u16(uint64(e*10 + j))
		}
		w.u8(uint64(e))
		for j := 0; j < 2*e; j++ {
			w.u(5, 1, uint64(j-8)&31)
		}
		w.u8(uint64(e + 1))
		for j := 0; j <= e; j++ {
			w.u32(uint64(j * 7))
		}
		for j := 0; j <= e; j++ {
			w.u64(uint64(j) << 60)
		}
	}
	meta := cfPrelude("le", cfClock) + cfSeqEvent
	return cfTrace(meta, "stream_0", [][]byte{w.finish(cs, ps, 0)})
}

// ---- several stream classes, stream event contexts, event contexts -------

const cfStreamsEvents = `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
	event.context := struct { uint32_t pid; string comm; uint8_t cnt; };
};
stream { id = 3;
	packet.context := struct { clk64 timestamp_begin; clk64 timestamp_end; uint64_t content_size; uint64_t packet_size; uint16_t extra; };
	event.header := struct { uint16_t id; clk64 timestamp; } align(32);
};
event { name = "a"; id = 0; stream_id = 0;
	context := struct { uint16_t prio; uint8_t n; };
	fields := struct { uint8_t vals[event.context.n]; uint8_t v2[stream.event.context.cnt]; };
};
event { name = "b"; id = 0; stream_id = 3; fields := struct { string s; }; };
event { name = "c"; id = 1; stream_id = 3; context := struct { uint32_t ctx; }; };
`

func cfStreams() map[string][]byte {
	a := func(inst uint64, base uint64) [][]byte {
		w := &cfW{}
		w.cfHeader(0, inst)
		cs, ps := w.cfCtx(base, base+10000, 0, 0, inst)
		for i := uint64(0); i < 4; i++ {
			w.u32(0)
			w.u64(base + 1000*i + 10)
			w.u32(4000 + inst)
			w.str(fmt.Sprintf("comm%d", inst))
			w.u8(i % 3)
			w.u16(i * 11)
			w.u8(i)
			for j := uint64(0); j < i; j++ {
				w.u8(j + 100)
			}
			for j := uint64(0); j < i%3; j++ {
				w.u8(j + 200)
			}
		}
		return [][]byte{w.finish(cs, ps, 16)}
	}
	b := func() [][]byte {
		var pkts [][]byte
		ts := uint64(1500)
		for p := 0; p < 2; p++ {
			w := &cfW{}
			w.cfHeader(3, 5)
			w.u64(ts)
			w.u64(ts + 4000)
			cs, ps := w.slot(), w.slot()
			w.u16(uint64(p + 77))
			for i := 0; i < 3; i++ {
				ts += 1000
				w.align(32)
				w.u16(uint64(i % 2))
				w.u64(ts)
				if i%2 == 0 {
					w.str(fmt.Sprintf("b%d", i))
				} else {
					w.u32(uint64(i) * 1000)
				}
			}
			ts += 1000
			pkts = append(pkts, w.finish(cs, ps, 3))
		}
		return pkts
	}
	meta := cfPrelude("le", cfClock) + cfStreamsEvents
	return cfTrace(meta, "s0_0", a(0, 100), "s0_1", a(1, 600), "s3_0", b())
}

// ---- LTTng's compact and large event headers -----------------------------

const cfLTTngEvents = `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct {
		enum : integer { size = 5; align = 1; signed = false; } { compact = 0 ... 30, extended = 31 } id;
		variant <id> { struct { clk27 timestamp; } compact; struct { uint32_t id; clk64 timestamp; } extended; } v;
	} align(8);
};
stream { id = 1; ` + cfFullCtx + `
	event.header := struct {
		enum : uint16_t { compact = 0 ... 65534, extended = 65535 } id;
		variant <id> { struct { clk32 timestamp; } compact; struct { uint32_t id; clk64 timestamp; } extended; } v;
	} align(8);
};
event { name = "c0"; id = 0; stream_id = 0; fields := struct { uint32_t x; }; };
event { name = "c40"; id = 40; stream_id = 0; fields := struct { integer { size = 3; align = 1; signed = false; } y; }; };
event { name = "l5"; id = 5; stream_id = 1; fields := struct { uint64_t z; }; };
event { name = "l70000"; id = 70000; stream_id = 1; fields := struct { uint8_t q; }; };
`

func cfLTTng() map[string][]byte {
	// Stream 0: 27-bit compressed timestamps that wrap.
	t0 := uint64(1<<40 | (1<<27 - 0x100))
	w := &cfW{}
	w.cfHeader(0, 0)
	cs, ps := w.cfCtx(t0, t0+1<<31, 0, 0, 0)
	compact := func(id, ts uint64) {
		w.align(8)
		w.u(5, 1, id)
		w.u(27, 1, ts&(1<<27-1))
	}
	extended := func(id, ts uint64) {
		w.align(8)
		w.u(5, 1, 31)
		w.u32(id)
		w.u64(ts)
	}
	ts := t0 + 0x10
	compact(0, ts)
	w.u32(1)
	ts += 0x200 // wraps the low 27 bits
	compact(0, ts)
	w.u32(2)
	ts += 1 << 30 // too far for 27 bits
	extended(40, ts)
	w.u(3, 1, 6)
	ts += 5
	extended(0, ts)
	w.u32(3)
	ts += 1<<27 - 1
	compact(0, ts)
	w.u32(4)
	s0 := w.finish(cs, ps, 1)

	// Stream 1: 32-bit compressed timestamps.
	w = &cfW{}
	w.cfHeader(1, 1)
	t1 := uint64(1<<40 | 0xfffffff0)
	cs, ps = w.cfCtx(t1, t1+1<<34, 0, 0, 1)
	ts = t1 + 1
	w.u16(5)
	w.u32(ts & 0xffffffff)
	w.u64(11)
	ts += 0x20 // wraps the low 32 bits
	w.u16(5)
	w.u32(ts & 0xffffffff)
	w.u64(12)
	ts += 1 << 33
	w.u16(65535)
	w.u32(70000)
	w.u64(ts)
	w.u8(13)
	s1 := w.finish(cs, ps, 0)
	meta := cfPrelude("le", cfClock) + cfLTTngEvents
	return cfTrace(meta, "chan_0", [][]byte{s0}, "chan_1", [][]byte{s1})
}

// ---- packets without optional fields -------------------------------------

// cfMinimal has no packet header (so one stream class and no magic), a
// packet context with neither sizes (a packet is its whole file) nor
// times nor counters, and an event header whose timestamp is mapped to
// the only clock implicitly; the clock ticks at 1 kHz.
func cfMinimal() map[string][]byte {
	meta := `/* CTF 1.8 */
trace { major = 1; minor = 8; byte_order = be; };
clock { name = slow; freq = 1000; offset_s = 1600000000; offset = 999; };
stream {
	packet.context := struct { integer { size = 8; align = 8; signed = false; } weird; };
	event.header := struct { integer { size = 8; align = 8; signed = false; } id; integer { size = 64; align = 8; signed = false; } timestamp; };
};
event { name = "m"; id = 2; fields := struct { integer { size = 24; align = 8; signed = true; } v; }; };
event { name = "n"; id = 3; };
`
	files := map[string][]byte{"metadata": []byte(meta)}
	for s := uint64(0); s < 2; s++ {
		w := &cfW{be: true}
		w.u8(42)
		for i := uint64(0); i < 5; i++ {
			w.u8(2 + i%2)
			w.u64(100*i + s*7)
			if i%2 == 0 {
				w.u(24, 8, uint64(-int64(i)*1000)&0xffffff)
			}
		}
		files[fmt.Sprintf("data%d", s)] = w.finish(-1, -1, 0)
	}
	return files
}

// ---- clocks other than 1 GHz with offsets ---------------------------------

func cfClockCase(freq, offsetS, offset uint64, times []uint64) func() map[string][]byte {
	return func() map[string][]byte {
		clock := fmt.Sprintf("clock { name = mono; freq = %d; offset_s = %d; offset = %d; absolute = true; };", freq, offsetS, offset)
		meta := cfPrelude("le", clock) + `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
};
event { name = "tick"; id = 0; stream_id = 0; fields := struct { uint64_t cycles; }; };
`
		w := &cfW{}
		w.cfHeader(0, 0)
		cs, ps := w.cfCtx(times[0], times[len(times)-1], 0, 0, 0)
		for _, ts := range times {
			w.u32(0)
			w.u64(ts)
			w.u64(ts)
		}
		return cfTrace(meta, "stream_0", [][]byte{w.finish(cs, ps, 0)})
	}
}

// ---- packetized metadata, split over several packets ---------------------

func cfPacketized(chunk, pad int, order binary.ByteOrder) func() map[string][]byte {
	return func() map[string][]byte {
		files := cfBits(map[bool]string{true: "be", false: "le"}[order == binary.BigEndian])()
		files["metadata"] = tsdlPacketize(files["metadata"], chunk, pad, order)
		return files
	}
}

// ---- discarded events and packets ----------------------------------------

func cfDiscarded() map[string][]byte {
	meta := cfPrelude("le", cfClock) + `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
};
event { name = "d"; id = 0; stream_id = 0; fields := struct { uint32_t i; }; };
`
	stream := func(inst uint64, seqs, discs []uint64) [][]byte {
		var pkts [][]byte
		ts := 1000 + inst
		for p := range seqs {
			w := &cfW{}
			w.cfHeader(0, inst)
			cs, ps := w.cfCtx(ts, ts+500, seqs[p], discs[p], inst)
			for i := uint64(0); i < uint64(p%3); i++ {
				w.u32(0)
				w.u64(ts + 100*(i+1))
				w.u32(uint64(p)*10 + i)
			}
			ts += 1000
			pkts = append(pkts, w.finish(cs, ps, 0))
		}
		return pkts
	}
	return cfTrace(meta,
		"stream_0", stream(0, []uint64{0, 1, 4, 5, 9}, []uint64{0, 2, 2, 7, 7}),
		"stream_1", stream(1, []uint64{3, 4, 6}, []uint64{5, 5, 6}))
}

// ---- enums and integers at their limits ------------------------------------

func cfEnums() map[string][]byte {
	meta := cfPrelude("be", cfClock) + `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
};
event { name = "e"; id = 0; stream_id = 0; fields := struct {
	enum : integer { size = 16; align = 8; signed = true; } { NEG = -1000 ... -1, ZERO = 0, POS = 1 ... 1000, OVER = 500 ... 2000 } s;
	enum : integer { size = 64; align = 64; signed = false; } { LOW = 0 ... 9, HIGH = 0xFFFFFFFFFFFFFFF0 ... 0xFFFFFFFFFFFFFFFF } u;
	int64_t min;
	integer { size = 64; align = 8; signed = false; base = 16; } hex;
	integer { size = 8; align = 8; signed = false; base = 8; } oct;
	integer { size = 8; align = 8; signed = false; base = 2; } bin;
}; };
`
	w := &cfW{be: true}
	w.cfHeader(0, 0)
	cs, ps := w.cfCtx(0, 100, 0, 0, 0)
	for i, v := range []int64{-1000, -1, 0, 700, 1500, 3000, -32768} {
		w.u32(0)
		w.u64(uint64(10 * i))
		w.align(64) // the payload is aligned on its largest member (u)
		w.u(16, 8, uint64(v)&0xffff)
		w.u(64, 64, []uint64{0, 9, 10, 1 << 63, ^uint64(0), ^uint64(0) - 15, ^uint64(0) - 16}[i])
		w.u64(uint64(math.MinInt64 + int64(i)))
		w.u64(0xdeadbeefcafe0000 + uint64(i))
		w.u8(uint64(i * 37))
		w.u8(uint64(255 - i))
	}
	return cfTrace(meta, "stream_0", [][]byte{w.finish(cs, ps, 0)})
}

// ---- traces babeltrace2 refuses ---------------------------------------------

// cfSimple is a valid trace with one event class "s" (a uint32_t field)
// whose metadata and packets the refusal cases spoil.
func cfSimple(clock, extra string, pkt func(w *cfW, p int)) map[string][]byte {
	meta := cfPrelude("le", clock) + `
stream { id = 0; ` + cfFullCtx + `
	event.header := struct { uint32_t id; clk64 timestamp; };
};
event { name = "s"; id = 0; stream_id = 0; fields := struct { uint32_t v; }; };
` + extra
	var pkts [][]byte
	for p := 0; p < 2; p++ {
		w := &cfW{}
		w.cfHeader(0, 0)
		cs, ps := w.cfCtx(uint64(100*p), uint64(100*p+50), uint64(p), 0, 0)
		w.u32(0)
		w.u64(uint64(100*p + 10))
		w.u32(uint64(p))
		if pkt != nil {
			pkt(w, p)
		}
		pkts = append(pkts, w.finish(cs, ps, 0))
	}
	return cfTrace(meta, "stream_0", pkts)
}

func cfRefusals() []cfCase {
	return []cfCase{
		{"refuse-offset-beyond-int64", true, func() map[string][]byte {
			return cfSimple(`clock { name = mono; freq = 1000000000; offset_s = 9300000000; };`, "", nil)
		}},
		{"refuse-minor-1", true, func() map[string][]byte {
			f := cfSimple(cfClock, "", nil)
			f["metadata"] = []byte(strings.Replace(string(f["metadata"]), "minor = 8", "minor = 1", 1))
			return f
		}},
		{"refuse-sequence-length-string", true, func() map[string][]byte {
			return cfSimple(cfClock, `event { name = "bad"; id = 1; stream_id = 0; fields := struct { string n; uint8_t s[n]; }; };`, nil)
		}},
		{"refuse-sequence-length-signed", true, func() map[string][]byte {
			return cfSimple(cfClock, `event { name = "bad"; id = 1; stream_id = 0; fields := struct { int64_t n; uint8_t s[n]; }; };`, nil)
		}},
		{"refuse-variant-tag-integer", true, func() map[string][]byte {
			return cfSimple(cfClock, `event { name = "bad"; id = 1; stream_id = 0; fields := struct { uint8_t t; variant <t> { uint8_t a; } v; }; };`, nil)
		}},
		{"refuse-ctf2", true, func() map[string][]byte {
			f := cfSimple(cfClock, "", nil)
			f["metadata"] = []byte("\x1e{\"type\":\"preamble\",\"version\":2}\n\x1e{\"type\":\"trace-class\"}\n")
			return f
		}},
		{"refuse-bad-magic", true, func() map[string][]byte {
			f := cfSimple(cfClock, "", nil)
			s := f["stream_0"]
			s[len(s)/2] ^= 0xff // the second packet's magic
			return f
		}},
		{"refuse-unknown-event-id", true, func() map[string][]byte {
			return cfSimple(cfClock, "", func(w *cfW, p int) {
				if p == 1 {
					w.u32(9)
					w.u64(140)
				}
			})
		}},
		{"refuse-content-beyond-packet", true, func() map[string][]byte {
			f := cfSimple(cfClock, "", nil)
			s := f["stream_0"]
			binary.LittleEndian.PutUint64(s[len(s)/2+48:], 1<<20) // second packet's content_size
			return f
		}},
		{"refuse-variant-unknown-option", true, func() map[string][]byte {
			return cfSimple(cfClock, `event { name = "v"; id = 1; stream_id = 0; fields := struct {
	enum : uint8_t { A = 0, B = 1, C = 2 } t; variant <t> { uint8_t A; uint8_t B; } v; }; };`, func(w *cfW, p int) {
				w.u32(1)
				w.u64(uint64(100*p + 20))
				w.u8(uint64(2 - p)) // C, then B
				w.u8(5)
			})
		}},
		{"refuse-variant-tag-path", true, func() map[string][]byte {
			return cfSimple(cfClock, `event { name = "v"; id = 1; stream_id = 0; fields := struct {
	enum : uint8_t { A = 0 } t; variant <event.fields.t> { uint8_t A; } v; }; };`, nil)
		}},
		{"refuse-relative-length-in-other-scope", true, func() map[string][]byte {
			return cfSimple(cfClock, `event { name = "r"; id = 1; stream_id = 0; fields := struct { uint8_t s[cpu_id]; }; };`, nil)
		}},
		{"refuse-clock-3hz-time-beyond-int64", true, cfClockCase(3, 1_600_000_000, 2, []uint64{0, 1 << 40})},
		{"refuse-time-beyond-int64", true, func() map[string][]byte {
			return cfSimple(`clock { name = mono; freq = 1000000000; offset_s = 9000000000; };`, "", func(w *cfW, p int) {
				if p == 1 {
					w.u32(0)
					w.u64(1 << 62)
					w.u32(7)
				}
			})
		}},
	}
}

// cfCorpus returns every case.
func cfCorpus() []cfCase {
	cases := []cfCase{
		{"bitpacked-le", false, cfBits("le")},
		{"bitpacked-be", false, cfBits("be")},
		{"variants", false, cfVariants},
		{"sequences-arrays-strings", false, cfSequences},
		{"stream-classes-contexts", false, cfStreams},
		{"lttng-compact-large-headers", false, cfLTTng},
		{"minimal-packets-1khz", false, cfMinimal},
		{"clock-2.4ghz", false, cfClockCase(2_400_000_000, 1_700_000_000, 1_234_567_891, []uint64{0, 1, 2_399_999_999, 1 << 40, 1<<51 + 12345, 3_000_000_000_000_000})},
		{"clock-3hz", false, cfClockCase(3, 1_600_000_000, 2, []uint64{0, 1, 2, 3, 4, 1000, 1 << 30})},
		{"clock-1mhz-offset-cycles", false, cfClockCase(1_000_000, 0, 1_700_000_000_123_456, []uint64{5, 999_999, 1_000_000})},
		{"packetized-metadata-le", false, cfPacketized(100, 13, binary.LittleEndian)},
		{"packetized-metadata-be", false, cfPacketized(4096, 0, binary.BigEndian)},
		{"discarded-events-packets", false, cfDiscarded},
		{"enums-limits", false, cfEnums},
	}
	return append(cases, cfRefusals()...)
}
