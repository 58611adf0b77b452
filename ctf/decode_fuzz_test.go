package ctf

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// tFuzzMeta is the fixed metadata FuzzDecodePacket decodes against: LTTng's
// compact header and payloads with bit fields, big-endian fields, sequences,
// variants and strings.
func tFuzzMeta() (*Metadata, []*EventClass) {
	u3 := Uint(3)
	u3.Align = 1
	u5 := Uint(5)
	u5.Align = 1
	be12 := Int(12)
	be12.Align, be12.ByteOrder = 1, BigEndian
	be4 := Uint(4)
	be4.Align, be4.ByteOrder = 1, BigEndian
	a64 := Uint(64)
	a64.Align = 64
	tag := Enum(Uint(8), EnumMapping{"n", 0, 0}, EnumMapping{"s", 1, 3})
	e0 := &EventClass{ID: 0, Name: "bits", Fields: Struct(F("a", u3), F("p", u5), F("b", be12), F("q", be4), F("c", a64), F("f", Float32()), F("g", u3))}
	e1 := &EventClass{ID: 1, Name: "seq", Fields: Struct(
		F("__n_length", Uint(16)), F("_n", Sequence(Char(), "__n_length")),
		F("m", Sequence(Struct(F("k", Uint(8)), F("v", Sequence(Int(16), "k"))), "__n_length")))}
	e2 := &EventClass{ID: 33, Name: "var", Fields: Struct(
		F("t", tag), F("u", Variant("t", F("n", Uint(64)), F("s", String()))), F("txt", Text(4)))}
	m := tCompactMeta(e0, e1, e2)
	return m, []*EventClass{e0, e1, e2}
}

// tFuzzDecode indexes data as a stream file and reads all its events.
func tFuzzDecode(m *Metadata, data []byte) (int, error) {
	t, err := rdNewTrace("fuzz", m)
	if err != nil {
		return 0, err
	}
	ra := bytes.NewReader(data)
	s, err := t.index("fuzz/stream", ra, int64(len(data)))
	if err != nil {
		return 0, err
	}
	s.ra = ra
	s.size = int64(len(data))
	t.Streams = append(t.Streams, s)
	it := t.Events()
	n := 0
	for it.Next() {
		e := it.Event()
		_ = e.Payload.String()
		_ = e.Payload.Interface()
		n++
	}
	return n, it.Err()
}

func tFuzzSeeds() [][]byte {
	m, ecs := tFuzzMeta()
	sc := m.Streams[0]
	e0, e1, e2 := ecs[0], ecs[1], ecs[2]
	p1 := tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(10, 1<<28, 0, 0, 1), pad: 5, evs: []tEv{
		{ec: e0, hdr: tCompactHdr(0, 11, false), payload: []any{5, 17, -7, 9, 1 << 40, 2.5, 6}},
		{ec: e1, hdr: tCompactHdr(1, 12, false), payload: []any{2, "hi", []any{[]any{1, []any{-1}}, []any{0, []any{}}}}},
		{ec: e2, hdr: tCompactHdr(33, 1<<28, true), payload: []any{1, tVar{"s", "str"}, "abcd"}},
	}})
	p2 := tBuild(m, sc, tPkt{hdr: tPH(0), ctx: tCtx(1<<28, 1<<29, 1, 4, 1), evs: []tEv{
		{ec: e2, hdr: tCompactHdr(33, 1<<28+1, true), payload: []any{0, tVar{"n", uint64(9)}, "x"}},
		{ec: e0, hdr: tCompactHdr(0, 1<<28+5, false), payload: []any{1, 2, 3, 4, 5, 4.0, 7}},
	}})
	return [][]byte{p1, append(append([]byte(nil), p1...), p2...), p2[:len(p2)-3]}
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range tFuzzSeeds() {
		f.Add(s)
	}
	m, _ := tFuzzMeta()
	f.Fuzz(func(t *testing.T, data []byte) {
		tFuzzDecode(m, data)
	})
}

