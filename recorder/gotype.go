package recorder

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/cilium/ebpf/btf"
)

// GoEvent returns the Event of records held in values of the Go struct
// type of sample (a value or a pointer), for programs that decode records
// themselves (bpf2go's generated types, say) and write them with
// [Recorder.Write]. The layout is the Go compiler's, which for such types
// is the C compiler's: fields keep their offsets, blank fields (bpf2go's
// "_ [4]byte" padding) stay padding.
//
// Fields are named by their tag `ctf:"name"`, or else by their Go name in
// snake case (ParentPid → parent_pid). Integers, bools, floats, arrays and
// nested structs are accepted; [N]int8 (C's char, as bpf2go writes it) is
// text, and so is [N]byte tagged `ctf:",text"`. Pointers, strings, slices
// and maps have no fixed layout and are refused.
func GoEvent(name string, sample any) (Event, error) {
	t := reflect.TypeOf(sample)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return Event{}, fmt.Errorf("recorder: %v is not a struct type", t)
	}
	bt, err := goBTF(t, false)
	if err != nil {
		return Event{}, fmt.Errorf("recorder: %v: %w", t, err)
	}
	if name == "" {
		name = toSnake(t.Name())
	}
	return Event{Name: name, Type: bt, goType: t}, nil
}

// goBTF describes the Go type t as the BTF type of the same layout.
func goBTF(t reflect.Type, text bool) (btf.Type, error) {
	size := uint32(t.Size())
	switch t.Kind() {
	case reflect.Bool:
		return &btf.Int{Name: "bool", Size: 1, Encoding: btf.Bool}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		if text && t.Kind() == reflect.Int8 {
			return &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}, nil
		}
		return &btf.Int{Name: t.Name(), Size: size, Encoding: btf.Signed}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint, reflect.Uintptr:
		if text && t.Kind() == reflect.Uint8 {
			return &btf.Int{Name: "char", Size: 1}, nil
		}
		return &btf.Int{Name: t.Name(), Size: size}, nil
	case reflect.Float32, reflect.Float64:
		return &btf.Float{Name: t.Name(), Size: size}, nil
	case reflect.Array:
		// C's char is a Go int8 (bpf2go); bytes are text when tagged.
		elemText := text || t.Elem().Kind() == reflect.Int8
		elem, err := goBTF(t.Elem(), elemText)
		if err != nil {
			return nil, err
		}
		return &btf.Array{Index: &btf.Int{Name: "int", Size: 4}, Type: elem, Nelems: uint32(t.Len())}, nil
	case reflect.Struct:
		s := &btf.Struct{Name: t.Name(), Size: size}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Name == "_" || f.Type.Size() == 0 {
				continue // padding, structs.HostLayout
			}
			name, opts, _ := strings.Cut(f.Tag.Get("ctf"), ",")
			if name == "-" {
				continue // left out: its bytes are padding
			}
			if name == "" {
				name = toSnake(f.Name)
			}
			ft, err := goBTF(f.Type, opts == "text")
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			s.Members = append(s.Members, btf.Member{Name: name, Type: ft, Offset: btf.Bits(f.Offset * 8)})
		}
		return s, nil
	}
	return nil, fmt.Errorf("a Go %v has no fixed layout", t.Kind())
}

// toSnake turns a Go name into snake case: ParentPID → parent_pid.
func toSnake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i > 0 && i+1 < len(r) && unicode.IsUpper(r[i-1]) && unicode.IsLower(r[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}
