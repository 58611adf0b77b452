package bpfgen

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/scriptout"
)

// Scripts: a program in bpftrace's language (package lang) becomes one BPF
// program per attach point. Compiling a script types it first, as a whole
// (maps are shared by every probe), and lays out every map key and value,
// every variable and every event sent to user space, once; the programs
// are emitted afterwards, when the session has created the maps.
//
// In the generated code, integers live in 64-bit stack slots (so that the
// verifier can follow loop counters), strings and tuples in a per-CPU
// scratch buffer at offsets fixed at compile time. The async actions
// (printf, print, clear, exit, ...) write records to the session's ring
// buffer: the common record header, then the action's arguments; user
// space performs them in order.

// Special says which probes are not attached but run by user space.
type Special uint8

// Special probes.
const (
	NotSpecial Special = iota
	Begin              // run once at start (BPF_PROG_TEST_RUN)
	End                // run once at the end
)

// ScriptProbe is one attach point of a script, resolved.
type ScriptProbe struct {
	Block   int    // index of its action block in the program's Probes
	Name    string // the probe's full name: the `probe` builtin
	Func    string // the `func` builtin
	Special Special
	// Interval is set for an interval probe (see MarkIntervals).
	Interval bool
	// Probe gives the context's fields (args.X, argN, retval) and the
	// target; nil for special probes.
	Probe *resolve.Probe
}

// TypeKind is the kind of a script value.
type TypeKind uint8

// Kinds of script types.
const (
	TNone   TypeKind = iota
	TInt             // Size 1, 2, 4 or 8 (stored as 8 in maps, slots and events), Signed
	TBool            // stored as 8 bytes
	TStr             // NUL-terminated, Size bytes
	TTuple           // Elems at Offs
	TTime            // strftime's value: the format's index (u64), then ns (u64)
	TBuf             // buf(): u64 length, then Size-8 bytes
	TInet            // ntop(): u64 address family, then 16 bytes of address
	TStack           // kstack, ustack: u64 pid, u64 frame count, then addresses (User, Mode)
	TSym             // ksym(), usym(): u64 pid, u64 address (User; Mode "offset" adds +N)
	TStruct          // a C struct or union: Fields laid out in Size bytes (raw C layout)
	TArray           // a C array: N Elems in Size bytes (raw C layout)
)

// Type is the type of a script value, with its layout in memory.
type Type struct {
	Kind   TypeKind
	Size   int // bytes in memory
	Signed bool
	Width  int    // TInt: the declared width in bytes (1, 2, 4, 8)
	Ptr    int    // TInt: a pointer, to elements of this many bytes
	User   bool   // a pointer into user memory
	Name   string // a pointer's type as written, for messages
	// Structs, arrays and pointers (see script_types.go).
	Elem    *Type     // TArray's element, a pointer's target (nil: void or not known yet)
	btfElem btf.Type  // a pointer's target in the kernel's BTF, converted when needed
	N       int       // TArray: the element count
	Fields  []Field   // TStruct
	CName   string    // TStruct: "struct Foo"
	Mode    string    // TStack: bpftrace, perf or raw
	Enum    *EnumInfo // a TInt of an enum type: its values are shown by name
	Names   []string  // TTuple: a record's field names
	Trunc   int       // TStr read from memory: longer strings were cut to this many characters
	Align   int       // TStruct
	// Show names how user space shows a TInt: "syscall" (syscall_name()),
	// "strerror", "signal" (signal_name()), "username" (the user of a uid).
	Show  string
	Elems []*Type
	Offs  []int
}

var (
	tNone = &Type{Kind: TNone}
	tU64  = intType(8, false)
	tS64  = intType(8, true)
	tBool = &Type{Kind: TBool, Size: 8}
)

func intType(width int, signed bool) *Type {
	return &Type{Kind: TInt, Size: 8, Width: width, Signed: signed}
}

func strType(n int) *Type { return &Type{Kind: TStr, Size: n} }

func tupleType(elems []*Type) *Type {
	t := &Type{Kind: TTuple, Elems: elems}
	off := 0
	for _, e := range elems {
		t.Offs = append(t.Offs, off)
		off += (e.Size + 7) &^ 7
	}
	t.Size = max(off, 8)
	return t
}

