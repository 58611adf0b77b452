package main

// End-to-end tests of the built-in tools, which are scripts run through
// scriptrun: each one runs against a workload the test controls and must
// show that workload's events with bcc's columns and the right values.
// Other tests may run at the same time: lines are picked by a pid, a
// unique name or a unique port. See record_bpf_test.go for the helpers.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/tools"
)

// eventLines parses JSON lines (print --json).
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

// toolLines checks the tool's header (its columns, space-separated) and
// returns the lines keep keeps, split in fields.
func toolLines(t *testing.T, out, header string, keep func(f []string) bool) [][]string {
	t.Helper()
	// The header is printed by begin, which runs once the probes are
	// attached: other processes' events may come first.
	var rows [][]string
	seen := false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case strings.Join(f, " ") == header:
			seen = true
		case len(f) > 0 && keep(f):
			rows = append(rows, f)
		}
	}
	if !seen {
		t.Fatalf("no header %q:\n%s", header, out)
	}
	return rows
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

// TestBPFToolsScripts checks that "bpftrail tools" lists every tool, that
// "tools show" prints the embedded script, and that every tool loads and
// runs here (or, without its tracepoints, fails with one line).
func TestBPFToolsScripts(t *testing.T) {
	setup(t)
	code, out, stderr := runBpftrail(t, "tools")
	if code != 0 {
		t.Fatalf("tools: exit status %d\n%s", code, stderr)
	}
	for _, tool := range tools.All() {
		if !regexp.MustCompile(`(?m)^` + tool.Name + ` +` + regexp.QuoteMeta(tool.Short) + `$`).MatchString(out) {
			t.Errorf("tools does not list %s:\n%s", tool.Name, out)
		}
	}
	for _, tool := range tools.All() {
		t.Run(tool.Name, func(t *testing.T) {
			code, out, stderr := runBpftrail(t, "tools", "show", tool.Name)
			if code != 0 || out != tool.Script() {
				t.Errorf("tools show %s: exit status %d, %d bytes, want the script's %d\n%s", tool.Name, code, len(out), len(tool.Script()), stderr)
			}
			if err := tool.CheckRequires(); err != nil {
				code, _, stderr := runBpftrail(t, tool.Name, "-d", "200ms")
				checkOneLineError(t, code, stderr)
				return
			}
			code, out, stderr = runBpftrail(t, tool.Name, "-d", "300ms")
			if code != 0 || stderr != "" {
				t.Errorf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
			}
		})
	}
	code, _, stderr = runBpftrail(t, "tools", "show", "nosuchtool")
	checkOneLineError(t, code, stderr)
}

