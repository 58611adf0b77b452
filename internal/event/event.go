// Package event defines what bpftrail records: an event's schema, the byte
// layout of the records that BPF programs write for it, and how each field
// is read from the probe's context. It imports no other package of the
// project: probe resolvers build schemas, program generators and the
// collector consume them.
package event

import "fmt"

// Kind is how a field's value is represented.
type Kind uint8

// Field kinds.
const (
	Int    Kind = iota + 1 // integer of Size bytes (1, 2, 4, 8)
	Text                   // fixed char[Size], shown as text up to the first NUL
	String                 // NUL-terminated string copied into a slot of Size bytes
	Bytes                  // variable byte array copied into a slot of Size bytes, with a u16 length first
	Array                  // fixed array of Len integers of ElemSize bytes
	Stack                  // a stack: i64 byte count (or a negative error), then u64 addresses, leaf first
)

// StackFrames is how many addresses a Stack field holds; StackSize its
// size in the record.
const (
	StackFrames = 127
	StackSize   = 8 + StackFrames*8
)

// Source says where a BPF program finds a field's value.
type Source uint8

// Field sources.
const (
	FromContext     Source = iota + 1 // bytes at SrcOffset in the probe context (tracepoint record)
	FromDataLoc                       // a __data_loc u32 at SrcOffset: offset (low 16 bits) and length (high 16)
	FromUserPtr                       // a pointer at SrcOffset into user memory: the string it points to
	FromKernelPtr                     // a pointer at SrcOffset into kernel memory: the string it points to
	FromHeader                        // a copy of the record header member at SrcOffset
	FromTask                          // kernel memory reached from the current task by TaskPath
	FromConst                         // the constant Const
	FromUserDeref                     // Size bytes of user memory at (register at SrcOffset) + Disp
	FromUserStack                     // the user stack (bpf_get_stack with BPF_F_USER_STACK)
	FromKernelStack                   // the kernel stack
)

// Field is one recorded field.
type Field struct {
	Name      string
	Kind      Kind
	Size      int  // bytes the field takes in the record
	Signed    bool // Int, Array
	Hex       bool // display in base 16 (pointers, flags)
	ElemSize  int  // Array: element size in bytes
	Len       int  // Array: element count
	Src       Source
	SrcOffset int
	SrcSize   int    // bytes to read at SrcOffset (may exceed Size for syscall args stored as longs)
	CType     string // the C type as the probe describes it
	Off       int    // offset of the field in the record, after the header
	// OutName, when set, is the name the field is written under (trace
	// layouts such as LTTng's rename fields).
	OutName string
	// Bias is added to an Int field's value when it is written.
	Bias int64
	// TaskPath (FromTask) is a chain of byte offsets from the current
	// task_struct: every offset but the last is a pointer to follow; Size
	// bytes are read at the last (e.g. real_parent, then tgid).
	TaskPath []int
	// Const is the value of a FromConst field.
	Const int64
	// Disp is the displacement added to the register of a FromUserDeref.
	Disp int64
	// Shift is a right shift applied to a register before its low Size
	// bytes are kept (USDT arguments in %ah and friends).
	Shift int
}

// Out returns the name the field is written under.
func (f *Field) Out() string {
	if f.OutName != "" {
		return f.OutName
	}
	return f.Name
}

// HeaderSize is the size of the header every record starts with:
//
//	u64 timestamp (bpf_ktime_get_ns), u32 event class id, u32 cpu,
//	u32 tid, u32 pid (tgid), char comm[16]
const HeaderSize = 40

// Offsets of the header members.
const (
	OffTime  = 0
	OffClass = 8
	OffCPU   = 12
	OffTID   = 16
	OffPID   = 20
	OffComm  = 24
)

// Schema describes one event class: its name and fields in record order.
type Schema struct {
	Name   string // e.g. "syscalls:sys_enter_openat"
	Fields []Field
	// OutName, when set, is the event class name written to traces.
	OutName string
	// Dispatched schemas are recorded through a shared syscall dispatcher
	// program rather than a program of their own; their field offsets
	// point into the dispatcher's record layout.
	Dispatched bool
	// Target of the probe, for program generation.
	Category, Event string // tracepoints
	// Attach says where programs for this schema attach when it is not a
	// tracepoint (Kind "" or "tracepoint").
	Attach Attach
}

// Attach locates a probe that is not a tracepoint.
type Attach struct {
	Kind    string // "uprobe", "uretprobe", "usdt"
	Path    string // binary
	Symbol  string // uprobes: function name ("" with Address)
	Offset  uint64 // uprobes: offset from Symbol
	Address uint64 // file offset of the probe when there is no symbol (USDT)
	RefCtr  uint64 // USDT semaphore, as a file offset (0: none)
	// More are further file offsets where the same probe also stands (a
	// USDT probe in an inlined function has one location per copy).
	More []uint64
}

