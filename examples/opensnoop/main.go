//go:build linux

// Command opensnoop records every file a command and its children open
// into a CTF trace, with bpftrail's recorder package: the BPF program
// (opensnoop.c, compiled by bpf2go into opensnoop_bpfel.o) sends a
// struct event per openat(2) to a ring buffer, and the recorder writes
// them as events whose fields come from the struct's BTF.
//
//	go run ./examples/opensnoop -o DIR -- CMD ARGS...
//	babeltrace2 DIR
//
// It prints a summary when the command has exited, and exits with the
// command's status.
package main

//go:generate go tool bpf2go -tags linux -target bpfel -type event opensnoop opensnoop.c -- -I../../recorder/include

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"syscall"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/recorder"
)

// gateEnv marks the child that waits, before it runs the command, until
// its pid is being traced.
const gateEnv = "OPENSNOOP_GATE"

func main() {
	if os.Getenv(gateEnv) != "" {
		gate()
	}
	out := flag.String("o", "opensnoop-trace", "trace `directory` to write")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: opensnoop [-o DIR] -- CMD [ARGS...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	status, err := run(*out, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "opensnoop:", err)
		os.Exit(1)
	}
	os.Exit(status)
}

// run records the opens of the command args into the trace dir and
// returns the command's exit status.
func run(dir string, args []string) (int, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return 0, err
	}
	spec, err := loadOpensnoop()
	if err != nil {
		return 0, err
	}
	ev, err := recorder.LookupEvent(spec.Types, "event")
	if err != nil {
		return 0, err
	}
	ev.Name = "opensnoop:open"
	var objs opensnoopObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	defer objs.Close()
	fork, err := link.Tracepoint("sched", "sched_process_fork", objs.HandleFork, nil)
	if err != nil {
		return 0, fmt.Errorf("attach sched:sched_process_fork: %w", err)
	}
	defer fork.Close()
	open, err := link.Tracepoint("syscalls", "sys_enter_openat", objs.HandleOpenat, nil)
	if err != nil {
		return 0, fmt.Errorf("attach syscalls:sys_enter_openat: %w", err)
	}
	defer open.Close()

	rec, err := recorder.Create(dir, []recorder.Event{ev}, &recorder.Options{
		TimeField: "ts", // bpf_ktime_get_ns()
		Lost:      objs.EventsLost,
		Trace:     ctf.Options{TracerName: "opensnoop"},
	})
	if err != nil {
		return 0, err
	}
	defer rec.Close()

	// The command starts as a copy of this program that says when it is
	// ready (its Go runtime has started and opened what it opens) and
	// then waits until its pid is in targets to execute the command: none
	// of the command's opens is missed, and none of the copy's is
	// recorded.
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), gateEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{goR, readyW}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	goR.Close()
	readyW.Close()
	var b [1]byte
	readyR.Read(b[:])
	readyR.Close()
	if err := objs.Targets.Put(uint32(cmd.Process.Pid), uint8(1)); err != nil {
		cmd.Process.Kill()
		return 0, fmt.Errorf("trace pid %d: %w", cmd.Process.Pid, err)
	}
	goW.Close() // the command runs

	// Ctrl-C reaches the command; opensnoop stops when it exits.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.ReadRingBuf(ctx, objs.Events) }()
	werr := cmd.Wait()
	stop()
	if err := <-done; err != nil {
		return 0, err
	}
	if err := rec.Close(); err != nil {
		return 0, err
	}
	status := 0
	var exit *exec.ExitError
	if errors.As(werr, &exit) {
		status = exit.ExitCode()
	} else if werr != nil {
		return 0, werr
	}
	return status, summary(dir, rec.Stats(), cmd.Process.Pid)
}

// gate is the child: it says it is ready, waits until the parent closes
// the go pipe, then executes the command.
func gate() {
	goR, ready := os.NewFile(3, "go"), os.NewFile(4, "ready")
	ready.Close()
	var b [1]byte
	goR.Read(b[:])
	goR.Close()
	os.Unsetenv(gateEnv)
	path, err := exec.LookPath(os.Args[1])
	if err == nil {
		err = syscall.Exec(path, os.Args[1:], os.Environ())
	}
	fmt.Fprintln(os.Stderr, "opensnoop:", err)
	os.Exit(127)
}

// summary prints what was recorded, read back from the trace: the opens
// per process and the files opened most.
func summary(dir string, st recorder.Stats, pid int) error {
	tr, err := ctf.Open(dir)
	if err != nil {
		return err
	}
	procs := map[string]int{}
	files := map[string]int{}
	_, err = tr.Each(func(e *ctf.Event) error {
		p, _ := e.Payload.Get("pid")
		comm, _ := e.Payload.Get("comm")
		name, _ := e.Payload.Get("filename")
		procs[fmt.Sprintf("%s[%d]", comm.Bytes, p.Uint)]++
		files[string(name.Bytes)]++
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "opensnoop: command pid %d: %d opens by %d processes, %d lost, %d bytes in %s\n",
		pid, st.Events, len(procs), st.Lost, st.Bytes, dir)
	for _, kv := range top(procs, 5) {
		fmt.Fprintf(os.Stderr, "  %6d  %s\n", kv.n, kv.k)
	}
	for _, kv := range top(files, 10) {
		fmt.Fprintf(os.Stderr, "  %6d  %s\n", kv.n, kv.k)
	}
	return nil
}

type count struct {
	k string
	n int
}

func top(m map[string]int, n int) []count {
	var c []count
	for k, v := range m {
		c = append(c, count{k, v})
	}
	sort.Slice(c, func(i, j int) bool { return c[i].n > c[j].n || c[i].n == c[j].n && c[i].k < c[j].k })
	return c[:min(n, len(c))]
}
