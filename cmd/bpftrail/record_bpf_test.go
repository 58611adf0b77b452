package main

// End-to-end tests of "bpftrail record" that load and attach real BPF
// programs: they build the binary (record re-executes itself to hold a
// command until the probes are attached, so it cannot run in-process),
// record a workload whose system calls are known exactly, and check the
// trace through babeltrace2's text output and through package ctf's reader.
// They need root; bpftest.Require skips them elsewhere and fails them under
// CI=true.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// runTimeout bounds every process a test starts.
const runTimeout = 30 * time.Second

var (
	binDir     string
	buildOnce  sync.Once
	buildErr   error
	bpftrailBn string // the bpftrail binary under test
	workloadBn string // testdata/workload, named so that its comm is "btworkload"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bpftrail-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles bpftrail and the workload once per test binary.
func build() error {
	bpftrailBn = filepath.Join(binDir, "bpftrail")
	workloadBn = filepath.Join(binDir, "btworkload")
	if err := bpftest.Build(".", bpftrailBn, true); err != nil {
		return err
	}
	return bpftest.Build("./testdata/workload", workloadBn, false)
}

// setup skips or fails t unless BPF and babeltrace2 work here, builds the
// binaries and returns babeltrace2's path.
func setup(t *testing.T) string {
	t.Helper()
	bpftest.Require(t)
	bt := bpftest.RequireTool(t, "babeltrace2")
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bt
}

// proc is a process started by a test; Cleanup kills it if still running.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.reap()
	t.Cleanup(p.kill)
	return p
}

func (p *proc) reap() {
	p.err = p.cmd.Wait()
	close(p.done)
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(runTimeout):
		p.kill()
		t.Fatalf("%s did not end within %s; stderr:\n%s", p.cmd.Path, runTimeout, p.stderr.String())
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		t.Fatalf("%s: %v", p.cmd.Path, p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for the process.
func (p *proc) interrupt(t *testing.T) int {
	t.Helper()
	if !p.exited() {
		p.cmd.Process.Signal(os.Interrupt)
	}
	return p.wait(t)
}

// record runs "bpftrail record ARGS" in the background.
func record(t *testing.T, args ...string) *proc {
	t.Helper()
	return start(t, bpftrailBn, append([]string{"record"}, args...)...)
}

// recordWait runs "bpftrail record ARGS" to its end and checks that it
// succeeded; it returns its stderr.
func recordWait(t *testing.T, args ...string) string {
	t.Helper()
	p := record(t, args...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("bpftrail record %s: exit status %d\n%s", strings.Join(args, " "), code, p.stderr.String())
	}
	return p.stderr.String()
}

// waitRecording waits until the bpftrail process p records: its programs
// are attached and enabled. It watches the session's control map (the
// engine's "bt_control" array, non-zero while recording), found through
// the process's file descriptors.
func waitRecording(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("bpftrail ended before recording: %v\n%s", p.err, p.stderr.String())
		}
		if controlEnabled(p.cmd.Process.Pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("bpftrail did not start recording within %s\n%s", runTimeout, p.stderr.String())
}

var mapIDRe = regexp.MustCompile(`(?m)^map_id:\s*(\d+)`)

func controlEnabled(pid int) bool {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join(fdDir, e.Name())); l != "anon_inode:bpf-map" {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		m := mapIDRe.FindSubmatch(info)
		if m == nil {
			continue
		}
		id, _ := strconv.ParseUint(string(m[1]), 10, 32)
		bm, err := ebpf.NewMapFromID(ebpf.MapID(id))
		if err != nil {
			continue
		}
		mi, err := bm.Info()
		if err != nil || mi.Name != "bt_control" {
			bm.Close()
			continue
		}
		var v uint32
		err = bm.Lookup(uint32(0), &v)
		bm.Close()
		return err == nil && v != 0
	}
	return false
}

// workload is a testdata/workload process started with -wait: it has
// printed "ready" and waits for go.
type workload struct {
	*proc
	stdin io.WriteCloser
}

func startWorkload(t *testing.T, args ...string) *workload {
	t.Helper()
	cmd := exec.Command(workloadBn, append([]string{"-wait"}, args...)...)
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
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("workload printed %q, want ready", line)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
		p.reap()
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("workload: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(runTimeout):
		t.Fatal("workload did not start")
	}
	return &workload{proc: p, stdin: stdin}
}

// run lets the workload do its system calls and waits for its end.
func (w *workload) run(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	w.stdin.Close()
	if code := w.wait(t); code != 0 {
		t.Fatalf("workload: exit status %d\n%s", code, w.stderr.String())
	}
}

// recordWorkload records the workload started with wargs: bpftrail runs
// with rargs(pid of the workload), and stops (SIGINT) once the workload has
// ended. It returns bpftrail's stderr and the workload's pid.
func recordWorkload(t *testing.T, wargs []string, rargs func(pid int) []string) (stderr string, pid int) {
	t.Helper()
	w := startWorkload(t, wargs...)
	pid = w.cmd.Process.Pid
	args := rargs(pid)
	r := record(t, append(args, "-d", runTimeout.String())...)
	waitRecording(t, r)
	w.run(t)
	if code := r.interrupt(t); code != 0 {
		t.Fatalf("bpftrail record %s: exit status %d\n%s", strings.Join(args, " "), code, r.stderr.String())
	}
	return r.stderr.String(), pid
}

// btEvent is one line of babeltrace2's text output.
type btEvent struct {
	Time    string // between the brackets: a time, or cycles with --clock-cycles
	Name    string
	Packet  map[string]string // packet context
	Ctx     map[string]string // stream event context: pid, tid, comm
	Payload map[string]string
}

// babeltrace runs babeltrace2 --clock-gmt ARGS DIR, fails t unless it
// exits 0, and returns the events and stderr.
func babeltrace(t *testing.T, bt, dir string, args ...string) ([]btEvent, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bt, append(append([]string{"--clock-gmt"}, args...), dir)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var evs []btEvent
	var perr error
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		ev, err := parseBTLine(sc.Text())
		if err != nil && perr == nil {
			perr = err
		}
		evs = append(evs, ev)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("babeltrace2 %s: %v\n%s", dir, err, stderr.String())
	}
	if perr != nil {
		t.Fatalf("babeltrace2 output: %v", perr)
	}
	return evs, stderr.String()
}

