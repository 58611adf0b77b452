// Package event defines the logical event bpftrail records: a schema, the
// event's name and its typed fields. It says nothing of where a BPF program
// reads a value (package resolve), where it puts it in the record it writes
// (package record) or how the event is named in a trace (package
// ctftrace). It imports no other package of the project.
//
// A resolved schema is never modified: a stage that needs another shape
// (more fields, other names) makes a new one.
package event

import "fmt"

// Kind is how a field's value is represented.
type Kind uint8

// Field kinds.
const (
	Int    Kind = iota + 1 // integer of Size bytes (1, 2, 4, 8)
	Text                   // fixed char[Size], shown as text up to the first NUL
	String                 // NUL-terminated string of at most Size bytes
	Bytes                  // variable byte array of at most Size-2 bytes, with a u16 length first
	Array                  // fixed array of Len integers of ElemSize bytes
	Stack                  // a stack: i64 byte count (or a negative error), then u64 addresses, leaf first
)

func (k Kind) String() string {
	switch k {
	case Int:
		return "int"
	case Text:
		return "text"
	case String:
		return "string"
	case Bytes:
		return "bytes"
	case Array:
		return "array"
	case Stack:
		return "stack"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// StackFrames is how many addresses a Stack field holds; StackSize its
// size.
const (
	StackFrames = 127
	StackSize   = 8 + StackFrames*8
)

// Field is one typed field of an event.
type Field struct {
	Name     string
	Kind     Kind
	Size     int  // bytes the value takes
	Signed   bool // Int, Array
	Hex      bool // display in base 16 (pointers, flags)
	ElemSize int  // Array: element size in bytes
	Len      int  // Array: element count
	CType    string
}

// Schema is one event class: its name and its fields.
type Schema struct {
	Name   string // e.g. "syscalls:sys_enter_openat"
	Fields []Field
}

// Index returns the index of the field called name, or -1.
func (s *Schema) Index(name string) int {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// Lookup returns the field called name.
func (s *Schema) Lookup(name string) (Field, bool) {
	if i := s.Index(name); i >= 0 {
		return s.Fields[i], true
	}
	return Field{}, false
}

// With returns a new schema with the fields of s followed by more.
func (s *Schema) With(more ...Field) *Schema {
	fields := make([]Field, 0, len(s.Fields)+len(more))
	fields = append(append(fields, s.Fields...), more...)
	return &Schema{Name: s.Name, Fields: fields}
}

// Validate checks that the sizes of the fields are consistent.
func (s *Schema) Validate() error {
	for _, f := range s.Fields {
		if err := f.validate(); err != nil {
			return fmt.Errorf("%s: field %s: %w", s.Name, f.Name, err)
		}
	}
	return nil
}

func (f Field) validate() error {
	switch f.Kind {
	case Int:
		if f.Size != 1 && f.Size != 2 && f.Size != 4 && f.Size != 8 {
			return fmt.Errorf("integer of %d bytes", f.Size)
		}
	case Array:
		if f.ElemSize*f.Len != f.Size {
			return fmt.Errorf("array of %d×%d bytes in %d", f.Len, f.ElemSize, f.Size)
		}
	case Stack:
		if f.Size != StackSize {
			return fmt.Errorf("stack of %d bytes", f.Size)
		}
	case Text, String:
		if f.Size <= 0 {
			return fmt.Errorf("empty slot")
		}
	case Bytes:
		if f.Size < 3 {
			return fmt.Errorf("byte array of %d bytes", f.Size)
		}
	default:
		return fmt.Errorf("unknown kind %d", f.Kind)
	}
	return nil
}

// StackField returns the field holding the user (user) or kernel stack,
// named ustack or kstack.
func StackField(user bool) Field {
	f := Field{Name: "kstack", Kind: Stack, Size: StackSize, CType: "kernel stack"}
	if user {
		f.Name, f.CType = "ustack", "user stack"
	}
	return f
}
