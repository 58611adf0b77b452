package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// result is one run of the load under one mode.
type result struct {
	nsPerCall   float64 // the loop thread's CPU time per call
	wallPerCall float64
	dups        int64 // perf: samples written twice (not counted in kept)
	kept        int64 // -1: not applicable
	lost        int64
	streamB     int64 // bytes of event data on disk (perf: the whole file)
	totalB      int64 // bytes on disk including metadata
	cpuTotal    time.Duration
	cpuWindow   time.Duration // from the load's release to the tracer's exit
	expected    int64         // events the loads made (0: unknown, N)
	note        string
	mapCount    int64   // -run: the loop's events in the program's map
	mapOK       bool    // -run: the map agrees with the loop
	progNs      float64 // -run: bpf_stats run time per run of the tracer's programs
	progRuns    int64
	floor       float64 // record: the mean of the empty-program runs next to this one (0: none)
	floorWall   float64 // the same for wallPerCall
}

// loadProc is a load generator held before its loop: one process per CPU
// that the bench starts, or one command that a tracer starts (cmds nil),
// which runs a load per CPU. Every load reads one byte of the same pipe
// before its loop and writes its times to result.CPU.
type loadProc struct {
	cpus   []int
	cmds   []*exec.Cmd
	start  *os.File // the write end of the loads' stdin
	stdin  *os.File // its read end, until a tracer that runs the load has it
	result string   // prefix of the loads' result files
	errb   lockedBuffer
	proc   time.Duration // after wait: the loads' processes' CPU time
}

// loadSeq numbers the loads' result files.
var loadSeq int

// newLoad makes the pipe and names the result files of a load on cpus.
func (b *bench) newLoad(cpus []int) (*loadProc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	loadSeq++
	return &loadProc{cpus: cpus, start: w, stdin: r, result: filepath.Join(b.tmp, fmt.Sprintf("load-%d", loadSeq))}, nil
}

// loadEnviron is the environment of a load, beyond the bench's own.
//
// No asynchronous preemption: the runtime's preemption signal is sent with
// tgkill(getpid(), ...), and sysmon retries it while the loop sits in
// RawSyscall, which would add a varying number of getpid events.
// GOMAXPROCS=1 keeps the runtime from starting and retiring threads, which
// can make perf record -p fail with ESRCH on a vanished thread.
func (b *bench) loadEnviron(l *loadProc) []string {
	env := []string{"GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=1", resultEnv + "=" + l.result}
	return append(env, b.loadEnv...)
}

// startLoad starts a held load on the load CPU.
func (b *bench) startLoad() (*loadProc, error) { return b.startLoads([]int{b.loadCPU}) }

// startLoads starts a held load process on each of cpus.
func (b *bench) startLoads(cpus []int) (*loadProc, error) {
	l, err := b.newLoad(cpus)
	if err != nil {
		return nil, err
	}
	defer func() { l.stdin.Close(); l.stdin = nil }()
	for _, cpu := range cpus {
		cmd := exec.Command(b.self, loadArg, strconv.Itoa(b.n), strconv.Itoa(cpu))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = l.stdin, &l.errb, &l.errb
		cmd.Env = append(os.Environ(), b.loadEnviron(l)...)
		if err := cmd.Start(); err != nil {
			l.abort()
			return nil, err
		}
		l.cmds = append(l.cmds, cmd)
	}
	return l, nil
}

// heldCommand returns a load on cpus for a tracer to run as its command
// (argv), with the tracer's stdin for the load's.
func (b *bench) heldCommand(cpus []int) (*loadProc, []string, error) {
	l, err := b.newLoad(cpus)
	if err != nil {
		return nil, nil, err
	}
	var list []string
	for _, c := range cpus {
		list = append(list, strconv.Itoa(c))
	}
	argv := append([]string{"env"}, b.loadEnviron(l)...)
	argv = append(argv, b.self, loadArg, strconv.Itoa(b.n), strings.Join(list, ","))
	return l, argv, nil
}

func (l *loadProc) pid() int { return l.cmds[0].Process.Pid }

// pids returns the processes of the loads the bench started.
func (l *loadProc) pids() []int {
	var p []int
	for _, c := range l.cmds {
		p = append(p, c.Process.Pid)
	}
	return p
}

// release starts the loops.
func (l *loadProc) release() error {
	_, err := l.start.Write(make([]byte, len(l.cpus)))
	l.start.Close()
	return err
}

// abort makes held loads exit without running.
func (l *loadProc) abort() {
	l.start.Close()
	if l.stdin != nil {
		l.stdin.Close()
	}
	for _, c := range l.cmds {
		_ = c.Wait()
	}
}