func (t *Type) isInt() bool { return t.Kind == TInt || t.Kind == TBool }

// String names the type as bpftrace does in its messages.
func (t *Type) String() string {
	switch t.Kind {
	case TInt:
		if t.Ptr > 0 {
			return t.Name
		}
		s := "int"
		if !t.Signed {
			s = "uint"
		}
		return s + strconv.Itoa(t.Width*8)
	case TBool:
		return "bool"
	case TStr:
		return "string[" + strconv.Itoa(t.Size) + "]"
	case TTuple:
		parts := make([]string, len(t.Elems))
		for i, e := range t.Elems {
			parts[i] = e.String()
			if t.Names != nil {
				parts[i] = t.Names[i] + "=" + parts[i]
			}
		}
		return "(" + strings.Join(parts, ",") + ")"
	case TTime:
		return "timestamp"
	case TBuf:
		return "buffer"
	case TInet:
		return "inet"
	case TStack:
		if t.User {
			return "ustack"
		}
		return "kstack"
	case TSym:
		if t.User {
			return "usym"
		}
		return "ksym"
	case TStruct:
		return t.CName
	case TArray:
		return t.Elem.String() + "[" + strconv.Itoa(t.N) + "]"
	}
	return "none"
}

// same reports whether a and b have the same kind and shape (sizes of
// strings may differ).
func same(a, b *Type) bool {
	if a.isInt() && b.isInt() {
		return true
	}
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind == TStruct && a.CName != b.CName || a.Kind == TArray && (a.N != b.N || !same(a.Elem, b.Elem)) {
		return false
	}
	if a.Kind == TTuple {
		if len(a.Elems) != len(b.Elems) {
			return false
		}
		for i := range a.Elems {
			if !same(a.Elems[i], b.Elems[i]) {
				return false
			}
		}
	}
	return true
}

// widen returns the type holding values of both a and b (same shape).
func widen(a, b *Type) *Type {
	switch {
	case a.Kind == TStr:
		if b.Size > a.Size {
			return b
		}
		return a
	case a.Kind == TTuple:
		elems := make([]*Type, len(a.Elems))
		changed := false
		for i := range a.Elems {
			elems[i] = widen(a.Elems[i], b.Elems[i])
			changed = changed || elems[i] != a.Elems[i]
		}
		if !changed {
			return a
		}
		return tupleType(elems)
	case a.Kind == TInt && b.Kind == TInt && b.Width > a.Width && a.Signed == b.Signed:
		return b
	}
	return a
}

// ScriptMap is one of a script's maps.
type ScriptMap struct {
	Name  string // with its "@"
	Kind  scriptout.MapKind
	Key   *Type // nil for a map without keys
	Value *Type // Plain maps
	// LHist's bounds, Hist's bits.
	Min, Max, Step int64
	Bits           int
	Signed         bool // avg, stats, sum: of signed values
	// TSeries: the interval (ns), how many are kept, and how the values of
	// one interval combine ("", avg, min, max, sum).
	Interval, NumIntervals int64
	Agg                    string
	// PerCPU: the map is only updated in kernel (never read there), so
	// each CPU counts in its own copy and user space adds them up.
	PerCPU     bool
	LRU        bool
	MaxEntries int
	// Buckets, when set, is the storage of an unkeyed histogram that is
	// never read in kernel: a per-CPU array of that many counters indexed
	// by bucket, whose lookup the kernel inlines (no hashing per event).
	Buckets int
	// Cache, when set, is the number of slots of a per-CPU direct-mapped
	// cache in front of a count() or sum() hash map with a key of 8 or 16
	// bytes (each slot a key and its amount): an event whose key is in its
	// slot adds there with no hash lookup; a key that takes another's slot
	// moves the evicted amount into the hash map. User space adds both.
	Cache     int
	cacheAt   int  // the cache's index in MapSpecs
	readIn    bool // read in kernel
	deletedIn bool // a key is deleted in kernel
	declared  bool // declared with its size: let @m = hash(N)
	firstUse  lang.Pos
}