// TestBPFExecsnoop runs a program of a distinctive name with arguments,
// and a path that does not exist: execsnoop shows the first with its PID,
// PPID, RET 0 and argv, and the failed one only with -x, with RET -2.
func TestBPFExecsnoop(t *testing.T) {
	setup(t)
	prog := distinctiveTrue(t)
	missing := filepath.Join(t.TempDir(), "btnosuchprog")
	const header = "PCOMM PID PPID RET ARGS"
	mine := func(f []string) bool { return len(f) >= 5 && (f[4] == prog || f[4] == missing) }

	t.Run("system-wide", func(t *testing.T) {
		p := startTool(t, "execsnoop", "-x")
		cmd := exec.Command(prog, "first", "second arg")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command(missing, "x").Run(); err == nil {
			t.Fatalf("%s ran", missing)
		}
		rows := toolLines(t, stopTool(t, p), header, mine)
		if len(rows) != 2 {
			t.Fatalf("%d lines of the workload, want 2: %q", len(rows), rows)
		}
		want := []string{filepath.Base(prog), strconv.Itoa(cmd.Process.Pid), strconv.Itoa(os.Getpid()), "0", prog, "first", "second", "arg"}
		if strings.Join(rows[0], " ") != strings.Join(want, " ") {
			t.Errorf("line %q, want %q", rows[0], want)
		}
		// The failed exec runs in the forked child, before it is a
		// program of its own.
		if f := rows[1]; f[2] != strconv.Itoa(os.Getpid()) || f[3] != "-2" || strings.Join(f[4:], " ") != missing+" x" {
			t.Errorf("failed exec %q, want PPID %d, RET -2, ARGS %s x", f, os.Getpid(), missing)
		}
	})

	t.Run("no-failures-without-x", func(t *testing.T) {
		p := startTool(t, "execsnoop")
		exec.Command(missing).Run()
		if err := exec.Command(prog).Run(); err != nil {
			t.Fatal(err)
		}
		rows := toolLines(t, stopTool(t, p), header, mine)
		if len(rows) != 1 || rows[0][4] != prog || rows[0][3] != "0" {
			t.Errorf("lines %q, want only the exec of %s with RET 0", rows, prog)
		}
	})

	t.Run("command", func(t *testing.T) {
		// The command is held until the probes are attached; its own
		// exec is seen although it was not traced when it called it.
		p := start(t, bpftrailBn, "execsnoop", "-d", runTimeout.String(), "--", prog, "arg")
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit status %d\n%s", code, p.stderr.String())
		}
		rows := toolLines(t, p.stdout.String(), header, func([]string) bool { return true })
		if len(rows) != 1 {
			t.Fatalf("%d lines, want the command's exec only:\n%s", len(rows), p.stdout.String())
		}
		want := fmt.Sprintf("%s %d %d 0 %s arg", filepath.Base(prog), p.cmd.Process.Pid+0, p.cmd.Process.Pid, prog)
		if f := rows[0]; f[0] != filepath.Base(prog) || f[2] != strconv.Itoa(p.cmd.Process.Pid) || f[3] != "0" || strings.Join(f[4:], " ") != prog+" arg" {
			t.Errorf("line %q, want %q (any PID)", f, want)
		}
	})
}

// TestBPFOpensnoop checks the FD and ERR opensnoop reports for the open of
// an existing and of a missing file, -x (failures only) and -e (FLAGS).
func TestBPFOpensnoop(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	known := makeFiles(t, dir, "opensnoop", 1)[0]
	missing := filepath.Join(dir, "no-such-file")
	for _, tc := range []struct {
		name   string
		flags  []string
		header string
		want   []string // PATH FD ERR [FLAGS]
	}{
		{"plain", nil, "PID COMM FD ERR PATH", []string{known + " fd 0", missing + " -1 2"}},
		{"failed", []string{"-x"}, "PID COMM FD ERR PATH", []string{missing + " -1 2"}},
		{"extended", []string{"-e"}, "PID COMM FD ERR FLAGS PATH", []string{known + " fd 0 02000000", missing + " -1 2 02000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := startWorkload(t, "tryopen", known, missing)
			pid := w.cmd.Process.Pid
			p := startTool(t, append([]string{"opensnoop", "-p", strconv.Itoa(pid)}, tc.flags...)...)
			w.run(t)
			out := stopTool(t, p)
			rows := toolLines(t, out, tc.header, func([]string) bool { return true })
			var got []string
			for _, f := range rows {
				if f[0] != strconv.Itoa(pid) || f[1] != "btworkload" {
					t.Errorf("line %q: not the workload's (%d btworkload)", f, pid)
					continue
				}
				fd := f[2]
				if n, err := strconv.Atoi(fd); err == nil && n >= 0 {
					fd = "fd"
				}
				g := f[len(f)-1] + " " + fd + " " + f[3]
				if tc.name == "extended" {
					g += " " + f[4]
				}
				got = append(got, g)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("opens:\n%s\nwant:\n%s\noutput:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), out)
			}
		})
	}
}

// mapLine matches a line of a map printed by print() or at exit.
var mapLine = regexp.MustCompile(`^@(\w+)\[(.*)\]: (\d+)$`)

// mapCounts reads the lines of a printed map: key → count.
func mapCounts(out, name string) map[string]uint64 {
	counts := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		if m := mapLine.FindStringSubmatch(l); m != nil && m[1] == name {
			n, _ := strconv.ParseUint(m[3], 10, 64)
			counts[m[2]] = n
		}
	}
	return counts
}

