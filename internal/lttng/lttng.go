// Package lttng describes LTTng's Linux kernel trace layout (lttng-modules
// 2.13, the layout Trace Compass calls Lttng29EventLayout) next to the
// kernel's tracefs names, in one table: which tracefs event becomes which
// LTTng event, which fields are renamed, and which priorities LTTng writes
// without MAX_RT_PRIO. The write side (record --preset) maps tracefs events
// to it; the read side (analyze) recognizes events in either layout.
package lttng

import "strings"

// MaxRTPrio is the kernel's MAX_RT_PRIO: LTTng writes priorities minus it.
const MaxRTPrio = 100

// Event is one tracefs event and its LTTng counterpart.
type Event struct {
	Tracefs string            // "sched:sched_switch"
	Name    string            // "sched_switch"
	Rename  map[string]string // tracefs field → LTTng field
	Prio    []string          // tracefs fields LTTng writes minus MaxRTPrio
}

// Sched is the scheduler part of the layout.
var Sched = []Event{
	{Tracefs: "sched:sched_switch", Name: "sched_switch",
		Rename: map[string]string{"prev_pid": "prev_tid", "next_pid": "next_tid"},
		Prio:   []string{"prev_prio", "next_prio"}},
	{Tracefs: "sched:sched_wakeup", Name: "sched_wakeup",
		Rename: map[string]string{"pid": "tid"}, Prio: []string{"prio"}},
	{Tracefs: "sched:sched_wakeup_new", Name: "sched_wakeup_new",
		Rename: map[string]string{"pid": "tid"}, Prio: []string{"prio"}},
	{Tracefs: "sched:sched_waking", Name: "sched_waking",
		Rename: map[string]string{"pid": "tid"}, Prio: []string{"prio"}},
	{Tracefs: "sched:sched_process_fork", Name: "sched_process_fork",
		Rename: map[string]string{"parent_pid": "parent_tid", "child_pid": "child_tid"}},
	{Tracefs: "sched:sched_process_exec", Name: "sched_process_exec",
		Rename: map[string]string{"pid": "tid", "old_pid": "old_tid"}},
	{Tracefs: "sched:sched_process_exit", Name: "sched_process_exit",
		Rename: map[string]string{"pid": "tid"}, Prio: []string{"prio"}},
}

// Lookup returns the layout's entry of a tracefs event ("sched:sched_switch")
// or of an LTTng event ("sched_switch").
func Lookup(name string) (*Event, bool) {
	for i := range Sched {
		if Sched[i].Tracefs == name || Sched[i].Name == name {
			return &Sched[i], true
		}
	}
	return nil, false
}

// Base returns an event name without its tracefs category:
// "sched:sched_switch" and "sched_switch" both give "sched_switch".
func Base(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// Syscall prefixes of both layouts.
const (
	TracefsEnter = "syscalls:sys_enter_"
	TracefsExit  = "syscalls:sys_exit_"
	Entry        = "syscall_entry_"
	Exit         = "syscall_exit_"
	CompatEntry  = "compat_syscall_entry_"
	CompatExit   = "compat_syscall_exit_"
)

// Syscall splits a syscall entry or exit event name of either layout
// ("syscalls:sys_enter_openat", "syscall_exit_openat") into the syscall and
// whether it is the entry.
func Syscall(name string) (syscall string, entry, ok bool) {
	for _, p := range []struct {
		prefix string
		entry  bool
	}{{TracefsEnter, true}, {TracefsExit, false}, {Entry, true}, {Exit, false}, {CompatEntry, true}, {CompatExit, false}} {
		if rest, found := strings.CutPrefix(name, p.prefix); found && rest != "" {
			return rest, p.entry, true
		}
	}
	return "", false, false
}

// SyscallName returns the LTTng name of a tracefs syscall event
// ("syscalls:sys_enter_openat" → "syscall_entry_openat").
func SyscallName(tracefs string) (string, bool) {
	if rest, ok := strings.CutPrefix(tracefs, TracefsEnter); ok {
		return Entry + rest, true
	}
	if rest, ok := strings.CutPrefix(tracefs, TracefsExit); ok {
		return Exit + rest, true
	}
	return "", false
}