// wait waits for the loads the bench started, then returns the loads' CPU
// and wall ns per call, averaged over CPUs.
func (l *loadProc) wait(n int) (cpu, wall float64, err error) {
	for _, c := range l.cmds {
		if err := c.Wait(); err != nil {
			return 0, 0, fmt.Errorf("load: %v: %s", err, strings.TrimSpace(l.errb.String()))
		}
	}
	var wallNs, cpuNs int64
	for _, c := range l.cpus {
		file := fmt.Sprintf("%s.%d", l.result, c)
		out, err := os.ReadFile(file)
		if err != nil {
			return 0, 0, fmt.Errorf("load on CPU %d: %v: %s", c, err, strings.TrimSpace(l.errb.String()))
		}
		os.Remove(file)
		var w, c, p int64
		if _, err := fmt.Sscan(string(out), &w, &c, &p); err != nil {
			return 0, 0, fmt.Errorf("load output %q: %v", out, err)
		}
		wallNs += w
		cpuNs += c
		l.proc += time.Duration(p)
	}
	if n == 0 {
		return 0, 0, nil
	}
	k := float64(n) * float64(len(l.cpus))
	return float64(cpuNs) / k, float64(wallNs) / k, nil
}

func (b *bench) runUntraced() (result, error) { return b.runUntracedOn([]int{b.loadCPU}) }

// runUntracedOn runs a load on each of cpus, untraced.
func (b *bench) runUntracedOn(cpus []int) (result, error) {
	l, err := b.startLoads(cpus)
	if err != nil {
		return result{}, err
	}
	time.Sleep(50 * time.Millisecond)
	if err := l.release(); err != nil {
		l.abort()
		return result{}, err
	}
	cpu, wall, err := l.wait(b.n)
	return result{nsPerCall: cpu, wallPerCall: wall, kept: -1, lost: -1}, err
}

// emptyProgram loads "r0 = 0; exit" and attaches it to the tracepoint
// group:name.
func emptyProgram(group, name string) (*ebpf.Program, func(), error) {
	_ = rlimit.RemoveMemlock()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bench_empty",
		Type: ebpf.TracePoint,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load empty program: %w", err)
	}
	l, err := link.Tracepoint(group, name, prog, nil)
	if err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("attach empty program: %w", err)
	}
	return prog, func() { l.Close(); prog.Close() }, nil
}

// runEmptyOn runs the load with the empty program on group:name.
func (b *bench) runEmptyOn(group, name string) (result, error) {
	return b.runEmptyLoads(group, name, []int{b.loadCPU})
}

// runEmptyLoads runs a load on each of cpus with the empty program on
// group:name.
func (b *bench) runEmptyLoads(group, name string, cpus []int) (result, error) {
	prog, detach, err := emptyProgram(group, name)
	if err != nil {
		return result{}, err
	}
	defer detach()
	res, err := b.runUntracedOn(cpus)
	if b.stats {
		res.progNs, res.progRuns = progStats(prog)
	}
	return res, err
}

// tracer is a collector process (perf or bpftrail) started on the tracer CPU.
type tracer struct {
	cmd  *exec.Cmd
	errb lockedBuffer // its stdout and stderr
}

// lockedBuffer is a bytes.Buffer that can be read while the process
// writes to it.
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

func (b *bench) startTracer(args ...string) (*tracer, error) {
	return b.startTracerOn(strconv.Itoa(b.tracerCPU), nil, args...)
}

// startTracerOn starts a tracer on the CPUs of the list cpus (taskset's
// syntax), with stdin (nil: none) as its standard input.
func (b *bench) startTracerOn(cpus string, stdin *os.File, args ...string) (*tracer, error) {
	t := &tracer{}
	all := append([]string{"-c", cpus}, args...)
	t.cmd = exec.Command("taskset", all...)
	t.cmd.Stdout, t.cmd.Stderr = &t.errb, &t.errb
	if stdin != nil {
		t.cmd.Stdin = stdin
	}
	if b.notify {
		t.cmd.Env = append(os.Environ(), notifyMarker+"=1")
	}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	return t, nil
}

// waitAttached waits until the tracer holds a perf_event or bpf_link file
// descriptor and extra() (if any) is true, then lets it settle for warmup.
func (b *bench) waitAttached(t *tracer, extra func() bool) error {
	pid := t.cmd.Process.Pid
	deadline := time.Now().Add(30 * time.Second)
	for {
		if syscall.Kill(pid, 0) != nil || exited(pid) {
			return fmt.Errorf("%s %w: %s", filepath.Base(t.cmd.Args[3]), errNotAttached, strings.TrimSpace(t.errb.String()))
		}
		if hasTraceFD(pid) && (extra == nil || extra()) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not attach within 30s", t.cmd.Args[3])
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(b.warmup.dur())
	if exited(pid) {
		return fmt.Errorf("%s %w: %s", filepath.Base(t.cmd.Args[3]), errNotAttached, strings.TrimSpace(t.errb.String()))
	}
	return nil
}

// exited reports whether pid is a zombie.
func exited(pid int) bool {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

func hasTraceFD(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && (l == "anon_inode:[perf_event]" || l == "anon_inode:bpf_link") {
			return true
		}
	}
	return false
}

// taskCPU sums sum_exec_runtime (ns) over pid's live threads.
func taskCPU(pid int) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, _ := os.ReadDir(dir)
	var sum int64
	for _, e := range ents {
		s, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(s))
		if len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			sum += v
		}
	}
	return time.Duration(sum)
}

