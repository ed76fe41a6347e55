/* ks-sched: run-queue latency (time runnable before running), per CPU and per process.
 *
 * A task enters the run queue when it is woken (sched_wakeup, sched_wakeup_new) or
 * when it is switched out while still runnable (preempted: sched_switch with
 * preempt set or prev_state == TASK_RUNNING); it leaves when sched_switch gives it
 * the CPU.  That is the same span /proc/<pid>/schedstat's run_delay adds up.
 *
 * The enqueue time lives in task local storage (freed with the task, no map to
 * fill up); a hash keyed by tid is kept as --start-map hash for comparison and
 * for kernels without task storage.  Histograms are cumulative per-CPU arrays
 * (no atomics, nothing lost while user space reads): user space takes deltas.
 * Task fields are read directly (tp_btf arguments are BTF pointers the verifier
 * trusts): a load each, where BPF_CORE_READ would call a probe-read helper.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "hist.bpf.h"
#include "maps.bpf.h"
#include "task_filter.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0
const volatile __u64 min_latency_ns = 10000000;	/* per-wait events at or above this */
const volatile bool per_process = false;	/* fill proc_stats */
const volatile bool use_hash = false;		/* start times in a hash, not task storage */
#define HIST_PER_PROCESS 1
#define HIST_PER_THREAD 2
const volatile __u32 hist_per = 0;	/* --hist-per: a histogram per process (1) or thread (2) */

KS_LOST_COUNTERS
/* Waits whose end no sched_switch showed: the task ran (it is being switched out)
 * while still queued by our records.  Some switches fire no sched_switch (see
 * task_times), so their wait cannot be timed; counted and said, never silent.
 * Seen at every switch-out with --per-process, at preemptions without. */
__u64 lost_untraced_switch = 0;

/* CPU time is the scheduler's own sum (se.sum_exec_runtime, what schedstat and
 * getrusage report) taken at every switch, not switch-in to switch-out by the clock:
 * some switches fire no sched_switch at all (seen on kernel 6.18 under a hypervisor:
 * the hypervisor agent's threads never appear as prev), and a task given the CPU
 * back that way would lose its whole slice.  With the sum, the next switch-out still counts it. */
struct task_times {
	__u64 queued_ts;	/* entered the run queue; 0 when not queued */
	__u64 runtime_seen;	/* se.sum_exec_runtime + 1 at its last switch; 0 unknown */
};

struct proc_stats {
	char comm[KS_COMM_LEN];
	__u64 switches;
	__u64 voluntary;
	__u64 involuntary;
	__u64 wakeups;
	__u64 cpu_ns;
	__u64 runq_wait_ns;
	__u64 runq_waits;
	__u64 cgid;		/* the process's cgroup v2 id when first counted */
};

struct rq_hist {
	__u64 sum_us;
	struct hist h;
};

struct wait_event {
	__u64 ts;		/* when it got the CPU (CLOCK_MONOTONIC) */
	__u64 latency_ns;
	__u32 tgid;
	__u32 tid;
	__u32 cpu;
	__u32 prev_state;
	__u32 prev_preempt;
	char comm[KS_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_times);
} task_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct task_times);
} hash_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rq_hist);
} rq_hists SEC(".maps");

/* proc_stats' key: the process and the generation (stats_gen) it was counted in.
 * User space flips the generation every interval, waits out the programs still
 * counting into the old one, then reads and deletes its keys: deleting a key a
 * program still held a pointer into would lose that program's additions. */
struct proc_key {
	__u32 tgid;
	__u32 gen;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * 16384);
	__type(key, struct proc_key);
	__type(value, struct proc_stats);
} proc_stats SEC(".maps");

KS_GEN_MAP(stats_gen);

/* --hist-per: a run-queue latency histogram per process or thread and generation
 * (the key as proc_key's, the id a tgid or a tid).  Created on demand (no
 * preallocation: a value is a whole histogram). */
struct task_hist {
	__u64 sum_us;
	__u64 cgid;
	__u32 tgid;		/* its process (the key's id is a tid with --hist-per thread) */
	__u32 pad;
	char comm[KS_COMM_LEN];
	struct hist h;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * 8192);
	__type(key, struct proc_key);
	__type(value, struct task_hist);
} task_hists SEC(".maps");

static struct task_hist zero_task_hist;	/* too big for the BPF stack */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} events SEC(".maps");
KS_BTF_TYPE(wait_event);

