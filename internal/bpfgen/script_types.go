package bpfgen

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// Structs, unions, arrays and pointers to them: the C types a script
// defines at its top (struct Foo { int m; }) or the kernel's BTF declares
// (struct task_struct). Their values are raw bytes laid out as the C
// compiler lays them out; members are read at their offsets, integers
// with their own width.

// Field is a member of a struct or union.
type Field struct {
	Name            string
	T               *Type
	Off             int // bytes
	BitOff, BitSize int // bitfields: bits from Off, and their count (0: not a bitfield)
}

// EnumInfo is an enum type: the names of its values.
type EnumInfo struct {
	Name  string
	Names map[int64]string
}

// ctypes are the struct, union and enum types a script can name.
type ctypes struct {
	byName  map[string]*Type     // "struct Foo", "union U"
	enums   map[string]int64     // enumerator constants
	enumOf  map[string]*EnumInfo // the enum of each enumerator
	enumsBy map[string]*EnumInfo // "enum Foo"
}

// cTypes parses the script's C definitions.
func (s *Script) cTypes() (*ctypes, error) {
	if s.ct != nil {
		return s.ct, nil
	}
	ct := &ctypes{byName: map[string]*Type{}, enums: map[string]int64{}, enumOf: map[string]*EnumInfo{}, enumsBy: map[string]*EnumInfo{}}
	for _, def := range s.Prog.CDefs {
		p := &cparser{toks: ctokens(def), ct: ct}
		if err := p.definition(); err != nil {
			return nil, fmt.Errorf("in a C definition: %w", err)
		}
	}
	s.ct = ct
	return ct, nil
}

// ctokens splits C text into identifiers, numbers and punctuation.
func ctokens(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case unicode.IsLetter(c) || c == '_' || unicode.IsDigit(c):
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			out = append(out, s[i:i+1])
			i++
		}
	}
	return out
}

type cparser struct {
	toks []string
	pos  int
	ct   *ctypes
}

func (p *cparser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *cparser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *cparser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("expected %q, got %q", t, got)
	}
	return nil
}

// definition: struct|union|enum NAME { ... } [attributes] ;
func (p *cparser) definition() error {
	kw := p.next()
	if kw == "enum" {
		return p.enum()
	}
	_, err := p.aggregate(kw)
	return err
}

func (p *cparser) enum() error {
	info := &EnumInfo{Names: map[int64]string{}}
	if p.peek() != "{" {
		info.Name = "enum " + p.next()
		p.ct.enumsBy[info.Name] = info
	}
	if err := p.expect("{"); err != nil {
		return err
	}
	v := int64(0)
	for p.peek() != "}" && p.peek() != "" {
		name := p.next()
		if p.peek() == "=" {
			p.next()
			neg := false
			if p.peek() == "-" {
				neg = true
				p.next()
			}
			n, err := strconv.ParseInt(p.next(), 0, 64)
			if err != nil {
				return fmt.Errorf("enum %s: %w", name, err)
			}
			if neg {
				n = -n
			}
			v = n
		}
		p.ct.enums[name] = v
		p.ct.enumOf[name] = info
		if _, dup := info.Names[v]; !dup {
			info.Names[v] = name
		}
		v++
		if p.peek() == "," {
			p.next()
		}
	}
	p.next()
	return nil
}

