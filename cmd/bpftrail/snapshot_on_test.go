package main

import "testing"

func TestSplitTrigger(t *testing.T) {
	for _, c := range []struct{ in, spec, filter string }{
		{"syscalls:sys_enter_kill", "syscalls:sys_enter_kill", ""},
		{"syscalls:sys_enter_kill:sig == 9", "syscalls:sys_enter_kill", "sig == 9"},
		{"syscalls:sys_enter_kill:sig==9", "syscalls:sys_enter_kill", "sig==9"},
		{"tracepoint:syscalls:sys_exit_read: ret < 0 ", "tracepoint:syscalls:sys_exit_read", "ret < 0"},
		{"syscall:openat:filename == \"/etc/a:b\"", "syscall:openat", "filename == \"/etc/a:b\""},
		{"sched:sched_switch:!(prev_state == 0)", "sched:sched_switch", "!(prev_state == 0)"},
		{"sched:sched_switch:(next_pid > 1) && cpu == 0", "sched:sched_switch", "(next_pid > 1) && cpu == 0"},
		{"uprobe:/bin/bash:readline", "uprobe:/bin/bash:readline", ""},
		{"uprobe:/bin/bash:readline:comm == \"bash\"", "uprobe:/bin/bash:readline", "comm == \"bash\""},
		{"sig == 9", "", "sig == 9"},
		{"  ", "", ""},
	} {
		spec, filter := splitTrigger(c.in)
		if spec != c.spec || filter != c.filter {
			t.Errorf("splitTrigger(%q) = %q, %q; want %q, %q", c.in, spec, filter, c.spec, c.filter)
		}
	}
}