// KeySize is the size of the BPF map's key: the script's key (8 bytes
// for maps without keys), then the bucket for histograms.
func (m *ScriptMap) KeySize() int {
	n := 8
	if m.Key != nil {
		n = m.Key.Size
	}
	if m.Kind == scriptout.Hist || m.Kind == scriptout.LHist || m.Kind == scriptout.TSeries {
		n += 8
	}
	return n
}

// ValueSize is the size of the BPF map's value.
func (m *ScriptMap) ValueSize() int {
	switch m.Kind {
	case scriptout.Plain:
		return m.Value.Size
	case scriptout.Avg, scriptout.Stats, scriptout.Min, scriptout.Max:
		return 16
	case scriptout.TSeries:
		return 24 // value, epoch, meta
	}
	return 8
}

// cacheSlots is the size of a count() or sum() map's per-CPU cache: a
// power of two.
const cacheSlots = 256

// setStorage chooses how the kernel keeps a map that is only updated
// there: see Buckets and Cache.
func (m *ScriptMap) setStorage() {
	m.Buckets, m.Cache = 0, 0
	// A map declared with its size keeps every key in the map of that
	// size: a full map is said as the user expects, not absorbed.
	if !m.PerCPU || m.LRU || m.deletedIn || m.declared && m.Key != nil {
		return
	}
	switch {
	case m.Key == nil && m.Kind == scriptout.Hist:
		// log2Index's greatest index is (64-bits) << bits.
		m.Buckets = (64-m.Bits)<<m.Bits + 1
	case m.Key == nil && m.Kind == scriptout.LHist && m.Step > 0:
		m.Buckets = int((m.Max-m.Min)/m.Step) + 2
	case m.Key != nil && (m.Kind == scriptout.Count || m.Kind == scriptout.Sum) && (m.Key.Size == 8 || m.Key.Size == 16):
		m.Cache = cacheSlots
	}
}

// CacheSpec returns the spec of the map's cache, nil when it has none.
func (m *ScriptMap) CacheSpec() *ebpf.MapSpec {
	if m.Cache == 0 {
		return nil
	}
	return &ebpf.MapSpec{Name: "c" + mapName(m.Name)[1:], Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(m.Key.Size + 8), MaxEntries: uint32(m.Cache)}
}

// MapSpecs returns the specs of the script's BPF maps, which Program and
// the maps' Dump, Clear and Zero take in this order: one per map of
// Maps, at its index, then the caches.
func (s *Script) MapSpecs() []*ebpf.MapSpec {
	var specs []*ebpf.MapSpec
	for _, m := range s.Maps {
		specs = append(specs, m.Spec())
	}
	for _, m := range s.Maps {
		if c := m.CacheSpec(); c != nil {
			specs = append(specs, c)
		}
	}
	return specs
}

// Spec returns the spec of the BPF map.
func (m *ScriptMap) Spec() *ebpf.MapSpec {
	if m.Buckets > 0 {
		// One more entry, past the buckets, says that zero() kept the
		// histogram (with no counts) rather than clear() removing it.
		return &ebpf.MapSpec{Name: mapName(m.Name), Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(m.Buckets + 1)}
	}
	t := ebpf.Hash
	switch {
	case m.PerCPU && m.LRU:
		t = ebpf.LRUCPUHash
	case m.PerCPU:
		t = ebpf.PerCPUHash
	case m.LRU:
		t = ebpf.LRUHash
	}
	return &ebpf.MapSpec{Name: mapName(m.Name), Type: t, KeySize: uint32(m.KeySize()), ValueSize: uint32(m.ValueSize()), MaxEntries: uint32(m.MaxEntries)}
}

func mapName(n string) string {
	s := "m_" + strings.TrimPrefix(n, "@")
	if len(s) > 15 {
		s = s[:15]
	}
	return s
}

// EventKind is what a record sent to user space asks it to do.
type EventKind uint8

// Event kinds.
const (
	EvPrintf   EventKind = iota + 1 // format Args
	EvPrint                         // print(value)
	EvPrintMap                      // print(@m[, top[, div]])
	EvClear                         // clear(@m)
	EvZero                          // zero(@m)
	EvExit                          // exit([code])
	EvTime                          // time([fmt])
	EvSystem                        // system(fmt, args)
	EvCat                           // cat(fmt, args)
	EvJoin                          // join(argv[, delim]): Args holds the strings, Format the delimiter
	EvMapFull                       // a map update failed: the map has no room (at P)
	EvErrorf                        // errorf(format, args): an error at P
	EvWarnf                         // warnf(format, args): a warning at P
	EvDivZero                       // a division or modulo by 0 at P
	EvInterval                      // an interval probe ended (ScriptOptions.MarkIntervals)
)