// Uprobe reports whether the schema's programs take pt_regs (uprobes,
// uretprobes and USDT probes) rather than a tracepoint record.
func (s *Schema) Uprobe() bool {
	switch s.Attach.Kind {
	case "uprobe", "uretprobe", "usdt":
		return true
	}
	return false
}

// Layout assigns record offsets to the fields and returns the record size
// (header included).
func (s *Schema) Layout() int {
	off := HeaderSize
	for i := range s.Fields {
		f := &s.Fields[i]
		f.Off = off
		off += f.Size
	}
	return off
}

// RecordSize returns the size of a record of this schema; Layout must have
// been called.
func (s *Schema) RecordSize() int {
	n := HeaderSize
	for _, f := range s.Fields {
		if f.Off+f.Size > n {
			n = f.Off + f.Size
		}
	}
	return n
}

// Lookup returns the field called name.
func (s *Schema) Lookup(name string) (*Field, bool) {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i], true
		}
	}
	return nil, false
}

// Validate checks that sizes are consistent.
func (s *Schema) Validate() error {
	for _, f := range s.Fields {
		switch f.Kind {
		case Int:
			if f.Size != 1 && f.Size != 2 && f.Size != 4 && f.Size != 8 {
				return fmt.Errorf("%s: field %s: integer of %d bytes", s.Name, f.Name, f.Size)
			}
		case Array:
			if f.ElemSize*f.Len != f.Size {
				return fmt.Errorf("%s: field %s: array size mismatch", s.Name, f.Name)
			}
		case Stack:
			if f.Size != StackSize {
				return fmt.Errorf("%s: field %s: stack of %d bytes", s.Name, f.Name, f.Size)
			}
		case Text, String, Bytes:
			if f.Size <= 0 {
				return fmt.Errorf("%s: field %s: empty slot", s.Name, f.Name)
			}
		default:
			return fmt.Errorf("%s: field %s: unknown kind", s.Name, f.Name)
		}
	}
	return nil
}

// Out returns the event class name written to traces.
func (s *Schema) Out() string {
	if s.OutName != "" {
		return s.OutName
	}
	return s.Name
}

// Value reads the field or header member name from a record of this
// schema: integers as int64 (sign-extended when signed), text and strings
// up to their NUL, arrays as their raw bytes. ok is false when the name is
// unknown or the record too short.
func (s *Schema) Value(rec []byte, name string) (v any, ok bool) {
	le := func(b []byte) uint64 {
		var x uint64
		for i := len(b) - 1; i >= 0; i-- {
			x = x<<8 | uint64(b[i])
		}
		return x
	}
	cstr := func(b []byte) string {
		for i, c := range b {
			if c == 0 {
				return string(b[:i])
			}
		}
		return string(b)
	}
	if len(rec) < HeaderSize {
		return nil, false
	}
	switch name {
	case "pid":
		return int64(int32(le(rec[OffPID : OffPID+4]))), true
	case "tid":
		return int64(int32(le(rec[OffTID : OffTID+4]))), true
	case "cpu":
		return int64(le(rec[OffCPU : OffCPU+4])), true
	case "comm":
		return cstr(rec[OffComm : OffComm+16]), true
	case "time":
		return int64(le(rec[OffTime : OffTime+8])), true
	}
	f, found := s.Lookup(name)
	if !found || len(rec) < f.Off+f.Size {
		return nil, false
	}
	b := rec[f.Off : f.Off+f.Size]
	switch f.Kind {
	case Int:
		x := le(b)
		if f.Signed && f.Size < 8 {
			shift := 64 - 8*uint(f.Size)
			return int64(x<<shift) >> shift, true
		}
		return int64(x), true
	case Text, String:
		return cstr(b), true
	case Bytes:
		n := int(le(b[:2]))
		if n > len(b)-2 {
			n = len(b) - 2
		}
		return b[2 : 2+n], true
	}
	return b, true
}

// StackAddrs returns the addresses of a Stack field of a record, leaf first.
func StackAddrs(b []byte) []uint64 {
	if len(b) < 8 {
		return nil
	}
	n := int64(0)
	for i := 7; i >= 0; i-- {
		n = n<<8 | int64(b[i])
	}
	if n <= 0 {
		return nil
	}
	k := min(int(n)/8, (len(b)-8)/8)
	out := make([]uint64, 0, k)
	for i := 0; i < k; i++ {
		var a uint64
		for j := 7; j >= 0; j-- {
			a = a<<8 | uint64(b[8+8*i+j])
		}
		if a == 0 {
			break
		}
		out = append(out, a)
	}
	return out
}

// StackField returns a field holding the user (user) or kernel stack.
func StackField(user bool) Field {
	f := Field{Name: "kstack", Kind: Stack, Size: StackSize, Src: FromKernelStack, CType: "kernel stack"}
	if user {
		f.Name, f.Src, f.CType = "ustack", FromUserStack, "user stack"
	}
	return f
}
