// Package preset defines the kernel-trace presets of "bpftrail record
// --preset": sets of tracepoints that are written with the event names,
// field names and env keys of LTTng's kernel tracer (lttng-modules 2.13,
// the layout Trace Compass calls Lttng29EventLayout; see package lttng for
// the table and package ctftrace for the writing), so that Trace Compass
// opens the trace as a Linux kernel trace and its Control Flow, Resources
// and CPU usage views work.
//
// Mapping (tracefs → LTTng):
//
//	sched:sched_switch        → sched_switch: prev_comm, prev_tid (prev_pid), prev_prio (prio−100),
//	                            prev_state, next_comm, next_tid (next_pid), next_prio (prio−100)
//	sched:sched_wakeup[_new]  → sched_wakeup[_new]: comm, tid (pid), prio (−100), target_cpu
//	sched:sched_process_fork  → sched_process_fork: parent_comm, parent_tid (parent_pid),
//	                            parent_pid (the forking process's tgid), child_comm,
//	                            child_tid (child_pid), child_pid (child_pid: tracefs has no
//	                            tgid of the child; exact for processes, the thread id for threads)
//	sched:sched_process_exec  → sched_process_exec: filename, tid (pid), old_tid (old_pid)
//	sched:sched_process_exit  → sched_process_exit: comm, tid (pid), prio (−100)
//	syscalls:sys_enter_NAME   → syscall_entry_NAME: the arguments (without __syscall_nr)
//	syscalls:sys_exit_NAME    → syscall_exit_NAME: ret
//
// The env block says domain = "kernel", tracer_name = "lttng-modules",
// tracer_major = 2, tracer_minor = 13, and keeps bpftrail's own version in
// bpftrail_version; every packet context has cpu_id.
package preset

import (
	"fmt"
	"sort"
	"strings"
)

// Preset is a named set of probes written in LTTng's kernel layout.
type Preset struct {
	Name  string
	Specs []string
	Doc   string
}

var presets = []Preset{
	{Name: "sched", Doc: "scheduling: sched_switch, wake-ups, process fork/exec/exit",
		Specs: []string{"sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new",
			"sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_exit"}},
	{Name: "syscalls", Doc: "every syscall's entry and exit",
		Specs: []string{"syscalls:sys_enter_*", "syscalls:sys_exit_*"}},
	{Name: "kernel", Doc: "sched and syscalls together",
		Specs: []string{"sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new",
			"sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_exit",
			"syscalls:sys_enter_*", "syscalls:sys_exit_*"}},
}

// Lookup returns the preset called name.
func Lookup(name string) (*Preset, error) {
	var names []string
	for i := range presets {
		if presets[i].Name == name {
			return &presets[i], nil
		}
		names = append(names, presets[i].Name)
	}
	return nil, fmt.Errorf("unknown preset %q (presets: %s)", name, strings.Join(names, ", "))
}

// Names lists the presets.
func Names() []string {
	var out []string
	for _, p := range presets {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}
