package tracefs

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Format is a parsed events/CATEGORY/NAME/format file.
type Format struct {
	Category, Name string
	// ID is the tracepoint's id (the common_type of its records).
	ID uint32
	// Fields are the event's own fields in file order, common_* excluded.
	Fields []FormatField
	// Common are the common_* fields every record starts with.
	Common []FormatField
	// PrintFmt is the text after "print fmt: " to the end of the file, as
	// written (it can span lines).
	PrintFmt string
}

// Field returns the field called name, looking at Fields then Common.
func (f *Format) Field(name string) (FormatField, bool) {
	for _, list := range [][]FormatField{f.Fields, f.Common} {
		for _, fld := range list {
			if fld.Name == name {
				return fld, true
			}
		}
	}
	return FormatField{}, false
}

// FormatField is one "field:" line of a format file.
type FormatField struct {
	Name string
	// CType is the C type as written, without the field name: "const char *",
	// "char[16]", "__data_loc char[]", "pid_t", "unsigned long[6]".
	CType string
	// Offset and Size locate the field in the raw record, in bytes. For
	// __data_loc / __rel_loc fields they locate the 4-byte location word
	// (length<<16 | offset).
	Offset, Size int
	Signed       bool
	Kind         FieldKind
	// ElemSize is the size in bytes of one array element (FieldCharArray,
	// FieldArray, FieldDataLocString, FieldDataLocArray).
	ElemSize int
	// ArrayLen is the number of elements of a fixed array (FieldCharArray,
	// FieldArray). It is 0 for a flexible array at the end of the record
	// ("char buf[]", size 0).
	ArrayLen int
	// RelLoc marks a __rel_loc field: the offset in its location word is
	// relative to the end of the field rather than to the start of the record.
	RelLoc bool
}

// FieldKind says how a field's bytes are decoded.
type FieldKind int

const (
	// FieldInt is an integer of Size bytes, signed when Signed is set
	// (also enums, bool, pid_t, ...).
	FieldInt FieldKind = iota + 1
	// FieldCharArray is fixed text in a char[N] array, NUL-padded.
	FieldCharArray
	// FieldArray is a fixed array of ArrayLen integers of ElemSize bytes.
	FieldArray
	// FieldDataLocString is a "__data_loc char[]" string stored after the
	// fixed part of the record.
	FieldDataLocString
	// FieldDataLocArray is a "__data_loc T[]" array of ElemSize-byte
	// elements stored after the fixed part of the record.
	FieldDataLocArray
	// FieldUserString is a "const char *" / "char *" argument of a syscalls
	// tracepoint: a pointer into user memory whose string must be copied with
	// bpf_probe_read_user_str.
	FieldUserString
	// FieldPointer is any other pointer, recorded as a u64 and shown in hex.
	FieldPointer
	// FieldBytes is anything else (an embedded struct or an odd-sized
	// value): Size opaque bytes.
	FieldBytes
)

var kindNames = [...]string{
	FieldInt:           "int",
	FieldCharArray:     "char_array",
	FieldArray:         "array",
	FieldDataLocString: "data_loc_string",
	FieldDataLocArray:  "data_loc_array",
	FieldUserString:    "user_string",
	FieldPointer:       "pointer",
	FieldBytes:         "bytes",
}

func (k FieldKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("FieldKind(%d)", int(k))
}

// MarshalText encodes the kind by name ("int", "char_array", ...).
func (k FieldKind) MarshalText() ([]byte, error) {
	if k > 0 && int(k) < len(kindNames) {
		return []byte(kindNames[k]), nil
	}
	return nil, fmt.Errorf("tracefs: invalid field kind %d", int(k))
}

// UnmarshalText decodes a kind name written by MarshalText.
func (k *FieldKind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if i > 0 && n == string(b) {
			*k = FieldKind(i)
			return nil
		}
	}
	return fmt.Errorf("tracefs: unknown field kind %q", b)
}

// FormatError reports a format file that could not be parsed.
type FormatError struct {
	File string // empty when parsed from memory
	Line int    // 1-based
	Msg  string
}

