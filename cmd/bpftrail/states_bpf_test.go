package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBPFStatesAgree records the scheduler of the whole system while the
// workload sleeps on two CPUs in turn, then reads the trace with the built
// bpftrail three ways: analyze --json, convert --to chrome and report (its
// view data). Every thread's running, runnable and blocked time must be the
// same to the nanosecond in all three.
func TestBPFStatesAgree(t *testing.T) {
	setup(t)
	dir := filepath.Join(t.TempDir(), "trace")
	recordWait(t, "-q", "-e", "sched:sched_switch", "-e", "sched:sched_wakeup", "-e", "sched:sched_wakeup_new",
		"-a", "-o", dir, "--", workloadBn, "sleep", "20@0", "20@1", "20@0", "20@1")
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(bpftrailBn, args...).Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("bpftrail %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	analyzed := run("analyze", "--json", dir)
	converted := filepath.Join(t.TempDir(), "trace.json")
	run("convert", dir, "--to", "chrome", "-o", converted)
	run("report", dir, "-o", filepath.Join(t.TempDir(), "report.html"))
	chromeJSON, err := os.ReadFile(converted)
	if err != nil {
		t.Fatal(err)
	}
	got := checkStatesAgree(t, analyzed, chromeJSON, dir)
	var total states
	for _, s := range got {
		total.Running += s.Running
		total.Runnable += s.Runnable
		total.Blocked += s.Blocked
	}
	// The workload slept: something blocked, and something ran.
	if len(got) < 2 || total.Running == 0 || total.Blocked == 0 {
		t.Errorf("%d threads, states %+v: the recording holds no scheduling", len(got), total)
	}
	t.Logf("%d threads; running %d ns, runnable %d ns, blocked %d ns", len(got), total.Running, total.Runnable, total.Blocked)
}
