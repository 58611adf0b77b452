// Package scriptout prints what a bpftrace-language script produces, in
// bpftrace's own formats: printf's formatting, the values print() shows,
// maps, histograms and tseries plots at exit or on print(@m), time() and
// strftime(), as text or as bpftrace's NDJSON (-f json).
package scriptout

import "time"

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
	Plain MapKind = iota // a value assigned: Entry.Value
	Count                // count(): Entry.Value
	Sum                  // sum(): Entry.Value
	Min                  // min(): Entry.Value
	Max                  // max(): Entry.Value
	Avg                  // avg(): Entry.Count and Entry.Total
	Stats                // stats(): Entry.Count and Entry.Total
	Hist                 // hist(): Entry.Buckets
	LHist                // lhist(): Entry.Buckets, with Map.Min, Max, Step
	// tseries(): Entry.Series, with Map.Interval, NumIntervals, Agg,
	// Signed and TimeOffset.
	TSeries
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
	// average and prints count and total in that signedness); TSeries'
	// n is signed, which decides how its buckets are reduced, compared
	// and printed.
	Signed bool
	// TSeries' parameters: tseries(n, Interval ns, NumIntervals, "Agg"),
	// Agg being "" (the last value), "avg", "min", "max" or "sum".
	Interval, NumIntervals uint64
	Agg                    string
	// TimeOffset is added to a TSeries epoch's start, Epoch*Interval ns,
	// to make it wall-clock time. bpftrace takes its epochs from a TAI
	// clock (nsecs(sw_tai)) and adds nothing: 0 matches it when the
	// kernel side does the same.
	TimeOffset time.Duration
	Entries    []Entry
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
	// TSeries: every slot of every bucket the map holds for this key, as
	// read from the kernel: for a per-CPU map one TSPoint per CPU and
	// bucket, unwritten (all-zero) slots included.
	Series []TSPoint
}

// TSPoint is one slot of a tseries bucket as the kernel program keeps it.
// The map's key is the tseries key followed by the 8-byte bucket index,
// Epoch % NumIntervals when the slot was written; the value is the three
// 8-byte words {Value, Meta, Epoch}.
type TSPoint struct {
	Bucket uint64 // the bucket index from the map key
	Epoch  uint64 // now / Interval at the last write; 0: never written
	// Value is the value (its bits when unsigned): the last one assigned,
	// the sum ("sum", "avg"), the minimum or the maximum. Meta is the
	// write's timestamp (the last-value mode: the latest wins across
	// CPUs), the number of values ("avg"), or 1 once a value is set
	// ("min", "max").
	Value int64
	Meta  uint64
}
