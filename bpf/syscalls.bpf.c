/* ks-syscalls: slow system calls, and (with --stats) every call counted per syscall.
 *
 * sys_enter notes when the thread entered which syscall; sys_exit computes the
 * latency.  The threshold is applied here, so only slow calls cross to user space
 * (ring buffer).
 *
 * Where the start is kept is what the tracer costs, because on every syscall of
 * the machine both programs run and every helper call is a few tens of ns:
 *  - The call in flight on a CPU sits in a per-CPU slot (an inlined array lookup,
 *    no helper call, not even to learn who the thread is: the pt_regs pointer the
 *    tracepoints pass is the thread's own and says whose record it is).
 *  - A thread that leaves the CPU inside its call (it sleeps or is preempted, as
 *    slow calls do) has its record moved to its own slot in task local storage by
 *    sched_switch; its sys_exit finds it there.  Task storage rather than a hash map
 *    keyed by tid: no hashing, and it dies with the thread (a thread that calls
 *    exit() never reaches sys_exit, which would leak a hash entry).
 * Tracepoint programs run with preemption disabled, so the per-CPU slot is never
 * shared by two programs at once.  bench/bench_syscalls.py compares this with
 * the per-thread map alone (cpu_fast_path = false) and with a hash map
 * (-DKS_START_IN_HASH).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "task_filter.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define MAX_SYSCALL_NR 512	/* x86_64 has < 470; larger numbers are not counted */
#define MAX_ERRNO 4095

const volatile __u64 min_latency_ns = 10000000;	/* report calls at least this slow */
const volatile __s32 targ_nr = -1;		/* --syscall: only this number */
const volatile bool errors_only = false;	/* report only calls that failed */
const volatile bool stats_on = false;		/* --stats: count every call */
const volatile bool cpu_fast_path = true;	/* false: per-thread map only (bench) */
const volatile bool failures_only = false;	/* --failures: only failed calls, counted and reported */
const volatile __s32 targ_errno = 0;		/* --errno: only failures with this errno */
const volatile bool per_process = false;	/* --stats --per-process: count per process */

/* Calls whose job is to wait (collectors/syscall_waits.py has the list and why):
 * left out of the slow-call events unless --include-waits, still counted by --stats.
 * Decided only for a call already slow, so the fast path never pays for it. */
const volatile bool include_waits = false;
const volatile __u64 wait_nrs[MAX_SYSCALL_NR / 64] = {};	/* a bit per syscall */
const volatile __s32 futex_nr = -1;	/* futex: a wait only for its WAIT ops */
const volatile __s32 read_nr = -1;	/* read, readv: a wait on a pipe or a tty */
const volatile __s32 readv_nr = -1;

/* The kernel's tick rate (CONFIG_HZ, found by user space), to rule out most fast
 * calls without reading the clock at exit: bpf_ktime_get_ns is a chain of calls,
 * bpf_jiffies64 is inlined.  0 when unknown: then every exit reads the clock.
 * (Not a __kconfig extern: libbpf refuses to load those without a kernel config
 * file, even weak ones.) */
const volatile __u32 kernel_hz = 0;

__u64 stats_out_of_range = 0;	/* syscall numbers >= MAX_SYSCALL_NR seen */
KS_LOST_COUNTERS

struct start {
	__u64 regs;	/* the owner's pt_regs address; 0: no call in flight */
	__u64 ts;
	__u64 jiffies;
	__u64 arg0;
	__s64 nr;
};

/* The call in flight on each CPU (see the top of the file). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct start);
} inflight SEC(".maps");

#ifdef KS_START_IN_HASH
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");
#else
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct start);
} starts SEC(".maps");
#endif

struct call_stats {
	__u64 count;
	__u64 errors;
	__u64 total_ns;
	__u64 max_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * MAX_SYSCALL_NR);
	__type(key, __u32);
	__type(value, struct call_stats);
} stats SEC(".maps");

/* --per-process: the counts per process and generation (the generation in the key,
 * so user space takes one generation's entries while the programs fill the other). */
struct proc_key {
	__u32 gen;
	__u32 tgid;
};

struct proc_stats {
	struct call_stats st;
	char comm[16];		/* the thread that made its first call in the interval */
	__u64 cgid;		/* its cgroup v2 id then */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct proc_key);
	__type(value, struct proc_stats);
} proc_stats SEC(".maps");

/* Which half of `stats` the programs fill (entry 0): user space flips it every
 * interval, waits an RCU grace period (membarrier), then reads and clears the other
 * half.  A map of its own, so writing it never races with the .bss counters. */
