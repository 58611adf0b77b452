/* bpftrail_recorder.h: ring buffers whose lost records are counted, for
 * bpftrail's recorder package (github.com/bpftrail/bpftrail/recorder).
 *
 * A BPF ring buffer does not count the records it could not take: when
 * bpf_ringbuf_reserve or bpf_ringbuf_output fails, only the program knows.
 * BPFTRAIL_RINGBUF(name, bytes) declares the ring buffer `name` and, next
 * to it, the per-CPU counter `name_lost`; bpftrail_reserve and
 * bpftrail_output bump the counter on failure. Give the counter map to
 * recorder.Options.Lost and the trace's events_discarded counts it.
 *
 *     #include <bpf/bpf_helpers.h>
 *     #include "bpftrail_recorder.h"
 *
 *     BPFTRAIL_RINGBUF(events, 256 * 1024);
 *
 *     struct event *e = bpftrail_reserve(events, sizeof(*e));
 *     if (!e)
 *             return 0;
 *     ...
 *     bpf_ringbuf_submit(e, 0);
 *
 * Include it after bpf_helpers.h (libbpf), which defines __uint, __type
 * and SEC.
 */
#ifndef BPFTRAIL_RECORDER_H
#define BPFTRAIL_RECORDER_H

#define BPFTRAIL_RINGBUF(name, bytes)                                          \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                            \
		__uint(max_entries, bytes);                                    \
	} name SEC(".maps");                                                   \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                       \
		__uint(max_entries, 1);                                        \
		__type(key, __u32);                                            \
		__type(value, __u64);                                          \
	} name##_lost SEC(".maps")

/* bpftrail_count_lost adds one to the calling CPU's slot of a lost map. */
static __always_inline void bpftrail_count_lost(void *lost)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(lost, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* bpftrail_reserve is bpf_ringbuf_reserve that counts a failure. */
#define bpftrail_reserve(name, size)                                           \
	({                                                                     \
		void *__bpftrail_p = bpf_ringbuf_reserve(&name, size, 0);      \
		if (!__bpftrail_p)                                             \
			bpftrail_count_lost(&name##_lost);                     \
		__bpftrail_p;                                                  \
	})

/* bpftrail_output is bpf_ringbuf_output that counts a failure. */
#define bpftrail_output(name, data, size)                                      \
	({                                                                     \
		long __bpftrail_r = bpf_ringbuf_output(&name, data, size, 0);  \
		if (__bpftrail_r)                                              \
			bpftrail_count_lost(&name##_lost);                     \
		__bpftrail_r;                                                  \
	})

#endif
