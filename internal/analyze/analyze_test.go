package analyze_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/analyze/tracetest"
)

var (
	idle = tracetest.Ctx{PID: 0, TID: 0, Comm: "swapper/0"}
	a10  = tracetest.Ctx{PID: 10, TID: 10, Comm: "alpha"}
	a11  = tracetest.Ctx{PID: 10, TID: 11, Comm: "alpha-w"}
	b20  = tracetest.Ctx{PID: 20, TID: 20, Comm: "beta"}
	c30  = tracetest.Ctx{PID: 30, TID: 30, Comm: "gamma"}
)

// states is what a test expects of a thread: running, runnable, blocked ns.
type states struct{ Running, Runnable, Blocked int64 }

func TestSchedStates(t *testing.T) {
	tests := []struct {
		name    string
		build   func(b *tracetest.Builder)
		threads map[int]states
		busy    map[int]int64 // per CPU
		procs   map[int]int64 // running ns per pid
	}{
		{
			name: "preempt-block-wake",
			build: func(b *tracetest.Builder) {
				b.Exec(0, 1000, a10, "/bin/alpha") // CPU 0's first event: alpha runs since 1000
				b.Switch(0, 2000, a10, 0, b20)     // alpha preempted (R)
				b.Switch(0, 5000, b20, 1, a10)     // beta sleeps (S)
				b.Wakeup(0, 6000, a10, b20)        // beta woken: runnable
				b.Switch(0, 9000, a10, 0x100, b20) // alpha preempted (R+, TASK_REPORT_MAX)
				b.Exec(0, 10000, b20, "/bin/beta") // trace end
			},
			threads: map[int]states{
				10: {Running: 1000 + 4000, Runnable: 3000 + 1000},
				20: {Running: 3000 + 1000, Runnable: 3000, Blocked: 1000},
			},
			busy:  map[int]int64{0: 9000},
			procs: map[int]int64{10: 5000, 20: 4000},
		},
		{
			name: "two-cpus-migration-idle",
			build: func(b *tracetest.Builder) {
				b.Exec(0, 100, a10, "/bin/alpha")   // CPU 0 starts at 100
				b.Exec(1, 500, c30, "/bin/gamma")   // CPU 1 starts at 500
				b.Switch(0, 1000, a10, 1, idle)     // alpha sleeps, CPU 0 idle
				b.Switch(1, 1500, c30, 0, a10)      // alpha runs on CPU 1 (its wake-up was not recorded)
				b.Switch(1, 2500, a10, 2, c30)      // alpha sleeps (D)
				b.Wakeup(0, 3000, idle, a10)        // woken from idle
				b.Switch(0, 3500, idle, 0, a10)     // alpha runs on CPU 0
				b.Exec(1, 4000, c30, "/bin/gamma2") // trace end
			},
			threads: map[int]states{
				10: {Running: 900 + 1000 + 500, Blocked: 500 + 500, Runnable: 500},
				30: {Running: 1000 + 1500, Runnable: 1000},
			},
			busy:  map[int]int64{0: 900 + 500, 1: 3500},
			procs: map[int]int64{10: 2400, 30: 2500},
		},
		{
			name: "threads-of-a-process-and-exit",
			build: func(b *tracetest.Builder) {
				b.OpenatEnter(0, 0, a10, "/etc/x") // CPU 0 starts at 0
				b.Switch(0, 100, a10, 1, a11)      // alpha sleeps in openat
				b.Wakeup(0, 150, a11, a10)         // worker wakes it
				b.Switch(0, 400, a11, 0x20, a10)   // worker exits (Z): no more states
				b.OpenatExit(0, 450, a10, 3)       //
				b.Switch(0, 700, a10, 1, b20)      // alpha sleeps
				b.Exec(0, 1000, b20, "/bin/beta")  // end
			},
			threads: map[int]states{
				10: {Running: 100 + 300, Blocked: 50 + 300, Runnable: 250},
				11: {Running: 300},
				20: {Running: 300},
			},
			busy:  map[int]int64{0: 1000},
			procs: map[int]int64{10: 700, 20: 300},
		},
	}
	for _, tt := range tests {
		for _, layout := range []tracetest.Layout{tracetest.Tracefs, tracetest.LTTng} {
			t.Run(tt.name+"/"+layout.String(), func(t *testing.T) {
				b := tracetest.New(t, filepath.Join(t.TempDir(), "trace"), layout, 0)
				tt.build(b)
				r, err := analyze.Run(b.Close())
				if err != nil {
					t.Fatal(err)
				}
				got := map[int]states{}
				for _, th := range r.Threads {
					got[th.TID] = states{th.RunningNs, th.RunnableNs, th.BlockedNs}
				}
				if d := cmp.Diff(tt.threads, got); d != "" {
					t.Errorf("thread states (-want +got):\n%s", d)
				}
				busy := map[int]int64{}
				for _, s := range r.Streams {
					busy[s.CPU] = s.BusyNs
				}
				if d := cmp.Diff(tt.busy, busy); d != "" {
					t.Errorf("busy per CPU (-want +got):\n%s", d)
				}
				procs := map[int]int64{}
				for _, p := range r.Processes {
					procs[p.PID] = p.RunningNs
				}
				if d := cmp.Diff(tt.procs, procs); d != "" {
					t.Errorf("CPU time per process (-want +got):\n%s", d)
				}
				if want := map[string]string{tracetest.Tracefs.String(): "tracefs", tracetest.LTTng.String(): "lttng-kernel"}[layout.String()]; r.Layout != want {
					t.Errorf("layout %q, want %q", r.Layout, want)
				}
			})
		}
	}
}