// aggregate parses `[NAME] { members }` after struct or union and returns
// the type, registered by name.
func (p *cparser) aggregate(kw string) (*Type, error) {
	name := ""
	if p.peek() != "{" {
		name = kw + " " + p.next()
	}
	if p.peek() != "{" {
		// A reference to a type defined elsewhere.
		if t, ok := p.ct.byName[name]; ok {
			return t, nil
		}
		t := &Type{Kind: TStruct, CName: name}
		p.ct.byName[name] = t
		return t, nil
	}
	p.next()
	t := p.ct.byName[name]
	if t == nil {
		t = &Type{Kind: TStruct, CName: name}
	}
	if name != "" {
		p.ct.byName[name] = t
	}
	var fields []Field
	for p.peek() != "}" {
		if p.peek() == "" {
			return nil, fmt.Errorf("%s: missing '}'", name)
		}
		fs, err := p.members()
		if err != nil {
			return nil, err
		}
		fields = append(fields, fs...)
	}
	p.next()
	packed := false
	for p.peek() == "__attribute__" {
		p.next()
		depth := 0
		for p.peek() != "" {
			tok := p.next()
			packed = packed || tok == "packed" || tok == "__packed__"
			if tok == "(" {
				depth++
			} else if tok == ")" {
				depth--
				if depth == 0 {
					break
				}
			}
		}
	}
	layout(t, fields, kw == "union", packed)
	return t, nil
}

// members parses one member declaration: a type, then declarators.
func (p *cparser) members() ([]Field, error) {
	base, err := p.baseType()
	if err != nil {
		return nil, err
	}
	var out []Field
	for {
		if p.peek() == ";" {
			// An anonymous struct or union: its members are the parent's.
			p.next()
			if base.Kind == TStruct {
				out = append(out, Field{T: base})
			}
			return out, nil
		}
		t := base
		for p.peek() == "*" {
			p.next()
			t = pointerTo(t)
		}
		name := p.next()
		var dims []int
		for p.peek() == "[" {
			p.next()
			n, err := strconv.Atoi(p.next())
			if err != nil {
				return nil, fmt.Errorf("%s: array size: %w", name, err)
			}
			dims = append(dims, n)
			if err := p.expect("]"); err != nil {
				return nil, err
			}
		}
		for i := len(dims) - 1; i >= 0; i-- {
			t = arrayOf(t, dims[i])
		}
		f := Field{Name: name, T: t}
		if p.peek() == ":" {
			p.next()
			n, err := strconv.Atoi(p.next())
			if err != nil {
				return nil, fmt.Errorf("%s: bitfield width: %w", name, err)
			}
			f.BitSize = n
		}
		out = append(out, f)
		switch p.next() {
		case ",":
			continue
		case ";":
			return out, nil
		default:
			return nil, fmt.Errorf("%s: expected ',' or ';'", name)
		}
	}
}

// baseType parses a type name: qualifiers, integer spellings, struct,
// union or enum references and definitions.
func (p *cparser) baseType() (*Type, error) {
	var words []string
	for {
		w := p.peek()
		switch w {
		case "const", "volatile", "static", "register":
			p.next()
			continue
		case "struct", "union":
			p.next()
			return p.aggregate(w)
		case "enum":
			p.next()
			if p.peek() != "{" && p.toks[p.pos+1] != "{" {
				p.next()
				return intType(4, false), nil
			}
			if err := p.enum(); err != nil {
				return nil, err
			}
			return intType(4, false), nil
		case "unsigned", "signed", "int", "char", "short", "long", "_Bool", "void":
			p.next()
			words = append(words, w)
			continue
		}
		if len(words) > 0 {
			break
		}
		if t, ok := intTypes[w]; ok {
			p.next()
			return t, nil
		}
		return nil, fmt.Errorf("unknown type %q", w)
	}
	return cInt(words), nil
}

// cInt is the integer type of C's spelling, as on LP64 machines.
func cInt(words []string) *Type {
	signed, size := true, 4
	longs := 0
	for _, w := range words {
		switch w {
		case "unsigned":
			signed = false
		case "char":
			size = 1
		case "short":
			size = 2
		case "long":
			longs++
			size = 8
		case "_Bool":
			return &Type{Kind: TBool, Size: 8, Width: 1}
		case "void":
			return &Type{Kind: TNone}
		}
	}
	return intType(size, signed)
}

