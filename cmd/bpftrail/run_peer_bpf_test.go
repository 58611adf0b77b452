package main

// TestBPFRunPeer runs programs under the real bpftrace (Debian's 0.17)
// and under `bpftrail run`, on the same deterministic workload
// (testdata/peer_target.c), and compares what they print: printf lines,
// maps and histograms, exactly, after a normalisation that only removes
// the known differences of format between bpftrace 0.17 and v0.26 (which
// bpftrail follows). The workloads avoid the cases where the two versions
// print different things (one-value lhist buckets, values of 2^32 and
// more in a hist), rather than hiding them.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// peerCase is a program run by both tools. In the program, {{BIN}} is
// the path of peer_target, {{PID}} its pid (mode peerPID).
type peerCase struct {
	name string
	prog string
	mode peerMode
}

type peerMode int

const (
	peerCmd  peerMode = iota // -c peer_target: the run ends when it exits
	peerPID                  // peer_target -wait is started first; the run is interrupted after it exits
	peerNone                 // no workload: the program ends itself (exit())
)

// onlyTarget is the predicate of the workload's events.
const onlyTarget = `/comm == "peer_target"/`

// The workload (see testdata/peer_target.c): 7 getpid; writes of 5, 12,
// 100, 1, 40, 300, 12, 2000 bytes to fd 3 (/dev/null); openat of
// /dev/null (O_WRONLY) and of 4 paths that do not exist; scale(a, b) for
// (1,1) (2,3) (-4,5) (10,10) (7,0) (3,3), which returns a*b.
var peerCases = []peerCase{
	{name: "scalar_aggregations", prog: `tracepoint:syscalls:sys_enter_write ` + onlyTarget + ` {
		@c = count(); @s = sum(args->count); @mi = min(args->count); @ma = max(args->count);
		@av = avg(args->count); @st = stats(args->count); @plain = args->count; }`},
	{name: "keyed_aggregations", prog: `tracepoint:syscalls:sys_enter_write ` + onlyTarget + ` {
		@c[args->count] = count(); @s[args->fd] = sum(args->count); @mi[comm] = min(args->count);
		@ma[comm] = max(args->count); @av[args->fd] = avg(args->count); @st[comm] = stats(args->count); }`},
	{name: "hist_lhist", prog: `tracepoint:syscalls:sys_enter_write ` + onlyTarget + ` {
		@h = hist(args->count); @l = lhist(args->count, 0, 400, 50); @hk[comm] = hist(args->count);
		@lk[args->count > 50 ? 1 : 0] = lhist(args->count, 0, 2000, 100); }`},
	{name: "string_and_tuple_keys", prog: `tracepoint:syscalls:sys_enter_openat ` + onlyTarget + ` {
		@o[str(args->filename)] = count(); @t[comm, args->flags] = count(); @u[args->flags, str(args->filename)] = count(); }`},
	{name: "state_between_probes", prog: `tracepoint:syscalls:sys_enter_write ` + onlyTarget + ` { @start[tid] = nsecs; @sz[tid] = args->count; }
		tracepoint:syscalls:sys_exit_write /@start[tid] != 0/ {
			$d = nsecs - @start[tid]; @n = count(); @pos = sum($d > 0 ? 1 : 0);
			@bytes = sum(args->ret); @same = sum(args->ret == @sz[tid] ? 1 : 0);
			delete(@start[tid]); delete(@sz[tid]); }`},
	{name: "predicates_and_if_else", prog: `tracepoint:syscalls:sys_enter_write /comm == "peer_target" && args->count > 10/ {
		if (args->count >= 300) { @big = count(); } else if (args->count == 12) { @twelve = count(); } else { @other[args->count] = count(); } }
		tracepoint:syscalls:sys_enter_write /comm == "peer_target" && args->count != 12/ { @ne = count(); }
		tracepoint:syscalls:sys_enter_write /comm == "peer_target" && (args->count < 5 || args->count == 2000)/ { @edge[args->count] = count(); }`},
	{name: "variables_and_ternary", prog: `tracepoint:syscalls:sys_enter_write ` + onlyTarget + ` {
		$sz = args->count; $k = $sz > 50 ? "large" : "small"; @k[$k] = sum($sz);
		$d = $sz * 2 + 1; @d = max($d); $m = $sz % 7; @mod[$m] = count();
		$neg = 0 - $sz; @neg = min($neg); @shift = sum($sz << 2); @and = sum($sz & 15); }`},
	{name: "uprobe_args", prog: `uprobe:{{BIN}}:scale {
		@a[(int64)arg0, (int64)arg1] = count(); @prod = sum((int64)arg0 * (int64)arg1); @arg1 = hist((int64)arg1); @l = lhist((int64)arg1, 0, 20, 5);
		printf("scale(%d, %d)\n", (int64)arg0, (int64)arg1); }`},
	// argN and retval are uint64 in bpftrace 0.26 (bpftrail follows it)
	// but int64 in 0.17: the casts make both print the same.
	{name: "uretprobe_retval", prog: `uretprobe:{{BIN}}:scale {
		@byret[(int64)retval] = count(); @s = sum((int64)retval); printf("ret %d\n", (int64)retval); }`},
	{name: "uretprobe_hist", prog: `uretprobe:{{BIN}}:scale /(int64)retval != -20/ { @r = hist((int64)retval); }`},
	{name: "uprobe_state_to_uretprobe", prog: `uprobe:{{BIN}}:scale { @arg[tid] = (int64)arg0; }
		uretprobe:{{BIN}}:scale { printf("%d -> %d\n", @arg[tid], (int64)retval); @pairs[@arg[tid], (int64)retval] = count(); delete(@arg[tid]); }`},
	{name: "printf_formats", prog: `tracepoint:syscalls:sys_enter_write ` + onlyTarget + ` {
		printf("%d|%u|%x|%s|%-12s|%12s|%5d|%-5d|%05d|%%|%c\n", args->fd, args->count, args->count, comm, comm, comm,
			args->count, args->count, args->count, 65); }`},
	{name: "str_of_syscall_args", prog: `tracepoint:syscalls:sys_enter_openat ` + onlyTarget + ` {
		printf("open %s flags %d\n", str(args->filename), args->flags); printf("[%s]\n", str(args->filename)); }`},
	{name: "comm_keys_and_getpid", prog: `tracepoint:syscalls:sys_enter_getpid ` + onlyTarget + ` { @g[comm] = count(); @tideq = sum(tid == pid ? 1 : 0); }`},
	{name: "pid_predicate", mode: peerPID, prog: `tracepoint:syscalls:sys_enter_getpid /pid == {{PID}}/ { @g = count(); }
		tracepoint:syscalls:sys_enter_write /pid == {{PID}} && tid == pid/ { @w[args->count] = count(); }
		tracepoint:syscalls:sys_enter_write /pid == {{PID}} && args->count > 99/ { printf("pid ok %d\n", args->count); }`},
	{name: "begin_end", prog: `BEGIN { @x = 1; printf("begin\n"); }
		tracepoint:syscalls:sys_enter_getpid ` + onlyTarget + ` { @x = @x + 1; }
		END { printf("end %d\n", @x); @y = @x * 10; }`},
	{name: "interval_exit", mode: peerNone, prog: `interval:ms:20 { @i++; printf("tick %d\n", @i); exit(); }`},
}

