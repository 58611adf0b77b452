package analyze_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/analyze/tracetest"
)

// recorder keeps what a walk hands its consumers, as text, in order.
type recorder struct {
	log   []string
	start int64
}

func (r *recorder) Start(ns int64) { r.start = ns }

func (r *recorder) Event(e *analyze.Event) {
	th := "-"
	if e.Thread != nil {
		th = fmt.Sprintf("%d/%d %s", e.Thread.PID, e.Thread.TID, e.Thread.Comm)
	}
	r.log = append(r.log, fmt.Sprintf("ev %d @%d cpu %d %s by %s", e.Index, e.Ns-r.start, e.CPU, e.Class.Name, th))
}

func (r *recorder) Interval(iv analyze.Interval) {
	at := int64(-1)
	if iv.At != nil {
		at = iv.At.Index
	}
	s := fmt.Sprintf("iv %d %s %d-%d ev %d-%d at %d", iv.TID, iv.State, iv.Start-r.start, iv.End-r.start, iv.StartEv, iv.EndEv, at)
	switch iv.State {
	case analyze.StateRunning:
		s += fmt.Sprintf(" cpu %d", iv.CPU)
	case analyze.StateBlocked:
		s += fmt.Sprintf(" woken %v", iv.Woken)
	}
	r.log = append(r.log, s)
}

func (r *recorder) Syscall(p *analyze.SyscallPair) {
	s := fmt.Sprintf("sys %s %d/%d %s %d-%d ev %d-%d", p.Name, p.PID, p.TID, p.End, p.StartNs-r.start, p.EndNs-r.start, p.Entry, p.Exit)
	if p.HasRet {
		s += fmt.Sprintf(" ret %d", p.Ret)
	}
	r.log = append(r.log, s)
}

func TestWalkSyscallPairs(t *testing.T) {
	for _, layout := range []tracetest.Layout{tracetest.Tracefs, tracetest.LTTng} {
		t.Run(layout.String(), func(t *testing.T) {
			b := tracetest.New(t, filepath.Join(t.TempDir(), "trace"), layout, 0)
			b.Enter(0, 100, a10, "read")    // ev 0: completed by ev 1
			b.Exit(0, 200, a10, "read", 5)  // ev 1
			b.Enter(0, 300, a10, "read")    // ev 2: abandoned by ev 3
			b.Enter(0, 400, a10, "write")   // ev 3: abandoned by ev 4, another syscall's exit
			b.Exit(0, 500, a10, "read", -4) // ev 4: its entry is missing
			b.Exit(1, 550, b20, "futex", 0) // ev 5: exit without entry
			b.Enter(1, 600, b20, "futex")   // ev 6: unfinished
			b.Enter(0, 700, a11, "read")    // ev 7: another thread of pid 10, unfinished
			r := &recorder{}
			w, err := analyze.Walk(b.Close(), r)
			if err != nil {
				t.Fatal(err)
			}
			var pairs []string
			for _, l := range r.log {
				if l[:3] == "sys" {
					pairs = append(pairs, l)
				}
			}
			want := []string{
				"sys read 10/10 completed 0-100 ev 0-1 ret 5",
				"sys read 10/10 exit missing 200-300 ev 2--1",
				"sys write 10/10 exit missing 300-400 ev 3--1",
				"sys read 10/10 entry missing 400-400 ev -1-4 ret -4",
				"sys futex 20/20 entry missing 450-450 ev -1-5 ret 0",
				"sys read 10/11 unfinished 600-600 ev 7--1", // open pairs end in thread order
				"sys futex 20/20 unfinished 500-600 ev 6--1",
			}
			if d := cmp.Diff(want, pairs); d != "" {
				t.Errorf("pairs (-want +got):\n%s", d)
			}
			// A pair ended by an event comes before that event.
			if r.log[1] != want[0] || r.log[2][:7] != "ev 1 @1" {
				t.Errorf("order: %q", r.log[:3])
			}
			if w.Events != 8 || w.EndNs-w.StartNs != 600 || len(w.Threads) != 3 {
				t.Errorf("walked %+v", w)
			}
		})
	}
}

// TestWalkIntervals checks the intervals, their events and the order in
// which they are handed over, with lost switch-outs and a CPU whose first
// event is not a switch.
func TestWalkIntervals(t *testing.T) {
	b := tracetest.New(t, filepath.Join(t.TempDir(), "trace"), tracetest.Tracefs, 0)
	b.Exec(0, 100, a10, "/bin/alpha")  // ev 0: CPU 0 starts, alpha runs since 100
	b.Switch(1, 150, idle, 0, b20)     // ev 1: CPU 1 starts with a switch: beta runs
	b.Switch(0, 200, a10, 1, c30)      // ev 2: alpha sleeps, gamma runs
	b.Wakeup(1, 300, b20, a10)         // ev 3: beta wakes alpha
	b.Switch(1, 400, a11, 1, a10)      // ev 4: beta's switch-out was lost: its run ends here
	b.Switch(0, 500, c30, 0x100, a10)  // ev 5: alpha on CPU 0 while on CPU 1: its switch-out there was lost
	b.Switch(0, 600, a10, 0x20, idle)  // ev 6: alpha exits
	b.Switch(1, 700, b20, 0, a11)      // ev 7: alpha-w runs without a recorded wake-up
	b.Exec(1, 800, a11, "/bin/worker") // ev 8: the end
	r := &recorder{}
	if _, err := analyze.Walk(b.Close(), r); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ev 0 @0 cpu 0 sched:sched_process_exec by 10/10 alpha",
		"ev 1 @50 cpu 1 sched:sched_switch by 0/0 swapper/0",
		"iv 10 Running 0-100 ev -1-2 at 2 cpu 0",
		"ev 2 @100 cpu 0 sched:sched_switch by 10/10 alpha",
		"iv 10 Blocked 100-200 ev 2-3 at 3 woken true",
		"ev 3 @200 cpu 1 sched:sched_wakeup by 20/20 beta",
		"iv 20 Running 50-300 ev 1-4 at 4 cpu 1",
		"iv 10 Runnable 200-300 ev 3-4 at 4",
		"ev 4 @300 cpu 1 sched:sched_switch by 10/11 alpha-w",
		"iv 30 Running 100-400 ev 2-5 at 5 cpu 0",
		"iv 10 Running 300-400 ev 4-5 at 5 cpu 1",
		"ev 5 @400 cpu 0 sched:sched_switch by 30/30 gamma",
		"iv 10 Running 400-500 ev 5-6 at 6 cpu 0",
		"ev 6 @500 cpu 0 sched:sched_switch by 10/10 alpha",
		"iv 11 Blocked 300-600 ev 4-7 at 7 woken false",
		"ev 7 @600 cpu 1 sched:sched_switch by 20/20 beta",
		"ev 8 @700 cpu 1 sched:sched_process_exec by 10/11 alpha-w",
		"iv 11 Running 600-700 ev 7--1 at -1 cpu 1",
		"iv 20 Runnable 600-700 ev 7--1 at -1",
		"iv 30 Runnable 400-700 ev 5--1 at -1",
	}
	if d := cmp.Diff(want, r.log); d != "" {
		t.Errorf("walk (-want +got):\n%s", d)
	}
}