KS_GEN_MAP(stats_gen);

struct syscall_event {
	__u64 ts;		/* bpf_ktime_get_ns at exit */
	__u64 latency_ns;
	__s64 ret;
	__u64 arg0;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 cpu;
	__s32 nr;
	char comm[16];
	__u64 cgid;		/* the thread's cgroup v2 id */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
KS_BTF_TYPE(syscall_event);

/* The thread's own record: where sched_switch parks a call that left the CPU. */
static __always_inline struct start *thread_start(struct task_struct *task, bool create)
{
#ifdef KS_START_IN_HASH
	__u32 tid = task->pid;
	struct start zero = {};
	struct start *s = bpf_map_lookup_elem(&starts, &tid);

	if (s || !create)
		return s;
	if (bpf_map_update_elem(&starts, &tid, &zero, BPF_ANY))
		return 0;
	return bpf_map_lookup_elem(&starts, &tid);
#else
	return bpf_task_storage_get(&starts, task, 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
#endif
}

static __always_inline struct start *cpu_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&inflight, &zero);
}

/* A thread leaving the CPU takes its call in flight along, into its own record.
 * Only the thread running here can have one: prev. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct start *s = cpu_slot(), *t;

	if (!s || !s->regs)
		return 0;
	t = thread_start(prev, true);
	if (t)
		*t = *s;
	else
		ks_count(lost_map_full);
	s->regs = 0;
	return 0;
}

/* Whether a record is the exiting call's: same thread (its pt_regs) and same
 * syscall.  The number guards against a record whose exit was never seen (the
 * call ended while the tracer was attaching) meeting a later call that was not
 * recorded (filtered out); orig_ax is -1 after rt_sigreturn, which restores it. */
static __always_inline bool is_exiting_call(struct start *s, struct pt_regs *regs)
{
	long nr = regs->orig_ax;

	return s && s->regs == (__u64)regs && (s->nr == nr || nr == -1);
}

/* The current thread's call in flight: on this CPU, or parked in its record. */
static __always_inline struct start *find_start(struct pt_regs *regs)
{
	struct start *s;

	if (cpu_fast_path) {
		s = cpu_slot();
		if (is_exiting_call(s, regs))
			return s;
	}
	s = thread_start(bpf_get_current_task_btf(), false);
	return is_exiting_call(s, regs) ? s : 0;
}

static __always_inline void add_call(struct call_stats *st, __u64 latency, bool failed)
{
	/* Per-CPU, and tracepoint programs are not preempted: plain adds are exact. */
	st->count++;
	st->total_ns += latency;
	if (failed)
		st->errors++;
	if (latency > st->max_ns)
		st->max_ns = latency;
}

/* --per-process: the calling process's counts, created with its comm on its first
 * call of the generation. */
static __always_inline void count_process(__u64 latency, bool failed)
{
	struct proc_key key = { .gen = ks_gen_of(&stats_gen),
				.tgid = bpf_get_current_pid_tgid() >> 32 };
	struct proc_stats *v = bpf_map_lookup_elem(&proc_stats, &key);

	if (!v) {
		struct proc_stats init = {};

		bpf_get_current_comm(init.comm, sizeof(init.comm));
		init.cgid = task_cgroup_id(bpf_get_current_task_btf());
		bpf_map_update_elem(&proc_stats, &key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&proc_stats, &key);
		if (!v) {
			ks_count(lost_map_full);
			return;
		}
	}
	add_call(&v->st, latency, failed);
}

static __always_inline void count_call(__s64 nr, __u64 latency, bool failed)
{
	struct call_stats *st;
	__u32 key;

	if (per_process) {
		count_process(latency, failed);
		return;
	}
	if (nr < 0 || nr >= MAX_SYSCALL_NR) {
		ks_count(stats_out_of_range);
		return;
	}
	key = ks_gen_of(&stats_gen) * MAX_SYSCALL_NR + (__u32)nr;
	st = bpf_map_lookup_elem(&stats, &key);
	if (st)
		add_call(st, latency, failed);
}

/* Whether a call's return value is a failure (-4095..-1), of --errno if given. */
static __always_inline bool is_failure(long ret)
{
	if (ret >= 0 || ret < -MAX_ERRNO)
		return false;
	return !targ_errno || ret == -(long)targ_errno;
}

