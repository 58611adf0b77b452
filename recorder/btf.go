package recorder

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/ctf"
)

// EventType returns the CTF type of records laid out as the BTF struct t
// (typedefs and qualifiers are followed), such that the record's bytes,
// copied as they are, read back as its fields:
//
//   - integers keep their size and sign, enums their labels, bools become
//     8-bit integers, pointers 64-bit hexadecimal integers, floats stay
//     floats;
//   - char arrays become text (shown as a string up to the first NUL),
//     other arrays arrays;
//   - nested structs become structs, and the compiler's padding is kept:
//     alignment where it explains it, otherwise a field named _pad_N
//     (or _pad_bits_N) of the missing bytes (or bits); a nested struct's
//     trailing padding is such a field too;
//   - a union becomes a struct holding its first member of the union's
//     full size (else its first largest member), aligned as the union;
//   - bit-fields become bit-packed integers of their width, in place.
//
// Members without a name are called anonN after their index.
func EventType(t btf.Type) (*ctf.Type, error) {
	s, ok := btf.UnderlyingType(t).(*btf.Struct)
	if !ok {
		return nil, fmt.Errorf("%s is not a struct", typeName(t))
	}
	ct, err := structType(s.Members, s.Size, false, false)
	if err != nil {
		return nil, fmt.Errorf("struct %s: %w", s.Name, err)
	}
	return ct, nil
}

func typeName(t btf.Type) string {
	if t == nil {
		return "void"
	}
	if n := t.TypeName(); n != "" {
		return fmt.Sprintf("%T %s", t, n)
	}
	return fmt.Sprintf("%T", t)
}

// fieldType returns the CTF type of a member of BTF type t and its C
// alignment in bits.
func fieldType(t btf.Type) (*ctf.Type, error) {
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		return intType(u)
	case *btf.Enum:
		return enumType(u)
	case *btf.Pointer:
		p := ctf.Hex(ctf.Uint(64))
		p.Align = 64
		return p, nil
	case *btf.Float:
		var f *ctf.Type
		switch u.Size {
		case 4:
			f = ctf.Float32()
		case 8:
			f = ctf.Float64()
		default:
			return nil, fmt.Errorf("float of %d bytes", u.Size)
		}
		f.Align = int(u.Size) * 8
		return f, nil
	case *btf.Array:
		if isChar(u.Type) {
			return ctf.Text(int(u.Nelems)), nil
		}
		elem, err := fieldType(u.Type)
		if err != nil {
			return nil, fmt.Errorf("array element: %w", err)
		}
		return ctf.Array(elem, int(u.Nelems)), nil
	case *btf.Struct:
		return structType(u.Members, u.Size, true, false)
	case *btf.Union:
		return unionType(u)
	case nil:
		return nil, errors.New("void member")
	default:
		return nil, fmt.Errorf("a %s cannot be a recorded field", typeName(t))
	}
}

// isChar reports whether t is char: arrays of it are text. Arrays of
// signed or unsigned char (__s8, __u8) stay arrays of numbers.
func isChar(t btf.Type) bool {
	i, ok := btf.UnderlyingType(t).(*btf.Int)
	return ok && i.Size == 1 && (i.Name == "char" || i.Encoding&btf.Char != 0)
}

func intType(i *btf.Int) (*ctf.Type, error) {
	if i.Encoding&btf.Bool != 0 && i.Size == 1 {
		return ctf.Bool(), nil
	}
	switch i.Size {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("integer %s of %d bytes (1, 2, 4 or 8)", i.Name, i.Size)
	}
	var t *ctf.Type
	if i.Encoding&btf.Signed != 0 {
		t = ctf.Int(int(i.Size) * 8)
	} else {
		t = ctf.Uint(int(i.Size) * 8)
	}
	t.Align = t.Size
	return t, nil
}

func enumType(e *btf.Enum) (*ctf.Type, error) {
	c, err := intType(&btf.Int{Name: e.Name, Size: e.Size, Encoding: map[bool]btf.IntEncoding{true: btf.Signed}[e.Signed]})
	if err != nil {
		return nil, err
	}
	ms := make([]ctf.EnumMapping, 0, len(e.Values))
	for _, v := range e.Values {
		n := int64(v.Value)
		if e.Signed && e.Size < 8 {
			// Sign-extend from the enum's size.
			shift := 64 - 8*e.Size
			n = n << shift >> shift
		}
		ms = append(ms, ctf.EnumMapping{Label: v.Name, Start: n, End: n})
	}
	return ctf.Enum(c, ms...), nil
}

