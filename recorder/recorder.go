package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/ctf"
)

// Clock is the clock a record's time field counts on.
type Clock int

// Clocks of BPF time helpers.
const (
	// Monotonic is bpf_ktime_get_ns's clock, CLOCK_MONOTONIC.
	Monotonic Clock = iota
	// Boottime is bpf_ktime_get_boot_ns's clock, CLOCK_BOOTTIME, which
	// also counts time suspended.
	Boottime
)

// Event is one kind of record and the event class it becomes.
type Event struct {
	// Name of the event class; default the struct's name.
	Name string
	// Type is the record's struct: from the BPF object's BTF (see
	// [LookupEvent]) or from a Go type ([GoEvent]).
	Type btf.Type
	// ID is the value of [Options.TypeField] that marks records of this
	// event, when a ring carries several.
	ID uint64

	goType reflect.Type
}

// LookupEvent returns the Event of the struct called name in a BPF
// object's BTF, as in LookupEvent(spec.Types, "event") for a
// [ebpf.CollectionSpec]. The struct must be in the object's BTF: used by a
// map or a program, or kept with bpf2go's -type.
func LookupEvent(types *btf.Spec, name string) (Event, error) {
	if types == nil {
		return Event{}, errors.New("recorder: the object has no BTF")
	}
	var s *btf.Struct
	if err := types.TypeByName(name, &s); err != nil {
		return Event{}, fmt.Errorf("recorder: struct %s: %w", name, err)
	}
	return Event{Name: name, Type: s}, nil
}

// Options configure a [Recorder]. The zero value records one event type,
// timed when read, into one stream per CPU the records come from.
type Options struct {
	// TypeField names the integer field whose value (Event.ID) tells the
	// events apart; required with more than one event. It must be at the
	// same offset, with the same size, in every event's struct. Nested
	// fields are named with dots: "hdr.type".
	TypeField string
	// TimeField names the 64-bit field holding the event's time, in ns of
	// Clock. Empty: events are timed when they are read.
	TimeField string
	// Clock is the clock of TimeField, and the trace's.
	Clock Clock
	// CPUField names the integer field holding the CPU the record was made
	// on (bpf_get_smp_processor_id()), which selects the record's stream.
	// Records of a perf event array carry their CPU already; ring buffer
	// records without it go to stream 0.
	CPUField string
	// Lost is the map the BPF side counts the records it could not reserve
	// in (see bpftrail_recorder.h): a per-CPU array or an array of one
	// 64-bit counter. Its counts become the trace's discarded events.
	Lost *ebpf.Map
	// PerCPUBuffer is the size in bytes of each CPU's perf buffer; default
	// 64 pages.
	PerCPUBuffer int
	// ProgressInterval is how often the reading methods poll Lost and call
	// Progress; default one second.
	ProgressInterval time.Duration
	// Progress, when set, is called with the statistics every
	// ProgressInterval while reading.
	Progress func(Stats)
	// Trace configures the CTF writer (host name, tracer name, packet
	// size); its clock is set from Clock.
	Trace ctf.Options
}

// Stats counts what a Recorder did.
type Stats struct {
	Events    uint64 // records written as events
	Lost      uint64 // records lost: the perf buffer's lost samples and the BPF side's count
	Malformed uint64 // records refused: wrong size or unknown type
	Clamped   uint64 // events whose time went back in their stream and was raised
	Bytes     int64  // bytes of the stream files
}

// Recorder writes records of a BPF program into a CTF trace. Create it
// with [Create]; feed it with [Recorder.ReadRingBuf], [Recorder.ReadPerf],
// [Recorder.WriteRecord] or [Recorder.Write]; [Recorder.Close] it.
// Its methods may be called from several goroutines.
type Recorder struct {
	opts   Options
	events []*event
	byID   map[uint64]*event
	byGo   map[reflect.Type]*event
	typeF  field // the type field, when several events

	mu        sync.Mutex
	w         *ctf.Writer
	malformed uint64
	lost      uint64
	lostSeen  []uint64 // per CPU, the Lost map's count already written
	lostVals  []uint64
	closed    bool
	now       func() uint64
}

type event struct {
	class  *ctf.EventClass
	layout *ctf.Layout
	size   int // the struct's C size
	id     uint64
	time   field
	cpu    field
	goType reflect.Type
}

// field is where an integer field is in a record.
type field struct {
	off, size int
	ok        bool
}

func (f field) get(raw []byte) uint64 {
	b := raw[f.off:]
	switch f.size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.NativeEndian.Uint16(b))
	case 4:
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return binary.NativeEndian.Uint64(b)
}