func TestSyscallsFilesLosses(t *testing.T) {
	for _, layout := range []tracetest.Layout{tracetest.Tracefs, tracetest.LTTng} {
		t.Run(layout.String(), func(t *testing.T) {
			b := tracetest.New(t, filepath.Join(t.TempDir(), "trace"), layout, 0)
			b.Stream(1)
			ns := uint64(1000)
			// alpha: 100 openat calls of 1..100 µs, on /etc/a (odd) and /etc/b (even).
			for i := 1; i <= 100; i++ {
				f := "/etc/a"
				if i%2 == 0 {
					f = "/etc/b"
				}
				b.OpenatEnter(0, ns, a10, f)
				ret := int64(3)
				if i%10 == 0 {
					ret = -2
				}
				b.OpenatExit(0, ns+uint64(i)*1000, a10, ret)
				ns += 200_000
			}
			b.OpenatExit(1, 500, b20, 4)        // exit without entry: counted, no latency
			b.OpenatEnter(1, ns, b20, "/etc/b") // entry without exit
			b.Discard(1, 7, ns+10)
			r, err := analyze.Run(b.Close())
			if err != nil {
				t.Fatal(err)
			}
			want := []analyze.Syscall{
				{Name: "openat", PID: 10, Comm: "alpha", Count: 100, Completed: 100, Errors: 10,
					TotalNs: 5050 * 1000, MinNs: 1000, P50Ns: 50_000, P90Ns: 90_000, P99Ns: 99_000, MaxNs: 100_000},
				{Name: "openat", PID: 20, Comm: "beta", Count: 2, Errors: 0},
			}
			if d := cmp.Diff(want, r.Syscalls); d != "" {
				t.Errorf("syscalls (-want +got):\n%s", d)
			}
			wantFiles := []analyze.File{{"/etc/b", 51}, {"/etc/a", 50}}
			if d := cmp.Diff(wantFiles, r.Files); d != "" {
				t.Errorf("files (-want +got):\n%s", d)
			}
			var lost uint64
			for _, s := range r.Streams {
				if s.CPU == 1 {
					lost = s.Discarded
				}
			}
			if lost != 7 || r.Events != 202 {
				t.Errorf("discarded on CPU 1 = %d, want 7; events %d, want 202", lost, r.Events)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		in   []int64
		p    float64
		want int64
	}{
		{nil, 50, 0},
		{[]int64{5}, 99, 5},
		{[]int64{1, 2, 3, 4}, 50, 2},
		{[]int64{1, 2, 3, 4}, 99, 4},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
	}
	for _, tt := range tests {
		if got := analyze.Percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %d, want %d", tt.in, tt.p, got, tt.want)
		}
	}
}
