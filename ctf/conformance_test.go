package ctf

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Conformance of the writer's output with babeltrace2 2.0.4 (the CLI and
// python3-bt2), following /work/shared/reference/trace-formats.md §9.

const wtOffset = int64(1_700_000_000_000_000_000)

// wtBTFormat formats the written value v of type t the way babeltrace2's
// sink.text.pretty prints it. v is what the test passed to Write (any Go
// value Write accepts), so the expected text is built from what was
// written, independently of our reader.
func wtBTFormat(t *Type, v any) string {
	switch t.Kind {
	case KindInteger:
		u, ok := asUint(v)
		if !ok {
			panic(fmt.Sprintf("integer %T", v))
		}
		return wtBTInt(t, u)
	case KindEnum:
		var u uint64
		if l, ok := v.(string); ok {
			for _, m := range t.Mappings {
				if m.Label == l {
					u = uint64(m.Start)
				}
			}
		} else {
			u, _ = asUint(v)
		}
		var labels []string
		for _, m := range t.Mappings {
			in := u >= uint64(m.Start) && u <= uint64(m.End)
			if t.Container.Signed {
				i := wtSext(u, t.Container.Size)
				in = i >= m.Start && i <= m.End
			}
			if in {
				labels = append(labels, strconv.Quote(m.Label))
			}
		}
		l := "<unknown>"
		switch {
		case len(labels) == 1:
			l = labels[0]
		case len(labels) > 1:
			l = "{ " + strings.Join(labels, ", ") + " }"
		}
		return "( " + l + " : container = " + wtBTInt(t.Container, u) + " )"
	case KindFloat:
		var f float64
		switch x := v.(type) {
		case float32:
			f = float64(x)
		case float64:
			f = x
		default:
			i, _ := asInt(v)
			f = float64(i)
		}
		if t.Size == 32 {
			f = float64(float32(f))
		}
		return strconv.FormatFloat(f, 'g', 6, 64)
	case KindString:
		s := fmt.Sprint(v)
		if b, ok := v.([]byte); ok {
			s = string(b)
		}
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return wtBTQuote(s)
	case KindArray, KindSequence:
		if t.IsText() {
			s := fmt.Sprint(v)
			if b, ok := v.([]byte); ok {
				s = string(b)
			}
			if t.Kind == KindArray && len(s) > t.Length {
				s = s[:t.Length]
			}
			return wtBTQuote(s)
		}
		rv := reflect.ValueOf(v)
		if rv.Len() == 0 {
			return "[ ]"
		}
		var parts []string
		for i := 0; i < rv.Len(); i++ {
			parts = append(parts, fmt.Sprintf("[%d] = %s", i, wtBTFormat(t.Elem, rv.Index(i).Interface())))
		}
		return "[ " + strings.Join(parts, ", ") + " ]"
	case KindStruct:
		if len(t.Fields) == 0 {
			return "{ }"
		}
		var parts []string
		for i, f := range t.Fields {
			var fv any
			switch x := v.(type) {
			case []any:
				fv = x[i]
			case map[string]any:
				fv = x[f.Name]
			}
			parts = append(parts, StripName(f.Name)+" = "+wtBTFormat(f.Type, fv))
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	panic(t.Kind)
}

func wtSext(u uint64, size int) int64 { return int64(u<<(64-size)) >> (64 - size) }

func wtBTInt(t *Type, u uint64) string {
	if t.Size < 64 {
		u &= 1<<t.Size - 1
	}
	if t.Base == 16 {
		return "0x" + strings.ToUpper(strconv.FormatUint(u, 16))
	}
	if t.Signed {
		return strconv.FormatInt(wtSext(u, t.Size), 10)
	}
	return strconv.FormatUint(u, 10)
}

// wtBTQuote quotes s as babeltrace2 does: C escapes for quotes, backslash
// and control characters; other bytes (UTF-8 included) as they are.
func wtBTQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// wtBTTime formats ns since the epoch as --clock-seconds does.
func wtBTTime(ns int64) string { return fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9) }

// wtLine is an event as written, for building babeltrace2's text line.
type wtLine struct {
	ns      int64
	cpu     int
	name    string
	ctxType *Type
	ctx     []any
	payload *Type
	vals    []any
}

func (l wtLine) text(prev int64, first bool) string {
	delta := "+?.?????????"
	if !first {
		d := l.ns - prev
		delta = fmt.Sprintf("+%d.%09d", d/1e9, d%1e9)
	}
	s := fmt.Sprintf("[%s] (%s) testhost %s: { cpu_id = %d }", wtBTTime(l.ns), delta, l.name, l.cpu)
	if l.ctxType != nil {
		s += ", " + wtBTFormat(l.ctxType, l.ctx)
	}
	if l.payload != nil {
		s += ", " + wtBTFormat(l.payload, l.vals)
	}
	return s
}

// wtWriteAllTypes writes a trace of every field type with an event
// context into two streams (CPUs 0 and 2) with interleaved times, half of
// the events through Write and half through the Encoder. It returns the
// events in time order.
func wtWriteAllTypes(t *testing.T, dir string) []wtLine {
	evs := wtAllTypes()
	ctxType := wtContext()
	w, err := Create(dir, Options{Hostname: "testhost", Clock: func() uint64 { return 1000 }, ClockOffset: wtOffset, EventContext: ctxType})
	if err != nil {
		t.Fatal(err)
	}
	ecs := wtClasses(t, w, evs)
	streams := map[int]*StreamWriter{}
	for _, cpu := range []int{0, 2} {
		if streams[cpu], err = w.Stream(cpu); err != nil {
			t.Fatal(err)
		}
	}
	var lines []wtLine
	ts := uint64(1000)
	k := 0
	for round := 0; round < 4; round++ {
		for i, e := range evs {
			useEnc := round%2 == 1
			if useEnc && e.noEnc != "" {
				useEnc = false
			}
			cpu := []int{0, 2}[k%2]
			ts += 1000 + uint64(k)*7
			wtPut(t, streams[cpu], ecs[i], e, ts, true, k, useEnc)
			cin, _, _ := wtCtxValues(k)
			var pt *Type
			if e.fields != nil {
				pt = Struct(e.fields...)
			}
			lines = append(lines, wtLine{ns: wtOffset + int64(ts), cpu: cpu, name: e.name, ctxType: ctxType, ctx: cin, payload: pt, vals: e.in})
			k++
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestBabeltraceAllTypes checks babeltrace2's text output of every field
// type against the written values, and python3-bt2's view of every event
// against our reader's.
func TestBabeltraceAllTypes(t *testing.T) {
	wtNeedBT2(t)
	dir := filepath.Join(t.TempDir(), "alltypes")
	lines := wtWriteAllTypes(t, dir)

	out, stderr, code := wtBabeltrace(t, "--clock-gmt", "--clock-seconds", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("babeltrace2 exit %d\n%s", code, stderr)
	}
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(lines) {
		t.Fatalf("babeltrace2 printed %d lines, wrote %d events:\n%s", len(got), len(lines), out)
	}
	bad := 0
	for i, l := range lines {
		want := l.text(lines[max(i-1, 0)].ns, i == 0)
		if got[i] != want {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want)
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}

	if n := wtCompareBT2(t, dir); n != len(lines) {
		t.Fatalf("bt2 compared %d events, wrote %d", n, len(lines))
	}

	// Nothing but metadata and stream files in the trace directory.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"metadata", "stream_0", "stream_2"}) {
		t.Fatalf("trace directory holds %q", names)
	}
}

// TestBabeltraceDiscarded checks exact discarded-event counts: totals 3 then
// 7 give "discarded 3 events" and "discarded 4 events", never "may have
// discarded".
func TestBabeltraceDiscarded(t *testing.T) {
	wtNeedBT2(t)
	dir := filepath.Join(t.TempDir(), "disc")
	w, err := Create(dir, Options{Hostname: "testhost", Clock: func() uint64 { return 100 }, ClockOffset: wtOffset})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("ev", Struct(F("i", Uint(32))))
	if err != nil {
		t.Fatal(err)
	}
	s0, _ := w.Stream(0)
	s1, _ := w.Stream(1)
	ts := uint64(1000)
	put := func(s *StreamWriter, n int) {
		for i := 0; i < n; i++ {
			ts += 10
			if err := s.Write(ec, ts, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(s1, 5)
	s0.AddDiscarded(3, ts)
	put(s0, 5)
	if err := s0.Flush(); err != nil {
		t.Fatal(err)
	}
	put(s1, 5)
	put(s0, 2)
	ts += 10
	s0.AddDiscarded(4, ts) // total 7, reported by the final empty packet
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Discarded != 7 || st.Events != 17 {
		t.Fatalf("stats %+v", st)
	}

	_, stderr, code := wtBabeltrace(t, "--clock-gmt", dir)
	if code != 0 {
		t.Fatalf("babeltrace2 exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "may have discarded") {
		t.Errorf("babeltrace2 saw an unknown discarded count:\n%s", stderr)
	}
	re := regexp.MustCompile(`Tracer discarded (\d+) events .* within stream "([^"]*)"`)
	var counts []string
	for _, m := range re.FindAllStringSubmatch(stderr, -1) {
		if !strings.HasSuffix(m[2], "/stream_0") {
			t.Errorf("discarded events in %s", m[2])
		}
		counts = append(counts, m[1])
	}
	if !reflect.DeepEqual(counts, []string{"3", "4"}) {
		t.Errorf("babeltrace2 discarded counts %v, want [3 4]\n%s", counts, stderr)
	}

	n := wtCompareBT2(t, dir) // also compares the bt2 sum with ours
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ours []uint64
	for _, s := range tr.Streams {
		for _, d := range s.Discarded {
			if d.Unknown || s.CPU != 0 {
				t.Errorf("discarded %+v in cpu %d", d, s.CPU)
			}
			ours = append(ours, d.Count)
		}
	}
	if n != 17 || tr.DiscardedTotal() != 7 || !reflect.DeepEqual(ours, []uint64{3, 4}) {
		t.Fatalf("%d events, discarded %v (total %d)", n, ours, tr.DiscardedTotal())
	}
	lines := wtBT2Dump(t, dir)
	var sum uint64
	for _, l := range lines {
		sum += l.Discarded
	}
	if sum != 7 {
		t.Fatalf("bt2 discarded sum %d", sum)
	}
}

// TestBabeltraceOutOfOrder feeds decreasing timestamps: the writer clamps
// and counts them, babeltrace2 accepts the trace.
func TestBabeltraceOutOfOrder(t *testing.T) {
	wtNeedBT2(t)
	dir := filepath.Join(t.TempDir(), "ooo")
	w, err := Create(dir, Options{Hostname: "testhost", Clock: func() uint64 { return 10 }, ClockOffset: wtOffset})
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := w.AddEventClass("ev", Struct(F("i", Uint(32))))
	s0, _ := w.Stream(0)
	s1, _ := w.Stream(1)
	const n = 3000 // several packets
	for i := 0; i < n; i++ {
		// Stream 0 goes back in time at every event; stream 1 goes
		// forward, then back once in the Encoder path.
		if err := s0.Write(ec, uint64(1_000_000-i), i); err != nil {
			t.Fatal(err)
		}
		ts := uint64(100 + 10*i)
		if i == n/2 {
			ts = 50
		}
		s1.Begin(ec, ts).U32(uint32(i)).Commit()
		if i%700 == 0 {
			s0.Flush()
		}
	}
	if c := s0.Stats().Clamped; c != n-1 {
		t.Errorf("stream 0 clamped %d, want %d", c, n-1)
	}
	if c := s1.Stats().Clamped; c != 1 {
		t.Errorf("stream 1 clamped %d, want 1", c)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if c := w.Stats().Clamped; c != n {
		t.Errorf("writer clamped %d, want %d", c, n)
	}
	out, stderr, code := wtBabeltrace(t, "--clock-gmt", "--clock-seconds", "--no-delta", dir)
	if code != 0 {
		t.Fatalf("babeltrace2 exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2*n {
		t.Fatalf("%d lines", len(lines))
	}
	prev := ""
	for _, l := range lines {
		ts := l[1:strings.IndexByte(l, ']')]
		if len(ts) != len(prev) && prev != "" || ts < prev {
			t.Fatalf("time went back: %s after %s", ts, prev)
		}
		prev = ts
	}
	wtCompareBT2(t, dir)
}

// TestBabeltracePacketSizes writes many events over many packets, events
// larger than a packet, 64-bit aligned events that move to a new packet,
// and a trace with 8 KiB packets; both readers read every event.
func TestBabeltracePacketSizes(t *testing.T) {
	wtNeedBT2(t)
	for _, pkt := range []int{0, 8192} {
		t.Run(fmt.Sprintf("packet%d", pkt), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "big")
			w, err := Create(dir, Options{Hostname: "testhost", Clock: func() uint64 { return 10 }, ClockOffset: wtOffset,
				PacketSize: pkt, EventContext: Struct(F("tid", Uint(32)))})
			if err != nil {
				t.Fatal(err)
			}
			small, _ := w.AddEventClass("small", Struct(F("a", Uint(64)), F("s", String())))
			huge, _ := w.AddEventClass("huge", Struct(F("s", String()), F("n", Uint(16)), F("seq", Sequence(Uint(32), "n"))))
			al, _ := w.AddEventClass("aligned", Struct(F("o", Uint(8)), F("b", wtAlign64(false)), F("p", Text(3))))
			s0, _ := w.Stream(0)
			s1, _ := w.Stream(1)
			// No empty strings here: babeltrace2 2.0.4 shows an empty
			// string field of a recycled event with the value of an older
			// event (fixed upstream after 2.0.4, review.lttng.org/c/babeltrace/+/4528).
			big := strings.Repeat("0123456789", 1000) // 10 KB
			ts := uint64(100)
			want := 0
			for i := 0; i < 20000; i++ {
				s := s0
				if i%3 == 0 {
					s = s1
				}
				ts += 3
				switch {
				case i%2500 == 7:
					seq := make([]uint32, 300+i%50)
					for j := range seq {
						seq[j] = uint32(i + j)
					}
					if err := s.Write(huge, ts, i, big[:10000-i%17], len(seq), seq); err != nil {
						t.Fatal(err)
					}
				case i%11 == 0:
					if err := s.Write(al, ts, i, i%200, uint64(i)<<20, "xyz"); err != nil {
						t.Fatal(err)
					}
				case i%2 == 0:
					s.Begin(small, ts).U32(uint32(i)).U64(uint64(i) * 3).String(big[:1+i%97]).Commit()
				default:
					if err := s.Write(small, ts, i, i*3, big[:1+i%89]); err != nil {
						t.Fatal(err)
					}
				}
				want++
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			size := pkt
			if size == 0 {
				size = PageSize
			}
			st := w.Stats()
			if st.Packets < 100 {
				t.Fatalf("only %d packets", st.Packets)
			}
			for _, n := range []string{"stream_0", "stream_1"} {
				fi, err := os.Stat(filepath.Join(dir, n))
				if err != nil || fi.Size()%int64(size) != 0 {
					t.Fatalf("%s: %v, size %d", n, err, fi.Size())
				}
			}
			_, stderr, code := wtBabeltrace(t, dir)
			if code != 0 || stderr != "" {
				t.Fatalf("babeltrace2 exit %d\n%s", code, stderr)
			}
			if n := wtCompareBT2(t, dir); n != want {
				t.Fatalf("read %d events, wrote %d", n, want)
			}
		})
	}
}

// TestBabeltraceClock checks that with the default clock (CLOCK_MONOTONIC
// plus the measured offset) babeltrace2 shows the realtime of the write.
func TestBabeltraceClock(t *testing.T) {
	wtNeedBT2(t)
	dir := filepath.Join(t.TempDir(), "clock")
	w, err := Create(dir, Options{Hostname: "testhost"})
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := w.AddEventClass("now", Struct(F("x", Uint(8))))
	s, _ := w.Stream(0)
	real1 := time.Now().UnixNano()
	s.Begin(ec, MonotonicNow()).U8(1).Commit()
	real2 := time.Now().UnixNano()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := wtBabeltrace(t, "--clock-gmt", "--clock-seconds", dir)
	if code != 0 {
		t.Fatalf("babeltrace2 exit %d\n%s", code, stderr)
	}
	m := regexp.MustCompile(`^\[(\d+)\.(\d{9})\]`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no time in %q", out)
	}
	sec, _ := strconv.ParseInt(m[1], 10, 64)
	nsec, _ := strconv.ParseInt(m[2], 10, 64)
	got := sec*1e9 + nsec
	mid := (real1 + real2) / 2
	if d := time.Duration(math.Abs(float64(got - mid))); d > 50*time.Millisecond {
		t.Fatalf("babeltrace2 time %d, realtime %d: off by %v", got, mid, d)
	}
	lines := wtBT2Dump(t, dir)
	if len(lines) != 1 || lines[0].Ns != got {
		t.Fatalf("bt2 %+v, babeltrace2 %d", lines, got)
	}
	t.Logf("babeltrace2 time - realtime = %v", time.Duration(got-mid))
}

// TestBabeltraceMetadataOnly checks a trace with streams but no events.
func TestBabeltraceMetadataOnly(t *testing.T) {
	wtNeedBT2(t)
	dir := filepath.Join(t.TempDir(), "empty")
	w, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.AddEventClass("x", nil)
	w.Stream(0)
	w.Stream(5)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := wtBabeltrace(t, dir)
	if code != 0 || out != "" {
		t.Fatalf("babeltrace2 exit %d, out %q\n%s", code, out, stderr)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	sort.Strings(names)
	if len(names) != 3 {
		t.Fatalf("%v", names)
	}
}
