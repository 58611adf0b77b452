package main

// Tests of a run's end as users meet it: the duration expires while the
// command still runs, and Ctrl-C comes twice. See record_bpf_test.go for
// the helpers.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBPFDurationStopsCommand records a command that outlives -d: the
// command gets SIGTERM (its trap runs and leaves a mark) and bpftrail waits
// for it, so that nothing of the run outlives bpftrail.
func TestBPFDurationStopsCommand(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	mark := filepath.Join(dir, "terminated")
	script := "trap 'echo term > " + mark + "; exit 3' TERM; while :; do sleep 0.05; done"
	begin := time.Now()
	p := record(t, "-e", "sched:sched_process_exit", "-d", "1s", "-o", filepath.Join(dir, "trace"), "--", "sh", "-c", script)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr.String())
	}
	took := time.Since(begin)
	if b, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(b)) != "term" {
		t.Errorf("the command did not run its SIGTERM trap before bpftrail ended (%v)\n%s", err, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "the command was still running and was stopped") {
		t.Errorf("no word of the stopped command:\n%s", p.stderr.String())
	}
	if took > 10*time.Second {
		t.Errorf("bpftrail took %s to end a 1s recording", took)
	}
}

// TestBPFDurationKillsStubbornCommand: a command that ignores SIGTERM is
// killed after the grace period, and bpftrail still ends.
func TestBPFDurationKillsStubbornCommand(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	begin := time.Now()
	p := record(t, "-e", "sched:sched_process_exit", "-d", "500ms", "-o", filepath.Join(dir, "trace"), "--",
		"sh", "-c", "trap '' TERM; while :; do sleep 0.05; done")
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr.String())
	}
	if took := time.Since(begin); took > 15*time.Second {
		t.Errorf("bpftrail took %s", took)
	}
	if !strings.Contains(p.stderr.String(), "was stopped") {
		t.Errorf("no word of the stopped command:\n%s", p.stderr.String())
	}
}

// TestBPFSecondInterrupt: the first Ctrl-C ends the run, which then waits
// for a command that ignores SIGTERM; a second Ctrl-C stops at once.
func TestBPFSecondInterrupt(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	p := record(t, "-e", "sched:sched_process_exit", "-o", filepath.Join(dir, "trace"), "--",
		"sh", "-c", "trap '' TERM INT; touch "+ready+"; while :; do sleep 0.05; done")
	waitRecording(t, p)
	for deadline := time.Now().Add(runTimeout); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break // the command ignores SIGTERM from now on
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
	}
	p.cmd.Process.Signal(os.Interrupt)
	time.Sleep(300 * time.Millisecond) // the run is finishing: stopping the command
	if p.exited() {
		t.Fatalf("bpftrail ended before the command did (%v)\n%s", p.err, p.stderr.String())
	}
	begin := time.Now()
	p.cmd.Process.Signal(os.Interrupt)
	code := p.wait(t)
	if took := time.Since(begin); took > time.Second {
		t.Errorf("the second Ctrl-C took %s to stop bpftrail", took)
	}
	if code != 130 || !strings.Contains(p.stderr.String(), "stopping at once") {
		t.Errorf("exit status %d, want 130\n%s", code, p.stderr.String())
	}
}
