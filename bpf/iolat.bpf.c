/* ks-iolat: block I/O latency per device and direction, from issue (or insert) to completion.
 *
 * In-flight requests are keyed by the struct request pointer: unlike device+sector
 * (the original tool's key) it cannot collide between two requests in flight.
 *
 * Their start times live in a table of slots indexed by a hash of that pointer, two
 * candidate slots per request, each slot naming the request it holds.  A plain
 * array costs a few loads and stores per request; a BPF hash map's update and
 * delete cost about four times more here (bench/bench_iolat.py measured both).  A
 * request whose two slots are both held by other requests in flight takes one
 * over anyway and the displaced one is counted as lost (lost_map_full), never
 * silently; with SLOTS slots that needs hundreds of requests in flight at once.
 *
 * Completed requests are counted into per-(device, direction) histograms that are
 * never reset: user space reports what each interval added.  (Draining them with
 * lookup-and-delete lost counts: a completion handler, preemptible in process
 * context, could still be adding into an entry user space had just deleted.)
 * Request fields are read directly (tp_btf arguments are BTF pointers): a load
 * each, where BPF_CORE_READ would call a probe-read helper.
 *
 * --cgroup, two ways (collectors/iolat.py picks one):
 * - targ_blkcg: where the kernel charges I/O to the cgroup itself (its own io
 *   controller on v2, or a v1 blkio cgroup of the same processes), the request says
 *   whose it is: its bios carry the blkcg they are charged to (bio->bi_blkg, set at
 *   submission: the submitter's, or for writeback the owner of the pages; bios of two
 *   blkcgs are never merged).  Compared at the start, no other program: a few loads.
 * - targ_cgid: otherwise.  At completion `current` is whoever the interrupt landed
 *   on, and at issue often a kworker dispatching the scheduler's queue, so the filter
 *   cannot look there.  block_io_start runs when the request is made from a bio, in
 *   the submitting task's context: a request made by a task of the cgroup is marked
 *   in its slot there, and only marked requests are timed.  I/O that others submit
 *   for the cgroup (the flusher threads' writeback of its dirty pages) is not marked.
 *   That program costs what any program on block_io_start costs (bench/bench_iolat.py).
 * Without --cgroup neither is loaded and the checks are pruned.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hist.bpf.h"
#include "maps.bpf.h"
#include "task_filter.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define REQ_OP_MASK ((1 << 8) - 1)	/* include/linux/blk_types.h: REQ_OP_BITS = 8 */
#define MINORBITS 20			/* the kernel's dev_t: major << 20 | minor */
#define SLOT_BITS 16
#define SLOTS (1 << SLOT_BITS)

#define DIR_READ 0
#define DIR_WRITE 1

const volatile __u32 targ_dev = 0;	/* kernel dev_t of the one disk to trace; 0 = all */
const volatile bool targ_queued = false;	/* start at block_rq_insert, not at issue */
const volatile bool targ_flags = false;		/* --flags: a histogram per set of request flags */
const volatile __u64 targ_blkcg = 0;	/* --cgroup: the id of the cgroup its I/O is charged to */

/* --flags: the request flags kept, as bits of dev_dir.dir above the direction (bit
 * FLAG_SHIFT + i for the i-th of these; collectors/iolat.py FLAG_NAMES names them in
 * the same order).  Their positions in cmd_flags change between kernels: CO-RE reads
 * them from the running kernel's enum req_flag_bits. */
#define FLAG_SHIFT 8
static __always_inline __u32 rq_flag_bits(struct request *rq)
{
	__u64 f = rq->cmd_flags;
	__u32 out = 0;

#define KS_FLAG(i, name) \
	if (f & (1ULL << bpf_core_enum_value(enum req_flag_bits, name))) out |= 1U << (FLAG_SHIFT + (i))
	KS_FLAG(0, __REQ_SYNC);
	KS_FLAG(1, __REQ_META);
	KS_FLAG(2, __REQ_PRIO);
	KS_FLAG(3, __REQ_FUA);
	KS_FLAG(4, __REQ_PREFLUSH);
	KS_FLAG(5, __REQ_RAHEAD);
	KS_FLAG(6, __REQ_BACKGROUND);
#undef KS_FLAG
	return out;
}

