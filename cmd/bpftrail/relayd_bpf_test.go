package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// lockedBuffer is a bytes.Buffer a process writes while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRelaydProc starts Debian's lttng-relayd on loopback ports of its
// own with its own output directory; it returns the control, data and live
// ports and the directory.
func startRelaydProc(t *testing.T) (ctrl, data, live int, out string) {
	t.Helper()
	bin := bpftest.RequireTool(t, "lttng-relayd")
	port := func() int {
		a, _ := net.ResolveTCPAddr("tcp", freePort(t))
		return a.Port
	}
	ctrl, data, live, out = port(), port(), port(), t.TempDir()
	url := func(p int) string { return "tcp://127.0.0.1:" + strconv.Itoa(p) }
	p := start(t, bin, "-C", url(ctrl), "-D", url(data), "-L", url(live), "-o", out)
	deadline := time.Now().Add(runTimeout)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(ctrl), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("lttng-relayd does not listen on port %d: %v\n%s", ctrl, err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// btLines returns babeltrace2's lines of the events of class name (all
// the recorded events when name is "").
func btLines(out, name string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if name == "" && strings.Contains(l, " syscalls:sys_enter_") || name != "" && strings.Contains(l, " "+name+": ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestBPFRecordRelaydLive records a workload through lttng-relayd as a
// live session: a live babeltrace2 viewer attached before the recording
// sees the workload's events while the recording still runs, and relayd's
// copy on its disk, read by babeltrace2, has exactly the local copy's
// events.
func TestBPFRecordRelaydLive(t *testing.T) {
	bt := setup(t)
	ctrl, data, live, relayOut := startRelaydProc(t)
	host, err := os.ReadFile("/proc/sys/kernel/hostname")
	if err != nil {
		t.Fatal(err)
	}
	session := fmt.Sprintf("btlive%d", os.Getpid())
	url := fmt.Sprintf("net://127.0.0.1:%d/host/%s/%s", live, strings.TrimSpace(string(host)), session)
	// The viewer attaches before the recording starts (it waits for the
	// session) and is read while it runs.
	vout := &lockedBuffer{}
	viewer := startWith(t, vout, bt, "--component=src.ctf.lttng-live",
		`--params=inputs=["`+url+`"],session-not-found-action="continue"`, "--component=sink.text.pretty")

	const n = 2000
	local := filepath.Join(t.TempDir(), session)
	// babeltrace2 attaches at the newest packet, whenever it finds the
	// session: a heartbeat workload (an open every millisecond) shows when
	// it follows, then the measured workload runs.
	beat := startWorkload(t, "loop", "/dev/null")
	w := startWorkload(t, "getppid", strconv.Itoa(n))
	pid := w.cmd.Process.Pid
	args := []string{"-e", "syscalls:sys_enter_getppid", "-e", "syscalls:sys_enter_openat",
		"--filter", fmt.Sprintf("pid == %d || pid == %d", pid, beat.cmd.Process.Pid), "-o", local,
		"--relayd", fmt.Sprintf("net://127.0.0.1:%d:%d", ctrl, data), "--live=100ms", "-d", runTimeout.String()}
	r := record(t, args...)
	waitRecording(t, r)
	if _, err := io.WriteString(beat.stdin, "go\n"); err != nil { // released, runs until killed
		t.Fatal(err)
	}
	beat.stdin.Close()
	waitViewer := func(what string, enough func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(runTimeout)
		for !enough(vout.String()) {
			if time.Now().After(deadline) || viewer.exited() {
				t.Fatalf("the live viewer did not see %s while recording:\n%s\n%s", what, lastLines(vout.String(), 5), viewer.stderr.String())
			}
			if r.exited() {
				t.Fatalf("bpftrail record ended before the viewer saw %s\n%s", what, r.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitViewer("the heartbeat", func(out string) bool { return len(btLines(out, "syscalls:sys_enter_openat")) > 0 })
	w.run(t)
	waitViewer(fmt.Sprintf("the %d events", n), func(out string) bool {
		return len(btLines(out, "syscalls:sys_enter_getppid")) >= n
	})
	t.Logf("the live viewer saw the %d events while the recording ran", n)
	beat.kill()
	if code := r.interrupt(t); code != 0 {
		t.Fatalf("bpftrail record %s: exit status %d\n%s", strings.Join(args, " "), code, r.stderr.String())
	}
	stderr := r.stderr.String()
	if !strings.Contains(stderr, "streamed to lttng-relayd (protocol 2.") || strings.Contains(stderr, "missed") {
		t.Errorf("summary:\n%s", stderr)
	}
	// With session-not-found-action=continue the viewer waits for the next
	// session: stop it once its output settles.
	for prev := ""; ; {
		time.Sleep(300 * time.Millisecond)
		if cur := vout.String(); cur == prev {
			break
		} else {
			prev = cur
		}
	}
	viewer.kill()
	liveLines := btLines(vout.String(), "syscalls:sys_enter_getppid")
	if strings.Contains(viewer.stderr.String(), " E ") {
		t.Errorf("the live viewer reported errors:\n%s", viewer.stderr.String())
	}
	if len(liveLines) != n {
		t.Errorf("the live viewer printed %d events, want %d", len(liveLines), n)
	}

	localOut, _ := runBT(t, bt, local)
	localAll := btLines(localOut, "")
	want := btLines(localOut, "syscalls:sys_enter_getppid")
	if len(want) != n {
		t.Fatalf("the local copy holds %d events, the workload made %d", len(want), n)
	}
	for _, l := range want {
		if !strings.Contains(l, fmt.Sprintf("pid = %d,", pid)) {
			t.Fatalf("event of another process: %s", l)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(relayOut, "*", session+"-*", "bpftrail"))
	if len(dirs) != 1 {
		t.Fatalf("relayd's output holds %d copies of the session: %v", len(dirs), dirs)
	}
	var got []string
	for range 50 { // relayd closes its files once it has every packet
		relayOutText, _ := runBT(t, bt, dirs[0])
		if got = btLines(relayOutText, ""); len(got) == len(localAll) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Join(got, "\n") != strings.Join(localAll, "\n") {
		t.Fatalf("relayd's copy %s has %d events, not exactly the local copy's %d", dirs[0], len(got), len(localAll))
	}
	if strings.Join(liveLines, "\n") != strings.Join(want, "\n") {
		t.Errorf("the live viewer's events differ from the local copy's")
	}
	t.Logf("relayd's copy %s: the %d events of the local copy (%d of the workload)", dirs[0], len(localAll), n)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// startWith starts a process whose stdout goes to out.
func startWith(t *testing.T, out *lockedBuffer, name string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = out, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.reap()
	t.Cleanup(p.kill)
	return p
}

// TestBPFRecordRelaydUnreachable: a relayd that does not listen stops the
// recording before it starts, with one line that names it.
func TestBPFRecordRelaydUnreachable(t *testing.T) {
	setup(t)
	a, _ := net.ResolveTCPAddr("tcp", freePort(t))
	r := record(t, "-e", "syscalls:sys_enter_getppid", "--relayd", fmt.Sprintf("net://127.0.0.1:%d", a.Port), "-o", filepath.Join(t.TempDir(), "x"), "-d", "1s")
	if code := r.wait(t); code == 0 {
		t.Fatal("bpftrail record succeeded without a relayd")
	}
	msg := strings.TrimSpace(r.stderr.String())
	want := fmt.Sprintf("cannot reach lttng-relayd at 127.0.0.1:%d: ", a.Port)
	if !strings.Contains(msg, want) || strings.Count(msg, "\n") > 0 {
		t.Fatalf("stderr %q, want one line with %q", msg, want)
	}
}

// TestBPFRunTraceRelayd: `run --trace DIR --relayd URL` streams the
// script's trace as record does: relayd's copy, read by babeltrace2, has
// exactly the local copy's events, the script's printf events among them.
func TestBPFRunTraceRelayd(t *testing.T) {
	bpftest.Require(t)
	bt := bpftest.RequireTool(t, "babeltrace2")
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ctrl, data, _, relayOut := startRelaydProc(t)
	target := buildC(t, "peer_target", []string{"-static", "-O0"}, "peer_target.c")
	local := filepath.Join(t.TempDir(), "scripttrace")
	prog := `tracepoint:syscalls:sys_enter_write /comm == "peer_target"/ { printf("write %d\n", args.count); }`
	url := fmt.Sprintf("net://127.0.0.1:%d:%d", ctrl, data)
	out, err := exec.Command(bpftrailBn, "run", "--trace", local, "--relayd", url, "--record", "syscalls:sys_enter_getpid", "-c", target, "-e", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("run --trace --relayd: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "streamed ") || strings.Contains(string(out), "missed") {
		t.Errorf("run does not say it streamed to relayd, or relayd missed events:\n%s", out)
	}
	localOut, _ := runBT(t, bt, local)
	want := strings.Split(strings.TrimSpace(localOut), "\n")
	if n := strings.Count(localOut, " script:printf:1: "); n != 8 {
		t.Fatalf("the local copy has %d printf events, the workload made 8 writes:\n%s", n, localOut)
	}
	dirs, _ := filepath.Glob(filepath.Join(relayOut, "*", "scripttrace-*", "bpftrail"))
	if len(dirs) != 1 {
		t.Fatalf("relayd's output holds %d copies of the session: %v", len(dirs), dirs)
	}
	var got []string
	for range 50 { // relayd closes its files once it has every packet
		text, _ := runBT(t, bt, dirs[0])
		if got = strings.Split(strings.TrimSpace(text), "\n"); len(got) == len(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The lines differ only in the trace's host field, which is the same.
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("relayd's copy has %d lines, the local copy %d:\n%s\n---\n%s", len(got), len(want), strings.Join(got, "\n"), localOut)
	}
}