// parseBTLine parses
//
//	[TIME] (+DELTA) HOST NAME: { cpu_id = 0 }, { pid = 1, ... }, { field = value, ... }
func parseBTLine(line string) (btEvent, error) {
	var ev btEvent
	bad := func(why string) (btEvent, error) {
		return btEvent{}, fmt.Errorf("%s in line %q", why, line)
	}
	if !strings.HasPrefix(line, "[") {
		return bad("no timestamp")
	}
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return bad("no timestamp")
	}
	ev.Time = line[1:end]
	rest := line[end+1:]
	if i := strings.Index(rest, ") "); i >= 0 && strings.HasPrefix(rest, " (") {
		rest = rest[i+2:]
	}
	sp := strings.IndexByte(rest, ' ') // after the host name
	colon := strings.Index(rest, ": {")
	if sp < 0 || colon < sp {
		return bad("no event name")
	}
	ev.Name = rest[sp+1 : colon]
	var scopes []map[string]string
	s := rest[colon+2:]
	for {
		m, n, err := parseBTStruct(s)
		if err != nil {
			return bad(err.Error())
		}
		scopes = append(scopes, m)
		s = s[n:]
		if !strings.HasPrefix(s, ", {") {
			break
		}
		s = s[2:]
	}
	if s != "" {
		return bad(fmt.Sprintf("trailing %q", s))
	}
	ev.Packet = scopes[0]
	if len(scopes) > 1 {
		ev.Ctx = scopes[1]
	}
	if len(scopes) > 2 {
		ev.Payload = scopes[len(scopes)-1]
	}
	return ev, nil
}

