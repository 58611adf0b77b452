// Package ctf writes and reads traces in the Common Trace Format, version 1.8.
//
// A trace is a directory holding a plain-text or packetized TSDL "metadata"
// file and one binary data stream file per stream. The package knows nothing
// of BPF: it models field types ([Type]), trace metadata ([Metadata]), writes
// traces with [Create] and reads them with [Open], or with [OpenFS] from any
// [io/fs.FS] (an embedded directory, a zip archive). Both read a directory of
// traces (an LTTng session, the chunks of a rotated recording) as one trace.
//
// Errors wrap their cause with %w. A trace that ends inside a packet is read up
// to its last complete packet and reported through [ErrTruncated]; [Recover]
// cuts such a torn tail off so that other readers accept the trace again.
//
// The package builds for every GOOS. On Linux a [Writer] describes its host
// as LTTng does: the env block's sysname, kernel_release and kernel_version
// come from uname(2), the clock is named by the kernel's boot_id, and
// streams are timed with CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
// ([MonotonicNow], [MonotonicOffset]). On other systems sysname is the GOOS,
// the kernel fields and the clock UUID are empty, and the default clock is
// Go's monotonic clock since the package was initialized; callers that know
// better set [Options] Env, ClockUUID, Clock and ClockOffset.
package ctf

import (
	"fmt"
	"strings"
)

// Kind is the class of a field type.
type Kind uint8

// The kinds of field types CTF 1.8 defines.
const (
	KindInteger Kind = iota + 1
	KindFloat
	KindString
	KindEnum
	KindArray
	KindSequence
	KindStruct
	KindVariant
)

