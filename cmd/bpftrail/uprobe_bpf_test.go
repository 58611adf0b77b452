package main

// End-to-end tests of uprobes, uretprobes, USDT probes and kprobes: C
// programs under testdata/ are built with gcc into a temporary directory,
// traced with "bpftrail record", "count" and "list", and every value they
// pass is checked exactly. See record_bpf_test.go for the helpers.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// buildC compiles the C sources srcs (in testdata) with gcc and flags into
// a program called name in a temporary directory, and returns its path.
func buildC(t *testing.T, name string, flags []string, srcs ...string) string {
	t.Helper()
	gcc := bpftest.RequireTool(t, "gcc")
	bin := filepath.Join(t.TempDir(), name)
	args := append(append([]string(nil), flags...), "-o", bin)
	for _, s := range srcs {
		args = append(args, filepath.Join("testdata", s))
	}
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// buildUprobeTarget builds testdata/uprobe_target.c as the tests of
// add3 expect it: -O0 with frame pointers, so that add3 is a real call.
func buildUprobeTarget(t *testing.T) string {
	t.Helper()
	return buildC(t, "uprobe_target", []string{"-O0", "-fno-omit-frame-pointer"}, "uprobe_target.c")
}

// add3Call is one call of add3 in testdata/uprobe_target.c.
type add3Call struct {
	a   int64
	b   int64
	s   string
	ret int64
}

// add3Calls are the calls uprobe_target makes, in order; add3 returns
// a + b + strlen(s).
var add3Calls = func() []add3Call {
	in := []add3Call{
		{a: 1, b: 1, s: "alpha"},
		{a: -2, b: 2, s: "bravo-2"},
		{a: 1099511627776, b: 3, s: "charlie"},
		{a: -1099511627776, b: 1, s: ""},
		{a: 40, b: 2, s: "echo echo"},
		{a: 9223372036854775000, b: 3, s: "foxtrot"},
		{a: 0, b: 1, s: "golf"},
	}
	for i := range in {
		in[i].ret = in[i].a + in[i].b + int64(len(in[i].s))
	}
	return in
}()

// waiting is a test program started with -wait: it has printed "ready"
// and waits for a line on stdin. Its further output is kept in out.
type waiting struct {
	*workload
	out *strings.Builder
}

// startWaiting starts bin -wait ARGS and waits for its "ready" line.
func startWaiting(t *testing.T, bin string, args ...string) *waiting {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-wait"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	out := &strings.Builder{}
	ready := make(chan error, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("%s printed %q, want ready", bin, line)
		}
		ready <- err
		io.Copy(out, r) // read only after done is closed
		p.reap()
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("%v\n%s", err, p.stderr.String())
		}
	case <-time.After(runTimeout):
		t.Fatalf("%s did not start", bin)
	}
	return &waiting{workload: &workload{proc: p, stdin: stdin}, out: out}
}

// traceWaiting starts bin -wait WARGS, runs "bpftrail ARGS -p PID -d
// runTimeout" on it, lets it run once bpftrail records, and stops bpftrail
// with SIGINT once it has ended. It returns bpftrail's stdout, the
// program's stdout and its pid.
func traceWaiting(t *testing.T, bin string, wargs []string, args ...string) (stdout, progOut string, pid int) {
	t.Helper()
	w := startWaiting(t, bin, wargs...)
	pid = w.cmd.Process.Pid
	args = append(args, "-p", strconv.Itoa(pid), "-d", runTimeout.String())
	p := start(t, bpftrailBn, args...)
	waitRecording(t, p)
	w.run(t)
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("bpftrail %s: exit status %d\n%s", strings.Join(args, " "), code, p.stderr.String())
	}
	return p.stdout.String(), w.out.String(), pid
}

