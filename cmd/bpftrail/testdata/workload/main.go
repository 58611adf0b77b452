// Command workload is the traced program of the TestBPF tests of
// cmd/bpftrail: it does a known, exact sequence of system calls so that a
// test can check every event a recording holds.
//
// Usage:
//
//	workload [-wait] open FILE...   open (and read) each FILE in order
//	workload [-wait] filters DIR    the sequence TestBPFFilters expects (see below)
//	workload [-wait] getppid N      call getppid(2) N times
//	workload [-wait] syscalls NAME=N ...  make each raw system call NAME N times
//	                                (getppid, getuid, getgid, geteuid, getegid, getpgrp)
//	workload [-wait] write SIZE=N ...     write(2) SIZE bytes to /dev/null (fd 77) N times
//	workload [-wait] sleep MS[@CPU] ...   clock_nanosleep(CLOCK_MONOTONIC) MS milliseconds, each in turn
//	                                (on CPU when given)
//	workload [-wait] tryopen FILE...      openat(2) each FILE with syscall.Open, ignoring errors
//	workload [-wait] connect ADDR   connect to the TCP address ADDR, then close
//	workload [-wait] readdirect FILE      read FILE with O_DIRECT, 4 KiB at a time
//	workload loop FILE              open FILE every millisecond until killed
//	workload spin                   burn CPU, read /dev/null and sleep, until killed
//
// With -wait it prints "ready" on stdout, then waits for a line on stdin
// before it starts, so that the test can attach a tracer to a known pid
// first. The main goroutine is locked to the main thread, so that the
// system calls of the sequence have tid == pid (except where noted).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func init() { runtime.LockOSThread() }

func main() {
	args := os.Args[1:]
	wait := len(args) > 0 && args[0] == "-wait"
	if wait {
		args = args[1:]
	}
	if len(args) < 1 {
		fail(fmt.Errorf("usage: workload [-wait] open|filters|getppid|syscalls|write|sleep|tryopen|connect|readdirect|loop|spin ARGS"))
	}
	if wait {
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			fail(fmt.Errorf("waiting for the start line: %w", err))
		}
	}
	var err error
	switch mode, rest := args[0], args[1:]; mode {
	case "open":
		for _, f := range rest {
			if err = openRead(f); err != nil {
				break
			}
		}
	case "filters":
		err = filters(rest[0])
	case "getppid":
		var n int
		if n, err = strconv.Atoi(rest[0]); err == nil {
			for range n {
				syscall.Getppid()
			}
		}
	case "syscalls":
		err = rawSyscalls(rest)
	case "write":
		err = writes(rest)
	case "sleep":
		err = sleeps(rest)
	case "tryopen":
		for _, f := range rest {
			if fd, err := syscall.Open(f, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
				syscall.Close(fd)
			}
		}
	case "connect":
		var c net.Conn
		if c, err = net.DialTimeout("tcp", rest[0], 10*time.Second); err == nil {
			c.Close()
		}
	case "readdirect":
		err = readDirect(rest[0])
	case "loop":
		for {
			_ = openRead(rest[0])
			time.Sleep(time.Millisecond)
		}
	case "spin":
		// Mostly CPU, with reads and short sleeps: many context
		// switches and wake-ups, a moderate rate of syscalls.
		for {
			for t := time.Now(); time.Since(t) < 300*time.Microsecond; {
			}
			_ = openRead("/dev/null")
			time.Sleep(200 * time.Microsecond)
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "workload: %v\n", err)
	os.Exit(2)
}

