// Package bpftest holds the helpers of tests that load and attach real BPF
// programs: [Require] skips a test where BPF cannot work (not root, no ring
// buffers, no tracefs) and [RequireTool] where a program the test runs is
// missing. Under CI (CI=true) both fail the test instead, so that a CI
// machine that silently lost its BPF support cannot turn the suite green.
package bpftest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// InCI reports whether the tests run under CI (CI=true), where missing
// prerequisites are failures rather than skips.
func InCI() bool { return os.Getenv("CI") == "true" }

// missing skips t with reason, or fails it under CI.
func missing(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI=true: BPF tests must run here)", reason)
	}
	t.Skip(reason)
}

var (
	once   sync.Once
	reason string // why BPF does not work here; "" when it does
)

// check probes, once per process, what recording needs.
func check() string {
	if os.Geteuid() != 0 {
		return "BPF tests need root (run go test as root, e.g. sudo -E go test)"
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Sprintf("BPF not usable: raise the memlock limit: %v", err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: uint32(os.Getpagesize())})
	if err != nil {
		if _, berr := os.Stat("/sys/kernel/btf/vmlinux"); berr != nil {
			return fmt.Sprintf("BPF not usable: cannot create a ring buffer (%v) and the kernel has no BTF (%v)", err, berr)
		}
		return fmt.Sprintf("BPF not usable: cannot create a ring buffer: %v", err)
	}
	m.Close()
	root, err := tracefs.Root()
	if err != nil {
		return fmt.Sprintf("tracefs not reachable: %v", err)
	}
	if _, err := os.Stat(root + "/events/syscalls"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("tracefs at %s has no syscalls tracepoints (CONFIG_FTRACE_SYSCALLS off?)", root)
		}
		return fmt.Sprintf("tracefs at %s: %v", root, err)
	}
	return ""
}

// Require skips t unless BPF programs can be loaded and attached to
// tracepoints here: the test runs as root, ring buffer maps can be created
// and tracefs is reachable. Under CI=true it fails t instead.
func Require(t testing.TB) {
	t.Helper()
	once.Do(func() { reason = check() })
	if reason != "" {
		missing(t, reason)
	}
}

// RequireTool returns the path of the program name (looked up in PATH),
// and skips t when it is not installed; under CI=true it fails t instead.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, fmt.Sprintf("%s is not installed: %v", name, err))
	}
	return p
}

// RequireFile returns path when it is an executable file, and otherwise
// skips t saying how to make it (hint); under CI=true it fails t instead.
// It is for programs a script builds into a cache rather than installs.
func RequireFile(t testing.TB, path, hint string) string {
	t.Helper()
	st, err := os.Stat(path)
	switch {
	case err != nil:
		missing(t, fmt.Sprintf("%v (%s)", err, hint))
	case st.IsDir() || st.Mode()&0o111 == 0:
		missing(t, fmt.Sprintf("%s is not an executable file (%s)", path, hint))
	}
	return path
}

// CoverEnv names the directory where the tests' own builds of bpftrail
// write their coverage counters ("make cover" sets it): binaries built by
// [Build] are then instrumented for every package of the module, and
// GOCOVERDIR is set for the processes the tests start.
const CoverEnv = "BPFTRAIL_COVERDIR"

// Build builds the Go package pkg (a path or an import path) into out;
// under CoverEnv, a binary built with cover records its coverage. (Only
// bpftrail itself should: a workload that writes coverage files at exit
// makes system calls the tests do not expect.)
func Build(pkg, out string, cover bool) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	args := []string{"build", "-o", out}
	if dir := os.Getenv(CoverEnv); dir != "" && cover {
		args = append(args, "-cover", "-coverpkg=github.com/bpftrail/bpftrail/...")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		os.Setenv("GOCOVERDIR", dir)
	}
	if b, err := exec.Command(goTool, append(args, pkg)...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}
