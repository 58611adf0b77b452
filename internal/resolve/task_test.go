package resolve_test

import (
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// kernelBTF returns the kernel's BTF; it skips the test when the kernel
// has none, and fails it under CI=true.
func kernelBTF(t *testing.T) *btf.Spec {
	t.Helper()
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		if bpftest.InCI() {
			t.Fatalf("no kernel BTF (CI=true: the BTF tests must run here): %v", err)
		}
		t.Skipf("no kernel BTF: %v", err)
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// memberOffset finds a member of st, also inside its anonymous members, by
// walking the BTF types directly.
func memberOffset(t *testing.T, st *btf.Struct, name string) (btf.Member, int) {
	t.Helper()
	var find func(members []btf.Member, base int) (btf.Member, int, bool)
	find = func(members []btf.Member, base int) (btf.Member, int, bool) {
		for _, m := range members {
			off := base + int(m.Offset.Bytes())
			if m.Name == name {
				return m, off, true
			}
			if m.Name == "" {
				switch in := btf.UnderlyingType(m.Type).(type) {
				case *btf.Struct:
					if mm, o, ok := find(in.Members, off); ok {
						return mm, o, true
					}
				case *btf.Union:
					if mm, o, ok := find(in.Members, off); ok {
						return mm, o, true
					}
				}
			}
		}
		return btf.Member{}, 0, false
	}
	m, off, ok := find(st.Members, 0)
	if !ok {
		t.Fatalf("%s has no member %s", st.Name, name)
	}
	return m, off
}

func structOf(t *testing.T, spec *btf.Spec, name string) *btf.Struct {
	t.Helper()
	var st *btf.Struct
	if err := spec.TypeByName(name, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTaskField(t *testing.T) {
	spec := kernelBTF(t)
	task := structOf(t, spec, "task_struct")
	_, parentOff := memberOffset(t, task, "real_parent")
	_, tgidOff := memberOffset(t, task, "tgid")
	_, pidOff := memberOffset(t, task, "pid")
	mm := structOf(t, spec, "mm_struct")
	_, mmOff := memberOffset(t, task, "mm")
	_, mapCountOff := memberOffset(t, mm, "map_count")
	_, prioOff := memberOffset(t, task, "prio")
	_, flagsOff := memberOffset(t, task, "flags")

	tests := []struct {
		name, path string
		want       event.Field
		read       resolve.Read
	}{
		{"ppid", "real_parent.tgid",
			event.Field{Name: "ppid", Kind: event.Int, Size: 4, Signed: true, CType: "task_struct.real_parent.tgid"},
			resolve.Read{Src: resolve.FromTask, TaskPath: []int{parentOff, tgidOff}}},
		{"tid", "pid",
			event.Field{Name: "tid", Kind: event.Int, Size: 4, Signed: true, CType: "task_struct.pid"},
			resolve.Read{Src: resolve.FromTask, TaskPath: []int{pidOff}}},
		{"pprio", "real_parent.prio",
			event.Field{Name: "pprio", Kind: event.Int, Size: 4, Signed: true, CType: "task_struct.real_parent.prio"},
			resolve.Read{Src: resolve.FromTask, TaskPath: []int{parentOff, prioOff}}},
		{"task_flags", "flags",
			event.Field{Name: "task_flags", Kind: event.Int, Size: 4, CType: "task_struct.flags"},
			resolve.Read{Src: resolve.FromTask, TaskPath: []int{flagsOff}}},
		{"maps", "mm.map_count",
			event.Field{Name: "maps", Kind: event.Int, Size: 4, Signed: true, CType: "task_struct.mm.map_count"},
			resolve.Read{Src: resolve.FromTask, TaskPath: []int{mmOff, mapCountOff}}},
		{"gppid", "real_parent.real_parent.tgid",
			event.Field{Name: "gppid", Kind: event.Int, Size: 4, Signed: true, CType: "task_struct.real_parent.real_parent.tgid"},
			resolve.Read{Src: resolve.FromTask, TaskPath: []int{parentOff, parentOff, tgidOff}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, r, err := resolve.TaskField(tt.name, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, f); diff != "" {
				t.Errorf("field (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.read, r); diff != "" {
				t.Errorf("read (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTaskFieldErrors(t *testing.T) {
	kernelBTF(t)
	tests := []struct {
		path string
		want string
	}{
		{"nosuch", "task_struct has no member nosuch"},
		{"real_parent.nosuch", "has no member nosuch"},
		{"pid.tgid", "task_struct path pid.tgid: pid is not a pointer"},
		{"comm", "task_struct path comm: comm is not an integer"},
		{"real_parent.comm", "task_struct path real_parent.comm: comm is not an integer"},
		{"", "task_struct has no member "},
		{"real_parent.", "task_struct has no member "},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, r, err := resolve.TaskField("x", tt.path)
			if err == nil {
				t.Fatalf("TaskField(%q) = %+v, %+v; want an error", tt.path, f, r)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestTaskFieldsThroughSpecs(t *testing.T) {
	kernelBTF(t)
	var calls int
	ps, err := resolve.Specs(openFixtures(&calls), []string{"sched:sched_process_exec", "profile:hz:99"}, resolve.Options{
		Stack:      "kernel",
		TaskFields: []resolve.TaskFieldSpec{{Name: "ppid", Path: "real_parent.tgid"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		n := len(p.Event.Fields)
		if n < 2 || p.Event.Fields[n-2].Name != "kstack" || p.Event.Fields[n-1].Name != "ppid" ||
			p.Reads[n-1].Src != resolve.FromTask || p.Reads[n-2].Src != resolve.FromKernelStack {
			t.Errorf("%s: last fields %v, want kstack then ppid", p.Event.Name, p.Event.Fields)
		}
	}
	_, err = resolve.Specs(openFixtures(&calls), []string{"sched:sched_switch"}, resolve.Options{
		TaskFields: []resolve.TaskFieldSpec{{Name: "x", Path: "nosuch"}},
	})
	if err == nil || !strings.Contains(err.Error(), "no member nosuch") {
		t.Errorf("Specs with a bad task field = %v", err)
	}
}
