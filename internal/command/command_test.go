package command_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/command"
)

// TestMain lets this test binary be the held child: Start re-executes it
// with command.HoldEnv set, and Init then waits and execs the command.
func TestMain(m *testing.M) {
	command.Init()
	os.Exit(m.Run())
}

// exe returns what /proc/PID/exe points to.
func exe(t *testing.T, pid int) string {
	t.Helper()
	p, err := os.Readlink(filepathProc(pid, "exe"))
	if err != nil {
		t.Fatalf("readlink /proc/%d/exe: %v", pid, err)
	}
	return p
}

func filepathProc(pid int, name string) string {
	return filepath.Join("/proc", itoa(pid), name)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// waitExe waits until the process pid runs the program path (its exec has
// happened).
func waitExe(t *testing.T, pid int, path string) {
	t.Helper()
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p, err := os.Readlink(filepathProc(pid, "exe")); err == nil && p == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d did not exec %s (it runs %s)", pid, want, exe(t, pid))
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s: %v", name, err)
	}
	return p
}

func waitDone(t *testing.T, c *command.Cmd) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		c.Kill()
		<-c.Done()
		t.Fatal("the command did not exit")
	}
}

// withStdout runs f with os.Stdout redirected to a file, and returns what
// was written to it.
func withStdout(t *testing.T, f func()) func() string {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = out
	func() {
		defer func() { os.Stdout = saved }()
		f()
	}()
	return func() string {
		b, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

func TestStartHeldThenRelease(t *testing.T) {
	lookPath(t, "sh")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err = filepath.EvalSymlinks(self)
	if err != nil {
		t.Fatal(err)
	}
	var c *command.Cmd
	output := withStdout(t, func() {
		c, err = command.Start([]string{"sh", "-c", "echo ran as $$"})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Kill()
		<-c.Done()
	}()
	// Held: the process exists but is still this test binary, waiting.
	time.Sleep(100 * time.Millisecond)
	if got := exe(t, c.PID()); got != self {
		t.Errorf("held process runs %s, want the test binary %s", got, self)
	}
	cmdline, err := os.ReadFile(filepathProc(c.PID(), "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	// argv[0] names the command (as ps shows it), the rest is the command
	// Init will exec.
	got := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if want := []string{"sh", "sh", "-c", "echo ran as $$"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("held process's arguments %q, want %q", got, want)
	}
	select {
	case <-c.Done():
		t.Fatalf("the held command exited: %v", c.Err())
	default:
	}
	if out := output(); out != "" {
		t.Errorf("the held command wrote %q before its release", out)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err before the end = %v", err)
	}

	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	if err := c.Err(); err != nil {
		t.Errorf("Err = %v, want nil for an exit status of 0", err)
	}
	// The command ran in the process the tracer was given: same pid.
	if want := "ran as " + itoa(c.PID()) + "\n"; output() != want {
		t.Errorf("output %q, want %q (on the tracer's stdout)", output(), want)
	}
}

func TestAbort(t *testing.T) {
	lookPath(t, "sh")
	marker := filepath.Join(t.TempDir(), "ran")
	c, err := command.Start([]string{"sh", "-c", "touch " + marker})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		c.Abort()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Kill()
		t.Fatal("Abort did not return")
	}
	select {
	case <-c.Done():
	default:
		t.Error("Abort returned before the command exited")
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the aborted command ran: %v", err)
	}
	var ee *exec.ExitError
	if err := c.Err(); !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Errorf("Err = %v, want exit status 127", err)
	}
	if c.Stop(time.Second) {
		t.Error("Stop after Abort signalled the command")
	}
}

func TestExitStatus(t *testing.T) {
	lookPath(t, "sh")
	c, err := command.Start([]string{"sh", "-c", "exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	var ee *exec.ExitError
	if err := c.Err(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("Err = %v, want exit status 3", err)
	}
}

// signalOf returns the signal that ended the command, if one did.
func signalOf(err error) (syscall.Signal, bool) {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

func TestStop(t *testing.T) {
	sleep := lookPath(t, "sleep")
	lookPath(t, "sh")
	tests := []struct {
		name  string
		args  []string
		grace time.Duration
		sig   syscall.Signal
		// minimum and maximum time Stop takes
		least, most time.Duration
	}{
		{"exits on SIGTERM", []string{"sleep", "60"}, 5 * time.Second, syscall.SIGTERM, 0, 4 * time.Second},
		// The ignored SIGTERM is inherited through exec: sleep ignores it.
		{"ignores SIGTERM", []string{"sh", "-c", "trap '' TERM; exec sleep 60"}, 300 * time.Millisecond, syscall.SIGKILL, 300 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := command.Start(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				c.Kill()
				<-c.Done()
			}()
			if err := c.Release(); err != nil {
				t.Fatal(err)
			}
			waitExe(t, c.PID(), sleep)
			start := time.Now()
			if !c.Stop(tt.grace) {
				t.Error("Stop = false for a running command")
			}
			took := time.Since(start)
			select {
			case <-c.Done():
			default:
				t.Fatal("Stop returned before the command exited")
			}
			if took < tt.least || took > tt.most {
				t.Errorf("Stop took %v, want between %v and %v", took, tt.least, tt.most)
			}
			if sig, ok := signalOf(c.Err()); !ok || sig != tt.sig {
				t.Errorf("Err = %v, want the command killed by %v", c.Err(), tt.sig)
			}
		})
	}
}

func TestStopHeld(t *testing.T) {
	// A command stopped before its release never runs.
	lookPath(t, "sh")
	marker := filepath.Join(t.TempDir(), "ran")
	c, err := command.Start([]string{"sh", "-c", "touch " + marker})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Kill()
		<-c.Done()
	}()
	if !c.Stop(5 * time.Second) {
		t.Error("Stop = false for a held command")
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stopped command ran: %v", err)
	}
	if c.Err() == nil {
		t.Error("Err = nil for a command stopped by a signal")
	}
}

func TestStopAfterEnd(t *testing.T) {
	lookPath(t, "true")
	c, err := command.Start([]string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	if c.Stop(time.Second) {
		t.Error("Stop = true for a command that had exited")
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err = %v, want nil", err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := command.Start(nil); err == nil || err.Error() != "no command" {
		t.Errorf("Start(nil) = %v, want \"no command\"", err)
	}
	_, err := command.Start([]string{"bpftrail-no-such-command"})
	if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), `command "bpftrail-no-such-command"`) {
		t.Errorf("Start of a missing command = %v, want a not-found error naming it", err)
	}
}

func TestKill(t *testing.T) {
	lookPath(t, "sleep")
	c, err := command.Start([]string{"sleep", "60"})
	if err != nil {
		t.Fatal(err)
	}
	c.Kill()
	waitDone(t, c)
	if sig, ok := signalOf(c.Err()); !ok || sig != syscall.SIGKILL {
		t.Errorf("Err = %v, want killed", c.Err())
	}
}
