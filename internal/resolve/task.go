package resolve

import (
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/internal/event"
)

var (
	kernelBTF     *btf.Spec
	kernelBTFErr  error
	kernelBTFOnce sync.Once
)

// TaskField returns a field that reads, from the current task, the member
// chain path (for instance "real_parent.tgid"), with offsets taken from the
// kernel's BTF, and how to read it.
func TaskField(name, path string) (event.Field, Read, error) {
	kernelBTFOnce.Do(func() { kernelBTF, kernelBTFErr = btf.LoadKernelSpec() })
	if kernelBTFErr != nil {
		return event.Field{}, Read{}, fmt.Errorf("kernel BTF: %w", kernelBTFErr)
	}
	var st *btf.Struct
	if err := kernelBTF.TypeByName("task_struct", &st); err != nil {
		return event.Field{}, Read{}, fmt.Errorf("kernel BTF: %w", err)
	}
	var offs []int
	parts := strings.Split(path, ".")
	for i, p := range parts {
		m, err := member(st, p)
		if err != nil {
			return event.Field{}, Read{}, err
		}
		offs = append(offs, int(m.Offset.Bytes()))
		t := btf.UnderlyingType(m.Type)
		if i < len(parts)-1 {
			ptr, ok := t.(*btf.Pointer)
			if !ok {
				return event.Field{}, Read{}, fmt.Errorf("task_struct path %s: %s is not a pointer", path, p)
			}
			s, ok := btf.UnderlyingType(ptr.Target).(*btf.Struct)
			if !ok {
				return event.Field{}, Read{}, fmt.Errorf("task_struct path %s: %s does not point to a struct", path, p)
			}
			st = s
			continue
		}
		size, err := btf.Sizeof(t)
		if err != nil || size <= 0 || size > 8 {
			return event.Field{}, Read{}, fmt.Errorf("task_struct path %s: %s is not an integer", path, p)
		}
		signed := false
		if in, ok := t.(*btf.Int); ok {
			signed = in.Encoding&btf.Signed != 0
		}
		return event.Field{Name: name, Kind: event.Int, Size: size, Signed: signed, CType: "task_struct." + path},
			Read{Src: FromTask, TaskPath: offs}, nil
	}
	return event.Field{}, Read{}, fmt.Errorf("empty task path")
}

// member finds a struct member, looking into anonymous members.
func member(st *btf.Struct, name string) (btf.Member, error) {
	for _, m := range st.Members {
		if m.Name == name {
			return m, nil
		}
		if m.Name == "" {
			if inner, ok := btf.UnderlyingType(m.Type).(*btf.Struct); ok {
				if im, err := member(inner, name); err == nil {
					im.Offset += m.Offset
					return im, nil
				}
			}
		}
	}
	name0 := st.Name
	if name0 == "" {
		name0 = "(anonymous struct)"
	}
	return btf.Member{}, fmt.Errorf("%s has no member %s%s", name0, name, closeNames(name, memberNames(st)))
}

// memberNames lists the members of st, those of anonymous members
// included.
func memberNames(st *btf.Struct) []string {
	var out []string
	for _, m := range st.Members {
		if m.Name != "" {
			out = append(out, m.Name)
		} else if inner, ok := btf.UnderlyingType(m.Type).(*btf.Struct); ok {
			out = append(out, memberNames(inner)...)
		}
	}
	return out
}
