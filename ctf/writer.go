package ctf

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Layout of what the writer emits (all little endian, byte aligned):
//
//	packet header:  u32 magic, u8 uuid[16], u32 stream_id, u64 stream_instance_id  (32 bytes)
//	packet context: u64 timestamp_begin, u64 timestamp_end, u64 content_size,
//	                u64 packet_size, u64 packet_seq_num, u64 events_discarded,
//	                u32 cpu_id                                                      (52 bytes)
//	event header:   u8 id and the low 24 bits of the timestamp (4 bytes) for
//	                ids below 254 and times less than 2^24 ns (16.8 ms) after
//	                the stream's previous event; else u8 254, u16 id, u32
//	                timestamp (7 bytes) for ids below 65536 and times less
//	                than 2^32 ns after; else u8 255, u32 id, u64 timestamp
//	                (13 bytes). Readers rebuild the full time from the
//	                previous one (the packet's timestamp_begin for the first
//	                event), as for LTTng's compact header, and take the event
//	                class id from the last "id" member they decode.
const (
	magic          = 0xC1FC1FC1
	hdrSize        = 32
	ctxSize        = 52
	preambleSize   = hdrSize + ctxSize
	offTsBegin     = hdrSize + 0
	offTsEnd       = hdrSize + 8
	offContentSize = hdrSize + 16
	offPacketSize  = hdrSize + 24
	offSeqNum      = hdrSize + 32
	offDiscarded   = hdrSize + 40
	offCPU         = hdrSize + 48

	// Tags of the event header's first byte: below compactIDs it is the
	// id of an event with a 24-bit timestamp; largeTag and extendedTag
	// announce a 16-bit id with a 32-bit timestamp and a 32-bit id with a
	// 64-bit one.
	compactIDs  = 254
	largeTag    = 254
	extendedTag = 255

	// PageSize is the default packet size. Packets of exactly one page,
	// written at page-aligned offsets, are what makes a trace survive a
	// SIGKILL in the middle of a write: the kernel copies a write into the
	// page cache page by page and stops only between pages, so a killed
	// write always ends on a packet boundary.
	PageSize = 4096
	// batchSize is how many bytes of whole packets a stream gathers before
	// one write(2).
	batchSize = 64 * PageSize
)

// Options configure a [Writer]. The zero value gives a trace named after the
// host, written by "bpftrail", with 4 KiB packets and the monotonic clock.
type Options struct {
	// Hostname for the env block; default os.Hostname().
	Hostname string
	// TracerName and version for the env block; default "bpftrail" 0.0.0.
	TracerName                            string
	TracerMajor, TracerMinor, TracerPatch int
	// TraceName for the env block; default the directory's base name.
	TraceName string
	// Domain for the env block ("kernel", "ust"); omitted when empty.
	Domain string
	// Env entries added after the standard ones; an entry with the key of a
	// standard one replaces it.
	Env []EnvValue
	// PacketSize in bytes; default PageSize. Values are rounded up to a
	// multiple of PageSize. Only PageSize packets are safe against a kill in
	// the middle of a write (see PageSize).
	PacketSize int
	// Clock returns the current clock value in ns; default [MonotonicNow]
	// (CLOCK_MONOTONIC on Linux). Streams start at Clock() and end no
	// earlier than Clock() at Close.
	Clock func() uint64
	// ClockOffset is realtime minus Clock in ns, so that readers show
	// wall-clock time. When zero and Clock is nil it is measured
	// ([MonotonicOffset]).
	ClockOffset int64
	// ClockUUID identifies the clock's host and boot; default the kernel's
	// boot_id on Linux, as LTTng does, and none elsewhere.
	ClockUUID string
	// EventContext is the stream event context, a struct written after each
	// event's header and before its payload (for instance the process that
	// emitted it). Encoder users write it first; [StreamWriter.Write] takes its
	// values before the payload's.
	EventContext *Type
	// ClockAbsolute marks the clock as a global (Unix epoch) reference, which
	// babeltrace2 needs to mix the trace with others. Default true unless
	// TracerName is an LTTng tracer (babeltrace2 forces that itself).
	ClockAbsolute *bool
	// Packets, when set, sees the metadata and every packet as they are
	// written (see [PacketSink]).
	Packets PacketSink
}

