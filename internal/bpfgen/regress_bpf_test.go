package bpfgen_test

// Regression tests of bugs the stage tests found in the generator.

import (
	"os"
	"testing"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// wakeupProbe is sched:sched_wakeup as tracefs describes it: comm, pid
// (the thread woken up), prio and target_cpu.
func wakeupProbe() *resolve.Probe {
	return &resolve.Probe{
		Event: &event.Schema{Name: "sched:sched_wakeup", Fields: []event.Field{
			{Name: "comm", Kind: event.Text, Size: 16, CType: "char[16]"},
			{Name: "pid", Kind: event.Int, Size: 4, Signed: true, CType: "pid_t"},
			{Name: "prio", Kind: event.Int, Size: 4, Signed: true, CType: "int"},
			{Name: "target_cpu", Kind: event.Int, Size: 4, Signed: true, CType: "int"},
		}},
		Reads: []resolve.Read{
			{Src: resolve.FromContext, Offset: 8, Size: 16},
			{Src: resolve.FromContext, Offset: 24, Size: 4},
			{Src: resolve.FromContext, Offset: 28, Size: 4},
			{Src: resolve.FromContext, Offset: 32, Size: 4},
		},
		Target: resolve.Target{Kind: resolve.TargetTracepoint, Category: "sched", Event: "sched_wakeup"},
	}
}

// TestBPFRunLatencyStartOnAFieldNamedPid: runqlat starts its latencies at
// sched:sched_wakeup with --match pid,next_pid, meaning the woken
// thread's pid field. Builtins used to come first, so the start was kept
// under the header's pid, the waker's process, and the end at sched_switch
// (next_pid) never found it; a field now takes its builtin's place.
func TestBPFRunLatencyStartOnAFieldNamedPid(t *testing.T) {
	e := runEnv(t)
	thread(t, "waker")
	p := wakeupProbe()
	a := e.agg(bpfgen.Agg{Mode: bpfgen.AggEnd, Match: "pid", Scheme: hist.LogLinear{}})
	a.Mode = bpfgen.AggStart
	spec, err := bpfgen.AggProgram(p, record.Sequential(p.Event), e.maps, maxRecord, bpfgen.Options{}, a)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newCtx().u32(24, 4242)
	copy(ctx[8:], "wakee")
	run(t, load(t, spec), ctx)
	var start uint64
	if err := a.Starts.Lookup(uint64(4242), &start); err != nil {
		var k, v uint64
		for it := a.Starts.Iterate(); it.Next(&k, &v); {
			t.Logf("a start is kept for %d (the waker: this test's pid is %d)", k, os.Getpid())
		}
		t.Errorf("no start kept for the woken thread's pid 4242: %v", err)
	}
}

// TestBPFRunLinearOnUnsignedWithNegativeMin: hist.Linear is defined over
// signed values; an unsigned field compared with a negative Min as
// unsigned made every value "below Min", in the underflow bucket.
func TestBPFRunLinearOnUnsignedWithNegativeMin(t *testing.T) {
	e := runEnv(t)
	thread(t, "bpfgen-lin")
	lin := hist.Linear{Min: -50, Max: 200, Step: 25}
	a := e.agg(bpfgen.Agg{Mode: bpfgen.AggHist, Value: "u", Scheme: lin})
	snap := runAgg(t, e, valueProbe(), a, aggregate.Hist, "", newCtx().u64(8, 5), newCtx().u64(8, 100))
	want := map[int]uint64{lin.Index(5): 1, lin.Index(100): 1}
	if len(snap.Groups) != 1 {
		t.Fatalf("%d groups", len(snap.Groups))
	}
	got := snap.Groups[0].Buckets
	if len(got) != len(want) || got[lin.Index(5)] != 1 || got[lin.Index(100)] != 1 {
		t.Errorf("buckets of 5 and 100 in %v: %v, want %v", lin, got, want)
	}
}