func (k Kind) String() string {
	switch k {
	case KindInteger:
		return "integer"
	case KindFloat:
		return "floating_point"
	case KindString:
		return "string"
	case KindEnum:
		return "enum"
	case KindArray:
		return "array"
	case KindSequence:
		return "sequence"
	case KindStruct:
		return "struct"
	case KindVariant:
		return "variant"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ByteOrder of a type; the zero value means the trace's default order.
type ByteOrder uint8

// Byte orders.
const (
	DefaultOrder ByteOrder = iota
	LittleEndian
	BigEndian
)

// Encoding of an integer (for characters) or a string.
type Encoding uint8

// Encodings.
const (
	EncodingNone Encoding = iota
	EncodingUTF8
	EncodingASCII
)

// Type describes a field type. Which members are meaningful depends on Kind.
// Build types with the constructors ([Int], [Uint], [String], [Struct], ...)
// rather than by hand.
type Type struct {
	Kind Kind

	// Integer and floating point (and an enum's container, see Container).
	Size      int       // size in bits; floats: 32 or 64
	Align     int       // alignment in bits; 0 means the CTF default
	Signed    bool      // integers
	Base      int       // display base: 2, 8, 10 or 16; 0 means 10
	Encoding  Encoding  // integers that hold characters, strings
	ByteOrder ByteOrder // DefaultOrder: the trace's byte order
	Clock     string    // integer mapped to clock.<Clock>.value
	ExpDig    int       // floats: exponent digits (8 or 11)
	MantDig   int       // floats: mantissa digits incl. hidden bit (24 or 53)

	// Enum.
	Container *Type // an integer type
	Mappings  []EnumMapping

	// Array and sequence.
	Elem        *Type
	Length      int    // array length
	LengthField string // sequence: the field holding the length, as written in TSDL

	// Struct and variant.
	Fields   []Field
	MinAlign int    // struct: align(N) in bits
	Tag      string // variant: the enum field that selects the option
}

// Field is a named member of a struct or variant.
type Field struct {
	Name string
	Type *Type
}

// EnumMapping maps the integer range [Start, End] to Label. For unsigned
// containers the bounds hold the uint64 bit pattern.
type EnumMapping struct {
	Label      string
	Start, End int64
}

// F builds a Field.
func F(name string, t *Type) Field { return Field{Name: name, Type: t} }

// Int returns a signed integer type of the given size in bits, byte aligned.
func Int(bits int) *Type {
	return &Type{Kind: KindInteger, Size: bits, Align: 8, Signed: true, Base: 10}
}

// Uint returns an unsigned integer type of the given size in bits, byte aligned.
func Uint(bits int) *Type { return &Type{Kind: KindInteger, Size: bits, Align: 8, Base: 10} }

// Bool returns the type used for booleans: an unsigned 8-bit integer, as LTTng
// and babeltrace2 write them.
func Bool() *Type { return Uint(8) }

// Hex returns a copy of an integer type displayed in base 16.
func Hex(t *Type) *Type {
	c := *t
	c.Base = 16
	return &c
}

// Float32 returns an IEEE 754 single precision type.
func Float32() *Type { return &Type{Kind: KindFloat, Size: 32, Align: 8, ExpDig: 8, MantDig: 24} }

// Float64 returns an IEEE 754 double precision type.
func Float64() *Type { return &Type{Kind: KindFloat, Size: 64, Align: 8, ExpDig: 11, MantDig: 53} }

// String returns a null-terminated UTF-8 string type.
func String() *Type { return &Type{Kind: KindString, Encoding: EncodingUTF8, Align: 8} }

// Char returns the 8-bit UTF-8 character type used in text arrays.
func Char() *Type {
	return &Type{Kind: KindInteger, Size: 8, Align: 8, Base: 10, Encoding: EncodingUTF8}
}

// Text returns a fixed-size character array (like char comm[16]) that readers
// show as text up to its first NUL.
func Text(n int) *Type { return Array(Char(), n) }

// Array returns a fixed-length array of elem.
func Array(elem *Type, n int) *Type { return &Type{Kind: KindArray, Elem: elem, Length: n} }

// Sequence returns a variable-length array of elem whose length is held in the
// integer field lengthField, which must come before it.
func Sequence(elem *Type, lengthField string) *Type {
	return &Type{Kind: KindSequence, Elem: elem, LengthField: lengthField}
}

// Struct returns a structure of the given fields.
func Struct(fields ...Field) *Type { return &Type{Kind: KindStruct, Fields: fields} }

// Enum returns an enumeration over an integer container type.
func Enum(container *Type, mappings ...EnumMapping) *Type {
	return &Type{Kind: KindEnum, Container: container, Mappings: mappings}
}

// Variant returns a variant selected by the enum field tag.
func Variant(tag string, options ...Field) *Type {
	return &Type{Kind: KindVariant, Tag: tag, Fields: options}
}

// Alignment returns the type's alignment in bits, following CTF 1.8: integers
// and floats take Align (default 8 when the size is a multiple of 8, else 1),
// strings align on bytes, arrays and sequences on their element, structs on
// their largest member, variants on their selected option (reported as 1).
func (t *Type) Alignment() int {
	switch t.Kind {
	case KindInteger, KindFloat:
		if t.Align > 0 {
			return t.Align
		}
		if t.Size%8 == 0 {
			return 8
		}
		return 1
	case KindEnum:
		return t.Container.Alignment()
	case KindString:
		return 8
	case KindArray, KindSequence:
		return t.Elem.Alignment()
	case KindStruct:
		a := 1
		if t.MinAlign > a {
			a = t.MinAlign
		}
		for _, f := range t.Fields {
			if fa := f.Type.Alignment(); fa > a {
				a = fa
			}
		}
		return a
	}
	return 1
}

// IsText reports whether t is an array or sequence of UTF-8/ASCII 8-bit
// characters, which readers show as a string.
func (t *Type) IsText() bool {
	if t.Kind != KindArray && t.Kind != KindSequence {
		return false
	}
	e := t.Elem
	return e.Kind == KindInteger && e.Size == 8 && e.Encoding != EncodingNone
}

// Field returns the struct or variant member called name (with or without
// the leading underscore readers strip), or nil.
func (t *Type) Field(name string) *Field {
	for i := range t.Fields {
		if t.Fields[i].Name == name || StripName(t.Fields[i].Name) == name {
			return &t.Fields[i]
		}
	}
	return nil
}

// StripName removes the one leading underscore that CTF readers strip from
// field names ("_prev_tid" is shown as "prev_tid").
func StripName(name string) string { return strings.TrimPrefix(name, "_") }

// EnvValue is an env entry: an integer or a string.
type EnvValue struct {
	Key   string
	Int   int64
	Str   string
	IsInt bool
}

// Clock is a clock class.
type Clock struct {
	Name        string
	UUID        string // textual UUID, may be empty
	Description string
	Freq        uint64 // Hz; 0 means 1 GHz
	Precision   uint64
	OffsetS     int64 // seconds from the origin
	Offset      int64 // cycles from the origin, added to OffsetS
	Absolute    bool
}

// Frequency returns Freq, or 1 GHz when it is zero.
func (c *Clock) Frequency() uint64 {
	if c.Freq == 0 {
		return 1_000_000_000
	}
	return c.Freq
}

// EventClass describes one kind of event.
type EventClass struct {
	ID       uint64
	Name     string
	StreamID uint64
	LogLevel int64
	HasLevel bool
	Context  *Type // optional event context struct
	Fields   *Type // payload struct; may be nil for an empty payload
}

// StreamClass describes a kind of stream: its packet context, event header,
// event context and the event classes it carries.
type StreamClass struct {
	ID            uint64
	PacketContext *Type
	EventHeader   *Type
	EventContext  *Type
	Events        []*EventClass
}

// Metadata is a trace's description: everything the TSDL metadata holds.
type Metadata struct {
	Major, Minor int
	UUID         [16]byte
	HasUUID      bool
	ByteOrder    ByteOrder // LittleEndian or BigEndian
	PacketHeader *Type
	Env          []EnvValue
	Clocks       []*Clock
	Streams      []*StreamClass
}

// EnvString returns the env entry key as text (integers formatted in base 10)
// and whether it exists.
func (m *Metadata) EnvString(key string) (string, bool) {
	for _, e := range m.Env {
		if e.Key == key {
			if e.IsInt {
				return fmt.Sprint(e.Int), true
			}
			return e.Str, true
		}
	}
	return "", false
}

// Stream returns the stream class with the given ID, or nil.
func (m *Metadata) Stream(id uint64) *StreamClass {
	for _, s := range m.Streams {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Clock returns the clock called name, or nil.
func (m *Metadata) Clock(name string) *Clock {
	for _, c := range m.Clocks {
		if c.Name == name {
			return c
		}
	}
	return nil
}