// Create makes the trace directory dir (which must not hold a trace yet)
// with one event class per event. opts may be nil.
func Create(dir string, events []Event, opts *Options) (*Recorder, error) {
	r := &Recorder{byID: map[uint64]*event{}, byGo: map[reflect.Type]*event{}}
	if opts != nil {
		r.opts = *opts
	}
	if len(events) == 0 {
		return nil, errors.New("recorder: no events")
	}
	if len(events) > 1 && r.opts.TypeField == "" {
		return nil, errors.New("recorder: several events need Options.TypeField to tell them apart")
	}
	for _, e := range events {
		ev, err := r.compile(e)
		if err != nil {
			return nil, err
		}
		if _, dup := r.byID[e.ID]; dup && len(events) > 1 {
			return nil, fmt.Errorf("recorder: two events with type %d", e.ID)
		}
		r.byID[e.ID] = ev
		r.events = append(r.events, ev)
	}
	topts := r.opts.Trace
	switch r.opts.Clock {
	case Monotonic:
		r.now = ctf.MonotonicNow
	case Boottime:
		r.now = boottimeNow
		topts.Clock = boottimeNow
		topts.ClockOffset = time.Now().UnixNano() - int64(boottimeNow())
	default:
		return nil, fmt.Errorf("recorder: unknown clock %d", r.opts.Clock)
	}
	if topts.Clock != nil {
		r.now = topts.Clock
	}
	w, err := ctf.Create(dir, topts)
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	for i, e := range events {
		ev := r.events[i]
		name := e.Name
		if name == "" {
			name = e.Type.TypeName()
		}
		ev.class, err = w.AddEventClass(name, ev.layout.Type())
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("recorder: %w", err)
		}
	}
	r.w = w
	return r, nil
}

// compile derives the event class of e and locates its fields.
func (r *Recorder) compile(e Event) (*event, error) {
	if e.Type == nil {
		return nil, fmt.Errorf("recorder: event %s has no type", e.Name)
	}
	ct, err := EventType(e.Type)
	if err != nil {
		return nil, fmt.Errorf("recorder: event %s: %w", e.Name, err)
	}
	l, err := ctf.Compile(ct)
	if err != nil {
		return nil, fmt.Errorf("recorder: event %s: %w", e.Name, err)
	}
	size, err := btf.Sizeof(e.Type)
	if err != nil {
		return nil, fmt.Errorf("recorder: event %s: %w", e.Name, err)
	}
	ev := &event{layout: l, size: size, id: e.ID, goType: e.goType}
	if e.goType != nil {
		r.byGo[e.goType] = ev
	}
	for _, f := range []struct {
		name string
		dst  *field
		what string
	}{{r.opts.TimeField, &ev.time, "time"}, {r.opts.CPUField, &ev.cpu, "CPU"}, {r.opts.TypeField, new(field), "type"}} {
		if f.name == "" {
			continue
		}
		loc, err := locate(e.Type, f.name)
		if err != nil {
			return nil, fmt.Errorf("recorder: event %s: %s field: %w", e.Name, f.what, err)
		}
		if f.what == "time" && loc.size != 8 {
			return nil, fmt.Errorf("recorder: event %s: time field %s has %d bytes, not 8", e.Name, f.name, loc.size)
		}
		*f.dst = loc
		if f.what == "type" {
			if r.typeF.ok && r.typeF != loc {
				return nil, fmt.Errorf("recorder: event %s: type field %s is not where the other events have it", e.Name, f.name)
			}
			r.typeF = loc
		}
	}
	return ev, nil
}

// locate finds the integer field at path (names joined by dots) in the
// struct t.
func locate(t btf.Type, path string) (field, error) {
	off := 0
	for _, name := range splitPath(path) {
		var members []btf.Member
		switch u := btf.UnderlyingType(t).(type) {
		case *btf.Struct:
			members = u.Members
		case *btf.Union:
			members = u.Members
		default:
			return field{}, fmt.Errorf("%s: not in a struct", path)
		}
		found := false
		for _, m := range members {
			if m.Name == name {
				if m.BitfieldSize > 0 || m.Offset%8 != 0 {
					return field{}, fmt.Errorf("%s: a bit-field", path)
				}
				off += int(m.Offset / 8)
				t, found = m.Type, true
				break
			}
		}
		if !found {
			return field{}, fmt.Errorf("no field %s", path)
		}
	}
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		if u.Size == 1 || u.Size == 2 || u.Size == 4 || u.Size == 8 {
			return field{off: off, size: int(u.Size), ok: true}, nil
		}
	case *btf.Enum:
		return field{off: off, size: int(u.Size), ok: true}, nil
	}
	return field{}, fmt.Errorf("%s: not an integer", path)
}

func splitPath(p string) []string {
	var out []string
	for {
		i := 0
		for i < len(p) && p[i] != '.' {
			i++
		}
		out = append(out, p[:i])
		if i == len(p) {
			return out
		}
		p = p[i+1:]
	}
}

func boottimeNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return uint64(ts.Nano())
}

