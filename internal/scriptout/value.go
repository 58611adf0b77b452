// Package scriptout prints what a bpftrace-language script produces, in
// bpftrace's own formats: printf's formatting, the values print() shows,
// maps and histograms at exit or on print(@m), time() and strftime(), as
// text or as bpftrace's NDJSON (-f json).
package scriptout

// Kind is the kind of a decoded value.
type Kind uint8

// Kinds of values.
const (
	Int     Kind = iota // Int, with Signed and Size (bytes: 1, 2, 4, 8)
	String              // Str
	Bool                // Int is 0 or 1
	Tuple               // Elems
	Record              // Elems, named by Names
	Buf                 // Str holds the raw bytes (buf(), printed with %r)
	None                // no value (e.g. the result of a void call)
	Pointer             // Int holds the address; text "0x1f", JSON the number
	Array               // Elems; text "[1,2]" (no spaces, unlike tuples)
)

// Value is one value decoded from a record or a map.
type Value struct {
	Kind   Kind
	Int    int64 // Int, Bool; unsigned values are stored as their bits
	Signed bool
	Size   int
	Str    string
	Elems  []Value
	Names  []string
	// Symbol, when set on an Int, is its symbolic form (an enum's name):
	// text output and printf's %s show it, JSON and %d show the number.
	Symbol string
}

// Uint returns an unsigned integer value.
func Uint(v uint64) Value { return Value{Kind: Int, Int: int64(v), Size: 8} }

// SInt returns a signed 64-bit integer value.
func SInt(v int64) Value { return Value{Kind: Int, Int: v, Signed: true, Size: 8} }

// Str returns a string value.
func Str(s string) Value { return Value{Kind: String, Str: s} }

// MapKind is what a map holds, which decides how it prints.
type MapKind uint8

// Map kinds.
const (
	Plain   MapKind = iota // a value assigned: Entry.Value
	Count                  // count(): Entry.Value
	Sum                    // sum(): Entry.Value
	Min                    // min(): Entry.Value
	Max                    // max(): Entry.Value
	Avg                    // avg(): Entry.Count and Entry.Total
	Stats                  // stats(): Entry.Count and Entry.Total
	Hist                   // hist(): Entry.Buckets
	LHist                  // lhist(): Entry.Buckets, with Map.Min, Max, Step
	TSeries                // tseries(): Entry.Series
)

// Map is a map's whole content, read from the kernel.
type Map struct {
	Name  string // with its "@" ("@" alone for the anonymous map)
	Kind  MapKind
	Keyed bool // false for a map without keys (`@x = count()`)
	// LHist's parameters; Hist's Bits (log2 sub-buckets, hist(x, k)'s k).
	Min, Max, Step int64
	Bits           int
	// Signed: Avg's and Stats' values are signed (bpftrace computes the
	// average and prints count and total in that signedness).
	Signed  bool
	Entries []Entry
}

// Entry is one key of a map and its aggregated value.
type Entry struct {
	Key   Value // the key: one value, or a Tuple for `@m[a, b]`
	Value Value // Plain, Count, Sum, Min, Max
	// Avg and Stats.
	Count, Total int64
	// Hist and LHist: counts by bucket index, as the kernel program
	// computes the index (see the package doc of the histogram helpers).
	Buckets []uint64
}
