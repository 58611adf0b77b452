// Command workload is the traced program of the TestBPF tests of
// cmd/bpftrail: it does a known, exact sequence of system calls so that a
// test can check every event a recording holds.
//
// Usage:
//
//	workload [-wait] open FILE...   open (and read) each FILE in order
//	workload [-wait] filters DIR    the sequence TestBPFFilters expects (see below)
//	workload [-wait] getppid N      call getppid(2) N times
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
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func init() { runtime.LockOSThread() }

func main() {
	args := os.Args[1:]
	wait := len(args) > 0 && args[0] == "-wait"
	if wait {
		args = args[1:]
	}
	if len(args) < 1 {
		fail(fmt.Errorf("usage: workload [-wait] open|filters|getppid|loop|spin ARGS"))
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
