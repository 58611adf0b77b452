package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loadArg is the hidden first argument that turns this binary into the load
// generator: "bpftrail-bench __load N CPU[,CPU...]".
const loadArg = "__load"

// resultEnv names the file prefix the load writes its times to: the load
// of CPU c writes PREFIX.c. Without it the load prints them on stdout.
const resultEnv = "BPFTRAIL_BENCH_RESULT"

// init locks the load generator's main goroutine to the main thread before
// main runs: its loop thread's id is then the process's pid, which is
// what perf's filter names (common_pid is the thread's id, not the
// process's).
func init() {
	if len(os.Args) > 1 && os.Args[1] == loadArg {
		runtime.LockOSThread()
	}
}

// runLoad is the load generator. It pins its thread to cpu, waits for one
// byte on stdin (so a tracer can attach to its PID first), runs n getpid
// syscalls (or the loop loopEnv names) at full speed and prints the loop's
// wall time, its thread's CPU time and its process's CPU time, in ns, on
// stdout or into the file resultEnv names.
// It makes no other getpid call: os.Getpid would be counted by the tracers.
//
// Given several CPUs it runs one load per CPU, as children that share its
// stdin (each takes one byte), and waits for them.
func runLoad(args []string) {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bpftrail-bench __load N CPU[,CPU...]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "load: bad N %q\n", args[0])
		os.Exit(2)
	}
	if strings.Contains(args[1], ",") {
		os.Exit(spawnLoads(args[0], strings.Split(args[1], ",")))
	}
	cpu, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: bad CPU %q\n", args[1])
		os.Exit(2)
	}
	if err := checkMainThread(); err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		fmt.Fprintf(os.Stderr, "load: sched_setaffinity: %v\n", err)
		os.Exit(1)
	}
	loop := os.Getenv(loopEnv)
	if loop == "read" {
		wall, cpu := runReadLoad(n)
		writeLoadResult(args[1], fmt.Sprintf("%d %d %d\n", wall, cpu, cpu))
		os.Exit(0)
	}
	var devNull int
	var buf []byte
	if loop == "write" {
		if devNull, err = unix.Open("/dev/null", unix.O_WRONLY, 0); err != nil {
			fmt.Fprintf(os.Stderr, "load: open /dev/null: %v\n", err)
			os.Exit(1)
		}
		buf = make([]byte, maxWriteSize)
	}
	if name := os.Getenv(commEnv); name != "" {
		// The loop thread's comm, the key of @[comm]: the load's other
		// threads and this benchmark keep the binary's name.
		if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(unsafe.StringData(name+"\x00"))), 0, 0, 0); err != nil {
			fmt.Fprintf(os.Stderr, "load: prctl(PR_SET_NAME): %v\n", err)
			os.Exit(1)
		}
	}
	var b [1]byte
	if _, err := io.ReadFull(os.Stdin, b[:]); err != nil {
		os.Exit(3) // the parent gave up
	}
	var c0, c1 unix.Timespec
	start := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &c0)
	switch loop {
	case "uprobe":
		for i := 0; i < n; i++ {
			uprobeSink += uprobeTarget(i)
		}
	case "write":
		p := uintptr(unsafe.Pointer(&buf[0]))
		for i := 0; i < n; i++ {
			syscall.RawSyscall(syscall.SYS_WRITE, uintptr(devNull), p, uintptr(writeSize(i)))
		}
	default:
		for i := 0; i < n; i++ {
			syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
		}
	}
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &c1)
	elapsed := time.Since(start)
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	writeLoadResult(args[1], fmt.Sprintf("%d %d %d\n", elapsed.Nanoseconds(), c1.Nano()-c0.Nano(), ru.Utime.Nano()+ru.Stime.Nano()))
	if uprobeSink < 0 {
		fmt.Println(uprobeSink)
	}
	os.Exit(0)
}

// writeLoadResult writes the load's times, the line of the load of cpu,
// into the file resultEnv names, or on stdout without it.
func writeLoadResult(cpu, line string) {
	if prefix := os.Getenv(resultEnv); prefix != "" {
		if err := os.WriteFile(prefix+"."+cpu, []byte(line), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "load: %v\n", err)
			os.Exit(1)
		}
		return
	}
	fmt.Print(line)
}

// checkMainThread fails unless the calling thread is the process's main
// thread. It reads the pid from /proc/self, not with getpid, a call the
// tracers would count.
func checkMainThread() error {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return err
	}
	if tid := unix.Gettid(); strconv.Itoa(tid) != self {
		return fmt.Errorf("loop thread %d is not the main thread of process %s: a filter on the pid would miss its calls", tid, self)
	}
	return nil
}