KS_LOST_COUNTERS
/* Requests whose completion never reached rq_complete: the kernel (seen on 6.18
 * under a hypervisor) sometimes skips the BPF programs of block_rq_complete without counting a recursion
 * miss, while its own trace event and diskstats see the completion.  Found when the
 * struct request is used again and still holds that earlier start; user space adds
 * the starts left over at exit.  Those I/Os are missing from the counts: said, never
 * silent. */
__u64 lost_completion = 0;

struct slot {
	__u64 rq;		/* the request whose start this is; 0: free */
	__u64 ts;
	__u64 alloc_ns;		/* rq->start_time_ns: tells this life of rq from an earlier one */
	__u32 dev;
	__u32 bytes;
	__u32 dir;
	__u32 mark;		/* --cgroup: made by a task of the cgroup (block_io_start) */
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
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, struct slot);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);	/* 256 disks, read and write */
	__type(key, struct dev_dir);
	__type(value, struct io_hist);
} hists SEC(".maps");

/* A zeroed value to create histogram entries from (too big for the BPF stack). */
static struct io_hist zero_hist;

/* The request pointer as a number (the verifier forbids arithmetic on the pointer
 * itself): every block_rq_* tracepoint has it as its first argument. */
static __always_inline __u64 rq_id(unsigned long long *ctx)
{
	__u64 id = 0;

	bpf_probe_read_kernel(&id, sizeof(id), &ctx[0]);
	return id;
}

/* First candidate slot (the second is its neighbour, i ^ 1). */
static __always_inline __u32 slot_index(__u64 id)
{
	return (__u32)(((id >> 6) * 0x9E3779B97F4A7C15ULL) >> (64 - SLOT_BITS));
}

static __always_inline struct slot *slot_at(__u32 i)
{
	return bpf_map_lookup_elem(&slots, &i);
}

/* The slot holding this request, if any. */
static __always_inline struct slot *find_slot(__u64 id)
{
	__u32 i = slot_index(id);
	struct slot *s = slot_at(i);

	if (s && s->rq == id)
		return s;
	s = slot_at(i ^ 1);
	return s && s->rq == id ? s : 0;
}

/* A slot for a new start: this request's own, else a free one, else (counted as a
 * loss of the request it held) the first. */
static __always_inline struct slot *claim_slot(__u64 id)
{
	__u32 i = slot_index(id);
	struct slot *a = slot_at(i), *b = slot_at(i ^ 1);

	if (!a || !b)
		return 0;
	if (a->rq == id)
		return a;
	if (b->rq == id)
		return b;
	if (!a->ts && (!targ_cgid || !a->mark))
		return a;
	if (!b->ts && (!targ_cgid || !b->mark))
		return b;
	ks_count(lost_map_full);
	return a;
}

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

/* --cgroup (targ_blkcg): the id of the cgroup the request's I/O is charged to.  A
 * request without a bio or a blkcg (the loads of a NULL pointer read 0) is nobody's. */
static __always_inline __u64 rq_blkcg_id(struct request *rq)
{
	return rq->bio->bi_blkg->blkcg->css.cgroup->kn->id;
}

/* --cgroup: whether block_io_start marked this request as the cgroup's.  A mark
 * whose slot still holds the start of an earlier use of the struct request (a
 * completion we never saw; block_io_start clears those for the requests it marks)
 * is that earlier use's: dropped, and the loss counted. */
static __always_inline struct slot *marked_slot(struct request *rq, __u64 id)
{
	struct slot *s = find_slot(id);

	if (!s || !s->mark)
		return 0;
	if (s->ts && s->alloc_ns != rq->start_time_ns) {
		ks_count(lost_completion);
		s->mark = 0;
		s->ts = 0;
		return 0;
	}
	return s;
}

