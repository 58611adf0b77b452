package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// benchTracepoint is the tracepoint that the recording benchmark's
// tracers record.
const (
	benchTracepoint     = "syscalls:sys_enter_getpid"
	benchTracepointName = "sys_enter_getpid"
)

// taskFDQuery is the bpf(2) attribute of BPF_TASK_FD_QUERY.
type taskFDQuery struct {
	pid, fd, flags, bufLen uint32
	buf                    uint64
	progID, fdType         uint32
	probeOffset, probeAddr uint64
}

// tracepointProgs returns the processes other than skip that hold a BPF
// program attached to the tracepoint name (say sys_enter_getpid) through
// a perf_event file descriptor, as "comm[pid] prog ID". The kernel runs
// such programs before it writes the event to perf's buffers, and drops
// the event for every perf session when one of them returns 0, as an
// empty program or bpftrail record's does. It asks the kernel with
// BPF_TASK_FD_QUERY about every perf_event descriptor on the machine,
// and skips what it cannot read.
func tracepointProgs(name string, skip int) []string {
	procs, _ := os.ReadDir("/proc")
	var found []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == skip {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, _ := os.ReadDir(dir)
		for _, f := range fds {
			fd, err := strconv.Atoi(f.Name())
			if err != nil {
				continue
			}
			if l, err := os.Readlink(filepath.Join(dir, f.Name())); err != nil || l != "anon_inode:[perf_event]" {
				continue
			}
			tp, prog, ok := queryTaskFD(pid, fd)
			if !ok || tp != name {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
			found = append(found, fmt.Sprintf("%s[%d] prog %d", bytes.TrimSpace(comm), pid, prog))
		}
	}
	return found
}

// queryTaskFD returns the tracepoint and the BPF program of the perf
// event fd of pid; ok is false when it holds no program on a tracepoint.
func queryTaskFD(pid, fd int) (tracepoint string, prog uint32, ok bool) {
	var buf [256]byte
	attr := taskFDQuery{
		pid:    uint32(pid),
		fd:     uint32(fd),
		bufLen: uint32(len(buf)),
		buf:    uint64(uintptr(unsafe.Pointer(&buf[0]))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_TASK_FD_QUERY, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 || attr.fdType != unix.BPF_FD_TYPE_TRACEPOINT {
		return "", 0, false
	}
	n := min(int(attr.bufLen), len(buf))
	return string(bytes.TrimRight(buf[:n], "\x00")), attr.progID, true
}