func (e *FormatError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("tracefs: %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("tracefs: format line %d: %s", e.Line, e.Msg)
}

// ParseFormat parses the contents of a format file. category is needed to
// classify syscall string arguments ([FieldUserString]); it is stored in the
// result, as is the name from the file's "name:" line.
func ParseFormat(category string, data []byte) (*Format, error) {
	f := &Format{Category: category}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	sawID, sawFormat, inPrint := false, false, false
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(text)
		switch {
		case inPrint:
			// print fmt runs to the end of the file; its format string may
			// contain newlines (ext4_fsmap_*).
			f.PrintFmt += "\n" + text
		case trimmed == "":
		case strings.HasPrefix(trimmed, "field:"):
			fld, err := parseField(category, trimmed)
			if err != nil {
				return nil, &FormatError{Line: line, Msg: err.Error()}
			}
			if strings.HasPrefix(fld.Name, "common_") {
				f.Common = append(f.Common, fld)
			} else {
				f.Fields = append(f.Fields, fld)
			}
		case strings.HasPrefix(trimmed, "name:"):
			f.Name = strings.TrimSpace(strings.TrimPrefix(trimmed, "name:"))
		case strings.HasPrefix(trimmed, "ID:"):
			v := strings.TrimSpace(strings.TrimPrefix(trimmed, "ID:"))
			id, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, &FormatError{Line: line, Msg: fmt.Sprintf("invalid ID %q", v)}
			}
			f.ID, sawID = uint32(id), true
		case trimmed == "format:":
			sawFormat = true
		case strings.HasPrefix(trimmed, "print fmt:"):
			f.PrintFmt, inPrint = strings.TrimSpace(strings.TrimPrefix(trimmed, "print fmt:")), true
		default:
			return nil, &FormatError{Line: line, Msg: fmt.Sprintf("unexpected line %q", truncate(trimmed, 60))}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &FormatError{Line: line, Msg: err.Error()}
	}
	f.PrintFmt = strings.TrimRight(f.PrintFmt, "\n")
	switch {
	case !sawID:
		return nil, &FormatError{Line: line, Msg: `missing "ID:" line`}
	case !sawFormat:
		return nil, &FormatError{Line: line, Msg: `missing "format:" line`}
	}
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseField parses one line like
//
//	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
func parseField(category, line string) (FormatField, error) {
	var (
		fld                  FormatField
		decl                 string
		haveOffset, haveSize bool
	)
	for part := range strings.SplitSeq(line, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, ":")
		if !ok {
			return fld, fmt.Errorf("malformed field attribute %q", part)
		}
		val = strings.TrimSpace(val)
		switch key {
		case "field":
			decl = val
		case "offset", "size", "signed":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return fld, fmt.Errorf("invalid %s %q", key, val)
			}
			switch key {
			case "offset":
				fld.Offset, haveOffset = n, true
			case "size":
				fld.Size, haveSize = n, true
			default:
				fld.Signed = n != 0
			}
		}
	}
	switch {
	case decl == "":
		return fld, fmt.Errorf("missing field declaration")
	case !haveOffset:
		return fld, fmt.Errorf("field %q has no offset", decl)
	case !haveSize:
		return fld, fmt.Errorf("field %q has no size", decl)
	}
	if err := classify(category, decl, &fld); err != nil {
		return fld, err
	}
	return fld, nil
}

// classify fills Name, CType, Kind, ElemSize and ArrayLen from a declaration
// such as "const char * filename", "char comm[16]" or "__data_loc char[] name".
func classify(category, decl string, fld *FormatField) error {
	var loc string
	for _, p := range []string{"__data_loc", "__rel_loc"} {
		if rest, ok := strings.CutPrefix(decl, p+" "); ok {
			loc, decl = p, strings.TrimSpace(rest)
		}
	}

	// Split off an array suffix that follows the name: "comm[16]".
	var dim string
	hasDim := false
	if loc == "" && strings.HasSuffix(decl, "]") {
		i := strings.LastIndexByte(decl, '[')
		if i < 0 {
			return fmt.Errorf("malformed array declaration %q", decl)
		}
		dim, decl, hasDim = strings.TrimSpace(decl[i+1:len(decl)-1]), strings.TrimSpace(decl[:i]), true
	}

	j := len(decl)
	for j > 0 && isIdentByte(decl[j-1]) {
		j--
	}
	name, ctype := decl[j:], strings.TrimSpace(decl[:j])
	if name == "" || ctype == "" || name[0] >= '0' && name[0] <= '9' {
		return fmt.Errorf("cannot find type and name in declaration %q", decl)
	}
	fld.Name = name

	switch {
	case loc != "":
		classifyDataLoc(loc, ctype, fld)
	case hasDim:
		classifyArray(ctype, dim, fld)
	case strings.Contains(ctype, "*"):
		fld.CType = ctype
		if category == "syscalls" && isCharPointer(ctype) {
			fld.Kind = FieldUserString
		} else {
			fld.Kind = FieldPointer
		}
	default:
		fld.CType = ctype
		switch {
		case strings.HasPrefix(ctype, "struct ") || strings.HasPrefix(ctype, "union "):
			fld.Kind = FieldBytes
		case fld.Size == 1 || fld.Size == 2 || fld.Size == 4 || fld.Size == 8:
			fld.Kind = FieldInt
		default:
			fld.Kind = FieldBytes
		}
	}
	return nil
}

