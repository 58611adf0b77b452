package record

import (
	"fmt"
	"strconv"
	"strings"
)

// KeyKind is what one member of an aggregation key holds.
type KeyKind uint8

// Key member kinds.
const (
	KeyInt    KeyKind = iota + 1 // an integer field or builtin, sign-extended to 8 bytes
	KeyString                    // a string field or builtin, NUL-padded to Size bytes
	KeyClass                     // the event class id, 8 bytes
)

// KeyPart is one member of an aggregation key: a field or builtin of the
// record, or the event class.
type KeyPart struct {
	Name     string // field or builtin name; "event" for the class
	Kind     KeyKind
	Size     int  // bytes in the key: 8, or the string's slot
	Unsigned bool // KeyInt: an unsigned value (not sign-extended)
}

// KeyStringCap is how many bytes of a string a key keeps at most.
const KeyStringCap = 64

// KeyLayout is the layout of the keys an aggregation program builds: its
// parts one after the other, or 8 zero bytes when there is none.
type KeyLayout []KeyPart

// Size is the size of a key.
func (k KeyLayout) Size() int {
	n := 0
	for _, p := range k {
		n += p.Size
	}
	if n == 0 {
		n = 8
	}
	return n
}

// KeyValue is one member of a decoded key.
type KeyValue struct {
	Name     string
	Int      int64 // the bits of the value when Unsigned
	Str      string
	IsInt    bool
	Unsigned bool
}

// Number formats an integer member in base 10.
func (v KeyValue) Number() string {
	if v.Unsigned {
		return strconv.FormatUint(uint64(v.Int), 10)
	}
	return strconv.FormatInt(v.Int, 10)
}

// Key is a decoded aggregation key.
type Key []KeyValue

// String renders a key as name=value pairs.
func (k Key) String() string {
	parts := make([]string, 0, len(k))
	for _, v := range k {
		if v.IsInt {
			parts = append(parts, v.Name+"="+v.Number())
		} else {
			parts = append(parts, fmt.Sprintf("%s=%s", v.Name, v.Str))
		}
	}
	return strings.Join(parts, " ")
}

// Decode reads a key of this layout; class ids are named through classes.
func (k KeyLayout) Decode(b []byte, classes []string) Key {
	out := make(Key, 0, len(k))
	off := 0
	for _, p := range k {
		v := KeyValue{Name: p.Name}
		field := b[off : off+p.Size]
		switch p.Kind {
		case KeyClass:
			if id := le.Uint64(field); id < uint64(len(classes)) {
				v.Str = classes[id]
			}
		case KeyInt:
			v.Int, v.IsInt, v.Unsigned = int64(le.Uint64(field)), true, p.Unsigned
		default:
			v.Str = string(cstr(field))
		}
		out = append(out, v)
		off += p.Size
	}
	return out
}

// Indexes of the per-CPU u64 counters an aggregation keeps beside its maps.
const (
	StatMapFull = 0 // updates lost because the key map was full
	StatStarts  = 1 // latency starts seen
	StatMatched = 2 // latency starts matched by an end
	StatCount   = 3
)

// SumsValueSize is the size of a latency summary value: u64 count, sum,
// min and max.
const SumsValueSize = 32