// Dir returns the trace directory.
func (r *Recorder) Dir() string { return r.w.Dir() }

// ErrMalformed is returned (wrapped) for a record that is not one of the
// events: of the wrong size, or of an unknown type.
var ErrMalformed = errors.New("malformed record")

// WriteRecord writes one raw record, as the BPF program laid it out, as an
// event in the stream of cpu (unless Options.CPUField says otherwise). Its
// size must be its struct's; a longer record is accepted with slack bytes
// at its end (perf buffers pad records to 8 bytes). A record that is not
// one of the events is counted in Stats.Malformed and refused with
// [ErrMalformed].
func (r *Recorder) WriteRecord(cpu int, raw []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writeRecord(cpu, raw, 0)
}

func (r *Recorder) writeRecord(cpu int, raw []byte, slack int) error {
	if r.closed {
		return errors.New("recorder: closed")
	}
	ev := r.events[0]
	if r.typeF.ok {
		if len(raw) < r.typeF.off+r.typeF.size {
			r.malformed++
			return fmt.Errorf("recorder: record of %d bytes: %w", len(raw), ErrMalformed)
		}
		id := r.typeF.get(raw)
		if ev = r.byID[id]; ev == nil {
			r.malformed++
			return fmt.Errorf("recorder: record of type %d: %w", id, ErrMalformed)
		}
	}
	if len(raw) < ev.size || len(raw) > ev.size+slack {
		r.malformed++
		return fmt.Errorf("recorder: %s record of %d bytes, its struct has %d: %w", ev.class.Name, len(raw), ev.size, ErrMalformed)
	}
	raw = raw[:ev.size]
	var ts uint64
	if ev.time.ok {
		ts = ev.time.get(raw)
	} else {
		ts = r.now()
	}
	if ev.cpu.ok {
		cpu = int(ev.cpu.get(raw))
	}
	s, err := r.w.Stream(cpu)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	if err := s.Begin(ev.class, ts).Struct(ev.layout, raw).Commit(); err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	return nil
}

// Write writes v, a value of (or pointer to) a Go type given to [GoEvent],
// as an event in the stream of cpu (unless Options.CPUField says
// otherwise). A pointer avoids a copy.
func (r *Recorder) Write(cpu int, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		rv = p
	}
	if rv.IsNil() {
		return errors.New("recorder: nil record")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.byGo[rv.Type().Elem()]
	if ev == nil {
		return fmt.Errorf("recorder: %v is not the Go type of an event", rv.Type().Elem())
	}
	raw := unsafe.Slice((*byte)(rv.UnsafePointer()), ev.size)
	return r.writeRecord(cpu, raw, 0)
}

// addLost records n events lost on cpu.
func (r *Recorder) addLost(cpu int, n uint64) error {
	if n == 0 {
		return nil
	}
	s, err := r.w.Stream(cpu)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	s.AddDiscarded(n, r.now())
	r.lost += n
	return nil
}

// PollLost reads Options.Lost and records what the BPF side counted since
// the last poll as discarded events. The reading methods call it every
// ProgressInterval, and Close once more.
func (r *Recorder) PollLost() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pollLost()
}

func (r *Recorder) pollLost() error {
	m := r.opts.Lost
	if m == nil || r.closed {
		return nil
	}
	var zero uint32
	if m.Type() == ebpf.PerCPUArray || m.Type() == ebpf.PerCPUHash {
		if err := m.Lookup(&zero, &r.lostVals); err != nil {
			return fmt.Errorf("recorder: read lost counts: %w", err)
		}
	} else {
		var n uint64
		if err := m.Lookup(&zero, &n); err != nil {
			return fmt.Errorf("recorder: read lost count: %w", err)
		}
		r.lostVals = append(r.lostVals[:0], n)
	}
	for len(r.lostSeen) < len(r.lostVals) {
		r.lostSeen = append(r.lostSeen, 0)
	}
	for cpu, n := range r.lostVals {
		if n <= r.lostSeen[cpu] {
			continue
		}
		stream := 0
		if r.opts.CPUField != "" {
			stream = cpu // records carry their CPU: so do their losses
		}
		if err := r.addLost(stream, n-r.lostSeen[cpu]); err != nil {
			return err
		}
		r.lostSeen[cpu] = n
	}
	return nil
}

// Stats returns what the recorder wrote so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := r.w.Stats()
	return Stats{Events: ws.Events, Lost: r.lost, Malformed: r.malformed, Clamped: ws.Clamped, Bytes: ws.Bytes}
}

// Close polls the lost counts once more and finishes the trace: every
// stream ends with a packet carrying its final discarded count. Stop the
// reading methods (cancel their context) before.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	err := r.pollLost()
	r.closed = true
	if cerr := r.w.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("recorder: %w", cerr)
	}
	return err
}
