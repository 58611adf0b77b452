package scriptrun

import (
	"fmt"
	"io"
	"os"
)

// Info prints the features bpftrail supports on this kernel, in
// bpftrace's --info layout (its test harness reads the "name: yes" lines).
func Info(w io.Writer) error {
	_, errKprobe := os.Stat("/sys/bus/event_source/devices/kprobe/type")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	_, errBTF := os.Stat("/sys/kernel/btf/vmlinux")
	_, err := fmt.Fprintf(w, `System
  OS: Linux
  Arch: %s

Build
  version: bpftrail
  LLVM: none (BPF generated in Go)

Kernel features
  kprobe: %s
  kprobe_multi: no
  kprobe_session: no
  uprobe: yes
  uprobe_multi: no
  uprobe refcount (depends on Build:bcc bpf_attach_uprobe refcount): yes
  tracepoint: yes
  perf_event: yes
  fentry: no
  iter: no
  btf: %s
  module btf: no
  map_ringbuf: yes
  prog_test_run: yes
  Loop support: yes
  lookup_percpu_elem: no
  get_func_ip: no
  libdw (DWARF support): no
`, arch(), yes(errKprobe == nil), yes(errBTF == nil))
	return err
}