func pointerTo(t *Type) *Type {
	elem := 1
	if t != nil && t.Kind == TInt {
		elem = t.Width
	} else if t != nil && t.Size > 0 {
		elem = t.Size
	}
	return &Type{Kind: TInt, Size: 8, Width: 8, Ptr: elem, Elem: t, Name: typeName(t) + " *"}
}

func arrayOf(t *Type, n int) *Type {
	if t.Kind == TInt && t.Width == 1 && t.Signed && t.Ptr == 0 {
		return strType(n) // char name[N] reads as a string, as bpftrace shows it
	}
	return &Type{Kind: TArray, Elem: t, N: n, Size: n * rawSize(t)}
}

// rawSize is the size of a value of t in C memory.
func rawSize(t *Type) int {
	switch t.Kind {
	case TNone:
		return 1
	case TInt, TBool:
		return max(t.Width, 1)
	}
	return t.Size
}

func rawAlign(t *Type) int {
	switch t.Kind {
	case TInt, TBool:
		return max(t.Width, 1)
	case TArray:
		return rawAlign(t.Elem)
	case TStruct:
		return max(t.Align, 1)
	}
	return 1
}

// layout places fields as a C compiler does (natural alignment).
func layout(t *Type, fields []Field, union, packed bool) {
	off, bits, align := 0, 0, 1
	for i := range fields {
		f := &fields[i]
		a := rawAlign(f.T)
		if packed {
			a = 1
		}
		align = max(align, a)
		if union {
			f.Off = 0
			t.Size = max(t.Size, rawSize(f.T))
			continue
		}
		if f.BitSize > 0 {
			unit := rawSize(f.T) * 8
			if bits+f.BitSize > unit || bits == 0 {
				if bits != 0 {
					off += rawSize(f.T)
				}
				off = (off + a - 1) / a * a
				bits = 0
			}
			f.Off, f.BitOff = off, bits
			bits += f.BitSize
			continue
		}
		if bits != 0 {
			off += (bits + 7) / 8
			bits = 0
		}
		off = (off + a - 1) / a * a
		f.Off = off
		off += rawSize(f.T)
	}
	if bits != 0 {
		off += (bits + 7) / 8
	}
	if !union {
		t.Size = off
	}
	t.Size = (t.Size + align - 1) / align * align
	t.Align, t.Fields = align, fields
}

func typeName(t *Type) string {
	switch {
	case t == nil || t.Kind == TNone:
		return "void"
	case t.Kind == TStruct && t.CName != "":
		return t.CName
	}
	return t.String()
}

// member finds a member by name, inside anonymous members too; off is its
// offset from the start of t.
func member(t *Type, name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
		if f.Name == "" && f.T.Kind == TStruct {
			if m, ok := member(f.T, name); ok {
				m.Off += f.Off
				return m, true
			}
		}
	}
	return Field{}, false
}

var (
	kernelOnce sync.Once
	kernelSpec *btf.Spec
	kernelErr  error
)

// kernelType is the type of the running kernel named name ("struct
// task_struct"), converted from its BTF.
func (s *Script) kernelType(name string) (*Type, error) {
	kernelOnce.Do(func() { kernelSpec, kernelErr = btf.LoadKernelSpec() })
	if kernelErr != nil {
		return nil, fmt.Errorf("kernel BTF: %w", kernelErr)
	}
	kw, bare, _ := strings.Cut(name, " ")
	var typ btf.Type
	switch kw {
	case "struct":
		var st *btf.Struct
		if err := kernelSpec.TypeByName(bare, &st); err != nil {
			return nil, err
		}
		typ = st
	case "union":
		var u *btf.Union
		if err := kernelSpec.TypeByName(bare, &u); err != nil {
			return nil, err
		}
		typ = u
	default:
		return nil, fmt.Errorf("unknown type %s", name)
	}
	return s.fromBTF(typ, 0), nil
}