func TestFuzzSeedsDecode(t *testing.T) {
	m, _ := tFuzzMeta()
	for i, s := range tFuzzSeeds() {
		n, err := tFuzzDecode(m, s)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if want := []int{3, 5, 0}[i]; n != want {
			t.Fatalf("seed %d: %d events, want %d", i, n, want)
		}
	}
	// Write the seeds to the committed corpus when asked.
	if os.Getenv("CTF_WRITE_FUZZ_CORPUS") != "" {
		dir := filepath.Join("testdata", "fuzz", "FuzzDecodePacket")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range tFuzzSeeds() {
			data := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed"+strconv.Itoa(i)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// tFuzzTSDL is tFuzzMeta as TSDL, for babeltrace2.
const tFuzzTSDL = `/* CTF 1.8 */
typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
typealias integer { size = 16; align = 8; signed = false; } := uint16_t;
typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
typealias integer { size = 64; align = 8; signed = false; } := uint64_t;
trace {
	major = 1; minor = 8; byte_order = le;
	packet.header := struct { uint32_t magic; uint8_t uuid[16]; uint32_t stream_id; uint64_t stream_instance_id; };
};
env { hostname = "h"; };
clock { name = monotonic; freq = 1000000000; offset = 1700000000000000000; };
typealias integer { size = 27; align = 1; signed = false; map = clock.monotonic.value; } := uint27_clock_t;
typealias integer { size = 64; align = 8; signed = false; map = clock.monotonic.value; } := uint64_clock_t;
stream {
	id = 0;
	packet.context := struct { uint64_clock_t timestamp_begin; uint64_clock_t timestamp_end; uint64_t content_size;
		uint64_t packet_size; uint64_t packet_seq_num; uint64_t events_discarded; uint32_t cpu_id; };
	event.header := struct {
		enum : integer { size = 5; align = 1; signed = false; } { compact = 0 ... 30, extended = 31 } id;
		variant <id> { struct { uint27_clock_t timestamp; } compact; struct { uint32_t id; uint64_clock_t timestamp; } extended; } v;
	} align(8);
};
event { name = "bits"; id = 0; stream_id = 0; fields := struct {
	integer { size = 3; align = 1; signed = false; } a;
	integer { size = 5; align = 1; signed = false; } p;
	integer { size = 12; align = 1; signed = true; byte_order = be; } b;
	integer { size = 4; align = 1; signed = false; byte_order = be; } q;
	integer { size = 64; align = 64; signed = false; } c;
	floating_point { exp_dig = 8; mant_dig = 24; align = 8; } f;
	integer { size = 3; align = 1; signed = false; } g;
}; };
event { name = "seq"; id = 1; stream_id = 0; fields := struct {
	uint16_t __n_length;
	integer { size = 8; align = 8; signed = false; encoding = UTF8; } _n[__n_length];
	struct { uint8_t k; integer { size = 16; align = 8; signed = true; } v[k]; } m[__n_length];
}; };
event { name = "var"; id = 33; stream_id = 0; fields := struct {
	enum : uint8_t { n = 0, s = 1 ... 3 } t;
	variant <t> { uint64_t n; string s; } u;
	integer { size = 8; align = 8; signed = false; encoding = UTF8; } txt[4];
}; };
`

const tBT2Dump = `
import bt2, json, sys
def conv(f):
    if hasattr(f, 'labels'):
        try:
            l = list(f.labels)
        except AssertionError:
            l = []
        return l[0] if l else int(f)
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
        print(json.dumps([ev.name, msg.default_clock_snapshot.ns_from_origin, int(ev.packet.context_field["cpu_id"]), conv(ev.payload_field)]))
    elif type(msg) is bt2._DiscardedEventsMessageConst:
        print(json.dumps(["discarded", msg.count]))
`

// tNeedBabeltrace skips the test when babeltrace2 is missing, or fails it
// in CI.
func tNeedBabeltrace(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/usr/bin/babeltrace2", "/usr/bin/python3"} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("babeltrace2 is required in CI: %v", err)
			}
			t.Skipf("babeltrace2 not installed: %v", err)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import bt2").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-bt2 is required in CI: %v", err)
		}
		t.Skipf("python3-bt2 not installed: %v", err)
	}
}

func TestAgainstBabeltrace(t *testing.T) {
	tNeedBabeltrace(t)
	m, ecs := tFuzzMeta()
	sc := m.Streams[0]
	seeds := tFuzzSeeds()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metadata"), []byte(tFuzzTSDL), 0o644); err != nil {
		t.Fatal(err)
	}
	tWrite(t, dir, "channel0_1", seeds[1])
	// A second CPU whose events interleave, with odd-sized packets.
	var pks [][]byte
	for i := uint64(0); i < 3; i++ {
		base := 20 + i*(1<<27)
		pks = append(pks, tBuild(m, sc, tPkt{hdr: tPH(2), ctx: tCtx(base, base+(1<<27)-1, i, i*i, 2), pad: int(i), evs: []tEv{
			{ec: ecs[0], hdr: tCompactHdr(0, base+5, false), payload: []any{int(i), 31, -2048 + int(i), 15, ^uint64(0) - i, -0.125, 1}},
			{ec: ecs[1], hdr: tCompactHdr(1, base+(1<<27)-2, false), payload: []any{1, "Z", []any{[]any{2, []any{-5, 6}}}}},
		}}))
	}
	tWrite(t, dir, "channel0_2", pks...)
	out, err := exec.Command("/usr/bin/python3", "-c", tBT2Dump, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("bt2: %v\n%s", err, out)
	}
	tr, err := rdOpen(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	// babeltrace2 emits discarded-event messages before the packet; compare
	// them as a multiset.
	disc := map[uint64]int{}
	for _, s := range tr.Streams {
		for _, d := range s.Discarded {
			disc[d.Count]++
		}
	}
	it := tr.Events()
	for it.Next() {
		e := it.Event()
		b, err := json.Marshal([]any{e.Class.Name, e.Ns, e.CPU, e.Payload.Interface()})
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, string(b))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	var theirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var d []any
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if d[0] == "discarded" {
			disc[uint64(d[1].(float64))]--
			continue
		}
		theirs = append(theirs, l)
	}
	for k, v := range disc {
		if v != 0 {
			t.Errorf("discarded count %d: %+d", k, v)
		}
	}
	if len(ours) != 11 || len(ours) != len(theirs) {
		t.Fatalf("%d events, babeltrace2 %d\nours:\n%s\ntheirs:\n%s", len(ours), len(theirs), strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
	}
	for i := range ours {
		var a, b any
		json.Unmarshal([]byte(ours[i]), &a)
		json.Unmarshal([]byte(theirs[i]), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("event %d:\n ours %s\ntheirs %s", i, ours[i], theirs[i])
		}
	}
}