/* This task's times; created when create is set (NULL if that fails: counted). */
static __always_inline struct task_times *times_of(struct task_struct *t, bool create)
{
	struct task_times *tt, zero = {};
	__u32 tid;

	if (!use_hash) {
		tt = bpf_task_storage_get(&task_starts, t, 0,
					  create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	} else {
		tid = t->pid;
		tt = create ? map_lookup_or_try_init(&hash_starts, &tid, &zero)
			    : bpf_map_lookup_elem(&hash_starts, &tid);
	}
	if (!tt && create)
		ks_count(lost_map_full);
	return tt;
}

static __always_inline struct proc_stats *stats_of(struct task_struct *t)
{
	struct proc_stats *st, zero = {};
	struct proc_key key = { .tgid = t->tgid, .gen = ks_gen_of(&stats_gen) };

	st = bpf_map_lookup_elem(&proc_stats, &key);
	if (st)
		return st;
	BPF_CORE_READ_STR_INTO(&zero.comm, t, group_leader, comm);
	zero.cgid = task_cgroup_id(t);
	st = map_lookup_or_try_init(&proc_stats, &key, &zero);
	if (!st)
		ks_count(lost_map_full);
	return st;
}

static __always_inline void enqueued(struct task_struct *t, __u64 now)
{
	struct task_times *tt = times_of(t, true);

	if (tt)
		tt->queued_ts = now;
}

static __always_inline int on_wakeup(struct task_struct *p, bool counted)
{
	struct proc_stats *st;

	if (!p->pid || !task_wanted(p))
		return 0;
	/* Woken while still on a CPU (on its way to sleep): it never left, or it is
	 * switched out as runnable and queued there. */
	if (!p->on_cpu)
		enqueued(p, bpf_ktime_get_ns());
	if (per_process && counted && (st = stats_of(p)))
		__sync_fetch_and_add(&st->wakeups, 1);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	return on_wakeup(p, true);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	return on_wakeup(p, false);
}

static __always_inline void switched_out(struct task_struct *prev, bool runnable, __u64 now)
{
	struct task_times *tt = NULL;
	struct proc_stats *st;

	if (runnable || per_process)
		tt = times_of(prev, true);
	if (tt) {
		if (tt->queued_ts)	/* it ran while still queued by our records */
			ks_count(lost_untraced_switch);
		tt->queued_ts = runnable ? now : 0;
	}
	if (!per_process || !(st = stats_of(prev)))
		return;
	__sync_fetch_and_add(&st->switches, 1);
	__sync_fetch_and_add(runnable ? &st->involuntary : &st->voluntary, 1);
	if (tt) {
		__u64 runtime = prev->se.sum_exec_runtime + 1;

		if (tt->runtime_seen && runtime > tt->runtime_seen)
			__sync_fetch_and_add(&st->cpu_ns, runtime - tt->runtime_seen);
		tt->runtime_seen = runtime;
	}
}

/* --hist-per: count a wait into its process's or thread's histogram. */
static __always_inline void count_task_hist(struct task_struct *t, __u64 us)
{
	struct proc_key key = { .tgid = hist_per == HIST_PER_THREAD ? t->pid : t->tgid,
				.gen = ks_gen_of(&stats_gen) };
	struct task_hist *th = bpf_map_lookup_elem(&task_hists, &key);

	if (!th) {
		th = map_lookup_or_try_init(&task_hists, &key, &zero_task_hist);
		if (!th) {
			ks_count(lost_map_full);
			return;
		}
		th->cgid = task_cgroup_id(t);
		th->tgid = t->tgid;
		if (hist_per == HIST_PER_THREAD)
			BPF_CORE_READ_STR_INTO(&th->comm, t, comm);
		else
			BPF_CORE_READ_STR_INTO(&th->comm, t, group_leader, comm);
	}
	__sync_fetch_and_add(&th->sum_us, us);
	hist_add(&th->h, us);
}

static __always_inline void record_wait(struct task_struct *next, struct task_struct *prev,
					bool preempt, unsigned int prev_state, __u64 now, __u64 delta)
{
	struct wait_event *e;
	struct rq_hist *rh;
	struct proc_stats *st;
	__u32 zero = 0;
	__u64 us = delta / 1000;

	rh = bpf_map_lookup_elem(&rq_hists, &zero);
	if (rh) {
		/* Per-CPU value, and sched_switch runs with the run queue locked and
		 * interrupts off: plain increments are safe. */
		rh->sum_us += us;
		hist_add_nosync(&rh->h, us);
	}
	if (per_process && (st = stats_of(next))) {
		__sync_fetch_and_add(&st->runq_wait_ns, delta);
		__sync_fetch_and_add(&st->runq_waits, 1);
	}
	if (hist_per)
		count_task_hist(next, us);
	if (delta < min_latency_ns)
		return;
	e = ks_reserve(&events, sizeof(*e));
	if (!e)
		return;
	e->ts = now;
	e->latency_ns = delta;
	e->tgid = next->tgid;
	e->tid = next->pid;
	e->cpu = bpf_get_smp_processor_id();
	e->prev_state = prev_state;
	e->prev_preempt = preempt;
	BPF_CORE_READ_STR_INTO(&e->comm, next, comm);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void switched_in(struct task_struct *next, struct task_struct *prev,
					bool preempt, unsigned int prev_state, __u64 now)
{
	struct task_times *tt;
	__u64 queued;

	/* Only tasks that passed the filter when enqueued have a start time; per-process
	 * CPU time needs an entry for every wanted task. */
	tt = times_of(next, per_process && task_wanted(next));
	if (!tt)
		return;
	if (per_process && !tt->runtime_seen)	/* first sight: count from here */
		tt->runtime_seen = next->se.sum_exec_runtime + 1;
	queued = tt->queued_ts;
	if (!queued)
		return;
	tt->queued_ts = 0;
	if (now <= queued)	/* never a negative wait counted as a huge one */
		return;
	record_wait(next, prev, preempt, prev_state, now, now - queued);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	bool runnable = preempt || prev_state == TASK_RUNNING;
	bool out = prev->pid && (runnable || per_process) && task_wanted(prev);
	__u64 now;

	/* A sleeper handing the CPU to the idle task: nothing to note (and the clock
	 * read is a good part of what this program costs). */
	if (!out && !next->pid)
		return 0;
	now = bpf_ktime_get_ns();
	if (out)
		switched_out(prev, runnable, now);
	if (next->pid)
		switched_in(next, prev, preempt, prev_state, now);
	return 0;
}

/* Hash mode only: a thread's entry goes when the thread does. */
SEC("tp_btf/sched_process_free")
int BPF_PROG(sched_process_free, struct task_struct *p)
{
	__u32 tid = p->pid;

	if (use_hash)
		bpf_map_delete_elem(&hash_starts, &tid);
	return 0;
}