// fromBTF converts a BTF type; pointers keep their target to convert when
// it is needed.
func (s *Script) fromBTF(t btf.Type, depth int) *Type {
	if s.btfTypes == nil {
		s.btfTypes = map[btf.Type]*Type{}
	}
	if c, ok := s.btfTypes[t]; ok {
		return c
	}
	switch x := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		if x.Encoding == btf.Bool {
			return &Type{Kind: TBool, Size: 8, Width: 1}
		}
		if x.Name == "char" {
			return intType(1, true) // so that char[N] is a string
		}
		return intType(int(x.Size), x.Encoding == btf.Signed || x.Encoding == btf.Char)
	case *btf.Enum:
		t := intType(int(x.Size), x.Signed)
		t.Enum = enumInfo(x)
		return t
	case *btf.Pointer:
		p := pointerTo(nil)
		p.btfElem = x.Target
		p.Name = btfName(x.Target) + " *"
		return p
	case *btf.Array:
		return arrayOf(s.fromBTF(x.Type, depth+1), int(x.Nelems))
	case *btf.Struct, *btf.Union:
		var members []btf.Member
		var size uint32
		union := false
		name := ""
		if st, ok := x.(*btf.Struct); ok {
			members, size, name = st.Members, st.Size, "struct "+st.Name
		} else {
			u := x.(*btf.Union)
			members, size, name, union = u.Members, u.Size, "union "+u.Name, true
		}
		out := &Type{Kind: TStruct, CName: name, Size: int(size), Align: 8}
		s.btfTypes[t] = out
		for _, m := range members {
			f := Field{Name: m.Name, T: s.fromBTF(m.Type, depth+1), Off: int(m.Offset.Bytes())}
			if m.BitfieldSize > 0 {
				f.Off = int(m.Offset) / 8 / rawSize(f.T) * rawSize(f.T)
				f.BitOff, f.BitSize = int(m.Offset)-8*f.Off, int(m.BitfieldSize)
			}
			out.Fields = append(out.Fields, f)
		}
		_ = union
		return out
	}
	return &Type{Kind: TNone}
}

func btfName(t btf.Type) string {
	switch x := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		return "struct " + x.Name
	case *btf.Union:
		return "union " + x.Name
	case *btf.Int:
		return x.Name
	}
	return "void"
}

// pointee is the type a pointer points to (nil: void or not known).
func (s *Script) pointee(t *Type) *Type {
	if t.Elem == nil && t.btfElem != nil {
		t.Elem = s.fromBTF(t.btfElem, 0)
		if t.Elem.Kind == TInt {
			t.Ptr = t.Elem.Width
		} else if t.Elem.Size > 0 {
			t.Ptr = t.Elem.Size
		}
	}
	return t.Elem
}

// namedType is a struct or union a script names: its own definitions
// first, then the kernel's.
func (s *Script) namedType(name string) (*Type, error) {
	ct, err := s.cTypes()
	if err != nil {
		return nil, err
	}
	if t, ok := ct.byName[name]; ok && t.Fields != nil {
		return t, nil
	}
	return s.kernelType(name)
}

// loc is where a struct, an array or one of their members is: in the
// scratch area at off, or in memory at off past the address held in the
// stack slot addr.
type loc struct {
	mem  bool
	off  int
	addr int16
	user bool
}