// parseBTStruct parses "{ k = v, ... }" at the start of s: strings are
// unquoted, nested structs and arrays are kept as text. It returns the
// members and the length parsed.
func parseBTStruct(s string) (map[string]string, int, error) {
	if !strings.HasPrefix(s, "{") {
		return nil, 0, errors.New("expected {")
	}
	m := map[string]string{}
	i := 1
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '}' {
			return m, i + 1, nil
		}
		eq := strings.Index(s[i:], " = ")
		if eq < 0 {
			return nil, 0, errors.New("expected k = v")
		}
		key := s[i : i+eq]
		i += eq + 3
		var val string
		switch {
		case i < len(s) && s[i] == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(s[j])
					}
					continue
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, 0, errors.New("unterminated string")
			}
			val, i = b.String(), j+1
		case i < len(s) && (s[i] == '{' || s[i] == '['):
			depth, j, inStr := 0, i, false
		scan:
			for ; j < len(s); j++ {
				c := s[j]
				switch {
				case inStr && c == '\\':
					j++
				case c == '"':
					inStr = !inStr
				case inStr:
				case c == '{' || c == '[':
					depth++
				case c == '}' || c == ']':
					depth--
				}
				if depth == 0 {
					break scan
				}
			}
			if j >= len(s) {
				return nil, 0, errors.New("unbalanced brackets")
			}
			val, i = s[i:j+1], j+1
		default:
			j := i
			for j < len(s) && s[j] != ',' && s[j] != ' ' && s[j] != '}' {
				j++
			}
			val, i = s[i:j], j
		}
		m[key] = val
		if strings.HasPrefix(s[i:], ",") {
			i++
		}
	}
}

// rdEvent is an event read with package ctf's reader.
type rdEvent struct {
	Name    string
	Stream  *ctf.Stream
	CPU     int
	Cycles  uint64
	PID     int64
	Payload map[string]string // strings as text, integers in base 10
}

// readTrace reads every event of the trace in dir with ctf.Open.
func readTrace(t *testing.T, dir string) (*ctf.Trace, []rdEvent) {
	t.Helper()
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatalf("ctf.Open: %v", err)
	}
	if err := tr.Check(); err != nil {
		t.Errorf("ctf Check: %v", err)
	}
	var out []rdEvent
	it := tr.Events()
	defer it.Close()
	for it.Next() {
		e := it.Event()
		ev := rdEvent{Name: e.Class.Name, Stream: e.Stream, CPU: e.CPU, Cycles: e.Cycles, Payload: map[string]string{}}
		if v, ok := e.StreamContext.Get("pid"); ok {
			ev.PID = v.Int
		}
		if e.Payload.Type != nil {
			for i, f := range e.Payload.Type.Fields {
				if i >= len(e.Payload.Elems) {
					break
				}
				v := e.Payload.Elems[i]
				name := strings.TrimPrefix(f.Name, "_")
				switch v.Type.Kind {
				case ctf.KindInteger:
					if v.Type.Signed {
						ev.Payload[name] = strconv.FormatInt(v.Int, 10)
					} else {
						ev.Payload[name] = strconv.FormatUint(v.Uint, 10)
					}
				default:
					ev.Payload[name] = string(v.Bytes)
				}
			}
		}
		out = append(out, ev)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("ctf reader: %v", err)
	}
	return tr, out
}

// makeFiles creates n files called PREFIX-NN.dat in dir, in order.
func makeFiles(t *testing.T, dir, prefix string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("%s-%02d.dat", prefix, i))
		if err := os.WriteFile(p, []byte(p+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

const openat = "syscalls:sys_enter_openat"

// TestBPFOpenatExact records a process that opens 50 known files, selected
// with -p and with a pid filter, and checks that the trace holds exactly
// those 50 opens, in order.
func TestBPFOpenatExact(t *testing.T) {
	bt := setup(t)
	const n = 50
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"pid-flag", []string{"-p", "%d"}},
		{"pid-filter", []string{"--filter", "pid == %d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := makeFiles(t, t.TempDir(), "bpftrail-exact-"+tc.name, n)
			out := filepath.Join(t.TempDir(), "trace")
			summary, pid := recordWorkload(t, append([]string{"open"}, files...), func(pid int) []string {
				return []string{"-e", openat, "-o", out, tc.args[0], fmt.Sprintf(tc.args[1], pid)}
			})
			if want := fmt.Sprintf("recorded %d events", n); !strings.Contains(summary, want) {
				t.Errorf("summary does not say %q:\n%s", want, summary)
			}

			evs, stderr := babeltrace(t, bt, out)
			if strings.TrimSpace(stderr) != "" {
				t.Errorf("babeltrace2 stderr:\n%s", stderr)
			}
			var got []string
			for _, e := range evs {
				if e.Name != openat {
					t.Errorf("event %s, want only %s", e.Name, openat)
				}
				if e.Ctx["pid"] != strconv.Itoa(pid) {
					t.Errorf("event of pid %s, want %d: %+v", e.Ctx["pid"], pid, e)
				}
				got = append(got, e.Payload["filename"])
			}
			if !slices.Equal(got, files) {
				t.Errorf("babeltrace2: %d filenames, want the %d files in order:\n got %q\nwant %q", len(got), n, got, files)
			}

			_, revs := readTrace(t, out)
			got = got[:0]
			for _, e := range revs {
				if e.PID != int64(pid) {
					t.Errorf("reader: event of pid %d, want %d", e.PID, pid)
				}
				got = append(got, e.Payload["filename"])
			}
			if !slices.Equal(got, files) {
				t.Errorf("reader: %d filenames, want the %d files in order:\n got %q\nwant %q", len(got), n, got, files)
			}
		})
	}
}

