package main

// record --snapshot-on: the flight recorder writes a snapshot when an event
// of the trigger's spec passes the trigger's filter. The workload writes
// 1 and 2 bytes 20 times each, then 4096 bytes once (the trigger), then
// 3 bytes 5 times; the recording is filtered on its pid, since other
// tests run at the same time.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestBPFSnapshotOn(t *testing.T) {
	bt := setup(t)
	dir := filepath.Join(t.TempDir(), "fr")
	stderr, _ := recordWorkload(t, []string{"write", "1=20", "2=20", "4096=1", "3=5"}, func(pid int) []string {
		// The trigger's event is not among the -e specs: record adds it.
		return []string{"-e", "syscalls:sys_enter_getppid", "--filter", fmt.Sprintf("pid == %d", pid),
			"--snapshot", "--snapshot-on", "syscalls:sys_enter_write:count == 4096 && fd == 77", "-o", dir}
	})
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshot-*"))
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots for one trigger (and no --snapshot-at-exit): %v\n%s", len(snaps), snaps, stderr)
	}
	snap := snaps[0]
	if !regexp.MustCompile(`^snapshot-1-\d{8}-\d{6}-0$`).MatchString(filepath.Base(snap)) {
		t.Fatalf("snapshot %s is not named as LTTng names snapshots", snap)
	}
	if !strings.Contains(stderr, "snapshot written to "+snap+" (") {
		t.Errorf("no message for the snapshot:\n%s", stderr)
	}
	out, errs := runBT(t, bt, snap)
	if strings.Contains(errs, "discarded") {
		t.Errorf("babeltrace2 reports discarded events in a ring that held everything:\n%s", errs)
	}
	// The snapshot was taken at the trigger: it holds the writes before it
	// and the trigger itself, last, and none of the writes after it.
	var sizes []string
	countRe := regexp.MustCompile(`\bcount = (\d+)`)
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "syscalls:sys_enter_write:") || !strings.Contains(line, "fd = 77") {
			continue
		}
		m := countRe.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no count in %q", line)
		}
		sizes = append(sizes, m[1])
	}
	want := strings.TrimSpace(strings.Repeat("1 ", 20) + strings.Repeat("2 ", 20) + "4096")
	if got := strings.Join(sizes, " "); got != want {
		t.Errorf("writes in the snapshot (babeltrace2): %s\nwant %s", got, want)
	}
	t.Logf("snapshot %s: %d writes, the last of 4096 bytes", filepath.Base(snap), len(sizes))
}

func TestBPFSnapshotOnBadFlags(t *testing.T) {
	setup(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--snapshot-on", "syscalls:sys_enter_kill"}, "need --snapshot"},
		{[]string{"--snapshot", "--snapshot-on", "sig == 9"}, "want SPEC[:FILTER]"},
		{[]string{"--snapshot", "--snapshot-on", "syscalls:sys_enter_kill:sgi == 9"}, "snapshot trigger syscalls:sys_enter_kill: "},
		{[]string{"--snapshot", "--snapshot-on", "syscalls:sys_enter_nosuch:sig == 9"}, "sys_enter_nosuch"},
	} {
		p := record(t, append([]string{"-e", "syscalls:sys_enter_getppid", "-o", filepath.Join(t.TempDir(), "x"), "-d", "1s"}, c.args...)...)
		code := p.wait(t)
		checkOneLineError(t, code, p.stderr.String())
		if !strings.Contains(p.stderr.String(), c.want) {
			t.Errorf("%v: %q does not say %q", c.args, p.stderr.String(), c.want)
		}
	}
}
