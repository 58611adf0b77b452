package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
)

// waitExecEnv marks a child started by bpftrail that must wait on fd 3
// until the tracer is ready, then exec the command.
const waitExecEnv = "BPFTRAIL_WAIT_EXEC"

// waitExec runs in the child: it blocks until the tracer writes a byte on
// fd 3 (or closes it, meaning "give up"), then replaces itself with the
// command.
func waitExec() {
	os.Unsetenv(waitExecEnv)
	f := os.NewFile(3, "bpftrail-ready")
	var b [1]byte
	n, _ := f.Read(b[:])
	f.Close()
	if n != 1 || len(os.Args) < 2 {
		os.Exit(127)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpftrail: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "bpftrail: exec %s: %v\n", os.Args[1], err)
	os.Exit(127)
}

// startedCommand is a command started by bpftrail and held before its exec.
type startedCommand struct {
	cmd   *exec.Cmd
	ready *os.File
}

// startHeld starts args as a child that waits until release is called.
func startHeld(args []string) (*startedCommand, error) {
	if _, err := exec.LookPath(args[0]); err != nil {
		return nil, fmt.Errorf("command %q: %w", args[0], err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Args[0] = args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.Env = append(os.Environ(), waitExecEnv+"=1")
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	r.Close()
	return &startedCommand{cmd: cmd, ready: w}, nil
}

// release lets the command exec.
func (c *startedCommand) release() error {
	_, err := c.ready.Write([]byte{1})
	c.ready.Close()
	return err
}

// abort makes the held child exit without running the command.
func (c *startedCommand) abort() {
	c.ready.Close()
	_ = c.cmd.Wait()
}

// target is a loaded session that can follow a command and attach.
type target interface {
	Follow(pid int) error
	Attach() error
}

// run is the lifetime of a command's sessions: the command started held
// (when there is one), the sessions following it, the probes attached, and
// a context that ends on Ctrl-C, after the duration, or when the command
// exits.
type run struct {
	ctx     context.Context
	cancels []context.CancelFunc
	held    *startedCommand
	done    chan struct{}
	cmdErr  error
}

// startRun starts args (if any) held, makes every session follow it when
// follow is set, attaches the sessions in order, and releases the command.
// Ctrl-C is caught before the first probe attaches, so that it always ends
// the run cleanly.
func startRun(args []string, follow bool, d time.Duration, sessions ...target) (*run, error) {
	r := &run{}
	if len(args) > 0 {
		held, err := startHeld(args)
		if err != nil {
			return nil, err
		}
		r.held = held
		if follow {
			for _, s := range sessions {
				if err := s.Follow(held.cmd.Process.Pid); err != nil {
					held.abort()
					return nil, err
				}
			}
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	r.ctx, r.cancels = ctx, append(r.cancels, cancel)
	for _, s := range sessions {
		if err := s.Attach(); err != nil {
			r.abort()
			return nil, err
		}
	}
	if d > 0 {
		ctx, cancel := context.WithTimeout(r.ctx, d)
		r.ctx, r.cancels = ctx, append(r.cancels, cancel)
	}
	if r.held != nil {
		if err := r.held.release(); err != nil {
			r.abort()
			return nil, err
		}
		ctx, cancel := context.WithCancel(r.ctx)
		r.ctx, r.cancels = ctx, append(r.cancels, cancel)
		r.done = make(chan struct{})
		go func() {
			r.cmdErr = r.held.cmd.Wait()
			close(r.done)
			cancel()
		}()
	}
	return r, nil
}

// abort ends a run whose command must not start.
func (r *run) abort() {
	if r.held != nil {
		r.held.abort()
	}
	r.stop()
}

// stop releases the run's contexts.
func (r *run) stop() {
	for _, c := range r.cancels {
		c()
	}
}

// commandErr is the command's exit error, once it has ended.
func (r *run) commandErr() error {
	if r.done == nil {
		return nil
	}
	select {
	case <-r.done:
		return r.cmdErr
	default:
		return nil
	}
}

// selectTarget turns -p, -a and a command into the processes to record: one
// process, a command and its descendants, or all. The command must exist and
// the process must be alive before anything loads.
func selectTarget(pid int, all bool, args []string) (bpfgen.Target, uint32, error) {
	if len(args) > 0 {
		if _, err := exec.LookPath(args[0]); err != nil {
			return 0, 0, fmt.Errorf("command %q: %w", args[0], err)
		}
	}
	switch {
	case pid != 0 && len(args) > 0:
		return 0, 0, fmt.Errorf("-p and a command cannot be used together")
	case pid != 0:
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return 0, 0, fmt.Errorf("-p %d: no such process", pid)
		}
		return bpfgen.TargetPID, uint32(pid), nil
	case len(args) > 0 && !all:
		return bpfgen.TargetPids, 0, nil
	}
	return bpfgen.TargetAll, 0, nil
}