// stop sends SIGINT (if the tracer is still running) and waits for it.
func (t *tracer) stop() error {
	_ = t.cmd.Process.Signal(os.Interrupt)
	return t.waitExit()
}

// waitExit waits for a tracer that ends with its command.
func (t *tracer) waitExit() error {
	done := make(chan error, 1)
	go func() { done <- t.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(120 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
		return errNoStop
	}
}

func (t *tracer) cpu() time.Duration {
	ru, ok := t.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// errNotAttached marks a tracer that exited before attaching; the run is
// retried with a fresh load.
var errNotAttached = errors.New("exited before attaching")

// errNoStop marks a tracer that ignored SIGINT (bpftrace 0.17 once sat in
// epoll_wait for 120 s); the run is retried.
var errNoStop = errors.New("did not stop within 120s after SIGINT; killed")

// retry runs f up to three times while the tracer fails to attach or to
// stop, and once more when its counts fall short (a *countError).
func retry(f func() (result, error)) (result, error) {
	short := false
	for i := 0; ; i++ {
		res, err := f()
		var ce *countError
		switch {
		case err == nil:
			return res, nil
		case errors.As(err, &ce):
			if short {
				return res, err
			}
			short = true
		case i >= 2 || !(errors.Is(err, errNotAttached) || errors.Is(err, errNoStop)):
			return res, err
		}
		fmt.Fprintf(os.Stderr, "retrying: %v\n", err)
	}
}

// checkRun is checkCounts for a tracer that has exited: a short count
// also names the other processes' BPF programs still on the tracepoint.
func checkRun(tracer string, res result) error {
	err := checkCounts(tracer, res)
	if ce, ok := err.(*countError); ok {
		ce.others = tracepointProgs(benchTracepointName, 0)
	}
	return err
}

// traced runs the held load under t: wait for attach, release, wait for the
// load, stop the tracer.
func (b *bench) traced(l *loadProc, t *tracer, extra func() bool) (result, error) {
	return b.tracedLoad(l, t, extra, false)
}

// tracedLoad is traced; with ownsLoad the tracer runs the load as its
// command and ends with it: it is waited for, not stopped, and the load's
// CPU time, which its rusage includes, is taken out of the tracer's.
func (b *bench) tracedLoad(l *loadProc, t *tracer, extra func() bool, ownsLoad bool) (result, error) {
	var res result
	if err := b.waitAttached(t, extra); err != nil {
		l.abort()
		_ = t.stop()
		return res, err
	}
	before := taskCPU(t.cmd.Process.Pid)
	if err := l.release(); err != nil {
		l.abort()
		_ = t.stop()
		return res, err
	}
	var serr, lerr error
	var cpu, wall float64
	if ownsLoad {
		serr = t.waitExit()
		cpu, wall, lerr = l.wait(b.n)
	} else {
		cpu, wall, lerr = l.wait(b.n)
		if b.stats {
			res.progNs, res.progRuns = tracerProgStats(t.cmd.Process.Pid)
		}
		serr = t.stop()
	}
	if lerr != nil {
		return res, lerr
	}
	if serr != nil {
		var ee *exec.ExitError
		if !errors.As(serr, &ee) {
			return res, fmt.Errorf("%s: %w: %s", t.cmd.Args[3], serr, strings.TrimSpace(t.errb.String()))
		}
		// perf re-raises SIGINT after writing its file; that is a normal end.
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			res.note = fmt.Sprintf("%s: %v", filepath.Base(t.cmd.Args[3]), serr)
		}
	}
	res.nsPerCall, res.wallPerCall = cpu, wall
	res.cpuTotal = t.cpu()
	if ownsLoad {
		res.cpuTotal -= l.proc
	}
	res.cpuWindow = res.cpuTotal - before
	res.expected = int64(b.n) * int64(len(l.cpus))
	return res, nil
}

func (b *bench) runPerf(v *variant, round int) (result, error) {
	return retry(func() (result, error) { return b.runPerfOnce(v, round) })
}

func (b *bench) runPerfOnce(v *variant, round int) (result, error) {
	name := fmt.Sprintf("perf-%d-%d", round, time.Now().UnixNano())
	file := filepath.Join(b.tmp, name+".data")
	ctl, err := newPerfControl(b.tmp, name)
	if err != nil {
		return result{}, err
	}
	defer ctl.close()
	l, t, err := b.startTraced(v, func(pids []int) []string {
		args := []string{"perf", "record", "-q", "-e", benchTracepoint, "-o", file}
		args = append(args, ctl.args()...)
		switch v.rec {
		case recSystem:
			args = append(args, "-a")
		case recFilter:
			var conds []string
			for _, p := range pids {
				conds = append(conds, fmt.Sprintf("common_pid == %d", p))
			}
			args = append(args, "-a", "--filter", strings.Join(conds, " || "))
		case recPID:
			args = append(args, "-p", strconv.Itoa(pids[0]))
		}
		return args
	})
	if err != nil {
		return result{}, err
	}
	// Wait for perf's word that its events are on, not for its file
	// descriptors.
	res, err := b.tracedLoad(l, t, ctl.enabled, v.rec == recCmd)
	if err != nil {
		return res, err
	}
	kept, dups, lost, err := perfCounts(file)
	if err != nil {
		return res, fmt.Errorf("%v (perf output: %s)", err, strings.TrimSpace(t.errb.String()))
	}
	res.kept, res.dups, res.lost = int64(kept), int64(dups), int64(lost)
	if st, err := os.Stat(file); err == nil {
		res.streamB, res.totalB = st.Size(), st.Size()
	}
	if !b.keep {
		os.Remove(file)
	}
	return res, checkRun(tracerPerf, res)
}

// startTraced starts the held load of v and its tracer, whose arguments
// args returns for the loads' processes (none when the tracer runs the
// load: args is then followed by "--" and the load's command).
func (b *bench) startTraced(v *variant, args func(pids []int) []string) (*loadProc, *tracer, error) {
	cpus, tcpus := b.loadCPUs(*v), b.tracerCPUs(*v)
	if v.rec == recCmd {
		l, argv, err := b.heldCommand(cpus)
		if err != nil {
			return nil, nil, err
		}
		t, err := b.startTracerOn(tcpus, l.stdin, append(append(args(nil), "--"), argv...)...)
		l.stdin.Close()
		l.stdin = nil
		if err != nil {
			l.abort()
			return nil, nil, err
		}
		return l, t, nil
	}
	l, err := b.startLoads(cpus)
	if err != nil {
		return nil, nil, err
	}
	t, err := b.startTracerOn(tcpus, nil, args(l.pids())...)
	if err != nil {
		l.abort()
		return nil, nil, err
	}
	return l, t, nil
}

// parseSummary returns the events kept and lost that bpftrail record's
// summary line in out gives.
func parseSummary(out string) (kept, lost int64, err error) {
	m := summaryRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no summary in bpftrail's output: %s", strings.TrimSpace(out))
	}
	kept, _ = strconv.ParseInt(m[1], 10, 64)
	lost, _ = strconv.ParseInt(m[2], 10, 64)
	return kept, lost, nil
}