// runOK runs "bpftrail ARGS" to its end, fails t unless it exits 0, and
// returns its stdout and stderr.
func runOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runBpftrail(t, args...)
	if code != 0 {
		t.Fatalf("bpftrail %s: exit status %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout, stderr
}

// checkAdd3Events checks the entry and return events of add3 recorded from
// pid, in order: evs holds each event's name and payload.
func checkAdd3Events(t *testing.T, what, bin string, pid int, names []string, payloads []map[string]string) {
	t.Helper()
	entry, ret := "uprobe:"+bin+":add3", "uretprobe:"+bin+":add3"
	var ins, outs []map[string]string
	for i, n := range names {
		switch n {
		case entry:
			ins = append(ins, payloads[i])
		case ret:
			outs = append(outs, payloads[i])
		default:
			t.Errorf("%s: unexpected event %s %v", what, n, payloads[i])
		}
	}
	if len(ins) != len(add3Calls) || len(outs) != len(add3Calls) {
		t.Fatalf("%s: %d entry and %d return events of add3, want %d of each", what, len(ins), len(outs), len(add3Calls))
	}
	for i, c := range add3Calls {
		want := map[string]string{"arg0": strconv.FormatInt(c.a, 10), "arg1": strconv.FormatInt(c.b, 10), "arg2": c.s}
		if !mapsEqual(ins[i], want) {
			t.Errorf("%s: entry %d: %v, want %v", what, i, ins[i], want)
		}
		if want := (map[string]string{"retval": strconv.FormatInt(c.ret, 10)}); !mapsEqual(outs[i], want) {
			t.Errorf("%s: return %d: %v, want %v", what, i, outs[i], want)
		}
	}
	// Each return follows its entry.
	for i := 0; i+1 < len(names); i += 2 {
		if names[i] != entry || names[i+1] != ret {
			t.Errorf("%s: events %d and %d are %s and %s, want an entry then its return", what, i, i+1, names[i], names[i+1])
			break
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestBPFUprobeArgs records add3's entries and returns in a test program,
// started as the command and selected with -p, and checks every argument
// and return value through babeltrace2, package ctf's reader and
// "bpftrail print --json".
func TestBPFUprobeArgs(t *testing.T) {
	bt := setup(t)
	bin := buildUprobeTarget(t)
	fields := "arg0,arg1,str(arg2),retval"
	for _, mode := range []string{"command", "pid"} {
		t.Run(mode, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "trace")
			args := []string{"record", "-e", "uprobe:" + bin + ":add3", "-e", "uretprobe:" + bin + ":add3", "--fields", fields, "-o", out}
			var pid int
			var stderr string
			if mode == "command" {
				stdout, se := runOK(t, append(args, "--", bin)...)
				stderr = se
				if strings.TrimSpace(stdout) == "" {
					t.Errorf("the command printed nothing: its stdout is lost")
				}
			} else {
				_, _, pid = traceWaiting(t, bin, nil, args...)
			}
			if mode == "command" && !strings.Contains(stderr, fmt.Sprintf("recorded %d events", 2*len(add3Calls))) {
				t.Errorf("summary does not say %d events:\n%s", 2*len(add3Calls), stderr)
			}

			evs, btErr := babeltrace(t, bt, out)
			if strings.TrimSpace(btErr) != "" {
				t.Errorf("babeltrace2 stderr:\n%s", btErr)
			}
			var names []string
			var payloads []map[string]string
			for _, e := range evs {
				if e.Ctx["comm"] != "uprobe_target" {
					t.Errorf("event %s of comm %q", e.Name, e.Ctx["comm"])
				}
				if pid == 0 {
					pid, _ = strconv.Atoi(e.Ctx["pid"])
				}
				if e.Ctx["pid"] != strconv.Itoa(pid) || e.Ctx["tid"] != strconv.Itoa(pid) {
					t.Errorf("event %s of pid %s tid %s, want %d", e.Name, e.Ctx["pid"], e.Ctx["tid"], pid)
				}
				names = append(names, e.Name)
				payloads = append(payloads, e.Payload)
			}
			checkAdd3Events(t, "babeltrace2", bin, pid, names, payloads)

			_, revs := readTrace(t, out)
			names, payloads = nil, nil
			for _, e := range revs {
				names = append(names, e.Name)
				payloads = append(payloads, e.Payload)
			}
			// The reader gives events stream by stream: order them by time.
			idx := make([]int, len(revs))
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int {
				switch {
				case revs[a].Cycles < revs[b].Cycles:
					return -1
				case revs[a].Cycles > revs[b].Cycles:
					return 1
				}
				return 0
			})
			var sn []string
			var sp []map[string]string
			for _, i := range idx {
				sn, sp = append(sn, names[i]), append(sp, payloads[i])
			}
			checkAdd3Events(t, "reader", bin, pid, sn, sp)

			js, _ := runOK(t, "print", "--json", out)
			names, payloads = nil, nil
			for _, m := range eventLines(t, js) {
				name, _ := m["name"].(string)
				f, _ := m["fields"].(map[string]any)
				p := map[string]string{}
				for k, v := range f {
					p[k] = fmt.Sprint(v)
				}
				names, payloads = append(names, name), append(payloads, p)
			}
			checkAdd3Events(t, "print --json", bin, pid, names, payloads)
		})
	}
}

// countOut runs "bpftrail count ARGS --json -o FILE" to its end (the
// command's output goes to stdout, the counts to FILE) and returns the
// counts.
func countOut(t *testing.T, args ...string) map[string]uint64 {
	t.Helper()
	file := filepath.Join(t.TempDir(), "counts.json")
	runOK(t, append([]string{"count", "--json", "-o", file}, args...)...)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, counts, lost := parseCount(t, string(b))
	if lost != 0 {
		t.Errorf("%d lost", lost)
	}
	return counts
}

// TestBPFUprobeCount counts add3's calls per arg1 in kernel.
func TestBPFUprobeCount(t *testing.T) {
	setup(t)
	bin := buildUprobeTarget(t)
	want := map[string]uint64{}
	for _, c := range add3Calls {
		want[fmt.Sprintf(`{"arg1":%d}`, c.b)]++
	}
	got := countOut(t, "-e", "uprobe:"+bin+":add3", "--by", "arg1", "--", bin)
	checkCounts(t, got, want, fmt.Sprint(got))
}

// TestBPFUprobeLibrary counts the calls of getpid in libc, a library named
// by its bare name, by a program that calls it a known number of times,
// started as the command and selected with -p.
func TestBPFUprobeLibrary(t *testing.T) {
	setup(t)
	bin := buildUprobeTarget(t)
	const n = 123
	want := map[string]uint64{"{}": n}
	t.Run("command", func(t *testing.T) {
		got := countOut(t, "-e", "uprobe:libc:getpid", "--", bin, strconv.Itoa(n))
		checkCounts(t, got, want, fmt.Sprint(got))
	})
	t.Run("pid", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "counts.json")
		traceWaiting(t, bin, []string{strconv.Itoa(n)}, "count", "-e", "uprobe:libc:getpid", "--json", "-o", file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, got, _ := parseCount(t, string(b))
		checkCounts(t, got, want, string(b))
	})
}

