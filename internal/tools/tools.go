// Package tools defines bpftrail's built-in tools (execsnoop, opensnoop,
// syscount, runqlat, ...) as data: the probes, filter, columns or
// aggregation each one needs. The same engine as record, count, hist and
// latency runs them; there is no second code path.
package tools

import (
	"fmt"
	"strconv"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/sink/table"
	"github.com/bpftrail/bpftrail/internal/syscalls"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// Kind is how a tool reports.
type Kind uint8

// Tool kinds.
const (
	Events  Kind = iota + 1 // one line per event (or per enter/exit pair)
	Count                   // counts per key
	Latency                 // latency histograms per key
)

// Tool is one built-in tool.
type Tool struct {
	Name    string
	Short   string
	Long    string
	Example string
	Kind    Kind

	Specs  []string // Events and Count
	Filter string   // always applied, joined to the user's with &&

	// Events.
	Columns []table.Column
	Paired  bool // Specs are an enter and an exit event matched on tid

	// Count and Latency.
	By       []string
	From, To []string
	Match    string
	// FromFilter and ToFilter restrict the start and end events of a
	// latency tool.
	FromFilter, ToFilter string
	// StartMatch and StartFilter adjust, per start event, the match field
	// and the filter (see engine.Aggregation).
	StartMatch, StartFilter map[string]string
	Unit                    string
	Syscalls                bool // the "id" key is a syscall number: show its name

	// TaskFields adds values read from the current task: name → path.
	TaskFields map[string]string
	// Requires names the tracepoint category the tool needs, to report
	// clearly when this machine does not have it.
	Requires string
	// Empty is printed when an aggregation tool saw nothing.
	Empty string
}

// All returns the built-in tools.
func All() []*Tool {
	return []*Tool{
		{
			Name:  "execsnoop",
			Short: "Trace new programs (exec) as they start",
			Long: `execsnoop prints a line for every successful exec: the new program's command
name, process id, parent process id and file name.`,
			Example:    "  bpftrail execsnoop\n  bpftrail execsnoop -d 10s -o exec-trace",
			Kind:       Events,
			Specs:      []string{"sched:sched_process_exec"},
			TaskFields: map[string]string{"ppid": "real_parent.tgid"},
			Columns: []table.Column{
				{Header: "TIME(s)", Field: "time", Width: 9, Format: "time"},
				{Header: "PCOMM", Field: "comm", Width: 16},
				{Header: "PID", Field: "pid", Width: 7},
				{Header: "PPID", Field: "ppid", Width: 7},
				{Header: "FILENAME", Field: "filename"},
			},
		},
		{
			Name:  "opensnoop",
			Short: "Trace open() calls with their results",
			Long: `opensnoop prints a line for every openat: process, file descriptor or error,
and the path.`,
			Example: "  bpftrail opensnoop -p 1234\n  bpftrail opensnoop -- cat /etc/hostname",
			Kind:    Events,
			Paired:  true,
			Specs:   []string{"syscalls:sys_enter_openat", "syscalls:sys_exit_openat"},
			Columns: []table.Column{
				{Header: "TIME(s)", Field: "time", Width: 9, Format: "time"},
				{Header: "PID", Field: "pid", Width: 7},
				{Header: "COMM", Field: "comm", Width: 16},
				{Header: "FD", Field: "ret", Width: 4, Format: "fd"},
				{Header: "ERR", Field: "ret", Width: 3, Format: "errno"},
				{Header: "PATH", Field: "filename", Enter: true},
			},
		},
		{
			Name:  "syscount",
			Short: "Count system calls per syscall",
			Long:  `syscount counts system calls in the kernel, per syscall, and prints the busiest.`,
			Example: "  bpftrail syscount -d 5s --top 10\n" +
				"  bpftrail syscount --by comm -- make",
			Kind:     Count,
			Specs:    []string{"raw_syscalls:sys_enter"},
			By:       []string{"id"},
			Syscalls: true,
		},
		{
			Name:  "runqlat",
			Short: "Run-queue latency: time from wake-up to running, as a histogram",
			Long: `runqlat measures how long runnable threads wait on a run queue before they
run: from sched_wakeup (or sched_wakeup_new), or from the sched_switch that
preempts a still-runnable thread, to the sched_switch that runs them. Keys
are taken at that switch: --by next_comm or next_pid names the thread that
waited.`,
			Example: "  bpftrail runqlat -d 10s\n  bpftrail runqlat --by next_comm --unit ms -d 10s",
			Kind:    Latency,
			From:    []string{"sched:sched_wakeup", "sched:sched_wakeup_new", "sched:sched_switch"},
			To:      []string{"sched:sched_switch"},
			Match:   "pid,next_pid",
			// A preempted thread (prev_state 0, or TASK_REPORT_MAX 0x100
			// as newer kernels report preemption) waits again from its
			// switch out; the idle task never waits.
			StartMatch:  map[string]string{"sched:sched_switch": "prev_pid"},
			StartFilter: map[string]string{"sched:sched_switch": "prev_pid != 0 && (prev_state == 0 || prev_state == 256)"},
			Unit:        "us",
		},
		{
			Name:  "cpudist",
			Short: "On-CPU time per scheduling slice, as a histogram",
			Long: `cpudist measures how long threads run each time they get a CPU: from the
sched_switch that runs a thread to the one that takes it off.`,
			Example: "  bpftrail cpudist -d 10s\n  bpftrail cpudist --by comm -p 1234",
			Kind:    Latency,
			From:    []string{"sched:sched_switch"},
			To:      []string{"sched:sched_switch"},
			Match:   "next_pid,prev_pid",
			// The idle task is pid 0 on every CPU: not a thread's slice.
			FromFilter: "next_pid != 0",
			ToFilter:   "prev_pid != 0",
			Unit:       "us",
		},
		{
			Name:  "biolatency",
			Short: "Block I/O latency, from issue to completion, as a histogram",
			Long: `biolatency measures block device I/O from block_rq_issue to
block_rq_complete, matched on the request's sector.`,
			Example:  "  bpftrail biolatency -d 10s\n  bpftrail biolatency --by dev",
			Kind:     Latency,
			From:     []string{"block:block_rq_issue"},
			To:       []string{"block:block_rq_complete"},
			Match:    "sector",
			Unit:     "us",
			Requires: "block",
			Empty:    "no block I/O was completed while tracing",
		},
		{
			Name:  "tcpconnect",
			Short: "Trace active TCP connections (connect)",
			Long: `tcpconnect prints a line for every TCP connection this machine starts: the
process, source and destination addresses and destination port, from the
sock:inet_sock_set_state tracepoint (state TCP_SYN_SENT).`,
			Example:  "  bpftrail tcpconnect\n  bpftrail tcpconnect -- curl http://127.0.0.1:8080/",
			Kind:     Events,
			Specs:    []string{"sock:inet_sock_set_state"},
			Filter:   "newstate == 2 && protocol == 6",
			Requires: "sock",
			Columns: []table.Column{
				{Header: "TIME(s)", Field: "time", Width: 9, Format: "time"},
				{Header: "PID", Field: "pid", Width: 7},
				{Header: "COMM", Field: "comm", Width: 16},
				{Header: "IP", Field: "family", Width: 2, Format: "family"},
				{Header: "SADDR", Field: "saddr", Width: 16, Format: "ipv4"},
				{Header: "DADDR", Field: "daddr", Width: 16, Format: "ipv4"},
				{Header: "DPORT", Field: "dport", Width: 5},
			},
		},
		{
			Name:  "kvmexit",
			Short: "Count VM exits per reason and vCPU",
			Long: `kvmexit counts KVM virtual-machine exits in the kernel, per exit reason and
vCPU, from the kvm:kvm_exit tracepoint: where guests lose time to the host.`,
			Example:  "  bpftrail kvmexit -d 10s\n  bpftrail kvmexit -p $(pgrep qemu)",
			Kind:     Count,
			Specs:    []string{"kvm:kvm_exit"},
			By:       []string{"exit_reason", "vcpu_id"},
			Requires: "kvm",
			Empty:    "no VM exits while tracing (no virtual machine is running on this host)",
		},
	}
}

// NameSyscalls shows syscall numbers as names in the key members named
// "id" of s (a count of raw_syscalls:sys_enter by id).
func NameSyscalls(s *aggregate.Snapshot) {
	for _, g := range s.Groups {
		for i, v := range g.Key {
			if v.Name != "id" || !v.IsInt {
				continue
			}
			name, ok := syscalls.Name(int(v.Int))
			if !ok {
				name = "syscall_" + strconv.FormatInt(v.Int, 10)
			}
			g.Key[i] = record.KeyValue{Name: "syscall", Str: name}
		}
	}
}

// CheckRequires reports clearly when this machine lacks the tracepoints
// the tool needs (a module not loaded, or not built in).
func (t *Tool) CheckRequires() error {
	if t.Requires == "" {
		return nil
	}
	fsys, err := tracefs.Open()
	if err != nil {
		return err
	}
	evs, err := fsys.List(t.Requires + ":*")
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("%s needs the %s tracepoints, which this kernel does not have (module not loaded or not built in)", t.Name, t.Requires)
	}
	return nil
}
