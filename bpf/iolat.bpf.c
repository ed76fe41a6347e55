/* ks-iolat: block I/O latency per device and direction, from issue (or insert) to completion.
 *
 * In-flight requests are keyed by the struct request pointer: unlike device+sector
 * (the original tool's key) it cannot collide between two requests in flight.
 * Completed requests are counted into per-(device, direction) histograms that are
 * never reset: user space reports what each interval added.  (Draining them with
 * lookup-and-delete lost counts: a completion handler, preemptible in process
 * context, could still be adding into an entry user space had just deleted.)
 * Request fields are read directly (tp_btf arguments are BTF pointers): a load
 * each, where BPF_CORE_READ would call a probe-read helper.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hist.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define REQ_OP_MASK ((1 << 8) - 1)	/* include/linux/blk_types.h: REQ_OP_BITS = 8 */
#define MINORBITS 20			/* the kernel's dev_t: major << 20 | minor */

#define DIR_READ 0
#define DIR_WRITE 1

const volatile __u32 targ_dev = 0;	/* kernel dev_t of the one disk to trace; 0 = all */
const volatile bool targ_queued = false;	/* start at block_rq_insert, not at issue */

KS_LOST_COUNTERS

struct start {
	__u64 ts;
	__u64 alloc_ns;		/* rq->start_time_ns: tells this life of rq from an earlier one */
	__u32 dev;
	__u32 bytes;
	__u32 dir;
	__u32 pad;
};

struct dev_dir {
	__u32 dev;
	__u32 dir;
};

struct io_hist {
	__u64 count;
	__u64 bytes;
	struct hist h;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);		/* struct request * */
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);	/* 256 disks, read and write */
	__type(key, struct dev_dir);
	__type(value, struct io_hist);
} hists SEC(".maps");

/* A zeroed value to create histogram entries from (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct io_hist);
} zero_hist SEC(".maps");

static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk = rq->q->disk;

	if (!disk)
		return 0;
	return ((__u32)disk->major << MINORBITS) | (__u32)disk->first_minor;
}

/* Reads and writes as /proc/diskstats groups them; flushes and discards are not I/O
 * of data (diskstats counts them apart), so they are left out. */
static __always_inline int rq_dir(struct request *rq)
{
	__u32 op = rq->cmd_flags & REQ_OP_MASK;

	if (op == REQ_OP_FLUSH || op == REQ_OP_DISCARD || op == REQ_OP_SECURE_ERASE)
		return -1;
	return (op & 1) ? DIR_WRITE : DIR_READ;
}

static __always_inline int trace_start(struct request *rq, bool at_issue)
{
	struct start s = {}, *old;
	__u64 key = (__u64)rq;
	int dir = rq_dir(rq);

	if (dir < 0)
		return 0;
	s.dev = rq_dev(rq);
	if (targ_dev && s.dev != targ_dev)
		return 0;
	s.alloc_ns = rq->start_time_ns;
	/* Queued mode keeps the insert time of this same request (requests issued
	 * without passing the scheduler start at issue).  An entry left by an earlier
	 * use of this struct request (its completion never seen) must not count:
	 * the allocation stamp tells them apart. */
	if (targ_queued && at_issue && s.alloc_ns) {
		old = bpf_map_lookup_elem(&starts, &key);
		if (old && old->alloc_ns == s.alloc_ns)
			return 0;
	}
	s.ts = bpf_ktime_get_ns();
	s.bytes = rq->__data_len;
	s.dir = dir;
	if (bpf_map_update_elem(&starts, &key, &s, BPF_ANY) == -7 /* E2BIG: full */)
		ks_count(lost_map_full);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(rq_insert, struct request *rq)
{
	return trace_start(rq, false);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(rq_issue, struct request *rq)
{
	return trace_start(rq, true);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns();
	struct dev_dir dd = {};
	struct io_hist *v;
	struct start *s;
	__u32 zero = 0;
	void *init;

	s = bpf_map_lookup_elem(&starts, &key);
	if (!s)
		return 0;
	/* A partial completion (nr_bytes short of what remains) is not the end yet. */
	if (nr_bytes < rq->__data_len)
		return 0;
	dd.dev = s->dev;
	dd.dir = s->dir;
	init = bpf_map_lookup_elem(&zero_hist, &zero);
	if (init && now > s->ts) {
		v = map_lookup_or_try_init(&hists, &dd, init);
		if (v) {
			__sync_fetch_and_add(&v->count, 1);
			__sync_fetch_and_add(&v->bytes, s->bytes);
			hist_add(&v->h, (now - s->ts) / 1000);
		} else {
			ks_count(lost_map_full);
		}
	}
	bpf_map_delete_elem(&starts, &key);
	return 0;
}
