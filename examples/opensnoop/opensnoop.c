//go:build ignore

// opensnoop's BPF side: every openat(2) of the processes in `targets` (the
// command user space starts, and every process forked from one of them) is
// sent to the ring buffer `events` as a struct event; records the ring
// cannot take are counted in `events_lost`.

// The few kernel types the program needs, so that it builds without kernel
// headers for any target.
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum { BPF_ANY = 0 };

#include <bpf/bpf_helpers.h>
#include "bpftrail_recorder.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct event {
	__u32 pid;
	__u64 ts;
	char comm[16];
	char filename[256];
};

// Keeps struct event in the object's BTF, where the recorder finds it.
const struct event *unused_event __attribute__((unused));

BPFTRAIL_RINGBUF(events, 256 * 1024);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

// The arguments of syscalls:sys_enter_openat, as its tracefs format lays
// them out.
struct openat_args {
	__u64 common;
	__s64 syscall_nr;
	__s64 dfd;
	const char *filename;
	__s64 flags;
	__s64 mode;
};

// sched:sched_process_fork's child_pid, wherever the running kernel puts
// it (its comm fields changed size over the years): relocated against the
// kernel's BTF when the program loads.
struct trace_event_raw_sched_process_fork {
	int child_pid;
} __attribute__((preserve_access_index));

SEC("tracepoint/sched/sched_process_fork")
int handle_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	__u32 child;
	__u8 one = 1;

	if (!bpf_map_lookup_elem(&targets, &parent))
		return 0;
	child = ctx->child_pid;
	bpf_map_update_elem(&targets, &child, &one, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int handle_openat(struct openat_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;

	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	e = bpftrail_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = tgid;
	e->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), ctx->filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
