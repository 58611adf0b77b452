package tracetest

import (
	"fmt"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
)

// Mix writes a trace in dir of about n events shaped like a syscall-heavy
// recording: on two CPUs whose events interleave in time, a getpid entry,
// an openat entry with a file name and its exit, and now and then a
// sched_switch. It is the input of the readers' benchmarks.
func Mix(tb testing.TB, dir string, n int) *ctf.Trace {
	tb.Helper()
	b := New(tb, dir, Tracefs, 0)
	ctx := []Ctx{{PID: 4242, TID: 4243, Comm: "bench"}, {PID: 4242, TID: 4244, Comm: "bench"}}
	ns := uint64(1000)
	for i := 0; i < n; {
		cpu := i / 3 % 2
		c := ctx[cpu]
		b.Enter(cpu, ns, c, "getpid")
		b.OpenatEnter(cpu, ns+300, c, fmt.Sprintf("/nonexistent/usr/lib/bench-%d.conf", i%64*7919))
		b.OpenatExit(cpu, ns+1700, c, -2)
		i += 3
		if i%300 == 0 {
			b.Switch(cpu, ns+1800, c, 1, ctx[1-cpu])
			i++
		}
		ns += 1000
	}
	return b.Close()
}
