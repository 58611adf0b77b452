package chrome_test

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/sink/chrome"
)

// writeBig writes n events over 2 CPUs shaped like a busy -a recording:
// per CPU, rounds of sched_wakeup, sched_switch, openat entry and exit, and
// a read entry and exit, across 200 threads of 20 processes.
func writeBig(tb testing.TB, dir string, n int) {
	tb.Helper()
	w, err := ctf.Create(dir, ctf.Options{Hostname: "bench", Clock: func() uint64 { return 1000 },
		ClockOffset: 1_764_000_000_000_000_000, ClockUUID: "00000000-0000-0000-0000-000000000000",
		EventContext: ctftrace.ContextType()})
	if err != nil {
		tb.Fatal(err)
	}
	add := func(name string, t *ctf.Type) *ctf.EventClass {
		ec, err := w.AddEventClass(name, t)
		if err != nil {
			tb.Fatal(err)
		}
		return ec
	}
	sw := add("sched:sched_switch", ctf.Struct(
		ctf.F("_prev_comm", ctf.Text(16)), ctf.F("_prev_pid", ctf.Int(32)), ctf.F("_prev_prio", ctf.Int(32)),
		ctf.F("_prev_state", ctf.Int(64)), ctf.F("_next_comm", ctf.Text(16)), ctf.F("_next_pid", ctf.Int(32)),
		ctf.F("_next_prio", ctf.Int(32))))
	wk := add("sched:sched_wakeup", ctf.Struct(
		ctf.F("_comm", ctf.Text(16)), ctf.F("_pid", ctf.Int(32)), ctf.F("_prio", ctf.Int(32)), ctf.F("_target_cpu", ctf.Int(32))))
	ent := add("syscalls:sys_enter_openat", ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_dfd", ctf.Int(64)),
		ctf.F("_filename", ctf.String()), ctf.F("_flags", ctf.Int(64)), ctf.F("_mode", ctf.Uint(64))))
	ext := add("syscalls:sys_exit_openat", ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_ret", ctf.Int(64))))
	rent := add("syscalls:sys_enter_read", ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_fd", ctf.Uint(64)),
		ctf.F("_buf", ctf.Hex(ctf.Uint(64))), ctf.F("_count", ctf.Uint(64))))
	rext := add("syscalls:sys_exit_read", ctf.Struct(ctf.F("___syscall_nr", ctf.Int(32)), ctf.F("_ret", ctf.Int(64))))
	const threads = 200
	comm := func(tid int) []byte {
		b := make([]byte, 16)
		copy(b, "worker-"+strconv.Itoa(tid%20))
		return b
	}
	comms := make([][]byte, threads)
	for i := range comms {
		comms[i] = comm(i)
	}
	file := []byte("/usr/lib/x86_64-linux-gnu/libexample.so.1")
	for cpu := 0; cpu < 2; cpu++ {
		s, err := w.Stream(cpu)
		if err != nil {
			tb.Fatal(err)
		}
		ts := uint64(2000)
		cur := cpu // threads cpu, cpu+2, ... run on this CPU
		for i := 0; i < n/2; {
			next := (cur + 2) % threads
			pid, npid := int32(1000+cur%20), int32(1000+next%20)
			tid, ntid := int32(1000+cur), int32(1000+next)
			ctx := func(e *ctf.Encoder) *ctf.Encoder { return e.I32(pid).I32(tid).CString(comms[cur]) }
			ctx(s.Begin(ent, ts)).I32(257).I64(-100).CString(file).I64(0).U64(0).Commit()
			ctx(s.Begin(ext, ts+1500)).I32(257).I64(3).Commit()
			ctx(s.Begin(rent, ts+2000)).I32(0).U64(3).U64(0x7fff0000).U64(4096).Commit()
			ctx(s.Begin(rext, ts+2600)).I32(0).I64(4096).Commit()
			ctx(s.Begin(wk, ts+3000)).Raw(comms[next]).I32(ntid).I32(120).I32(int32(cpu)).Commit()
			state := int64(1)
			if i%3 == 0 {
				state = 0
			}
			ctx(s.Begin(sw, ts+4000)).Raw(comms[cur]).I32(tid).I32(120).I64(state).Raw(comms[next]).I32(ntid).I32(120).Commit()
			_ = npid
			cur = next
			ts += 5000
			i += 6
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// peakHeap samples HeapInuse every ms until stop is called.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// BenchmarkConvertChrome converts a 1M-event trace (BENCH_EVENTS to
// change it) to Chrome JSON, reporting events/s and the peak heap in use.
func BenchmarkConvertChrome(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := filepath.Join(b.TempDir(), "trace")
	writeBig(b, dir, n)
	tr, err := ctf.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	stop := peakHeap()
	b.ReportAllocs()
	b.ResetTimer()
	var events, written uint64
	for i := 0; i < b.N; i++ {
		st, err := chrome.Convert(io.Discard, tr)
		if err != nil {
			b.Fatal(err)
		}
		events += st.Events
		written += st.Written
	}
	b.StopTimer()
	peak := stop()
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(written)/float64(b.N), "chrome-events/op")
	b.ReportMetric(float64(peak)/(1<<20), "peakMiB")
}
