package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
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
