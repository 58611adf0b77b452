package main

// End-to-end tests of the built-in tools (execsnoop, opensnoop, syscount,
// runqlat, cpudist, tcpconnect, biolatency, kvmexit) against workloads the
// tests control; see record_bpf_test.go for the helpers.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// eventLines parses the JSON lines of an event tool.
func eventLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(sc.Text()))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, m)
	}
	return evs
}

// num returns the JSON number v as an int64, or fails t.
func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// startTool starts "bpftrail ARGS -d runTimeout" and waits until its
// programs are attached and enabled.
func startTool(t *testing.T, args ...string) *proc {
	t.Helper()
	p := start(t, bpftrailBn, append(args, "-d", runTimeout.String())...)
	waitRecording(t, p)
	return p
}

// stopTool stops p with SIGINT, fails t unless it exits 0, and returns its
// stdout.
func stopTool(t *testing.T, p *proc) string {
	t.Helper()
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("bpftrail: exit status %d\n%s", code, p.stderr.String())
	}
	return p.stdout.String()
}

// distinctiveTrue copies /bin/true to a temporary directory under a name of
// its own and returns its path.
func distinctiveTrue(t *testing.T) string {
	t.Helper()
	src, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true program")
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("bttrue%d", os.Getpid()%100000))
	copyFile(t, src, p)
	return p
}

// TestBPFExecsnoop runs a program of a distinctive name and checks that
// execsnoop reports its exec with the right PID and PPID.
func TestBPFExecsnoop(t *testing.T) {
	setup(t)
	prog := distinctiveTrue(t)
	check := func(t *testing.T, out string, pid, ppid int) {
		t.Helper()
		var mine []map[string]any
		for _, e := range eventLines(t, out) {
			if e["filename"] == prog {
				mine = append(mine, e)
			}
		}
		if len(mine) != 1 {
			t.Fatalf("%d execs of %s, want 1:\n%s", len(mine), prog, out)
		}
		e := mine[0]
		if pid != 0 && num(t, e["pid"]) != int64(pid) {
			t.Errorf("PID %v, want %d", e["pid"], pid)
		}
		if num(t, e["pid"]) <= 0 {
			t.Errorf("PID %v", e["pid"])
		}
		if num(t, e["ppid"]) != int64(ppid) {
			t.Errorf("PPID %v, want %d", e["ppid"], ppid)
		}
		if e["pcomm"] != filepath.Base(prog) {
			t.Errorf("PCOMM %v, want %s", e["pcomm"], filepath.Base(prog))
		}
		if _, err := strconv.ParseFloat(fmt.Sprint(e["time"]), 64); err != nil {
			t.Errorf("TIME %v: %v", e["time"], err)
		}
	}

	t.Run("system-wide", func(t *testing.T) {
		p := startTool(t, "execsnoop", "--json")
		cmd := exec.Command(prog)
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		// The tool drains its ring buffer when it stops.
		check(t, stopTool(t, p), cmd.Process.Pid, os.Getpid())
	})

	t.Run("command", func(t *testing.T) {
		// The command runs as a child of bpftrail.
		p := start(t, bpftrailBn, "execsnoop", "--json", "-d", runTimeout.String(), "--", prog)
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit status %d\n%s", code, p.stderr.String())
		}
		check(t, p.stdout.String(), 0, p.cmd.Process.Pid)
	})

	t.Run("text", func(t *testing.T) {
		p := start(t, bpftrailBn, "execsnoop", "-d", runTimeout.String(), "--", prog)
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit status %d\n%s", code, p.stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(p.stdout.String()), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "TIME(s) PCOMM PID PPID FILENAME" {
			t.Fatalf("want a header and one line:\n%s", p.stdout.String())
		}
		f := strings.Fields(lines[1])
		if len(f) != 5 || f[1] != filepath.Base(prog) || f[3] != strconv.Itoa(p.cmd.Process.Pid) || f[4] != prog {
			t.Errorf("line %q, want %s, PPID %d, %s", lines[1], filepath.Base(prog), p.cmd.Process.Pid, prog)
		}
	})
}

