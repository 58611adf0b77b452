// Package plan decides, before anything is loaded, what a session's
// programs are: the probes resolved from specs, the filters compiled for
// each, where each class puts its fields in a record (including the
// syscalls recorded through the raw_syscalls dispatcher), and for each
// aggregation its key layout, match fields and filters. Everything a user
// can get wrong is found here, with an error that names it; package
// engine then loads and attaches what a plan says.
package plan

import (
	"fmt"
	"strings"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

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
	Scheme hist.Scheme // Hist: Log2 (default) or any scheme; Latency: LogLinear (default) or any
	// Sum keeps, for a Hist, the exact sum of the values in kernel beside
	// the buckets (a latency always keeps its sum).
	Sum bool
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

// Options say what planning needs to know of the session.
type Options struct {
	// PID is the process whose mappings locate bare library names (0:
	// none).
	PID int
	// FS opens tracefs, when a tracepoint is to be resolved.
	FS func() (tracefs.FS, error)
}

// resolveOptions turns probe options into the resolver's.
func (o Options) resolveOptions(p Probes) (resolve.Options, error) {
	fields, err := resolve.ParseFields(p.Fields)
	if err != nil {
		return resolve.Options{}, err
	}
	ro := resolve.Options{StringSize: p.StringSize, Fields: fields, Stack: p.Stack, PID: o.PID}
	for _, tf := range p.TaskFields {
		ro.TaskFields = append(ro.TaskFields, resolve.TaskFieldSpec{Name: tf.Name, Path: tf.Path})
	}
	return ro, nil
}

// compileFilters type-checks the filter src against every probe.
func compileFilters(src string, probes []*resolve.Probe) ([]*filter.Expr, error) {
	out := make([]*filter.Expr, len(probes))
	if strings.TrimSpace(src) == "" {
		return out, nil
	}
	for i, p := range probes {
		e, err := filter.Parse(src, bpfgen.FilterFields(p.Event))
		if err != nil {
			if len(probes) > 1 {
				return nil, fmt.Errorf("%s: %w", p.Event.Name, err)
			}
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// joinFilter joins two filter expressions with &&.
func joinFilter(a, b string) string {
	switch {
	case strings.TrimSpace(a) == "":
		return b
	case strings.TrimSpace(b) == "":
		return a
	}
	return "(" + a + ") && (" + b + ")"
}