// TestBPFCommandAndChildren records a command and its descendants while
// another process opens a file in a loop: only the command's events are in
// the trace.
func TestBPFCommandAndChildren(t *testing.T) {
	bt := setup(t)
	dir := t.TempDir()
	files := makeFiles(t, dir, "bpftrail-cmd", 3)
	outside := start(t, workloadBn, "loop", files[2])
	out := filepath.Join(t.TempDir(), "trace")
	script := fmt.Sprintf("cat %s; (cat %s)", files[0], files[1])
	recordWait(t, "-e", openat, "-e", "sched:sched_process_exec", "-o", out, "-d", runTimeout.String(), "--", "sh", "-c", script)
	if outside.exited() {
		t.Fatalf("the outside process ended early: %v\n%s", outside.err, outside.stderr.String())
	}
	outsidePid := strconv.Itoa(outside.cmd.Process.Pid)

	evs, _ := babeltrace(t, bt, out)
	opens := map[string]int{}
	execPids := map[string]bool{}
	var execs []string
	for _, e := range evs {
		if e.Name == "sched:sched_process_exec" {
			execPids[e.Payload["pid"]] = true
			execs = append(execs, filepath.Base(e.Payload["filename"]))
		}
	}
	for _, e := range evs {
		if e.Ctx["pid"] == outsidePid {
			t.Errorf("event of the outside process %s: %+v", outsidePid, e)
		}
		if c := e.Ctx["comm"]; c != "sh" && c != "cat" {
			t.Errorf("event of comm %q, want sh or cat: %+v", c, e)
		}
		if e.Name == openat {
			opens[e.Payload["filename"]]++
			if e.Ctx["comm"] == "cat" && !execPids[e.Ctx["pid"]] {
				t.Errorf("open by cat pid %s, which no recorded exec started (execs: %v)", e.Ctx["pid"], execPids)
			}
		}
	}
	for _, f := range files[:2] {
		if opens[f] != 1 {
			t.Errorf("%s opened %d times in the trace, want 1", f, opens[f])
		}
	}
	if opens[files[2]] != 0 {
		t.Errorf("the outside process's %s is in the trace %d times", files[2], opens[files[2]])
	}
	sort.Strings(execs)
	if want := []string{"cat", "cat", "sh"}; !slices.Equal(execs, want) {
		t.Errorf("execs %q, want %q", execs, want)
	}
}

