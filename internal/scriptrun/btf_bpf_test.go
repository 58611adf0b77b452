package scriptrun_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/scriptrun"
)

// btfWorkload, run by python3, puts its task in a known state (the
// sched_reset_on_fork bit set, a TCP connection to a port of its own),
// writes what /proc and the socket API say of it to the file argv[1],
// then calls getppid, which the script watches.
const btfWorkload = `
import os, socket, sys
os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, os.sched_param(0))
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
cli = socket.create_connection(("127.0.0.1", port))
maps = len(open("/proc/self/maps").read().splitlines())
comm = open("/proc/self/comm").read().strip()
open(sys.argv[1], "w").write("%d %d %d %s %d %d\n" % (os.getpid(), os.getppid(), os.getuid(), comm, maps, port))
os.getppid()
`

// TestBPFKernelStructs: members of the kernel's structures read through
// BTF (curtask and its chains, a bitfield, mm_struct, a struct sock from a
// tracepoint's pointer, an enum by name, sizeof and offsetof) give what
// /proc, the socket API and the kernel's BTF (read here independently)
// say; so do the comm builtin and a map keyed by it, which programs read
// from the task at the offset the kernel's BTF gives.
func TestBPFKernelStructs(t *testing.T) {
	bpftest.Require(t)
	py := bpftest.RequireTool(t, "python3")
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	var task *btf.Struct
	if err := spec.TypeByName("task_struct", &task); err != nil {
		t.Fatal(err)
	}
	pidOff := -1
	for _, m := range task.Members {
		if m.Name == "pid" {
			pidOff = int(m.Offset.Bytes())
		}
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "w.py")
	facts := filepath.Join(dir, "facts")
	if err := os.WriteFile(script, []byte(btfWorkload), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ {
	printf("task %d %d %d %s %d %d\n", curtask->tgid, curtask->real_parent->tgid, curtask->cred->uid.val, curtask->comm,
		curtask->sched_reset_on_fork, curtask->mm->map_count);
	printf("sizes %d %d\n", sizeof(struct task_struct), offsetof(struct task_struct, pid));
	printf("comm %s\n", comm);
	@c[comm] = count();
}
tracepoint:sock:inet_sock_set_state /pid == cpid && args.newstate == TCP_SYN_SENT/ {
	$sk = (struct sock *)args.skaddr;
	printf("sock %d %d %d\n", bswap($sk->__sk_common.skc_dport), args.dport, $sk->__sk_common.skc_family);
}`
	var out, errOut bytes.Buffer
	err = scriptrun.Run(scriptrun.Options{Name: "stdin", Source: src, Out: &out, Err: &errOut, Quiet: true, Command: []string{py, script, facts}})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	b, err := os.ReadFile(facts)
	if err != nil {
		t.Fatalf("the workload wrote nothing: %v\nscript output:\n%s%s", err, out.String(), errOut.String())
	}
	var pid, ppid, uid, maps, port int
	var comm string
	if _, err := fmt.Sscan(string(b), &pid, &ppid, &uid, &comm, &maps, &port); err != nil {
		t.Fatalf("facts %q: %v", b, err)
	}
	var got struct {
		tgid, ptgid, uid, reset, maps int
		comm, builtin, key            string
		n                             int // printfs of comm that gave the workload's
		size, off                     int
		dport, argDport, family       int
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		switch {
		case strings.HasPrefix(l, "task "):
			fmt.Sscan(l[5:], &got.tgid, &got.ptgid, &got.uid, &got.comm, &got.reset, &got.maps)
		case strings.HasPrefix(l, "comm "):
			got.builtin = strings.TrimPrefix(l, "comm ")
			if got.builtin == comm {
				got.n++
			}
		case strings.HasPrefix(l, "@c["+comm+"]"):
			got.key = l
		case strings.HasPrefix(l, "sizes "):
			fmt.Sscan(l[6:], &got.size, &got.off)
		case strings.HasPrefix(l, "sock "):
			fmt.Sscan(l[5:], &got.dport, &got.argDport, &got.family)
		}
	}
	check := func(what string, g, w any) {
		t.Helper()
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s = %v, want %v\noutput:\n%s", what, g, w, out.String())
		}
	}
	check("curtask->tgid", got.tgid, pid)
	check("curtask->real_parent->tgid", got.ptgid, ppid)
	check("curtask->cred->uid.val", got.uid, uid)
	check("curtask->comm", got.comm, comm)
	check("comm", got.builtin, comm)
	// The shell of a wrapper exec'ed into python3 may call getppid too.
	check("@c[comm]", got.key, fmt.Sprintf("@c[%s]: %d", comm, got.n))
	check("curtask->sched_reset_on_fork (a bitfield)", got.reset, 1)
	if got.maps < maps-8 || got.maps > maps+8 {
		t.Errorf("curtask->mm->map_count = %d, /proc/self/maps has %d lines", got.maps, maps)
	}
	check("sizeof(struct task_struct)", got.size, task.Size)
	check("offsetof(struct task_struct, pid)", got.off, pidOff)
	check("bswap(sock's skc_dport)", got.dport, port)
	check("inet_sock_set_state's dport", got.argDport, port)
	check("sock's skc_family", got.family, 2) // AF_INET
}