// TestBPFSyscount counts a workload's getppid and getuid calls exactly, by
// syscall name, and per process with -P.
func TestBPFSyscount(t *testing.T) {
	setup(t)
	const getppid, getuid = 31, 4
	wargs := []string{"syscalls", fmt.Sprintf("getppid=%d", getppid), fmt.Sprintf("getuid=%d", getuid)}
	out, _, _ := aggWorkload(t, wargs, func(pid int) []string {
		return []string{"syscount", "-p", strconv.Itoa(pid), "--top", "0"}
	})
	counts := mapCounts(out, "syscalls")
	for k, n := range map[string]uint64{"getppid": getppid, "getuid": getuid, "exit_group": 1} {
		if counts[k] != n {
			t.Errorf("%s: count %d, want %d:\n%s", k, counts[k], n, out)
		}
	}
	for k := range counts {
		if _, err := strconv.Atoi(k); err == nil {
			t.Errorf("key %s: a number, not a syscall name", k)
		}
	}

	out, _, pid := aggWorkload(t, wargs, func(pid int) []string {
		return []string{"syscount", "-p", strconv.Itoa(pid), "-P"}
	})
	counts = mapCounts(out, "processes")
	if len(counts) != 1 || counts[fmt.Sprintf("%d, btworkload", pid)] < getppid+getuid {
		t.Errorf("per process: %v, want one key %d, btworkload with at least %d calls:\n%s", counts, pid, getppid+getuid, out)
	}
}

// histTotal adds up the counts of the histogram @name printed in out.
func histTotal(t *testing.T, out, name string) uint64 {
	t.Helper()
	i := strings.Index(out, "@"+name+":\n")
	if i < 0 {
		t.Fatalf("no histogram @%s:\n%s", name, out)
	}
	var total uint64
	bucket := regexp.MustCompile(`^\[[^\]]*[\])]\s+(\d+) \|`)
	for _, l := range strings.Split(out[i:], "\n")[1:] {
		m := bucket.FindStringSubmatch(l)
		if m == nil {
			break
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		total += n
	}
	return total
}

// TestBPFSchedTools runs runqlat and cpudist for a second while two
// processes spin on the two CPUs: both print a non-empty histogram, in
// the unit asked for.
func TestBPFSchedTools(t *testing.T) {
	setup(t)
	for range 2 {
		start(t, workloadBn, "spin")
	}
	for _, tool := range []string{"runqlat", "cpudist"} {
		for _, unit := range []string{"us", "ms"} {
			t.Run(tool+"-"+unit, func(t *testing.T) {
				code, out, stderr := runBpftrail(t, tool, "-d", "1s", "--unit", unit)
				if code != 0 {
					t.Fatalf("exit status %d\n%s", code, stderr)
				}
				if n := histTotal(t, out, unit+"ecs"); n == 0 {
					t.Errorf("empty histogram:\n%s", out)
				}
				if other := map[string]string{"us": "@msecs", "ms": "@usecs"}[unit]; strings.Contains(out, other) {
					t.Errorf("%s printed too:\n%s", other, out)
				}
			})
		}
	}
	t.Run("interval", func(t *testing.T) {
		code, out, stderr := runBpftrail(t, "runqlat", "-d", "2500ms", "-i", "1s")
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
		// Two intervals, then the rest at exit.
		if n := strings.Count(out, "@usecs:\n"); n != 3 {
			t.Errorf("%d histograms, want 3:\n%s", n, out)
		}
	})
}

// listenLoopback listens on a port of 127.0.0.1 with the given backlog
// and accepts nothing; it returns the socket and the port.
func listenLoopback(t *testing.T, backlog int) (int, int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*syscall.SockaddrInet4).Port
}