// TestBPFFilters runs one workload under many in-kernel filters and checks
// which of its opens each one lets through.
func TestBPFFilters(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	for _, n := range []string{"a.txt", "b.log", "c.txt", "e.txt", "t.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The workload's opens (see testdata/workload), by filename.
	labels := map[string]string{
		dir + "/a.txt": "a", dir + "/b.log": "b", dir + "/c.txt": "c", dir + "/d.out": "d",
		dir: "dir", "e.txt": "e", dir + "/t.txt": "t",
	}
	all := "a b c d dir e t"
	for _, tc := range []struct{ filter, want string }{
		{``, all},
		{`filename == "DIR/a.txt"`, "a"},
		{`filename == "DIR/a*"`, "a"},
		{`filename == "DIR/*"`, "a b c d t"},
		{`filename != "DIR/a.txt"`, "b c d dir e t"},
		{`filename != "DIR/*"`, "dir e"},
		{`filename == "DIR/a.tx"`, ""},
		{`filename == "e.txt"`, "e"},
		{`dfd == -100`, "a b c d dir t"},
		{`-100 == dfd`, "a b c d dir t"},
		{`dfd < 0`, "a b c d dir t"},                   // signed: -100 < 0
		{`dfd >= 0`, "e"},                              // the directory's fd
		{`mode > 0x8000`, "d"},                         // unsigned: mode 0xf1a4 is not negative
		{`mode == 0xf1a4`, "d"},                        // (signed it would be -3676)
		{`mode == 0 && flags == 0x80000`, "a b c e t"}, // O_RDONLY|O_CLOEXEC
		{`flags > 0x80000`, "d dir"},                   // O_CREAT..., O_DIRECTORY
		{`comm == "btworkload"`, all},
		{`comm == "btwork*"`, all},
		{`comm == "btwork"`, ""},
		{`comm != "btworkload"`, ""},
		{`tid == PID`, "a b c d dir e"}, // the main thread
		{`tid != PID`, "t"},
		{`pid == PID`, all},
		{`pid != PID`, ""},
		{`!(filename == "DIR/*")`, "dir e"},
		{`!!(filename == "DIR/b.log")`, "b"},
		{`filename == "DIR/a.txt" || filename == "DIR/c.txt"`, "a c"},
		{`filename == "DIR/*" && filename != "DIR/b.log"`, "a c d t"},
		{`(filename == "DIR/a.txt" || dfd >= 0) && tid == PID`, "a e"},
		{`filename == "DIR/a.txt" || dfd >= 0 && tid == PID`, "a e"},
		{`(filename == "DIR/t.txt" || dfd >= 0) && tid == PID`, "e"},
		{`filename == "DIR/t.txt" || dfd >= 0 && tid == PID`, "e t"},
		{`filename == "DIR/*" && !(filename == "DIR/b*" || mode > 0x8000)`, "a c t"},
		{`(tid != PID || dfd >= 0) && (comm == "btworkload" || cpu > 100000)`, "e t"},
	} {
		expr := strings.ReplaceAll(tc.filter, "DIR", dir)
		t.Run(tc.filter, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "trace")
			_, pid := recordWorkload(t, []string{"filters", dir}, func(pid int) []string {
				args := []string{"-e", openat, "-o", out, "-p", strconv.Itoa(pid)}
				if expr != "" {
					args = append(args, "--filter", strings.ReplaceAll(expr, "PID", strconv.Itoa(pid)))
				}
				return args
			})
			_, evs := readTrace(t, out)
			var got []string
			for _, e := range evs {
				l, ok := labels[e.Payload["filename"]]
				if !ok {
					l = "?" + e.Payload["filename"]
				}
				if e.PID != int64(pid) {
					l += fmt.Sprintf("(pid %d)", e.PID)
				}
				got = append(got, l)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("--filter '%s'\n got %q\nwant %q", expr, g, tc.want)
			}
		})
	}

	// Bad expressions: one line naming the column, no trace directory.
	for _, tc := range []struct{ filter, want string }{
		{`nosuch == 1`, `column 1: unknown field "nosuch"`},
		{`pid == 1 && (tid == `, `column 21: expected an operand`},
		{`tid == pid`, `column 1: cannot compare two fields`},
		{`pid == 1 tid == 2`, `column 10`},
		{`filename == "/etc`, `column 13: unterminated string`},
		{`filename == 3`, `column 13: cannot compare string field "filename" with integer`},
		{`pid == "x"`, `column 8: cannot compare integer field "pid" with string`},
		{`filename == "a*b"`, `column `},
	} {
		t.Run("bad/"+tc.filter, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "trace")
			p := record(t, "-e", openat, "-a", "-d", "5s", "-o", out, "--filter", tc.filter)
			code := p.wait(t)
			msg := p.stderr.String()
			checkOneLineError(t, code, msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the failed record left %s behind (%v)", out, err)
			}
		})
	}
}

// checkOneLineError checks a failed bpftrail run: exit status 1 and one
// line on stderr that starts with "bpftrail: ", without a panic.
func checkOneLineError(t *testing.T, code int, stderr string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.HasPrefix(stderr, "bpftrail: ") || !strings.HasSuffix(stderr, "\n") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one line starting with \"bpftrail: \":\n%s", stderr)
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("stderr has a panic:\n%s", stderr)
	}
}

var (
	discardedRe = regexp.MustCompile(`^WARNING: Tracer discarded (\d+) events `)
	summaryRe   = regexp.MustCompile(`(?m)^bpftrail: recorded (\d+) events in .*, (\d+) lost`)
)