func openRead(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// filters opens, in order:
//
//	DIR/a.txt, DIR/b.log, DIR/c.txt   openat(AT_FDCWD, ..., O_RDONLY|O_CLOEXEC, 0)
//	DIR/d.out                         openat(AT_FDCWD, ..., O_WRONLY|O_CREAT|O_CLOEXEC, 0xf1a4): mode has its top bit set
//	DIR                               openat(AT_FDCWD, ..., O_RDONLY|O_DIRECTORY|O_CLOEXEC, 0)
//	e.txt                             openat(fd of DIR, ..., O_RDONLY|O_CLOEXEC, 0): dfd >= 0
//	DIR/t.txt                         like a.txt, from another thread: tid != pid
func filters(dir string) error {
	for _, n := range []string{"a.txt", "b.log", "c.txt"} {
		if err := openRead(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	fd, err := syscall.Open(filepath.Join(dir, "d.out"), syscall.O_WRONLY|syscall.O_CREAT|syscall.O_CLOEXEC, 0xf1a4)
	if err != nil {
		return err
	}
	syscall.Close(fd)
	dfd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	fd, err = syscall.Openat(dfd, "e.txt", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	syscall.Close(fd)
	syscall.Close(dfd)
	done := make(chan error)
	go func() {
		// A new goroutine cannot run on the main thread, which the main
		// goroutine holds locked.
		runtime.LockOSThread()
		done <- openRead(filepath.Join(dir, "t.txt"))
	}()
	return <-done
}

// counts parses NAME=N arguments.
func counts(args []string) ([]string, []int, error) {
	var names []string
	var ns []int
	for _, a := range args {
		name, v, ok := strings.Cut(a, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return nil, nil, fmt.Errorf("bad argument %q: want NAME=N", a)
		}
		names, ns = append(names, name), append(ns, n)
	}
	return names, ns, nil
}

// rawSyscalls makes system calls the Go runtime does not make on its own,
// with RawSyscall, so that their exact number is known.
func rawSyscalls(args []string) error {
	nrs := map[string]uintptr{
		"getppid": syscall.SYS_GETPPID, "getuid": syscall.SYS_GETUID, "getgid": syscall.SYS_GETGID,
		"geteuid": syscall.SYS_GETEUID, "getegid": syscall.SYS_GETEGID, "getpgrp": syscall.SYS_GETPGRP,
	}
	names, ns, err := counts(args)
	if err != nil {
		return err
	}
	for i, name := range names {
		nr, ok := nrs[name]
		if !ok {
			return fmt.Errorf("unknown system call %q", name)
		}
		for range ns[i] {
			syscall.RawSyscall(nr, 0, 0, 0)
		}
	}
	return nil
}

// writes writes SIZE bytes to /dev/null, opened as fd 77, N times per
// SIZE=N argument, in order, with raw system calls.
func writes(args []string) error {
	sizes, ns, err := counts(args)
	if err != nil {
		return err
	}
	fd, err := syscall.Open("/dev/null", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Dup3(fd, 77, syscall.O_CLOEXEC); err != nil {
		return err
	}
	syscall.Close(fd)
	buf := make([]byte, 1<<16)
	for i, s := range sizes {
		size, err := strconv.Atoi(s)
		if err != nil || size > len(buf) {
			return fmt.Errorf("bad size %q", s)
		}
		for range ns[i] {
			if _, _, e := syscall.RawSyscall(syscall.SYS_WRITE, 77, uintptr(unsafe.Pointer(&buf[0])), uintptr(size)); e != 0 {
				return e
			}
		}
	}
	return syscall.Close(77)
}

// sleeps sleeps each duration in milliseconds with clock_nanosleep(2)
// (CLOCK_MONOTONIC, relative): time.Sleep does not use it. Signals are
// blocked on the thread meanwhile: a signal (the Go runtime's preemption
// SIGURG, say) would end a sleep early with EINTR, and the rest of it would
// be a second clock_nanosleep call.
func sleeps(args []string) error {
	all, old := ^uint64(0), uint64(0)
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 0 /* SIG_BLOCK */, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return fmt.Errorf("rt_sigprocmask: %w", e)
	}
	defer syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	for _, a := range args {
		a, cpu, pin := strings.Cut(a, "@")
		ms, err := strconv.Atoi(a)
		if err != nil {
			return err
		}
		if pin {
			if err := pinTo(cpu); err != nil {
				return err
			}
		}
		ts := syscall.NsecToTimespec(int64(ms) * int64(time.Millisecond))
		for {
			_, _, e := syscall.Syscall6(syscall.SYS_CLOCK_NANOSLEEP, 1 /* CLOCK_MONOTONIC */, 0, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&ts)), 0, 0)
			if e == 0 {
				break
			}
			if e != syscall.EINTR {
				return e
			}
		}
	}
	return nil
}

// pinTo binds the calling thread (the locked main thread) to one CPU.
func pinTo(cpu string) error {
	n, err := strconv.Atoi(cpu)
	if err != nil || n < 0 || n >= 1024 {
		return fmt.Errorf("bad CPU %q", cpu)
	}
	var mask [1024 / 64]uint64
	mask[n/64] = 1 << (n % 64)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask))); e != 0 {
		return fmt.Errorf("sched_setaffinity %d: %w", n, e)
	}
	return nil
}

// readDirect reads name with O_DIRECT, 4 KiB at a time, bypassing the page
// cache, so that each read is a block I/O request.
func readDirect(name string) error {
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_DIRECT|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return err
	}
	defer syscall.Munmap(mem)
	for {
		n, err := syscall.Read(fd, mem)
		if n <= 0 || err != nil {
			return err
		}
	}
}
