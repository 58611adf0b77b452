package main

import "testing"

// TestStageOf: a sample's stage is that of its innermost frame that names
// one: a write under the encoder is a write, not encoding.
func TestStageOf(t *testing.T) {
	const ctf, col = "github.com/bpftrail/bpftrail/ctf.", "github.com/bpftrail/bpftrail/internal/collect."
	cases := []struct {
		stack []string
		want  string
	}{
		{[]string{"syscall.Syscall", "os.(*File).Write", ctf + "(*StreamWriter).flush", ctf + "(*Encoder).Commit", col + "(*Collector).record"}, "write (flush to the file)"},
		{[]string{ctf + "(*Encoder).Raw", "github.com/bpftrail/bpftrail/internal/ctftrace.(*Writer).WriteRecord", col + "(*Collector).record"}, "CTF encode"},
		{[]string{"github.com/bpftrail/bpftrail/internal/record.(*Decoder).Decode", col + "(*Collector).record", col + "(*MapRing).batch"}, "decode"},
		{[]string{col + "(*MapRing).batch", col + "(*Collector).runMapped"}, "ring read"},
		{[]string{"github.com/cilium/ebpf.(*Map).Lookup", col + "(*Collector).readLost"}, "loss counters and polling"},
		{[]string{"github.com/cilium/ebpf/btf.LoadKernelSpec", "github.com/bpftrail/bpftrail/internal/resolve.TaskField"}, "start-up (plan, generate, load, attach)"},
		{[]string{"runtime.gcDrain", "runtime.gcBgMarkWorker"}, "Go runtime (GC, scheduler, timers)"},
		{[]string{"main.main"}, "other"},
	}
	for _, c := range cases {
		if got := stageOf(c.stack); got != c.want {
			t.Errorf("stageOf(%v) = %q, want %q", c.stack, got, c.want)
		}
	}
}