// locate finds the place of a member, an element or a dereferenced
// pointer, emitting the code that computes its address; other values of
// struct or array type are built in the scratch area. bits are a
// bitfield's offset and width.
func (c *checker) locate(e lang.Expr) (l loc, t *Type, bits [2]int, err error) {
	e = c.canon(e)
	switch x := e.(type) {
	case *lang.Field:
		xt, err := c.typeOf(x.X)
		if err != nil {
			return l, nil, bits, err
		}
		st := c.structOf(xt)
		if st == nil {
			break
		}
		f, ok := member(st, x.Name)
		if !ok {
			return l, nil, bits, c.noMember(x.P, st, x.Name)
		}
		if xt.Ptr > 0 {
			l, err = c.pointer(x.X, xt)
		} else {
			l, _, _, err = c.locate(x.X)
		}
		l.off += f.Off
		return l, userLike(f.T, xt), [2]int{f.BitOff, f.BitSize}, err
	case *lang.Unary:
		if x.Op != "*" {
			break
		}
		xt, err := c.typeOf(x.X)
		if err != nil {
			return l, nil, bits, err
		}
		l, err = c.pointer(x.X, xt)
		if xt.Ptr == 0 {
			return l, tU64, bits, err
		}
		return l, userLike(c.s.pointee(xt), xt), bits, err
	case *lang.Index:
		xt, err := c.typeOf(x.X)
		if err != nil {
			return l, nil, bits, err
		}
		var elem *Type
		switch {
		case xt.Kind == TArray:
			elem = xt.Elem
			if l, _, _, err = c.locate(x.X); err != nil {
				return l, nil, bits, err
			}
			elem = userLike(elem, &Type{User: l.user})
		case xt.Ptr > 0:
			elem = userLike(c.s.pointee(xt), xt)
			if l, err = c.pointer(x.X, xt); err != nil {
				return l, nil, bits, err
			}
		default:
			return l, nil, bits, c.errorf(x.P, "cannot index %s", xt)
		}
		size := rawSize(elem)
		if n, ok := c.constInt(x.Index); ok {
			l.off += int(n) * size
			return l, elem, bits, nil
		}
		if !l.mem {
			return l, nil, bits, c.errorf(x.Index.Position(), "an array held in a variable or map can only be indexed by a constant")
		}
		// addr += index * size, the index checked against the length of an
		// array (bpftrace warns and reads out of bounds; so does this).
		if err := c.intExpr(x.Index); err != nil {
			return l, nil, bits, err
		}
		c.g.emit(
			asm.Mul.Imm(asm.R0, int32(size)),
			asm.LoadMem(asm.R1, asm.RFP, l.addr, asm.DWord),
			asm.Add.Reg(asm.R1, asm.R0),
			asm.StoreMem(asm.RFP, l.addr, asm.R1, asm.DWord),
		)
		return l, elem, bits, nil
	}
	off, t, err := c.valueAt(e)
	return loc{off: off}, t, bits, err
}

// pointer evaluates a pointer into a stack slot: memory at that address.
func (c *checker) pointer(e lang.Expr, t *Type) (loc, error) {
	slot, err := c.intToSlot(e, e.Position())
	if err != nil {
		return loc{}, err
	}
	return loc{mem: true, addr: slot, user: t.User}, nil
}

// readMem copies n bytes at l (in memory) into scratch at dst.
func (c *checker) readMem(l loc, dst, n int) {
	fn := asm.FnProbeReadKernel
	if l.user {
		fn = asm.FnProbeReadUser
	}
	c.g.emit(
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, int32(dst)),
		asm.Mov.Imm(asm.R2, int32(n)),
		asm.LoadMem(asm.R3, asm.RFP, l.addr, asm.DWord),
		asm.Add.Imm(asm.R3, int32(l.off)),
		fn.Call(),
	)
}

// readInt loads an integer member into R0.
func (c *checker) readInt(l loc, t *Type, bits [2]int) {
	w := rawSize(t)
	off := l.off
	if l.mem {
		off = c.alloc(8)
		c.zero(off, 8)
		c.readMem(l, off, w)
	}
	c.loadInt(off, w, t.Signed && bits[1] == 0)
	if bits[1] > 0 {
		c.g.emit(asm.RSh.Imm(asm.R0, int32(bits[0])))
		if bits[1] < 32 {
			c.g.emit(asm.And.Imm(asm.R0, int32(1)<<bits[1]-1))
		}
	}
	if t.Kind == TBool {
		c.boolOf(asm.JNE)
	}
}

// readBlob returns the scratch offset of a struct or array value at l.
func (c *checker) readBlob(l loc, t *Type) int {
	if !l.mem {
		return l.off
	}
	off := c.alloc(t.Size)
	c.readMem(l, off, t.Size)
	return off
}

