/* ks-pagefaults: page faults with their latency, without kprobes.
 *
 * Start: the page_fault_user / page_fault_kernel tracepoints (x86 exceptions), which
 * fire on entry to the fault handler with the address and the error code.
 * End: the PAGE_FAULTS_MIN / PAGE_FAULTS_MAJ software perf events, which the kernel
 * raises from mm_account_fault() once the fault is handled; a BPF program on each
 * (sample period 1, one perf event per CPU) sees the same thread, so the difference
 * is the fault's latency and which event fired says minor or major.
 *
 * Not every start has an end: faults on kernel addresses, faults that fail
 * (SIGSEGV) and GUP faults are not accounted by the perf events.  So a start is
 * simply overwritten by the next one, and an end only counts when its address is the
 * one the start recorded.  A fault retried after dropping mmap_lock
 * (VM_FAULT_RETRY) is accounted once, at the end of the last try: the latency spans
 * every try, and the kernel calls such a fault major.
 *
 * Where the start is kept, as in syscalls.bpf.c and for the same reason (every
 * helper call is a few tens of ns, on every fault of the machine): the fault in
 * flight on a CPU sits in a per-CPU slot, identified by the faulting context's
 * stack pointer (start and end see the same pt_regs) and the address; a thread that
 * leaves the CPU inside its fault (a major fault waiting for the disk, a minor one
 * for a lock) has it moved into its task local storage by sched_switch.  The perf
 * event and tracepoint programs run with preemption disabled, so a slot is never
 * shared by two programs at once.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "hist.bpf.h"
#include "maps.bpf.h"
#include "task_filter.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* x86 page fault error code bits (arch/x86/include/asm/trap_pf.h) */
#define X86_PF_WRITE (1 << 1)
#define X86_PF_INSTR (1 << 4)

const volatile __u64 min_latency_ns = 1000000;	/* report faults at least this slow */
const volatile __u32 sample_every = 0;		/* and 1 in N of the others (0: none) */
const volatile bool cpu_fast_path = true;	/* false: task storage only (bench) */

__u64 unmatched_ends = 0;	/* an accounted fault without its start (address differs) */
KS_LOST_COUNTERS

struct fault_start {
	__u64 ts;		/* 0: no fault in flight */
	__u64 address;
	__u64 sp;		/* stack pointer of the faulting context: whose fault */
	__u32 error_code;
	__u32 user;
};

/* The fault in flight on each CPU (see the top of the file). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fault_start);
} inflight SEC(".maps");

/* A thread's fault that left the CPU with it. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fault_start);
} starts SEC(".maps");

/* Per process and generation (stats_gen): user space flips the generation every
 * interval, waits out the programs still counting into the old one, then reads and
 * deletes its keys. */
struct proc_key {
	__u32 tgid;
	__u32 gen;
};

struct proc_faults {
	__u64 minor;
	__u64 major;
	__u64 latency_sum_ns;
	char comm[16];
	__u64 cgid;		/* its cgroup v2 id when first counted (task_filter.bpf.h) */
	struct hist latency;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* ~3.8 KiB each: only live processes */
	__uint(max_entries, 2 * 4096);
	__type(key, struct proc_key);
	__type(value, struct proc_faults);
} procs SEC(".maps");

KS_GEN_MAP(stats_gen);

static struct proc_faults zero_proc;	/* initial value: too big for the stack */

KS_SAMPLE_MAP(sample_counter);

struct fault_event {
	__u64 ts;		/* bpf_ktime_get_ns when the fault was accounted */
	__u64 latency_ns;
	__u64 address;
	__u32 pid;
	__u32 tid;
	__u32 cpu;
	__u32 error_code;
	__u8 major;
	__u8 user;
	__u8 pad[6];
	char comm[16];
	__u64 cgid;		/* the thread's cgroup v2 id */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
KS_BTF_TYPE(fault_event);

static __always_inline struct fault_start *cpu_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&inflight, &zero);
}