// Writer writes one CTF trace directory. Create it with [Create], declare
// event classes with [Writer.AddEventClass], get per-CPU streams with
// [Writer.Stream], then Close. Metadata is written before any packet and
// replaced atomically when an event class is added.
//
// A Writer's methods may be called from several goroutines; a *StreamWriter is used
// by one goroutine at a time.
type Writer struct {
	dir  string
	opts Options
	meta Metadata
	pkt  int

	mu      sync.Mutex
	streams map[int]*StreamWriter
	closed  bool
	classes []classInfo // by event class ID; elements never change once appended
	ring    *Ring       // packets go to this in-memory ring instead of files
	noFiles bool        // packets go only to opts.Packets
}

// classInfo is what Encoder.Commit knows of an event class.
type classInfo struct {
	ec      *EventClass
	fix     *classFix // non-nil for a fixed-size class
	aligned bool      // context or payload aligned on more than a byte
}

// noInfo is the info of a class the writer did not declare: no checks.
var noInfo classInfo

// Create makes dir (which must not already hold a trace) and writes the
// trace's metadata.
func Create(dir string, opts Options) (*Writer, error) {
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err == nil {
		return nil, fmt.Errorf("ctf: %s already holds a trace", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ctf: %w", err)
	}
	return newWriter(dir, opts, nil)
}

// newWriter makes a writer of the trace in dir, or, when ring is set, of
// packets kept in ring (dir then only names the trace).
func newWriter(dir string, opts Options, ring *Ring) (*Writer, error) {
	w := &Writer{dir: dir, opts: opts, streams: map[int]*StreamWriter{}, ring: ring}
	return w.init()
}

// init sets the writer's defaults and writes its first metadata.
func (w *Writer) init() (*Writer, error) {
	opts := w.opts
	w.pkt = opts.PacketSize
	if w.pkt <= 0 {
		w.pkt = PageSize
	}
	w.pkt = (w.pkt + PageSize - 1) / PageSize * PageSize
	if w.opts.Clock == nil {
		w.opts.Clock = MonotonicNow
		if w.opts.ClockOffset == 0 {
			w.opts.ClockOffset = MonotonicOffset()
		}
	}
	w.meta = w.baseMetadata()
	if err := w.writeMetadata(); err != nil {
		return nil, err
	}
	return w, nil
}

// Dir returns the trace directory.
func (w *Writer) Dir() string { return w.dir }

// Metadata returns the trace's metadata as written so far. It must not be
// modified.
func (w *Writer) Metadata() *Metadata { return &w.meta }

func (w *Writer) baseMetadata() Metadata {
	o := w.opts
	var m Metadata
	m.Major, m.Minor = 1, 8
	m.ByteOrder = LittleEndian
	_, _ = rand.Read(m.UUID[:])
	m.UUID[6] = m.UUID[6]&0x0f | 0x40
	m.UUID[8] = m.UUID[8]&0x3f | 0x80
	m.HasUUID = true
	m.PacketHeader = Struct(
		F("magic", Hex(Uint(32))),
		F("uuid", Array(Uint(8), 16)),
		F("stream_id", Uint(32)),
		F("stream_instance_id", Uint(64)),
	)
	tracer := o.TracerName
	if tracer == "" {
		tracer = "bpftrail"
	}
	m.Env = w.env(tracer)
	abs := !strings.HasPrefix(tracer, "lttng")
	if o.ClockAbsolute != nil {
		abs = *o.ClockAbsolute
	}
	cuuid := o.ClockUUID
	if cuuid == "" {
		cuuid = hostBootID()
	}
	m.Clocks = []*Clock{{
		Name:        "monotonic",
		UUID:        cuuid,
		Description: "Monotonic Clock",
		Freq:        1_000_000_000,
		Precision:   1,
		Offset:      o.ClockOffset,
		Absolute:    abs,
	}}
	m.Streams = []*StreamClass{baseStreamClass(o.EventContext)}
	return m
}

// env returns the env block: LTTng's standard entries, then Options.Env,
// whose entries replace standard ones of the same key.
func (w *Writer) env(tracer string) []EnvValue {
	o := w.opts
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	name := o.TraceName
	if name == "" {
		name = filepath.Base(w.dir)
	}
	sysname, release, version := hostKernel()
	env := []EnvValue{
		{Key: "hostname", Str: host},
		{Key: "domain", Str: o.Domain},
		{Key: "sysname", Str: sysname},
		{Key: "kernel_release", Str: release},
		{Key: "kernel_version", Str: version},
		{Key: "tracer_name", Str: tracer},
		{Key: "tracer_major", Int: int64(o.TracerMajor), IsInt: true},
		{Key: "tracer_minor", Int: int64(o.TracerMinor), IsInt: true},
		{Key: "tracer_patchlevel", Int: int64(o.TracerPatch), IsInt: true},
		{Key: "trace_buffering_scheme", Str: "global"},
		{Key: "trace_name", Str: name},
		{Key: "trace_creation_datetime", Str: time.Now().UTC().Format("20060102T150405+0000")},
	}
	if o.Domain == "" {
		env = append(env[:1], env[2:]...)
	}
	for _, e := range o.Env {
		replaced := false
		for i := range env {
			if env[i].Key == e.Key {
				env[i], replaced = e, true
			}
		}
		if !replaced {
			env = append(env, e)
		}
	}
	return env
}

// baseStreamClass returns the one stream class the writer uses: the packet
// context and the event header of the layout at the top of this file,
// timed by the monotonic clock, and ctx as the event context.
func baseStreamClass(ctx *Type) *StreamClass {
	clk := func(bits int) *Type { t := Uint(bits); t.Clock = "monotonic"; return t }
	return &StreamClass{
		ID:           0,
		EventContext: ctx,
		PacketContext: Struct(
			F("timestamp_begin", clk(64)),
			F("timestamp_end", clk(64)),
			F("content_size", Uint(64)),
			F("packet_size", Uint(64)),
			F("packet_seq_num", Uint(64)),
			F("events_discarded", Uint(64)),
			F("cpu_id", Uint(32)),
		),
		EventHeader: &Type{Kind: KindStruct, MinAlign: 8, Fields: []Field{
			F("id", Enum(Uint(8),
				EnumMapping{Label: "compact", Start: 0, End: compactIDs - 1},
				EnumMapping{Label: "large", Start: largeTag, End: largeTag},
				EnumMapping{Label: "extended", Start: extendedTag, End: extendedTag})),
			F("v", Variant("id",
				F("compact", Struct(F("timestamp", clk(24)))),
				F("large", Struct(F("id", Uint(16)), F("timestamp", clk(32)))),
				F("extended", Struct(F("id", Uint(32)), F("timestamp", clk(64)))),
			)),
		}},
	}
}

// writeMetadata writes the metadata file atomically (temporary file + rename).
func (w *Writer) writeMetadata() error {
	if w.opts.Packets != nil {
		w.opts.Packets.Metadata(w.meta.TSDL())
	}
	if w.ring != nil || w.noFiles {
		return nil // written with each snapshot, or not at all
	}
	final := filepath.Join(w.dir, "metadata")
	tmp := filepath.Join(w.dir, ".metadata.tmp")
	if err := os.WriteFile(tmp, w.meta.TSDL(), 0o644); err != nil {
		return fmt.Errorf("ctf: write metadata: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("ctf: write metadata: %w", err)
	}
	return nil
}

// AddEventClass declares an event class with the given payload (a struct
// type, or nil for no fields) and rewrites the metadata. Names may hold any
// character, such as "syscalls:sys_enter_openat".
func (w *Writer) AddEventClass(name string, fields *Type) (*EventClass, error) {
	if fields != nil && fields.Kind != KindStruct {
		return nil, fmt.Errorf("ctf: event %q: payload must be a struct, not %v", name, fields.Kind)
	}
	if err := checkType(fields); err != nil {
		return nil, fmt.Errorf("ctf: event %q: %w", name, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := w.meta.Streams[0]
	for _, e := range sc.Events {
		if e.Name == name {
			return nil, fmt.Errorf("ctf: event class %q declared twice", name)
		}
	}
	ec := &EventClass{ID: uint64(len(sc.Events)), Name: name, Fields: fields}
	w.classes = append(w.classes, classInfo{
		ec:      ec,
		fix:     newClassFix(sc.EventContext, fields),
		aligned: fields != nil && fields.Alignment() > 8 || sc.EventContext != nil && sc.EventContext.Alignment() > 8,
	})
	sc.Events = append(sc.Events, ec)
	if err := w.writeMetadata(); err != nil {
		sc.Events = sc.Events[:len(sc.Events)-1]
		w.classes = w.classes[:len(w.classes)-1]
		return nil, err
	}
	return ec, nil
}

// checkType rejects types the writer cannot encode.
func checkType(t *Type) error {
	if t == nil {
		return nil
	}
	switch t.Kind {
	case KindInteger:
		if t.Align == 1 {
			// Bit-packed (a C bit-field): written by Encoder.Struct
			// only, as part of a record's memory layout.
			if t.Size < 1 || t.Size > 64 {
				return fmt.Errorf("bit-packed integer of %d bits (1 to 64)", t.Size)
			}
			break
		}
		if t.Size != 8 && t.Size != 16 && t.Size != 32 && t.Size != 64 {
			return fmt.Errorf("integer of %d bits (the writer takes 8, 16, 32 or 64, or 1 to 64 bit-packed with align 1)", t.Size)
		}
		if t.Align%8 != 0 {
			return fmt.Errorf("integer aligned on %d bits (the writer takes whole bytes)", t.Align)
		}
	case KindFloat:
		if t.Size != 32 && t.Size != 64 {
			return fmt.Errorf("float of %d bits", t.Size)
		}
	case KindEnum:
		if t.Container == nil || t.Container.Kind != KindInteger {
			return errors.New("enum without an integer container")
		}
		return checkType(t.Container)
	case KindArray, KindSequence:
		if t.Elem == nil {
			return errors.New("array without an element type")
		}
		return checkType(t.Elem)
	case KindVariant:
		return errors.New("variants cannot be written in a payload")
	case KindStruct:
		seen := map[string]bool{}
		for _, f := range t.Fields {
			if f.Type == nil {
				return fmt.Errorf("%s: no type", f.Name)
			}
			if f.Type.Kind == KindSequence && !seen[f.Type.LengthField] {
				return fmt.Errorf("%s: length field %q must come before the sequence", f.Name, f.Type.LengthField)
			}
			seen[f.Name] = true
			if err := checkType(f.Type); err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
		}
	}
	return nil
}

// Stream returns the stream for id (the CPU number in recordings), creating
// its file stream_<id> on first use. The stream's packets carry cpu_id = id.
func (w *Writer) Stream(id int) (*StreamWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errors.New("ctf: writer is closed")
	}
	if s, ok := w.streams[id]; ok {
		return s, nil
	}
	if id < 0 {
		return nil, fmt.Errorf("ctf: negative stream id %d", id)
	}
	var f packetFile
	switch {
	case w.ring != nil:
		f = w.ring.stream(id)
	case w.noFiles:
		f = nullStream{id}
	default:
		path := filepath.Join(w.dir, fmt.Sprintf("stream_%d", id))
		of, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("ctf: %w", err)
		}
		f = of
	}
	s := &StreamWriter{
		w:   w,
		f:   f,
		id:  id,
		pkt: w.pkt,
		buf: make([]byte, 0, batchSize+w.pkt),
	}
	s.enc.s = s
	start := w.opts.Clock()
	s.last = start
	// An empty first packet, so that readers count discarded events exactly
	// from the first data packet on.
	s.openPacket(start)
	s.closePacket()
	if err := s.flush(); err != nil {
		f.Close()
		return nil, err
	}
	s.openPacket(start)
	w.streams[id] = s
	return s, nil
}

// Close finishes every stream (each ends with an empty packet carrying the
// final discarded-event count) and closes the files. The first error is
// returned; the trace stays readable.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	ids := make([]int, 0, len(w.streams))
	for id := range w.streams {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	end := w.opts.Clock()
	var first error
	for _, id := range ids {
		if err := w.streams[id].finish(end); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Stats sums the streams' counters.
func (w *Writer) Stats() StreamStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var t StreamStats
	for _, s := range w.streams {
		st := s.Stats()
		t.Events += st.Events
		t.Discarded += st.Discarded
		t.Clamped += st.Clamped
		t.Bytes += st.Bytes
		t.Packets += st.Packets
	}
	return t
}

// StreamStats counts what a stream wrote.
type StreamStats struct {
	Events    uint64 // events written
	Discarded uint64 // events reported lost with AddDiscarded
	Clamped   uint64 // events whose timestamp went back and was raised
	Bytes     int64  // bytes in the file (whole packets only)
	Packets   uint64 // packets written, the two empty ones included
}

// StreamWriter writes one data stream file. Events are written with [StreamWriter.Begin],
// the encoder's methods in payload order, and [Encoder.Commit]; or with
// [StreamWriter.Write] from Go values.
type StreamWriter struct {
	w   *Writer
	f   packetFile
	id  int
	pkt int

	buf      []byte // whole packets not yet written, then the open packet
	pktStart int    // offset of the open packet in buf
	pktBegin uint64 // timestamp_begin of the open packet
	pktEvs   int    // events in the open packet
	evStart  int    // offset of the event being encoded
	hdrEnd   int    // offset of the end of its header
	classes  []classInfo
	scratch  []byte

	last      uint64 // clock value of the last event (or packet bound)
	seq       uint64
	discarded uint64
	stats     StreamStats
	written   int64 // file size: always a packet boundary
	failed    error
	enc       Encoder
}

// Encoder appends one event's payload. Its methods must be called in the
// order of the event class's fields, with the types declared there; it is
// the fast path for byte-aligned payloads (what the package's type
// constructors build) and, through [Encoder.Struct], for fixed-size structs
// in their memory layout, alignment included. It is valid until Commit.
//
// Commit checks what it can: an event of a fixed-size class (no strings
// nor sequences) must have exactly the class's size, so that a field
// missing or left over is refused rather than shifting every field after
// it.
type Encoder struct {
	s     *StreamWriter
	class *EventClass
	info  *classInfo
	ts    uint64
	check bool // a fixed-size class, or err set
	err   error
}

// info returns what the writer knows of ec, a class the stream has not
// seen yet.
func (s *StreamWriter) info(ec *EventClass) *classInfo {
	s.w.mu.Lock()
	s.classes = s.w.classes
	s.w.mu.Unlock()
	if id := ec.ID; id < uint64(len(s.classes)) && s.classes[id].ec == ec {
		return &s.classes[id]
	}
	return &noInfo
}

// Begin starts an event of class ec at clock value ts and returns the
// encoder for its payload. A ts lower than the stream's previous one is
// raised to it and counted in Stats().Clamped: timestamps never go back
// within a stream.
func (s *StreamWriter) Begin(ec *EventClass, ts uint64) *Encoder {
	if ts < s.last {
		ts = s.last
		s.stats.Clamped++
	}
	s.evStart = len(s.buf)
	le := binary.LittleEndian
	switch d := ts - s.last; {
	case ec.ID < compactIDs && d < 1<<24:
		s.buf = le.AppendUint32(s.buf, uint32(ec.ID)|uint32(ts)<<8)
	case ec.ID < 1<<16 && d < 1<<32:
		s.buf = append(s.buf, largeTag)
		s.buf = le.AppendUint16(s.buf, uint16(ec.ID))
		s.buf = le.AppendUint32(s.buf, uint32(ts))
	default:
		s.buf = append(s.buf, extendedTag)
		s.buf = le.AppendUint32(s.buf, uint32(ec.ID))
		s.buf = le.AppendUint64(s.buf, ts)
	}
	s.hdrEnd = len(s.buf)
	s.enc.class = ec
	if id := ec.ID; id < uint64(len(s.classes)) && s.classes[id].ec == ec {
		s.enc.info = &s.classes[id]
	} else {
		s.enc.info = s.info(ec)
	}
	s.enc.ts = ts
	s.enc.check = s.enc.info.fix != nil
	s.enc.err = nil
	return &s.enc
}

// U8 appends an unsigned 8-bit integer.
func (e *Encoder) U8(v uint8) *Encoder { e.s.buf = append(e.s.buf, v); return e }

// U16 appends an unsigned 16-bit integer.
func (e *Encoder) U16(v uint16) *Encoder {
	e.s.buf = binary.LittleEndian.AppendUint16(e.s.buf, v)
	return e
}

// U32 appends an unsigned 32-bit integer.
func (e *Encoder) U32(v uint32) *Encoder {
	e.s.buf = binary.LittleEndian.AppendUint32(e.s.buf, v)
	return e
}

// U64 appends an unsigned 64-bit integer.
func (e *Encoder) U64(v uint64) *Encoder {
	e.s.buf = binary.LittleEndian.AppendUint64(e.s.buf, v)
	return e
}

// I8 appends a signed 8-bit integer.
func (e *Encoder) I8(v int8) *Encoder { return e.U8(uint8(v)) }

// I16 appends a signed 16-bit integer.
func (e *Encoder) I16(v int16) *Encoder { return e.U16(uint16(v)) }

// I32 appends a signed 32-bit integer.
func (e *Encoder) I32(v int32) *Encoder { return e.U32(uint32(v)) }

// I64 appends a signed 64-bit integer.
func (e *Encoder) I64(v int64) *Encoder { return e.U64(uint64(v)) }

// F32 appends a single precision float.
func (e *Encoder) F32(v float32) *Encoder { return e.U32(math.Float32bits(v)) }

// F64 appends a double precision float.
func (e *Encoder) F64(v float64) *Encoder { return e.U64(math.Float64bits(v)) }

// String appends a null-terminated string; a NUL inside s ends it early.
func (e *Encoder) String(s string) *Encoder {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	e.s.buf = append(e.s.buf, s...)
	e.s.buf = append(e.s.buf, 0)
	return e
}

// CString appends the bytes of b up to its first NUL (or all of b) as a
// null-terminated string.
func (e *Encoder) CString(b []byte) *Encoder {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	e.s.buf = append(e.s.buf, b...)
	e.s.buf = append(e.s.buf, 0)
	return e
}

// Text appends a fixed-size character array of n bytes: b truncated or
// zero-padded to n.
func (e *Encoder) Text(b []byte, n int) *Encoder {
	if len(b) > n {
		b = b[:n]
	}
	e.s.buf = append(e.s.buf, b...)
	for i := len(b); i < n; i++ {
		e.s.buf = append(e.s.buf, 0)
	}
	return e
}

// Raw appends bytes already encoded in the payload's layout.
func (e *Encoder) Raw(b []byte) *Encoder { e.s.buf = append(e.s.buf, b...); return e }

// Commit finishes the event. When the open packet is full, it is closed
// (and the event moved to a new packet if it does not fit); whole packets
// are written to the file in batches.
func (e *Encoder) Commit() error {
	s := e.s
	if s.failed != nil {
		// The file stopped at its last whole packet: drop the event
		// rather than buffer events that will never be written.
		s.buf = s.buf[:s.evStart]
		return s.failed
	}
	if e.check {
		if err := e.verify(); err != nil {
			s.buf = s.buf[:s.evStart]
			return err
		}
	}
	s.last = e.ts
	s.stats.Events++
	s.pktEvs++
	if len(s.buf)-s.pktStart <= s.pkt {
		return nil
	}
	if s.pktEvs > 1 {
		// Move this event to a packet of its own: the packet it leaves
		// closes without it.
		s.pktEvs--
		if err := s.moveEvent(e.class, e.info); err != nil {
			s.stats.Events--
			return err
		}
		s.pktEvs = 1
		if len(s.buf)-s.pktStart < s.pkt {
			return s.maybeFlush()
		}
	}
	// The packet is full or holds one event larger than a packet.
	s.closePacket()
	s.openPacket(s.last)
	return s.maybeFlush()
}

// moveEvent moves the event being committed (the last one of the open
// packet) to a new packet. Alignment is relative to the packet start, so
// the padding of an aligned event is laid out anew: a fixed-size class's
// context and payload are moved as blocks; an aligned event of variable
// size is refused unless its padding stays the same.
func (s *StreamWriter) moveEvent(ec *EventClass, info *classInfo) error {
	old := s.evStart - s.pktStart
	if !info.aligned || (preambleSize-old)%64 == 0 {
		s.scratch = append(s.scratch[:0], s.buf[s.evStart:]...)
		s.buf = s.buf[:s.evStart]
		s.closePacket()
		s.openPacket(s.last)
		s.buf = append(s.buf, s.scratch...)
		return nil
	}
	f := info.fix
	if f == nil {
		s.buf = s.buf[:s.evStart]
		return fmt.Errorf("ctf: event %q of %d bytes does not fit in the packet and its aligned fields cannot move: write it with StreamWriter.Write", ec.Name, len(s.buf)-s.evStart)
	}
	hdr := s.hdrEnd - s.evStart
	off := s.hdrEnd - s.pktStart
	s.scratch = append(s.scratch[:0], s.buf[s.evStart:s.hdrEnd]...)
	if f.hasCtx {
		off = alignUp(off, f.ctxAlign)
		s.scratch = append(s.scratch, s.buf[s.pktStart+off:s.pktStart+off+f.ctxSize]...)
		off += f.ctxSize
	}
	off = alignUp(off, f.payAlign)
	s.scratch = append(s.scratch, s.buf[s.pktStart+off:s.pktStart+off+f.paySize]...)
	s.buf = s.buf[:s.evStart]
	s.closePacket()
	s.openPacket(s.last)
	s.evStart = len(s.buf)
	b := s.scratch
	s.buf = append(s.buf, b[:hdr]...)
	b = b[hdr:]
	s.hdrEnd = len(s.buf)
	if f.hasCtx {
		s.enc.Align(f.ctxAlign)
		s.buf = append(s.buf, b[:f.ctxSize]...)
		b = b[f.ctxSize:]
	}
	s.enc.Align(f.payAlign)
	s.buf = append(s.buf, b...)
	return nil
}

// verify checks the event of a fixed-size class, or one an encoder method
// found wrong.
func (e *Encoder) verify() error {
	s := e.s
	if e.err != nil {
		return fmt.Errorf("ctf: event %q: %w", e.class.Name, e.err)
	}
	if f := e.info.fix; f != nil {
		if want := f.end(s.hdrEnd - s.pktStart); len(s.buf)-s.pktStart != want {
			return fmt.Errorf("ctf: event %q: %d bytes after the header where the class takes %d: fields missing or left over",
				e.class.Name, len(s.buf)-s.hdrEnd, want-(s.hdrEnd-s.pktStart))
		}
	}
	return nil
}

func (s *StreamWriter) maybeFlush() error {
	if s.pktStart >= batchSize || s.w.ring != nil {
		return s.flush()
	}
	return nil
}

// openPacket appends a packet header and a context to be filled by
// closePacket.
func (s *StreamWriter) openPacket(begin uint64) {
	s.pktStart = len(s.buf)
	s.pktBegin = begin
	s.pktEvs = 0
	b := s.buf
	b = binary.LittleEndian.AppendUint32(b, magic)
	b = append(b, s.w.meta.UUID[:]...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.id))
	b = append(b, make([]byte, ctxSize)...)
	s.buf = b
}

// closePacket fills the open packet's context and pads it to a multiple of
// the packet size.
func (s *StreamWriter) closePacket() {
	p := s.buf[s.pktStart:]
	content := len(p)
	size := (content + s.pkt - 1) / s.pkt * s.pkt
	le := binary.LittleEndian
	le.PutUint64(p[offTsBegin-0:], s.pktBegin)
	le.PutUint64(p[offTsEnd:], s.last)
	le.PutUint64(p[offContentSize:], uint64(content)*8)
	le.PutUint64(p[offPacketSize:], uint64(size)*8)
	le.PutUint64(p[offSeqNum:], s.seq)
	le.PutUint64(p[offDiscarded:], s.discarded)
	le.PutUint32(p[offCPU:], uint32(s.id))
	for i := content; i < size; i++ {
		s.buf = append(s.buf, 0)
	}
	if s.w.ring != nil {
		s.w.ring.add(s.f.(*ringStream), s.buf[s.pktStart:], s.pktEvs)
	}
	if ps := s.w.opts.Packets; ps != nil {
		ps.Packet(s.id, s.buf[s.pktStart:], s.pktEvs)
	}
	s.seq++
	s.stats.Packets++
	s.pktStart = len(s.buf)
}

// flush writes the whole packets gathered in buf with one write and keeps
// the open packet.
func (s *StreamWriter) flush() error {
	if s.failed != nil {
		return s.failed
	}
	n := s.pktStart
	if n == 0 {
		return nil
	}
	wrote, err := s.f.Write(s.buf[:n])
	if err != nil {
		// Never leave a partial packet: cut the file back to the last
		// packet boundary, and stop writing this stream.
		_ = s.f.Truncate(s.written)
		_, _ = s.f.Seek(s.written, 0)
		var pe *os.PathError
		if !errors.As(err, &pe) {
			err = fmt.Errorf("write %s: %w", s.f.Name(), err)
		}
		s.failed = fmt.Errorf("ctf: %w (the trace is kept up to the last whole packet)", err)
		return s.failed
	}
	s.written += int64(wrote)
	s.stats.Bytes = s.written
	rest := copy(s.buf, s.buf[n:])
	s.buf = s.buf[:rest]
	s.evStart -= n
	s.pktStart = 0
	return nil
}

// AddDiscarded reports n events that should have been in this stream but
// were lost, observed at clock value ts. They are recorded in the next
// packet's events_discarded counter.
func (s *StreamWriter) AddDiscarded(n uint64, ts uint64) {
	s.discarded += n
	s.stats.Discarded += n
	if ts > s.last && s.pktEvs == 0 {
		s.last = ts
		s.pktBegin = ts
	}
}

// Stats returns the stream's counters.
func (s *StreamWriter) Stats() StreamStats { return s.stats }

// Size returns the bytes of the stream so far: those in the file and
// those gathered for the next write (the open packet included).
func (s *StreamWriter) Size() int64 { return s.written + int64(len(s.buf)) }

// packetFile is where a stream's whole packets go: its file, or a stream
// of a [Ring].
type packetFile interface {
	Write(b []byte) (int, error)
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
	Close() error
	Name() string
}

// Flush closes the open packet (when it holds events) and writes every whole
// packet to the file, so that a reader sees all events committed so far.
func (s *StreamWriter) Flush() error {
	if s.pktEvs > 0 {
		s.closePacket()
		s.openPacket(s.last)
	}
	return s.flush()
}

// finish writes the last packets: the open one if it holds events, then an
// empty one that carries the final discarded count, ending at end (or at
// the last event when that is later).
func (s *StreamWriter) finish(end uint64) error {
	if s.pktEvs > 0 {
		s.closePacket()
		s.openPacket(s.last)
	}
	if end > s.last {
		s.last = end
	}
	s.closePacket()
	err := s.flush()
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("ctf: %w", cerr)
	}
	return err
}