// discardedWarnings sums babeltrace2's "Tracer discarded N events"
// warnings and returns the lines of stderr that are not such warnings.
func discardedWarnings(stderr string) (n uint64, other []string) {
	for _, l := range strings.Split(stderr, "\n") {
		if m := discardedRe.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 64)
			n += v
		} else if strings.TrimSpace(l) != "" {
			other = append(other, l)
		}
	}
	return n, other
}

// TestBPFLossAccounting overflows a small ring buffer and checks that every
// event is either in the trace or counted as discarded, exactly.
func TestBPFLossAccounting(t *testing.T) {
	bt := setup(t)
	const m = 200000
	out := filepath.Join(t.TempDir(), "trace")
	summary, pid := recordWorkload(t, []string{"getppid", strconv.Itoa(m)}, func(pid int) []string {
		return []string{"-e", "syscalls:sys_enter_getppid", "-p", strconv.Itoa(pid), "--buffer-size", "8KiB", "-o", out}
	})

	evs, stderr := babeltrace(t, bt, out)
	lost, other := discardedWarnings(stderr)
	if len(other) > 0 {
		t.Errorf("babeltrace2 stderr has more than discarded-event warnings:\n%s", strings.Join(other, "\n"))
	}
	for _, e := range evs {
		if e.Ctx["pid"] != strconv.Itoa(pid) || e.Name != "syscalls:sys_enter_getppid" {
			t.Fatalf("unexpected event %+v", e)
		}
	}
	t.Logf("%d events recorded, %d discarded", len(evs), lost)
	if lost == 0 {
		t.Fatalf("no event was lost with an 8 KiB ring and %d events: the test proves nothing (shrink the buffer or raise M)", m)
	}
	if got := uint64(len(evs)) + lost; got != m {
		t.Errorf("babeltrace2: %d events + %d discarded = %d, want %d", len(evs), lost, got, m)
	}

	sm := summaryRe.FindStringSubmatch(summary)
	if sm == nil {
		t.Fatalf("no summary line in:\n%s", summary)
	}
	if sm[1] != strconv.Itoa(len(evs)) || sm[2] != strconv.FormatUint(lost, 10) {
		t.Errorf("summary says %s events and %s lost, babeltrace2 %d and %d:\n%s", sm[1], sm[2], len(evs), lost, summary)
	}
	if !strings.Contains(summary, "increase --buffer-size") {
		t.Errorf("summary does not advise a larger buffer:\n%s", summary)
	}

	tr, revs := readTrace(t, out)
	if got := uint64(len(revs)) + tr.DiscardedTotal(); got != m {
		t.Errorf("reader: %d events + %d discarded = %d, want %d", len(revs), tr.DiscardedTotal(), got, m)
	}
}

// TestBPFMonotonicAndClean records every sched tracepoint and the read
// syscalls of the whole system under load, and checks that babeltrace2
// reads the trace without complaint and that every stream's timestamps
// never go back.
func TestBPFMonotonicAndClean(t *testing.T) {
	bt := setup(t)
	for range 2 {
		start(t, workloadBn, "spin")
	}
	out := filepath.Join(t.TempDir(), "trace")
	recordWait(t, "-e", "sched:*", "-e", "syscalls:sys_enter_*read*", "-a", "-d", "1s", "-o", out)

	evs, stderr := babeltrace(t, bt, out, "--clock-cycles")
	if _, other := discardedWarnings(stderr); len(other) > 0 {
		t.Errorf("babeltrace2 stderr has more than discarded-event warnings:\n%s", strings.Join(other, "\n"))
	}
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	last := map[string]uint64{}
	names := map[string]int{}
	for i, e := range evs {
		cpu, ok := e.Packet["cpu_id"]
		if !ok {
			t.Fatalf("event %d has no cpu_id: %+v", i, e)
		}
		ts, err := strconv.ParseUint(e.Time, 10, 64)
		if err != nil {
			t.Fatalf("event %d: cycles %q: %v", i, e.Time, err)
		}
		if ts < last[cpu] {
			t.Fatalf("cpu %s: event %d at %d is before the previous one at %d", cpu, i, ts, last[cpu])
		}
		last[cpu] = ts
		names[e.Name]++
	}
	t.Logf("%d events on %d CPUs: %v", len(evs), len(last), names)
	for _, want := range []string{"sched:sched_switch", "syscalls:sys_enter_read"} {
		if names[want] == 0 {
			t.Errorf("no %s event", want)
		}
	}

	tr, revs := readTrace(t, out)
	if len(revs) != len(evs) {
		t.Errorf("reader: %d events, babeltrace2 %d", len(revs), len(evs))
	}
	prev := map[*ctf.Stream]uint64{}
	for i, e := range revs {
		if e.Cycles < prev[e.Stream] {
			t.Fatalf("reader: %s: event %d at %d is before the previous one at %d", e.Stream.Path, i, e.Cycles, prev[e.Stream])
		}
		prev[e.Stream] = e.Cycles
	}
	for _, s := range tr.Streams {
		if s.CPU < 0 {
			t.Errorf("stream %s has no cpu_id", s.Path)
		}
	}
}

