// Package tools holds bpftrail's built-in tools (execsnoop, opensnoop,
// syscount, runqlat, ...): each is a script in bpftrail's bpftrace
// language, embedded in the binary, with the flags it takes and the
// named parameters (getopt) they become. The scripts run as any script
// does (package scriptrun): there is no second code path, and a user can
// print one, change it and run it with bpftrail run.
package tools

import (
	"embed"
	"fmt"
	"slices"
	"strings"

	"github.com/bpftrail/bpftrail/internal/tracefs"
)

//go:embed scripts/*.bt
var scripts embed.FS

// Flag is a flag of a tool, passed to its script as the named parameter
// --Name (a bool) or --Name=VALUE, which the script reads with getopt().
type Flag struct {
	Name  string
	Short string // one letter, or ""
	Usage string
	// Value is the placeholder of the flag's value (N, UNIT); "" for a
	// bool flag.
	Value   string
	Default string
	// Choices, when set, are the values the flag accepts.
	Choices []string
}

// Tool is one built-in tool.
type Tool struct {
	Name    string
	Short   string
	Long    string
	Example string
	Flags   []Flag
	// Interval says the tool prints its maps every --interval seconds
	// when asked (its script reads getopt("interval")).
	Interval bool
	// Requires names the tracepoint category the tool needs, to report
	// clearly when this machine does not have it.
	Requires string
}

var unitFlag = Flag{Name: "unit", Value: "UNIT", Default: "us", Choices: []string{"us", "ms"},
	Usage: "unit of the histogram: us or ms"}

var all = []*Tool{
	{
		Name:  "execsnoop",
		Short: "Trace new programs (exec) with their arguments",
		Long: `execsnoop prints a line for every exec, with bcc's execsnoop columns: the
new program's command name (PCOMM), its process id, its parent's, the value
execve returned (RET) and its first arguments (ARGS). Failed execs are shown
with --fails.`,
		Example: "  bpftrail execsnoop\n  bpftrail execsnoop --fails -- make",
		Flags:   []Flag{{Name: "fails", Short: "x", Usage: "also show the execs that failed"}},
	},
	{
		Name:  "opensnoop",
		Short: "Trace open() calls with their results",
		Long: `opensnoop prints a line for every open, openat and openat2, with bcc's
opensnoop columns: process id and name, the file descriptor (FD, -1 on
failure), the error (ERR, an errno), the open flags with --extended (FLAGS,
octal) and the path.`,
		Example: "  bpftrail opensnoop -p 1234\n  bpftrail opensnoop -x -- cat /etc/hostname",
		Flags: []Flag{
			{Name: "failed", Short: "x", Usage: "only the opens that failed"},
			{Name: "extended", Short: "e", Usage: "also show the open flags (FLAGS)"},
		},
	},
	{
		Name:  "syscount",
		Short: "Count system calls per syscall or per process",
		Long: `syscount counts system calls in the kernel, per syscall name (or per
process with --process), and prints the busiest at the end (and every
--interval).`,
		Example: "  bpftrail syscount -d 5s --top 10\n  bpftrail syscount --process -- make",
		Flags: []Flag{
			{Name: "process", Short: "P", Usage: "count per process rather than per syscall"},
			{Name: "failures", Short: "x", Usage: "count only the calls that failed"},
			{Name: "top", Short: "T", Value: "N", Default: "10", Usage: "print the N busiest (0: all)"},
		},
		Interval: true,
	},
	{
		Name:  "runqlat",
		Short: "Run-queue latency: time from wake-up to running, as a histogram",
		Long: `runqlat measures how long runnable threads wait on a run queue before they
run: from sched_wakeup (or sched_wakeup_new), or from the sched_switch that
preempts a still-runnable thread, to the sched_switch that runs them. It
prints a log2 histogram.`,
		Example:  "  bpftrail runqlat -d 10s\n  bpftrail runqlat --unit ms -i 5s",
		Flags:    []Flag{unitFlag},
		Interval: true,
	},
	{
		Name:  "cpudist",
		Short: "On-CPU time per scheduling slice, as a histogram",
		Long: `cpudist measures how long threads run each time they get a CPU: from the
sched_switch that runs a thread to the one that takes it off. It prints a
log2 histogram.`,
		Example:  "  bpftrail cpudist -d 10s\n  bpftrail cpudist --unit ms",
		Flags:    []Flag{unitFlag},
		Interval: true,
	},
	{
		Name:  "biolatency",
		Short: "Block I/O latency, from issue to completion, as a histogram",
		Long: `biolatency measures block device I/O from block_rq_issue (or from
block_rq_insert with --queued) to block_rq_complete, matched on the
request's device and sector, and prints a log2 histogram.`,
		Example: "  bpftrail biolatency -d 10s\n  bpftrail biolatency --queued --unit ms",
		Flags: []Flag{unitFlag,
			{Name: "queued", Short: "Q", Usage: "include the time in the queue (from insertion)"}},
		Interval: true,
		Requires: "block",
	},
	{
		Name:  "biosnoop",
		Short: "Trace block I/O requests with their latency",
		Long: `biosnoop prints a line for every completed block I/O request, with bcc's
biosnoop columns: the time, the process that submitted it, the disk
(MAJOR:MINOR), the kind (rwbs), the sector, the size and the latency from
issue (or from insertion with --queued) to completion.`,
		Example:  "  bpftrail biosnoop\n  bpftrail biosnoop -d 10s",
		Flags:    []Flag{{Name: "queued", Short: "Q", Usage: "include the time in the queue (from insertion)"}},
		Requires: "block",
	},
	{
		Name:  "tcpconnect",
		Short: "Trace active TCP connections (connect)",
		Long: `tcpconnect prints a line for every TCP connection this machine starts, with
bcc's tcpconnect columns: the process, the IP version, the source and
destination addresses and the destination port, from the
sock:inet_sock_set_state tracepoint (state TCP_SYN_SENT).`,
		Example:  "  bpftrail tcpconnect\n  bpftrail tcpconnect -- curl http://127.0.0.1:8080/",
		Requires: "sock",
	},
	{
		Name:  "tcpaccept",
		Short: "Trace passive TCP connections (accepted)",
		Long: `tcpaccept prints a line for every TCP connection a listener of this machine
accepts, with bcc's tcpaccept columns: the process, the IP version, the
remote address and port and the local ones, from the sock:inet_sock_set_state
tracepoint (SYN_RECV to ESTABLISHED). That change happens when the final
ACK arrives, often while another process runs: PID and COMM are that
process, not always the listener's (and -p filters on it).`,
		Example:  "  bpftrail tcpaccept",
		Requires: "sock",
	},
	{
		Name:  "tcpretrans",
		Short: "Trace TCP retransmissions",
		Long: `tcpretrans prints a line for every TCP segment retransmitted, with bcc's
tcpretrans columns: the time, the IP version, the local and remote addresses
and ports and the connection's state, from the tcp:tcp_retransmit_skb
tracepoint. Retransmissions are sent from timers: no process is shown.`,
		Example:  "  bpftrail tcpretrans",
		Requires: "tcp",
	},
	{
		Name:  "killsnoop",
		Short: "Trace signals sent with kill()",
		Long: `killsnoop prints a line for every kill(), with bcc's killsnoop columns: the
time, the sending process, the signal, the target pid and the result (0 or
-errno).`,
		Example: "  bpftrail killsnoop\n  bpftrail killsnoop --failed",
		Flags:   []Flag{{Name: "failed", Short: "x", Usage: "only the kills that failed"}},
	},
	{
		Name:  "kvmexit",
		Short: "Count VM exits per reason and vCPU",
		Long: `kvmexit counts KVM virtual-machine exits in the kernel, per exit reason and
vCPU, from the kvm:kvm_exit tracepoint: where guests lose time to the host.`,
		Example:  "  bpftrail kvmexit -d 10s\n  bpftrail kvmexit -p $(pgrep qemu)",
		Interval: true,
		Requires: "kvm",
	},
}

