// Package recorder writes the records of a user's own BPF program into a
// CTF 1.8 trace (package [ctf]) that babeltrace2 and Trace Compass read
// with typed fields.
//
// The BPF side is the user's: C compiled with bpf2go and loaded with
// cilium/ebpf, sending a struct per event to a ring buffer or a perf event
// array. The recorder takes that struct's type from the object's BTF
// ([LookupEvent]) or from a Go struct ([GoEvent]), derives the CTF event
// class from it ([EventType]: integers with their size and sign, enums
// with their labels, char arrays as text, nested structs, unions, bit-fields,
// and the compiler's padding and alignment), and copies each record into
// the trace as the compiler laid it out, checked against the struct's size.
//
// Several event types may share a ring when a field ([Options.TypeField])
// tells them apart. Each CPU gets its own stream. Events are timed from a
// field ([Options.TimeField], bpf_ktime_get_ns's or bpf_ktime_get_boot_ns's
// clock) or when read. What could not be recorded becomes the trace's
// events_discarded: a perf buffer's lost samples, and for ring buffers the
// per-CPU counter that the C header include/bpftrail_recorder.h bumps when
// bpf_ringbuf_reserve fails ([Options.Lost]).
//
// Errors are wrapped with %w; records that are not one of the events are
// counted ([Stats].Malformed) and refused with [ErrMalformed].
package recorder