// ScriptEvent is one call site of an async action: the class of its
// records.
type ScriptEvent struct {
	ID     uint32
	Kind   EventKind
	Format string // printf, system, cat, time
	Args   *Type  // the arguments, as a tuple laid out after the header
	Map    int    // EvPrintMap, EvClear, EvZero: index in Script.Maps
	Top    int64  // EvPrintMap
	Div    int64
	P      lang.Pos
	// Special is set for the events of begin and end probes.
	Special Special
	// Names are the arguments' names in a trace: the variable's, field's
	// or map's name an argument reads, else "" (see ArgNames).
	Names []string
}

// Size is the size of the event's records.
func (e *ScriptEvent) Size() int { return scriptHeader + e.Args.Size }

// scriptHeader is the record header before an event's arguments.
const scriptHeader = 40 // record.HeaderSize

// Script is a compiled script: typed, with every layout decided.
type Script struct {
	// PrintfText, when set, formats a printf's record, for the text
	// field of its class in a trace.
	PrintfText func(*ScriptEvent, []scriptout.Value) string
	// markIntervals: see ScriptOptions.MarkIntervals.
	markIntervals bool
	Prog          *lang.Program
	Probes        []ScriptProbe
	Maps          []*ScriptMap
	Events        []*ScriptEvent // indexed by ID - FirstEventID
	// StrSize is the size of strings read from memory (max_strlen).
	StrSize int
	Params  []string
	Named   []string // named parameters (--name=value), without the dashes
	// Warnings are said before the run (unreachable statements, ...).
	Warnings []string
	// Getopts are the names getopt() asks for.
	Getopts map[string]bool
	Formats []string // strftime formats, by index

	byName     map[string]int
	varTypes   map[string]*Type
	layouts    []probeLayout      // per probe, from the last checking pass
	firstEvent []uint32           // per probe: the id of its first event
	ct         *ctypes            // the script's C definitions
	btfTypes   map[btf.Type]*Type // kernel types converted so far
	// Decoder, when set, shows what only user space can name as values
	// are decoded: strftime()'s times, stacks, symbols.
	Decoder *Decoder
	// Target, when its PID or Follow is set, restricts the probes (not
	// begin and end) to those processes, as record's programs are. Left
	// zero, every process is seen: bpftrace's -p only places uprobes.
	Target Options
	// scratch is the size of the largest program's scratch area.
	scratch int
}

// probeLayout is what the checking passes learnt of a probe's program:
// the stack slots and scratch bytes of its variables, of everything, and
// whether it has callbacks.
type probeLayout struct {
	varSlots, varBytes int
	maxSlots, maxBytes int
	callbacks          bool
}

// onStack reports whether the program's scratch area fits on its stack,
// below its slots: no map lookup then. Programs with callbacks keep it in
// the per-CPU map, which their callbacks reach too.
func (l probeLayout) onStack() bool {
	return !l.callbacks && l.maxBytes+8*l.maxSlots+40+8 <= 512
}

// stackScratch is the frame offset of the scratch area when on the stack.
const stackScratch = -512

// ScriptOptions configure a script's compilation.
type ScriptOptions struct {
	Params     []string // positional parameters $1...
	Named      []string // named parameters: NAME=VALUE or NAME (getopt)
	StrSize    int      // default 64
	FirstClass uint32   // class id of the first event
	MaxEntries int      // per map; default 4096
	// MarkIntervals makes every interval probe send an EvInterval record
	// as it ends, so that user space can snapshot the maps then.
	MarkIntervals bool
}

// Map returns the map named name.
func (s *Script) Map(name string) (*ScriptMap, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return s.Maps[i], true
}

// Scratch is the size of the per-CPU scratch area the programs need.
func (s *Script) Scratch() int { return s.scratch }