static __always_inline void report(struct start *s, __u64 now, __u64 latency, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscall_event *e;

	if (task_is_self(task))	/* our own polling would report itself, forever */
		return;

	e = ks_reserve(&events, sizeof(*e));
	if (!e)
		return;
	e->ts = now;
	e->latency_ns = latency;
	e->ret = ret;
	e->arg0 = s->arg0;
	e->pid = task->tgid;
	e->tid = task->pid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->cpu = bpf_get_smp_processor_id();
	e->nr = (__s32)s->nr;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->cgid = task_cgroup_id(task);
	bpf_ringbuf_submit(e, 0);
}

/* Whether a call that began at s->jiffies cannot have reached the threshold.  Its
 * true length is below (ticks + 1) ticks; one more tick of margin covers jiffies
 * lagging behind (a tick handled late).  Only calls within the same tick or so
 * qualify, which is nearly all of them at the default 10 ms. */
static __always_inline bool surely_fast(struct start *s)
{
	__u64 ticks;

	if (!kernel_hz)
		return false;
	ticks = bpf_jiffies64() - s->jiffies;
	return (ticks + 2) * 1000000000ULL < min_latency_ns * kernel_hz;
}

#define FUTEX_CMD_MASK 127	/* the op without FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME */
#define FUTEX_WAIT 0
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define S_IFMT 00170000
#define S_IFIFO 0010000
#define S_IFCHR 0020000

/* Whether a character device is a terminal: its major is the tty's (4: ttyN and
 * serial, 5: /dev/tty, console, ptmx) or a pty slave's (136-143, /dev/pts/N). */
static __always_inline bool is_tty(dev_t rdev)
{
	__u32 major = rdev >> 20;

	return major == 4 || major == 5 || (major >= 136 && major <= 143);
}

/* Whether the fd a read was on is a pipe or a terminal: a reader there waits for
 * someone else to write.  The fd is looked up at exit; a fd closed meanwhile by
 * another thread reads as neither (the call is then reported). */
static __always_inline bool reads_a_waiting_fd(__u64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = 0;
	struct inode *inode;
	umode_t mode;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return false;
	inode = BPF_CORE_READ(file, f_inode);
	mode = BPF_CORE_READ(inode, i_mode) & S_IFMT;
	return mode == S_IFIFO || (mode == S_IFCHR && is_tty(BPF_CORE_READ(inode, i_rdev)));
}

/* Whether a (slow) call was a wait: one of wait_nrs, a futex WAIT op, or a read
 * of a pipe or a tty.  The registers are the caller's at exit: arguments intact. */
static __always_inline bool is_wait(struct start *s, struct pt_regs *regs)
{
	__u64 nr = s->nr;	/* unsigned: a negative number is out of range too */

	if (nr >= MAX_SYSCALL_NR)
		return false;
	if (wait_nrs[nr / 64] & (1ULL << (nr % 64)))
		return true;
	if (nr == futex_nr) {
		int cmd = regs->si & FUTEX_CMD_MASK;

		return cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_WAIT_REQUEUE_PI;
	}
	if (nr == read_nr || nr == readv_nr)
		return reads_a_waiting_fd(s->arg0);
	return false;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct start *s;
	__u64 now, latency;
	bool failed;

	s = find_start(regs);
	if (!s)
		return 0;
	if (!stats_on && surely_fast(s)) {
		s->regs = 0;
		return 0;
	}
	/* After the shortcut, so the fast calls of the default path never load the knob;
	 * before the clock, since a call left out needs no timing. */
	if (failures_only && !is_failure(ret)) {
		s->regs = 0;
		return 0;
	}
	now = bpf_ktime_get_ns();
	latency = now - s->ts;
	s->regs = 0;
	failed = ret < 0 && ret >= -MAX_ERRNO;
	if (stats_on)
		count_call(s->nr, latency, failed);
	if (latency >= min_latency_ns && (!errors_only || failed) &&
	    (include_waits || !is_wait(s, regs)))
		report(s, now, latency, ret);
	return 0;
}

/* Last in the file, so attached last (libbpf goes in file order): no call is timed
 * before its end is watched. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	struct start *s;

	if (id < 0)		/* not a syscall (e.g. skipped by seccomp or ptrace) */
		return 0;
	if (targ_nr >= 0 && id != targ_nr)
		return 0;
	if (task_filtering() && !task_wanted(bpf_get_current_task_btf()))
		return 0;
	s = cpu_fast_path ? cpu_slot() : thread_start(bpf_get_current_task_btf(), true);
	if (!s) {
		ks_count(lost_map_full);
		return 0;
	}
	s->nr = id;
	s->arg0 = regs->di;
	s->jiffies = bpf_jiffies64();
	s->ts = bpf_ktime_get_ns();
	s->regs = (__u64)regs;
	return 0;
}
