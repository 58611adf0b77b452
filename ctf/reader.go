package ctf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ErrTruncated reports a stream file that ends inside a packet (a torn tail,
// left by a crash or a full disk). [Trace.Check] returns it wrapped.
var ErrTruncated = errors.New("ctf: stream ends inside a packet")

// Trace is a CTF trace opened for reading with [Open].
type Trace struct {
	Dir      string
	Metadata *Metadata // of the first part when several traces are merged
	Streams  []*Stream
	// Parts are the traces merged into this one when it was opened from a
	// directory of traces (nil otherwise), in the order of [Find].
	Parts []*Trace

	hdr       *decNode // packet header
	iMagic    int
	iStreamID int
	iInstance int
	classes   map[*StreamClass]*rdClass
	beDefault bool
	src       rdSource // where the stream files are read from
}

// Stream is one data stream file of a trace.
type Stream struct {
	Path       string
	Class      *StreamClass
	InstanceID int64       // stream_instance_id from the packet header, -1 if absent
	CPU        int         // cpu_id from the first packet context, -1 if absent
	Packets    int         // complete packets
	Discarded  []Discarded // discarded-event ranges, as babeltrace2 reports them
	TornBytes  int64       // bytes after the last complete packet; 0 if none

	// DiscardedPackets are the gaps in the packets' packet_seq_num, as
	// babeltrace2 reports them: Count packets lost between the end of
	// the previous packet and the beginning of the next one.
	DiscardedPackets []Discarded

	index int
	size  int64
	end   int64 // file offset after the last complete packet
	cls   *rdClass
	ra    io.ReaderAt // set when the stream is not read from its file
	file  string      // the stream's file, a path in t.src
	t     *Trace      // the trace whose metadata describes the stream
}

// Discarded is a range of events a tracer could not record in a stream. It
// follows babeltrace2: Count is the difference of the events_discarded
// counters of consecutive packets, between the previous packet's end and the
// current packet's end. A non-zero counter in a stream's first packet gives
// Unknown (babeltrace2 prints "may have discarded") with Count set to the
// counter, over that packet's time range.
type Discarded struct {
	Stream         *Stream
	Count          uint64
	Unknown        bool
	BeginNs, EndNs int64 // ns since the clock's origin
}

// rdPacket is what the header and context of one complete packet say
// about it. None is kept once a packet is read: the index keeps counts and
// discarded ranges only, and events are read by walking the packets again,
// so memory does not grow with the trace.
type rdPacket struct {
	off        int64 // file offset
	size       int64 // bytes
	content    int64 // bits
	begin, end uint64
	hasBegin   bool
	hasEnd     bool
	discarded  uint64
	hasDisc    bool
	seq        uint64
	hasSeq     bool
	cpu        int
	inexact    bool // no content or packet size: the content ends with the file
}

// rdClass is a stream class compiled for decoding.
type rdClass struct {
	sc               *StreamClass
	pctx, ehdr, sctx *decNode
	byID             []*rdEvClass
	byMap            map[uint64]*rdEvClass
	only             *rdEvClass
	clock            *Clock
	clk              rdClock
	// Packet context members by meaning, -1 if absent.
	iBegin, iEnd, iContent, iPacket, iDisc, iSeq, iCPU int
}

type rdEvClass struct {
	ec           *EventClass
	ctx, payload *decNode
}

// Open indexes the trace in dir: it reads dir/metadata, takes every
// non-hidden, non-empty regular file other than "metadata" as a data stream,
// and reads the header and context of each packet. A stream that ends inside
// a packet is indexed up to its last complete packet (see [Trace.Check]).
//
// When dir has no metadata file, Open opens every trace below it (see
// [Find]: the chunks of a rotated recording, snapshots, one trace per
// domain) and merges them into one Trace whose events are read in time
// order across all of them, as babeltrace2 does with such a directory.
func Open(dir string) (*Trace, error) {
	return rdOSSource(dir).open(".")
}

// streamFiles lists the data stream files of dir, in natural order.
func (src rdSource) streamFiles(dir string) ([]string, error) {
	ents, err := fs.ReadDir(src.fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("ctf: %w", src.err(err))
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if n == "metadata" || strings.HasPrefix(n, ".") {
			continue
		}
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			fi, err := fs.Stat(src.fsys, path.Join(dir, n))
			if err != nil {
				continue
			}
			mode = fi.Mode().Type()
		}
		if !mode.IsRegular() {
			continue
		}
		names = append(names, n)
	}
	sort.SliceStable(names, func(i, j int) bool { return rdNaturalLess(names[i], names[j]) })
	return names, nil
}

