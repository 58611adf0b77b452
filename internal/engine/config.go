package engine

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/hist"
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
}

// DefaultBufferSize is the ring buffer size when none is given.
const DefaultBufferSize = 16 << 20

// Probes are events and what is read at each.
type Probes struct {
	Specs  []string
	Filter string // in-kernel filter, on every probe
	// StringSize is the slot for strings copied from memory (default 256).
	StringSize int
	// Fields says what uprobes and kprobes read: arg0..arg5, retval,
	// str(argN), str(retval), comma-separated; "" for every argument at
	// entry and the return value at return.
	Fields string
	// Stack adds the stack to every event: "user", "kernel" or "both".
	Stack string
	// TaskFields are added to every event.
	TaskFields []TaskField
}

// TaskField names a value read from the current task: Name and the member
// path from task_struct (e.g. "ppid" and "real_parent.tgid").
type TaskField struct{ Name, Path string }

// Aggregation is one in-kernel aggregate.
type Aggregation struct {
	Name string // its label in snapshots and the aggregates log
	Mode aggregate.Mode
	// Probes are the counted events (Count, Hist); for a Latency, their
	// filter and options apply to From and To, which name the events.
	Probes Probes
	By     []string    // key members: "event", builtins (pid, tid, comm, cpu), fields
	Value  string      // Hist: the field to bucket
	Scheme hist.Scheme // Hist: Log2 (default) or Linear; Latency: LogLinear
	// Latency: start and end events, and what pairs them: "tid"
	// (default), "pid", "FIELD" or "START_FIELD,END_FIELD".
	From, To []string
	Match    string
	// FromFilter and ToFilter are joined (&&) to Probes.Filter on the start
	// and end events of a latency.
	FromFilter, ToFilter string
	// StartMatch and StartFilter override, per start event name (such as
	// "sched:sched_switch"), the match field and add a filter: when one
	// latency starts at different events (a wake-up, or a preempted task
	// put back on the run queue).
	StartMatch, StartFilter map[string]string
	MaxKeys                 int // distinct keys kept; default 10240
	Starts                  int // Latency: pending starts kept (LRU); default 10240
}