/* --cgroup: a request that will not be timed gives its mark up (frees the slot). */
static __always_inline int unmark(__u64 id)
{
	struct slot *s;

	if (targ_cgid) {
		s = find_slot(id);
		if (s && !s->ts)
			s->mark = 0;
	}
	return 0;
}

static __always_inline int trace_start(struct request *rq, __u64 id, bool at_issue)
{
	__u64 alloc_ns = rq->start_time_ns;
	int dir = rq_dir(rq);
	struct slot *s;
	__u32 dev;

	if (dir < 0)
		return unmark(id);
	dev = rq_dev(rq);
	if (targ_dev && dev != targ_dev)
		return unmark(id);
	if (targ_blkcg && rq_blkcg_id(rq) != targ_blkcg)
		return 0;
	if (targ_cgid && !marked_slot(rq, id))
		return 0;
	/* The allocation stamp tells this use of the struct request from an earlier
	 * one.  Queued mode keeps the insert time of this same use (requests issued
	 * without passing the scheduler start at issue); a start left by an earlier
	 * use is a completion we never saw. */
	s = find_slot(id);
	if (s && s->ts && alloc_ns && s->alloc_ns) {
		if (s->alloc_ns == alloc_ns) {
			if (targ_queued && at_issue)
				return 0;
		} else {
			ks_count(lost_completion);
		}
	}
	s = claim_slot(id);
	if (!s)
		return 0;
	s->rq = id;
	s->alloc_ns = alloc_ns;
	s->dev = dev;
	s->dir = targ_flags ? dir | rq_flag_bits(rq) : dir;
	s->bytes = rq->__data_len;
	s->ts = bpf_ktime_get_ns();
	return 0;
}

/* --cgroup only (autoloaded then): mark requests made by the cgroup's tasks. */
SEC("tp_btf/block_io_start")
int BPF_PROG(io_start, struct request *rq)
{
	__u64 id = rq_id(ctx);
	struct slot *s;

	if (!cgroup_matches(bpf_get_current_task_btf()))
		return 0;
	s = claim_slot(id);
	if (!s)
		return 0;
	/* A start still here is this struct request's earlier use, never completed
	 * (this use has not started yet), or one claim_slot displaced (counted). */
	if (s->ts && s->rq == id)
		ks_count(lost_completion);
	s->ts = 0;
	s->rq = id;
	s->mark = 1;
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(rq_insert, struct request *rq)
{
	return trace_start(rq, rq_id(ctx), false);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(rq_issue, struct request *rq)
{
	return trace_start(rq, rq_id(ctx), true);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct dev_dir dd = {};
	struct io_hist *v;
	struct slot *s;
	__u64 start, now;
	__u32 bytes;

	s = find_slot(rq_id(ctx));
	if (!s || !s->ts)
		return 0;
	/* A partial completion (nr_bytes short of what remains) is not the end yet. */
	if (nr_bytes < rq->__data_len)
		return 0;
	dd.dev = s->dev;
	dd.dir = s->dir;
	bytes = s->bytes;
	if (targ_cgid)
		s->mark = 0;	/* before the start: a free slot has neither */
	/* Take the start, which frees the slot (read the rest first: a new request may
	 * claim it at once); a nested or concurrent completion must not count twice. */
	start = __sync_lock_test_and_set(&s->ts, 0);
	now = bpf_ktime_get_ns();
	if (!start || now <= start)
		return 0;
	v = map_lookup_or_try_init(&hists, &dd, &zero_hist);
	if (!v) {
		ks_count(lost_map_full);
		return 0;
	}
	__sync_fetch_and_add(&v->count, 1);
	__sync_fetch_and_add(&v->bytes, bytes);
	hist_add(&v->h, (now - start) / 1000);
	return 0;
}
