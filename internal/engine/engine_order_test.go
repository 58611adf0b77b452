package engine

import (
	"testing"

	"github.com/bpftrail/bpftrail/internal/resolve"
)

// TestAttachOrder: user-space probes are attached last to first (the
// kernel runs a uprobe's newest consumer first), the others in order.
func TestAttachOrder(t *testing.T) {
	progs := []program{
		{name: "u1", target: resolve.Target{Kind: resolve.TargetUprobe}},
		{name: "t1", target: resolve.Target{Kind: resolve.TargetTracepoint}},
		{name: "r1", target: resolve.Target{Kind: resolve.TargetUretprobe}},
		{name: "s1", target: resolve.Target{Kind: resolve.TargetUSDT}},
		{name: "t2", target: resolve.Target{Kind: resolve.TargetTracepoint}},
	}
	var got []string
	for _, p := range attachOrder(progs) {
		got = append(got, p.name)
	}
	want := []string{"t1", "t2", "s1", "r1", "u1"}
	if len(got) != len(want) {
		t.Fatalf("attachOrder = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("attachOrder = %v, want %v", got, want)
		}
	}
}
