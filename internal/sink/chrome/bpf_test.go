package chrome_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// TestBPFConvertMatchesAnalyze records a real workload with bpftrail,
// converts it with "bpftrail convert" and checks that the running time of
// every thread in the Chrome JSON (state tracks and CPU tracks) equals what
// "bpftrail analyze --json" reports for the same trace.
func TestBPFConvertMatchesAnalyze(t *testing.T) {
	bpftest.Require(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bpftrail")
	if err := bpftest.Build("github.com/bpftrail/bpftrail/cmd/bpftrail", bin, true); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("bpftrail %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	for _, preset := range []bool{false, true} {
		name := "tracefs"
		if preset {
			name = "lttng"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(tmp, name)
			args := []string{"record", "-o", dir, "-a", "-d", "1500ms"}
			if preset {
				args = append(args, "--preset", "kernel")
			} else {
				args = append(args, "-e", "sched:sched_switch", "-e", "sched:sched_wakeup", "-e", "syscall:openat", "-e", "syscall:read")
			}
			// A workload that sleeps, opens files and spins while recording.
			work := exec.Command("sh", "-c", `end=$(($(date +%s)+3)); while [ $(date +%s) -lt $end ]; do cat /etc/hostname >/dev/null; sleep 0.01; done`)
			if err := work.Start(); err != nil {
				t.Fatal(err)
			}
			defer work.Wait()
			defer work.Process.Kill()
			run(args...)
			out := filepath.Join(tmp, name+".json")
			run("convert", dir, "--to", "chrome", "-o", out)
			var r analyze.Report
			if err := json.Unmarshal(run("analyze", "--json", dir), &r); err != nil {
				t.Fatal(err)
			}
			if r.Switches == 0 {
				t.Fatal("no sched_switch recorded")
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			events := checkChrome(t, b)
			want := map[int]int64{}
			for _, th := range r.Threads {
				if th.RunningNs > 0 {
					want[th.TID] = th.RunningNs
				}
			}
			for what, got := range map[string]map[int]int64{"state tracks": runningPerThread(events), "CPU tracks": cpuPerThread(events)} {
				bad := 0
				for tid, ns := range want {
					if got[tid] != ns && bad < 10 {
						t.Errorf("%s: thread %d ran %d ns, analyze says %d", what, tid, got[tid], ns)
						bad++
					}
				}
				if len(got) != len(want) {
					t.Errorf("%s: %d threads ran, analyze says %d", what, len(got), len(want))
				}
			}
			t.Logf("%d events, %d threads ran, %d Chrome events", r.Events, len(want), len(events))
		})
	}
}