// TestBPFTcpconnect connects the workload to a listener of the test and
// checks that tcpconnect reports the connection with its addresses and
// port.
func TestBPFTcpconnect(t *testing.T) {
	setup(t)
	_, port := listenLoopback(t, 16)
	w := startWorkload(t, "connect", fmt.Sprintf("127.0.0.1:%d", port))
	pid := w.cmd.Process.Pid
	p := startTool(t, "tcpconnect", "-p", strconv.Itoa(pid))
	w.run(t)
	rows := toolLines(t, stopTool(t, p), "PID COMM IP SADDR DADDR DPORT", func([]string) bool { return true })
	want := fmt.Sprintf("%d btworkload 4 127.0.0.1 127.0.0.1 %d", pid, port)
	if len(rows) != 1 || strings.Join(rows[0], " ") != want {
		t.Errorf("lines %q, want one: %s", rows, want)
	}
}

// TestBPFTcpaccept connects to a listener of the test and checks that
// tcpaccept reports the connection on the listener's port, with the
// client's port as the remote one.
func TestBPFTcpaccept(t *testing.T) {
	setup(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	p := startTool(t, "tcpaccept")
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	client := c.LocalAddr().(*net.TCPAddr).Port
	c.Close()
	s.Close()
	rows := toolLines(t, stopTool(t, p), "PID COMM IP RADDR RPORT LADDR LPORT", func(f []string) bool {
		return len(f) == 7 && f[6] == strconv.Itoa(port)
	})
	want := fmt.Sprintf("4 127.0.0.1 %d 127.0.0.1 %d", client, port)
	if len(rows) != 1 || strings.Join(rows[0][2:], " ") != want {
		t.Errorf("lines %q, want one ending %s", rows, want)
	}
}

// TestBPFTcpretrans fills the accept queue of a listener with backlog 0
// that accepts nothing: the kernel drops the next SYNs and the clients
// retransmit them after a second, which tcpretrans reports in state
// SYN_SENT towards the listener's port.
func TestBPFTcpretrans(t *testing.T) {
	setup(t)
	_, port := listenLoopback(t, 0)
	p := startTool(t, "tcpretrans")
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 1500*time.Millisecond); err == nil {
				time.Sleep(1500 * time.Millisecond)
				c.Close()
			}
		}()
	}
	wg.Wait()
	rows := toolLines(t, stopTool(t, p), "TIME IP LADDR LPORT T> RADDR RPORT STATE", func(f []string) bool {
		return len(f) == 8 && f[6] == strconv.Itoa(port)
	})
	if len(rows) == 0 {
		t.Fatalf("no retransmission towards port %d", port)
	}
	for _, f := range rows {
		if f[1] != "4" || f[2] != "127.0.0.1" || f[4] != "R>" || f[5] != "127.0.0.1" || f[7] != "SYN_SENT" {
			t.Errorf("line %q, want 4 127.0.0.1 PORT R> 127.0.0.1 %d SYN_SENT", f, port)
		}
		if _, err := time.Parse("15:04:05", f[0]); err != nil {
			t.Errorf("TIME %s: %v", f[0], err)
		}
	}
}