// TestBPFOpensnoop checks the FD and ERR opensnoop reports for the open of
// an existing and of a missing file.
func TestBPFOpensnoop(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	known := makeFiles(t, dir, "opensnoop", 1)[0]
	missing := filepath.Join(dir, "no-such-file")
	w := startWorkload(t, "tryopen", known, missing)
	pid := w.cmd.Process.Pid
	p := startTool(t, "opensnoop", "-p", strconv.Itoa(pid), "--json")
	w.run(t)
	out := stopTool(t, p)
	evs := eventLines(t, out)
	if len(evs) != 2 {
		t.Fatalf("%d opens, want 2:\n%s", len(evs), out)
	}
	for i, want := range []struct {
		path    string
		fdValid bool
		err     string
	}{{known, true, "0"}, {missing, false, "2"}} {
		e := evs[i]
		if e["path"] != want.path {
			t.Errorf("open %d: PATH %v, want %s", i, e["path"], want.path)
		}
		if num(t, e["pid"]) != int64(pid) || e["comm"] != "btworkload" {
			t.Errorf("open %d: PID %v COMM %v, want %d btworkload", i, e["pid"], e["comm"], pid)
		}
		fd, err := strconv.Atoi(fmt.Sprint(e["fd"]))
		if err != nil {
			t.Errorf("open %d: FD %v: %v", i, e["fd"], err)
		}
		if want.fdValid && fd < 0 || !want.fdValid && fd != -1 {
			t.Errorf("open %d of %s: FD %d", i, want.path, fd)
		}
		if e["err"] != want.err {
			t.Errorf("open %d of %s: ERR %v, want %s", i, want.path, e["err"], want.err)
		}
	}
}

// TestBPFSyscount counts a workload's getppid and getuid calls exactly.
func TestBPFSyscount(t *testing.T) {
	setup(t)
	const getppid, getuid = 31, 4
	out, _, _ := aggWorkload(t, []string{"syscalls", fmt.Sprintf("getppid=%d", getppid), fmt.Sprintf("getuid=%d", getuid)}, func(pid int) []string {
		return []string{"syscount", "-p", strconv.Itoa(pid), "--json"}
	})
	_, counts, _ := parseCount(t, out)
	for k, n := range map[string]uint64{`{"syscall":"getppid"}`: getppid, `{"syscall":"getuid"}`: getuid} {
		if counts[k] != n {
			t.Errorf("%s: count %d, want %d:\n%s", k, counts[k], n, out)
		}
	}
	if counts[`{"syscall":"exit_group"}`] != 1 {
		t.Errorf("exit_group counted %d times, want 1:\n%s", counts[`{"syscall":"exit_group"}`], out)
	}
	for k := range counts {
		if strings.Contains(k, `"id"`) || strings.Contains(k, "syscall_") {
			t.Errorf("key %s: a number, not a syscall name", k)
		}
	}
}

// TestBPFSchedTools runs runqlat and cpudist for a second while two
// processes spin on the two CPUs: both print non-empty histograms.
func TestBPFSchedTools(t *testing.T) {
	setup(t)
	for range 2 {
		start(t, workloadBn, "spin")
	}
	for _, tool := range []string{"runqlat", "cpudist"} {
		t.Run(tool, func(t *testing.T) {
			code, out, stderr := runBpftrail(t, tool, "-d", "1s", "--json")
			if code != 0 {
				t.Fatalf("exit status %d\n%s", code, stderr)
			}
			l := parseLatency(t, out)
			if len(l.Latencies) != 1 {
				t.Fatalf("%d histograms, want 1:\n%s", len(l.Latencies), out)
			}
			g := l.Latencies[0]
			var total uint64
			for _, b := range g.Buckets {
				total += b.Count
			}
			if g.Count == 0 || total != g.Count {
				t.Errorf("count %d, buckets hold %d; want the same, > 0", g.Count, total)
			}
			if g.MinNs > g.MaxNs || g.AvgNs < float64(g.MinNs) || g.AvgNs > float64(g.MaxNs) {
				t.Errorf("min %d avg %v max %d are not in order", g.MinNs, g.AvgNs, g.MaxNs)
			}
			t.Logf("%s: count %d min %v avg %v max %v, unmatched %d, pending %d", tool, g.Count,
				time.Duration(g.MinNs), time.Duration(g.AvgNs), time.Duration(g.MaxNs), l.Unmatched, l.Pending)

			code, out, stderr = runBpftrail(t, tool, "-d", "1s")
			if code != 0 {
				t.Fatalf("exit status %d\n%s", code, stderr)
			}
			if !strings.Contains(out, "usecs") || !strings.Contains(out, "distribution") {
				t.Errorf("no histogram in usecs:\n%s", out)
			}
			var n int
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "count ") {
					n, _ = strconv.Atoi(strings.Fields(l)[1])
				}
			}
			if n <= 0 {
				t.Errorf("no count > 0:\n%s", out)
			}
		})
	}
}