// rdNaturalLess orders names with embedded numbers by value (stream_2 before
// stream_10).
func rdNaturalLess(a, b string) bool {
	for a != "" && b != "" {
		ad, bd := a[0] >= '0' && a[0] <= '9', b[0] >= '0' && b[0] <= '9'
		if ad && bd {
			i, j := 0, 0
			for i < len(a) && a[i] >= '0' && a[i] <= '9' {
				i++
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

// rdOpen opens the trace in the operating system's directory dir with
// already parsed metadata.
func rdOpen(dir string, m *Metadata) (*Trace, error) {
	return rdOSSource(dir).openWith(".", m)
}

// openWith opens the trace in dir with already parsed metadata.
func (src rdSource) openWith(dir string, m *Metadata) (*Trace, error) {
	t, err := rdNewTrace(src.name(dir), m)
	if err != nil {
		return nil, err
	}
	t.src = src
	names, err := src.streamFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		p := path.Join(dir, n)
		ra, closer, size, err := src.stream(p)
		if err != nil {
			return nil, err
		}
		if size == 0 {
			if closer != nil {
				closer.Close()
			}
			continue
		}
		s, err := t.index(src.name(p), ra, size)
		if closer != nil {
			closer.Close()
		} else if s != nil {
			s.ra = ra // read into memory: kept for the iterations
		}
		if err != nil {
			return nil, err
		}
		s.file = p
		s.index = len(t.Streams)
		t.Streams = append(t.Streams, s)
	}
	return t, nil
}

// rdNewTrace prepares a trace for metadata m without streams.
func rdNewTrace(dir string, m *Metadata) (*Trace, error) {
	if m == nil {
		return nil, errors.New("ctf: nil metadata")
	}
	t := &Trace{Dir: dir, Metadata: m, classes: map[*StreamClass]*rdClass{}, beDefault: m.ByteOrder == BigEndian}
	var roots [decNumScopes]*Type
	roots[decScopePacketHeader] = m.PacketHeader
	hdr, err := decCompileScope(decScopePacketHeader, roots, false, t.beDefault)
	if err != nil {
		return nil, err
	}
	t.hdr = hdr
	t.iMagic = rdMember(m.PacketHeader, "magic")
	t.iStreamID = rdMember(m.PacketHeader, "stream_id")
	t.iInstance = rdMember(m.PacketHeader, "stream_instance_id")
	return t, nil
}

// rdMember returns the index of the integer member name of struct t, or -1.
func rdMember(t *Type, name string) int {
	if t == nil || t.Kind != KindStruct {
		return -1
	}
	for i, f := range t.Fields {
		if StripName(f.Name) == name && f.Type != nil && (f.Type.Kind == KindInteger || f.Type.Kind == KindEnum) {
			return i
		}
	}
	return -1
}

// rdClockOf returns the clock name of the first clock-mapped integer in t.
func rdClockOf(t *Type, depth int) string {
	if t == nil || depth > 64 {
		return ""
	}
	switch t.Kind {
	case KindInteger:
		return t.Clock
	case KindEnum:
		return rdClockOf(t.Container, depth+1)
	case KindArray, KindSequence:
		return rdClockOf(t.Elem, depth+1)
	case KindStruct, KindVariant:
		for _, f := range t.Fields {
			if c := rdClockOf(f.Type, depth+1); c != "" {
				return c
			}
		}
	}
	return ""
}

// class compiles stream class sc (once).
func (t *Trace) class(sc *StreamClass) (*rdClass, error) {
	if c := t.classes[sc]; c != nil {
		return c, nil
	}
	m := t.Metadata
	c := &rdClass{sc: sc}
	name := rdClockOf(sc.PacketContext, 0)
	hdrClock := rdClockOf(sc.EventHeader, 0)
	if name == "" {
		name = hdrClock
	}
	if name != "" {
		c.clock = m.Clock(name)
	} else if len(m.Clocks) == 1 {
		// babeltrace2 maps unmapped timestamps to the only clock.
		c.clock = m.Clocks[0]
	}
	var err error
	if c.clk, err = rdNewClock(c.clock); err != nil {
		return nil, fmt.Errorf("ctf: %w (stream class %d)", err, sc.ID)
	}
	var roots [decNumScopes]*Type
	roots[decScopePacketHeader] = m.PacketHeader
	roots[decScopePacketContext] = sc.PacketContext
	roots[decScopeEventHeader] = sc.EventHeader
	roots[decScopeStreamContext] = sc.EventContext
	if c.pctx, err = decCompileScope(decScopePacketContext, roots, false, t.beDefault); err != nil {
		return nil, fmt.Errorf("%w (stream class %d)", err, sc.ID)
	}
	if c.ehdr, err = decCompileScope(decScopeEventHeader, roots, hdrClock == "" && len(m.Clocks) == 1, t.beDefault); err != nil {
		return nil, fmt.Errorf("%w (stream class %d)", err, sc.ID)
	}
	if c.sctx, err = decCompileScope(decScopeStreamContext, roots, false, t.beDefault); err != nil {
		return nil, fmt.Errorf("%w (stream class %d)", err, sc.ID)
	}
	pc := sc.PacketContext
	c.iBegin = rdMember(pc, "timestamp_begin")
	c.iEnd = rdMember(pc, "timestamp_end")
	c.iContent = rdMember(pc, "content_size")
	c.iPacket = rdMember(pc, "packet_size")
	c.iDisc = rdMember(pc, "events_discarded")
	c.iSeq = rdMember(pc, "packet_seq_num")
	c.iCPU = rdMember(pc, "cpu_id")
	for _, ec := range sc.Events {
		if ec == nil {
			continue
		}
		r := roots
		r[decScopeEventContext] = ec.Context
		r[decScopePayload] = ec.Fields
		e := &rdEvClass{ec: ec}
		if e.ctx, err = decCompileScope(decScopeEventContext, r, false, t.beDefault); err != nil {
			return nil, fmt.Errorf("%w (event %q)", err, ec.Name)
		}
		if e.payload, err = decCompileScope(decScopePayload, r, false, t.beDefault); err != nil {
			return nil, fmt.Errorf("%w (event %q)", err, ec.Name)
		}
		if ec.ID < 4096 {
			for uint64(len(c.byID)) <= ec.ID {
				c.byID = append(c.byID, nil)
			}
			c.byID[ec.ID] = e
		} else {
			if c.byMap == nil {
				c.byMap = map[uint64]*rdEvClass{}
			}
			c.byMap[ec.ID] = e
		}
		if len(sc.Events) == 1 {
			c.only = e
		}
	}
	t.classes[sc] = c
	return c, nil
}

// event returns the event class of id (haveID false: no id in the header).
func (c *rdClass) event(id uint64, haveID bool) *rdEvClass {
	if !haveID {
		return c.only
	}
	if id < uint64(len(c.byID)) {
		return c.byID[id]
	}
	return c.byMap[id]
}

// rdClock converts the values of a clock to ns since its origin exactly as
// babeltrace2 2.0 does, so that both readers give every event the same
// time: the offset is split into whole seconds and cycles below one second,
// each converted on its own, and a value of a clock whose frequency is not
// 1 GHz is converted in double precision and truncated. A result beyond
// the int64 range of ns is an error, not a wrapped time.
type rdClock struct {
	freq  uint64
	base  int64  // the offset in ns
	limit uint64 // the largest value in ns that base can be added to
}

// rdNsFromValue converts cycles of a clock of frequency freq to ns.
func rdNsFromValue(freq, cyc uint64) uint64 {
	if freq == 1_000_000_000 {
		return cyc
	}
	d := 1e9 * float64(cyc) / float64(freq)
	if d >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(d)
}

// rdNewClock returns the converter of clock c (nil: values are ns from an
// unknown origin), or an error when its offset is beyond 64-bit ns.
func rdNewClock(c *Clock) (rdClock, error) {
	if c == nil {
		return rdClock{freq: 1_000_000_000, limit: math.MaxInt64 - 1}, nil
	}
	k := rdClock{freq: c.Frequency()}
	offS, ok := rdClockOffsetS(c)
	// Leave room for the cycles part (below one second), as babeltrace2 does.
	if !ok || offS <= math.MinInt64/1_000_000_000-1 || offS >= math.MaxInt64/1_000_000_000-1 {
		return k, fmt.Errorf("clock %q: offset of %d s + %d cycles is beyond 64-bit nanoseconds from origin", c.Name, c.OffsetS, c.Offset)
	}
	// The cycles below one second (a negative offset, which only a
	// Clock built in Go can have, borrows from the seconds).
	var off uint64
	if k.freq <= math.MaxInt64 {
		r := c.Offset % int64(k.freq)
		if r < 0 {
			r += int64(k.freq)
		}
		off = uint64(r)
	} else if c.Offset >= 0 {
		off = uint64(c.Offset)
	} else {
		off = k.freq - uint64(-c.Offset)
	}
	k.base = offS*1_000_000_000 + int64(rdNsFromValue(k.freq, off))
	k.limit = math.MaxInt64 - 1
	if k.base > 0 {
		k.limit = uint64(math.MaxInt64 - k.base)
	}
	return k, nil
}

// rdClockOffsetS returns the clock offset's whole seconds, those of offset
// (in cycles) included; false when they overflow int64.
func rdClockOffsetS(c *Clock) (int64, bool) {
	f := c.Frequency()
	if f > math.MaxInt64 {
		if c.Offset < 0 {
			return c.OffsetS - 1, c.OffsetS > math.MinInt64
		}
		return c.OffsetS, true
	}
	q, r := c.Offset/int64(f), c.Offset%int64(f)
	if r < 0 {
		q--
	}
	s := c.OffsetS + q
	if (q > 0 && s < c.OffsetS) || (q < 0 && s > c.OffsetS) {
		return 0, false
	}
	return s, true
}

// ns converts clock value cyc; false when the time is beyond int64 ns.
func (k *rdClock) ns(cyc uint64) (int64, bool) {
	v := rdNsFromValue(k.freq, cyc)
	if v > k.limit {
		return 0, false
	}
	return k.base + int64(v), true
}

func rdUint(v *Value, i int) (uint64, bool) {
	if i < 0 || i >= len(v.Elems) {
		return 0, false
	}
	return v.Elems[i].Uint, true
}

// rdPacketInfo is what the header and context of a packet say.
type rdPacketInfo struct {
	class               *rdClass
	instance            int64
	packetBits, content int64
	hasPacket, hasCont  bool
	pkt                 rdPacket
}

// packet decodes the header and context of the packet where d was started;
// it leaves d after the context.
func (t *Trace) packet(d *decoder, hdr, ctx *Value, want *rdClass) (rdPacketInfo, error) {
	var pi rdPacketInfo
	pi.instance = -1
	d.clockOn = false
	if err := d.root(decScopePacketHeader, t.hdr, hdr); err != nil {
		return pi, err
	}
	if v, ok := rdUint(hdr, t.iMagic); ok && v != 0xC1FC1FC1 {
		d.pos = 0
		return pi, d.errf("invalid CTF magic number %#x", v)
	}
	var sc *StreamClass
	if id, ok := rdUint(hdr, t.iStreamID); ok {
		sc = t.Metadata.Stream(id)
		if sc == nil {
			return pi, d.errf("unknown stream class ID %d", id)
		}
	} else if len(t.Metadata.Streams) == 1 {
		sc = t.Metadata.Streams[0]
	} else {
		return pi, d.errf("no stream_id in packet header and %d stream classes", len(t.Metadata.Streams))
	}
	if v, ok := rdUint(hdr, t.iInstance); ok {
		pi.instance = int64(v)
	}
	c := want
	if c == nil || c.sc != sc {
		if want != nil {
			return pi, d.errf("packet of stream class %d in a stream of class %d", sc.ID, want.sc.ID)
		}
		var err error
		if c, err = t.class(sc); err != nil {
			return pi, err
		}
	}
	pi.class = c
	if err := d.root(decScopePacketContext, c.pctx, ctx); err != nil {
		return pi, err
	}
	p := &pi.pkt
	p.cpu = -1
	p.off = d.srcOff
	p.begin, p.hasBegin = rdUint(ctx, c.iBegin)
	p.end, p.hasEnd = rdUint(ctx, c.iEnd)
	p.discarded, p.hasDisc = rdUint(ctx, c.iDisc)
	p.seq, p.hasSeq = rdUint(ctx, c.iSeq)
	if v, ok := rdUint(ctx, c.iCPU); ok {
		p.cpu = int(v)
	}
	if v, ok := rdUint(ctx, c.iPacket); ok {
		if v > 1<<62 {
			return pi, d.errf("packet size %d bits is too large", v)
		}
		pi.packetBits, pi.hasPacket = int64(v), true
	}
	if v, ok := rdUint(ctx, c.iContent); ok {
		if v > 1<<62 {
			return pi, d.errf("content size %d bits is too large", v)
		}
		pi.content, pi.hasCont = int64(v), true
	}
	return pi, nil
}

// index reads the headers and contexts of every packet of a stream file:
// it counts the complete packets, finds a torn tail and the discarded
// ranges, and keeps nothing per packet.
func (t *Trace) index(path string, ra io.ReaderAt, size int64) (*Stream, error) {
	s := &Stream{Path: path, InstanceID: -1, CPU: -1, size: size, t: t}
	d := &decoder{path: path}
	var hdr, ctx Value
	var prev rdPacket
	var off int64
	for off < size {
		d.pkt = s.Packets
		// Small packets are read ahead in chunks, many per read; the
		// header of a large one is read alone.
		d.chunkMax = 0
		if s.Packets > 0 && prev.size <= rdSmallPacket {
			d.chunkMax = size
		}
		pi, torn, err := t.packetAt(d, ra, off, size, &hdr, &ctx, s.cls)
		if err != nil {
			return nil, err
		}
		if torn {
			s.TornBytes = size - off
			break
		}
		if s.cls == nil {
			s.cls = pi.class
			s.Class = pi.class.sc
			s.InstanceID = pi.instance
			s.CPU = pi.pkt.cpu
		}
		p := pi.pkt
		if s.Packets == 0 {
			s.discarded(&p, nil)
		} else {
			s.discarded(&p, &prev)
		}
		prev = p
		s.Packets++
		off += p.size
	}
	s.end = off
	return s, nil
}

// rdSmallPacket is the largest packet (bytes) whose followers the index
// reads ahead.
const rdSmallPacket = 64 << 10

// packetAt decodes the header and context of the packet at file offset off
// of a stream file of size bytes into hdr and ctx, and works out the
// packet's size and content. torn reports a packet that does not fit in
// the file, or is not one (zeroes left by a crash). It leaves d at the
// start of the packet, limited to the rest of the file.
func (t *Trace) packetAt(d *decoder, ra io.ReaderAt, off, size int64, hdr, ctx *Value, want *rdClass) (pi rdPacketInfo, torn bool, err error) {
	rem := size - off
	if err := d.start(ra, off, rem*8, 4096); err != nil {
		return pi, false, err
	}
	pi, err = t.packet(d, hdr, ctx, want)
	if err != nil {
		if errors.Is(err, errDecShort) || rdZero(ra, off, rem) {
			return pi, true, nil
		}
		return pi, false, err
	}
	hc := d.pos
	pb, cb := rem*8, rem*8
	if pi.hasPacket {
		pb = pi.packetBits
		cb = pb
	}
	if pi.hasCont {
		cb = pi.content
	}
	d.pos = 0
	switch {
	case pb%8 != 0:
		return pi, false, d.errf("packet size %d bits is not a multiple of 8", pb)
	case cb > pb:
		return pi, false, d.errf("content size %d bits is greater than packet size %d bits", cb, pb)
	}
	if cb < hc || pb == 0 {
		return pi, false, d.errf("content size %d bits is smaller than the packet header and context (%d bits)", cb, hc)
	}
	if pb > rem*8 {
		return pi, true, nil
	}
	pi.pkt.size = pb / 8
	pi.pkt.content = cb
	pi.pkt.inexact = !pi.hasCont && !pi.hasPacket
	return pi, false, nil
}

// rdZero reports whether the n bytes at off are all zero (a zero-filled tail
// left by a crash).
func rdZero(ra io.ReaderAt, off, n int64) bool {
	var buf [32 << 10]byte
	for n > 0 {
		k := int64(len(buf))
		if k > n {
			k = n
		}
		m, _ := ra.ReadAt(buf[:k], off)
		if int64(m) != k {
			return false
		}
		for _, b := range buf[:k] {
			if b != 0 {
				return false
			}
		}
		off, n = off+k, n-k
	}
	return true
}

// discarded adds the discarded-event and discarded-packet ranges that
// packet p, which follows packet q (nil: p is the stream's first), shows.
func (s *Stream) discarded(p, q *rdPacket) {
	clk := &s.cls.clk
	ns := func(p *rdPacket, end bool) int64 {
		var v int64
		switch {
		case end && p.hasEnd:
			v, _ = clk.ns(p.end)
		case p.hasBegin:
			v, _ = clk.ns(p.begin)
		case p.hasEnd:
			v, _ = clk.ns(p.end)
		}
		return v
	}
	// A gap in the sequence numbers (uint64 arithmetic, as babeltrace2's);
	// the first packet's number is not checked.
	if q != nil && p.hasSeq && q.hasSeq && p.seq-q.seq > 1 {
		s.DiscardedPackets = append(s.DiscardedPackets, Discarded{Stream: s, Count: p.seq - q.seq - 1, BeginNs: ns(q, true), EndNs: ns(p, false)})
	}
	if !p.hasDisc {
		return
	}
	if q == nil {
		if p.discarded != 0 {
			s.Discarded = append(s.Discarded, Discarded{Stream: s, Count: p.discarded, Unknown: true, BeginNs: ns(p, false), EndNs: ns(p, true)})
		}
		return
	}
	if n := p.discarded - q.discarded; n != 0 {
		s.Discarded = append(s.Discarded, Discarded{Stream: s, Count: n, BeginNs: ns(q, true), EndNs: ns(p, true)})
	}
}

// DiscardedTotal returns the number of events the tracer reported discarded
// in all streams (counts of first packets included).
func (t *Trace) DiscardedTotal() uint64 {
	var n uint64
	for _, s := range t.Streams {
		for _, d := range s.Discarded {
			n += d.Count
		}
	}
	return n
}

// DiscardedPacketsTotal returns the number of packets missing from the
// sequence numbers of all streams.
func (t *Trace) DiscardedPacketsTotal() uint64 {
	var n uint64
	for _, s := range t.Streams {
		for _, d := range s.DiscardedPackets {
			n += d.Count
		}
	}
	return n
}

// Check returns nil, or an error wrapping [ErrTruncated] that names every
// stream file with a torn tail.
func (t *Trace) Check() error {
	var parts []string
	for _, s := range t.Streams {
		if s.TornBytes > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d bytes after the last complete packet (offset %d)", s.Path, s.TornBytes, s.size-s.TornBytes))
		}
	}
	if parts == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrTruncated, strings.Join(parts, "; "))
}

// Event is one decoded event. It and the values it holds are valid until the
// next call to [Iterator.Next].
type Event struct {
	Class         *EventClass
	Stream        *Stream
	Cycles        uint64 // clock value of the event
	Ns            int64  // ns since the clock's origin
	CPU           int    // packet context cpu_id, -1 if none
	PacketContext Value
	Header        Value
	StreamContext Value // stream event context (Kind 0 if none)
	Context       Value // event context (Kind 0 if none)
	Payload       Value // the fields struct
}

// Iterator walks the events of a trace in time order; see [Trace.Events].
type Iterator struct {
	t       *Trace
	curs    []*rdCursor
	heap    []*rdCursor
	last    *rdCursor
	started bool
	done    bool
	err     error
}

// Events returns an iterator over every event of every stream, merged in
// timestamp order (ties: stream order, then file order). Packets are read one
// at a time.
func (t *Trace) Events() *Iterator { return &Iterator{t: t} }

// Each calls f for every event of the trace, in time order, and returns
// how many it handed over. It stops at f's first error, or the reader's,
// and returns it. The event is valid only during the call.
func (t *Trace) Each(f func(*Event) error) (uint64, error) {
	it := t.Events()
	defer it.Close()
	var n uint64
	for it.Next() {
		if err := f(it.Event()); err != nil {
			return n, err
		}
		n++
	}
	return n, it.Err()
}

// rdCursor reads the events of one stream.
type rdCursor struct {
	t        *Trace
	s        *Stream
	ra       io.ReaderAt
	f        io.Closer
	d        decoder
	pkt      int   // index of the current packet in the file
	off      int64 // file offset of the next packet
	inPkt    bool
	inexact  bool  // the current packet's content ends with the file
	lastSize int64 // bytes of the last packet started
	cpu      int
	ev       Event
	hdr      Value // packet header
	states   []*rdEvState
	smap     map[*rdEvClass]*rdEvState
}

type rdEvState struct {
	ec           *rdEvClass
	ctx, payload Value
}

// Next advances to the next event and reports whether there is one.
func (it *Iterator) Next() bool {
	if it.done {
		return false
	}
	if !it.started {
		it.started = true
		for _, s := range it.t.Streams {
			if s.cls == nil {
				continue
			}
			c := &rdCursor{t: s.t, s: s, ra: s.ra}
			c.d.path, c.d.chunkMax = s.Path, s.size
			it.curs = append(it.curs, c)
			ok, err := c.next()
			if err != nil {
				return it.fail(err)
			}
			if ok {
				it.heap = append(it.heap, c)
			}
		}
		for i := len(it.heap)/2 - 1; i >= 0; i-- {
			it.down(i)
		}
	} else if it.last != nil {
		ok, err := it.last.next()
		if err != nil {
			return it.fail(err)
		}
		if ok {
			it.down(0)
		} else {
			n := len(it.heap) - 1
			it.heap[0] = it.heap[n]
			it.heap = it.heap[:n]
			if n > 0 {
				it.down(0)
			}
		}
	}
	if len(it.heap) == 0 {
		it.done = true
		it.last = nil
		it.Close()
		return false
	}
	it.last = it.heap[0]
	return true
}

func (it *Iterator) fail(err error) bool {
	it.err = err
	it.done = true
	it.last = nil
	it.Close()
	return false
}

func rdLess(a, b *rdCursor) bool {
	if a.ev.Ns != b.ev.Ns {
		return a.ev.Ns < b.ev.Ns
	}
	return a.s.index < b.s.index
}

func (it *Iterator) down(i int) {
	h := it.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && rdLess(h[r], h[l]) {
			m = r
		}
		if !rdLess(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// Event returns the current event, valid until the next call to Next.
func (it *Iterator) Event() *Event {
	if it.last == nil {
		return nil
	}
	return &it.last.ev
}

// Err returns the error that stopped the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Close releases the files the iterator holds open. Next closes them itself
// when it returns false.
func (it *Iterator) Close() error {
	var first error
	for _, c := range it.curs {
		if err := c.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *rdCursor) close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f, c.ra = nil, nil
	return err
}

// startPacket decodes the header and context of the packet at c.off.
func (c *rdCursor) startPacket() error {
	if c.ra == nil {
		ra, f, _, err := c.s.t.src.stream(c.s.file)
		if err != nil {
			return err
		}
		c.f, c.ra = f, ra
	}
	d := &c.d
	d.pkt = c.pkt
	// Read ahead as much as the last packet held: a packet of the same
	// size is then read once, header and content together.
	d.ahead = min(c.lastSize, decWindow)
	pi, torn, err := c.t.packetAt(d, c.ra, c.off, c.s.size, &c.hdr, &c.ev.PacketContext, c.s.cls)
	if err != nil {
		return err
	}
	if torn {
		return d.errf("packet no longer complete (the file changed since it was opened)")
	}
	p := &pi.pkt
	// Again, limited to the content, now that it is known (the bytes
	// are most often in the read-ahead chunk already).
	first := (p.content + 7) / 8
	if first > decWindow {
		first = decWindow
	}
	if err := d.start(c.ra, p.off, p.content, first); err != nil {
		return err
	}
	if _, err := c.t.packet(d, &c.hdr, &c.ev.PacketContext, c.s.cls); err != nil {
		return err
	}
	if p.content > decWindow*8 {
		// The window will move: keep what the packet scopes alias.
		decDetach(&c.hdr)
		decDetach(&c.ev.PacketContext)
	}
	if p.hasBegin {
		d.clock = p.begin
	}
	c.cpu = p.cpu
	c.inexact = p.inexact
	c.off = p.off + p.size
	c.lastSize = p.size
	d.clockOn = true
	c.inPkt = true
	return nil
}

// next decodes the stream's next event into c.ev.
func (c *rdCursor) next() (bool, error) {
	d := &c.d
	cls := c.s.cls
	for {
		if !c.inPkt {
			if c.off >= c.s.end {
				c.close()
				return false, nil
			}
			if err := c.startPacket(); err != nil {
				return false, err
			}
		}
		if d.pos >= d.limit || d.pos > d.limit-8 && c.inexact {
			// The end of the content (or, when the packet is the
			// whole file, the end of its last byte).
			c.inPkt = false
			c.pkt++
			continue
		}
		start := d.pos
		if err := d.eventStart(); err != nil {
			return false, err
		}
		d.haveID = false
		if err := d.root(decScopeEventHeader, cls.ehdr, &c.ev.Header); err != nil {
			return false, err
		}
		e := cls.event(d.evID, d.haveID)
		if e == nil {
			d.pos = start
			if d.haveID {
				return false, d.errf("unknown event class ID %d in stream class %d", d.evID, cls.sc.ID)
			}
			return false, d.errf("no event class ID in the event header and %d event classes", len(cls.sc.Events))
		}
		c.ev.Cycles = d.clock
		if err := d.root(decScopeStreamContext, cls.sctx, &c.ev.StreamContext); err != nil {
			return false, err
		}
		st := c.state(e)
		if err := d.root(decScopeEventContext, e.ctx, &st.ctx); err != nil {
			return false, err
		}
		if err := d.root(decScopePayload, e.payload, &st.payload); err != nil {
			return false, err
		}
		if d.pos == start {
			return false, d.errf("empty event (class %q decodes to 0 bits)", e.ec.Name)
		}
		ev := &c.ev
		ev.Class = e.ec
		ev.Stream = c.s
		var ok bool
		if ev.Ns, ok = cls.clk.ns(ev.Cycles); !ok {
			d.pos = start
			return false, d.errf("event time of %d cycles is beyond 64-bit nanoseconds from the clock's origin", ev.Cycles)
		}
		ev.CPU = c.cpu
		ev.Context = st.ctx
		ev.Payload = st.payload
		return true, nil
	}
}

// state returns the reusable values of event class e.
func (c *rdCursor) state(e *rdEvClass) *rdEvState {
	id := e.ec.ID
	if id < 4096 {
		if id < uint64(len(c.states)) {
			if st := c.states[id]; st != nil {
				return st
			}
		}
		for uint64(len(c.states)) <= id {
			c.states = append(c.states, nil)
		}
		st := &rdEvState{ec: e}
		c.states[id] = st
		return st
	}
	if st := c.smap[e]; st != nil {
		return st
	}
	if c.smap == nil {
		c.smap = map[*rdEvClass]*rdEvState{}
	}
	st := &rdEvState{ec: e}
	c.smap[e] = st
	return st
}

// Value is a decoded field. Which members are meaningful depends on
// Type.Kind; see the package documentation of each kind below.
type Value struct {
	Type  *Type
	Int   int64   // signed integers, enums with signed containers (also set for unsigned ones)
	Uint  uint64  // unsigned integers, enums with unsigned containers (also set for signed ones)
	Float float64 // floating point
	Bytes []byte  // strings and text arrays/sequences (up to the first NUL); may alias the packet buffer
	Elems []Value // arrays, sequences (non-text), struct members in field order, variant: the selected option
	Label string  // enum: the matching label ("" if none); variant: the selected option's name
}

// Get returns the struct member called name (one leading '_' optional on
// either side). On a variant it looks in the selected option.
func (v Value) Get(name string) (Value, bool) {
	if v.Type == nil {
		return Value{}, false
	}
	switch v.Type.Kind {
	case KindStruct:
		i := decFieldIndex(v.Type.Fields, name)
		if i < 0 || i >= len(v.Elems) {
			return Value{}, false
		}
		return v.Elems[i], true
	case KindVariant:
		if len(v.Elems) == 1 {
			return v.Elems[0].Get(name)
		}
	}
	return Value{}, false
}

// KV is one member of [Fields].
type KV struct {
	Key   string
	Value any
}

// Fields is a struct as an ordered list of members; it marshals to a JSON
// object with the members in order. Floating-point values, in it and in
// the arrays it holds, marshal as JSON floats (0.0, 1.5e+300), never as
// integers, so that a consumer sees one type per field; NaN and infinities,
// which JSON cannot hold, marshal as null.
type Fields []KV

// MarshalJSON writes the members as a JSON object, in order.
func (f Fields) MarshalJSON() ([]byte, error) {
	return rdAppendFields(nil, f)
}

func rdAppendFields(b []byte, f Fields) ([]byte, error) {
	b = append(b, '{')
	for i, kv := range f {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(kv.Key)
		if err != nil {
			return nil, err
		}
		b = append(b, k...)
		b = append(b, ':')
		if b, err = rdAppendJSON(b, kv.Value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// rdAppendJSON appends v as JSON, floats as JSON floats.
func rdAppendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case float64:
		return rdAppendFloat(b, x), nil
	case Fields:
		return rdAppendFields(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = rdAppendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// rdAppendFloat appends f as encoding/json writes it, with ".0" added to
// an integral value.
func rdAppendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	start := len(b)
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Like encoding/json: e-07 becomes e-7.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	if !bytes.ContainsAny(b[start:], ".") {
		b = append(b, ".0"...)
	}
	return b
}

// Interface returns the value as plain Go data, ready for encoding/json:
// int64 or uint64 for integers, float64, string for strings and text arrays,
// []any for arrays and sequences, [Fields] for structs (names without their
// leading '_'), the label for enums (the integer when no label matches), and
// the selected option's value for variants.
func (v Value) Interface() any {
	t := v.Type
	if t == nil {
		return nil
	}
	switch t.Kind {
	case KindInteger:
		if t.Signed {
			return v.Int
		}
		return v.Uint
	case KindEnum:
		if v.Label != "" {
			return v.Label
		}
		if t.Container != nil && t.Container.Signed {
			return v.Int
		}
		return v.Uint
	case KindFloat:
		return v.Float
	case KindString:
		return string(v.Bytes)
	case KindArray, KindSequence:
		if t.IsText() {
			return string(v.Bytes)
		}
		a := make([]any, len(v.Elems))
		for i := range v.Elems {
			a[i] = v.Elems[i].Interface()
		}
		return a
	case KindStruct:
		f := make(Fields, 0, len(v.Elems))
		for i := range v.Elems {
			if i < len(t.Fields) {
				f = append(f, KV{StripName(t.Fields[i].Name), v.Elems[i].Interface()})
			}
		}
		return f
	case KindVariant:
		if len(v.Elems) == 1 {
			return v.Elems[0].Interface()
		}
	}
	return nil
}

// String formats the value as babeltrace2's text output does.
func (v Value) String() string {
	return string(v.AppendText(nil))
}

// AppendText appends the value formatted as babeltrace2's text output
// does (see [Value.String]) to b and returns the extended buffer. It
// allocates nothing beyond b's growth.
func (v *Value) AppendText(b []byte) []byte {
	t := v.Type
	if t == nil {
		return append(b, "<none>"...)
	}
	switch t.Kind {
	case KindInteger:
		return rdAppendInt(b, t, v)
	case KindEnum:
		b = append(b, "( "...)
		if v.Label != "" {
			b = strconv.AppendQuote(b, v.Label)
		} else {
			b = append(b, "<unknown>"...)
		}
		b = append(b, " : container = "...)
		if t.Container != nil {
			b = rdAppendInt(b, t.Container, v)
		} else {
			b = strconv.AppendInt(b, v.Int, 10)
		}
		return append(b, " )"...)
	case KindFloat:
		return strconv.AppendFloat(b, v.Float, 'g', 6, 64)
	case KindString:
		return rdAppendQuote(b, v.Bytes)
	case KindArray, KindSequence:
		if t.IsText() {
			return rdAppendQuote(b, v.Bytes)
		}
		if len(v.Elems) == 0 {
			return append(b, "[ ]"...)
		}
		b = append(b, "[ "...)
		for i := range v.Elems {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, "] = "...)
			b = v.Elems[i].AppendText(b)
		}
		return append(b, " ]"...)
	case KindStruct:
		if len(v.Elems) == 0 {
			return append(b, "{ }"...)
		}
		b = append(b, "{ "...)
		for i := range v.Elems {
			if i > 0 {
				b = append(b, ", "...)
			}
			if i < len(t.Fields) {
				b = append(b, StripName(t.Fields[i].Name)...)
			}
			b = append(b, " = "...)
			b = v.Elems[i].AppendText(b)
		}
		return append(b, " }"...)
	case KindVariant:
		b = append(b, "{ "...)
		if len(v.Elems) == 1 {
			b = append(b, StripName(v.Label)...)
			b = append(b, " = "...)
			b = v.Elems[0].AppendText(b)
		}
		return append(b, " }"...)
	}
	return b
}

// rdHexDigits are the digits of hexadecimal integers in text, upper case
// as babeltrace2 writes them.
const rdHexDigits = "0123456789ABCDEF"

func rdAppendInt(b []byte, t *Type, v *Value) []byte {
	base := t.Base
	if base == 0 || base == 10 {
		if t.Signed {
			return strconv.AppendInt(b, v.Int, 10)
		}
		return strconv.AppendUint(b, v.Uint, 10)
	}
	u := v.Uint
	if t.Size > 0 && t.Size < 64 {
		u &= 1<<uint(t.Size) - 1
	}
	switch base {
	case 16:
		b = append(b, "0x"...)
		var d [16]byte
		i := len(d)
		for {
			i--
			d[i] = rdHexDigits[u&15]
			u >>= 4
			if u == 0 {
				break
			}
		}
		return append(b, d[i:]...)
	case 8:
		b = append(b, '0')
		return strconv.AppendUint(b, u, 8)
	case 2:
		b = append(b, "0b"...)
		return strconv.AppendUint(b, u, 2)
	}
	return strconv.AppendUint(b, u, 10)
}

// rdAppendQuote appends s as a quoted, escaped string.
func rdAppendQuote(b []byte, s []byte) []byte {
	b = append(b, '"')
	for len(s) > 0 {
		// The plain run first, in one copy.
		n := 0
		for n < len(s) {
			c := s[n]
			if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
				break
			}
			n++
		}
		b = append(b, s[:n]...)
		if n == len(s) {
			break
		}
		c := s[n]
		s = s[n+1:]
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\v':
			b = append(b, `\v`...)
		case '\f':
			b = append(b, `\f`...)
		case '\a':
			b = append(b, `\a`...)
		case '\b':
			b = append(b, `\b`...)
		default:
			b = append(b, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
	}
	return append(b, '"')
}