static __always_inline int fault_begin(__u64 address, struct pt_regs *regs,
				       __u64 error_code, __u32 user)
{
	struct fault_start *s;

	if (task_filtering() && !task_wanted(bpf_get_current_task_btf()))
		return 0;
	s = cpu_fast_path ? cpu_slot()
			  : bpf_task_storage_get(&starts, bpf_get_current_task_btf(), 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		ks_count(lost_map_full);
		return 0;
	}
	s->address = address;
	s->sp = regs->sp;
	s->error_code = (__u32)error_code;
	s->user = user;
	s->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return fault_begin(address, regs, error_code, 1);
}

SEC("tp_btf/page_fault_kernel")
int BPF_PROG(page_fault_kernel, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return fault_begin(address, regs, error_code, 0);
}

/* A thread leaving the CPU takes its fault in flight along, into its own record.
 * Only the thread running here can have one: prev.  (A start that never gets its
 * end, e.g. a fault on a kernel address, is carried along too, harmlessly: the next
 * fault of the thread overwrites it.) */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct fault_start *s = cpu_slot(), *t;

	if (!s || !s->ts)
		return 0;
	t = bpf_task_storage_get(&starts, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (t)
		*t = *s;
	else
		ks_count(lost_map_full);
	s->ts = 0;
	return 0;
}

static __always_inline void count_fault(__u32 tgid, __u64 latency, bool major)
{
	struct proc_key key = { .tgid = tgid, .gen = ks_gen_of(&stats_gen) };
	struct proc_faults *p;

	p = map_lookup_or_try_init(&procs, &key, &zero_proc);
	if (!p) {
		ks_count(lost_map_full);
		return;
	}
	if (!p->comm[0]) {
		bpf_get_current_comm(p->comm, sizeof(p->comm));
		p->cgid = task_cgroup_id(bpf_get_current_task_btf());
	}
	if (major)
		__sync_fetch_and_add(&p->major, 1);
	else
		__sync_fetch_and_add(&p->minor, 1);
	__sync_fetch_and_add(&p->latency_sum_ns, latency);
	hist_add(&p->latency, latency / 1000);
}

static __always_inline void report(struct task_struct *task, struct fault_start *s,
				   __u64 now, __u64 latency, bool major)
{
	struct fault_event *e;

	e = ks_reserve(&events, sizeof(*e));
	if (!e)
		return;
	e->ts = now;
	e->latency_ns = latency;
	e->address = s->address;
	e->pid = task->tgid;
	e->tid = task->pid;
	e->cpu = bpf_get_smp_processor_id();
	e->error_code = s->error_code;
	e->major = major;
	e->user = s->user;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->cgid = task_cgroup_id(task);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int fault_end(struct bpf_perf_event_data *ctx, bool major)
{
	struct task_struct *task;
	struct fault_start *s;
	__u64 now, latency, sampled_at;

	s = cpu_fast_path ? cpu_slot() : 0;
	if (!s || !s->ts || s->address != ctx->addr || s->sp != ctx->regs.sp) {
		s = bpf_task_storage_get(&starts, bpf_get_current_task_btf(), 0, 0);
		if (!s || !s->ts)
			return 0;
		if (s->address != ctx->addr) {
			ks_count(unmatched_ends);
			return 0;
		}
	}
	task = bpf_get_current_task_btf();
	if (task_is_self(task)) {	/* our own work would weigh on what we measure */
		s->ts = 0;
		return 0;
	}
	now = bpf_ktime_get_ns();
	latency = now - s->ts;
	s->ts = 0;
	count_fault(task->tgid, latency, major);
	if (latency >= min_latency_ns || ks_sampled(&sample_counter, sample_every, 0, &sampled_at))
		report(task, s, now, latency, major);
	return 0;
}

/* A process's first fault is usually before its exec (in the forked shell or
 * runtime): keep the name it runs under afterwards. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct proc_key key = { .tgid = bpf_get_current_pid_tgid() >> 32,
				.gen = ks_gen_of(&stats_gen) };
	struct proc_faults *v = bpf_map_lookup_elem(&procs, &key);

	if (v)
		bpf_get_current_comm(v->comm, sizeof(v->comm));
	return 0;
}

SEC("perf_event")
int fault_minor(struct bpf_perf_event_data *ctx)
{
	return fault_end(ctx, false);
}

SEC("perf_event")
int fault_major(struct bpf_perf_event_data *ctx)
{
	return fault_end(ctx, true);
}
