// Package command starts the command a session traces: held before its
// exec until the probes are attached (so that the session sees it from its
// first instruction), then released, and stopped when the session ends
// before it — SIGTERM, then SIGKILL after a grace period — and always
// waited for.
//
// Holding works by re-executing the current binary: the child finds
// [HoldEnv] in its environment, waits on a pipe, then execs the command.
// A program that uses this package must call [Init] first thing in main.
package command

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// HoldEnv marks a child that must wait on fd 3 until the tracer is ready,
// then exec the command.
const HoldEnv = "BPFTRAIL_WAIT_EXEC"

// Init, in a child started by [Start], waits until the tracer releases it
// and replaces the process with the command; it never returns then. In any
// other process it returns at once.
func Init() {
	if os.Getenv(HoldEnv) == "" {
		return
	}
	os.Unsetenv(HoldEnv)
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

// Cmd is a command started held.
type Cmd struct {
	cmd   *exec.Cmd
	ready *os.File
	done  chan struct{}
	err   error
}

// Start starts args held: the process exists (its pid can be followed) but
// runs the command only after [Cmd.Release].
func Start(args []string) (*Cmd, error) {
	if len(args) == 0 {
		return nil, errors.New("no command")
	}
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
	cmd.Env = append(os.Environ(), HoldEnv+"=1")
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	r.Close()
	c := &Cmd{cmd: cmd, ready: w, done: make(chan struct{})}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// PID is the command's process id.
func (c *Cmd) PID() int { return c.cmd.Process.Pid }

// Release lets the command run.
func (c *Cmd) Release() error {
	_, err := c.ready.Write([]byte{1})
	c.ready.Close()
	return err
}

// Abort makes a held command exit without running and waits for it.
func (c *Cmd) Abort() {
	c.ready.Close()
	<-c.done
}

// Done is closed when the command has exited.
func (c *Cmd) Done() <-chan struct{} { return c.done }

// Err is the command's exit error once it has exited (nil before).
func (c *Cmd) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Stop ends a command that is still running: SIGTERM, then SIGKILL if it
// has not exited after grace; it returns once the command has exited. It
// reports whether the command had to be signalled.
func (c *Cmd) Stop(grace time.Duration) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.cmd.Process.Kill()
		<-c.done
	}
	return true
}

// Kill kills the command at once, without waiting.
func (c *Cmd) Kill() { c.cmd.Process.Kill() }
