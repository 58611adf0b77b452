package resolve

import (
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// marshal builds raw BTF of types with cilium/ebpf's encoder.
func marshal(t *testing.T, types ...btf.Type) []byte {
	t.Helper()
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestCharArrayMember(t *testing.T) {
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
	long := &btf.Int{Name: "long", Size: 8, Encoding: btf.Signed}
	comm := &btf.Array{Index: long, Type: &btf.Typedef{Name: "ch", Type: &btf.Const{Type: char}}, Nelems: 16}
	// Decoys before the struct: a struct of another name with the
	// member, an enum and a function prototype (kinds with members).
	other := &btf.Struct{Name: "task_structure", Size: 24, Members: []btf.Member{{Name: "comm", Type: comm, Offset: 64}}}
	enum := &btf.Enum{Name: "e", Size: 4, Values: []btf.EnumValue{{Name: "A", Value: 1}, {Name: "B", Value: 2}}}
	proto := &btf.FuncProto{Return: long, Params: []btf.FuncParam{{Name: "x", Type: long}}}
	task := &btf.Struct{Name: "task_struct", Size: 4096, Members: []btf.Member{
		{Name: "pid", Type: long, Offset: 0},
		{Name: "flags", Type: long, Offset: 64, BitfieldSize: 3},
		{Name: "comm", Type: comm, Offset: 2968 * 8},
		{Name: "wide", Type: &btf.Array{Index: long, Type: long, Nelems: 16}, Offset: 3000 * 8},
	}}
	raw := marshal(t, other, enum, proto, &btf.Func{Name: "f", Type: proto, Linkage: btf.GlobalFunc}, task)
	off, err := charArrayMember(raw, "task_struct", "comm", 16)
	if err != nil || off != 2968 {
		t.Fatalf("task_struct.comm at %d, %v; want 2968", off, err)
	}
	for _, c := range []struct {
		strct, member string
		n             int
		want          string
	}{
		{"task_struct", "comm", 8, "not an array of 8"},
		{"task_struct", "wide", 16, "not an array of chars"},
		{"task_struct", "pid", 16, "not an array of 16"},
		{"task_struct", "nope", 16, "no member nope"},
		{"mm_struct", "comm", 16, "no struct mm_struct"},
	} {
		if _, err := charArrayMember(raw, c.strct, c.member, c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s.%s[%d]: %v, want an error saying %q", c.strct, c.member, c.n, err, c.want)
		}
	}
	if _, err := charArrayMember(raw[:len(raw)/2], "task_struct", "comm", 16); err == nil {
		t.Error("truncated BTF: no error")
	}
}

// TestTaskCommKernel checks the scan against cilium/ebpf's full decoding of
// the running kernel's BTF.
func TestTaskCommKernel(t *testing.T) {
	if _, err := os.Stat(KernelBTFPath); err != nil {
		t.Skip("no kernel BTF")
	}
	off, err := TaskComm()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	var st *btf.Struct
	if err := spec.TypeByName("task_struct", &st); err != nil {
		t.Fatal(err)
	}
	m, err := member(st, "comm")
	if err != nil {
		t.Fatal(err)
	}
	if want := int(m.Offset.Bytes()); off != want {
		t.Fatalf("task_struct.comm at %d, cilium/ebpf says %d", off, want)
	}
}
