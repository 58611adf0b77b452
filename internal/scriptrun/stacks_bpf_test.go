package scriptrun_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/scriptrun"
)

// stackWorkload calls getpid from inner through outer, three times, and
// passes outer's address to take(): its stacks and symbols are known.
const stackWorkload = `#include <unistd.h>
#include <sys/syscall.h>
__attribute__((noinline)) void take(void (*f)(void)) { (void)f; }
__attribute__((noinline)) void inner(void) { syscall(SYS_getpid); }
__attribute__((noinline)) void outer(void) { inner(); }
int main(void) { for (int i = 0; i < 3; i++) { outer(); take(outer); usleep(20000); } return 0; }
`

// TestBPFStacksAndSymbols: ustack and kstack, printed and as map keys,
// usym and ksym, kaddr, bswap and strftime, on a workload whose stacks and
// symbols are known.
func TestBPFStacksAndSymbols(t *testing.T) {
	bpftest.Require(t)
	cc := bpftest.RequireTool(t, "gcc")
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "w.c"), filepath.Join(dir, "stackw")
	if err := os.WriteFile(src, []byte(stackWorkload), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-O0", "-fno-omit-frame-pointer", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	prog := `tracepoint:syscalls:sys_enter_getpid /comm == "stackw"/ { printf("U%sK%s", ustack(3), kstack(8)); @k[kstack(2)] = count(); }
uprobe:` + bin + `:take { printf("usym %s\n", usym(arg0)); }
END { printf("ksym %s bswap %x year %s\n", ksym(kaddr("vfs_read")), bswap((uint32)0x11223344), strftime("%Y", nsecs)); }`
	var out, errOut bytes.Buffer
	if err := scriptrun.Run(scriptrun.Options{Name: "stdin", Source: prog, Out: &out, Err: &errOut, Quiet: true, Command: []string{bin}}); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	text := out.String()
	// ustack: the libc wrapper, then outer (inner's frame has no frame
	// pointer of its own at the syscall) and main, each as name+offset.
	ustack := regexp.MustCompile(`U\n        syscall\+\d+\n        outer\+\d+\n        main\+\d+\nK\n`)
	if n := len(ustack.FindAllString(text, -1)); n != 3 {
		t.Errorf("%d user stacks through outer and main, want 3:\n%s", n, text)
	}
	if !regexp.MustCompile(`\n        do_syscall_64\+\d+\n`).MatchString(text) {
		t.Errorf("no kernel stack through do_syscall_64:\n%s", text)
	}
	if strings.Count(text, "usym outer\n") != 3 {
		t.Errorf("usym(arg0) of take(outer) is not outer three times:\n%s", text)
	}
	year := strconv.Itoa(time.Now().Year())
	if !strings.Contains(text, "ksym vfs_read bswap 44332211 year "+year+"\n") {
		t.Errorf("ksym(kaddr), bswap or strftime:\n%s", text)
	}
	// A stack as a map key prints as bpftrace prints it.
	if !regexp.MustCompile(`@k\[\n        \S+\+\d+\n        \S+\+\d+\n\]: 3\n`).MatchString(text) {
		t.Errorf("@k[kstack(2)] is not one key counted 3 times:\n%s", text)
	}
}