// spawnLoads runs a load of n calls on each of cpus, sharing stdin, and
// returns 0 when all of them succeed. It uses fork/exec and wait4
// directly: os.StartProcess calls getpid once (to probe pidfd support),
// an event that a tracer following this process would count.
func spawnLoads(n string, cpus []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		return 1
	}
	var pids []int
	for _, cpu := range cpus {
		pid, err := syscall.ForkExec(self, []string{self, loadArg, n, cpu}, &syscall.ProcAttr{
			Env:   os.Environ(),
			Files: []uintptr{0, 1, 2},
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: start the load of CPU %s: %v\n", cpu, err)
			return 1
		}
		pids = append(pids, pid)
	}
	code := 0
	for _, pid := range pids {
		var ws syscall.WaitStatus
		for {
			_, err = syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
			code = 1
		}
	}
	return code
}

// loopEnv selects the load's loop: "uprobe" calls uprobeTarget, the
// function the uprobe benchmark probes, "write" writes writeSize(i) bytes
// to /dev/null, "read" is runReadLoad's loop, and anything else calls
// getpid.
const loopEnv = "BPFTRAIL_BENCH_LOOP"

// commEnv, if set, is the name (comm) the loop thread gives itself.
const commEnv = "BPFTRAIL_BENCH_COMM"

// maxWriteSize bounds writeSize.
const maxWriteSize = 1 << 16

// writeSize is the size of the write loop's i-th write: the powers of two
// from 1 to 32 Ki in turn, each plus a varying part below it, so that every
// bucket of a power-of-two histogram from [1] to [32K, 64K) gets a known
// share of the calls.
func writeSize(i int) int {
	k := i % 16
	return 1<<k + (i/16)%(1<<k)
}

// uprobeSink keeps the calls from being optimized away.
var uprobeSink int

// uprobeTarget is the probed function of the uprobe benchmark.
//
//go:noinline
func uprobeTarget(i int) int { return i & 1 }

// recordComm is the name of the load's thread in the recording modes.
const recordComm = "loadgen"

// readLoadPaths are the files the read loop fails to open: the file names
// of sys_enter_openat, of varying lengths as in a real trace.
var readLoadPaths = func() []string {
	dirs := []string{"/nonexistent", "/nonexistent/usr/lib/x86_64-linux-gnu", "/nonexistent/etc/ssl/certs", "/nonexistent/proc/self"}
	var p []string
	for i := 0; i < 64; i++ {
		p = append(p, fmt.Sprintf("%s/bpftrail-bench-%d.conf", dirs[i%len(dirs)], i*i*7919))
	}
	return p
}()

// atFDCWD is AT_FDCWD as a syscall argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// readLoadEvents is how many events of the read benchmark's probes
// (sys_enter_getpid, sys_enter_openat, sys_exit_openat) one iteration of
// the read loop makes.
const readLoadEvents = 3

// runReadLoad runs n iterations of getpid and a failing openat, split over
// one thread per CPU (each pinned to its CPU), so that every CPU's stream
// of the trace holds events that interleave in time with the others'.
// It returns the loop's wall time and the process's CPU time, in ns.
func runReadLoad(n int) (wall, cpu int64) {
	cpus := runtime.NumCPU()
	runtime.GOMAXPROCS(cpus + 1)
	paths := make([]*byte, len(readLoadPaths))
	for i, p := range readLoadPaths {
		b, err := unix.BytePtrFromString(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: %v\n", err)
			os.Exit(1)
		}
		paths[i] = b
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < cpus; c++ {
		iters := n / cpus
		if c < n%cpus {
			iters++
		}
		wg.Add(1)
		go func(cpu, iters int) {
			defer wg.Done()
			runtime.LockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				fmt.Fprintf(os.Stderr, "load: sched_setaffinity: %v\n", err)
				os.Exit(1)
			}
			<-start
			for i := 0; i < iters; i++ {
				syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
				p := uintptr(unsafe.Pointer(paths[(i+cpu)%len(paths)]))
				syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, p, unix.O_RDONLY, 0, 0, 0)
			}
		}(c, iters)
	}
	var b [1]byte
	if _, err := io.ReadFull(os.Stdin, b[:]); err != nil {
		os.Exit(3) // the parent gave up
	}
	var ru0, ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	return elapsed.Nanoseconds(), ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
}