func unionType(u *btf.Union) (*ctf.Type, error) {
	if len(u.Members) == 0 {
		return nil, errors.New("empty union")
	}
	var (
		best     *ctf.Type
		bestName string
		bestSize int
		align    = 8
	)
	for i, m := range u.Members {
		if m.BitfieldSize > 0 {
			continue
		}
		ft, err := fieldType(m.Type)
		if err != nil {
			return nil, fmt.Errorf("union member %s: %w", memberName(m, i), err)
		}
		align = max(align, ft.Alignment())
		size, err := btf.Sizeof(m.Type)
		if err != nil {
			return nil, fmt.Errorf("union member %s: %w", memberName(m, i), err)
		}
		if best == nil || size > bestSize && bestSize < int(u.Size) {
			best, bestName, bestSize = ft, memberName(m, i), size
		}
	}
	if best == nil {
		return nil, errors.New("union of bit-fields only")
	}
	fields := []ctf.Field{ctf.F(bestName, best)}
	if pad := int(u.Size) - bestSize; pad > 0 {
		fields = append(fields, ctf.F("_pad_0", ctf.Array(ctf.Uint(8), pad)))
	}
	st := ctf.Struct(fields...)
	st.MinAlign = align
	return st, nil
}

func memberName(m btf.Member, i int) string {
	if m.Name == "" {
		return fmt.Sprintf("anon%d", i)
	}
	return m.Name
}

// structType lays out members (offsets in bits) of a struct of size bytes
// as CTF fields. A nested struct (nested) gets its trailing padding as a
// field, so that the field after it is where C put it. A packed struct
// (where a member is not where its alignment would put it) is laid out
// again with every field byte aligned and every gap a padding field
// (bytePacked).
func structType(members []btf.Member, size uint32, nested, bytePacked bool) (*ctf.Type, error) {
	var (
		fields []ctf.Field
		pos    int64 // bits: where CTF puts the next field
		pads   int
	)
	pad := func(to int64) {
		if to <= pos {
			return
		}
		if pos%8 != 0 {
			n := min(to, (pos+7)/8*8) - pos
			fields = append(fields, ctf.F(fmt.Sprintf("_pad_bits_%d", pads), &ctf.Type{Kind: ctf.KindInteger, Size: int(n), Align: 1, Base: 10}))
			pads++
			pos += n
		}
		if n := (to - pos) / 8; n > 0 {
			fields = append(fields, ctf.F(fmt.Sprintf("_pad_%d", pads), ctf.Array(ctf.Uint(8), int(n))))
			pads++
			pos += n * 8
		}
		if to > pos {
			fields = append(fields, ctf.F(fmt.Sprintf("_pad_bits_%d", pads), &ctf.Type{Kind: ctf.KindInteger, Size: int(to - pos), Align: 1, Base: 10}))
			pads++
			pos = to
		}
	}
	for i, m := range members {
		name := memberName(m, i)
		off := int64(m.Offset)
		if off < pos {
			return nil, fmt.Errorf("member %s at bit %d overlaps the one before it (ends at bit %d)", name, off, pos)
		}
		if m.BitfieldSize > 0 {
			bt, err := fieldType(m.Type)
			if err != nil || bt.Kind != ctf.KindInteger && bt.Kind != ctf.KindEnum {
				return nil, fmt.Errorf("bit-field %s: not an integer", name)
			}
			pad(off)
			bf := &ctf.Type{Kind: ctf.KindInteger, Size: int(m.BitfieldSize), Align: 1, Base: 10}
			if bt.Kind == ctf.KindInteger {
				bf.Signed = bt.Signed
			} else {
				bf.Signed = bt.Container.Signed
			}
			fields = append(fields, ctf.F(name, bf))
			pos = off + int64(m.BitfieldSize)
			continue
		}
		ft, err := fieldType(m.Type)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		msize, err := btf.Sizeof(m.Type)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		if bytePacked {
			ft = byteAligned(ft)
		} else if a := int64(ft.Alignment()); off%a != 0 || alignUp(pos, a) > off {
			// The compiler put the member where its alignment would
			// not: a packed struct.
			return structType(members, size, nested, true)
		}
		if bytePacked || alignUp(pos, int64(ft.Alignment())) < off {
			pad(off)
		}
		if p := alignUp(pos, int64(ft.Alignment())); p != off {
			return nil, fmt.Errorf("member %s: cannot place it at bit %d (CTF puts it at %d)", name, off, p)
		}
		fields = append(fields, ctf.F(name, ft))
		pos = off + int64(msize)*8
	}
	if nested {
		pad(int64(size) * 8)
	}
	return ctf.Struct(fields...), nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// byteAligned returns a copy of t in which no type is aligned on more than
// a byte (bit-packed integers stay bit-packed).
func byteAligned(t *ctf.Type) *ctf.Type {
	c := *t
	switch t.Kind {
	case ctf.KindInteger, ctf.KindFloat:
		if c.Align != 1 {
			c.Align = 8
		}
	case ctf.KindEnum:
		c.Container = byteAligned(t.Container)
	case ctf.KindArray, ctf.KindSequence:
		c.Elem = byteAligned(t.Elem)
	case ctf.KindStruct, ctf.KindVariant:
		c.MinAlign = 0
		c.Fields = make([]ctf.Field, len(t.Fields))
		for i, f := range t.Fields {
			c.Fields[i] = ctf.F(f.Name, byteAligned(f.Type))
		}
	}
	return &c
}