// reaches reports whether e is a member, element or dereference that
// locate finds in memory or in a struct (rather than a tuple or args).
func (c *checker) reaches(e lang.Expr) bool {
	switch x := c.canon(e).(type) {
	case *lang.Field:
		xt, err := c.typeOf(x.X)
		return err == nil && c.structOf(xt) != nil
	case *lang.Unary:
		return x.Op == "*"
	case *lang.Index:
		xt, err := c.typeOf(x.X)
		return err == nil && (xt.Kind == TArray || xt.Ptr > 0)
	}
	return false
}

var (
	kernelEnumsOnce sync.Once
	kernelEnums     map[string]int64
	kernelEnumOf    map[string]*btf.Enum
)

// enumInfo is the EnumInfo of a BTF enum.
func enumInfo(e *btf.Enum) *EnumInfo {
	info := &EnumInfo{Name: "enum " + e.Name, Names: map[int64]string{}}
	for _, v := range e.Values {
		if _, dup := info.Names[int64(v.Value)]; !dup {
			info.Names[int64(v.Value)] = v.Name
		}
	}
	return info
}

// kernelEnumType is the kernel's enum named name ("enum skb_drop_reason").
func kernelEnumType(name string) *EnumInfo {
	kernelOnce.Do(func() { kernelSpec, kernelErr = btf.LoadKernelSpec() })
	if kernelErr != nil {
		return nil
	}
	var e *btf.Enum
	if err := kernelSpec.TypeByName(strings.TrimPrefix(name, "enum "), &e); err != nil {
		return nil
	}
	return enumInfo(e)
}

// kernelEnum is an enumerator of the kernel's BTF (TCP_SYN_SENT), read
// once, when a script first names one it does not define.
func kernelEnum(name string) (int64, bool) {
	kernelEnumsOnce.Do(func() {
		kernelOnce.Do(func() { kernelSpec, kernelErr = btf.LoadKernelSpec() })
		if kernelErr != nil {
			return
		}
		kernelEnums, kernelEnumOf = map[string]int64{}, map[string]*btf.Enum{}
		for t := range kernelSpec.All() {
			if e, ok := t.(*btf.Enum); ok {
				for _, v := range e.Values {
					kernelEnums[v.Name] = int64(v.Value)
					kernelEnumOf[v.Name] = e
				}
			}
		}
	})
	v, ok := kernelEnums[name]
	return v, ok
}

// offsetof is the offset of a member path in a struct.
func (c *checker) offsetof(x *lang.Offsetof) (int, error) {
	var st *Type
	if x.Type != nil {
		t, err := c.s.namedType(x.Type.Name)
		if err != nil {
			return 0, c.unknownType(x.P, x.Type.Name)
		}
		st = t
	} else {
		t, err := c.typeOf(x.X)
		if err != nil {
			return 0, err
		}
		st = c.structOf(t)
	}
	off := 0
	for _, name := range x.Fields {
		if st == nil || st.Kind != TStruct {
			return 0, c.errorf(x.P, "offsetof: %s is not in a struct", name)
		}
		f, ok := member(st, name)
		if !ok {
			return 0, c.noMember(x.P, st, name)
		}
		off += f.Off
		st = f.T
	}
	return off, nil
}

// hasKernelBTF reports whether the kernel's BTF can be read.
func (s *Script) hasKernelBTF() bool {
	_, err := s.kernelType("struct task_struct")
	return err == nil
}

// kernelSymbol is the address of a kernel symbol (kaddr()).
func kernelSymbol(name string) (uint64, error) {
	k, err := symbolize.NewCache().Kernel()
	if err != nil {
		return 0, err
	}
	addr, ok := k.Address(name)
	if !ok {
		return 0, fmt.Errorf("no kernel symbol %s", name)
	}
	return addr, nil
}