// TestBPFKillsnoop sends signal 0 to the test itself and to a pid that
// does not exist: killsnoop -p shows both, with the results 0 and -3
// (ESRCH), and -x only the failure.
func TestBPFKillsnoop(t *testing.T) {
	setup(t)
	const gone = 4194000 // above the default pid_max: no such process
	for _, tc := range []struct {
		flag string
		want []string
	}{{"", []string{fmt.Sprintf("0 %d 0", os.Getpid()), fmt.Sprintf("0 %d -3", gone)}}, {"-x", []string{fmt.Sprintf("0 %d -3", gone)}}} {
		t.Run("flag"+tc.flag, func(t *testing.T) {
			args := []string{"killsnoop", "-p", strconv.Itoa(os.Getpid())}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			p := startTool(t, args...)
			syscall.Kill(os.Getpid(), 0)
			syscall.Kill(gone, 0)
			rows := toolLines(t, stopTool(t, p), "TIME PID COMM SIG TPID RESULT", func(f []string) bool { return len(f) == 6 })
			var got []string
			for _, f := range rows {
				if f[1] != strconv.Itoa(os.Getpid()) {
					t.Errorf("line %q: PID is not the test's %d", f, os.Getpid())
				}
				got = append(got, strings.Join(f[3:], " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("kills (SIG TPID RESULT):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// directFile writes a file in a temporary directory and reports whether
// it can be read with O_DIRECT from a block device.
func directFile(t *testing.T) (string, bool) {
	t.Helper()
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
	if !strings.HasPrefix(string(fsInfo), "/dev/") {
		t.Logf("%s is on %q: no block I/O", dir, strings.TrimSpace(string(fsInfo)))
		return file, false
	}
	fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return file, false
	}
	syscall.Close(fd)
	return file, true
}

// TestBPFBiosnoop reads a file with O_DIRECT (16 reads of 4 KiB): biosnoop
// shows reads of 4096 bytes by the workload, with a latency. Completions
// run in interrupts, so the tool runs system-wide and the test picks the
// workload's pid.
func TestBPFBiosnoop(t *testing.T) {
	setup(t)
	file, direct := directFile(t)
	if !direct {
		t.Skip("no O_DIRECT block I/O here")
	}
	w := startWorkload(t, "readdirect", file)
	pid := w.cmd.Process.Pid
	p := startTool(t, "biosnoop")
	w.run(t)
	rows := toolLines(t, stopTool(t, p), "TIME(s) COMM PID DISK T SECTOR BYTES LAT(ms)", func(f []string) bool {
		return len(f) == 8 && f[2] == strconv.Itoa(pid)
	})
	// The kernel skips a BPF program that would run while another runs
	// on the same CPU, which can happen to a completion on a busy
	// machine: most reads, not all, must be seen.
	if len(rows) < 8 {
		t.Fatalf("%d requests of the workload, want about 16", len(rows))
	}
	for _, f := range rows {
		if f[1] != "btworkload" || !strings.Contains(f[4], "R") || f[6] != "4096" || !regexp.MustCompile(`^\d+:\d+$`).MatchString(f[3]) {
			t.Errorf("line %q, want btworkload, a MAJOR:MINOR disk, a read (R) of 4096 bytes", f)
		}
		if _, err := strconv.ParseFloat(f[7], 64); err != nil {
			t.Errorf("LAT(ms) %s: %v", f[7], err)
		}
	}
}

// TestBPFBiolatency reads a file with O_DIRECT: the histogram counts the
// reads (and whatever else the machine does meanwhile).
func TestBPFBiolatency(t *testing.T) {
	setup(t)
	file, direct := directFile(t)
	if !direct {
		code, out, stderr := runBpftrail(t, "biolatency", "-d", "1s")
		if code != 0 {
			t.Fatalf("exit status %d\n%s%s", code, out, stderr)
		}
		return
	}
	w := startWorkload(t, "readdirect", file)
	p := startTool(t, "biolatency")
	w.run(t)
	out := stopTool(t, p)
	if n := histTotal(t, out, "usecs"); n < 8 {
		t.Errorf("%d requests, want at least the workload's 16 reads, most of them:\n%s", n, out)
	}
}

// TestBPFKvmexit runs kvmexit: with no virtual machine running it says
// so; without the kvm tracepoints it fails with one line naming them.
func TestBPFKvmexit(t *testing.T) {
	setup(t)
	tool, _ := tools.Lookup("kvmexit")
	code, out, stderr := runBpftrail(t, "kvmexit", "-d", "1s")
	if tool.CheckRequires() != nil {
		checkOneLineError(t, code, stderr)
		if !strings.Contains(stderr, "kvmexit needs the kvm tracepoints") {
			t.Errorf("error %q does not name the kvm tracepoints", stderr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	if strings.Contains(out, "@exits[") {
		t.Skipf("VM exits were counted (a virtual machine runs here):\n%s", out)
	}
	if !strings.Contains(out, "No VM exits while tracing") {
		t.Errorf("stdout %q, want the no-VM-exits note", out)
	}
}