var summaryRE = regexp.MustCompile(`recorded (\d+) events in .* \(.*?, (\d+) lost`)

func (b *bench) runBpftrail(v *variant, round int) (result, error) {
	return retry(func() (result, error) { return b.runBpftrailOnce(v, round) })
}

func (b *bench) runBpftrailOnce(v *variant, round int) (result, error) {
	dir := filepath.Join(b.tmp, fmt.Sprintf("bpftrail-%d-%d", round, time.Now().UnixNano()))
	l, t, err := b.startTraced(v, func(pids []int) []string {
		args := []string{b.bpftrail, "record", "-e", benchTracepoint, "-o", dir}
		switch v.rec {
		case recFilter:
			var conds []string
			for _, p := range pids {
				conds = append(conds, fmt.Sprintf("pid == %d", p))
			}
			args = append(args, "--filter", strings.Join(conds, " || "))
		case recPID:
			args = append(args, "-p", strconv.Itoa(pids[0]))
		}
		return append(args, b.bpftrailArgs...)
	})
	if err != nil {
		return result{}, err
	}
	res, err := b.tracedLoad(l, t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "metadata"))
		return err == nil
	}, v.rec == recCmd)
	if err != nil {
		return res, err
	}
	if res.kept, res.lost, err = parseSummary(t.errb.String()); err != nil {
		return res, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return res, err
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		res.totalB += info.Size()
		if strings.HasPrefix(e.Name(), "stream_") {
			res.streamB += info.Size()
		}
	}
	if !b.keep {
		os.RemoveAll(dir)
	}
	return res, checkRun(tracerBpftrail, res)
}