// TestBPFPresetSched records the sched preset while processes fork, and
// checks the LTTng kernel layout Trace Compass needs.
func TestBPFPresetSched(t *testing.T) {
	bt := setup(t)
	out := filepath.Join(t.TempDir(), "trace")
	// Forks during the recording, which starts well within the first 0.5 s.
	start(t, "sh", "-c", "for i in $(seq 60); do /bin/true; sleep 0.02; done")
	recordWait(t, "--preset", "sched", "-a", "-d", "1s", "-o", out)

	md, err := os.ReadFile(filepath.Join(out, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	meta := string(md)
	if !strings.HasPrefix(meta, "/* CTF 1.8 */") {
		t.Fatalf("metadata does not start with /* CTF 1.8 */:\n%.200s", meta)
	}
	env := regexp.MustCompile(`(?s)\nenv \{\n(.*?)\n\};`).FindStringSubmatch(meta)
	if env == nil {
		t.Fatalf("no env block in the metadata:\n%s", meta)
	}
	for _, want := range []string{`domain = "kernel";`, `tracer_name = "lttng-modules";`, `tracer_major = 2;`, `tracer_minor = 13;`} {
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(want) + `$`).MatchString(env[1]) {
			t.Errorf("env has no %s:\n%s", want, env[1])
		}
	}
	var classes []string
	for _, m := range regexp.MustCompile(`(?s)\nevent \{\s*name = "([^"]*)";`).FindAllStringSubmatch(meta, -1) {
		classes = append(classes, m[1])
	}
	sort.Strings(classes)
	wantClasses := []string{"sched_process_exec", "sched_process_exit", "sched_process_fork", "sched_switch", "sched_wakeup", "sched_wakeup_new"}
	if !slices.Equal(classes, wantClasses) {
		t.Errorf("event classes %q, want %q", classes, wantClasses)
	}
	for _, f := range []string{"prev_tid", "next_tid", "prev_prio", "next_prio", "prev_state"} {
		if !regexp.MustCompile(`(?m)^\s*integer \{[^}]*\} _` + f + `;$`).MatchString(meta) {
			t.Errorf("metadata does not declare the integer _%s", f)
		}
	}
	for _, f := range []string{"prev_comm", "next_comm"} {
		if !regexp.MustCompile(`(?m)\} _` + f + `(\[\d+\])?;$`).MatchString(meta) {
			t.Errorf("metadata does not declare _%s", f)
		}
	}
	if _, pc, ok := strings.Cut(meta, "packet.context := struct {"); !ok {
		t.Errorf("no packet context in the metadata")
	} else if pc, _, _ = strings.Cut(pc, "\t};"); !strings.Contains(pc, "} cpu_id;") {
		t.Errorf("the packet context has no cpu_id:%s", pc)
	}

	evs, stderr := babeltrace(t, bt, out)
	if _, other := discardedWarnings(stderr); len(other) > 0 {
		t.Errorf("babeltrace2 stderr:\n%s", strings.Join(other, "\n"))
	}
	tids := map[int64]bool{}
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.Name]++
		if _, ok := e.Packet["cpu_id"]; !ok {
			t.Errorf("event without cpu_id: %+v", e)
		}
		if e.Name != "sched_switch" {
			continue
		}
		for _, f := range []string{"prev_comm", "prev_tid", "prev_prio", "prev_state", "next_comm", "next_tid", "next_prio"} {
			if _, ok := e.Payload[f]; !ok {
				t.Fatalf("sched_switch without %s: %+v", f, e)
			}
		}
		for _, f := range []string{"prev_tid", "next_tid", "prev_prio", "next_prio"} {
			v, err := strconv.ParseInt(e.Payload[f], 10, 64)
			if err != nil {
				t.Fatalf("sched_switch %s = %q is not an integer", f, e.Payload[f])
			}
			if strings.HasSuffix(f, "_tid") && v > 0 {
				tids[v] = true
			}
		}
	}
	t.Logf("%d events: %v; %d tids", len(evs), counts, len(tids))
	if counts["sched_switch"] == 0 {
		t.Fatal("no sched_switch event")
	}
	if len(tids) == 0 {
		t.Error("sched_switch events name no thread")
	}
	if counts["sched_process_fork"] == 0 || counts["sched_process_exec"] == 0 {
		t.Errorf("no fork or exec although a shell forked /bin/true all along: %v", counts)
	}

	tr, revs := readTrace(t, out)
	for _, kv := range []struct {
		key  string
		want any
	}{{"domain", "kernel"}, {"tracer_name", "lttng-modules"}, {"tracer_major", int64(2)}, {"tracer_minor", int64(13)}} {
		found := false
		for _, e := range tr.Metadata.Env {
			if e.Key != kv.key {
				continue
			}
			found = true
			if want, isInt := kv.want.(int64); isInt != e.IsInt || (isInt && e.Int != want) || (!isInt && e.Str != kv.want) {
				t.Errorf("reader: env %s = %+v, want %v", kv.key, e, kv.want)
			}
		}
		if !found {
			t.Errorf("reader: no env %s", kv.key)
		}
	}
	for _, s := range tr.Streams {
		if s.CPU < 0 {
			t.Errorf("reader: stream %s has no cpu_id", s.Path)
		}
	}
	if len(revs) != len(evs) {
		t.Errorf("reader: %d events, babeltrace2 %d", len(revs), len(evs))
	}
	for _, e := range revs {
		if e.CPU != e.Stream.CPU {
			t.Fatalf("reader: %s event in a packet of cpu_id %d, in the stream of CPU %d", e.Name, e.CPU, e.Stream.CPU)
		}
	}
}