// classifyDataLoc fills a __data_loc or __rel_loc field: a string when its
// elements are chars, else an array.
func classifyDataLoc(loc, ctype string, fld *FormatField) {
	fld.CType = loc + " " + ctype
	fld.RelLoc = loc == "__rel_loc"
	elem := strings.TrimSpace(strings.TrimSuffix(ctype, "[]"))
	if isCharType(elem) {
		fld.Kind, fld.ElemSize = FieldDataLocString, 1
	} else {
		fld.Kind, fld.ElemSize = FieldDataLocArray, max(cTypeSize(elem), 1)
	}
}

// classifyArray fills a fixed-size array field of element type ctype and
// dimension dim, which may be empty or a macro name: the element size
// then comes from the field size or the C type.
func classifyArray(ctype, dim string, fld *FormatField) {
	fld.CType = ctype + "[" + dim + "]"
	n, err := strconv.Atoi(dim)
	if dim != "" && (err != nil || n < 0) {
		n = -1 // a macro such as TASK_COMM_LEN (older kernels)
	}
	if isCharType(ctype) {
		fld.Kind, fld.ElemSize, fld.ArrayLen = FieldCharArray, 1, fld.Size
		return
	}
	fld.Kind = FieldArray
	switch {
	case n > 0 && fld.Size%n == 0:
		fld.ElemSize, fld.ArrayLen = fld.Size/n, n
	case strings.Contains(ctype, "*"):
		fld.ElemSize = 8
	default:
		fld.ElemSize = cTypeSize(ctype)
	}
	if n != 0 && fld.ArrayLen == 0 && fld.ElemSize > 0 {
		fld.ArrayLen = fld.Size / fld.ElemSize
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// withoutQualifiers drops const/volatile and all spaces: "const char *" →
// "char*".
func withoutQualifiers(ctype string) string {
	var b strings.Builder
	for tok := range strings.FieldsSeq(strings.NewReplacer("*", " * ").Replace(ctype)) {
		if tok == "const" || tok == "volatile" || tok == "__user" {
			continue
		}
		b.WriteString(tok)
	}
	return b.String()
}

func isCharType(ctype string) bool {
	return withoutQualifiers(ctype) == "char"
}

// isCharPointer reports a single-level pointer to char: "const char *",
// "char *", but not "const char *const *".
func isCharPointer(ctype string) bool {
	return withoutQualifiers(ctype) == "char*"
}

// cTypeSize returns the size of common element types, or 0 when unknown.
func cTypeSize(ctype string) int {
	switch t := strings.Join(strings.Fields(withoutQualifiersKeepSpace(ctype)), " "); t {
	case "char", "signed char", "unsigned char", "u8", "s8", "__u8", "__s8", "uint8_t", "int8_t", "bool", "_Bool":
		return 1
	case "short", "unsigned short", "u16", "s16", "__u16", "__s16", "uint16_t", "int16_t":
		return 2
	case "int", "unsigned int", "unsigned", "u32", "s32", "__u32", "__s32", "uint32_t", "int32_t", "pid_t", "uid_t", "gid_t":
		return 4
	case "long", "unsigned long", "long long", "unsigned long long", "u64", "s64", "__u64", "__s64",
		"uint64_t", "int64_t", "size_t", "cpumask_t":
		return 8
	}
	return 0
}

func withoutQualifiersKeepSpace(ctype string) string {
	var out []string
	for tok := range strings.FieldsSeq(ctype) {
		if tok != "const" && tok != "volatile" {
			out = append(out, tok)
		}
	}
	return strings.Join(out, " ")
}