// All returns the built-in tools, in the order they are listed.
func All() []*Tool { return all }

// Lookup returns the tool named name.
func Lookup(name string) (*Tool, bool) {
	i := slices.IndexFunc(all, func(t *Tool) bool { return t.Name == name })
	if i < 0 {
		return nil, false
	}
	return all[i], true
}

// Names returns the names of the tools.
func Names() []string {
	var out []string
	for _, t := range all {
		out = append(out, t.Name)
	}
	return out
}

// FileName is the name of the tool's script, as shown and as a user
// would save it.
func (t *Tool) FileName() string { return t.Name + ".bt" }

// Script returns the tool's script.
func (t *Tool) Script() string {
	b, err := scripts.ReadFile("scripts/" + t.FileName())
	if err != nil {
		// Every tool's script is embedded; a test checks it.
		panic(fmt.Sprintf("tools: no script for %s: %v", t.Name, err))
	}
	return string(b)
}

// Params turns the values of the tool's flags into the script's named
// parameters: values maps a flag's name to its value ("true" for a bool
// flag that is set); flags left out, or at their default, are not
// passed. A value outside the flag's choices is an error.
func (t *Tool) Params(values map[string]string) ([]string, error) {
	var out []string
	for _, f := range t.Flags {
		v, ok := values[f.Name]
		if !ok {
			continue
		}
		if f.Value == "" {
			if v == "true" {
				out = append(out, "--"+f.Name)
			}
			continue
		}
		if len(f.Choices) > 0 && !slices.Contains(f.Choices, v) {
			return nil, fmt.Errorf("--%s %s: want one of %s", f.Name, v, strings.Join(f.Choices, ", "))
		}
		if v != f.Default {
			out = append(out, "--"+f.Name+"="+v)
		}
	}
	return out, nil
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
