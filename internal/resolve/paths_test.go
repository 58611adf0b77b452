package resolve

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

func TestMapsFiles(t *testing.T) {
	maps := `55d0c5a00000-55d0c5a02000 r--p 00000000 08:01 1234   /usr/bin/uprobe_test
55d0c5a02000-55d0c5a03000 r-xp 00002000 08:01 1234   /usr/bin/uprobe_test
55d0c6000000-55d0c6021000 rw-p 00000000 00:00 0      [heap]
7f0000000000-7f0000001000 r-xp 00000000 08:01 99     /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000002000-7f0000003000 rw-p 00000000 00:00 0
7f0000004000-7f0000005000 r-xp 00000000 08:01 77     /tmp/a dir/lib with space.so
7f0000006000-7f0000007000 r-xp 00000000 08:01 78     /tmp/gone.so (deleted)
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0      [vdso]
`
	got := mapsFiles(strings.NewReader(maps))
	want := []string{"/usr/bin/uprobe_test", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/tmp/a dir/lib with space.so"}
	if !slices.Equal(got, want) {
		t.Errorf("mapsFiles = %q, want %q", got, want)
	}
}

func TestMappedPathsSelf(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	got, err := MappedPaths(pid)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("/proc/%d/root%s", pid, exe)
	if len(got) == 0 || got[0] != want {
		t.Errorf("MappedPaths(self) = %q, want %s first", got, want)
	}
	if _, err := MappedPaths(1 << 30); err == nil {
		t.Error("MappedPaths of a pid that does not exist gave no error")
	}
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryPathsGlob(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyFile(t, exe, filepath.Join(dir, "prog_a"), 0o755)
	copyFile(t, exe, filepath.Join(dir, "prog_b"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "prog_text"), []byte("not ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := BinaryPaths(filepath.Join(dir, "prog_*"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "prog_a"), filepath.Join(dir, "prog_b")}
	if !slices.Equal(got, want) {
		t.Errorf("BinaryPaths(glob) = %q, want %q", got, want)
	}
	// A relative glob keeps its "./", as glob(3) does for bpftrace.
	t.Chdir(dir)
	got, err = BinaryPaths("./prog_[ab]", 0)
	if err != nil || !slices.Equal(got, []string{"./prog_a", "./prog_b"}) {
		t.Errorf("BinaryPaths(./prog_[ab]) = %q, %v", got, err)
	}
	if got, err := BinaryPaths("./nothing*", 0); err != nil || len(got) != 0 {
		t.Errorf("BinaryPaths of a glob matching nothing = %q, %v; want none, no error", got, err)
	}
	got, err = BinaryPaths("./prog_a", 0)
	if err != nil || !slices.Equal(got, []string{"./prog_a"}) {
		t.Errorf("BinaryPaths(./prog_a) = %q, %v", got, err)
	}
}

func TestFindBinaryInMountNamespace(t *testing.T) {
	// A path not found here is looked for under the process's root
	// (which, for this process, is /: the same file).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	got, err := FindBinary(exe, pid)
	if err != nil || got != exe {
		t.Errorf("FindBinary(%s, self) = %q, %v; want the path as is", exe, got, err)
	}
	if _, err := FindBinary("/nonexistent/prog", pid); err == nil {
		t.Error("FindBinary of a path nowhere gave no error")
	}
}

// buildLocTarget builds testdata/target.c.
func buildLocTarget(t *testing.T) string {
	t.Helper()
	gcc := bpftest.RequireTool(t, "gcc")
	bin := filepath.Join(t.TempDir(), "target")
	if out, err := exec.Command(gcc, "-O1", "-o", bin, filepath.Join("testdata", "target.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

func TestUprobeOffset(t *testing.T) {
	bin := buildLocTarget(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var add3 elf.Symbol
	for _, s := range syms {
		if s.Name == "add3" {
			add3 = s
		}
	}
	var text *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			text = p
		}
	}
	f.Close()
	if add3.Size == 0 || text == nil {
		t.Fatalf("add3 %+v, text segment %v", add3, text)
	}
	want := add3.Value - text.Vaddr + text.Off

	if got, err := UprobeOffset(bin, "add3", 0, false, false); err != nil || got != want {
		t.Errorf("add3: %#x, %v; want %#x", got, err, want)
	}
	if got, err := UprobeOffset(bin, "add3", 1, false, false); err != nil || got != want+1 {
		t.Errorf("add3+1: %#x, %v; want %#x", got, err, want+1)
	}
	// An address is a virtual address, resolved to the symbol holding it.
	if got, err := UprobeOffset(bin, "", add3.Value, false, false); err != nil || got != want {
		t.Errorf("address of add3: %#x, %v; want %#x", got, err, want)
	}
	checkErr := func(what string, err error, msg string) {
		t.Helper()
		if err == nil || err.Error() != msg {
			t.Errorf("%s: %v, want %q", what, err, msg)
		}
	}
	_, err = UprobeOffset(bin, "add3", add3.Size, false, false)
	checkErr("past the end", err, fmt.Sprintf("Offset outside the function bounds ('add3' size is %d)", add3.Size))
	_, err = UprobeOffset(bin, "", 10, false, false)
	checkErr("address in no symbol", err, "Could not resolve address: "+bin+":0xa")
	_, err = UprobeOffset(bin, "add3", 1, true, false)
	checkErr("uretprobe at an offset", err, "uretprobes cannot be attached at function offset. (address resolved to: add3+1)")
	_, err = UprobeOffset(bin, "no_such_function", 0, false, false)
	if !errors.Is(err, ErrSymbolNotFound) {
		t.Errorf("missing symbol: %v, want ErrSymbolNotFound", err)
	}
	// _init has size 0: only with unsafe.
	_, err = UprobeOffset(bin, "_init", 0, false, false)
	checkErr("size 0", err, "Could not determine boundary for _init (symbol has size 0)."+hintUnsafe)
	if _, err := UprobeOffset(bin, "_init", 0, false, true); err != nil {
		t.Errorf("size 0, unsafe: %v", err)
	}
}