// TestBPFUprobeBashReadline records the lines typed into an interactive
// bash through a pseudo-terminal (tmux) as readline's return value, the
// README's example, with -a and with -p.
func TestBPFUprobeBashReadline(t *testing.T) {
	bt := setup(t)
	tmux := bpftest.RequireTool(t, "tmux")
	bash := "/bin/bash"
	if _, err := os.Stat(bash); err != nil {
		t.Skipf("no %s: %v", bash, err)
	}
	for _, mode := range []string{"all", "pid"} {
		t.Run(mode, func(t *testing.T) {
			// A server of its own: nothing else's sessions are touched.
			sock := fmt.Sprintf("bpftrail-test-%d-%s", os.Getpid(), mode)
			tm := func(args ...string) string {
				t.Helper()
				out, err := exec.Command(tmux, append([]string{"-L", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			tm("new-session", "-d", "-s", "rl", "-x", "120", "-y", "30", bash, "--norc", "--noprofile")
			t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
			pid, err := strconv.Atoi(strings.TrimSpace(tm("list-panes", "-t", "rl", "-F", "#{pane_pid}")))
			if err != nil {
				t.Fatalf("pane pid: %v", err)
			}
			// Wait for the prompt: bash is then inside readline.
			deadline := time.Now().Add(runTimeout)
			for strings.TrimSpace(tm("capture-pane", "-p", "-t", "rl")) == "" {
				if time.Now().After(deadline) {
					t.Fatal("bash printed no prompt")
				}
				time.Sleep(50 * time.Millisecond)
			}

			out := filepath.Join(t.TempDir(), "trace")
			args := []string{"-e", "uprobe:" + bash + ":readline", "-e", "uretprobe:" + bash + ":readline", "--fields", "str(retval)", "-o", out}
			if mode == "all" {
				args = append(args, "-a")
			} else {
				args = append(args, "-p", strconv.Itoa(pid))
			}
			r := record(t, append(args, "-d", runTimeout.String())...)
			waitRecording(t, r)
			// The readline call that runs already started before the
			// uretprobe was attached, so its return is not seen: end it
			// with a first line.
			marker := fmt.Sprintf("echo bpftrail-readline-%d-%s", os.Getpid(), mode)
			lines := []string{"true", marker, "exit"}
			for _, l := range lines {
				tm("send-keys", "-t", "rl", "-l", l)
				tm("send-keys", "-t", "rl", "Enter")
			}
			for syscall.Kill(pid, 0) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("bash did not exit; its screen:\n%s", tm("capture-pane", "-p", "-t", "rl"))
				}
				time.Sleep(50 * time.Millisecond)
			}
			if code := r.interrupt(t); code != 0 {
				t.Fatalf("bpftrail record: exit status %d\n%s", code, r.stderr.String())
			}

			evs, btErr := babeltrace(t, bt, out)
			if _, other := discardedWarnings(btErr); len(other) > 0 {
				t.Errorf("babeltrace2 stderr:\n%s", btErr)
			}
			var entries int
			var rets []string
			for _, e := range evs {
				if e.Ctx["pid"] != strconv.Itoa(pid) {
					if mode == "pid" {
						t.Errorf("-p %d recorded pid %s: %+v", pid, e.Ctx["pid"], e)
					}
					continue
				}
				switch e.Name {
				case "uprobe:" + bash + ":readline":
					entries++
				case "uretprobe:" + bash + ":readline":
					v, ok := e.Payload["retval"]
					if !ok {
						t.Errorf("uretprobe without retval: %+v", e)
					}
					rets = append(rets, v)
				default:
					t.Errorf("unexpected event %+v", e)
				}
			}
			t.Logf("bash %d: %d readline calls, returned %q", pid, entries, rets)
			if !slices.Contains(rets, marker) || !slices.Contains(rets, "exit") {
				t.Errorf("readline returned %q: want %q and %q among them", rets, marker, "exit")
			}
			for _, r := range rets {
				if !slices.Contains(lines, r) {
					t.Errorf("readline returned %q, which was not typed", r)
				}
			}
			if entries < len(rets) {
				t.Errorf("%d readline entries for %d returns", entries, len(rets))
			}
		})
	}
}

// TestBPFUprobeBadInput checks that wrong uprobe and USDT specs are one
// line on stderr, exit status 1, and leave no trace behind.
func TestBPFUprobeBadInput(t *testing.T) {
	setup(t)
	bin := buildUprobeTarget(t)
	usdtBin := buildUSDTTarget(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing binary", []string{"-e", "uprobe:/nonexistent/bpftrail-bin:foo"}, []string{"/nonexistent/bpftrail-bin", "no such file"}},
		{"missing library", []string{"-e", "uprobe:bpftrailnosuchlib:foo"}, []string{`"bpftrailnosuchlib" not found`}},
		{"missing symbol", []string{"-e", "uprobe:" + bin + ":add4"}, []string{"add4 not found", "did you mean", "add3"}},
		{"missing symbol uretprobe", []string{"-e", "uretprobe:" + bin + ":add4"}, []string{"add4 not found", "add3"}},
		{"not ELF", []string{"-e", "uprobe:/etc/passwd:x"}, []string{"/etc/passwd", "not a readable ELF file"}},
		{"directory", []string{"-e", "uprobe:" + filepath.Dir(bin) + ":x"}, []string{"not a readable ELF file"}},
		{"no such process", []string{"-e", "uprobe:" + bin + ":add3", "-p", "999999"}, []string{"-p 999999: no such process"}},
		{"usdt probe missing", []string{"-e", "usdt:" + usdtBin + ":prov:nosuch"}, []string{"prov:nosuch not found", "prov:ints", "prov:constant", "prov:memory", "prov:uchar", "prov:noargs", "prov:guarded"}},
		{"usdt provider missing", []string{"-e", "usdt:" + usdtBin + ":other:ints"}, []string{"other:ints not found", "prov:ints"}},
		{"no usdt notes", []string{"-e", "usdt:" + bin + ":prov:ints"}, []string{bin, "no USDT probes"}},
		{"usdt missing binary", []string{"-e", "usdt:/nonexistent/bpftrail-bin:p:n"}, []string{"/nonexistent/bpftrail-bin", "no such file"}},
		{"fields arg9", []string{"-e", "uprobe:" + bin + ":add3", "--fields", "arg9"}, []string{"--fields", `"arg9"`}},
		{"fields unclosed", []string{"-e", "uprobe:" + bin + ":add3", "--fields", "str(arg0"}, []string{"--fields", "missing )"}},
		{"fields unknown", []string{"-e", "uprobe:" + bin + ":add3", "--fields", "arg0,ret"}, []string{"--fields", `"ret"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no such process" && syscall.Kill(999999, 0) != syscall.ESRCH {
				t.Skip("pid 999999 exists")
			}
			out := filepath.Join(t.TempDir(), "trace")
			p := record(t, append([]string{"-d", "5s", "-o", out}, tc.args...)...)
			code := p.wait(t)
			msg := p.stderr.String()
			checkOneLineError(t, code, msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", strings.TrimSpace(msg), w)
				}
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("the failed record left %s behind", out)
			}
		})
	}
	t.Run("list no usdt notes", func(t *testing.T) {
		code, _, msg := runBpftrail(t, "list", "usdt:"+bin)
		checkOneLineError(t, code, msg)
		if !strings.Contains(msg, "no USDT probes") {
			t.Errorf("error %q does not say the binary has no USDT probes", msg)
		}
	})
}

// buildUSDTTarget builds testdata/usdt_target.c and usdt_guarded.c with
// <sys/sdt.h>, or skips t (fails it under CI) without that header.
func buildUSDTTarget(t *testing.T) string {
	t.Helper()
	found := false
	for _, p := range []string{"/usr/include/sys/sdt.h", "/usr/include/x86_64-linux-gnu/sys/sdt.h", "/usr/local/include/sys/sdt.h"} {
		if _, err := os.Stat(p); err == nil {
			found = true
		}
	}
	if !found {
		if bpftest.InCI() {
			t.Fatal("<sys/sdt.h> is not installed (systemtap-sdt-dev); CI=true")
		}
		t.Skip("<sys/sdt.h> is not installed (systemtap-sdt-dev)")
	}
	return buildC(t, "usdt_target", []string{"-O2"}, "usdt_target.c", "usdt_guarded.c")
}

// TestBPFUSDT lists the probes of a program built with <sys/sdt.h>,
// records each with its arguments of several sizes, signs and locations
// (register, memory, constant), and checks that the probe guarded by a
// semaphore is enabled exactly while it is traced.
func TestBPFUSDT(t *testing.T) {
	bt := setup(t)
	bin := buildUSDTTarget(t)
	const n = 5

	t.Run("list", func(t *testing.T) {
		stdout, _ := runOK(t, "list", "usdt:"+bin)
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			id, rest, _ := strings.Cut(l, " ")
			got[id] = strings.Join(strings.Fields(rest), " ")
		}
		// Argument specs: SIZE@LOCATION, negative sizes signed; the
		// locations are the compiler's choice.
		for _, want := range []struct {
			probe string
			args  []string // a regexp per argument
			sema  bool
		}{
			{"ints", []string{`-4@%\w+`, `-2@%\w+`}, false},
			{"constant", []string{`-8@\$73588229205`}, false},
			{"memory", []string{`-8@\S*\(%\w+\)`}, false},
			{"uchar", []string{`1@\S+`}, false},
			{"noargs", nil, false},
			{"guarded", []string{`-4@\S+`}, true},
		} {
			id := "usdt:" + bin + ":prov:" + want.probe
			text, ok := got[id]
			if !ok {
				t.Errorf("%s not listed:\n%s", id, stdout)
				continue
			}
			re := strings.Join(want.args, " ")
			if want.sema {
				re += ` \(semaphore\)`
			}
			if !regexp.MustCompile(`^` + strings.TrimSpace(re) + `$`).MatchString(text) {
				t.Errorf("%s: listed as %q, want %s", id, text, re)
			}
			delete(got, id)
		}
		if len(got) > 0 {
			t.Errorf("unexpected probes listed: %v", got)
		}
	})

	t.Run("args", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "trace")
		probes := []string{"ints", "constant", "memory", "uchar", "noargs"}
		args := []string{"record", "-o", out}
		for _, p := range probes {
			args = append(args, "-e", "usdt:"+bin+":prov:"+p)
		}
		stdout, _ := runOK(t, append(args, "--", bin, strconv.Itoa(n))...)
		if !strings.Contains(stdout, "enabled 0\n") {
			t.Errorf("the guarded probe was enabled although not traced: %q", stdout)
		}
		want := map[string][]string{}
		for k := range n {
			want["ints"] = append(want["ints"], fmt.Sprintf("arg0=%d arg1=%d", 1000+k, -300-k))
			want["constant"] = append(want["constant"], "arg0=73588229205")
			want["memory"] = append(want["memory"], "arg0=-123456789012")
			want["uchar"] = append(want["uchar"], fmt.Sprintf("arg0=%d", 250+k%5))
			want["noargs"] = append(want["noargs"], "")
		}
		text := func(p map[string]string) string {
			var keys []string
			for k := range p {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, k+"="+p[k])
			}
			return strings.Join(parts, " ")
		}
		evs, btErr := babeltrace(t, bt, out)
		if strings.TrimSpace(btErr) != "" {
			t.Errorf("babeltrace2 stderr:\n%s", btErr)
		}
		got := map[string][]string{}
		for _, e := range evs {
			p, ok := strings.CutPrefix(e.Name, "usdt:"+bin+":prov:")
			if !ok || e.Ctx["comm"] != "usdt_target" {
				t.Errorf("unexpected event %+v", e)
				continue
			}
			got[p] = append(got[p], text(e.Payload))
		}
		for _, p := range probes {
			if !slices.Equal(got[p], want[p]) {
				t.Errorf("babeltrace2: prov:%s: %q, want %q", p, got[p], want[p])
			}
		}

		_, revs := readTrace(t, out)
		got = map[string][]string{}
		for _, e := range revs {
			p := strings.TrimPrefix(e.Name, "usdt:"+bin+":prov:")
			got[p] = append(got[p], text(e.Payload))
		}
		for _, p := range probes {
			// One thread on possibly several CPUs: compare as multisets.
			g, w := slices.Clone(got[p]), slices.Clone(want[p])
			slices.Sort(g)
			slices.Sort(w)
			if !slices.Equal(g, w) {
				t.Errorf("reader: prov:%s: %q, want %q", p, got[p], want[p])
			}
		}
	})

	t.Run("semaphore", func(t *testing.T) {
		untraced, err := exec.Command(bin, strconv.Itoa(n)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(untraced) != "enabled 0\n" {
			t.Errorf("untraced: %q, want enabled 0", untraced)
		}
		guarded := "usdt:" + bin + ":prov:guarded"
		check := func(t *testing.T, out, progOut string) {
			t.Helper()
			if !strings.Contains(progOut, fmt.Sprintf("enabled %d\n", n)) {
				t.Errorf("traced: the program says %q, want enabled %d", progOut, n)
			}
			evs, _ := babeltrace(t, bt, out)
			var got []string
			for _, e := range evs {
				if e.Name != guarded {
					t.Errorf("unexpected event %+v", e)
				}
				got = append(got, e.Payload["arg0"])
			}
			var want []string
			for k := range n {
				want = append(want, strconv.Itoa(k))
			}
			if !slices.Equal(got, want) {
				t.Errorf("prov:guarded fired with %q, want %q", got, want)
			}
		}
		t.Run("command", func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "trace")
			stdout, _ := runOK(t, "record", "-e", guarded, "-o", out, "--", bin, strconv.Itoa(n))
			check(t, out, stdout)
		})
		t.Run("pid", func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "trace")
			_, progOut, _ := traceWaiting(t, bin, []string{strconv.Itoa(n)}, "record", "-e", guarded, "-o", out)
			check(t, out, progOut)
		})
		t.Run("other probe", func(t *testing.T) {
			// Tracing another probe leaves the semaphore alone.
			out := filepath.Join(t.TempDir(), "trace")
			stdout, _ := runOK(t, "record", "-e", "usdt:"+bin+":prov:ints", "-o", out, "--", bin, strconv.Itoa(n))
			if !strings.Contains(stdout, "enabled 0\n") {
				t.Errorf("prov:ints traced: the program says %q, want enabled 0", stdout)
			}
		})
	})
}

// TestBPFKprobe checks kprobe specs: on a kernel without kprobes (no kprobe
// PMU), a one-line error that says so and names tracepoints instead; on a
// kernel with them, a count of vfs_read that succeeds.
func TestBPFKprobe(t *testing.T) {
	setup(t)
	// As the engine decides: the kprobe PMU, or tracefs's legacy
	// kprobe_events.
	_, errPMU := os.Stat("/sys/bus/event_source/devices/kprobe")
	root, _ := tracefs.Root()
	_, errTFS := os.Stat(root + "/kprobe_events")
	if errPMU == nil || errTFS == nil {
		t.Run("count", func(t *testing.T) {
			runOK(t, "count", "-e", "kprobe:vfs_read", "-d", "1s")
		})
		t.Skip("this kernel has kprobes: the no-kprobe error cannot be checked here")
	}
	for _, spec := range []string{"kprobe:vfs_read", "kretprobe:vfs_read"} {
		t.Run(spec, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "trace")
			p := record(t, "-e", spec, "-d", "1s", "-o", out)
			code := p.wait(t)
			msg := p.stderr.String()
			checkOneLineError(t, code, msg)
			for _, w := range []string{spec, "no kprobe support", "tracepoint"} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", strings.TrimSpace(msg), w)
				}
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("the failed record left %s behind", out)
			}
		})
	}
	t.Run("count", func(t *testing.T) {
		code, _, msg := runBpftrail(t, "count", "-e", "kprobe:vfs_read", "-d", "1s")
		checkOneLineError(t, code, msg)
		if !strings.Contains(msg, "no kprobe support") {
			t.Errorf("error %q does not say there is no kprobe support", msg)
		}
	})
}

// TestBPFRunUprobeOrder: several probes on one function fire in the
// order of the script (the kernel runs a uprobe's consumers newest first,
// so they are attached last to first), entries and returns alike.
func TestBPFRunUprobeOrder(t *testing.T) {
	setup(t)
	bin := buildUprobeTarget(t)
	prog := fmt.Sprintf(`uprobe:%[1]s:add3 { printf("a"); } uprobe:%[1]s:add3 { printf("b"); }
uretprobe:%[1]s:add3 { printf("c"); } uretprobe:%[1]s:add3 { printf("d\n"); }`, bin)
	stdout, _ := runOK(t, "run", "-q", "-e", prog, "-c", bin)
	// The target prints its sum on the same stdout, possibly between a
	// call's last two printfs (they are written as their records come):
	// the script's own output has no digits.
	stdout = regexp.MustCompile(`[0-9]+\n`).ReplaceAllString(stdout, "")
	if got := strings.Count(stdout, "abcd\n"); got != len(add3Calls) {
		t.Errorf("%d times abcd, want %d:\n%s", got, len(add3Calls), stdout)
	}
}

// TestBPFRunUprobeByPid: with -p, "uprobe:*:FUNC" and "usdt::PROVIDER:NAME"
// find the function and the probe in the files the process maps, and
// -l -p lists them there.
func TestBPFRunUprobeByPid(t *testing.T) {
	setup(t)
	bin := buildUprobeTarget(t)
	w := startWaiting(t, bin)
	pid := strconv.Itoa(w.cmd.Process.Pid)
	list, _ := runOK(t, "run", "-l", "-p", pid, "uprobe:*:add*")
	if want := "uprobe:/proc/" + pid + "/root" + bin + ":add3\n"; !strings.Contains(list, want) {
		t.Errorf("-l -p %s has no %s:\n%s", pid, want, list)
	}
	p := start(t, bpftrailBn, "run", "-e", `uprobe:*:add3 { @n = count(); } uretprobe:*:add* { @r = count(); }`, "-p", pid)
	waitRecording(t, p)
	w.run(t)
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr.String())
	}
	for _, want := range []string{fmt.Sprintf("@n: %d\n", len(add3Calls)), fmt.Sprintf("@r: %d\n", len(add3Calls))} {
		if !strings.Contains(p.stdout.String(), want) {
			t.Errorf("output %q, want %q in it", p.stdout.String(), want)
		}
	}
}