// TestBPFTcpconnect connects the workload to a listener of the test and
// checks that tcpconnect reports the connection.
func TestBPFTcpconnect(t *testing.T) {
	setup(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	w := startWorkload(t, "connect", ln.Addr().String())
	pid := w.cmd.Process.Pid
	p := startTool(t, "tcpconnect", "-p", strconv.Itoa(pid), "--json")
	w.run(t)
	out := stopTool(t, p)
	evs := eventLines(t, out)
	if len(evs) != 1 {
		t.Fatalf("%d connections, want 1:\n%s", len(evs), out)
	}
	e := evs[0]
	if num(t, e["pid"]) != int64(pid) || e["comm"] != "btworkload" {
		t.Errorf("PID %v COMM %v, want %d btworkload", e["pid"], e["comm"], pid)
	}
	if e["ip"] != "4" || e["saddr"] != "127.0.0.1" || e["daddr"] != "127.0.0.1" || num(t, e["dport"]) != int64(port) {
		t.Errorf("IP %v %v -> %v:%v, want 4 127.0.0.1 -> 127.0.0.1:%d", e["ip"], e["saddr"], e["daddr"], e["dport"], port)
	}
}

// TestBPFBiolatency reads a file with O_DIRECT, which makes a block I/O
// request, where the file system is on a block device and allows it;
// elsewhere (tmpfs, overlay) it checks that biolatency runs and says that
// it saw no block I/O.
func TestBPFBiolatency(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "direct.dat")
	if err := os.WriteFile(file, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fsInfo, _ := exec.Command("findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", dir).Output()
	src, _, _ := strings.Cut(strings.TrimSpace(string(fsInfo)), " ")
	direct := strings.HasPrefix(src, "/dev/")
	if direct {
		fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_DIRECT, 0)
		if err != nil {
			direct = false
		} else {
			syscall.Close(fd)
		}
	}
	if !direct {
		t.Logf("%s is on %q, without O_DIRECT block I/O: checking that biolatency runs", dir, strings.TrimSpace(string(fsInfo)))
		code, out, stderr := runBpftrail(t, "biolatency", "-d", "1s")
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
		// Other processes may do block I/O meanwhile.
		if !strings.Contains(stderr, "biolatency: no block I/O was completed while tracing") && !strings.Contains(out, "count ") {
			t.Errorf("neither the no-I/O note nor a histogram:\nstdout:\n%s\nstderr:\n%s", out, stderr)
		}
		return
	}
	w := startWorkload(t, "readdirect", file)
	p := startTool(t, "biolatency", "--by", "rwbs", "--json")
	w.run(t)
	// Each read completes before its system call returns. The workload
	// reads 16 blocks: the kernel skips a BPF program that would run
	// while another one runs on the same CPU, which can happen to the
	// completion (in an interrupt) of one request on a busy machine.
	out := stopTool(t, p)
	l := parseLatency(t, out)
	reads := uint64(0)
	for _, g := range l.Latencies {
		var k map[string]string
		if err := json.Unmarshal(g.Key, &k); err != nil {
			t.Fatalf("key %s: %v", g.Key, err)
		}
		if strings.Contains(k["rwbs"], "R") {
			reads += g.Count
		}
		if g.Count == 0 || g.MinNs == 0 || g.MinNs > g.MaxNs {
			t.Errorf("group %s: count %d min %d max %d", g.Key, g.Count, g.MinNs, g.MaxNs)
		}
	}
	if reads == 0 {
		t.Errorf("no block read although the workload read %s (on %s) with O_DIRECT:\n%s", file, src, out)
	}
}

// TestBPFKvmexit runs kvmexit where the kvm tracepoints exist: with no
// virtual machine running it exits 0 and says so; without the tracepoints
// it fails with one line naming them.
func TestBPFKvmexit(t *testing.T) {
	setup(t)
	root, err := tracefs.Root()
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runBpftrail(t, "kvmexit", "-d", "1s")
	if _, err := os.Stat(filepath.Join(root, "events", "kvm", "kvm_exit")); errors.Is(err, os.ErrNotExist) {
		checkOneLineError(t, code, stderr)
		if !strings.Contains(stderr, "kvmexit needs the kvm tracepoints") {
			t.Errorf("error %q does not name the kvm tracepoints", stderr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 1 {
		t.Skipf("VM exits were counted (a virtual machine runs here):\n%s", out)
	}
	if strings.Join(strings.Fields(lines[0]), " ") != "COUNT EXIT_REASON VCPU_ID" {
		t.Errorf("stdout %q, want the header only", out)
	}
	if stderr != "kvmexit: no VM exits while tracing (no virtual machine is running on this host)\n" {
		t.Errorf("stderr %q, want the no-VM-exits note", stderr)
	}

	code, out, stderr = runBpftrail(t, "kvmexit", "-d", "500ms", "--json")
	if code != 0 {
		t.Fatalf("--json: exit status %d\n%s", code, stderr)
	}
	if strings.TrimSpace(out) != `{"counts":[],"lost":0}` {
		t.Errorf("--json: stdout %q, want no counts", out)
	}
}
