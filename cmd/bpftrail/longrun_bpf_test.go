package main

// End-to-end tests of long recordings: --rotate (LTTng's archives/ layout)
// and --snapshot (the flight recorder). The workload does an exact number
// of getppid(2) calls and the recording is filtered on its pid, since other
// tests run at the same time.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
)

var chunkNameRe = regexp.MustCompile(`^\d{8}T\d{6}[+-]\d{4}-\d{8}T\d{6}[+-]\d{4}-(\d+)$`)

// runBT runs babeltrace2 ARGS and returns stdout and stderr; it fails t
// unless babeltrace2 exits 0.
func runBT(t *testing.T, bt string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bt, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("babeltrace2 %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// chunks returns the archived chunks of dir by id, checking their names.
func chunks(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "archives"))
	if err != nil {
		t.Fatal(err)
	}
	type chunk struct {
		id   int
		name string
	}
	var cs []chunk
	for _, e := range ents {
		m := chunkNameRe.FindStringSubmatch(e.Name())
		if m == nil {
			t.Fatalf("archives/%s is not named BEGIN-END-ID as LTTng names chunks", e.Name())
		}
		id, _ := strconv.Atoi(m[1])
		cs = append(cs, chunk{id, filepath.Join(dir, "archives", e.Name())})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return out
}

func TestBPFRotateChunks(t *testing.T) {
	bt := setup(t)
	const n = 6000
	dir := filepath.Join(t.TempDir(), "rot")
	stderr, pid := recordWorkload(t, []string{"getppid", strconv.Itoa(n)}, func(pid int) []string {
		return []string{"-e", "syscalls:sys_enter_getppid", "--filter", fmt.Sprintf("pid == %d", pid), "--rotate", "16KiB", "-o", dir}
	})
	cs := chunks(t, dir)
	if len(cs) < 3 {
		t.Fatalf("%d chunks of 16 KiB for %d events:\n%s", len(cs), n, stderr)
	}
	total := 0
	for i, c := range cs {
		if m := chunkNameRe.FindStringSubmatch(filepath.Base(c)); m[1] != strconv.Itoa(i) {
			t.Errorf("chunk ids are not 0, 1, 2...: %s is number %d", c, i)
		}
		if !strings.Contains(stderr, "chunk written to "+c+" (") {
			t.Errorf("no message for %s:\n%s", c, stderr)
		}
		// Each chunk is a complete trace of its own.
		tr, err := ctf.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Check(); err != nil {
			t.Fatal(err)
		}
		k, err := tr.Each(func(e *ctf.Event) error {
			if p, _ := e.StreamContext.Get("pid"); p.Int != int64(pid) {
				return fmt.Errorf("event of pid %d", p.Int)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 && i < len(cs)-1 {
			t.Errorf("chunk %s holds no event", c)
		}
		total += int(k)
		out, _ := runBT(t, bt, c)
		if got := strings.Count(out, "syscalls:sys_enter_getppid:"); got != int(k) {
			t.Errorf("babeltrace2 reads %d events in %s, our reader %d", got, c, k)
		}
	}
	if total != n {
		t.Fatalf("the chunks hold %d events, the workload made %d", total, n)
	}
	// The folder reads as one trace: babeltrace2 and bpftrail print.
	out, errs := runBT(t, bt, dir)
	if got := strings.Count(out, "syscalls:sys_enter_getppid:"); got != n {
		t.Fatalf("babeltrace2 %s printed %d events, want %d\n%s", dir, got, n, errs)
	}
	t.Logf("babeltrace2 read %d chunks as one trace of %d events", len(cs), n)
	var pout, perr bytes.Buffer
	if err := printTrace(dir, false, &pout, &perr); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(pout.String(), "syscalls:sys_enter_getppid"); got != n {
		t.Fatalf("bpftrail print %s: %d events, want %d\n%s", dir, got, n, perr.String())
	}
}

func TestBPFRotateKeep(t *testing.T) {
	setup(t)
	dir := filepath.Join(t.TempDir(), "keep")
	stderr, _ := recordWorkload(t, []string{"getppid", "6000"}, func(pid int) []string {
		return []string{"-e", "syscalls:sys_enter_getppid", "--filter", fmt.Sprintf("pid == %d", pid), "--rotate", "16KiB", "--keep", "2", "-o", dir}
	})
	cs := chunks(t, dir)
	if len(cs) != 2 {
		t.Fatalf("--keep 2 left %d chunks: %v\n%s", len(cs), cs, stderr)
	}
	deleted := strings.Count(stderr, "deleted chunk ")
	if deleted == 0 {
		t.Fatalf("no chunk deleted:\n%s", stderr)
	}
	// The newest two stay: their ids are the last ones.
	m := chunkNameRe.FindStringSubmatch(filepath.Base(cs[1]))
	if m[1] != strconv.Itoa(deleted+1) {
		t.Fatalf("kept %v after deleting %d chunks", cs, deleted)
	}
}

// TestBPFSnapshotSignal records into a ring too small for the workload;
// SIGUSR2 writes a snapshot that babeltrace2 reads, where the events kept
// plus those reported discarded are the workload's.
func TestBPFSnapshotSignal(t *testing.T) {
	bt := setup(t)
	const n = 5000
	dir := filepath.Join(t.TempDir(), "fr")
	w := startWorkload(t, "getppid", strconv.Itoa(n))
	pid := w.cmd.Process.Pid
	r := record(t, "-e", "syscalls:sys_enter_getppid", "--filter", fmt.Sprintf("pid == %d", pid),
		"--snapshot", "--snapshot-size", "16KiB", "-o", dir, "-d", runTimeout.String())
	waitRecording(t, r)
	w.run(t)
	time.Sleep(300 * time.Millisecond) // the collector drains every 10ms
	if err := r.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	var snaps []string
	for deadline := time.Now().Add(runTimeout); len(snaps) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		snaps, _ = filepath.Glob(filepath.Join(dir, "snapshot-*"))
	}
	if code := r.interrupt(t); code != 0 {
		t.Fatalf("bpftrail record: exit status %d\n%s", code, r.stderr.String())
	}
	snaps, _ = filepath.Glob(filepath.Join(dir, "snapshot-*"))
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots after one SIGUSR2 (and no --snapshot-at-exit): %v\n%s", len(snaps), snaps, r.stderr.String())
	}
	snap := snaps[0]
	if !regexp.MustCompile(`^snapshot-1-\d{8}-\d{6}-0$`).MatchString(filepath.Base(snap)) {
		t.Fatalf("snapshot %s is not named as LTTng names snapshots", snap)
	}
	if !strings.Contains(r.stderr.String(), "snapshot written to "+snap+" (") {
		t.Errorf("no message for the snapshot:\n%s", r.stderr.String())
	}
	out, errs := runBT(t, bt, snap)
	kept := strings.Count(out, "syscalls:sys_enter_getppid:")
	if strings.Contains(errs, "may have discarded") {
		t.Fatalf("babeltrace2 sees discarded events without a count:\n%s", errs)
	}
	discarded := 0
	for _, m := range regexp.MustCompile(`Tracer discarded (\d+) events`).FindAllStringSubmatch(errs, -1) {
		k, _ := strconv.Atoi(m[1])
		discarded += k
	}
	t.Logf("babeltrace2: %d events kept, %d discarded", kept, discarded)
	if kept == 0 || discarded == 0 || kept+discarded != n {
		t.Fatalf("snapshot: %d events kept + %d discarded, want a sum of %d with both > 0\n%s", kept, discarded, n, errs)
	}
	tr, err := ctf.Open(snap)
	if err != nil {
		t.Fatal(err)
	}
	k, err := tr.Each(func(*ctf.Event) error { return nil })
	if err != nil || int(k) != kept || int(tr.DiscardedTotal()) != discarded {
		t.Fatalf("our reader: %d events, %d discarded (%v); babeltrace2 %d and %d", k, tr.DiscardedTotal(), err, kept, discarded)
	}
}

func TestBPFLongRunBadFlags(t *testing.T) {
	setup(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rotate", "1x"}, "--rotate"},
		{[]string{"--rotate", "100"}, "at least 4KiB"},
		{[]string{"--keep", "2"}, "--keep needs --rotate"},
		{[]string{"--rotate", "1MiB", "--snapshot"}, "exclude each other"},
		{[]string{"--snapshot", "--snapshot-size", "4KiB"}, "at least 8KiB"},
		{[]string{"--snapshot-at-exit"}, "need --snapshot"},
	} {
		p := record(t, append([]string{"-e", "syscalls:sys_enter_getppid", "-o", filepath.Join(t.TempDir(), "x"), "-d", "1s"}, c.args...)...)
		code := p.wait(t)
		checkOneLineError(t, code, p.stderr.String())
		if !strings.Contains(p.stderr.String(), c.want) {
			t.Errorf("%v: %q does not say %q", c.args, p.stderr.String(), c.want)
		}
	}
}

// TestBPFRotateDiskFull: a rotation that fills its disk (a small tmpfs)
// ends the recording with one line naming the file and the cause; every
// chunk written, the last one cut at its last whole packet, is read by
// babeltrace2 and by print with the same events.
func TestBPFRotateDiskFull(t *testing.T) {
	bt := setup(t)
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=160k"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	defer syscall.Unmount(mnt, 0)
	dir := filepath.Join(mnt, "rot")
	cmd := exec.Command(bpftrailBn, "record", "-q", "-e", "syscalls:sys_enter_getppid", "--rotate", "16KiB", "-o", dir, "--", workloadBn, "getppid", "40000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		t.Fatalf("a recording that filled its disk exited 0:\n%s", stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.Contains(l, "chunk written to") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "no space left on device") || !strings.Contains(lines[0], dir) || strings.Count(lines[0], "no space") != 1 {
		t.Errorf("the full disk is not said in one line naming the file:\n%s", stderr.String())
	}
	if len(chunks(t, dir)) < 2 {
		t.Fatalf("the recording did not rotate before the disk was full:\n%s", stderr.String())
	}
	out, _ := runBT(t, bt, dir)
	n := strings.Count(out, "syscalls:sys_enter_getppid:")
	if n == 0 || n >= 40000 {
		t.Fatalf("babeltrace2 reads %d events of a full disk", n)
	}
	var pout bytes.Buffer
	p := exec.Command(bpftrailBn, "print", dir)
	p.Stdout = &pout
	if err := p.Run(); err != nil {
		t.Fatalf("print of a full disk's chunks: %v", err)
	}
	if got := strings.Count(pout.String(), "syscalls:sys_enter_getppid"); got != n {
		t.Errorf("print reads %d events, babeltrace2 %d", got, n)
	}
}

// TestBPFRecordStartsAtOnce: a session's probes start together, once all
// are attached: the tracer's own work while it attaches (it reads each
// tracepoint's id) is not in a system-wide recording.
func TestBPFRecordStartsAtOnce(t *testing.T) {
	bt := setup(t)
	dir := filepath.Join(t.TempDir(), "all")
	cmd := exec.Command(bpftrailBn, "record", "-q", "-a", "-d", "300ms", "-e", "syscalls:sys_enter_openat", "-e", "syscalls:sys_exit_openat", "-e", "sched:sched_switch", "-o", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("record -a: %v\n%s", err, out)
	}
	out, _ := runBT(t, bt, dir)
	tracer := fmt.Sprintf("pid = %d,", cmd.Process.Pid)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, tracer) && strings.Contains(l, "/events/") {
			t.Fatalf("the tracer's own attach is in its recording: %s", l)
		}
	}
}