// TestBPFRunPeer: see the top of the file.
func TestBPFRunPeer(t *testing.T) {
	bpftest.Require(t)
	bpftrace := bpftest.RequireTool(t, "bpftrace")
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	target := buildC(t, "peer_target", []string{"-static", "-O0", "-fno-omit-frame-pointer"}, "peer_target.c")
	for _, tc := range peerCases {
		t.Run(tc.name, func(t *testing.T) {
			want := peerRun(t, tc, target, []string{bpftrace})
			got := peerRun(t, tc, target, []string{bpftrailBn, "run"})
			if nw, ng := normalizePeer(want), normalizePeer(got); nw != ng {
				t.Errorf("bpftrace and bpftrail run differ\nprogram:\n%s\n--- bpftrace (normalised):\n%s--- bpftrail run (normalised):\n%s--- bpftrace (raw):\n%s--- bpftrail run (raw):\n%s",
					tc.prog, nw, ng, want, got)
			} else if strings.TrimSpace(ng) == "" {
				t.Errorf("both tools printed nothing: the workload was not seen\nprogram:\n%s", tc.prog)
			}
		})
	}
}

// peerRun runs the program of tc with tool (a command line to which the
// options are added) and returns its standard output. It fails t unless
// the tool exits with status 0 within runTimeout.
func peerRun(t *testing.T, tc peerCase, target string, tool []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	prog := strings.ReplaceAll(tc.prog, "{{BIN}}", target)
	args := append([]string(nil), tool[1:]...)
	var wl *exec.Cmd
	var release io.WriteCloser
	switch tc.mode {
	case peerCmd:
		args = append(args, "-c", target)
	case peerPID:
		wl = exec.CommandContext(ctx, target, "-wait")
		var err error
		if release, err = wl.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stderr, err := wl.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := wl.Start(); err != nil {
			t.Fatal(err)
		}
		defer wl.Process.Kill()
		if line, err := bufio.NewReader(stderr).ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("peer_target -wait: %q, %v", line, err)
		}
		prog = strings.ReplaceAll(prog, "{{PID}}", strconv.Itoa(wl.Process.Pid))
	}
	args = append(args, "-e", prog)
	cmd := exec.CommandContext(ctx, tool[0], args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	attached := make(chan struct{})
	if tc.mode == peerPID {
		// Both tools print the number of probes attached once they are.
		once := new(sync.Once)
		cmd.Stderr = &notifyWriter{w: &stderr, substr: "ttach", ch: attached, once: once}
		cmd.Stdout = &notifyWriter{w: &stdout, substr: "ttach", ch: attached, once: once}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if tc.mode == peerPID {
		select {
		case <-attached:
		case <-ctx.Done():
		}
		time.Sleep(100 * time.Millisecond)
		release.Write([]byte("go\n"))
		if err := wl.Wait(); err != nil {
			t.Errorf("peer_target: %v", err)
		}
		// bpftrace 0.17 does not read what is left in its buffers once
		// interrupted: give it time to print the events first.
		time.Sleep(500 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		// bpftrace 0.17 loses a SIGINT that arrives just before it
		// enters epoll_wait with no timeout (about one run in six
		// here): it then sleeps until the next event. Repeat the
		// signal until it has ended. bpftrail must end on the first.
		ended := make(chan struct{})
		defer close(ended)
		go func() {
			if tool[0] == bpftrailBn {
				return
			}
			tick := time.NewTicker(2 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ended:
					return
				case <-tick.C:
					cmd.Process.Signal(syscall.SIGINT)
				}
			}
		}()
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("%s did not end within %s\nprogram:\n%s\nstdout:\n%s\nstderr:\n%s", tool[0], runTimeout, prog, stdout.String(), stderr.String())
	}
	if err != nil {
		t.Fatalf("%s: %v\nprogram:\n%s\nstdout:\n%s\nstderr:\n%s", strings.Join(tool, " "), err, prog, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// notifyWriter closes ch the first time what is written holds substr.
type notifyWriter struct {
	w      io.Writer
	substr string
	ch     chan struct{}
	once   *sync.Once // shared by the writers of one channel
	seen   []byte
	done   bool
}

func (n *notifyWriter) Write(p []byte) (int, error) {
	if !n.done {
		n.seen = append(n.seen, p...)
		if bytes.Contains(n.seen, []byte(n.substr)) {
			n.done = true
			n.once.Do(func() { close(n.ch) })
		}
	}
	return n.w.Write(p)
}

var (
	// attachLine is bpftrace 0.17's "Attaching 2 probes..." and v0.26's
	// "Attached 2 probes" (on stdout for both).
	attachLine = regexp.MustCompile(`^Attach(ing|ed) \d+ probes?(\.\.\.)?$`)
	// stats017 is 0.17's value of stats(); v0.26 writes { .count = N, ... }.
	stats017 = regexp.MustCompile(`^(@.*: )count (-?\d+), average (-?\d+), total (-?\d+)$`)
	// mapEntry is a line of a map with keys: @name[key]: value.
	mapEntry = regexp.MustCompile(`^(@\w*)\[.*\]: (.*)$`)
)

// normalizePeer removes what legitimately differs between bpftrace 0.17
// and bpftrail (which prints as bpftrace v0.26 does):
//   - the line telling how many probes were attached;
//   - 0.17's trailing space after the name of a histogram ("@h: ");
//   - 0.17's format of stats() values ("count 1, average 2, total 2",
//     which v0.26 writes "{ .count = 1, .average = 2, .total = 2 }");
//   - blank lines (0.17 and v0.26 do not put the same number between
//     maps, at exit);
//   - the order of a map's entries whose values are equal: both sort a
//     map's entries by value, entries of equal values come in the order
//     of the kernel's hash table. Entries are still compared, and the
//     order by value is kept.
func normalizePeer(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if attachLine.MatchString(l) {
			continue
		}
		if strings.HasPrefix(l, "@") && strings.HasSuffix(l, ": ") {
			l = strings.TrimSuffix(l, " ")
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		l = stats017.ReplaceAllString(l, "$1{ .count = $2, .average = $3, .total = $4 }")
		lines = append(lines, l)
	}
	// Sort the runs of entries of the same map with the same value.
	for i := 0; i < len(lines); {
		m := mapEntry.FindStringSubmatch(lines[i])
		j := i + 1
		for m != nil && j < len(lines) {
			n := mapEntry.FindStringSubmatch(lines[j])
			if n == nil || n[1] != m[1] || n[2] != m[2] {
				break
			}
			j++
		}
		sort.Strings(lines[i:j])
		i = j
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

// TestNormalizePeer: the normalisation keeps what matters.
func TestNormalizePeer(t *testing.T) {
	a := "Attaching 1 probe...\n@h: \n[1]  1 |@|\n\n@m[b]: 1\n@m[a]: 1\n@m[c]: 2\n"
	b := "Attached 1 probe\n@h:\n[1]  1 |@|\n@m[a]: 1\n@m[b]: 1\n@m[c]: 2\n\n\n"
	if normalizePeer(a) != normalizePeer(b) {
		t.Errorf("equal outputs differ:\n%s---\n%s", normalizePeer(a), normalizePeer(b))
	}
	for _, c := range []string{
		"@h:\n[1]  2 |@|\n@m[a]: 1\n@m[b]: 1\n@m[c]: 2\n", // another count
		"@h:\n[1]  1 |@|\n@m[c]: 2\n@m[a]: 1\n@m[b]: 1\n", // not sorted by value the same way
		"@h:\n[1]  1 |@|\n@m[a]: 1\n@m[c]: 1\n@m[b]: 2\n", // another key for a value
	} {
		if normalizePeer(c) == normalizePeer(b) {
			t.Errorf("different outputs are equal after normalisation:\n%s---\n%s", c, b)
		}
	}
}
