package scriptrun

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// TestListUserProbes lists the functions of this test binary as bpftrace
// lists a binary's: by file, by glob, by wildcarded probe type, and by pid
// (the files the process maps, through /proc/PID/root).
func TestListUserProbes(t *testing.T) {
	gcc := bpftest.RequireTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "lister.c")
	code := "#include <unistd.h>\n__attribute__((noinline)) int lister_fn(int a) { return a + 1; }\nint main(void) { pause(); return lister_fn(0); }\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "lister")
	if out, err := exec.Command(gcc, "-O1", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	// Wait for the exec: the process maps bin.
	for i := 0; i < 100; i++ {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == bin {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	const fn = "lister_fn"
	inProc := fmt.Sprintf("uprobe:/proc/%d/root%s:%s", pid, bin, fn)
	tests := []struct {
		pattern string
		pid     int
		want    string
	}{
		{"uprobe:" + bin + ":" + fn, 0, "uprobe:" + bin + ":" + fn},
		{"uprobe:" + dir + "/list*:lister_*", 0, "uprobe:" + bin + ":" + fn},
		{"*:" + bin + ":lister_f*", 0, "uprobe:" + bin + ":" + fn},
		{"uprobe:*", pid, inProc},
		{"", pid, inProc},
	}
	for _, tt := range tests {
		var out, errw bytes.Buffer
		if err := List(&out, &errw, tt.pattern, ListOptions{PID: tt.pid}); err != nil {
			t.Errorf("List(%q, pid %d): %v", tt.pattern, tt.pid, err)
			continue
		}
		if !strings.Contains("\n"+out.String(), "\n"+tt.want+"\n") {
			t.Errorf("List(%q, pid %d) has no line %s:\n%.300s\n%s", tt.pattern, tt.pid, tt.want, out.String(), errw.String())
		}
	}
	// Without a pid or a file that exists, a wildcarded type lists no
	// user-space probes.
	var out, errw bytes.Buffer
	if err := List(&out, &errw, "*:"+dir+"/nothing:*", ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "uprobe:") {
		t.Errorf("user-space probes listed for a file that does not exist:\n%s", out.String())
	}
}

// TestListScript lists a script's attach points as bpftrace does: the
// unit of an interval, not its count; begin and end not at all.
func TestListScript(t *testing.T) {
	var out bytes.Buffer
	src := "begin {} interval:ms:1000 {} interval:s:1 {} interval:us:100000 {} end {}"
	if err := ListScript(&out, "x.bt", src, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "interval:ms:\ninterval:s:\ninterval:us:\n"; out.String() != want {
		t.Errorf("ListScript = %q, want %q", out.String(), want)
	}
}