// TestBPFBadInput checks that input errors are one line on stderr, exit
// status 1, and leave no trace directory behind.
func TestBPFBadInput(t *testing.T) {
	setup(t)
	kprobe := "no kprobe support"
	if _, err := os.Stat("/sys/bus/event_source/devices/kprobe/type"); err == nil {
		kprobe = "kprobes cannot be recorded yet"
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown tracepoint", []string{"-e", "syscalls:sys_enter_opnat"}, []string{"syscalls:sys_enter_opnat", "did you mean", "syscalls:sys_enter_openat"}},
		{"kprobe", []string{"-e", "kprobe:do_sys_open"}, []string{"kprobe:do_sys_open", kprobe}},
		{"no such process", []string{"-e", openat, "-p", "999999"}, []string{"-p 999999: no such process"}},
		{"bad buffer size", []string{"-e", openat, "--buffer-size", "12XB"}, []string{"--buffer-size", `"12XB"`}},
		{"zero buffer size", []string{"-e", openat, "--buffer-size", "0"}, []string{"--buffer-size"}},
		{"bad spec", []string{"-e", "sys:calls::"}, []string{`invalid probe "sys:calls::"`, "column"}},
		{"empty spec", []string{"-e", ""}, nil},
		{"no probe", nil, []string{"no probe given"}},
		{"unknown flag", []string{"-e", openat, "--nosuch"}, []string{"unknown flag: --nosuch"}},
		{"argument without --", []string{"-e", openat, "ls"}, []string{`unexpected argument "ls"`}},
		{"unknown preset", []string{"--preset", "nosuch"}, []string{`unknown preset "nosuch"`}},
		{"command not found", []string{"-e", openat, "--", "bpftrail-no-such-command"}, []string{`"bpftrail-no-such-command"`, "not found"}},
		{"-p and a command", []string{"-e", openat, "-p", "1", "--", "true"}, []string{"-p and a command cannot be used together"}},
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
			if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the failed record left %s behind (%v)", out, err)
			}
		})
	}
}
