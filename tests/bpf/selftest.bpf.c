/* Exercises the Python libbpf binding: rodata, a hash map, a ring buffer, .bss. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 targ_tgid = 0;
__u64 hits = 0;
KS_LOST_COUNTERS

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 zero = 0, *v;
	__u32 *e;

	if (targ_tgid && tgid != targ_tgid)
		return 0;
	ks_count(hits);
	v = map_lookup_or_try_init(&counts, &tgid, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		ks_count(lost_map_full);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		ks_count(lost_ringbuf);
		return 0;
	}
	*e = tgid;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
