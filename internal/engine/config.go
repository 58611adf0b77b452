package engine

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/bpftrail/bpftrail/internal/plan"
)

// TargetKind says which processes a session sees.
type TargetKind uint8

// Targets.
const (
	All     TargetKind = iota // every process
	Process                   // one process (Target.PID)
	Command                   // a command started by the session and its descendants
)

// Target selects the processes a session sees.
type Target struct {
	Kind TargetKind
	PID  int // Process
}

// SelectTarget turns -p, -a and a command into a target: one process, a
// command and its descendants, or all. The command must exist and the
// process must be alive.
func SelectTarget(pid int, all bool, command []string) (Target, error) {
	if len(command) > 0 {
		if _, err := exec.LookPath(command[0]); err != nil {
			return Target{}, fmt.Errorf("command %q: %w", command[0], err)
		}
	}
	switch {
	case pid != 0 && len(command) > 0:
		return Target{}, errors.New("-p and a command cannot be used together")
	case pid < 0:
		return Target{}, fmt.Errorf("-p %d: not a process id", pid)
	case pid != 0:
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return Target{}, fmt.Errorf("-p %d: no such process", pid)
		}
		return Target{Kind: Process, PID: pid}, nil
	case len(command) > 0 && !all:
		return Target{Kind: Command}, nil
	}
	return Target{Kind: All}, nil
}

// Config describes a session: what it records into its ring buffer, what
// it aggregates in maps, and for which processes.
type Config struct {
	Target     Target
	BufferSize int // ring buffer bytes; rounded up to a power of two ≥ one page
	// Record lists the events recorded into the ring buffer (nil: none).
	Record *Probes
	// Aggregates are computed in kernel, each in maps of its own.
	Aggregates []Aggregation
	// Script is a program in bpftrace's language: its maps, its programs
	// and its events, recorded into the ring buffer.
	Script *Script
	// ScriptTarget makes the script's probes see only the Target's
	// processes, as record's do (the built-in tools). Without it the
	// Target only places uprobes, as bpftrace's -p does.
	ScriptTarget bool
}

// DefaultBufferSize is the ring buffer size when none is given.
const DefaultBufferSize = 16 << 20

// Probes are events and what is read at each (see package plan).
type Probes = plan.Probes

// TaskField names a value read from the current task (see package plan).
type TaskField = plan.TaskField

// Aggregation is one in-kernel aggregate (see package plan).
type Aggregation = plan.Aggregation