// errorf returns an *lang.Error at p.
func (s *Script) errorf(p lang.Pos, format string, args ...any) error {
	line := ""
	if p.Line > 0 {
		lines := strings.Split(s.Prog.Source, "\n")
		if p.Line-1 < len(lines) {
			line = lines[p.Line-1]
		}
	}
	return &lang.Error{File: s.Prog.Name, P: p, Msg: fmt.Sprintf(format, args...), Line: line}
}

// CompileScript types prog for its resolved probes and lays out its maps,
// variables and events.
func CompileScript(prog *lang.Program, probes []ScriptProbe, o ScriptOptions) (s *Script, err error) {
	defer func() {
		// A construct the generator does not handle must not crash the
		// command: say which, at least.
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("internal error compiling the script (please report it): %v", r)
		}
	}()
	s = &Script{Prog: prog, Probes: probes, StrSize: o.StrSize, Params: o.Params, Named: o.Named, byName: map[string]int{}, varTypes: map[string]*Type{},
		markIntervals: o.MarkIntervals}
	if s.StrSize <= 0 {
		s.StrSize = 64
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 4096
	}
	lru := map[string]int64{}
	for _, d := range prog.MapDecl {
		switch d.Kind {
		case "hash", "lruhash", "percpuhash", "percpulruhash":
		default:
			return nil, s.errorf(d.P, "unsupported map type: %s", d.Kind)
		}
		lru[d.Name] = d.Size
		if !strings.Contains(d.Kind, "lru") {
			lru[d.Name] = -d.Size
		}
	}
	// Three passes over every probe: the first finds the maps' types,
	// which probes reading a map before the probe writing it need; the
	// second settles the sizes of strings kept in maps and variables; the
	// third lays out each program's scratch area and stack after its
	// variables.
	s.layouts = make([]probeLayout, len(probes))
	s.firstEvent = make([]uint32, len(probes))
	for pass := 0; pass < 3; pass++ {
		s.Events = nil
		s.scratch = 0
		for i := range probes {
			id := o.FirstClass + uint32(len(s.Events))
			s.firstEvent[i] = id
			c := &checker{s: s, sp: &probes[i], first: pass == 0, nextEvent: id}
			c.varSlotBase, c.tmpScratchBase = s.layouts[i].varSlots, s.layouts[i].varBytes
			if err := c.probe(prog.Probes[probes[i].Block]); err != nil {
				if pass == 0 && isUnknownMap(err) {
					continue
				}
				return nil, err
			}
			s.layouts[i] = probeLayout{varSlots: c.varSlots, varBytes: c.varBytes, maxSlots: c.maxSlots, maxBytes: c.maxBytes, callbacks: len(c.funcs) > 0}
			s.scratch = max(s.scratch, c.scratchSize())
		}
		// How each map is kept, from what the pass saw: the events a
		// program sends depend on it, and the last pass must register
		// those the emission will.
		for _, m := range s.Maps {
			m.MaxEntries = o.MaxEntries
			if n, ok := lru[m.Name]; ok {
				m.LRU = n > 0
				m.MaxEntries = int(max(n, -n))
				m.declared = true
			}
			m.PerCPU = !m.readIn && m.Kind != scriptout.Plain && m.Kind != scriptout.TSeries
			m.setStorage()
		}
	}
	if s.scratch > 1<<15-1 {
		return nil, fmt.Errorf("the script needs %d bytes of scratch memory per CPU, more than the %d a program can address; lower max_strlen", s.scratch, 1<<15-1)
	}
	for _, m := range s.Maps {
		if m.Kind == 0 && m.Value == nil {
			return nil, s.errorf(m.firstUse, "Undefined map: %s", m.Name)
		}
	}
	n := len(s.Maps)
	for _, m := range s.Maps {
		if m.Cache > 0 {
			m.cacheAt, n = n, n+1
		}
	}
	return s, nil
}

type unknownMapError struct{ error }

func isUnknownMap(err error) bool {
	_, ok := err.(unknownMapError)
	return ok
}

// mapFor returns the map named name, creating it.
func (s *Script) mapFor(name string, p lang.Pos) *ScriptMap {
	if i, ok := s.byName[name]; ok {
		return s.Maps[i]
	}
	m := &ScriptMap{Name: name, Kind: scriptout.Plain, firstUse: p}
	m.Kind = 255 // unknown until assigned
	s.byName[name] = len(s.Maps)
	s.Maps = append(s.Maps, m)
	return m
}

// MapNames returns the names of the maps, sorted as bpftrace prints them
// at exit.
func (s *Script) MapNames() []string {
	names := make([]string, 0, len(s.Maps))
	for _, m := range s.Maps {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	return names
}

// EventClass returns the record schema of an event, for the decoder and
// the trace: the arguments as fields, named after what they read (see
// ArgNames), integers in their declared size and sign.
func (e *ScriptEvent) EventClass(name string) *event.Schema {
	s := &event.Schema{Name: name}
	names := e.ArgNames()
	for i, t := range e.Args.Elems {
		f := event.Field{Name: names[i]}
		switch t.Kind {
		case TInt, TBool:
			// The record keeps every integer in 8 bytes, little-endian:
			// its first Width bytes are the value in its own size.
			f.Kind, f.Size, f.Signed, f.Hex = event.Int, min(max(t.Width, 1), 8), t.Signed, t.Ptr > 0
			if t.Kind == TBool {
				f.Size, f.Signed = 1, false
			}
		case TStr:
			f.Kind, f.Size = event.String, t.Size
		default:
			f.Kind, f.Size = event.Bytes, t.Size
		}
		s.Fields = append(s.Fields, f)
	}
	return s
}

// ArgNames returns the names of the event's arguments as fields: the name
// of what each reads ($file: file, args.filename: filename, @m: m, comm),
// else argN; a name taken twice gets its position after it, and "text"
// is left for the formatted text of a printf.
func (e *ScriptEvent) ArgNames() []string {
	out := make([]string, len(e.Args.Elems))
	seen := map[string]int{"text": 1}
	for i := range out {
		n := ""
		if i < len(e.Names) {
			n = e.Names[i]
		}
		if n == "" {
			n = "arg" + strconv.Itoa(i)
		}
		seen[n]++
		out[i] = n
	}
	for i, n := range out {
		if seen[n] > 1 {
			out[i] = n + "_" + strconv.Itoa(i)
		}
	}
	return out
}

// ClassName is the name of the event's class in a trace: script:KIND and
// the line (and column when two share a line) of its call.
func (e *ScriptEvent) ClassName(sameLine bool) string {
	kind := map[EventKind]string{EvPrintf: "printf", EvPrint: "print", EvPrintMap: "print", EvClear: "clear", EvZero: "zero",
		EvExit: "exit", EvTime: "time", EvSystem: "system", EvCat: "cat", EvJoin: "join", EvMapFull: "map_full",
		EvErrorf: "errorf", EvWarnf: "warnf", EvDivZero: "div_zero", EvInterval: "interval"}[e.Kind]
	if kind == "" {
		kind = "event"
	}
	if sameLine {
		return fmt.Sprintf("script:%s:%d:%d", kind, e.P.Line, e.P.Col)
	}
	return fmt.Sprintf("script:%s:%d", kind, e.P.Line)
}

// ArgName is the name an argument takes in a trace: that of the variable,
// field or map it reads, through casts and str(); "" when it has none.
func ArgName(x lang.Expr) string {
	switch x := x.(type) {
	case *lang.Var:
		return identName(strings.TrimPrefix(x.Name, "$"))
	case *lang.Ident:
		return identName(x.Name)
	case *lang.Field:
		return identName(x.Name)
	case *lang.MapExpr:
		return identName(strings.TrimPrefix(x.Name, "@"))
	case *lang.Cast:
		return ArgName(x.X)
	case *lang.Call:
		switch x.Name {
		case "str", "buf", "ksym", "usym", "kaddr", "uaddr", "ntop", "bswap", "strftime", "path":
			if len(x.Args) > 0 {
				return ArgName(x.Args[len(x.Args)-1])
			}
		case "kstack", "ustack", "nsecs", "elapsed", "cgroup":
			return x.Name
		}
	}
	return ""
}

// identName keeps a name that is a C identifier.
func identName(n string) string {
	for i, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return ""
		}
	}
	return n
}
